//! The `[train]`, `[agent]` and `[solver]` sections: their keys, defaults and ranges.

use serde::{Deserialize, Serialize};

use crate::check::{Checked, Invalid, at_least, positive, within};
use crate::env::Env;

/// `[train]`: the training loop. Defaults are the RL Zoo's SAC settings for Pendulum-v1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Train {
    /// Environment steps in the whole run.
    pub total_steps: u64,
    /// Steps of uniformly random actions before learning starts.
    pub learning_starts: u64,
    pub batch_size: usize,
    /// Replay capacity (transitions); the oldest are overwritten.
    pub buffer_size: usize,
    /// Gradient updates per environment step.
    pub updates_per_step: usize,
    /// Deterministic evaluation every this many steps (0: only at the end).
    pub eval_every: u64,
    pub eval_episodes: usize,
    /// Checkpoint every this many steps (0: only at the end).
    pub checkpoint_every: u64,
    /// Also checkpoint the replay buffer, so a resumed run is bit-identical.
    pub save_replay: bool,
}

impl Default for Train {
    fn default() -> Self {
        Train {
            total_steps: 20_000,
            learning_starts: 100,
            batch_size: 256,
            buffer_size: 1_000_000,
            updates_per_step: 1,
            eval_every: 2_000,
            eval_episodes: 10,
            checkpoint_every: 5_000,
            save_replay: false,
        }
    }
}

impl Train {
    pub fn validate(self) -> Checked<Train> {
        at_least("total_steps", self.total_steps, 1)?;
        at_least("batch_size", self.batch_size, 1)?;
        at_least("buffer_size", self.buffer_size, self.batch_size).map_err(|e| Invalid {
            message: format!("{} (batch_size = {})", e.message, self.batch_size),
            ..e
        })?;
        at_least("updates_per_step", self.updates_per_step, 1)?;
        at_least("eval_episodes", self.eval_episodes, 1)?;
        Ok(self)
    }
}

/// `[agent]` as written; `target_entropy` is a number or `"auto"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentSpec {
    /// Hidden layer widths of every network.
    pub hidden: Vec<usize>,
    pub actor_lr: f64,
    pub critic_lr: f64,
    pub alpha_lr: f64,
    /// Polyak rate of the target critics.
    pub tau: f64,
    /// Initial α when it is learned.
    pub init_alpha: f64,
    pub target_entropy: toml::Value,
}

impl Default for AgentSpec {
    fn default() -> Self {
        AgentSpec {
            hidden: vec![256, 256],
            actor_lr: 1e-3,
            critic_lr: 1e-3,
            alpha_lr: 1e-3,
            tau: 0.005,
            init_alpha: 1.0,
            target_entropy: "auto".into(),
        }
    }
}

/// The target entropy of a learned α, in nats in the environment's action units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TargetEntropy {
    /// `−dim(A) + Σ log half_width`: SB3's `−dim(A)` measured on [-1, 1], moved to env units.
    Auto,
    Nats(f64),
}

/// A validated `[agent]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Agent {
    pub hidden: Vec<usize>,
    pub actor_lr: f64,
    pub critic_lr: f64,
    pub alpha_lr: f64,
    pub tau: f64,
    pub init_alpha: f64,
    pub target_entropy: TargetEntropy,
}

impl AgentSpec {
    pub fn validate(&self) -> Checked<Agent> {
        if self.hidden.is_empty() {
            return Err(Invalid::new(
                "hidden",
                "is empty: give at least one layer width",
            ));
        }
        for (i, &h) in self.hidden.iter().enumerate() {
            at_least(&format!("hidden[{i}]"), h, 1)?;
        }
        let target_entropy = match &self.target_entropy {
            toml::Value::String(s) if s == "auto" => TargetEntropy::Auto,
            v => match v.as_float().or(v.as_integer().map(|i| i as f64)) {
                Some(h) if h.is_finite() => TargetEntropy::Nats(h),
                _ => {
                    return Err(Invalid::new(
                        "target_entropy",
                        format!("{v} is neither a number nor \"auto\""),
                    ));
                }
            },
        };
        Ok(Agent {
            hidden: self.hidden.clone(),
            actor_lr: positive("actor_lr", self.actor_lr)?,
            critic_lr: positive("critic_lr", self.critic_lr)?,
            alpha_lr: positive("alpha_lr", self.alpha_lr)?,
            tau: within("tau", self.tau, f64::MIN_POSITIVE, 1.0)?,
            init_alpha: positive("init_alpha", self.init_alpha)?,
            target_entropy,
        })
    }
}

/// `[solver]` as written; empty grids mean "the default for this environment".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SolverSpec {
    /// Grid nodes per state dimension.
    pub states: Vec<usize>,
    /// Action cells per action dimension.
    pub actions: Vec<usize>,
    /// Stop when the Bellman residual (sup norm) falls below this.
    pub tolerance: f64,
    pub max_iterations: usize,
    /// Gauss–Hermite nodes per noisy state dimension.
    pub noise_nodes: usize,
}

impl Default for SolverSpec {
    fn default() -> Self {
        SolverSpec {
            states: Vec::new(),
            actions: Vec::new(),
            tolerance: 1e-6,
            max_iterations: 20_000,
            noise_nodes: 5,
        }
    }
}

/// Most Gauss–Hermite nodes we compute (the rule is exact for polynomials of degree 2n − 1).
pub const MAX_NOISE_NODES: usize = 20;

impl SolverSpec {
    /// Fills empty grids with defaults that fit `env` (201 nodes per state dimension and 41
    /// action cells in 1-D and 2-D state spaces; coarser above), then checks them against it.
    pub fn validate(mut self, env: &Env) -> Checked<SolverSpec> {
        let (sd, ad) = (env.state_dim(), env.action_dim());
        if self.states.is_empty() {
            self.states = vec![[201, 201, 41, 21][sd - 1]; sd];
        }
        if self.actions.is_empty() {
            self.actions = vec![[41, 21][ad - 1]; ad];
        }
        if self.states.len() != sd {
            return Err(Invalid::new(
                "states",
                format!(
                    "has {} entries, the environment has {sd} state dimensions",
                    self.states.len()
                ),
            ));
        }
        if self.actions.len() != ad {
            return Err(Invalid::new(
                "actions",
                format!(
                    "has {} entries, the environment has {ad} action dimensions",
                    self.actions.len()
                ),
            ));
        }
        for (i, (&n, axis)) in self.states.iter().zip(env.state_axes()).enumerate() {
            at_least(
                &format!("states[{i}]"),
                n,
                if axis.periodic { 3 } else { 2 },
            )?;
        }
        for (i, &k) in self.actions.iter().enumerate() {
            at_least(&format!("actions[{i}]"), k, 1)?;
        }
        positive("tolerance", self.tolerance)?;
        at_least("max_iterations", self.max_iterations, 1)?;
        within(
            "noise_nodes",
            self.noise_nodes as f64,
            1.0,
            MAX_NOISE_NODES as f64,
        )?;
        Ok(self)
    }
}
