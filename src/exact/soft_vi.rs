//! Soft value iteration on a [`TabularMdp`] (DESIGN §1–2).
//!
//! The soft Bellman operator, per state:
//!
//! ```text
//! maxent:     Q(s,a) = r(s,a) + γ·Σ_s' P(s'|s,a)·V(s')                  (terminal mass: V = 0)
//! inference:  Q(s,a) = r(s,a) + γ·α·log Σ_s' P(s'|s,a)·exp(V(s')/α)       (terminal mass: exp 0)
//! (TV)(s)   = α·log Σ_a exp(Q(s,a)/α)·Δa            (lebesgue: the midpoint rule for ∫ da)
//!           = α·log (1/|A|)·Σ_a exp(Q(s,a)/α)·Δa     (uniform prior, |A| = n_actions·Δa)
//! ```
//!
//! The `log Δa` term makes tabular values approximate the continuous ones directly. The `maxent`
//! backup is the soft Bellman equation of maximum-entropy RL (Haarnoja, Tang, Abbeel, Levine
//! 2017, arXiv:1702.08165, eqs. 2–4); `inference` is the backward message of the optimality
//! graphical model (Levine 2018, arXiv:1805.00909, §2.3 eqs. 4–6), which the variational
//! treatment there (§2.4, eq. 10) turns back into `maxent`.
//!
//! Discounted problems are solved by Newton's method on `V = TV` (for `maxent` this is soft
//! policy iteration): `V ← V + (I − J)⁻¹(TV − V)` with `J = ∂TV/∂V = γ·Σ_a π(a|s)·P̃(·|s,a)`,
//! `P̃ = P` for `maxent` and P tilted by `exp(V'/α)` for `inference`. T is monotone and convex in V,
//! so from the first step on the iterates rise monotonically to the fixed point and converge
//! quadratically near it; each step's linear system goes to BiCGSTAB. Finite horizons are a
//! backward recursion from `V_T ≡ 0`.

use rayon::prelude::*;

use super::linear::{LinearSolve, Rows, Sparse, solve_i_minus};
use super::mdp::TabularMdp;
use crate::math;
use crate::objective::{ActionPrior, Backup};

/// The soft Bellman operator of one MDP and objective.
#[derive(Debug, Clone, Copy)]
pub struct SoftBellman<'a> {
    pub mdp: &'a TabularMdp,
    pub gamma: f64,
    pub alpha: f64,
    pub backup: Backup,
    /// `log Δa` (lebesgue) or `−log n_actions` (uniform): added as `α·shift` to every soft max.
    shift: f64,
}

/// How a solve went.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct SolveStats {
    /// Newton steps (discounted) or backward steps (finite horizon).
    pub iterations: usize,
    /// Applications of the Bellman operator.
    pub sweeps: usize,
    /// BiCGSTAB iterations over all Newton steps.
    pub linear_iterations: usize,
    /// `‖TV − V‖∞` of the returned V (0 for a finite horizon: the recursion is exact).
    pub residual: f64,
    pub converged: bool,
}

impl<'a> SoftBellman<'a> {
    pub fn new(
        mdp: &'a TabularMdp,
        gamma: f64,
        alpha: f64,
        backup: Backup,
        prior: ActionPrior,
    ) -> Self {
        let shift = match prior {
            ActionPrior::Lebesgue => mdp.log_cell,
            ActionPrior::Uniform => -(mdp.n_actions as f64).ln(),
        };
        SoftBellman {
            mdp,
            gamma,
            alpha,
            backup,
            shift,
        }
    }

    /// The continuation term of pair `k` given next-state values `v`: `E V'` (maxent) or
    /// `α·log E exp(V'/α)` (inference), the expectation over the pair's outcomes, each worth its
    /// interpolated next-state value (0 if terminal).
    #[inline]
    fn continuation(&self, v: &[f64], k: usize) -> f64 {
        match self.backup {
            Backup::Maxent => self.mdp.outcomes(k).map(|o| o.prob * o.value(v)).sum(),
            Backup::Inference => math::weighted_soft_max(self.alpha, || {
                self.mdp.outcomes(k).map(|o| (o.prob, o.value(v)))
            }),
        }
    }

    /// Adds `scale·∂continuation(k)/∂V` to the current row of `rows`: the outcome probabilities
    /// (maxent) or those tilted by `exp((V'_o − cont)/α)` (inference), spread over each outcome's
    /// interpolation nodes.
    #[inline]
    fn add_gradient(&self, v: &[f64], k: usize, cont: f64, scale: f64, rows: &mut Rows) {
        for o in self.mdp.outcomes(k) {
            let tilt = match self.backup {
                Backup::Maxent => 1.0,
                Backup::Inference => ((o.value(v) - cont) / self.alpha).exp(),
            };
            let g = scale * o.prob * tilt;
            for (&j, &w) in o.next.iter().zip(o.weight) {
                rows.add(j, g * w);
            }
        }
    }

