//! The SAC update (Haarnoja et al. 2018, "Soft Actor-Critic Algorithms and Applications",
//! arXiv:1812.05905, Algorithm 1) on the fused path: each step is a function with its equation,
//! run in the order Stable-Baselines3's `SAC.train` runs them — temperature, targets, critics,
//! actor — with CleanRL's temperature loss on α (`cleanrl/sac_continuous_action.py`) rather than
//! SB3's on log α. The soft backup in the targets is the sampled form of the soft Bellman
//! equation (Haarnoja et al. 2017, arXiv:1702.08165, eq. 2; Levine 2018, arXiv:1805.00909,
//! §4.2): `Q(s,a) = r + γ·E_{s′}[V(s′)]`, `V(s′) = E_{a′~π}[Q(s′,a′) − α·log π(a′|s′)]`.
//!
//! Gradients are written by hand ([`super::dense`]); `tests/sac_oracle.rs` holds every loss and
//! parameter to the same update written with candle's autograd. Where the math stops gradients
//! (PyTorch's `.detach()` / `torch.no_grad()`), the code simply never propagates: the target y,
//! the α in the critic and actor losses, and `log π` in the temperature loss are numbers.
//!
//! With `parallel`, the work runs as four fork–join phases of two halves of equal size (in
//! products of the hidden size): (1) π on s′ and the target critics ‖ π on s and the critics on
//! (s, a); (2) critic j's backward, Adam step, Polyak step and forward on (s, ã), one critic a
//! thread; (3) the actor loss's input gradients, half the rows a thread, each row through its
//! minimum critic only; (4) the actor's backward, each layer's weight gradient beside the
//! gradient flowing down. Within the halves of (1) and (2), the independent passes (the two
//! target critics; π on s, and the two critics on (s, a); each critic layer's weight gradient and
//! the gradient flowing down) are joins of their own, so that a thread the OS takes away for a
//! while (a Gymnasium worker's step) leaves work the other can take. The arithmetic is the same
//! with and without `parallel`, bit for bit.

use rand::Rng as _;

use super::Sac;
use super::dense::{Cache, Layout, backward, both, forward, input_grad_rows};
use crate::lanes;
use crate::rng::Rng;
use crate::tanh_gaussian;
use crate::training::{Batch, Losses};

/// Buffers of one update, kept between updates.
#[derive(Debug, Clone, Default)]
pub(super) struct Workspace {
    /// π on s, then on s′.
    actor: Cache,
    actor_next: Cache,
    /// Target critics on (s′, a′).
    target: [Cache; 2],
    /// Critics on (s, a), then (updated) on (s, ã).
    pub(super) critic: [Cache; 2],
    pi: Squashed,
    next: Squashed,
    /// `[s′ | a′]`, `[s | a]` and `[s | ã]` rows.
    x_next: Vec<f32>,
    pub(super) x_data: Vec<f32>,
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
    pub(super) few: Cache,
    pub(super) eps_few: Vec<f32>,
}

/// A batch of tanh-Gaussian samples with what their backward pass needs.
#[derive(Debug, Clone, Default)]
pub(super) struct Squashed {
    pub(super) action: Vec<f32>,
    log_prob: Vec<f32>,
    log_std: Vec<f32>,
    std: Vec<f32>,
    tanh_raw: Vec<f32>,
    /// μ per component, and each component's share of `log π`.
    mean: Vec<f32>,
    terms: Vec<f32>,
}

/// `a = tanh(μ + σ·ε)` per row of the actor's output `[μ | raw]`, `log σ` bounded from `raw` and
/// `log π(a|s)` in env units from the pre-tanh sample, as [`crate::tanh_gaussian`] defines them,
/// with the vectorizable `exp`, `ln` and `tanh` of [`crate::lanes`] (compiled for AVX2 where the
/// CPU has it: the same bits).
pub(super) fn squash(out: &[f32], eps: &[f32], ad: usize, log_scale: f64, s: &mut Squashed) {
    let n = eps.len();
    for v in [
        &mut s.action,
        &mut s.log_std,
        &mut s.std,
        &mut s.tanh_raw,
        &mut s.mean,
        &mut s.terms,
    ] {
        v.resize(n, 0.0);
    }
    // μ and raw of every row, each flat like ε (the raw into tanh_raw, overwritten there)
    for ((row, mean), raw) in out
        .chunks_exact(2 * ad)
        .zip(s.mean.chunks_exact_mut(ad))
        .zip(s.tanh_raw.chunks_exact_mut(ad))
    {
        mean.copy_from_slice(&row[..ad]);
        raw.copy_from_slice(&row[ad..]);
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked above); the kernel is plain safe code compiled for it.
        unsafe { squash_avx2(eps, s) };
    } else {
        squash_lanes(eps, s);
    }
    #[cfg(not(target_arch = "x86_64"))]
    squash_lanes(eps, s);
    s.log_prob.clear();
    s.log_prob.extend(s.terms.chunks_exact(ad).map(|terms| {
        terms
            .iter()
            .fold(-(log_scale as f32), |lp, &term| lp + term)
    }));
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn squash_avx2(eps: &[f32], s: &mut Squashed) {
    squash_lanes(eps, s);
}

