//! The `[train]`, `[agent]` and `[solver]` sections: their keys, defaults and ranges.

use serde::{Deserialize, Serialize};

use crate::check::{
    Checked, Invalid, above_and_at_most, at_least, at_least_and_below, number, positive, within,
};
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

/// `[agent]` as written. `algorithm` picks the learner; the keys of the other learner must be
/// absent (a key a learner does not use is an error, not silently ignored). `target_entropy` is
/// a number or `"auto"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentSpec {
    /// `"sac"` (soft actor-critic) or `"sql"` (soft Q-learning with an amortized sampler).
    pub algorithm: String,
    /// Hidden layer widths of every network.
    pub hidden: Vec<usize>,
    /// The policy's learning rate (SAC's actor, SQL's sampler).
    pub actor_lr: f64,
    /// The soft Q networks' learning rate.
    pub critic_lr: f64,
    // SAC only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alpha_lr: Option<f64>,
    /// Polyak rate of the target critics.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tau: Option<f64>,
    /// Initial α when it is learned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_alpha: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_entropy: Option<toml::Value>,
    // SQL only.
    /// Uniform action samples per next state for the soft value's importance sampling.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_particles: Option<usize>,
    /// SQL's sampler: `"svgd"` (amortized Stein variational gradient descent) or `"diffusion"`
    /// (a denoising diffusion model trained by Q-weighted noise estimation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sampler: Option<String>,
    /// SVGD: sampler particles per state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel_particles: Option<usize>,
    /// The share of the particles that SVGD moves (the rest are fixed and define the kernel sum).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel_update_ratio: Option<f64>,
    /// Diffusion: denoising steps of the ancestral sampler.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diffusion_steps: Option<usize>,
    /// Diffusion: importance-sampling draws from the posterior of a clean action per noisy one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub posterior_particles: Option<usize>,
    /// Diffusion: how many of those draws come from Gaussians around the best of the others.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anchored_particles: Option<usize>,
    /// Diffusion: the decay per sampler step of the moving average of the denoiser's weights
    /// that samples (0: the trained weights sample).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sampler_ema: Option<f64>,
    /// Updates between copies of the soft Q network into its target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_update_interval: Option<u64>,
}

impl Default for AgentSpec {
    fn default() -> Self {
        AgentSpec {
            algorithm: "sac".into(),
            hidden: vec![256, 256],
            actor_lr: 1e-3,
            critic_lr: 1e-3,
            alpha_lr: None,
            tau: None,
            init_alpha: None,
            target_entropy: None,
            value_particles: None,
            sampler: None,
            kernel_particles: None,
            kernel_update_ratio: None,
            diffusion_steps: None,
            posterior_particles: None,
            anchored_particles: None,
            sampler_ema: None,
            target_update_interval: None,
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

/// SAC's own keys, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct SacKeys {
    pub alpha_lr: f64,
    pub tau: f64,
    pub init_alpha: f64,
    pub target_entropy: TargetEntropy,
}

impl Default for SacKeys {
    fn default() -> Self {
        SacKeys {
            alpha_lr: 1e-3,
            tau: 0.005,
            init_alpha: 1.0,
            target_entropy: TargetEntropy::Auto,
        }
    }
}

/// Soft Q-learning's own keys, validated (defaults: the reference's multigoal example,
/// `haarnoja/softqlearning`, `examples/multigoal_sql.py`).
#[derive(Debug, Clone, PartialEq)]
pub struct SqlKeys {
    pub value_particles: usize,
    pub target_update_interval: u64,
    pub sampler: Sampler,
}

impl Default for SqlKeys {
    fn default() -> Self {
        SqlKeys {
            value_particles: 16,
            target_update_interval: 1000,
            sampler: Sampler::Svgd(SvgdKeys::default()),
        }
    }
}

/// SQL's sampler and its own keys.
#[derive(Debug, Clone, PartialEq)]
pub enum Sampler {
    Svgd(SvgdKeys),
    Diffusion(DiffusionKeys),
}

impl Sampler {
    pub fn name(&self) -> &'static str {
        match self {
            Sampler::Svgd(_) => "svgd",
            Sampler::Diffusion(_) => "diffusion",
        }
    }
}

/// The SVGD sampler's keys (defaults: the reference's multigoal example).
#[derive(Debug, Clone, PartialEq)]
pub struct SvgdKeys {
    pub kernel_particles: usize,
    pub kernel_update_ratio: f64,
}

impl Default for SvgdKeys {
    fn default() -> Self {
        SvgdKeys {
            kernel_particles: 32,
            kernel_update_ratio: 0.5,
        }
    }
}

impl SvgdKeys {
    /// Of the kernel particles, how many SVGD moves and how many stay fixed.
    pub fn updated_and_fixed(&self) -> (usize, usize) {
        let updated = (self.kernel_particles as f64 * self.kernel_update_ratio) as usize;
        (updated, self.kernel_particles - updated)
    }
}

/// The most denoising steps a diffusion sampler takes (each is a network pass per action).
pub const MAX_DIFFUSION_STEPS: usize = 10_000;

/// The diffusion sampler's keys (defaults: docs/sql.md, "The diffusion sampler").
#[derive(Debug, Clone, PartialEq)]
pub struct DiffusionKeys {
    /// T, the ancestral sampler's denoising steps (the reference's `T`).
    pub steps: usize,
    /// K, the posterior draws of Q-weighted noise estimation.
    pub posterior_particles: usize,
    /// Of the K, how many come from Gaussians around the likelihood draw of highest Q.
    pub anchored_particles: usize,
    /// β of the exponential moving average `φ̄ ← β·φ̄ + (1 − β)·φ` of the denoiser's weights,
    /// taken after each of its Adam steps; `φ̄` samples. 0: `φ` samples.
    pub ema: f64,
}

impl Default for DiffusionKeys {
    fn default() -> Self {
        DiffusionKeys {
            steps: 20,
            posterior_particles: 64,
            anchored_particles: 0,
            ema: 0.0,
        }
    }
}

/// The learner and its own keys.
#[derive(Debug, Clone, PartialEq)]
pub enum Algorithm {
    Sac(SacKeys),
    Sql(SqlKeys),
}

impl Algorithm {
    pub fn name(&self) -> &'static str {
        match self {
            Algorithm::Sac(_) => "sac",
            Algorithm::Sql(_) => "sql",
        }
    }
}

