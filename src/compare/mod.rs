//! `maxent compare`: a trained agent against the exact MaxEnt-optimal solution of its problem.
//!
//! On three sets of states — states the learned policy visits (fresh seeded rollouts, subsampled
//! uniformly), a uniform sample of the solver's grid nodes, and start states drawn from the
//! environment's reset distribution — it reports, per set:
//!
//! - `kl_mean`: `KL(π_learned‖π_exact)` in nats, `log π_exact(a|s) = (Q_exact(s,a) − V_exact(s))/α`
//!   by one-step lookahead through the model, V interpolated, both densities in env action units.
//!   SAC's tanh-Gaussian by Monte Carlo over its draws, `log π` from each draw's pre-tanh value;
//!   soft Q-learning's energy-based `π_θ = exp((Q_θ − V_θ)/α)` exactly over the solution's action
//!   cells ([`energy`]);
//! - `value_error_mean`: `|V_learned(s) − V_exact(s)|`, the learned critic's soft value of its own
//!   policy (SAC: `E_π[min_j Q_φ,j − α·log π]`; SQL: `V_θ`);
//! - `soft_regret_mean`: `V_exact(s) − V^{π_learned}(s)`, the learned policy's own soft value by
//!   exact tabular soft policy evaluation on the solver's grid — no trust in the learned critic.
//!   The policy enters the evaluation by its exact cell masses, and its entropy there is that of
//!   the same tabulation;
//! - `mean_action_error`: `|E_{π_learned}[a] − E_{π_exact}[a]|` (Euclidean, env units);
//! - for SQL, the sampler's fidelity: the KL of its cell histogram to `π_θ`, beside the floor a
//!   perfect sampler of as many draws scores, and to π*;
//!
//! and each policy's plain and soft return over the same seeded episodes ([`episodes`]), with
//! the goal that ended each episode where the env has goals.

mod compatible;
pub mod energy;
pub mod episodes;
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

use self::learned::{Fidelity, LearnedPolicy};
use crate::config::{Algorithm, Config};
use crate::env::Env;
use crate::error::{Error, Result};
use crate::exact::Solution;
use crate::rng;
use crate::training::episodes::distinct_goals;

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
    /// Absent for an energy-based policy, whose class holds π* itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub projected_soft_regret_mean: Option<f64>,
    /// `projected_soft_regret_mean / mean |V_exact|`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub projected_soft_regret_relative: Option<f64>,
    /// For a learner with an amortized sampler (SQL): the mean over states of `KL(h‖π_θ)`, `h` the
    /// sampler's cell histogram of [`learned::SAMPLER_DRAWS`] draws; of the same KL for as many
    /// draws from `π_θ` itself (the floor a perfect sampler scores); and of `KL(h‖π*)`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sampler_kl_mean: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sampler_kl_floor_mean: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sampler_kl_exact_mean: Option<f64>,
    /// For a diffusion sampler in few action dimensions: the mean of `KL(p‖π_θ)`, `p` the cell
    /// masses of its probability-flow ODE sampler's exact density
    /// ([`learned::Fidelity::kl_density`]), over the set's first `sampler_density_states` states
    /// (at most [`DENSITY_STATES`]: an ODE solve with a Jacobian trace at every cell costs
    /// several histograms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sampler_density_kl_mean: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sampler_density_states: Option<usize>,
}

/// The most states of a set at which a sampler's density is evaluated.
pub const DENSITY_STATES: usize = 50;

/// The comparison at one state.
struct PerState {
    kl: f64,
    v_learned: f64,
    v_exact: f64,
    /// `V^{π_learned}`, interpolated from the tabular evaluation.
    v_pi: f64,
    regret: f64,
    /// `V* − V` of π* projected onto the learned policy's class, where that is a reference.
    projected_regret: Option<f64>,
    sampler: Option<Fidelity>,
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
    /// The checkpoint's learner, `sac` or `sql`.
    pub learner: &'static str,
    /// Its amortized sampler, if it has one: `svgd` or `diffusion` (SQL).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sampler: Option<&'static str>,
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
    /// The plain return of the learner's amortized sampler over the same episodes (SQL).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub return_sampler: Option<f64>,
    pub episodes: usize,
    /// For envs with goals, per policy: the goal (index into `targets`) that ended each episode,
    /// `null` for one that ran out of time, and how many distinct goals were reached.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub goals: Option<Goals>,
    pub visited: StateSet,
    pub grid: StateSet,
    pub start: StateSet,
}

