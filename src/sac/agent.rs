//! The SAC agent: its networks on flat buffers, their initialization, acting, and the policy and
//! critic queries `compare` makes; its update is [`super::update`].
//!
//! Networks: the actor `[obs, hidden…, 2·act]` (its last layer is the mean head stacked on the
//! log-σ head), two critics `[obs + act, hidden…, 1]` and their Polyak targets. Actions are on
//! [-1, 1]; log-densities are in env action units (the scaling's Jacobian included).

use std::collections::HashMap;
use std::path::Path;

use rand::Rng as _;

use super::dense::{Layout, forward};
use super::optim::Adam;
use super::update::{Squashed, Workspace, concat_rows, normal_into, squash};
use crate::config::{Config, TargetEntropy};
use crate::error::Result;
use crate::objective::Temperature;
use crate::rng::Rng;
use crate::tanh_gaussian;
use crate::training::memory::LearnerBytes;
use crate::training::{Batch, Learner, Losses, NamedTensor, Tensors};

/// The agent: parameters, optimizer state and the buffers its update reuses.
#[derive(Debug, Clone)]
pub struct Sac {
    pub obs_dim: usize,
    pub act_dim: usize,
    pub actor_layout: Layout,
    pub critic_layout: Layout,
    pub actor: Vec<f32>,
    /// Both critics, one after the other (`critic_layout.len()` each); likewise their targets.
    pub critic: Vec<f32>,
    pub target: Vec<f32>,
    pub log_alpha: f32,
    pub actor_opt: Adam,
    pub critic_opt: Adam,
    pub alpha_opt: Option<Adam>,
    pub gamma: f64,
    pub tau: f64,
    /// In nats, env action units.
    pub target_entropy: f64,
    /// `Σ log half_width`: the Jacobian of the scaling from [-1, 1] to env units.
    pub log_scale: f64,
    /// Split each update over two threads (the same arithmetic: see [`Sac::update`]).
    pub parallel: bool,
    pub(super) ws: Workspace,
}

impl Sac {
    /// Fresh networks with PyTorch's default `nn.Linear` init, `U(±1/√fan_in)` for weights and
    /// biases, drawn from `rng` in the order of the parameter names (actor mean head, log-σ head,
    /// trunk layers; then each critic's layers); target critics start as copies.
    pub fn new(config: &Config, rng: &mut Rng) -> Sac {
        let env = &config.env;
        let (od, ad) = (env.obs_dim(), env.action_dim());
        let a = &config.agent;
        let mut sizes = vec![od];
        sizes.extend_from_slice(&a.hidden);
        sizes.push(2 * ad);
        let actor_layout = Layout::new(sizes);
        let mut sizes = vec![od + ad];
        sizes.extend_from_slice(&a.hidden);
        sizes.push(1);
        let critic_layout = Layout::new(sizes);
        let mut actor = vec![0.0; actor_layout.len()];
        let mut critic = vec![0.0; 2 * critic_layout.len()];
        for (name, range, _, fan_in) in super::params::actor_tensors(&actor_layout, ad) {
            let bound = 1.0 / (fan_in as f64).sqrt();
            let _ = name;
            for p in &mut actor[range] {
                *p = rng.random_range(-bound..bound) as f32;
            }
        }
        for (_, range, _, fan_in) in super::params::critic_tensors(&critic_layout, "critic") {
            let bound = 1.0 / (fan_in as f64).sqrt();
            for p in &mut critic[range] {
                *p = rng.random_range(-bound..bound) as f32;
            }
        }
        let log_scale = env.log_action_scale();
        let keys = a.sac();
        let (alpha0, learned) = match config.objective.temperature {
            Temperature::Fixed(alpha) => (alpha, false),
            Temperature::Auto => (keys.init_alpha, true),
        };
        Sac {
            obs_dim: od,
            act_dim: ad,
            actor_opt: Adam::new(actor.len(), a.actor_lr),
            critic_opt: Adam::new(critic.len(), a.critic_lr),
            alpha_opt: learned.then(|| Adam::new(1, keys.alpha_lr)),
            target: critic.clone(),
            actor,
            critic,
            actor_layout,
            critic_layout,
            log_alpha: alpha0.ln() as f32,
            gamma: config.objective.gamma,
            tau: keys.tau,
            target_entropy: match keys.target_entropy {
                TargetEntropy::Auto => -(ad as f64) + log_scale,
                TargetEntropy::Nats(h) => h,
            },
            log_scale,
            parallel: false,
            ws: Workspace::default(),
        }
    }

    /// Parameters of the actor and of one critic for `config`, in floating point (so that absurd
    /// sizes cannot overflow).
    fn parameter_counts(config: &Config) -> (f64, f64) {
        let (od, ad, hidden) = (
            config.env.obs_dim(),
            config.env.action_dim(),
            &config.agent.hidden,
        );
        (
            crate::training::memory::mlp_parameters(od, hidden, 2 * ad),
            crate::training::memory::mlp_parameters(od + ad, hidden, 1),
        )
    }

