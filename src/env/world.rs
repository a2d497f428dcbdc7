//! What a config's `env` names: a built-in model ([`Env`], which the exact solver can discretize)
//! or a Gymnasium environment run by a worker (learners only). A [`Runner`] steps episodes of
//! either, the way the training loop and evaluation need them.

use rand::Rng;

use super::gymnasium::{Failure, Gymnasium, GymnasiumSpec, Worker};
use super::{Env, Interval, Simulator, Transition};
use crate::check::{Checked, Invalid};
use crate::error::{Error, Result};

/// A validated environment of either sort.
#[derive(Debug, Clone, PartialEq)]
pub enum World {
    Model(Env),
    Gymnasium(Box<Gymnasium>),
}

impl World {
    /// Reads an env table: `kind = "gymnasium"` is resolved by its worker (or by what a recorded
    /// config says it reported), every other kind is a built-in model.
    pub fn from_table(table: &toml::Table) -> Checked<World> {
        if table.get("kind").and_then(toml::Value::as_str) != Some("gymnasium") {
            return Env::from_table(table).map(World::Model);
        }
        let mut rest = table.clone();
        rest.remove("kind");
        if !rest.contains_key("id") {
            return Err(Invalid::new(
                "id",
                "missing: name a registered env, e.g. \"HalfCheetah-v5\"",
            ));
        }
        let spec: GymnasiumSpec = super::deserialize(rest)?;
        spec.resolve().map(|g| World::Gymnasium(Box::new(g)))
    }

    /// The fully resolved env table: what a run dir records.
    pub fn to_table(&self) -> toml::Table {
        match self {
            World::Model(env) => env.to_table(),
            World::Gymnasium(g) => {
                let mut table = toml::Table::new();
                table.insert("kind".into(), "gymnasium".into());
                table.extend(g.to_table());
                table
            }
        }
    }

    /// The model, for the commands that need one (`solve`, `compare`, `query --exact`, and
    /// whatever works with true states).
    pub fn model(&self) -> Result<&Env> {
        match self {
            World::Model(env) => Ok(env),
            World::Gymnasium(g) => Err(Error::argument(
                format!("env {}", g.label()),
                "no model: the exact solver needs a built-in environment",
            )),
        }
    }

    pub fn obs_dim(&self) -> usize {
        match self {
            World::Model(env) => env.obs_dim(),
            World::Gymnasium(g) => g.obs_dim(),
        }
    }

    pub fn action_dim(&self) -> usize {
        self.action_bounds().len()
    }

    /// The action box, in env units.
    pub fn action_bounds(&self) -> Vec<Interval> {
        match self {
            World::Model(env) => env.action_bounds(),
            World::Gymnasium(g) => g.action_bounds().to_vec(),
        }
    }

    /// `Σ log half_width` over the action box (see [`Env::log_action_scale`]).
    pub fn log_action_scale(&self) -> f64 {
        super::log_half_widths(&self.action_bounds())
    }

    /// The time limit of an episode.
    pub fn episode_steps(&self) -> usize {
        match self {
            World::Model(env) => env.episode_steps(),
            World::Gymnasium(g) => g.episode_steps(),
        }
    }

    /// Whether reaching a goal ends an episode (built-in point masses with goals).
    pub fn has_goals(&self) -> bool {
        matches!(self, World::Model(env) if env.has_goals())
    }

    /// How messages name it: the built-in kind, or `gymnasium:ID`.
    pub fn label(&self) -> String {
        match self {
            World::Model(env) => env.to_table()["kind"].as_str().unwrap_or("env").to_string(),
            World::Gymnasium(g) => g.label(),
        }
    }

    /// A runner for episodes of this env; `role` (`training env`, `evaluation env`) names it in
    /// a worker's failures.
    pub fn start(&self, role: &str) -> Result<Runner> {
        Ok(match self {
            World::Model(env) => Runner::Model(Simulator::new(env.clone())),
            World::Gymnasium(g) => Runner::Gymnasium(WorkerRunner {
                worker: g.start()?,
                name: format!("{} ({role})", g.label()),
                steps: 0,
                seed: None,
                obs_dim: g.obs_dim(),
            }),
        })
    }
}

/// Episodes of a [`World`]: a [`Simulator`] of a model, or a Gymnasium worker. The simulator
/// stays inline: it is what the training loop steps.
#[allow(clippy::large_enum_variant)]
pub enum Runner {
    Model(Simulator),
    Gymnasium(WorkerRunner),
}

/// A worker with the step count of its episode and the seed that started it.
pub struct WorkerRunner {
    worker: Worker,
    name: String,
    steps: usize,
    seed: Option<u64>,
    obs_dim: usize,
}

impl WorkerRunner {
    /// A failed request as the run's error: the env's own exception with the tail of the
    /// worker's stderr (where its traceback went), or what became of a lost worker.
    fn failed(&self, f: Failure) -> Error {
        Error::Worker {
            env: self.name.clone(),
            message: match f {
                Failure::Refused { message, .. } => {
                    // The traceback is written before the answer; let the drain catch up.
                    std::thread::sleep(std::time::Duration::from_millis(50));
                    match self.worker.stderr_tail(12) {
                        tail if tail.is_empty() => message,
                        tail => format!("{message}; its stderr ends:\n{tail}"),
                    }
                }
                Failure::Lost(message) => message,
            },
        }
    }

