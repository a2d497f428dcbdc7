//! `maxent rollout`: replay a list of actions from a given state (DESIGN §3).

use std::path::Path;

use serde::Serialize;

use crate::config::read;
use crate::env::{Runner, World};
use crate::error::{Error, Result};

/// One replayed trajectory, one entry per step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rollout {
    /// The observation the episode began with.
    pub initial_observation: Vec<f64>,
    /// The true state after each step (a model's; a Gymnasium env exposes none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub states: Option<Vec<Vec<f64>>>,
    /// The observation after each step.
    pub observations: Vec<Vec<f64>>,
    pub rewards: Vec<f64>,
    pub terminated: Vec<bool>,
    pub truncated: Vec<bool>,
}

/// Steps `env` through `actions` (env units) until they run out or the episode terminates, from
/// `start` if given, else from the reset seeded with `seed` (a Gymnasium env's `reset(seed)`; a
/// model's initial state drawn from a generator seeded with it). A Gymnasium env is reset with
/// `seed` and then put into `start`, where its worker can set it. Past the time limit it goes on,
/// every later step reporting `truncated` (as Gymnasium's `TimeLimit` does when stepped on).
/// `seed` also drives a model's transition noise, if any.
pub fn rollout(
    env: &World,
    start: Option<&[f64]>,
    actions: &[Vec<f64>],
    seed: u64,
) -> Result<Rollout> {
    let mut rng = crate::rng::seeded(seed);
    let mut runner = env.start("rollout")?;
    let mut obs = vec![0.0; env.obs_dim()];
    match (&mut runner, start) {
        (Runner::Model(sim), Some(state)) => sim.reset_to(state, &mut obs),
        (Runner::Model(_), None) => runner.reset(&mut rng, &mut obs)?,
        (Runner::Gymnasium(_), _) => {
            runner.reset_seeded(seed, &mut obs)?;
            if let Some(state) = start {
                runner.set_state(state, &mut obs)?;
            }
        }
    }
    let model = matches!(runner, Runner::Model(_));
    let mut out = Rollout {
        initial_observation: obs.clone(),
        states: model.then(Vec::new),
        observations: Vec::new(),
        rewards: Vec::new(),
        terminated: Vec::new(),
        truncated: Vec::new(),
    };
    for action in actions {
        let t = runner.step(action, &mut rng, &mut obs)?;
        if let (Some(states), Some(s)) = (&mut out.states, runner.state()) {
            states.push(s.to_vec());
        }
        out.observations.push(obs.clone());
        out.rewards.push(t.reward);
        out.terminated.push(t.terminated);
        out.truncated.push(t.truncated);
        if t.terminated {
            break;
        }
    }
    Ok(out)
}

/// Parses `X[,Y...]` into exactly `dim` finite numbers; `arg` names the argument in errors.
pub fn parse_vector(arg: &str, text: &str, dim: usize) -> Result<Vec<f64>> {
    let values = text
        .split(',')
        .map(|s| s.trim().parse::<f64>().ok().filter(|v| v.is_finite()))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| {
            Error::argument(
                format!("{arg} {text}"),
                "expected finite numbers separated by commas",
            )
        })?;
    if values.len() != dim {
        return Err(Error::argument(
            format!("{arg} {text}"),
            format!("has {} components, expected {dim}", values.len()),
        ));
    }
    Ok(values)
}

/// Reads an actions file: one action per line, components separated by commas; blank lines and
/// lines starting with `#` are skipped.
pub fn read_actions(path: &Path, dim: usize) -> Result<Vec<Vec<f64>>> {
    let text = read(path)?;
    let mut actions = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let action = parse_vector("", line, dim).map_err(|e| match e {
            Error::Argument { message, .. } => {
                Error::input(path, format!("line {}: \"{line}\" {message}", i + 1))
            }
            other => other,
        })?;
        actions.push(action);
    }
    if actions.is_empty() {
        return Err(Error::input(path, "holds no actions"));
    }
    Ok(actions)
}