    /// `Q(s, ·)` for every action, given next-state values `v`.
    #[inline]
    pub fn q_values(&self, v: &[f64], s: usize, q: &mut [f64]) {
        let na = self.mdp.n_actions;
        for (a, q) in q.iter_mut().enumerate() {
            let k = s * na + a;
            *q = self.mdp.reward[k] + self.gamma * self.continuation(v, k);
        }
    }

    /// `V(s)` from `Q(s, ·)`: `α·log Σ_a exp(Q/α) + α·shift`, the midpoint rule for
    /// `α·log ∫ exp(Q/α) da` (shift `log Δa`; Levine 2018, arXiv:1805.00909, eq. 8).
    #[inline]
    pub fn soft_max(&self, q: &[f64]) -> f64 {
        math::soft_max(self.alpha, q) + self.alpha * self.shift
    }

    /// The policy's cell probabilities `π(a|s)·Δa = softmax(Q/α)` (they sum to 1).
    pub fn policy_from_q(&self, q: &[f64], p: &mut [f64]) {
        math::softmax_into(self.alpha, q, p);
    }

    /// `out = T(next)`; returns `‖out − current‖∞`.
    pub fn sweep(&self, next: &[f64], current: &[f64], out: &mut [f64]) -> f64 {
        let na = self.mdp.n_actions;
        out.par_chunks_mut(512)
            .enumerate()
            .map(|(c, block)| {
                let mut q = vec![0.0; na];
                let mut res = 0.0f64;
                for (i, o) in block.iter_mut().enumerate() {
                    let s = c * 512 + i;
                    self.q_values(next, s, &mut q);
                    *o = self.soft_max(&q);
                    res = res.max((*o - current[s]).abs());
                }
                res
            })
            .reduce(|| 0.0, f64::max)
    }

    /// `TV`, its residual `‖TV − V‖∞`, and the Jacobian `J = ∂TV/∂V` at `v`.
    fn linearize(&self, v: &[f64]) -> (Vec<f64>, f64, Sparse) {
        let (ns, na) = (self.mdp.n_states, self.mdp.n_actions);
        const BLOCK: usize = 1024;
        let mut tv = vec![0.0; ns];
        let parts: Vec<(f64, Rows)> = tv
            .par_chunks_mut(BLOCK)
            .enumerate()
            .map(|(c, block)| {
                let (mut q, mut p, mut cont) = (vec![0.0; na], vec![0.0; na], vec![0.0; na]);
                let mut rows = Rows::new(ns);
                let mut res = 0.0f64;
                for (i, out) in block.iter_mut().enumerate() {
                    let s = c * BLOCK + i;
                    for a in 0..na {
                        cont[a] = self.continuation(v, s * na + a);
                        q[a] = self.mdp.reward[s * na + a] + self.gamma * cont[a];
                    }
                    *out = self.soft_max(&q);
                    res = res.max((*out - v[s]).abs());
                    self.policy_from_q(&q, &mut p);
                    for a in 0..na {
                        if p[a] >= 1e-15 {
                            self.add_gradient(v, s * na + a, cont[a], self.gamma * p[a], &mut rows);
                        }
                    }
                    rows.finish_row();
                }
                (res, rows)
            })
            .collect();
        let residual = parts.iter().fold(0.0f64, |m, p| m.max(p.0));
        let jac = Sparse::from_blocks(parts.into_iter().map(|p| p.1).collect());
        (tv, residual, jac)
    }

