//! `maxent compare`: a trained agent against the exact MaxEnt-optimal solution of its problem.
//!
//! On two sets of states — states the learned policy visits (fresh seeded rollouts, subsampled
//! uniformly) and a uniform sample of the solver's grid nodes — it reports, per set:
//!
//! - `kl_mean`: `KL(π_learned‖π_exact) = E_{a~π_learned}[log π_learned(a|s) − log π_exact(a|s)]`
//!   by Monte Carlo, with `log π_exact(a|s) = (Q_exact(s,a) − V_exact(s))/α` (one-step lookahead
//!   through the model, V interpolated) and both densities in env action units;
//! - `value_error_mean`: `|V_learned(s) − V_exact(s)|`, `V_learned = E_π[min_j Q_φ,j − α·log π]`;
//! - `soft_regret_mean`: `V_exact(s) − V^{π_learned}(s)`, the learned policy's own soft value by
//!   exact tabular soft policy evaluation on the solver's grid — no trust in the learned critic;
//! - `mean_action_error`: `|E_{π_learned}[a] − E_{π_exact}[a]|` (Euclidean, env units);
//!
//! and each policy's plain return (undiscounted, as `eval`) and soft return
//! (`Σ γ^t (r_t − α·log π(a_t|s_t))`) over the same seeded episodes, the exact policy acting by
//! lookahead (a cell drawn by its probability, the action uniform within it).

use std::path::Path;

use rand::Rng as _;
use serde::Serialize;

use crate::config::Config;
use crate::env::{Env, Simulator};
use crate::error::{Error, Result};
use crate::exact::Solution;
use crate::exact::grid::ActionGrid;
use crate::objective::{ActionPrior, Backup, Horizon, Temperature};
use crate::report::Raster;
use crate::rng;
use crate::sac::Sac;
use crate::sac::checkpoint;

const STATES_TAG: u64 = 0xC0A1;
const EPISODE_TAG: u64 = 0xC0A2;

/// How many episodes, states and samples a comparison uses.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub episodes: usize,
    pub states: usize,
    pub samples: usize,
    pub seed: u64,
    /// Raster cells per dimension of the heatmaps.
    pub raster: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            episodes: 10,
            states: 200,
            samples: 256,
            seed: 0,
            raster: 48,
        }
    }
}

/// The metrics on one set of states.
#[derive(Debug, Clone, Serialize)]
pub struct StateSet {
    pub states: usize,
    pub kl_mean: f64,
    pub value_error_mean: f64,
    pub soft_regret_mean: f64,
    /// `soft_regret_mean / mean |V_exact|`.
    pub soft_regret_relative: f64,
    pub mean_action_error: f64,
    pub v_exact_abs_mean: f64,
    /// `E[V_learned − V^{π_learned}]`: the learned critic's bias about its own policy's true soft
    /// value (negative: it underestimates).
    pub critic_bias_mean: f64,
    /// Share of states where the exact policy's std is under two action cells in some dimension:
    /// there the grid resolves π* poorly and the KL estimate is unreliable.
    pub narrow_exact_fraction: f64,
    /// The soft regret of π* projected onto the learned policy's class (see
    /// [`project_tanh_gaussian`]): what a tanh-Gaussian policy loses even when fitted to the exact
    /// optimum, state by state. The learned policy's regret above it is what training leaves.
    pub projected_soft_regret_mean: f64,
    /// `projected_soft_regret_mean / mean |V_exact|`.
    pub projected_soft_regret_relative: f64,
}

/// The comparison at one state.
struct PerState {
    kl: f64,
    v_learned: f64,
    v_exact: f64,
    /// `V^{π_learned}`, interpolated from the tabular evaluation.
    v_pi: f64,
    regret: f64,
    /// `V* − V` of π* projected onto tanh-Gaussians.
    projected_regret: f64,
    mean_learned: Vec<f64>,
    mean_exact: Vec<f64>,
    /// Whether π*'s std is below two action cells in some dimension.
    narrow: bool,
}

impl PerState {
    fn action_error(&self) -> f64 {
        self.mean_learned
            .iter()
            .zip(&self.mean_exact)
            .map(|(a, b)| (a - b).powi(2))
            .sum::<f64>()
            .sqrt()
    }
}

