//! The learned policy's side of a comparison: what `compare` asks of any learner
//! ([`LearnedPolicy`]), SAC's answers (draws from its tanh-Gaussian with their exact
//! log-densities from the pre-tanh sample, its cell masses, the critics' values), and
//! `query --checkpoint`.

use serde::Serialize;

use crate::env::Env;
use crate::exact::Solution;
use crate::exact::grid::ActionGrid;
use crate::exact::solution::Lookahead;
use crate::rng;
use crate::sac::Sac;
use crate::tanh_gaussian::TanhGaussian;

/// A learned policy at one state, measured against π* there.
pub struct Against {
    /// `KL(π_learned‖π*)` in nats.
    pub kl: f64,
    /// The learned critic's soft value of its own policy.
    pub v_learned: f64,
    /// The policy's mean and standard deviation per action dimension (env units).
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
}

/// A sampler's cell histogram from [`SAMPLER_DRAWS`] draws, against the policy it should follow.
#[derive(Debug, Clone, Copy)]
pub struct Fidelity {
    /// `KL(h‖π_θ)`, `h` the histogram's cell frequencies.
    pub kl_to_policy: f64,
    /// The same KL for a histogram of as many draws from `π_θ` itself: what a perfect sampler
    /// scores, the finite-sample floor under `kl_to_policy`.
    pub kl_floor: f64,
    /// `KL(h‖π*)`: the sampler against the exact optimum.
    pub kl_to_exact: f64,
    /// For a diffusion sampler in few action dimensions: `KL(p‖π_θ)` over the cells, `p` the
    /// density of its probability-flow ODE sampler at the cell midpoints, normalized over the
    /// cells. It belongs to that deterministic sampler, not to the ancestral one the histogram
    /// measures (the two share the denoiser and agree when it is exact).
    pub kl_density: Option<f64>,
}

/// How many sampler draws a state's histogram takes.
pub const SAMPLER_DRAWS: usize = 4096;

/// What `compare` needs of a learned policy.
pub trait LearnedPolicy {
    /// The temperature it was trained at.
    fn alpha(&self) -> f64;

    /// Its probability of each of the solution's action cells at each of `states`,
    /// `states.len() × actions.len()` numbers.
    fn cell_masses(&mut self, env: &Env, actions: &ActionGrid, states: &[Vec<f64>]) -> Vec<f64>;

    /// The policy at `state` against π* (`lookahead` is the exact one there), by `samples` draws
    /// where the policy is measured by sampling.
    fn against(
        &mut self,
        exact: &Solution,
        state: &[f64],
        lookahead: &Lookahead,
        samples: usize,
        rng: &mut rng::Rng,
    ) -> Against;

    /// An action for an episode (env units) and its log-density; `actions` are the cells of a
    /// policy tabulated over them.
    fn act(
        &mut self,
        env: &Env,
        actions: &ActionGrid,
        state: &[f64],
        rng: &mut rng::Rng,
    ) -> (Vec<f64>, f64);

    /// How closely the learner's amortized sampler follows the policy at `state`, if it has one;
    /// with its density's KL too where it has one and `density` asks for it.
    fn fidelity(
        &mut self,
        _exact: &Solution,
        _state: &[f64],
        _lookahead: &Lookahead,
        _density: bool,
        _rng: &mut rng::Rng,
    ) -> Option<Fidelity> {
        None
    }

    /// Whether π* projected onto the policy's class is a reference of its own (tanh-Gaussians:
    /// yes; an energy-based policy's class holds π* itself).
    fn has_class_projection(&self) -> bool;

    /// Whether the learner has an amortized sampler beside its policy (soft Q-learning).
    fn has_sampler(&self) -> bool {
        false
    }

    /// A draw of the learner's amortized sampler, if it has one (env units).
    fn sampler_action(
        &mut self,
        _env: &Env,
        _state: &[f64],
        _rng: &mut rng::Rng,
    ) -> Option<Vec<f64>> {
        None
    }

    /// The sampler's cell frequencies at `state` from [`SAMPLER_DRAWS`] draws, if it has one.
    fn sampler_histogram(
        &mut self,
        _env: &Env,
        _actions: &ActionGrid,
        _state: &[f64],
        _rng: &mut rng::Rng,
    ) -> Option<Vec<f64>> {
        None
    }
}

/// Observations of states, as the networks read them (f32 rows).
pub fn observations(env: &Env, states: &[Vec<f64>]) -> Vec<f32> {
    let mut obs = vec![0.0; env.obs_dim()];
    let mut out = Vec::with_capacity(states.len() * obs.len());
    for s in states {
        env.observe(s, &mut obs);
        out.extend(obs.iter().map(|&v| v as f32));
    }
    out
}

/// The SAC policy's tanh-Gaussian at each of `states`.
pub fn policies<'b>(
    sac: &mut Sac,
    env: &Env,
    bounds: &'b [crate::env::Interval],
    states: &[Vec<f64>],
) -> Vec<TanhGaussian<'b>> {
    let ad = env.action_dim();
    let (mean, log_std) = sac.policy(&observations(env, states), states.len());
    mean.chunks_exact(ad)
        .zip(log_std.chunks_exact(ad))
        .map(|(m, l)| TanhGaussian::new(m, l, bounds))
        .collect()
}

/// Draws from a policy at one state: the actions in env units, their log-densities (env units)
/// and the learned critic's value at them.
pub struct Samples {
    pub ad: usize,
    pub env_actions: Vec<f64>,
    pub log_density: Vec<f64>,
    pub q: Vec<f64>,
}

