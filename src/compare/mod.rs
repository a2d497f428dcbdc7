//! `maxent compare`: a trained agent against the exact MaxEnt-optimal solution of its problem.
//!
//! On two sets of states — states the learned policy visits (fresh seeded rollouts, subsampled
//! uniformly) and a uniform sample of the solver's grid nodes — it reports, per set:
//!
//! - `kl_mean`: `KL(π_learned‖π_exact) = E_{a~π_learned}[log π_learned(a|s) − log π_exact(a|s)]`
//!   by Monte Carlo, `log π_learned` from each sample's pre-tanh value and
//!   `log π_exact(a|s) = (Q_exact(s,a) − V_exact(s))/α` (one-step lookahead through the model, V
//!   interpolated), both densities in env action units;
//! - `value_error_mean`: `|V_learned(s) − V_exact(s)|`, `V_learned = E_π[min_j Q_φ,j − α·log π]`;
//! - `soft_regret_mean`: `V_exact(s) − V^{π_learned}(s)`, the learned policy's own soft value by
//!   exact tabular soft policy evaluation on the solver's grid — no trust in the learned critic.
//!   The policy enters the evaluation by its exact cell masses (its Gaussian's mass over each
//!   action cell, in pre-tanh space), and its entropy there is that of the same tabulation;
//! - `mean_action_error`: `|E_{π_learned}[a] − E_{π_exact}[a]|` (Euclidean, env units);
//!
//! and each policy's plain and soft return over the same seeded episodes ([`episodes`]).

mod compatible;
mod episodes;
mod figures;
pub mod learned;
mod markdown;
mod projection;

use std::path::Path;

use rand::Rng as _;
use serde::Serialize;

pub use compatible::{AlphaSource, LEARNED_ALPHA_RTOL};
pub use figures::Figure;
pub use markdown::markdown;
pub use projection::project_tanh_gaussian;

use crate::env::Env;
use crate::error::{Error, Result};
use crate::exact::Solution;
use crate::rng;
use crate::sac::Sac;

/// Tag of the RNGs that pick and sample the evaluation states.
const STATES_TAG: u64 = 0xC0A1;

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
    /// The same for the learned policy (its sample std): there its tabulation over the action
    /// cells, and so its soft regret, is coarse.
    pub narrow_learned_fraction: f64,
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
    narrow_exact: bool,
    /// Whether the learned policy's std is below two action cells in some dimension.
    narrow_learned: bool,
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

/// The exact soft value of a policy given by its cell probabilities at every node, or an error
/// naming the evaluation that did not converge.
fn evaluate(
    solution: &Solution,
    mdp: &crate::exact::TabularMdp,
    policy: &[f64],
    what: &str,
) -> Result<Vec<f64>> {
    const TOLERANCE: f64 = 1e-8;
    solution
        .bellman(mdp)
        .evaluate(policy, TOLERANCE)
        .map_err(|s| Error::PolicyEvaluation {
            what: what.to_string(),
            residual: s.residual,
            tolerance: TOLERANCE,
            iterations: s.iterations,
        })
}

/// Everything the per-state metrics need.
struct Context<'a> {
    env: &'a Env,
    exact: &'a Solution,
    alpha: f64,
    /// `V^{π_learned}` and `V` of π* projected onto tanh-Gaussians, on the solver's grid.
    v_pi: Vec<f64>,
    v_projected: Vec<f64>,
}

impl Context<'_> {
    fn at(&self, sac: &mut Sac, s: &[f64], samples: usize, rng: &mut rng::Rng) -> PerState {
        let (exact, grid) = (self.exact, &self.exact.grid);
        let l = exact.lookahead(s);
        let d = learned::sample(sac, self.env, s, samples, rng);
        let q_exact = exact.q_at(s, &d.env_actions);
        let n = samples as f64;
        let kl = d
            .log_density
            .iter()
            .zip(&q_exact)
            .map(|(lp, q)| (lp - (q - l.v) / self.alpha) / n)
            .sum();
        let v_pi = grid.value_at(&self.v_pi, s);
        let v_star = grid.value_at(exact.v0(), s);
        let narrow = |std: &[f64]| {
            std.iter()
                .enumerate()
                .any(|(i, sd)| *sd < 2.0 * exact.actions.delta(i))
        };
        PerState {
            kl,
            v_learned: d.soft_value(self.alpha),
            v_exact: l.v,
            v_pi,
            regret: v_star - v_pi,
            projected_regret: v_star - grid.value_at(&self.v_projected, s),
            mean_learned: d.mean(),
            narrow_exact: narrow(&l.policy_std),
            narrow_learned: narrow(&d.std()),
            mean_exact: l.policy_mean,
        }
    }
}

fn state_set(per: &[PerState]) -> StateSet {
    let k = per.len().max(1) as f64;
    let sum = |f: &dyn Fn(&PerState) -> f64| per.iter().map(f).sum::<f64>();
    let share = |f: &dyn Fn(&PerState) -> bool| sum(&|p| f64::from(u8::from(f(p)))) / k;
    let vabs = sum(&|p| p.v_exact.abs());
    StateSet {
        states: per.len(),
        kl_mean: sum(&|p| p.kl) / k,
        value_error_mean: sum(&|p| (p.v_learned - p.v_exact).abs()) / k,
        soft_regret_mean: sum(&|p| p.regret) / k,
        soft_regret_relative: sum(&|p| p.regret) / vabs.max(1e-300),
        mean_action_error: sum(&|p| p.action_error()) / k,
        v_exact_abs_mean: vabs / k,
        critic_bias_mean: sum(&|p| p.v_learned - p.v_pi) / k,
        narrow_exact_fraction: share(&|p| p.narrow_exact),
        narrow_learned_fraction: share(&|p| p.narrow_learned),
        projected_soft_regret_mean: sum(&|p| p.projected_regret) / k,
        projected_soft_regret_relative: sum(&|p| p.projected_regret) / vabs.max(1e-300),
    }
}

