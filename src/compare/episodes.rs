//! The seeded episodes of a comparison: the learned policy and the exact one from the same initial
//! states, each episode's plain return (undiscounted, as `eval`) and soft return
//! `Σ_t γ^t (r_t − α·log π(a_t|s_t))`. The learned policy's `log π` is that of its own pre-tanh
//! sample; the exact policy acts by lookahead (a cell drawn by its probability, the action uniform
//! within it, so its density is the cell's `π(a|s)`).

use rand::Rng as _;

use super::learned::policies;
use crate::env::Simulator;
use crate::exact::Solution;
use crate::rng;
use crate::sac::Sac;

/// Tag of the RNGs of the episodes' initial states and actions.
pub const EPISODE_TAG: u64 = 0xC0A2;

/// Mean plain and soft returns over episodes, and the states the policy visited.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Returns {
    pub plain: f64,
    pub soft: f64,
    pub visited: Vec<Vec<f64>>,
}

/// Which policy acts.
pub enum Actor<'a> {
    Learned(&'a mut Sac),
    Exact(&'a Solution),
}

/// `episodes` episodes of one policy; initial states from `(seed, EPISODE_TAG, episode)`, as
/// they are for the other policy, the actions and transition noise from one stream of its own.
pub fn run(
    actor: &mut Actor,
    env: &crate::env::Env,
    gamma: f64,
    alpha: f64,
    episodes: usize,
    seed: u64,
) -> Returns {
    let ad = env.action_dim();
    let bounds = env.action_bounds();
    let mut act_rng = rng::derived(seed, EPISODE_TAG, u64::MAX);
    let mut out = Returns::default();
    let mut eps = vec![0.0; ad];
    for ep in 0..episodes {
        let mut sim = Simulator::new(env.clone());
        let mut obs = vec![0.0; env.obs_dim()];
        sim.reset(&mut rng::derived(seed, EPISODE_TAG, ep as u64), &mut obs);
        let (mut soft, mut discount) = (0.0, 1.0);
        let mut env_action = vec![0.0; ad];
        loop {
            let state = sim.state().to_vec();
            let log_pi = match actor {
                Actor::Learned(sac) => {
                    let pi = policies(sac, env, &bounds, std::slice::from_ref(&state)).remove(0);
                    eps.iter_mut()
                        .for_each(|e| *e = act_rng.sample(rand_distr::StandardNormal));
                    let d = pi.draw(&eps);
                    env_action.copy_from_slice(&d.env_action);
                    out.visited.push(state);
                    d.log_prob
                }
                Actor::Exact(exact) => {
                    let l = exact.lookahead(&state);
                    let u: f64 = act_rng.random_range(0.0..1.0);
                    let mut acc = 0.0;
                    let k = l.probabilities.iter().position(|p| {
                        acc += p;
                        acc >= u
                    });
                    let k = k.unwrap_or(l.probabilities.len() - 1);
                    let mut mid = vec![0.0; ad];
                    exact.actions.action(k, &mut mid);
                    for i in 0..ad {
                        let jitter: f64 = act_rng.random_range(-0.5..0.5);
                        env_action[i] = mid[i] + jitter * exact.actions.delta(i);
                    }
                    l.density[k].ln()
                }
            };
            let t = sim.step(&env_action, &mut act_rng, &mut obs);
            out.plain += t.reward;
            soft += discount * (t.reward - alpha * log_pi);
            discount *= gamma;
            if t.terminated || t.truncated {
                break;
            }
        }
        out.soft += soft;
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

        let (env, gamma, alpha, episodes, seed) = (&config.env, 0.99, 0.5, 4, 9);
        let learned = run(
            &mut Actor::Learned(&mut sac),
            env,
            gamma,
            alpha,
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