/// A validated `[agent]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Agent {
    pub hidden: Vec<usize>,
    pub actor_lr: f64,
    pub critic_lr: f64,
    pub algorithm: Algorithm,
}

impl Agent {
    /// SAC's keys (their defaults for another learner, which does not read them).
    pub fn sac(&self) -> SacKeys {
        match &self.algorithm {
            Algorithm::Sac(k) => k.clone(),
            Algorithm::Sql(_) => SacKeys::default(),
        }
    }
}

fn parse_target_entropy(v: &toml::Value) -> Checked<TargetEntropy> {
    match v {
        toml::Value::String(s) if s == "auto" => Ok(TargetEntropy::Auto),
        v => match v.as_float().or(v.as_integer().map(|i| i as f64)) {
            Some(h) if h.is_finite() => Ok(TargetEntropy::Nats(h)),
            _ => Err(Invalid::new(
                "target_entropy",
                format!(
                    "{} is neither a number nor \"auto\"",
                    crate::check::shown(v)
                ),
            )),
        },
    }
}

impl AgentSpec {
    /// Every key either learner reads, at its default: what `--set agent.KEY` may name.
    pub fn schema() -> AgentSpec {
        let (sac, sql) = (SacKeys::default(), SqlKeys::default());
        let (svgd, diffusion) = (SvgdKeys::default(), DiffusionKeys::default());
        AgentSpec {
            alpha_lr: Some(sac.alpha_lr),
            tau: Some(sac.tau),
            init_alpha: Some(sac.init_alpha),
            target_entropy: Some("auto".into()),
            value_particles: Some(sql.value_particles),
            sampler: Some(sql.sampler.name().into()),
            kernel_particles: Some(svgd.kernel_particles),
            kernel_update_ratio: Some(svgd.kernel_update_ratio),
            diffusion_steps: Some(diffusion.steps),
            posterior_particles: Some(diffusion.posterior_particles),
            anchored_particles: Some(diffusion.anchored_particles),
            sampler_ema: Some(diffusion.ema),
            target_update_interval: Some(sql.target_update_interval),
            ..AgentSpec::default()
        }
    }

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
        let sac_keys = [
            ("alpha_lr", self.alpha_lr.is_some()),
            ("tau", self.tau.is_some()),
            ("init_alpha", self.init_alpha.is_some()),
            ("target_entropy", self.target_entropy.is_some()),
        ];
        let svgd_keys = [
            ("kernel_particles", self.kernel_particles.is_some()),
            ("kernel_update_ratio", self.kernel_update_ratio.is_some()),
        ];
        let diffusion_keys = [
            ("diffusion_steps", self.diffusion_steps.is_some()),
            ("posterior_particles", self.posterior_particles.is_some()),
            ("anchored_particles", self.anchored_particles.is_some()),
            ("sampler_ema", self.sampler_ema.is_some()),
        ];
        let sql_keys: Vec<(&str, bool)> = [
            ("value_particles", self.value_particles.is_some()),
            ("sampler", self.sampler.is_some()),
            (
                "target_update_interval",
                self.target_update_interval.is_some(),
            ),
        ]
        .into_iter()
        .chain(svgd_keys)
        .chain(diffusion_keys)
        .collect();
        // A key of another learner (or sampler) is an error, not silently ignored.
        let refuse = |others: &[(&str, bool)], owner: &str, setting: &str| -> Checked<()> {
            match others.iter().find(|(_, set)| *set) {
                Some((key, _)) => Err(Invalid::new(
                    *key,
                    format!("is a key of {owner}, which {setting} does not read: remove it"),
                )),
                None => Ok(()),
            }
        };
        let algorithm_setting = format!("agent.algorithm = \"{}\"", self.algorithm);
        let refuse_others = |others: &[(&str, bool)], owner: &str| -> Checked<()> {
            refuse(others, &format!("\"{owner}\""), &algorithm_setting)
        };
        let algorithm = match self.algorithm.as_str() {
            "sac" => {
                refuse_others(&sql_keys, "sql")?;
                let d = SacKeys::default();
                Algorithm::Sac(SacKeys {
                    alpha_lr: positive("alpha_lr", self.alpha_lr.unwrap_or(d.alpha_lr))?,
                    tau: above_and_at_most("tau", self.tau.unwrap_or(d.tau), 0.0, 1.0)?,
                    init_alpha: positive("init_alpha", self.init_alpha.unwrap_or(d.init_alpha))?,
                    target_entropy: match &self.target_entropy {
                        Some(v) => parse_target_entropy(v)?,
                        None => d.target_entropy,
                    },
                })
            }
            "sql" => {
                refuse_others(&sac_keys, "sac")?;
                let d = SqlKeys::default();
                Algorithm::Sql(SqlKeys {
                    value_particles: at_least(
                        "value_particles",
                        self.value_particles.unwrap_or(d.value_particles),
                        1,
                    )?,
                    target_update_interval: at_least(
                        "target_update_interval",
                        self.target_update_interval
                            .unwrap_or(d.target_update_interval),
                        1,
                    )?,
                    sampler: self.sampler(&refuse, &svgd_keys, &diffusion_keys)?,
                })
            }
            other => {
                return Err(Invalid::new(
                    "algorithm",
                    format!("\"{other}\" is not a learner: \"sac\" or \"sql\""),
                ));
            }
        };
        Ok(Agent {
            hidden: self.hidden.clone(),
            actor_lr: positive("actor_lr", self.actor_lr)?,
            critic_lr: positive("critic_lr", self.critic_lr)?,
            algorithm,
        })
    }
}

