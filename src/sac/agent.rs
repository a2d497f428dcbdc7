//! Soft actor-critic (Haarnoja et al. 2018, "Soft Actor-Critic Algorithms and Applications"): the
//! update, on flat buffers with hand-written gradients ([`super::dense`]), with the results of the
//! order Stable-Baselines3's `SAC.train` runs it in — temperature, critics, actor, Polyak (done here
//! right after each critic's step, which the actor step does not touch) — and CleanRL's
//! temperature loss on α rather than SB3's on log α. [`super::reference`] computes the same update
//! with candle's autograd; tests hold the two to each other.
//!
//! Networks: the actor `[obs, hidden…, 2·act]` (its last layer is the mean head stacked on the
//! log-σ head), two critics `[obs + act, hidden…, 1]` and their Polyak targets. Actions are on
//! [-1, 1]; log-densities are in env action units (the scaling's Jacobian included).

use std::collections::HashMap;
use std::path::Path;

use rand::Rng as _;

use super::dense::{Cache, Layout, backward, both, forward, input_grad_rows};
use super::optim::Adam;
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
    ws: Workspace,
}

/// Buffers of one update, kept between updates.
#[derive(Debug, Clone, Default)]
struct Workspace {
    /// π on s, then on s′.
    actor: Cache,
    actor_next: Cache,
    /// Target critics on (s′, a′).
    target: [Cache; 2],
    /// Critics on (s, a), then (updated) on (s, ã).
    critic: [Cache; 2],
    pi: Squashed,
    next: Squashed,
    /// `[s′ | a′]`, `[s | a]` and `[s | ã]` rows.
    x_next: Vec<f32>,
    x_data: Vec<f32>,
    x_pi: Vec<f32>,
    y: Vec<f32>,
    g: [Vec<f32>; 2],
    /// (critic, row) for the rows whose minimum is critic 0's, then those of critic 1.
    min_rows: Vec<(usize, usize)>,
    /// The actor loss's input gradients, half the rows each.
    row_grads: [RowGrads; 2],
    grads_actor: Vec<f32>,
    grads_critic: Vec<f32>,
    g_actor_out: Vec<f32>,
    eps: Vec<f32>,
    eps_next: Vec<f32>,
    /// π on the few observations of `act` and `policy` (a cache of their own, so that acting
    /// between updates does not shrink the update's buffers and make them refill).
    few: Cache,
    eps_few: Vec<f32>,
}

/// A batch of tanh-Gaussian samples with what their backward pass needs.
#[derive(Debug, Clone, Default)]
struct Squashed {
    action: Vec<f32>,
    log_prob: Vec<f32>,
    log_std: Vec<f32>,
    std: Vec<f32>,
    tanh_raw: Vec<f32>,
}

/// `a = tanh(μ + σ·ε)` per row of the actor's output `[μ | raw]`, `log σ` bounded from `raw` and
/// `log π(a|s)` in env units from the pre-tanh sample, as [`crate::tanh_gaussian`] defines them.
fn squash(out: &[f32], eps: &[f32], ad: usize, log_scale: f64, s: &mut Squashed) {
    let batch = eps.len() / ad;
    for v in [&mut s.action, &mut s.log_std, &mut s.std, &mut s.tanh_raw] {
        v.resize(batch * ad, 0.0);
    }
    s.log_prob.resize(batch, 0.0);
    for b in 0..batch {
        let row = &out[b * 2 * ad..(b + 1) * 2 * ad];
        let mut lp = -(log_scale as f32);
        for i in 0..ad {
            let k = b * ad + i;
            let tr = row[ad + i].tanh();
            let ls = tanh_gaussian::log_std_of_tanh(tr);
            let sd = ls.exp();
            let e = eps[k];
            let u = row[i] + sd * e;
            lp += tanh_gaussian::log_prob_term(e, ls, u);
            s.action[k] = u.tanh();
            s.log_std[k] = ls;
            s.std[k] = sd;
            s.tanh_raw[k] = tr;
        }
        s.log_prob[b] = lp;
    }
}

