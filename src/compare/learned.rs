//! The learned policy's side of a comparison, and `query --checkpoint`: draws from the SAC policy
//! at a state with their exact log-densities (from the pre-tanh sample) and the critics' values,
//! and the policy tabulated over the solver's action cells by its exact cell masses.

use serde::Serialize;

use crate::env::Env;
use crate::rng;
use crate::sac::Sac;
use crate::tanh_gaussian::TanhGaussian;

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

/// The learned policy's tanh-Gaussian at each of `states`.
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

/// Draws from the learned policy at one state: the actions in env units, their log-densities
/// (env units, from the pre-tanh samples) and the online critics' `min_j Q_j` at them.
pub struct Samples {
    pub ad: usize,
    pub env_actions: Vec<f64>,
    pub log_density: Vec<f64>,
    pub q_min: Vec<f32>,
}

impl Samples {
    /// The sample mean action.
    pub fn mean(&self) -> Vec<f64> {
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

    /// The sample standard deviation of each action component (env units).
    pub fn std(&self) -> Vec<f64> {
        let mean = self.mean();
        let n = (self.env_actions.len() / self.ad) as f64;
        (0..self.ad)
            .map(|i| {
                let sq: f64 = self
                    .env_actions
                    .chunks_exact(self.ad)
                    .map(|a| (a[i] - mean[i]).powi(2))
                    .sum();
                (sq / n).sqrt()
            })
            .collect()
    }

    /// `E_π[min_j Q_j − α·log π]`: the learned critic's soft value of its own policy.
    pub fn soft_value(&self, alpha: f64) -> f64 {
        let n = self.q_min.len() as f64;
        self.q_min
            .iter()
            .zip(&self.log_density)
            .map(|(&q, &lp)| (f64::from(q) - alpha * lp) / n)
            .sum()
    }
}

/// `samples` draws from the learned policy at `state`, the noise from `rng`.
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
    let q_min = sac.q_min(&obs_rep, &unit, samples);
    Samples {
        ad,
        env_actions,
        log_density,
        q_min,
    }
}

/// What `query --checkpoint` reports at one state: `V_learned = E_π[min_j Q_φ,j − α·log π]` and the
/// policy's mean and standard deviation per action dimension (env units), by `samples` draws.
#[derive(Debug, Clone, Serialize)]
pub struct Query {
    pub v: f64,
    pub policy_mean: Vec<f64>,
    pub policy_std: Vec<f64>,
    pub alpha: f64,
}

/// Tag of the RNG `query` draws its samples from.
const QUERY_TAG: u64 = 0xC0A1;

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
    }
}
