//! Soft actor-critic (Haarnoja et al. 2018) on a fused CPU path: dense kernels on flat buffers
//! (dense), Adam on flat buffers (optim), the agent and its networks (agent), its update written
//! as its equations (update) and its parameters' names in checkpoints (params). It is a
//! [`crate::training::Learner`]; the training loop, replay buffer and checkpoint format it runs
//! in are [`crate::training`]'s.

pub mod agent;
pub mod dense;
pub mod optim;
pub mod params;
pub mod update;

pub use agent::Sac;

use std::path::Path;

use crate::config::Config;
use crate::error::Result;
use crate::training::{Replay, checkpoint, memory};

/// A SAC checkpoint's agent for its recorded `config`, filled with what the caller needs: the
/// policy only (`eval`), or the policy and critics (`compare`, `query`). Optimizer state, replay
/// buffer and training state are not read.
pub fn load_model(dir: &Path, config: &Config, policy_only: bool) -> Result<Sac> {
    config.check_memory("agent.hidden", "the networks", Sac::network_bytes(config))?;
    let mut sac = Sac::new(config, &mut crate::rng::seeded(0)); // shapes only; values follow
    checkpoint::load_model(dir, &mut sac, policy_only)?;
    Ok(sac)
}

/// A SAC checkpoint's whole training state, for `train --resume`: the memory check first (the
/// replay buffer is allocated on reading), then model, optimizers, state and replay buffer.
pub fn load_training(
    dir: &Path,
    config: &Config,
) -> Result<(Sac, checkpoint::TrainState, Option<Replay>)> {
    memory::check(config, Sac::training_bytes(config), 1)?;
    let mut sac = Sac::new(config, &mut crate::rng::seeded(0));
    let (state, replay) = checkpoint::load_training(dir, config, &mut sac)?;
    Ok((sac, state, replay))
}
