//! The candle autograd oracle of the fused SAC update: the same update written plainly on
//! candle-core (networks in [`nets`], Adam in [`adam`], the update in [`reference`]), for tests
//! only. It restates the tanh-Gaussian and the losses in tensor operations on purpose, so that it
//! checks the fused path instead of sharing its code.

#![allow(dead_code)]

pub mod adam;
pub mod nets;
pub mod reference;
