//! Gymnasium's `MountainCarContinuous-v0`, to the bit
//! (gymnasium/envs/classic_control/continuous_mountain_car.py, 1.x).
//!
//! State `[x, v]`, action a force clipped to `[−1, 1]`:
//!
//! ```text
//! v' = clip(v + clip(a, ±1)·power − 0.0025·cos(3x), ±max_speed)
//! x' = clip(x + v', [min_position, max_position]);   v' = 0 if x' = min_position and v' < 0
//! terminated = x' ≥ goal_position and v' ≥ goal_velocity
//! r  = goal_reward·[terminated] − action_cost·a²                  (a unclipped)
//! ```
//!
//! Reset draws `x ~ U(reset_low, reset_high)` with `v = 0`; episodes are truncated after
//! `episode_steps` (999). The state is observed as it is, rounded to float32.
//!
//! Precision is Gymnasium's under NumPy 2's promotion rules (NEP 50): the state is a float64
//! array after `reset` and a float32 array after every step; the agent's action is float32; a
//! Python float beside a float32 is cast to float32 (arithmetic and comparisons alike), a float64
//! beside a float32 is not; the clipped values are Python floats. [`Np`] carries each value's
//! type through the step, which reads like Gymnasium's.

use rand::Rng;
use serde::{Deserialize, Serialize};

use super::{Interval, StateAxis};
use crate::check::{Checked, Invalid, at_least, finite, non_negative, number, positive};

/// The keys of a `kind = "mountain_car"` env file; every one has Gymnasium's value as default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MountainCarSpec {
    /// The left wall: positions are clipped to it, and a car driving into it stops.
    pub min_position: f64,
    /// Positions are clipped to it on the right.
    pub max_position: f64,
    /// Velocities are clipped to `±max_speed`.
    pub max_speed: f64,
    /// The flag: an episode terminates at `x ≥ goal_position` with `v ≥ goal_velocity`.
    pub goal_position: f64,
    pub goal_velocity: f64,
    /// Acceleration per unit of force.
    pub power: f64,
    /// Reset draws the position uniformly from `[reset_low, reset_high]`, with zero velocity.
    pub reset_low: f64,
    pub reset_high: f64,
    /// Steps before the episode is truncated.
    pub episode_steps: usize,
    pub reward: MountainCarReward,
}

/// The reward's weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MountainCarReward {
    /// Paid on the step that reaches the flag.
    pub goal_reward: f64,
    /// Weight of `a²`, the action as given (not clipped).
    pub action_cost: f64,
}

impl Default for MountainCarSpec {
    fn default() -> Self {
        MountainCarSpec {
            min_position: -1.2,
            max_position: 0.6,
            max_speed: 0.07,
            goal_position: 0.45,
            goal_velocity: 0.0,
            power: 0.0015,
            reset_low: -0.6,
            reset_high: -0.4,
            episode_steps: 999,
            reward: MountainCarReward::default(),
        }
    }
}

impl Default for MountainCarReward {
    fn default() -> Self {
        MountainCarReward {
            goal_reward: 100.0,
            action_cost: 0.1,
        }
    }
}

/// A validated mountain car; build it with [`MountainCarSpec::validate`].
#[derive(Debug, Clone, PartialEq)]
pub struct MountainCar {
    spec: MountainCarSpec,
}

impl MountainCarSpec {
    pub fn validate(self) -> Checked<MountainCar> {
        finite("min_position", self.min_position)?;
        finite("max_position", self.max_position)?;
        if self.min_position >= self.max_position {
            return Err(Invalid::new(
                "max_position",
                format!(
                    "{} must be above min_position ({})",
                    number(self.max_position),
                    number(self.min_position)
                ),
            ));
        }
        positive("max_speed", self.max_speed)?;
        inside("goal_position", self.goal_position, &self)?;
        finite("goal_velocity", self.goal_velocity)?;
        if self.goal_velocity.abs() > self.max_speed {
            return Err(Invalid::new(
                "goal_velocity",
                format!(
                    "{} is out of range: must be within ±max_speed ({})",
                    number(self.goal_velocity),
                    number(self.max_speed)
                ),
            ));
        }
        non_negative("power", self.power)?;
        inside("reset_low", self.reset_low, &self)?;
        inside("reset_high", self.reset_high, &self)?;
        if self.reset_low > self.reset_high {
            return Err(Invalid::new(
                "reset_high",
                format!(
                    "{} must be at least reset_low ({})",
                    number(self.reset_high),
                    number(self.reset_low)
                ),
            ));
        }
        at_least("episode_steps", self.episode_steps, 1)?;
        finite("reward.goal_reward", self.reward.goal_reward)?;
        finite("reward.action_cost", self.reward.action_cost)?;
        Ok(MountainCar { spec: self })
    }
}

/// Checks that a position lies in `[min_position, max_position]`.
fn inside(key: &str, x: f64, spec: &MountainCarSpec) -> Checked<f64> {
    finite(key, x)?;
    if x < spec.min_position || x > spec.max_position {
        return Err(Invalid::new(
            key,
            format!(
                "{} is out of range: must be within [min_position, max_position] = [{}, {}]",
                number(x),
                number(spec.min_position),
                number(spec.max_position)
            ),
        ));
    }
    Ok(x)
}