    fn reset(&mut self, seed: u64, obs: &mut [f64]) -> Result<()> {
        self.worker
            .reset(Some(seed), &mut obs[..self.obs_dim])
            .map_err(|f| self.failed(f))?;
        self.steps = 0;
        self.seed = Some(seed);
        Ok(())
    }
}

impl Runner {
    /// Starts an episode: a model's initial state drawn from `rng`; a Gymnasium env reset with a
    /// seed drawn from `rng` (one per episode, so a run replays from its own seed).
    pub fn reset(&mut self, rng: &mut impl Rng, obs: &mut [f64]) -> Result<()> {
        match self {
            Runner::Model(sim) => {
                sim.reset(rng, obs);
                Ok(())
            }
            Runner::Gymnasium(w) => w.reset(u64::from(rng.random::<u32>()), obs),
        }
    }

    /// Starts a Gymnasium episode from a given seed (a model draws from a generator seeded
    /// with it).
    pub fn reset_seeded(&mut self, seed: u64, obs: &mut [f64]) -> Result<()> {
        match self {
            Runner::Model(sim) => {
                sim.reset(&mut crate::rng::seeded(seed), obs);
                Ok(())
            }
            Runner::Gymnasium(w) => w.reset(seed, obs),
        }
    }

    /// Puts the episode into a given state: a model's true state, or what a Gymnasium env's
    /// worker can set (a classic-control `state`, MuJoCo's qpos then qvel).
    pub fn set_state(&mut self, state: &[f64], obs: &mut [f64]) -> Result<()> {
        match self {
            Runner::Model(sim) => {
                sim.reset_to(state, obs);
                Ok(())
            }
            Runner::Gymnasium(w) => {
                let n = w.obs_dim;
                w.worker
                    .set_state(state, &mut obs[..n])
                    .map_err(|f| match f {
                        Failure::Refused { message, .. } => {
                            Error::argument(format!("--state on {}", w.name), message)
                        }
                        lost => w.failed(lost),
                    })
            }
        }
    }

    /// Applies `action` (env units) and writes the next observation.
    #[inline]
    pub fn step(
        &mut self,
        action: &[f64],
        rng: &mut impl Rng,
        obs: &mut [f64],
    ) -> Result<Transition> {
        match self {
            Runner::Model(sim) => Ok(sim.step(action, rng, obs)),
            Runner::Gymnasium(_) => {
                self.start_step(action)?;
                self.finish_step(obs)
            }
        }
    }

    /// Whether a step can run in the background ([`Runner::start_step`]): a worker's env steps in
    /// its own process; a model's step is cheaper than the hand-off.
    pub fn steps_in_background(&self) -> bool {
        matches!(self, Runner::Gymnasium(_))
    }

    /// Sends `action` (env units) to a worker, whose env steps while the caller goes on.
    pub fn start_step(&mut self, action: &[f64]) -> Result<()> {
        match self {
            Runner::Model(_) => unreachable!("a model steps in the foreground"),
            Runner::Gymnasium(w) => w.worker.send_step(action).map_err(|f| w.failed(f)),
        }
    }

    /// The transition of the step [`Runner::start_step`] began, the next observation into `obs`.
    pub fn finish_step(&mut self, obs: &mut [f64]) -> Result<Transition> {
        match self {
            Runner::Model(_) => unreachable!("a model steps in the foreground"),
            Runner::Gymnasium(w) => {
                let n = w.obs_dim;
                let (reward, terminated, truncated) = w
                    .worker
                    .receive_step(&mut obs[..n])
                    .map_err(|f| w.failed(f))?;
                w.steps += 1;
                Ok(Transition {
                    reward,
                    terminated,
                    truncated,
                })
            }
        }
    }

    /// Steps taken since the episode began.
    pub fn steps(&self) -> usize {
        match self {
            Runner::Model(sim) => sim.steps(),
            Runner::Gymnasium(w) => w.steps,
        }
    }

    /// A model's true state; a Gymnasium env has none maxent can read.
    pub fn state(&self) -> Option<&[f64]> {
        match self {
            Runner::Model(sim) => Some(sim.state()),
            Runner::Gymnasium(_) => None,
        }
    }

    /// The seed that began a Gymnasium env's episode.
    pub fn episode_seed(&self) -> Option<u64> {
        match self {
            Runner::Model(_) => None,
            Runner::Gymnasium(w) => w.seed,
        }
    }

    /// Whether the episode in progress can be saved and restored exactly: always for a model; for
    /// a Gymnasium env only at its start (before its first step, the seed says it all).
    pub fn can_checkpoint(&self) -> bool {
        match self {
            Runner::Model(_) => true,
            Runner::Gymnasium(w) => w.steps == 0 && w.seed.is_some(),
        }
    }

    /// The goal the state lies in, for models with goals.
    pub fn goal(&self) -> Option<usize> {
        match self {
            Runner::Model(sim) => sim.env().goal_at(sim.state()),
            Runner::Gymnasium(_) => None,
        }
    }

    /// The steps taken and the seconds spent inside the env's own `step` in Python, for a
    /// Gymnasium env.
    pub fn python_step_time(&mut self) -> Option<(u64, f64)> {
        match self {
            Runner::Model(_) => None,
            Runner::Gymnasium(w) => w.worker.step_time().ok(),
        }
    }
}
