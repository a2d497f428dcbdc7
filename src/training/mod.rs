//! What every learner shares: the replay buffer, the training loop, the checkpoint format, the
//! memory check, evaluation episodes and the metrics file. A learner (today [`crate::sac`])
//! implements [`Learner`]; nothing here names one, so learners never import each other.

pub mod checkpoint;
pub mod episodes;
pub mod memory;
pub mod metrics;
pub mod replay;
pub mod run;

use std::collections::HashMap;
use std::path::Path;

pub use replay::{Batch, Replay, Sampled};
pub use run::{Resume, RunSummary, Start, train};

use crate::error::Result;
use crate::rng::Rng;

/// What one update measured; a learner without a temperature step reports 0 for it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Losses {
    pub critic: f64,
    pub actor: f64,
    pub alpha: f64,
    /// `−E log π(a|s)` over the batch, in nats (env action units), for a learner whose policy
    /// has a density it evaluates in training (SQL's samplers: none).
    pub entropy: Option<f64>,
}

/// A named f32 tensor: `(name, shape, values)`.
pub type NamedTensor = (String, Vec<usize>, Vec<f32>);

/// Tensors by name: `(shape, values)`, as read back from a checkpoint file.
pub type Tensors = HashMap<String, (Vec<usize>, Vec<f32>)>;

/// A learner the training loop drives and the checkpoint format stores: it acts on observations,
/// updates from replay minibatches, and lists its state as named tensors. Loading follows
/// candle's `VarMap` pattern: build the learner for the config, then fill it from the file.
pub trait Learner {
    /// The `format` tag its checkpoint files carry (refused on reading when it differs).
    fn format(&self) -> &'static str;
    /// An action on [-1, 1]^act_dim for one observation, sampled from the policy with `rng`.
    fn sample_action(&mut self, obs: &[f64], rng: &mut Rng) -> Vec<f32>;
    /// The action evaluation takes: the policy's deterministic action where it has one (SAC's
    /// `tanh(μ)`), else a sample drawn with `rng`.
    fn eval_action(&mut self, obs: &[f64], rng: &mut Rng) -> Vec<f32>;
    /// Whether [`Learner::eval_action`] samples (the policy has no deterministic action).
    fn evaluation_samples(&self) -> bool;
    /// One gradient step on a minibatch; `rng` draws whatever noise the update needs.
    fn update(&mut self, batch: &Batch, rng: &mut Rng) -> Losses;
    /// The temperature α now (the learned one when it is learned).
    fn alpha(&self) -> f64;
    /// Split each update over two threads (the same arithmetic, bit for bit).
    fn set_parallel(&mut self, parallel: bool);
    /// Every model tensor (networks, targets, log α) by name, and the model file's metadata.
    fn model_tensors(&self) -> (Vec<NamedTensor>, HashMap<String, String>);
    /// The optimizers' state by name, with metadata such as step counts.
    fn optimizer_tensors(&self) -> (Vec<NamedTensor>, HashMap<String, String>);
    /// Fills the model from stored tensors (`path` names the file in errors); with
    /// `policy_only`, only what acting needs.
    fn load_model(&mut self, stored: &Tensors, path: &Path, policy_only: bool) -> Result<()>;
    /// Fills the optimizers from stored tensors and metadata.
    fn load_optimizer(
        &mut self,
        stored: &Tensors,
        metadata: &HashMap<String, String>,
        path: &Path,
    ) -> Result<()>;
}