/// A number as NumPy 2 types it: a float32 scalar, a float64 scalar, or a Python float (weak:
/// cast to float32 beside a float32, NEP 50).
#[derive(Debug, Clone, Copy)]
enum Np {
    F32(f32),
    F64(f64),
    Py(f64),
}

use Np::{F32, F64, Py};

impl Np {
    fn value(self) -> f64 {
        match self {
            F32(x) => f64::from(x),
            F64(x) | Py(x) => x,
        }
    }

    /// `self ∘ other` at the precision NumPy picks.
    fn op(self, other: Np, f32_op: fn(f32, f32) -> f32, f64_op: fn(f64, f64) -> f64) -> Np {
        match (self, other) {
            (F32(a), F32(b)) => F32(f32_op(a, b)),
            (F32(a), Py(b)) => F32(f32_op(a, b as f32)),
            (Py(a), F32(b)) => F32(f32_op(a as f32, b)),
            (Py(a), Py(b)) => Py(f64_op(a, b)),
            (a, b) => F64(f64_op(a.value(), b.value())),
        }
    }

    fn add(self, other: Np) -> Np {
        self.op(other, |a, b| a + b, |a, b| a + b)
    }

    fn sub(self, other: Np) -> Np {
        self.op(other, |a, b| a - b, |a, b| a - b)
    }

    fn mul(self, other: Np) -> Np {
        self.op(other, |a, b| a * b, |a, b| a * b)
    }

    /// The pair as NumPy compares it: in float32 when a float32 meets a Python float.
    fn compared(self, other: Np) -> (f64, f64) {
        match (self, other) {
            (F32(a), Py(b)) => (f64::from(a), f64::from(b as f32)),
            (Py(a), F32(b)) => (f64::from(a as f32), f64::from(b)),
            (a, b) => (a.value(), b.value()),
        }
    }

    fn gt(self, other: Np) -> bool {
        let (a, b) = self.compared(other);
        a > b
    }

    fn lt(self, other: Np) -> bool {
        let (a, b) = self.compared(other);
        a < b
    }

    fn ge(self, other: Np) -> bool {
        let (a, b) = self.compared(other);
        a >= b
    }

    fn eq(self, other: Np) -> bool {
        let (a, b) = self.compared(other);
        a == b
    }

    /// Python's `min(max(x, lo), hi)`: the first argument unless a later one is strictly
    /// beyond it, so an action inside the bounds stays a float32.
    fn clip(self, lo: f64, hi: f64) -> Np {
        let x = if Py(lo).gt(self) { Py(lo) } else { self };
        if Py(hi).lt(x) { Py(hi) } else { x }
    }
}

impl MountainCar {
    pub fn spec(&self) -> &MountainCarSpec {
        &self.spec
    }

    pub fn episode_steps(&self) -> usize {
        self.spec.episode_steps
    }

    pub fn action_bounds(&self) -> Vec<Interval> {
        vec![Interval::symmetric(1.0)]
    }

    pub fn state_axes(&self) -> Vec<StateAxis> {
        let s = &self.spec;
        vec![
            StateAxis::bounded(s.min_position, s.max_position),
            StateAxis::bounded(-s.max_speed, s.max_speed),
        ]
    }

    /// `x ~ U(reset_low, reset_high)`, `v = 0`.
    pub fn reset(&self, rng: &mut impl Rng, state: &mut [f64]) {
        let s = &self.spec;
        state[0] = s.reset_low + (s.reset_high - s.reset_low) * rng.random::<f64>();
        state[1] = 0.0;
    }

    /// One step of Gymnasium's `step`: writes the next state (as Gymnasium stores it, rounded to
    /// float32) and returns the reward and whether the car reached the flag. `from_reset`: the
    /// state is a reset's (or one set from outside), held in float64; otherwise it is a step's,
    /// held in float32 (a state given in float64 is rounded first).
    pub fn step(
        &self,
        state: &[f64],
        action: &[f64],
        from_reset: bool,
        next: &mut [f64],
    ) -> (f64, bool) {
        let s = &self.spec;
        let (mut position, mut velocity) = if from_reset {
            (F64(state[0]), F64(state[1]))
        } else {
            (F32(state[0] as f32), F32(state[1] as f32))
        };
        // Agents hand Gymnasium float32 actions, as the action space declares.
        let action = action[0] as f32;
        let force = F32(action).clip(-1.0, 1.0);
        let gravity = Py(0.0025 * Py(3.0).mul(position).value().cos());
        velocity = velocity.add(force.mul(Py(s.power)).sub(gravity));
        if velocity.gt(Py(s.max_speed)) {
            velocity = Py(s.max_speed);
        }
        if velocity.lt(Py(-s.max_speed)) {
            velocity = Py(-s.max_speed);
        }
        position = position.add(velocity);
        if position.gt(Py(s.max_position)) {
            position = Py(s.max_position);
        }
        if position.lt(Py(s.min_position)) {
            position = Py(s.min_position);
        }
        if position.eq(Py(s.min_position)) && velocity.lt(Py(0.0)) {
            velocity = Py(0.0);
        }
        let terminated = position.ge(Py(s.goal_position)) && velocity.ge(Py(s.goal_velocity));
        // reward = 0; if terminated: reward = 100.0; reward -= math.pow(action[0], 2) * 0.1
        let goal = if terminated {
            s.reward.goal_reward
        } else {
            0.0
        };
        let a = f64::from(action);
        let reward = goal - a * a * s.reward.action_cost;
        next[0] = f64::from(position.value() as f32);
        next[1] = f64::from(velocity.value() as f32);
        (reward, terminated)
    }

