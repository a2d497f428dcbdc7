//! The seeded episodes of a comparison: the learned policy and the exact one from the same initial
//! states, each episode's plain return (undiscounted, as `eval`), soft return
//! `Σ_t γ^t (r_t − α·log π(a_t|s_t))` and, for envs with goals, the goal that ended it. The
//! learned policy acts by [`LearnedPolicy::act`] with its own log-density; the exact policy acts
//! by lookahead (a cell drawn by its probability, the action uniform within it, so its density
//! is the cell's `π(a|s)`); a learner's amortized sampler, where it has one, acts for a plain
//! return of its own.

use super::energy::draw_from_cells;
use super::learned::LearnedPolicy;
use crate::env::{Env, Simulator};
use crate::exact::Solution;
use crate::exact::grid::ActionGrid;
use crate::rng;

/// Tag of the RNGs of the episodes' initial states and actions.
pub const EPISODE_TAG: u64 = 0xC0A2;

/// Mean plain and soft returns over episodes, the goal that ended each (`None`: out of time or
/// no goals), and the states the policy visited.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Returns {
    pub plain: f64,
    /// Each episode's plain return and length.
    pub returns: Vec<f64>,
    pub lengths: Vec<u64>,
    /// `NaN` for a sampler, whose density is not known.
    pub soft: f64,
    pub goals: Vec<Option<usize>>,
    pub visited: Vec<Vec<f64>>,
}