/// The goals each policy's episodes ended at.
#[derive(Debug, Clone, Serialize)]
pub struct Goals {
    pub learned: Vec<Option<usize>>,
    pub exact: Vec<Option<usize>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sampler: Option<Vec<Option<usize>>>,
    pub goals_reached_learned: usize,
    pub goals_reached_exact: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub goals_reached_sampler: Option<usize>,
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
    exact: &'a Solution,
    /// `V^{π_learned}` and, where the class has one, `V` of π* projected onto it, on the solver's
    /// grid.
    v_pi: Vec<f64>,
    v_projected: Option<Vec<f64>>,
}

impl Context<'_> {
    /// The metrics at `s`; the sampler's fidelity too when `fidelity` (with its density's when
    /// `density`).
    fn at(
        &self,
        learned: &mut dyn LearnedPolicy,
        s: &[f64],
        samples: usize,
        (fidelity, density): (bool, bool),
        rng: &mut rng::Rng,
    ) -> PerState {
        let (exact, grid) = (self.exact, &self.exact.grid);
        let l = exact.lookahead(s);
        let d = learned.against(exact, s, &l, samples, rng);
        let sampler = match fidelity {
            true => learned.fidelity(exact, s, &l, density, rng),
            false => None,
        };
        let v_pi = grid.value_at(&self.v_pi, s);
        let v_star = grid.value_at(exact.v0(), s);
        let narrow = |std: &[f64]| {
            std.iter()
                .enumerate()
                .any(|(i, sd)| *sd < 2.0 * exact.actions.delta(i))
        };
        PerState {
            kl: d.kl,
            v_learned: d.v_learned,
            v_exact: l.v,
            v_pi,
            regret: v_star - v_pi,
            projected_regret: self
                .v_projected
                .as_ref()
                .map(|v| v_star - grid.value_at(v, s)),
            sampler,
            narrow_exact: narrow(&l.policy_std),
            narrow_learned: narrow(&d.std),
            mean_learned: d.mean,
            mean_exact: l.policy_mean,
        }
    }
}

fn state_set(per: &[PerState]) -> StateSet {
    let k = per.len().max(1) as f64;
    let sum = |f: &dyn Fn(&PerState) -> f64| per.iter().map(f).sum::<f64>();
    let share = |f: &dyn Fn(&PerState) -> bool| sum(&|p| f64::from(u8::from(f(p)))) / k;
    let vabs = sum(&|p| p.v_exact.abs());
    let projected: Option<f64> = per.iter().map(|p| p.projected_regret).sum();
    let sampler = |f: &dyn Fn(&Fidelity) -> f64| -> Option<f64> {
        per.iter()
            .map(|p| p.sampler.as_ref().map(f))
            .sum::<Option<f64>>()
            .map(|t| t / k)
    };
    // The sampler's density KL, at the states where it was evaluated.
    let density: Vec<f64> = per
        .iter()
        .filter_map(|p| p.sampler.as_ref().and_then(|f| f.kl_density))
        .collect();
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
        projected_soft_regret_mean: projected.map(|r| r / k),
        projected_soft_regret_relative: projected.map(|r| r / vabs.max(1e-300)),
        sampler_kl_mean: sampler(&|f| f.kl_to_policy),
        sampler_kl_floor_mean: sampler(&|f| f.kl_floor),
        sampler_kl_exact_mean: sampler(&|f| f.kl_to_exact),
        sampler_density_kl_mean: (!density.is_empty())
            .then(|| density.iter().sum::<f64>() / density.len() as f64),
        sampler_density_states: (!density.is_empty()).then_some(density.len()),
    }
}

/// A checkpoint's learned policy with every network it compares by (SAC's critics, SQL's Q).
fn load_learned(dir: &Path, config: &Config) -> Result<Box<dyn LearnedPolicy>> {
    Ok(match config.agent.algorithm {
        Algorithm::Sac(_) => Box::new(crate::sac::load_model(dir, config, false)?),
        Algorithm::Sql(_) => Box::new(crate::sql::load_model(dir, config, false)?),
    })
}

/// `n` states drawn from the env's reset distribution.
fn start_states(env: &Env, n: usize, rng: &mut rng::Rng) -> Vec<Vec<f64>> {
    (0..n)
        .map(|_| {
            let mut s = vec![0.0; env.state_dim()];
            env.reset(rng, &mut s);
            s
        })
        .collect()
}