/// Compares a checkpoint with a solution: the report, and pictures for 2-D state or action spaces.
/// Reads only the checkpoint's config and networks.
pub fn compare(
    checkpoint_dir: &Path,
    exact_dir: &Path,
    opts: Options,
) -> Result<(Report, Vec<Figure>)> {
    let config = crate::training::checkpoint::load_config(checkpoint_dir)?;
    if !matches!(config.agent.algorithm, crate::config::Algorithm::Sac(_)) {
        return Err(Error::argument(
            "compare",
            format!(
                "{} holds a soft Q-learning checkpoint: compare reads SAC checkpoints only",
                checkpoint_dir.display()
            ),
        ));
    }
    let mut sac = crate::sac::load_model(checkpoint_dir, &config, false)?;
    let exact = Solution::load(exact_dir)?;
    let (alpha, alpha_source) = compatible::check(&config, sac.alpha(), &exact)?;
    let env = &config.env;
    let bounds = env.action_bounds();

    // The learned policy's exact cell masses at every grid node, and its exact soft value there;
    // the same for π* projected onto tanh-Gaussians.
    let grid = &exact.grid;
    let nodes: Vec<Vec<f64>> = (0..grid.len())
        .map(|i| {
            let mut s = vec![0.0; grid.dim()];
            grid.node(i, &mut s);
            s
        })
        .collect();
    let policy: Vec<f64> = learned::policies(&mut sac, env, &bounds, &nodes)
        .iter()
        .flat_map(|pi| pi.cell_masses(exact.actions.cells()))
        .collect();
    let mdp = exact.mdp();
    let v_pi = evaluate(&exact, &mdp, &policy, "the learned policy")?;
    let optimal = exact.bellman(&mdp).policy(&exact.next_values());
    let projected = project_tanh_gaussian(&exact.actions, &optimal);
    let v_projected = evaluate(&exact, &mdp, &projected, "π* projected onto tanh-Gaussians")?;

    // Episodes of both policies from the same seeded initial states; the learned one's states
    // are the visited set.
    let gamma = config.objective.gamma;
    let run = |actor: &mut episodes::Actor| {
        episodes::run(actor, env, gamma, alpha, opts.episodes, opts.seed)
    };
    let learned_returns = run(&mut episodes::Actor::Learned(&mut sac));
    let exact_returns = run(&mut episodes::Actor::Exact(&exact));
    let mut visited = learned_returns.visited.clone();
    let mut pick = rng::derived(opts.seed, STATES_TAG, 0);
    while visited.len() > opts.states {
        let i = pick.random_range(0..visited.len());
        visited.swap_remove(i);
    }
    let sampled: Vec<Vec<f64>> = (0..opts.states)
        .map(|_| nodes[pick.random_range(0..nodes.len())].clone())
        .collect();

    let context = Context {
        env,
        exact: &exact,
        alpha,
        v_pi,
        v_projected,
    };
    let mut sample_rng = rng::derived(opts.seed, STATES_TAG, 1);
    let mut metrics = |states: &[Vec<f64>]| -> Vec<PerState> {
        states
            .iter()
            .map(|s| context.at(&mut sac, s, opts.samples, &mut sample_rng))
            .collect()
    };
    let visited_set = state_set(&metrics(&visited));
    let grid_set = state_set(&metrics(&sampled));

    let mut figures = Vec::new();
    let axes = env.state_axes();
    if axes.len() == 2 {
        let n = opts.raster;
        let cell = |k: usize, i: usize| {
            axes[k].lo + (i as f64 + 0.5) * (axes[k].hi - axes[k].lo) / n as f64
        };
        let states: Vec<Vec<f64>> = (0..n * n)
            .map(|k| vec![cell(0, k % n), cell(1, k / n)])
            .collect();
        let per: Vec<PerState> = states
            .iter()
            .map(|s| context.at(&mut sac, s, 32, &mut sample_rng))
            .collect();
        figures.push(figures::state_heatmaps(&axes, n, &per));
    }
    if env.action_dim() == 2 {
        let mut states: Vec<Vec<f64>> = vec![vec![0.0; env.state_dim()]];
        if let Some(s) = visited.get(visited.len() / 2) {
            states.push(s.clone());
        }
        let pis = learned::policies(&mut sac, env, &bounds, &states);
        figures.push(figures::action_densities(&exact, &states, &pis));
    }

    Ok((
        Report {
            alpha,
            alpha_source: alpha_source.as_str(),
            kl_mean: visited_set.kl_mean,
            value_error_mean: visited_set.value_error_mean,
            soft_regret_mean: visited_set.soft_regret_mean,
            states: visited_set.states,
            return_learned: learned_returns.plain,
            return_exact: exact_returns.plain,
            soft_return_learned: learned_returns.soft,
            soft_return_exact: exact_returns.soft,
            episodes: opts.episodes,
            visited: visited_set,
            grid: grid_set,
        },
        figures,
    ))
}