/// Which policy acts.
pub enum Actor<'a> {
    Learned(&'a mut dyn LearnedPolicy),
    /// The learner's amortized sampler.
    Sampler(&'a mut dyn LearnedPolicy),
    Exact(&'a Solution),
}

/// `episodes` episodes of one policy; initial states from `(seed, EPISODE_TAG, episode)`, as
/// they are for the other policies, the actions and transition noise from one stream of its own.
/// `actions` are the cells a tabulated policy draws from. `log_prior` is the log-density of the
/// action prior the entropy is measured against (0 for Lebesgue measure, `−log|A|` for the
/// uniform prior): the soft reward is `r − α·(log π − log_prior)`.
#[allow(clippy::too_many_arguments)]
pub fn run(
    actor: &mut Actor,
    env: &Env,
    actions: &ActionGrid,
    gamma: f64,
    alpha: f64,
    log_prior: f64,
    episodes: usize,
    seed: u64,
) -> Returns {
    let mut act_rng = rng::derived(seed, EPISODE_TAG, u64::MAX);
    let mut out = Returns::default();
    for ep in 0..episodes {
        let mut sim = Simulator::new(env.clone());
        let mut obs = vec![0.0; env.obs_dim()];
        sim.reset(&mut rng::derived(seed, EPISODE_TAG, ep as u64), &mut obs);
        let (mut soft, mut discount, mut plain, mut length) = (0.0, 1.0, 0.0, 0);
        loop {
            let state = sim.state().to_vec();
            let (env_action, log_pi) = match actor {
                Actor::Learned(policy) => {
                    let (a, log_pi) = policy.act(env, actions, &state, &mut act_rng);
                    out.visited.push(state);
                    (a, log_pi)
                }
                Actor::Sampler(policy) => {
                    let a = policy
                        .sampler_action(env, &state, &mut act_rng)
                        .expect("a sampler actor has a sampler");
                    (a, f64::NAN)
                }
                Actor::Exact(exact) => {
                    let l = exact.lookahead(&state);
                    let (a, k) = draw_from_cells(&exact.actions, &l.probabilities, &mut act_rng);
                    (a, l.density[k].ln())
                }
            };
            let t = sim.step(&env_action, &mut act_rng, &mut obs);
            plain += t.reward;
            length += 1;
            soft += discount * (t.reward - alpha * (log_pi - log_prior));
            discount *= gamma;
            if t.terminated || t.truncated {
                out.goals
                    .push(t.terminated.then(|| env.goal_at(sim.state())).flatten());
                break;
            }
        }
        out.soft += soft;
        out.plain += plain;
        out.returns.push(plain);
        out.lengths.push(length);
    }
    let n = episodes.max(1) as f64;
    out.plain /= n;
    out.soft /= n;
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::sac::Sac;
    use crate::tanh_gaussian::LOG_STD_MIN;

    /// A saturated policy — μ = 12 in pre-tanh space, σ = e⁻⁵, so every action is the box's top —
    /// has `log π = −ε²/2 + 5 − log(2π)/2 − log(1 − tanh² u) − log 2` per step with
    /// `log(1 − tanh² u) ≈ log 4 − 24`, i.e. `E log π = 26.01 − 1/2`. Its soft return is the
    /// return of full torque minus `α·Σ_t γ^t·E log π`, within the noise of `Σ γ^t ε_t²/2`.
    #[test]
    fn a_saturated_policy_gets_its_exact_soft_return() {
        let table: toml::Table =
            toml::from_str("env = \"pendulum\"\n[objective]\nalpha = 0.5\n[agent]\nhidden = [8]")
                .unwrap();
        let config = Config::from_table(table, "test", None, None, &[]).unwrap();
        let mut sac = Sac::new(&config, &mut rng::seeded(0));
        // Zero weights: μ and raw log σ are the last layer's biases (mean head, then log-σ head).
        sac.actor.iter_mut().for_each(|w| *w = 0.0);
        let n = sac.actor.len();
        sac.actor[n - 2] = 12.0;
        sac.actor[n - 1] = -30.0; // tanh = −1: log σ = LOG_STD_MIN
        let (m, l) = sac.policy(&[0.3, 0.2, 0.1], 1);
        assert_eq!((m[0], f64::from(l[0])), (12.0, LOG_STD_MIN));

        let (env, gamma, alpha, episodes, seed) = (config.env.model().unwrap(), 0.99, 0.5, 4, 9);
        let cells = ActionGrid::new(env.action_bounds(), vec![1]);
        let learned = run(
            &mut Actor::Learned(&mut sac),
            env,
            &cells,
            gamma,
            alpha,
            0.0,
            episodes,
            seed,
        );
        // Full torque from the same initial states, and the discounted sums of 1.
        let (mut reward, mut weight, mut plain) = (0.0, 0.0, 0.0);
        for ep in 0..episodes {
            let mut sim = Simulator::new(env.clone());
            let mut obs = vec![0.0; 3];
            let mut noise = rng::seeded(1);
            sim.reset(&mut rng::derived(seed, EPISODE_TAG, ep as u64), &mut obs);
            let mut discount = 1.0;
            loop {
                let t = sim.step(&[2.0], &mut noise, &mut obs);
                reward += discount * t.reward;
                plain += t.reward;
                weight += discount;
                discount *= gamma;
                if t.truncated {
                    break;
                }
            }
        }
        let n = episodes as f64;
        let (reward, weight, plain) = (reward / n, weight / n, plain / n);
        let log1m = 4f64.ln() - 24.0;
        let mean_log_pi = -0.5 + 5.0 - 0.5 * (2.0 * std::f64::consts::PI).ln() - log1m - 2f64.ln();
        let expect = reward - alpha * weight * mean_log_pi;
        // sd of Σ γ^t ε²/2 over one episode: √(Σ γ^{2t}/2) ≈ 5; over 4 episodes' mean, 2.5.
        let margin = alpha * 4.0 * 2.5;
        assert!(
            (learned.soft - expect).abs() < margin,
            "soft return {} vs {expect} ± {margin}",
            learned.soft
        );
        // Gymnasium's pendulum takes float32 torques: 2·tanh(u) rounds to full torque exactly.
        assert!(
            (learned.plain - plain).abs() < 1e-9,
            "{} vs {plain}",
            learned.plain
        );
    }
}