impl Samples {
    /// The sample mean action.
    pub fn mean(&self) -> Vec<f64> {
        crate::math::moments(&self.env_actions, self.ad, None).0
    }

    /// The sample standard deviation of each action component (env units).
    pub fn std(&self) -> Vec<f64> {
        crate::math::moments(&self.env_actions, self.ad, None).1
    }

    /// `E_π[Q − α·log π]`: the learned critic's soft value of its own policy.
    pub fn soft_value(&self, alpha: f64) -> f64 {
        let n = self.q.len() as f64;
        self.q
            .iter()
            .zip(&self.log_density)
            .map(|(q, lp)| (q - alpha * lp) / n)
            .sum()
    }
}

/// `samples` draws from the SAC policy at `state`, the noise from `rng`, with `min_j Q_j`.
pub fn sample(
    sac: &mut Sac,
    env: &Env,
    state: &[f64],
    samples: usize,
    rng: &mut rng::Rng,
) -> Samples {
    use rand::Rng as _;
    let ad = env.action_dim();
    let bounds = env.action_bounds();
    let pi = policies(sac, env, &bounds, &[state.to_vec()]).remove(0);
    let mut unit = Vec::with_capacity(samples * ad);
    let mut env_actions = Vec::with_capacity(samples * ad);
    let mut log_density = Vec::with_capacity(samples);
    let mut eps = vec![0.0; ad];
    for _ in 0..samples {
        eps.iter_mut()
            .for_each(|e| *e = rng.sample(rand_distr::StandardNormal));
        let d = pi.draw(&eps);
        unit.extend(d.u.iter().map(|u| u.tanh() as f32));
        env_actions.extend_from_slice(&d.env_action);
        log_density.push(d.log_prob);
    }
    let obs = observations(env, &[state.to_vec()]);
    let obs_rep: Vec<f32> = obs
        .iter()
        .copied()
        .cycle()
        .take(obs.len() * samples)
        .collect();
    let q = sac.q_min(&obs_rep, &unit, samples);
    Samples {
        ad,
        env_actions,
        log_density,
        q: q.into_iter().map(f64::from).collect(),
    }
}

/// SAC's tanh-Gaussian: KL by Monte Carlo over its own draws,
/// `E_{a~π}[log π(a|s) − (Q*(s,a) − V*(s))/α]`, `log π` from each draw's pre-tanh value and
/// `Q*` by lookahead at the drawn action; `V_learned = E_π[min_j Q_φ,j − α·log π]`.
impl LearnedPolicy for Sac {
    fn alpha(&self) -> f64 {
        Sac::alpha(self)
    }

    fn cell_masses(&mut self, env: &Env, actions: &ActionGrid, states: &[Vec<f64>]) -> Vec<f64> {
        let bounds = env.action_bounds();
        policies(self, env, &bounds, states)
            .iter()
            .flat_map(|pi| pi.cell_masses(actions.cells()))
            .collect()
    }

    fn against(
        &mut self,
        exact: &Solution,
        state: &[f64],
        lookahead: &Lookahead,
        samples: usize,
        rng: &mut rng::Rng,
    ) -> Against {
        let alpha = exact.alpha;
        let d = sample(self, &exact.env, state, samples, rng);
        let q_exact = exact.q_at(state, &d.env_actions);
        let n = samples as f64;
        let kl = d
            .log_density
            .iter()
            .zip(&q_exact)
            .map(|(lp, q)| (lp - (q - lookahead.v) / alpha) / n)
            .sum();
        Against {
            kl,
            v_learned: d.soft_value(alpha),
            mean: d.mean(),
            std: d.std(),
        }
    }

    fn act(
        &mut self,
        env: &Env,
        _actions: &ActionGrid,
        state: &[f64],
        rng: &mut rng::Rng,
    ) -> (Vec<f64>, f64) {
        use rand::Rng as _;
        let bounds = env.action_bounds();
        let pi = policies(self, env, &bounds, &[state.to_vec()]).remove(0);
        let eps: Vec<f64> = (0..env.action_dim())
            .map(|_| rng.sample(rand_distr::StandardNormal))
            .collect();
        let d = pi.draw(&eps);
        (d.env_action, d.log_prob)
    }

    fn has_class_projection(&self) -> bool {
        true
    }
}

/// What `query --checkpoint` reports at one state: the learned critic's soft value of its policy
/// and the policy's mean and standard deviation per action dimension (env units), by `samples`
/// draws; for a learner with a sampler, the sampler's moments too.
#[derive(Debug, Clone, Serialize)]
pub struct Query {
    pub v: f64,
    pub policy_mean: Vec<f64>,
    pub policy_std: Vec<f64>,
    pub alpha: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sampler_mean: Option<Vec<f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sampler_std: Option<Vec<f64>>,
}

/// Tag of the RNG `query` draws its samples from.
pub const QUERY_TAG: u64 = 0xC0A1;

/// SAC's answer to `query`: `V_learned = E_π[min_j Q_φ,j − α·log π]` and the moments of its draws.
pub fn query(sac: &mut Sac, env: &Env, state: &[f64], samples: usize, seed: u64) -> Query {
    let d = sample(
        sac,
        env,
        state,
        samples,
        &mut rng::derived(seed, QUERY_TAG, 2),
    );
    let alpha = sac.alpha();
    Query {
        v: d.soft_value(alpha),
        policy_mean: d.mean(),
        policy_std: d.std(),
        alpha,
        sampler_mean: None,
        sampler_std: None,
    }
}