    /// The discounted fixed point `V = TV`, to `tolerance` in the sup norm, by Newton steps (at
    /// most `max_iterations`). `progress(iteration, residual)` is called after each step.
    pub fn solve_discounted(
        &self,
        tolerance: f64,
        max_iterations: usize,
        mut progress: impl FnMut(usize, f64),
    ) -> (Vec<f64>, SolveStats) {
        let ns = self.mdp.n_states;
        let mut v = vec![0.0; ns];
        let mut stats = SolveStats::default();
        let mut previous = f64::INFINITY;
        for it in 1..=max_iterations {
            let (tv, residual, jac) = self.linearize(&v);
            stats.iterations = it;
            stats.sweeps += 1;
            stats.residual = residual;
            progress(it, residual);
            if residual <= tolerance {
                stats.converged = true;
                return (v, stats);
            }
            if residual > previous {
                // An inexact linear solve overshot: fall back to a plain value-iteration step.
                v = tv;
            } else {
                let b: Vec<f64> = tv.iter().zip(&v).map(|(t, v)| t - v).collect();
                let tol = (0.01 * tolerance).max(1e-3 * residual * residual.min(1.0));
                let mut delta = vec![0.0; ns];
                stats.linear_iterations +=
                    solve_i_minus(&jac, &b, &mut delta, tol, 5_000).iterations;
                v.iter_mut().zip(&delta).for_each(|(v, d)| *v += d);
            }
            previous = residual;
        }
        // Out of iterations: the residual reported is that of the V returned, after its last step.
        let mut tv = vec![0.0; ns];
        stats.residual = self.sweep(&v, &v, &mut tv);
        stats.sweeps += 1;
        (v, stats)
    }

    /// The finite-horizon recursion: `values[t]` for `t = 0..horizon`, `V_horizon ≡ 0`.
    pub fn solve_finite(
        &self,
        horizon: usize,
        mut progress: impl FnMut(usize, f64),
    ) -> (Vec<Vec<f64>>, SolveStats) {
        let ns = self.mdp.n_states;
        let mut values = vec![vec![0.0; ns]; horizon + 1];
        for t in (0..horizon).rev() {
            let (head, tail) = values.split_at_mut(t + 1);
            let change = self.sweep(&tail[0], &tail[0], &mut head[t]);
            progress(horizon - t, change);
        }
        values.pop();
        let stats = SolveStats {
            iterations: horizon,
            sweeps: horizon,
            linear_iterations: 0,
            residual: 0.0,
            converged: true,
        };
        (values, stats)
    }

    /// The soft value of a fixed policy under the true (expected-value) dynamics:
    /// `V^π(s) = Σ_a p(a|s)·[r(s,a) + γ·E V^π(s') − α·log p(a|s)] + α·shift`, with `p` the
    /// policy's cell probabilities (`n_states × n_actions`): the entropy term is that of the
    /// piecewise-constant density `p/Δa` the cell probabilities stand for, as the solver's own V.
    /// Solved by BiCGSTAB to `tolerance` (sup norm of the linear residual) within 20 000
    /// iterations, or an error saying how far it got.
    pub fn evaluate(&self, policy: &[f64], tolerance: f64) -> Result<Vec<f64>, LinearSolve> {
        self.evaluate_within(policy, tolerance, 20_000)
    }

    /// [`SoftBellman::evaluate`] with at most `max_iterations` BiCGSTAB iterations.
    pub fn evaluate_within(
        &self,
        policy: &[f64],
        tolerance: f64,
        max_iterations: usize,
    ) -> Result<Vec<f64>, LinearSolve> {
        let (ns, na) = (self.mdp.n_states, self.mdp.n_actions);
        // The real dynamics take expectations: the maxent gradient is the transition matrix.
        let truth = SoftBellman {
            backup: Backup::Maxent,
            ..*self
        };
        let mut b = vec![0.0; ns];
        let blocks: Vec<Rows> = b
            .par_chunks_mut(1024)
            .enumerate()
            .map(|(c, block)| {
                let mut rows = Rows::new(ns);
                for (i, out) in block.iter_mut().enumerate() {
                    let s = c * 1024 + i;
                    let mut rhs = self.alpha * self.shift;
                    for a in 0..na {
                        let p = policy[s * na + a];
                        if p <= 0.0 {
                            continue;
                        }
                        rhs += p * (self.mdp.reward[s * na + a] - self.alpha * p.ln());
                        truth.add_gradient(&[], s * na + a, 0.0, self.gamma * p, &mut rows);
                    }
                    *out = rhs;
                    rows.finish_row();
                }
                rows
            })
            .collect();
        let jac = Sparse::from_blocks(blocks);
        let mut v = b.clone();
        let solve = solve_i_minus(&jac, &b, &mut v, tolerance, max_iterations);
        if solve.converged { Ok(v) } else { Err(solve) }
    }

    /// The optimal policy's cell probabilities at every state, from values `v` of the next step.
    pub fn policy(&self, v: &[f64]) -> Vec<f64> {
        let (ns, na) = (self.mdp.n_states, self.mdp.n_actions);
        let mut out = vec![0.0; ns * na];
        out.par_chunks_mut(na).enumerate().for_each(|(s, p)| {
            let mut q = vec![0.0; na];
            self.q_values(v, s, &mut q);
            self.policy_from_q(&q, p);
        });
        out
    }
}
