//! Environments: the MDP half of a problem. An [`Env`] is immutable and describes the model (what
//! the exact solver needs); a [`Simulator`] steps one episode of it (what the trainer needs). A
//! [`World`] is what a config names: a model, or a Gymnasium env run by a worker process, with no
//! model; a [`Runner`] steps episodes of either.

pub mod gymnasium;
mod mountain_car;
mod pendulum;
mod point_mass;
mod simulator;
mod world;

pub use mountain_car::{MountainCar, MountainCarReward, MountainCarSpec};
pub use pendulum::{Pendulum, PendulumReward, PendulumSpec, angle_normalize};
pub use point_mass::{Dynamics, PointMass, PointMassReward, PointMassSpec};
pub use simulator::{Simulator, Transition};
pub use world::{Runner, World};

use rand::Rng;

use crate::check::{Checked, Invalid};

/// The largest state dimension of any built-in environment (a 2-D force point mass).
pub const MAX_STATE_DIM: usize = 4;

/// The env files compiled into the binary, by the name a config or `--env` uses.
pub const BUILTIN: [(&str, &str); 5] = [
    ("pendulum", include_str!("../../envs/pendulum.toml")),
    ("mountain_car", include_str!("../../envs/mountain_car.toml")),
    ("multigoal", include_str!("../../envs/multigoal.toml")),
    (
        "point_mass_lqr",
        include_str!("../../envs/point_mass_lqr.toml"),
    ),
    (
        "point_mass_noisy",
        include_str!("../../envs/point_mass_noisy.toml"),
    ),
];

/// The text of a built-in env file.
pub fn builtin(name: &str) -> Option<&'static str> {
    BUILTIN
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| *text)
}

/// A closed interval `[lo, hi]` of one action component.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub lo: f64,
    pub hi: f64,
}

impl Interval {
    pub fn symmetric(half_width: f64) -> Self {
        Interval {
            lo: -half_width,
            hi: half_width,
        }
    }

    pub fn width(&self) -> f64 {
        self.hi - self.lo
    }
}

/// `Σ log half_width` over an action box: what scaling [-1, 1] onto it adds to `−log π`.
pub fn log_half_widths(bounds: &[Interval]) -> f64 {
    bounds.iter().map(|b| (b.width() / 2.0).ln()).sum()
}

/// One state dimension as the exact solver grids it: bounded `[lo, hi]`, or periodic with
/// period `hi − lo`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StateAxis {
    pub lo: f64,
    pub hi: f64,
    pub periodic: bool,
}

impl StateAxis {
    pub fn bounded(lo: f64, hi: f64) -> Self {
        StateAxis {
            lo,
            hi,
            periodic: false,
        }
    }

    pub fn periodic(lo: f64, hi: f64) -> Self {
        StateAxis {
            lo,
            hi,
            periodic: true,
        }
    }
}

/// A validated environment.
#[derive(Debug, Clone, PartialEq)]
pub enum Env {
    Pendulum(Pendulum),
    PointMass(PointMass),
    MountainCar(MountainCar),
}

impl Env {
    /// Reads an env table (the contents of an env file): `kind` picks the variant, every other
    /// key is checked against it; missing keys take their defaults.
    pub fn from_table(table: &toml::Table) -> Checked<Env> {
        let mut rest = table.clone();
        let kind = match rest.remove("kind") {
            Some(toml::Value::String(k)) => k,
            Some(v) => {
                return Err(Invalid::new(
                    "kind",
                    format!("expected a string, found {}", crate::check::shown(&v)),
                ));
            }
            None => {
                return Err(Invalid::new(
                    "kind",
                    "missing: say \"pendulum\", \"point_mass\", \"mountain_car\" or \"gymnasium\"",
                ));
            }
        };
        match kind.as_str() {
            "pendulum" => Ok(Env::Pendulum(
                deserialize::<PendulumSpec>(rest)?.validate()?,
            )),
            "point_mass" => Ok(Env::PointMass(
                deserialize::<PointMassSpec>(rest)?.validate()?,
            )),
            "mountain_car" => Ok(Env::MountainCar(
                deserialize::<MountainCarSpec>(rest)?.validate()?,
            )),
            other => Err(Invalid::new(
                "kind",
                format!(
                    "unknown kind \"{other}\": expected \"pendulum\", \"point_mass\", \"mountain_car\" or \"gymnasium\""
                ),
            )),
        }
    }

    /// The fully resolved env table, every default filled in: what a run dir records.
    pub fn to_table(&self) -> toml::Table {
        let (kind, body) = match self {
            Env::Pendulum(p) => ("pendulum", toml::Table::try_from(p.spec())),
            Env::PointMass(p) => ("point_mass", toml::Table::try_from(p.spec())),
            Env::MountainCar(c) => ("mountain_car", toml::Table::try_from(c.spec())),
        };
        let mut table = toml::Table::new();
        table.insert("kind".into(), kind.into());
        table.extend(body.expect("an env spec is plain numbers, lists and tables"));
        table
    }

    pub fn state_dim(&self) -> usize {
        match self {
            Env::Pendulum(_) | Env::MountainCar(_) => 2,
            Env::PointMass(p) => p.state_dim(),
        }
    }

    pub fn obs_dim(&self) -> usize {
        match self {
            Env::Pendulum(_) => 3,
            Env::PointMass(p) => p.state_dim(),
            Env::MountainCar(_) => 2,
        }
    }