/// Per component: `log σ` from `tanh(raw)`, `u = μ + σ·ε`, `a = tanh u` and its share of `log π`,
/// `−ε²/2 − log σ − log(2π)/2 − log(1 − tanh² u)`.
#[inline(always)]
fn squash_lanes(eps: &[f32], s: &mut Squashed) {
    let half_log_2pi = (0.5 * (2.0 * std::f64::consts::PI).ln()) as f32;
    let Squashed {
        action,
        log_std,
        std,
        tanh_raw,
        mean,
        terms,
        ..
    } = s;
    let it = action
        .iter_mut()
        .zip(log_std.iter_mut())
        .zip(std.iter_mut())
        .zip(tanh_raw.iter_mut())
        .zip(terms.iter_mut())
        .zip(mean.iter())
        .zip(eps);
    for ((((((a, ls), sd), tr), term), &mu), &e) in it {
        let raw = *tr;
        *tr = lanes::tanh(raw);
        *ls = tanh_gaussian::log_std_of_tanh(*tr);
        *sd = lanes::exp(*ls);
        let u = mu + *sd * e;
        let t = lanes::exp(-2.0 * u.abs());
        *term = -0.5 * e * e - *ls - half_log_2pi - lanes::log1m_tanh_sq_of(u, t);
        *a = lanes::tanh_of(u, t);
    }
}

pub(super) fn normal_into(rng: &mut Rng, out: &mut Vec<f32>, n: usize) {
    out.clear();
    out.extend((0..n).map(|_| rng.sample::<f32, _>(rand_distr::StandardNormal)));
}

