//! The candle autograd oracle of the fused SAC update: the same update written plainly on
//! candle-core (networks in [`nets`], the update in [`reference`]; Adam is the product's candle
//! Adam, `maxent::sql::adam`, which has its own test), for tests only. It restates the
//! tanh-Gaussian and the losses in tensor operations on purpose, so that it checks the fused path
//! instead of sharing its code.

#![allow(dead_code)]

pub mod nets;
pub mod reference;