    pub fn action_dim(&self) -> usize {
        match self {
            Env::Pendulum(_) | Env::MountainCar(_) => 1,
            Env::PointMass(p) => p.dims(),
        }
    }

    /// The action box; actions outside it are clipped by the environment.
    pub fn action_bounds(&self) -> Vec<Interval> {
        match self {
            Env::Pendulum(p) => p.action_bounds(),
            Env::PointMass(p) => p.action_bounds(),
            Env::MountainCar(c) => c.action_bounds(),
        }
    }

    /// `Σ log half_width` over the action box: the log-Jacobian of scaling [-1, 1] onto it, which
    /// a policy on [-1, 1] adds to report densities and entropies in env units (DESIGN §1).
    pub fn log_action_scale(&self) -> f64 {
        log_half_widths(&self.action_bounds())
    }

    /// The state box the exact solver grids, with periodic dimensions marked.
    pub fn state_axes(&self) -> Vec<StateAxis> {
        match self {
            Env::Pendulum(p) => p.state_axes(),
            Env::PointMass(p) => p.state_axes(),
            Env::MountainCar(c) => c.state_axes(),
        }
    }

    pub fn episode_steps(&self) -> usize {
        match self {
            Env::Pendulum(p) => p.episode_steps(),
            Env::PointMass(p) => p.episode_steps(),
            Env::MountainCar(c) => c.episode_steps(),
        }
    }

    /// Standard deviation of the Gaussian noise on each state component (0: deterministic).
    pub fn noise_std(&self) -> f64 {
        match self {
            Env::Pendulum(_) | Env::MountainCar(_) => 0.0,
            Env::PointMass(p) => p.noise_std(),
        }
    }

    /// Draws an initial state into `state[..state_dim]`.
    pub fn reset(&self, rng: &mut impl Rng, state: &mut [f64]) {
        match self {
            Env::Pendulum(p) => p.reset(rng, state),
            Env::PointMass(p) => p.reset(rng, state),
            Env::MountainCar(c) => c.reset(rng, state),
        }
    }

    /// One transition from `state` under `action` for one draw of the noise (`noise[i]` in state
    /// units, already scaled by [`Env::noise_std`]; ignored by deterministic environments):
    /// writes the next state and returns the reward and whether the next state is absorbing (its
    /// value 0 from then on). `from_reset`: `state` is where an episode begins (a reset's, or one
    /// set from outside) rather than where a step left it, which only the mountain car tells
    /// apart (Gymnasium holds its state in float64 until the first step, in float32 after).
    #[inline]
    pub fn transition(
        &self,
        state: &[f64],
        action: &[f64],
        noise: &[f64],
        from_reset: bool,
        next: &mut [f64],
    ) -> (f64, bool) {
        match self {
            Env::Pendulum(p) => {
                p.next_state(state, action, next);
                (p.reward(state, action), false)
            }
            Env::PointMass(p) => {
                p.next_state(state, action, noise, next);
                (p.reward(action, next), p.terminal(next))
            }
            Env::MountainCar(c) => c.step(state, action, from_reset, next),
        }
    }

    /// Which goal (an index into the env's `targets`) the state lies inside, for envs with goals.
    pub fn goal_at(&self, state: &[f64]) -> Option<usize> {
        match self {
            Env::Pendulum(_) => None,
            Env::PointMass(p) => p.goal_at(state),
            Env::MountainCar(c) => c.at_goal(state).then_some(0),
        }
    }

    /// Whether reaching a goal ends an episode in this env.
    pub fn has_goals(&self) -> bool {
        match self {
            Env::Pendulum(_) => false,
            Env::PointMass(p) => p.spec().reward.goal_radius > 0.0,
            Env::MountainCar(_) => true,
        }
    }

    /// The observation the agent sees in `state`.
    #[inline]
    pub fn observe(&self, state: &[f64], obs: &mut [f64]) {
        match self {
            Env::Pendulum(p) => p.observe(state, obs),
            Env::PointMass(p) => p.observe(state, obs),
            Env::MountainCar(c) => c.observe(state, obs),
        }
    }
}

fn deserialize<T: serde::de::DeserializeOwned>(table: toml::Table) -> Checked<T> {
    serde_path_to_error::deserialize(table).map_err(|e| {
        let key = e.path().to_string();
        let key = if key == "." { String::new() } else { key };
        Invalid::new(key, crate::check::readable(e.into_inner().message()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_envs_parse_and_round_trip() {
        for (name, text) in BUILTIN {
            let table: toml::Table = toml::from_str(text).unwrap();
            let env = Env::from_table(&table).unwrap_or_else(|e| panic!("{name}: {e:?}"));
            assert_eq!(Env::from_table(&env.to_table()).unwrap(), env, "{name}");
        }
    }

    #[test]
    fn unknown_and_mistyped_keys_are_named() {
        let t: toml::Table = toml::from_str("kind = \"pendulum\"\n[reward]\nangle = 1.0").unwrap();
        let e = Env::from_table(&t).unwrap_err();
        assert_eq!(e.key, "reward.angle");
        assert!(e.message.contains("unknown field `angle`"), "{}", e.message);
        let t: toml::Table = toml::from_str("kind = \"point_mass\"\ndt = \"fast\"").unwrap();
        assert_eq!(Env::from_table(&t).unwrap_err().key, "dt");
        let t: toml::Table = toml::from_str("kind = \"boat\"").unwrap();
        assert_eq!(Env::from_table(&t).unwrap_err().key, "kind");
    }
}