/// What `compare` writes to `report.json` and prints with `--json`. The top-level metric keys are
/// those of the visited states.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub alpha: f64,
    /// `fixed` (both used the config's α) or `learned` (the solution was solved at the learned α).
    pub alpha_source: &'static str,
    pub kl_mean: f64,
    pub value_error_mean: f64,
    pub soft_regret_mean: f64,
    pub states: usize,
    pub return_learned: f64,
    pub return_exact: f64,
    pub soft_return_learned: f64,
    pub soft_return_exact: f64,
    pub episodes: usize,
    pub visited: StateSet,
    pub grid: StateSet,
}

/// The checkpoint and the solution must be of one problem; returns α and where it came from.
fn check_compatible(learned: &Config, sac: &Sac, exact: &Solution) -> Result<(f64, &'static str)> {
    let refuse = |what: String| Error::argument("compare", what);
    let (lo, eo) = (&learned.objective, &exact.config.objective);
    if learned.env.to_table() != exact.config.env.to_table() {
        return Err(refuse(
            "the checkpoint and the solution are for different environments".into(),
        ));
    }
    if (lo.gamma - eo.gamma).abs() > 1e-12 {
        return Err(refuse(format!(
            "gamma differs: {} (checkpoint) vs {} (solution)",
            lo.gamma, eo.gamma
        )));
    }
    if eo.backup != Backup::Maxent
        || eo.action_prior != ActionPrior::Lebesgue
        || eo.horizon != Horizon::Discounted
    {
        return Err(refuse(
            "SAC learns the discounted maxent backup with the lebesgue prior: solve with those"
                .into(),
        ));
    }
    match lo.temperature {
        Temperature::Fixed(a) if (a - exact.alpha).abs() > 1e-9 * a => Err(refuse(format!(
            "alpha differs: {a} (checkpoint) vs {} (solution)",
            exact.alpha
        ))),
        Temperature::Fixed(a) => Ok((a, "fixed")),
        Temperature::Auto => {
            let a = sac.alpha();
            if (a - exact.alpha).abs() > 1e-4 * a {
                return Err(refuse(format!(
                    "the checkpoint learned alpha = {a:.6}; solve with --set objective.alpha={a:.6} (the solution has {})",
                    exact.alpha
                )));
            }
            Ok((a, "learned"))
        }
    }
}

/// The learned policy's log-density (env units) of env actions `a` at one state, given its μ and
/// log σ: `Σ_i [log N(u_i; μ_i, σ_i) − log(1 − tanh² u_i)] − Σ log half_width`, `u = atanh(a on [-1, 1])`.
fn learned_log_density(env: &Env, mean: &[f32], log_std: &[f32], a: &[f64]) -> f64 {
    let bounds = env.action_bounds();
    let mut lp = 0.0;
    for (i, b) in bounds.iter().enumerate() {
        let x = (2.0 * (a[i] - b.lo) / b.width() - 1.0).clamp(-1.0 + 1e-12, 1.0 - 1e-12);
        let u = x.atanh();
        let (m, ls) = (f64::from(mean[i]), f64::from(log_std[i]));
        let z = (u - m) / ls.exp();
        lp += -0.5 * z * z
            - ls
            - 0.5 * (2.0 * std::f64::consts::PI).ln()
            - (1.0 - x * x).ln()
            - (b.width() / 2.0).ln();
    }
    lp
}

