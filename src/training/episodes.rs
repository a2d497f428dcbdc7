//! Evaluation episodes: run a policy from seeded resets and collect episode returns.

use crate::env::{Env, Simulator};
use crate::rng::Rng;
use crate::tanh_gaussian::to_env_action;

/// Returns and lengths of `episodes` episodes of `policy` (obs → action on [-1, 1]); resets and
/// transition noise come from `rng`, which the policy may also use to sample.
pub fn run_episodes(
    env: &Env,
    episodes: usize,
    rng: &mut Rng,
    mut policy: impl FnMut(&[f64], &mut Rng) -> crate::Result<Vec<f32>>,
) -> crate::Result<(Vec<f64>, Vec<u64>)> {
    let bounds = env.action_bounds();
    let mut sim = Simulator::new(env.clone());
    let mut obs = vec![0.0; env.obs_dim()];
    let mut action = vec![0.0; env.action_dim()];
    let (mut returns, mut lengths) = (Vec::new(), Vec::new());
    for _ in 0..episodes {
        sim.reset(rng, &mut obs);
        let (mut ret, mut len) = (0.0, 0);
        loop {
            let a = policy(&obs, rng)?;
            to_env_action(&bounds, &a, &mut action);
            let t = sim.step(&action, rng, &mut obs);
            ret += t.reward;
            len += 1;
            if t.terminated || t.truncated {
                break;
            }
        }
        returns.push(ret);
        lengths.push(len);
    }
    Ok((returns, lengths))
}
