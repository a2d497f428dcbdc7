//! Evaluation episodes: run a policy from seeded resets and collect episode returns.

use crate::env::{Env, Interval, Simulator};
use crate::rng::Rng;

/// An action on [-1, 1] mapped affinely onto the env's action box.
pub fn to_env_action(bounds: &[Interval], a: &[f32], out: &mut [f64]) {
    for ((o, b), &a) in out.iter_mut().zip(bounds).zip(a) {
        *o = b.lo + (f64::from(a) + 1.0) * 0.5 * b.width();
    }
}

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

/// Mean and (population) standard deviation.
pub fn mean_std(x: &[f64]) -> (f64, f64) {
    let n = x.len().max(1) as f64;
    let mean = x.iter().sum::<f64>() / n;
    let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}