/// π* projected onto the learned policy's class, node by node: the diagonal tanh-Gaussian (μ and
/// log σ per action dimension in its pre-tanh space, log σ within the actor's bounds) closest to
/// π* in `KL(q‖π*)` over the action cells, both taken as cell probabilities (as the learned
/// policy's are for its exact evaluation). Minimizing that KL against the exact Q* is SAC's own
/// policy step, so the result is what the class can do with a perfect critic, one step from π*.
/// `optimal` holds π*'s cell probabilities, `n_states × n_cells`; returns the projection's.
pub fn project_tanh_gaussian(actions: &ActionGrid, optimal: &[f64]) -> Vec<f64> {
    use crate::sac::nets::{LOG_STD_MAX, LOG_STD_MIN};
    use rayon::prelude::*;
    let (d, nk) = (actions.dim(), actions.len());
    let cells = actions.cells().to_vec();
    // Per dimension: each cell's pre-tanh midpoint u and the tanh Jacobian term −log(1 − x²).
    let dims: Vec<Vec<(f64, f64)>> = (0..d)
        .map(|i| {
            (0..cells[i])
                .map(|j| {
                    let x = -1.0 + (2.0 * j as f64 + 1.0) / cells[i] as f64;
                    (x.atanh(), -(1.0 - x * x).ln())
                })
                .collect()
        })
        .collect();
    // The index of cell k along dimension i (row-major, the last dimension fastest).
    let stride: Vec<usize> = (0..d).map(|i| cells[i + 1..].iter().product()).collect();
    let index = |k: usize, i: usize| (k / stride[i]) % cells[i];
    let mut out = vec![0.0; optimal.len()];
    out.par_chunks_mut(nk)
        .zip(optimal.par_chunks(nk))
        .for_each(|(q, p)| {
            let log_p: Vec<f64> = p.iter().map(|&p| p.max(1e-300).ln()).collect();
            // Start from π*'s marginal moments in pre-tanh space.
            let mut theta = vec![0.0; 2 * d];
            for i in 0..d {
                let (mut m, mut m2) = (0.0, 0.0);
                for (k, &pk) in p.iter().enumerate() {
                    let u = dims[i][index(k, i)].0;
                    m += pk * u;
                    m2 += pk * u * u;
                }
                theta[i] = m;
                theta[d + i] = (m2 - m * m).max(1e-300).sqrt().ln();
            }
            let clamp = |t: &mut [f64]| {
                for ls in &mut t[d..] {
                    *ls = ls.clamp(LOG_STD_MIN, LOG_STD_MAX);
                }
            };
            clamp(&mut theta);
            // KL(q‖π*) and its gradient in θ = (μ, log σ).
            let kl = |theta: &[f64], q: &mut [f64], grad: Option<&mut [f64]>| -> f64 {
                // Per dimension: the normalized cell probabilities and centred scores.
                let mut marg: Vec<Vec<(f64, f64, f64)>> = Vec::with_capacity(d);
                for i in 0..d {
                    let (mu, ls) = (theta[i], theta[d + i]);
                    let var = (2.0 * ls).exp();
                    let logs: Vec<f64> = dims[i]
                        .iter()
                        .map(|(u, jac)| -(u - mu) * (u - mu) / (2.0 * var) - ls + jac)
                        .collect();
                    let top = logs.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b));
                    let z: f64 = logs.iter().map(|l| (l - top).exp()).sum();
                    let probs: Vec<f64> = logs.iter().map(|l| ((l - top).exp()) / z).collect();
                    let scores: Vec<(f64, f64)> = dims[i]
                        .iter()
                        .map(|(u, _)| ((u - mu) / var, (u - mu) * (u - mu) / var - 1.0))
                        .collect();
                    let mean_score = probs
                        .iter()
                        .zip(&scores)
                        .fold((0.0, 0.0), |a, (p, s)| (a.0 + p * s.0, a.1 + p * s.1));
                    marg.push(
                        probs
                            .iter()
                            .zip(&scores)
                            .map(|(&p, s)| (p, s.0 - mean_score.0, s.1 - mean_score.1))
                            .collect(),
                    );
                }
                let mut total = 0.0;
                let mut g = vec![0.0; 2 * d];
                for (k, qk) in q.iter_mut().enumerate() {
                    *qk = (0..d).map(|i| marg[i][index(k, i)].0).product();
                    if *qk <= 0.0 {
                        continue;
                    }
                    let l = qk.ln() - log_p[k];
                    total += *qk * l;
                    for i in 0..d {
                        let (_, s_mu, s_ls) = marg[i][index(k, i)];
                        g[i] += *qk * l * s_mu;
                        g[d + i] += *qk * l * s_ls;
                    }
                }
                if let Some(grad) = grad {
                    grad.copy_from_slice(&g);
                }
                total
            };
            let mut grad = vec![0.0; 2 * d];
            let mut trial = vec![0.0; 2 * d];
            let mut trial_grad = vec![0.0; 2 * d];
            let mut scratch = vec![0.0; nk];
            let mut f = kl(&theta, q, Some(&mut grad));
            // Natural-gradient steps (the Gaussian's Fisher information is 1/σ² for μ and 2 for
            // log σ), halved until the KL falls.
            for _ in 0..100 {
                // A log σ held at its bound moves only back inside.
                for i in 0..d {
                    let ls = theta[d + i];
                    if (ls <= LOG_STD_MIN && grad[d + i] > 0.0)
                        || (ls >= LOG_STD_MAX && grad[d + i] < 0.0)
                    {
                        grad[d + i] = 0.0;
                    }
                }
                let mut step = 1.0;
                let mut improved = false;
                for _ in 0..30 {
                    for i in 0..d {
                        let var = (2.0 * theta[d + i]).exp();
                        trial[i] = theta[i] - step * var * grad[i];
                        trial[d + i] = theta[d + i] - step * 0.5 * grad[d + i];
                    }
                    clamp(&mut trial);
                    let ft = kl(&trial, &mut scratch, Some(&mut trial_grad));
                    if ft < f {
                        improved = f - ft > 1e-12 * f.abs().max(1e-9);
                        std::mem::swap(&mut theta, &mut trial);
                        std::mem::swap(&mut grad, &mut trial_grad);
                        f = ft;
                        break;
                    }
                    step *= 0.5;
                }
                if !improved {
                    break;
                }
            }
            kl(&theta, q, None);
        });
    out
}