    /// The bytes of the networks alone (actor, twin critics, their targets): what a model loaded
    /// for `eval`, `compare` or `query` holds.
    pub fn network_bytes(config: &Config) -> f64 {
        let (actor, critic) = Self::parameter_counts(config);
        4.0 * (actor + 4.0 * critic)
    }

    /// About the bytes an agent for `config` holds while it trains: the actor and the twin critics
    /// with their targets, Adam's moments and the gradients; then a minibatch's activations and
    /// gradients through the update's six network passes.
    pub fn training_bytes(config: &Config) -> LearnerBytes {
        let (actor, critic) = Self::parameter_counts(config);
        let hidden: Vec<f64> = config.agent.hidden.iter().map(|&h| h as f64).collect();
        let widest = hidden.iter().copied().fold(0.0, f64::max);
        let rows = config.train.batch_size as f64;
        let f32s = 4.0;
        LearnerBytes {
            parameters: f32s * (4.0 * actor + 10.0 * critic),
            activations: f32s * rows * (6.0 * hidden.iter().sum::<f64>() + 12.0 * widest),
            particles: None,
        }
    }

    pub fn alpha(&self) -> f64 {
        f64::from(self.log_alpha).exp()
    }

    /// The policy's `μ` and bounded `log σ` (pre-tanh scale) for `n` observations, `[n, act]` each.
    pub fn policy(&mut self, obs: &[f32], n: usize) -> (Vec<f32>, Vec<f32>) {
        let ad = self.act_dim;
        forward(&self.actor_layout, &self.actor, obs, n, &mut self.ws.few);
        let out = self.ws.few.output();
        let mut mean = Vec::with_capacity(n * ad);
        let mut log_std = Vec::with_capacity(n * ad);
        for row in out.chunks_exact(2 * ad) {
            mean.extend_from_slice(&row[..ad]);
            log_std.extend(
                row[ad..]
                    .iter()
                    .map(|&r| tanh_gaussian::log_std_of_tanh(crate::lanes::tanh(r))),
            );
        }
        (mean, log_std)
    }

    /// `min_j Q_j(s, a)` of the online critics for `n` rows of observations and actions on [-1, 1].
    pub fn q_min(&mut self, obs: &[f32], action: &[f32], n: usize) -> Vec<f32> {
        let (od, ad, lc) = (self.obs_dim, self.act_dim, self.critic_layout.len());
        concat_rows(obs, action, od, ad, &mut self.ws.x_data);
        let [c0, c1] = &mut self.ws.critic;
        forward(
            &self.critic_layout,
            &self.critic[..lc],
            &self.ws.x_data,
            n,
            c0,
        );
        forward(
            &self.critic_layout,
            &self.critic[lc..],
            &self.ws.x_data,
            n,
            c1,
        );
        c0.output()
            .iter()
            .zip(c1.output())
            .map(|(a, b)| a.min(*b))
            .collect()
    }

    /// An action on [-1, 1] for one observation: sampled when `rng` is given, else `tanh(μ)`.
    pub fn act(&mut self, obs: &[f64], rng: Option<&mut Rng>) -> Vec<f32> {
        let ad = self.act_dim;
        let x: Vec<f32> = obs.iter().map(|&v| v as f32).collect();
        forward(&self.actor_layout, &self.actor, &x, 1, &mut self.ws.few);
        let out = self.ws.few.output();
        match rng {
            Some(rng) => {
                normal_into(rng, &mut self.ws.eps_few, ad);
                let mut s = Squashed::default();
                squash(out, &self.ws.eps_few, ad, self.log_scale, &mut s);
                s.action
            }
            None => out[..ad].iter().map(|m| m.tanh()).collect(),
        }
    }
}

impl Learner for Sac {
    fn format(&self) -> &'static str {
        super::params::FORMAT
    }

    fn sample_action(&mut self, obs: &[f64], rng: &mut Rng) -> Vec<f32> {
        Sac::act(self, obs, Some(rng))
    }

    fn eval_action(&mut self, obs: &[f64], _rng: &mut Rng) -> Vec<f32> {
        Sac::act(self, obs, None)
    }

    fn evaluation_samples(&self) -> bool {
        false
    }

    fn update(&mut self, batch: &Batch, rng: &mut Rng) -> Losses {
        Sac::update(self, batch, rng)
    }

    fn alpha(&self) -> f64 {
        Sac::alpha(self)
    }

    fn set_parallel(&mut self, parallel: bool) {
        self.parallel = parallel;
    }

    fn model_tensors(&self) -> (Vec<NamedTensor>, HashMap<String, String>) {
        (self.named_tensors(), self.model_metadata())
    }

    fn optimizer_tensors(&self) -> (Vec<NamedTensor>, HashMap<String, String>) {
        self.optimizer_state()
    }

    fn load_model(&mut self, stored: &Tensors, path: &Path, policy_only: bool) -> Result<()> {
        self.fill_model(stored, path, policy_only)
    }

    fn load_optimizer(
        &mut self,
        stored: &Tensors,
        metadata: &HashMap<String, String>,
        path: &Path,
    ) -> Result<()> {
        self.fill_optimizer(stored, metadata, path)
    }
}
