//! Soft actor-critic: networks (nets), optimizer (adam), replay buffer (replay), the update
//! (agent), evaluation episodes (evaluate), the training loop (train) and checkpoints.

pub mod adam;
pub mod agent;
pub mod checkpoint;
pub mod dense;
pub mod evaluate;
pub mod nets;
pub mod reference;
pub mod replay;
pub mod train;

pub use agent::Sac;