fn obs_of(env: &Env, states: &[Vec<f64>]) -> Vec<f32> {
    let mut obs = vec![0.0; env.obs_dim()];
    let mut out = Vec::new();
    for s in states {
        env.observe(s, &mut obs);
        out.extend(obs.iter().map(|&v| v as f32));
    }
    out
}

/// Compares a checkpoint with a solution.
/// A picture `compare` draws: rasters side by side, `cols` per row.
pub struct Figure {
    pub file: &'static str,
    pub rasters: Vec<Raster>,
    pub cols: usize,
    pub x_desc: String,
    pub y_desc: String,
}

impl Figure {
    pub fn draw(&self, dir: &Path) -> Result<()> {
        crate::report::heatmaps(
            &dir.join(self.file),
            &self.rasters,
            self.cols,
            &self.x_desc,
            &self.y_desc,
        )
    }
}

/// Compares a checkpoint with a solution: the report, and pictures for 2-D state or action spaces.
pub fn compare(
    checkpoint_dir: &Path,
    exact_dir: &Path,
    opts: Options,
) -> Result<(Report, Vec<Figure>)> {
    let (config, mut sac, _, _) = checkpoint::load(checkpoint_dir)?;
    let exact = Solution::load(exact_dir)?;
    let (alpha, alpha_source) = check_compatible(&config, &sac, &exact)?;
    let env = &config.env;
    let (ad, gamma) = (env.action_dim(), config.objective.gamma);
    let bounds = env.action_bounds();

    // The learned policy's cell probabilities at every grid node, and its exact soft value there.
    let grid = &exact.grid;
    let nodes: Vec<Vec<f64>> = (0..grid.len())
        .map(|i| {
            let mut s = vec![0.0; grid.dim()];
            grid.node(i, &mut s);
            s
        })
        .collect();
    let (mean, log_std) = sac.policy(&obs_of(env, &nodes), nodes.len());
    let midpoints = exact.actions.all();
    let na = exact.actions.len();
    let mut policy = vec![0.0; grid.len() * na];
    for (i, p) in policy.chunks_exact_mut(na).enumerate() {
        let (m, l) = (&mean[i * ad..(i + 1) * ad], &log_std[i * ad..(i + 1) * ad]);
        let logs: Vec<f64> = midpoints
            .chunks_exact(ad)
            .map(|a| learned_log_density(env, m, l, a))
            .collect();
        let top = logs.iter().fold(f64::NEG_INFINITY, |x, &y| x.max(y));
        let sum: f64 = logs.iter().map(|l| (l - top).exp()).sum();
        for (p, l) in p.iter_mut().zip(&logs) {
            *p = (l - top).exp() / sum;
        }
    }
    let mdp = exact.mdp();
    let bellman = exact.bellman(&mdp);
    let v_pi = bellman.evaluate(&policy, 1e-8);
    let optimal = bellman.policy(&exact.next_values());
    let v_projected = bellman.evaluate(&project_tanh_gaussian(&exact.actions, &optimal), 1e-8);

    // Episodes: the learned policy (its states are the visited set) and the exact one, from the
    // same seeded initial states.
    let mut visited: Vec<Vec<f64>> = Vec::new();
    let (mut ret_l, mut soft_l, mut ret_e, mut soft_e) = (0.0, 0.0, 0.0, 0.0);
    let mut act_rng = rng::derived(opts.seed, EPISODE_TAG, u64::MAX);
    for ep in 0..opts.episodes {
        for learned in [true, false] {
            let mut sim = Simulator::new(env.clone());
            let mut obs = vec![0.0; env.obs_dim()];
            sim.reset(
                &mut rng::derived(opts.seed, EPISODE_TAG, ep as u64),
                &mut obs,
            );
            let (mut ret, mut soft, mut discount) = (0.0, 0.0, 1.0);
            let mut env_action = vec![0.0; ad];
            loop {
                let state = sim.state().to_vec();
                let log_pi = if learned {
                    visited.push(state.clone());
                    let a = sac.act(&obs, Some(&mut act_rng));
                    crate::sac::evaluate::to_env_action(&bounds, &a, &mut env_action);
                    let x: Vec<f32> = obs.iter().map(|&v| v as f32).collect();
                    let (m, l) = sac.policy(&x, 1);
                    learned_log_density(env, &m, &l, &env_action)
                } else {
                    let l = exact.lookahead(&state);
                    let u: f64 = act_rng.random_range(0.0..1.0);
                    let mut acc = 0.0;
                    let k = l.probabilities.iter().position(|p| {
                        acc += p;
                        acc >= u
                    });
                    let k = k.unwrap_or(na - 1);
                    for i in 0..ad {
                        let jitter: f64 = act_rng.random_range(-0.5..0.5);
                        env_action[i] = midpoints[k * ad + i] + jitter * exact.actions.delta(i);
                    }
                    l.density[k].ln()
                };
                let t = sim.step(&env_action, &mut act_rng, &mut obs);
                ret += t.reward;
                soft += discount * (t.reward - alpha * log_pi);
                discount *= gamma;
                if t.terminated || t.truncated {
                    break;
                }
            }
            if learned {
                ret_l += ret;
                soft_l += soft;
            } else {
                ret_e += ret;
                soft_e += soft;
            }
        }
    }
    let n_ep = opts.episodes.max(1) as f64;
    let mut pick = rng::derived(opts.seed, STATES_TAG, 0);
    while visited.len() > opts.states {
        let i = pick.random_range(0..visited.len());
        visited.swap_remove(i);
    }
    let visited_states = visited.clone();
    let sampled: Vec<Vec<f64>> = (0..opts.states)
        .map(|_| nodes[pick.random_range(0..nodes.len())].clone())
        .collect();

    let mut sample_rng = rng::derived(opts.seed, STATES_TAG, 1);
    let mut at = |s: &[f64], samples: usize| -> PerState {
        let l = exact.lookahead(s);
        let d = sample_learned(&mut sac, env, s, samples, &mut sample_rng);
        let q_exact = exact.q_at(s, &d.env_actions);
        let n = samples as f64;
        let (mut kl, mut v_learned) = (0.0, 0.0);
        for ((log_density, q_exact), q_min) in d.log_density.iter().zip(&q_exact).zip(&d.q_min) {
            kl += (log_density - (q_exact - l.v) / alpha) / n;
            v_learned += (f64::from(*q_min) - alpha * log_density) / n;
        }
        let v_pi_s = grid.value_at(&v_pi, s);
        PerState {
            kl,
            v_learned,
            v_exact: l.v,
            v_pi: v_pi_s,
            regret: grid.value_at(exact.v0(), s) - v_pi_s,
            projected_regret: grid.value_at(exact.v0(), s) - grid.value_at(&v_projected, s),
            mean_learned: d.mean(),
            narrow: l
                .policy_std
                .iter()
                .enumerate()
                .any(|(i, sd)| *sd < 2.0 * exact.actions.delta(i)),
            mean_exact: l.policy_mean,
        }
    };
    let mut metrics = |states: &[Vec<f64>]| -> StateSet {
        let per: Vec<PerState> = states.iter().map(|s| at(s, opts.samples)).collect();
        let k = states.len().max(1) as f64;
        let sum = |f: &dyn Fn(&PerState) -> f64| per.iter().map(f).sum::<f64>();
        let vabs = sum(&|p| p.v_exact.abs());
        StateSet {
            states: states.len(),
            kl_mean: sum(&|p| p.kl) / k,
            value_error_mean: sum(&|p| (p.v_learned - p.v_exact).abs()) / k,
            soft_regret_mean: sum(&|p| p.regret) / k,
            soft_regret_relative: sum(&|p| p.regret) / vabs.max(1e-300),
            mean_action_error: sum(&|p| p.action_error()) / k,
            v_exact_abs_mean: vabs / k,
            critic_bias_mean: sum(&|p| p.v_learned - p.v_pi) / k,
            narrow_exact_fraction: sum(&|p| f64::from(u8::from(p.narrow))) / k,
            projected_soft_regret_mean: sum(&|p| p.projected_regret) / k,
            projected_soft_regret_relative: sum(&|p| p.projected_regret) / vabs.max(1e-300),
        }
    };
    let visited = metrics(&visited);
    let grid_set = metrics(&sampled);

    let mut figures = Vec::new();
    let axes = env.state_axes();
    if axes.len() == 2 {
        let n = opts.raster;
        let cell = |k: usize, i: usize| {
            axes[k].lo + (i as f64 + 0.5) * (axes[k].hi - axes[k].lo) / n as f64
        };
        let per: Vec<PerState> = (0..n * n)
            .map(|k| at(&[cell(0, k % n), cell(1, k / n)], 32))
            .collect();
        let raster = |title: &str, f: &dyn Fn(&PerState) -> f64| Raster {
            title: title.to_string(),
            x: (axes[0].lo, axes[0].hi),
            y: (axes[1].lo, axes[1].hi),
            nx: n,
            ny: n,
            values: per.iter().map(f).collect(),
        };
        figures.push(Figure {
            file: "heatmaps.png",
            rasters: vec![
                raster("V* (exact)", &|p| p.v_exact),
                raster("V learned", &|p| p.v_learned),
                raster("V learned − V*", &|p| p.v_learned - p.v_exact),
                raster("mean action, exact", &|p| p.mean_exact[0]),
                raster("mean action, learned", &|p| p.mean_learned[0]),
                raster("KL(π learned ‖ π*)", &|p| p.kl),
            ],
            cols: 3,
            x_desc: "state[0]".into(),
            y_desc: "state[1]".into(),
        });
    }
    if ad == 2 {
        let (k0, k1) = (exact.actions.cells()[0], exact.actions.cells()[1]);
        let mut rasters = Vec::new();
        let mut learned = Vec::new();
        let mut states: Vec<Vec<f64>> = vec![vec![0.0; env.state_dim()]];
        if let Some(s) = visited_states.get(visited_states.len() / 2) {
            states.push(s.clone());
        }
        for s in &states {
            let l = exact.lookahead(s);
            let x = obs_of(env, std::slice::from_ref(s));
            let (m, ls) = sac.policy(&x, 1);
            let transpose = |d: &dyn Fn(usize) -> f64| {
                (0..k0 * k1)
                    .map(|k| d((k % k0) * k1 + k / k0))
                    .collect::<Vec<f64>>()
            };
            let box_of = |i: usize| (bounds[i].lo, bounds[i].hi);
            let label = format!("{:.2?}", s);
            rasters.push(Raster {
                title: format!("π*(a|s) exact, s = {label}"),
                x: box_of(0),
                y: box_of(1),
                nx: k0,
                ny: k1,
                values: transpose(&|k| l.density[k]),
            });
            let dens = |k: usize| {
                learned_log_density(env, &m, &ls, &midpoints[k * ad..(k + 1) * ad]).exp()
            };
            learned.push(Raster {
                title: format!("π(a|s) learned, s = {label}"),
                x: box_of(0),
                y: box_of(1),
                nx: k0,
                ny: k1,
                values: transpose(&dens),
            });
        }
        let cols = rasters.len();
        rasters.extend(learned);
        figures.push(Figure {
            file: "actions.png",
            rasters,
            cols,
            x_desc: "action[0]".into(),
            y_desc: "action[1]".into(),
        });
    }

    Ok((
        Report {
            alpha,
            alpha_source,
            kl_mean: visited.kl_mean,
            value_error_mean: visited.value_error_mean,
            soft_regret_mean: visited.soft_regret_mean,
            states: visited.states,
            return_learned: ret_l / n_ep,
            return_exact: ret_e / n_ep,
            soft_return_learned: soft_l / n_ep,
            soft_return_exact: soft_e / n_ep,
            episodes: opts.episodes,
            visited,
            grid: grid_set,
        },
        figures,
    ))
}