/// `[obs | action]` rows.
pub(super) fn concat_rows(obs: &[f32], action: &[f32], od: usize, ad: usize, out: &mut Vec<f32>) {
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
    /// One gradient step of every part on a minibatch of `n` rows; `rng` draws the policy noise
    /// (`n × act_dim` for the current states, then as many for the next states).
    pub fn update(&mut self, b: &Batch, rng: &mut Rng) -> Losses {
        let (ad, n) = (self.act_dim, b.reward.len());
        normal_into(rng, &mut self.ws.eps, n * ad);
        normal_into(rng, &mut self.ws.eps_next, n * ad);
        let alpha = f64::from(self.log_alpha).exp() as f32; // this step's α: before its update
        self.forward_passes(b);
        let alpha_loss = self.temperature_step(alpha);
        self.soft_targets(b, alpha);
        let critic_loss = self.critic_step();
        let actor_loss = self.actor_step(b, alpha);
        let entropy = -self
            .ws
            .pi
            .log_prob
            .iter()
            .map(|&l| f64::from(l))
            .sum::<f64>()
            / n as f64;
        Losses {
            critic: critic_loss,
            actor: actor_loss,
            alpha: alpha_loss,
            entropy: Some(entropy),
        }
    }

    /// Phase (1): `a′ ~ π(·|s′)` and `Q̄_j(s′, a′)` ‖ `ã ~ π(·|s)` (reparameterized,
    /// `ã = tanh(μ + σ·ε)`) and `Q_j(s, a)`, with `log π` of both samples.
    fn forward_passes(&mut self, b: &Batch) {
        let (od, ad, n) = (self.obs_dim, self.act_dim, b.reward.len());
        let (al, cl) = (&self.actor_layout, &self.critic_layout);
        let lc = cl.len();
        let (parallel, log_scale) = (self.parallel, self.log_scale);
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
        } = &mut self.ws;
        let (actor_p, target_p, critic_p) = (&self.actor, &self.target, &self.critic);
        let (tp0, tp1) = target_p.split_at(lc);
        let (cp0, cp1) = critic_p.split_at(lc);
        let [t0, t1] = target;
        let [c0, c1] = critic;
        // π on `obs` with noise `eps`, and the `[obs | action]` rows of its samples
        let sample =
            |obs: &[f32], eps: &[f32], cache: &mut Cache, s: &mut Squashed, x: &mut Vec<f32>| {
                forward(al, actor_p, obs, n, cache);
                squash(cache.output(), eps, ad, log_scale, s);
                concat_rows(obs, &s.action, od, ad, x);
            };
        both(
            parallel,
            || {
                sample(b.next_obs, eps_next, actor_next, next, x_next);
                let x_next = &*x_next;
                both(
                    parallel,
                    || forward(cl, tp0, x_next, n, t0),
                    || forward(cl, tp1, x_next, n, t1),
                );
            },
            || {
                concat_rows(b.obs, b.action, od, ad, x_data);
                let x_data = &*x_data;
                both(
                    parallel,
                    || sample(b.obs, eps, actor, pi, x_pi),
                    || {
                        forward(cl, cp0, x_data, n, c0);
                        forward(cl, cp1, x_data, n, c1);
                    },
                );
            },
        );
    }

    /// The temperature step, when α is learned:
    /// `J(α) = E_{ã~π}[−α·(log π(ã|s) + H̄)]`, `∂J/∂log α = −α·E[log π + H̄]`
    /// (CleanRL: `alpha_loss = (-log_alpha.exp() * (log_pi + target_entropy)).mean()`).
    /// Returns J (0 for a fixed α).
    fn temperature_step(&mut self, alpha: f32) -> f64 {
        let Some(opt) = &mut self.alpha_opt else {
            return 0.0;
        };
        let log_prob = &self.ws.pi.log_prob;
        let gap = log_prob
            .iter()
            .map(|&l| f64::from(l) + self.target_entropy)
            .sum::<f64>()
            / log_prob.len() as f64;
        let alpha_loss = -f64::from(alpha) * gap;
        let mut la = [self.log_alpha];
        opt.step(&mut la, &[alpha_loss as f32]);
        self.log_alpha = la[0];
        alpha_loss
    }

    /// The critics' targets, the soft backup with the twin minimum:
    /// `y = r + γ·(1 − terminated)·(min_j Q̄_j(s′, a′) − α·log π(a′|s′))`, `a′ ~ π(·|s′)`; a
    /// truncated transition bootstraps (SB3: `target_q_values = replay_data.rewards + (1 -
    /// replay_data.dones) * self.gamma * next_q_values`, `dones` being terminations only).
    fn soft_targets(&mut self, b: &Batch, alpha: f32) {
        let ws = &mut self.ws;
        let n = b.reward.len();
        ws.y.resize(n, 0.0);
        for k in 0..n {
            let q_next = ws.target[0].output()[k].min(ws.target[1].output()[k]);
            let soft_next = f64::from(q_next) - f64::from(alpha) * f64::from(ws.next.log_prob[k]);
            ws.y[k] = (f64::from(b.reward[k])
                + self.gamma * (1.0 - f64::from(b.terminated[k])) * soft_next)
                as f32;
        }
    }

    /// Phase (2), the critic step: `L_Q = ½·Σ_j mean((Q_j(s, a) − y)²)` (SB3: `critic_loss = 0.5
    /// * sum(F.mse_loss(current_q, target_q_values) for current_q in current_q_values)`),
    /// `∂L/∂Q_j = (Q_j − y)/n`; Adam; then Polyak `Q̄_j ← τ·Q_j + (1 − τ)·Q̄_j` (SB3 runs it after
    /// the actor step, which leaves Q_j as it is: the same result); then `Q_j(s, ã)` with the
    /// updated critic, for the actor loss. Returns `L_Q`.
    fn critic_step(&mut self) -> f64 {
        let cl = &self.critic_layout;
        let lc = cl.len();
        let parallel = self.parallel;
        let ws = &mut self.ws;
        let n = ws.y.len();
        ws.grads_critic.resize(2 * lc, 0.0);
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
            backward(cl, p, x_data, cache, g, Some(grads), None, parallel);
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
        l0 + l1
    }

    /// Phases (3) and (4), the actor step through the updated critics:
    /// `J(π) = E[α·log π(ã|s) − min_j Q_j(s, ã)]`, `ã = tanh(μ + σ·ε)` (CleanRL: `actor_loss =
    /// ((alpha * log_pi) - min_qf_pi).mean()`); only the minimum critic of each row passes a
    /// gradient back to the action. Returns J.
    fn actor_step(&mut self, b: &Batch, alpha: f32) -> f64 {
        let (od, ad, n) = (self.obs_dim, self.act_dim, b.reward.len());
        let (al, cl) = (&self.actor_layout, &self.critic_layout);
        let parallel = self.parallel;
        let ws = &mut self.ws;
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
        // (3) ∂J/∂[s | ã] = −(1/n)·∂Q_min/∂[s | ã], half the rows a thread.
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
        // Back through ã = tanh(u), u = μ + σ·ε, log σ = mid + half·tanh(raw), with ∂J/∂ã from
        // the critics and ∂J/∂log π = α/n (log π as in [`crate::tanh_gaussian`]):
        //   ∂log π/∂u = 2·tanh u,  ∂log π/∂log σ = −1 (direct)
        //   g_u = g_a·(1 − ã²) + (α/n)·2ã;  g_μ = g_u;  g_logσ = g_u·σ·ε − α/n
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
        actor_loss
    }
}
