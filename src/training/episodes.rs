//! Evaluation episodes: run a policy from seeded resets and collect episode returns.

use crate::env::{Runner, World};
use crate::rng::Rng;
use crate::tanh_gaussian::to_env_action;

/// What a set of episodes gave: each one's return, length, and the goal that ended it (an index
/// into the env's `targets`; `None` when it ran out of time or the env has no goals).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Episodes {
    pub returns: Vec<f64>,
    pub lengths: Vec<u64>,
    pub goals: Vec<Option<usize>>,
}

impl Episodes {
    /// How many distinct goals the episodes reached (the reference's `env:goals_reached`).
    pub fn goals_reached(&self) -> usize {
        distinct_goals(&self.goals)
    }
}

/// How many distinct goals a list of episode outcomes holds.
pub fn distinct_goals(goals: &[Option<usize>]) -> usize {
    let mut seen: Vec<usize> = goals.iter().flatten().copied().collect();
    seen.sort_unstable();
    seen.dedup();
    seen.len()
}

/// `episodes` episodes of `policy` (obs → action on [-1, 1]) on `runner`; resets and transition
/// noise come from `rng`, which the policy may also use to sample.
pub fn run_episodes(
    env: &World,
    runner: &mut Runner,
    episodes: usize,
    rng: &mut Rng,
    mut policy: impl FnMut(&[f64], &mut Rng) -> crate::Result<Vec<f32>>,
) -> crate::Result<Episodes> {
    let bounds = env.action_bounds();
    let mut obs = vec![0.0; env.obs_dim()];
    let mut action = vec![0.0; env.action_dim()];
    let mut out = Episodes::default();
    for _ in 0..episodes {
        runner.reset(rng, &mut obs)?;
        let (mut ret, mut len) = (0.0, 0);
        loop {
            let a = policy(&obs, rng)?;
            to_env_action(&bounds, &a, &mut action);
            let t = runner.step(&action, rng, &mut obs)?;
            ret += t.reward;
            len += 1;
            if t.terminated || t.truncated {
                out.goals
                    .push(t.terminated.then(|| runner.goal()).flatten());
                break;
            }
        }
        out.returns.push(ret);
        out.lengths.push(len);
    }
    Ok(out)
}