/// `report.md`: a table a person reads in ten seconds.
pub fn markdown(r: &Report, checkpoint: &Path, exact: &Path) -> String {
    let narrow = r
        .visited
        .narrow_exact_fraction
        .max(r.grid.narrow_exact_fraction);
    let warning = if narrow > 0.1 {
        format!(
            "\n**Caution:** at {:.0}% of the states the exact policy is narrower than two action cells; \
             the grid resolves it poorly there and the KL estimate is unreliable. Raise α or `solver.actions`.\n",
            100.0 * narrow
        )
    } else {
        String::new()
    };
    let row = |name: &str, v: &StateSet| {
        format!(
            "| {name} | {} | {:.4} | {:.4} | {:.4} ({:.2}% of mean |V*|) | {:.4} ({:.2}%) | {:.4} | {:+.3} |\n",
            v.states,
            v.kl_mean,
            v.value_error_mean,
            v.soft_regret_mean,
            100.0 * v.soft_regret_relative,
            v.projected_soft_regret_mean,
            100.0 * v.projected_soft_regret_relative,
            v.mean_action_error,
            v.critic_bias_mean
        )
    };
    format!(
        "# Learned vs exact\n\nCheckpoint `{}` against solution `{}`, α = {} ({}).\n\n\
         | states | n | KL(π_learned‖π_exact) nats | \\|V_learned − V*\\| | soft regret V* − V^π | the same for π* fitted by a tanh-Gaussian | mean-action error | critic bias V_learned − V^π |\n\
         |---|---|---|---|---|---|---|---|\n{}{}\n\
         | over {} seeded episodes | learned | exact |\n|---|---|---|\n\
         | return (undiscounted) | {:.2} | {:.2} |\n| soft return (discounted) | {:.2} | {:.2} |\n{}",
        checkpoint.display(),
        exact.display(),
        r.alpha,
        r.alpha_source,
        row("visited by the learned policy", &r.visited),
        row("uniform over the solver's grid", &r.grid),
        r.episodes,
        r.return_learned,
        r.return_exact,
        r.soft_return_learned,
        r.soft_return_exact,
        warning
    )
}