    /// Whether a stored state is at the flag (float32 comparisons, which hold for every state a
    /// terminating step stores).
    pub fn at_goal(&self, state: &[f64]) -> bool {
        let s = &self.spec;
        F32(state[0] as f32).ge(Py(s.goal_position)) && F32(state[1] as f32).ge(Py(s.goal_velocity))
    }

    /// The state rounded to float32, as Gymnasium returns it.
    pub fn observe(&self, state: &[f64], obs: &mut [f64]) {
        obs[0] = f64::from(state[0] as f32);
        obs[1] = f64::from(state[1] as f32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn car() -> MountainCar {
        MountainCarSpec::default().validate().unwrap()
    }

    #[test]
    fn one_step_from_a_step_is_float32_throughout() {
        let (x, v, a) = (-0.5f32, 0.01f32, 0.3f32);
        let mut next = [0.0; 2];
        let (r, done) = car().step(&[x.into(), v.into()], &[a.into()], false, &mut next);
        // Gymnasium: force*power in float32, 3*x in float32, cos in float64, the rest float32.
        let gravity = 0.0025 * f64::from(3.0f32 * x).cos();
        let v2 = v + (a * 0.0015f32 - gravity as f32);
        assert_eq!(next, [f64::from(x + v2), f64::from(v2)]);
        assert_eq!(r, -(f64::from(a) * f64::from(a) * 0.1));
        assert!(!done);
    }

    #[test]
    fn one_step_from_a_reset_is_float64_where_numpy_says() {
        let (x, a) = (-0.512345678912345, 2.5);
        let mut next = [0.0; 2];
        let (r, _) = car().step(&[x, 0.0], &[a], true, &mut next);
        // The force clipped to the Python float 1.0: force*power is 0.0015 in float64.
        let v = 0.0 + (1.0 * 0.0015 - 0.0025 * (3.0 * x).cos());
        assert_eq!(next, [f64::from((x + v) as f32), f64::from(v as f32)]);
        assert_eq!(r, -6.25 * 0.1, "the cost takes the unclipped action");
        // An action inside the bounds stays float32, and so does force*power - gravity.
        let a = 0.3f32;
        car().step(&[x, 0.0], &[a.into()], true, &mut next);
        let dv = a * 0.0015f32 - (0.0025 * (3.0 * x).cos()) as f32;
        let v = f64::from(dv);
        assert_eq!(next, [f64::from((x + v) as f32), f64::from(v as f32)]);
    }

    #[test]
    fn the_wall_stops_the_car_and_the_flag_ends_the_episode() {
        let mut next = [0.0; 2];
        let (_, done) = car().step(&[-1.19, -0.05], &[-1.0], false, &mut next);
        assert_eq!(next, [f64::from(-1.2f32), 0.0]);
        assert!(!done);
        let (r, done) = car().step(&[0.44, 0.02], &[0.0], false, &mut next);
        assert!(done && r == 100.0, "{r}");
        assert!(car().at_goal(&next));
        // Float32 comparisons: float32(0.45) = 0.449999988 counts as at the flag, as in NumPy.
        assert!(car().at_goal(&[f64::from(0.45f32), 0.0]));
        // The speed limit is a Python float; the stored state rounds it to float32.
        // At x = −π/6, cos(3x) ≈ 0: 0.0695 + 0.0015 passes the limit.
        car().step(
            &[-std::f64::consts::FRAC_PI_6, 0.0695],
            &[1.0],
            false,
            &mut next,
        );
        assert_eq!(next[1], f64::from(0.07f32));
    }

    #[test]
    fn bad_keys_are_named() {
        let bad = |f: fn(&mut MountainCarSpec)| {
            let mut s = MountainCarSpec::default();
            f(&mut s);
            s.validate().unwrap_err().key
        };
        assert_eq!(bad(|s| s.max_position = -2.0), "max_position");
        assert_eq!(bad(|s| s.goal_position = 0.7), "goal_position");
        assert_eq!(bad(|s| s.goal_velocity = 0.08), "goal_velocity");
        assert_eq!(bad(|s| s.reset_low = -0.3), "reset_high");
        assert_eq!(bad(|s| s.max_speed = 0.0), "max_speed");
        assert_eq!(bad(|s| s.power = f64::NAN), "power");
        assert_eq!(bad(|s| s.episode_steps = 0), "episode_steps");
    }
}