/// Turns away the first key set of `keys` (named, set or not), which belong to `owner` and
/// which `setting` does not read.
type Refuse = dyn Fn(&[(&str, bool)], &str, &str) -> Checked<()>;

impl AgentSpec {
    /// SQL's sampler and its keys; `refuse` turns away a key the chosen sampler does not read.
    fn sampler(
        &self,
        refuse: &Refuse,
        svgd_keys: &[(&str, bool)],
        diffusion_keys: &[(&str, bool)],
    ) -> Checked<Sampler> {
        let name = self.sampler.as_deref().unwrap_or("svgd");
        let setting = format!("agent.sampler = \"{name}\"");
        match name {
            "svgd" => {
                refuse(diffusion_keys, "the diffusion sampler", &setting)?;
                let d = SvgdKeys::default();
                let keys = SvgdKeys {
                    kernel_particles: at_least(
                        "kernel_particles",
                        self.kernel_particles.unwrap_or(d.kernel_particles),
                        2,
                    )?,
                    kernel_update_ratio: within(
                        "kernel_update_ratio",
                        self.kernel_update_ratio.unwrap_or(d.kernel_update_ratio),
                        0.0,
                        1.0,
                    )?,
                };
                // SVGD's kernel bandwidth is the median squared distance between fixed and moved
                // particles over log(the fixed count): one fixed particle makes it infinite, so
                // κ ≡ 1 and nothing repels (src/sql/svgd.rs).
                let (updated, fixed) = keys.updated_and_fixed();
                if updated == 0 || fixed < 2 {
                    return Err(Invalid::new(
                        "kernel_update_ratio",
                        format!(
                            "{} of kernel_particles = {} leaves {updated} to move, {fixed} fixed: SVGD needs one to move and two fixed (one makes its kernel flat)",
                            number(keys.kernel_update_ratio),
                            keys.kernel_particles
                        ),
                    ));
                }
                Ok(Sampler::Svgd(keys))
            }
            "diffusion" => {
                refuse(svgd_keys, "the SVGD sampler", &setting)?;
                let d = DiffusionKeys::default();
                let steps = self.diffusion_steps.unwrap_or(d.steps);
                if !(1..=MAX_DIFFUSION_STEPS).contains(&steps) {
                    return Err(Invalid::new(
                        "diffusion_steps",
                        format!("{steps} is out of range: must be in [1, {MAX_DIFFUSION_STEPS}]"),
                    ));
                }
                let posterior_particles = at_least(
                    "posterior_particles",
                    self.posterior_particles.unwrap_or(d.posterior_particles),
                    1,
                )?;
                let anchored_particles = self.anchored_particles.unwrap_or(d.anchored_particles);
                if anchored_particles >= posterior_particles {
                    return Err(Invalid::new(
                        "anchored_particles",
                        format!(
                            "{anchored_particles} of posterior_particles = {posterior_particles}: at most {} (the anchor is the best of the others, so one at least comes from the likelihood)",
                            posterior_particles - 1
                        ),
                    ));
                }
                let ema =
                    at_least_and_below("sampler_ema", self.sampler_ema.unwrap_or(d.ema), 0.0, 1.0)?;
                Ok(Sampler::Diffusion(DiffusionKeys {
                    steps,
                    posterior_particles,
                    anchored_particles,
                    ema,
                }))
            }
            other => Err(Invalid::new(
                "sampler",
                format!("\"{other}\" is not a sampler: \"svgd\" or \"diffusion\""),
            )),
        }
    }
}