/// What `query --checkpoint` reports at one state: `V_learned = E_π[min_j Q_φ,j − α·log π]` and the
/// policy's mean and standard deviation per action dimension (env units), by `samples` draws.
#[derive(Debug, Clone, Serialize)]
pub struct LearnedQuery {
    pub v: f64,
    pub policy_mean: Vec<f64>,
    pub policy_std: Vec<f64>,
    pub alpha: f64,
}

pub fn query_learned(
    sac: &mut Sac,
    env: &Env,
    state: &[f64],
    samples: usize,
    seed: u64,
) -> LearnedQuery {
    let d = sample_learned(
        sac,
        env,
        state,
        samples,
        &mut rng::derived(seed, STATES_TAG, 2),
    );
    let alpha = sac.alpha();
    let n = samples as f64;
    let v = (0..samples)
        .map(|j| (f64::from(d.q_min[j]) - alpha * d.log_density[j]) / n)
        .sum();
    let mean = d.mean();
    let ad = env.action_dim();
    let std = (0..ad)
        .map(|i| {
            let sq: f64 = d
                .env_actions
                .chunks_exact(ad)
                .map(|a| (a[i] - mean[i]).powi(2))
                .sum();
            (sq / n).sqrt()
        })
        .collect();
    LearnedQuery {
        v,
        policy_mean: mean,
        policy_std: std,
        alpha,
    }
}

