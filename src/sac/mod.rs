//! Soft actor-critic: dense kernels (dense), networks (nets), optimizer (optim; adam is its candle
//! twin for the oracle in reference), replay buffer (replay), the update
//! (agent), evaluation episodes (evaluate), the training loop (train) and checkpoints.

pub mod adam;
pub mod agent;
pub mod checkpoint;
pub mod dense;
pub mod evaluate;
pub mod nets;
pub mod optim;
pub mod reference;
pub mod replay;
pub mod train;

pub use agent::Sac;