/// Compares a checkpoint with a solution: the report, and pictures for 2-D state or action spaces.
/// Reads only the checkpoint's config and networks.
pub fn compare(
    checkpoint_dir: &Path,
    exact_dir: &Path,
    opts: Options,
) -> Result<(Report, Vec<Figure>)> {
    let config = crate::training::checkpoint::load_config(checkpoint_dir)?;
    let env = config.env.model()?;
    let mut learned = load_learned(checkpoint_dir, &config)?;
    let learned = learned.as_mut();
    let exact = Solution::load(exact_dir)?;
    let (alpha, alpha_source) = compatible::check(&config, learned.alpha(), &exact)?;

    // The learned policy's exact cell masses at every grid node, and its exact soft value there;
    // the same for π* projected onto the learned policy's class, where that is a reference.
    let grid = &exact.grid;
    let nodes: Vec<Vec<f64>> = (0..grid.len())
        .map(|i| {
            let mut s = vec![0.0; grid.dim()];
            grid.node(i, &mut s);
            s
        })
        .collect();
    let policy = learned.cell_masses(env, &exact.actions, &nodes);
    let mdp = exact.mdp();
    let v_pi = evaluate(&exact, &mdp, &policy, "the learned policy")?;
    let v_projected = match learned.has_class_projection() {
        true => {
            let optimal = exact.bellman(&mdp).policy(&exact.next_values());
            let projected = project_tanh_gaussian(&exact.actions, &optimal);
            let what = "π* projected onto tanh-Gaussians";
            Some(evaluate(&exact, &mdp, &projected, what)?)
        }
        false => None,
    };

    // Episodes of every policy from the same seeded initial states; the learned one's states
    // are the visited set.
    let gamma = config.objective.gamma;
    let run = |actor: &mut episodes::Actor| {
        episodes::run(
            actor,
            env,
            &exact.actions,
            gamma,
            alpha,
            0.0, // compare takes the Lebesgue prior only (compatible.rs)
            opts.episodes,
            opts.seed,
        )
    };
    let learned_returns = run(&mut episodes::Actor::Learned(&mut *learned));
    let exact_returns = run(&mut episodes::Actor::Exact(&exact));
    let sampler_returns = learned
        .has_sampler()
        .then(|| run(&mut episodes::Actor::Sampler(&mut *learned)));
    let mut visited = learned_returns.visited.clone();
    let mut pick = rng::derived(opts.seed, STATES_TAG, 0);
    while visited.len() > opts.states {
        let i = pick.random_range(0..visited.len());
        visited.swap_remove(i);
    }
    let sampled: Vec<Vec<f64>> = (0..opts.states)
        .map(|_| nodes[pick.random_range(0..nodes.len())].clone())
        .collect();
    let starts = start_states(
        env,
        opts.states,
        &mut rng::derived(opts.seed, STATES_TAG, 2),
    );

    let context = Context {
        exact: &exact,
        v_pi,
        v_projected,
    };
    let mut sample_rng = rng::derived(opts.seed, STATES_TAG, 1);
    let mut metrics = |states: &[Vec<f64>], rng: &mut rng::Rng| -> StateSet {
        let per: Vec<PerState> = states
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let density = i < DENSITY_STATES;
                context.at(&mut *learned, s, opts.samples, (true, density), rng)
            })
            .collect();
        state_set(&per)
    };
    let visited_set = metrics(&visited, &mut sample_rng);
    let grid_set = metrics(&sampled, &mut sample_rng);
    let start_set = metrics(&starts, &mut rng::derived(opts.seed, STATES_TAG, 3));

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
            .map(|s| context.at(&mut *learned, s, 32, (false, false), &mut sample_rng))
            .collect();
        figures.push(figures::state_heatmaps(&axes, n, &per));
    }
    if env.action_dim() == 2 {
        let mut states: Vec<Vec<f64>> = vec![vec![0.0; env.state_dim()]];
        if let Some(s) = visited.get(visited.len() / 2) {
            states.push(s.clone());
        }
        let masses = learned.cell_masses(env, &exact.actions, &states);
        let mut draw = rng::derived(opts.seed, STATES_TAG, 4);
        let sampler: Option<Vec<Vec<f64>>> = states
            .iter()
            .map(|s| learned.sampler_histogram(env, &exact.actions, s, &mut draw))
            .collect();
        figures.push(figures::action_densities(
            &exact,
            &states,
            &masses,
            sampler.as_deref(),
        ));
    }

    let goals = env.has_goals().then(|| Goals {
        goals_reached_learned: distinct_goals(&learned_returns.goals),
        goals_reached_exact: distinct_goals(&exact_returns.goals),
        goals_reached_sampler: sampler_returns.as_ref().map(|r| distinct_goals(&r.goals)),
        learned: learned_returns.goals.clone(),
        exact: exact_returns.goals.clone(),
        sampler: sampler_returns.as_ref().map(|r| r.goals.clone()),
    });
    Ok((
        Report {
            learner: config.agent.algorithm.name(),
            sampler: match &config.agent.algorithm {
                Algorithm::Sql(k) => Some(k.sampler.name()),
                Algorithm::Sac(_) => None,
            },
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
            return_sampler: sampler_returns.map(|r| r.plain),
            episodes: opts.episodes,
            goals,
            visited: visited_set,
            grid: grid_set,
            start: start_set,
        },
        figures,
    ))
}