/// Draws from the learned policy at one state: the actions in env units, their log-densities
/// (env units) and the online critics' `min_j Q_j` at them.
struct LearnedSamples {
    ad: usize,
    env_actions: Vec<f64>,
    log_density: Vec<f64>,
    q_min: Vec<f32>,
}

impl LearnedSamples {
    /// The sample mean action.
    fn mean(&self) -> Vec<f64> {
        let n = (self.env_actions.len() / self.ad) as f64;
        (0..self.ad)
            .map(|i| {
                self.env_actions
                    .chunks_exact(self.ad)
                    .map(|a| a[i])
                    .sum::<f64>()
                    / n
            })
            .collect()
    }
}

fn sample_learned(
    sac: &mut Sac,
    env: &Env,
    state: &[f64],
    samples: usize,
    rng: &mut rng::Rng,
) -> LearnedSamples {
    let ad = env.action_dim();
    let bounds = env.action_bounds();
    let x = obs_of(env, &[state.to_vec()]);
    let (m, ls) = sac.policy(&x, 1);
    let (mut unit, mut env_actions) = (
        Vec::with_capacity(samples * ad),
        Vec::with_capacity(samples * ad),
    );
    for _ in 0..samples {
        for i in 0..ad {
            let z: f64 = rng.sample(rand_distr::StandardNormal);
            let a = (f64::from(m[i]) + f64::from(ls[i]).exp() * z).tanh();
            unit.push(a as f32);
            env_actions.push(bounds[i].lo + (a + 1.0) * 0.5 * bounds[i].width());
        }
    }
    let obs_rep: Vec<f32> = x.iter().copied().cycle().take(x.len() * samples).collect();
    let q_min = sac.q_min(&obs_rep, &unit, samples);
    let log_density = env_actions
        .chunks_exact(ad)
        .map(|a| learned_log_density(env, &m, &ls, a))
        .collect();
    LearnedSamples {
        ad,
        env_actions,
        log_density,
        q_min,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::Interval;

    /// Cell probabilities of a diagonal tanh-Gaussian (pre-tanh μ, log σ per dimension).
    fn tanh_gaussian_cells(actions: &ActionGrid, mu: &[f64], log_std: &[f64]) -> Vec<f64> {
        let d = actions.dim();
        let mut a = vec![0.0; d];
        let logs: Vec<f64> = (0..actions.len())
            .map(|k| {
                actions.action(k, &mut a);
                (0..d)
                    .map(|i| {
                        let x = a[i] / 2.0; // the box is ±2 in every dimension
                        let z = (x.atanh() - mu[i]) / log_std[i].exp();
                        -0.5 * z * z - log_std[i] - (1.0 - x * x).ln()
                    })
                    .sum()
            })
            .collect();
        let top = logs.iter().fold(f64::NEG_INFINITY, |m, &l| m.max(l));
        let z: f64 = logs.iter().map(|l| (l - top).exp()).sum();
        logs.iter().map(|l| (l - top).exp() / z).collect()
    }

    fn kl(q: &[f64], p: &[f64]) -> f64 {
        q.iter()
            .zip(p)
            .filter(|(q, _)| **q > 0.0)
            .map(|(q, p)| q * (q / p).ln())
            .sum()
    }

    /// A policy already in the class projects onto itself; a two-mode one onto a single
    /// tanh-Gaussian no further from it (in KL(q‖π*)) than the best of a coarse search.
    #[test]
    fn projection_onto_tanh_gaussians_recovers_members_and_fits_the_rest() {
        let box2 =
            |cells: Vec<usize>| ActionGrid::new(vec![Interval::symmetric(2.0); cells.len()], cells);
        let actions = box2(vec![41]);
        let member = tanh_gaussian_cells(&actions, &[0.4], &[-0.7]);
        let projected = project_tanh_gaussian(&actions, &member);
        assert!(
            kl(&projected, &member) < 1e-10,
            "{}",
            kl(&projected, &member)
        );

        let actions = box2(vec![15, 11]);
        let member = tanh_gaussian_cells(&actions, &[-0.3, 1.1], &[0.2, -1.5]);
        let projected = project_tanh_gaussian(&actions, &member);
        assert!(kl(&projected, &member) < 1e-10);

        // Two modes at ±1 (pre-tanh ±0.55): no tanh-Gaussian matches them.
        let actions = box2(vec![41]);
        let a = tanh_gaussian_cells(&actions, &[-0.55], &[-1.5]);
        let b = tanh_gaussian_cells(&actions, &[0.55], &[-1.5]);
        let two: Vec<f64> = a.iter().zip(&b).map(|(a, b)| 0.3 * a + 0.7 * b).collect();
        let projected = project_tanh_gaussian(&actions, &two);
        assert!((projected.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        let fitted = kl(&projected, &two);
        let mut best = f64::INFINITY;
        for i in 0..=60 {
            for j in 0..=60 {
                let (mu, ls) = (-1.5 + 0.05 * i as f64, -3.0 + 0.075 * j as f64);
                best = best.min(kl(&tanh_gaussian_cells(&actions, &[mu], &[ls]), &two));
            }
        }
        assert!(
            fitted > 0.05,
            "one Gaussian cannot fit two modes: KL {fitted}"
        );
        assert!(
            fitted <= best + 1e-9,
            "fitted {fitted} vs grid search {best}"
        );

        // All of π* in one cell off the centre: the fit's mean moves onto that cell, its log σ
        // stops at the actor's lower bound, and nearly all of its mass lands there.
        let mut one = vec![1e-12; 41];
        one[29] = 1.0;
        let projected = project_tanh_gaussian(&actions, &one);
        let top = (0..41).max_by(|&a, &b| projected[a].total_cmp(&projected[b]));
        assert_eq!(top, Some(29));
        assert!(projected[29] > 0.999, "{}", projected[29]);
    }
}