fn normal_into(rng: &mut Rng, out: &mut Vec<f32>, n: usize) {
    out.clear();
    out.extend((0..n).map(|_| rng.sample::<f32, _>(rand_distr::StandardNormal)));
}

/// `[obs | action]` rows.
fn concat_rows(obs: &[f32], action: &[f32], od: usize, ad: usize, out: &mut Vec<f32>) {
    out.clear();
    for (o, a) in obs.chunks_exact(od).zip(action.chunks_exact(ad)) {
        out.extend_from_slice(o);
        out.extend_from_slice(a);
    }
}

/// One thread's share of the actor loss's input gradients and the buffers they need.
#[derive(Debug, Clone, Default)]
struct RowGrads {
    /// `∂L/∂[s | ã]` of its rows, in the order of its share.
    dx: Vec<f32>,
    rows: Vec<usize>,
    g: Vec<f32>,
    flow: [Vec<f32>; 2],
}

impl RowGrads {
    /// The input gradient through the critics for the rows `part` (pairs of critic and row,
    /// critic 0's first): each row goes back through the critic that is its minimum, with
    /// `∂L/∂Q = −1/n`.
    fn compute(
        &mut self,
        cl: &Layout,
        critic: &[f32],
        caches: &[Cache; 2],
        part: &[(usize, usize)],
        n: usize,
    ) {
        let (lc, width) = (cl.len(), cl.input());
        self.dx.resize(part.len() * width, 0.0);
        let split = part.partition_point(|&(j, _)| j == 0);
        let (dx0, dx1) = self.dx.split_at_mut(split * width);
        for (j, seg, out) in [(0, &part[..split], dx0), (1, &part[split..], dx1)] {
            if seg.is_empty() {
                continue;
            }
            self.rows.clear();
            self.rows.extend(seg.iter().map(|&(_, r)| r));
            self.g.clear();
            self.g.resize(seg.len(), -1.0 / n as f32);
            let p = &critic[j * lc..(j + 1) * lc];
            input_grad_rows(cl, p, &caches[j], &self.rows, &self.g, out, &mut self.flow);
        }
    }
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
        let (alpha0, learned) = match config.objective.temperature {
            Temperature::Fixed(alpha) => (alpha, false),
            Temperature::Auto => (a.init_alpha, true),
        };
        Sac {
            obs_dim: od,
            act_dim: ad,
            actor_opt: Adam::new(actor.len(), a.actor_lr),
            critic_opt: Adam::new(critic.len(), a.critic_lr),
            alpha_opt: learned.then(|| Adam::new(1, a.alpha_lr)),
            target: critic.clone(),
            actor,
            critic,
            actor_layout,
            critic_layout,
            log_alpha: alpha0.ln() as f32,
            gamma: config.objective.gamma,
            tau: a.tau,
            target_entropy: match a.target_entropy {
                TargetEntropy::Auto => -(ad as f64) + log_scale,
                TargetEntropy::Nats(h) => h,
            },
            log_scale,
            parallel: false,
            ws: Workspace::default(),
        }
    }

    /// About the bytes an agent for `config` holds while it trains, as `(parameters,
    /// activations)`: the actor and the twin critics with their targets, Adam's moments and the
    /// gradients; then a minibatch's activations and gradients through the update's six network
    /// passes. In floating point, so that absurd sizes cannot overflow.
    pub fn training_bytes(config: &Config) -> LearnerBytes {
        let (od, ad) = (config.env.obs_dim() as f64, config.env.action_dim() as f64);
        let hidden: Vec<f64> = config.agent.hidden.iter().map(|&h| h as f64).collect();
        let params = |input: f64, output: f64| -> f64 {
            let sizes: Vec<f64> = std::iter::once(input)
                .chain(hidden.iter().copied())
                .chain([output])
                .collect();
            sizes.windows(2).map(|w| (w[0] + 1.0) * w[1]).sum()
        };
        let (actor, critic) = (params(od, 2.0 * ad), params(od + ad, 1.0));
        let widest = hidden.iter().copied().fold(0.0, f64::max);
        let rows = config.train.batch_size as f64;
        let f32s = 4.0;
        LearnerBytes {
            parameters: f32s * (4.0 * actor + 10.0 * critic),
            activations: f32s * rows * (6.0 * hidden.iter().sum::<f64>() + 12.0 * widest),
        }
    }

    pub fn alpha(&self) -> f64 {
        f64::from(self.log_alpha).exp()
    }

    /// One gradient step of every part on a minibatch of `n` rows; `rng` draws the policy noise
    /// (`n × act_dim` for the current states, then as many for the next states).
    ///
    /// With `parallel`, the work runs as four fork–join phases of two halves of equal size (in
    /// products of the hidden size): (1) π on s′ and the target critics ‖ π on s and the critics on
    /// (s, a); (2) critic j's backward, Adam step, Polyak step and forward on (s, ã), one critic a
    /// thread; (3) the actor loss's input gradients, half the rows a thread, each row through its
    /// minimum critic only; (4) the actor's backward, each layer's weight gradient beside the
    /// gradient flowing down. The arithmetic is the same with and without `parallel`, bit for bit.
    pub fn update(&mut self, b: &Batch, rng: &mut Rng) -> Losses {
        let (od, ad, n) = (self.obs_dim, self.act_dim, b.reward.len());
        let (al, cl) = (&self.actor_layout, &self.critic_layout);
        let lc = cl.len();
        let (parallel, log_scale) = (self.parallel, self.log_scale);
        let ws = &mut self.ws;
        normal_into(rng, &mut ws.eps, n * ad);
        normal_into(rng, &mut ws.eps_next, n * ad);
        let alpha = f64::from(self.log_alpha).exp() as f32; // this step's α: before its update

        // (1) a′ ~ π(·|s′) and Q̄_j(s′, a′) ‖ ã ~ π(·|s) (reparameterized) and Q_j(s, a).
        {
            let Workspace {
                actor,
                actor_next,
                target,
                critic,
                pi,
                next,
                x_next,
                x_data,
                x_pi,
                eps,
                eps_next,
                ..
            } = &mut *ws;
            let (actor_p, target_p, critic_p) = (&self.actor, &self.target, &self.critic);
            both(
                parallel,
                || {
                    forward(al, actor_p, b.next_obs, n, actor_next);
                    squash(actor_next.output(), eps_next, ad, log_scale, next);
                    concat_rows(b.next_obs, &next.action, od, ad, x_next);
                    for (p, cache) in target_p.chunks_exact(lc).zip(target.iter_mut()) {
                        forward(cl, p, x_next, n, cache);
                    }
                },
                || {
                    forward(al, actor_p, b.obs, n, actor);
                    squash(actor.output(), eps, ad, log_scale, pi);
                    concat_rows(b.obs, b.action, od, ad, x_data);
                    concat_rows(b.obs, &pi.action, od, ad, x_pi);
                    for (p, cache) in critic_p.chunks_exact(lc).zip(critic.iter_mut()) {
                        forward(cl, p, x_data, n, cache);
                    }
                },
            );
        }

        // Temperature: J(α) = E[−α·(log π(a|s) + H̄)]; ∂J/∂log α = −α·E[log π + H̄].
        let mut alpha_loss = 0.0;
        if let Some(opt) = &mut self.alpha_opt {
            let gap = ws
                .pi
                .log_prob
                .iter()
                .map(|&l| f64::from(l) + self.target_entropy)
                .sum::<f64>()
                / n as f64;
            alpha_loss = -f64::from(alpha) * gap;
            let mut la = [self.log_alpha];
            opt.step(&mut la, &[alpha_loss as f32]);
            self.log_alpha = la[0];
        }

        // Critics: y = r + γ·(1 − terminated)·(min_j Q̄_j(s′, a′) − α·log π(a′|s′)).
        ws.y.resize(n, 0.0);
        for k in 0..n {
            let q_next = ws.target[0].output()[k].min(ws.target[1].output()[k]);
            let soft_next = f64::from(q_next) - f64::from(alpha) * f64::from(ws.next.log_prob[k]);
            ws.y[k] = (f64::from(b.reward[k])
                + self.gamma * (1.0 - f64::from(b.terminated[k])) * soft_next)
                as f32;
        }

        // (2) L_Q = ½·Σ_j mean((Q_j(s, a) − y)²), ∂L/∂Q_j = (Q_j − y)/n; Adam; Polyak
        // Q̄_j ← τ·Q_j + (1 − τ)·Q̄_j (SB3 runs it after the actor step, which leaves Q_j as it
        // is: the same result); then Q_j(s, ã) with the updated critic, for the actor loss.
        ws.grads_critic.resize(2 * lc, 0.0);
        let critic_loss;
        {
            let step = self.critic_opt.begin();
            let tau = self.tau as f32;
            let (x_data, x_pi, y) = (&ws.x_data, &ws.x_pi, &ws.y);
            let one_critic = |p: &mut [f32],
                              t: &mut [f32],
                              (m, v): (&mut [f32], &mut [f32]),
                              cache: &mut Cache,
                              g: &mut Vec<f32>,
                              grads: &mut [f32]| {
                g.clear();
                g.extend(
                    cache
                        .output()
                        .iter()
                        .zip(y)
                        .map(|(q, y)| (q - y) / n as f32),
                );
                let loss = cache
                    .output()
                    .iter()
                    .zip(y)
                    .map(|(q, y)| f64::from(q - y).powi(2))
                    .sum::<f64>()
                    / n as f64;
                backward(cl, p, x_data, cache, g, Some(grads), None, false);
                step.apply(p, grads, m, v, Some((t, tau)));
                forward(cl, p, x_pi, n, cache);
                0.5 * loss
            };
            let (p0, p1) = self.critic.split_at_mut(lc);
            let (t0, t1) = self.target.split_at_mut(lc);
            let (m0, m1) = self.critic_opt.m.split_at_mut(lc);
            let (v0, v1) = self.critic_opt.v.split_at_mut(lc);
            let [c0, c1] = &mut ws.critic;
            let [g0, g1] = &mut ws.g;
            let (gr0, gr1) = ws.grads_critic.split_at_mut(lc);
            let (l0, l1) = both(
                parallel,
                || one_critic(p0, t0, (m0, v0), c0, g0, gr0),
                || one_critic(p1, t1, (m1, v1), c1, g1, gr1),
            );
            critic_loss = l0 + l1;
        }

        // Actor: J(π) = E[α·log π(a|s) − min_j Q_j(s, a)] through the updated critics; only the
        // minimum critic of each row passes a gradient back to the action.
        let (q0, q1) = (ws.critic[0].output(), ws.critic[1].output());
        let actor_loss = (0..n)
            .map(|k| f64::from(alpha) * f64::from(ws.pi.log_prob[k]) - f64::from(q0[k].min(q1[k])))
            .sum::<f64>()
            / n as f64;
        ws.min_rows.clear();
        // Every row in exactly one part, a NaN one too (critic 1's), so that a diverged update
        // reaches the divergence check instead of a short partition.
        let first_is_min = |k: usize| q0[k] <= q1[k];
        ws.min_rows
            .extend((0..n).filter(|&k| first_is_min(k)).map(|k| (0, k)));
        ws.min_rows
            .extend((0..n).filter(|&k| !first_is_min(k)).map(|k| (1, k)));
        // (3) ∂L/∂[s | ã], half the rows a thread.
        {
            let (caches, critic) = (&ws.critic, &self.critic);
            let (part0, part1) = ws.min_rows.split_at(n / 2);
            let [r0, r1] = &mut ws.row_grads;
            both(
                parallel,
                || r0.compute(cl, critic, caches, part0, n),
                || r1.compute(cl, critic, caches, part1, n),
            );
        }
        // Back through a = tanh(u), u = μ + σ·ε, log σ = mid + half·tanh(raw), with
        // ∂L/∂a from the critics and ∂L/∂log π = α/n:
        //   ∂log π/∂u = 2·tanh u,  ∂log π/∂log σ = −1 (direct)
        //   g_u = g_a·(1 − a²) + (α/n)·2a;  g_μ = g_u;  g_logσ = g_u·σ·ε − α/n
        //   g_raw = g_logσ·half·(1 − tanh² raw)
        let gl = alpha / n as f32;
        let half: f32 = tanh_gaussian::log_std_half_range();
        ws.g_actor_out.resize(n * 2 * ad, 0.0);
        let width = od + ad;
        let dx_rows = ws.row_grads[0]
            .dx
            .chunks_exact(width)
            .chain(ws.row_grads[1].dx.chunks_exact(width));
        for (&(_, k), dx) in ws.min_rows.iter().zip(dx_rows) {
            for i in 0..ad {
                let e = k * ad + i;
                let ga = dx[od + i];
                let a = ws.pi.action[e];
                let gu = ga * (1.0 - a * a) + gl * 2.0 * a;
                let g_log_std = gu * ws.pi.std[e] * ws.eps[e] - gl;
                let tr = ws.pi.tanh_raw[e];
                ws.g_actor_out[k * 2 * ad + i] = gu;
                ws.g_actor_out[k * 2 * ad + ad + i] = g_log_std * half * (1.0 - tr * tr);
            }
        }
        // (4) The actor's backward and Adam step.
        ws.grads_actor.resize(al.len(), 0.0);
        backward(
            al,
            &self.actor,
            b.obs,
            &mut ws.actor,
            &ws.g_actor_out,
            Some(&mut ws.grads_actor),
            None,
            parallel,
        );
        self.actor_opt.step(&mut self.actor, &ws.grads_actor);

        let entropy = -ws.pi.log_prob.iter().map(|&l| f64::from(l)).sum::<f64>() / n as f64;
        Losses {
            critic: critic_loss,
            actor: actor_loss,
            alpha: alpha_loss,
            entropy,
        }
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
                    .map(|r| tanh_gaussian::log_std_of_tanh(r.tanh())),
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

    fn act(&mut self, obs: &[f64], rng: Option<&mut Rng>) -> Vec<f32> {
        Sac::act(self, obs, rng)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::training::Sampled;

    fn config(alpha: &str) -> Config {
        let table: toml::Table = toml::from_str(&format!(
            "env = \"multigoal\"\n[objective]\nalpha = {alpha}\n[agent]\nhidden = [16, 8]"
        ))
        .unwrap();
        Config::from_table(table, "test", None, None, &[]).unwrap()
    }

    /// `n` random multigoal transitions (2-D observations and actions), a fifth of them terminal.
    fn random_transitions(rng: &mut Rng, n: usize) -> Sampled {
        use rand::Rng as _;
        let mut draw = |k: usize, lo: f32, hi: f32| -> Vec<f32> {
            (0..k).map(|_| rng.random_range(lo..hi)).collect()
        };
        Sampled {
            obs: draw(n * 2, -6.0, 6.0),
            action: draw(n * 2, -1.0, 1.0),
            reward: draw(n, -40.0, 10.0),
            next_obs: draw(n * 2, -6.0, 6.0),
            terminated: draw(n, 0.0, 1.0)
                .iter()
                .map(|u| if *u < 0.2 { 1.0 } else { 0.0 })
                .collect(),
        }
    }

    /// The twin-thread update does the serial update's arithmetic: the same weights, bit for bit.
    #[test]
    fn parallel_update_is_bit_identical_to_the_serial_one() {
        let cfg = config("\"auto\"");
        let mut rng = crate::rng::seeded(11);
        let serial = Sac::new(&cfg, &mut rng);
        let mut parallel = serial.clone();
        parallel.parallel = true;
        let mut serial = serial;
        let data = random_transitions(&mut rng, 64);
        let batch = data.batch();
        for step in 0..3 {
            let (mut r1, mut r2) = (crate::rng::seeded(step), crate::rng::seeded(step));
            assert_eq!(
                serial.update(&batch, &mut r1),
                parallel.update(&batch, &mut r2)
            );
        }
        assert_eq!(serial.actor, parallel.actor);
        assert_eq!(serial.critic, parallel.critic);
        assert_eq!(serial.target, parallel.target);
        assert_eq!(serial.critic_opt, parallel.critic_opt);
        assert_eq!(serial.log_alpha, parallel.log_alpha);
    }
}