impl Agent {
    /// The `[agent]` a run dir records: every key of its learner, at its value, and none of the
    /// other's.
    pub fn resolved(&self) -> AgentSpec {
        let mut spec = AgentSpec {
            algorithm: self.algorithm.name().into(),
            hidden: self.hidden.clone(),
            actor_lr: self.actor_lr,
            critic_lr: self.critic_lr,
            ..AgentSpec::default()
        };
        match &self.algorithm {
            Algorithm::Sac(k) => {
                spec.alpha_lr = Some(k.alpha_lr);
                spec.tau = Some(k.tau);
                spec.init_alpha = Some(k.init_alpha);
                spec.target_entropy = Some(match k.target_entropy {
                    TargetEntropy::Auto => "auto".into(),
                    TargetEntropy::Nats(h) => toml::Value::Float(h),
                });
            }
            Algorithm::Sql(k) => {
                spec.value_particles = Some(k.value_particles);
                spec.sampler = Some(k.sampler.name().into());
                match &k.sampler {
                    Sampler::Svgd(s) => {
                        spec.kernel_particles = Some(s.kernel_particles);
                        spec.kernel_update_ratio = Some(s.kernel_update_ratio);
                    }
                    Sampler::Diffusion(d) => {
                        spec.diffusion_steps = Some(d.steps);
                        spec.posterior_particles = Some(d.posterior_particles);
                        spec.anchored_particles = Some(d.anchored_particles);
                        spec.sampler_ema = Some(d.ema);
                    }
                }
                spec.target_update_interval = Some(k.target_update_interval);
            }
        }
        spec
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
    /// action cells in 1-D and 2-D state spaces, coarser above; 401² for the mountain car, whose
    /// small steps need the finer grid: docs/mountain_car.md), then checks them against it.
    pub fn validate(mut self, env: &Env) -> Checked<SolverSpec> {
        let (sd, ad) = (env.state_dim(), env.action_dim());
        if self.states.is_empty() {
            let n = match env {
                Env::MountainCar(_) => 401,
                _ => [201, 201, 41, 21][sd - 1],
            };
            self.states = vec![n; sd];
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
