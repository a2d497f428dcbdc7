//! Gymnasium's `Pendulum-v1`, to the constant (gymnasium/envs/classic_control/pendulum.py, 1.x).
//!
//! State `[θ, θ̇]` (θ = 0 upright, not wrapped), action a torque clipped to `±max_torque`:
//!
//! ```text
//! r   = −(angle_normalize(θ)² + 0.1·θ̇² + 0.001·u²)          (from the state before the step)
//! θ̇'  = clip(θ̇ + (3g/(2l)·sin θ + 3/(m l²)·u)·dt, ±max_speed)
//! θ'  = θ + θ̇'·dt
//! obs = [cos θ', sin θ', θ̇']                               (rounded to float32)
//! ```
//!
//! Reset is uniform on `[−init_theta, init_theta] × [−init_theta_dot, init_theta_dot]`
//! (Gymnasium: π and 1). Episodes are truncated after `episode_steps` (200), never terminated.

use rand::Rng;
use serde::{Deserialize, Serialize};

use super::{Interval, StateAxis};
use crate::check::{Checked, at_least, finite, non_negative, positive};

use std::f64::consts::PI;

/// The keys of a `kind = "pendulum"` env file; every one has Gymnasium's value as default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PendulumSpec {
    /// Gravity (m/s²).
    pub g: f64,
    /// Mass (kg).
    pub m: f64,
    /// Length (m).
    pub l: f64,
    /// Integration step (s).
    pub dt: f64,
    /// Angular speed limit (rad/s); θ̇ is clipped to it after each step.
    pub max_speed: f64,
    /// Torque limit; actions are clipped to `±max_torque`.
    pub max_torque: f64,
    /// Steps before the episode is truncated.
    pub episode_steps: usize,
    /// Reset draws θ uniformly from `±init_theta`.
    pub init_theta: f64,
    /// Reset draws θ̇ uniformly from `±init_theta_dot`.
    pub init_theta_dot: f64,
    pub reward: PendulumReward,
}

/// The weights of the three cost terms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PendulumReward {
    /// Weight of `angle_normalize(θ)²`.
    pub angle_cost: f64,
    /// Weight of `θ̇²`.
    pub velocity_cost: f64,
    /// Weight of `u²` (u clipped).
    pub action_cost: f64,
}

impl Default for PendulumSpec {
    fn default() -> Self {
        PendulumSpec {
            g: 10.0,
            m: 1.0,
            l: 1.0,
            dt: 0.05,
            max_speed: 8.0,
            max_torque: 2.0,
            episode_steps: 200,
            init_theta: PI,
            init_theta_dot: 1.0,
            reward: PendulumReward::default(),
        }
    }
}

impl Default for PendulumReward {
    fn default() -> Self {
        PendulumReward {
            angle_cost: 1.0,
            velocity_cost: 0.1,
            action_cost: 0.001,
        }
    }
}

/// A validated pendulum; build it with [`PendulumSpec::validate`].
#[derive(Debug, Clone, PartialEq)]
pub struct Pendulum {
    spec: PendulumSpec,
    /// `3g/(2l)` (float64), and `3/(m l²)` and the action cost as the float32 numbers NumPy
    /// turns them into beside a float32 torque (see [`Pendulum::torque`]).
    gravity_gain: f64,
    torque_gain: f32,
    action_cost: f32,
}

impl PendulumSpec {
    pub fn validate(self) -> Checked<Pendulum> {
        finite("g", self.g)?;
        positive("m", self.m)?;
        positive("l", self.l)?;
        positive("dt", self.dt)?;
        positive("max_speed", self.max_speed)?;
        positive("max_torque", self.max_torque)?;
        at_least("episode_steps", self.episode_steps, 1)?;
        non_negative("init_theta", self.init_theta)?;
        non_negative("init_theta_dot", self.init_theta_dot)?;
        finite("reward.angle_cost", self.reward.angle_cost)?;
        finite("reward.velocity_cost", self.reward.velocity_cost)?;
        finite("reward.action_cost", self.reward.action_cost)?;
        Ok(Pendulum {
            gravity_gain: 3.0 * self.g / (2.0 * self.l),
            torque_gain: (3.0 / (self.m * (self.l * self.l))) as f32,
            action_cost: self.reward.action_cost as f32,
            spec: self,
        })
    }
}

/// Gymnasium's `((x + π) % 2π) − π` with NumPy's floored modulo: `fmod` (exact in IEEE
/// arithmetic) moved into `[0, 2π)`, so the result is NumPy's to the last bit for any angle, not
/// only near `[−π, π)`.
#[inline]
pub fn angle_normalize(x: f64) -> f64 {
    const TAU: f64 = 2.0 * PI;
    let m = (x + PI) % TAU;
    let m = if m < 0.0 { m + TAU } else { m };
    m - PI
}

impl Pendulum {
    pub fn spec(&self) -> &PendulumSpec {
        &self.spec
    }

    pub fn episode_steps(&self) -> usize {
        self.spec.episode_steps
    }

    pub fn action_bounds(&self) -> Vec<Interval> {
        vec![Interval::symmetric(self.spec.max_torque)]
    }

    /// θ is periodic on `[−π, π)`; θ̇ is bounded by `max_speed`.
    pub fn state_axes(&self) -> Vec<StateAxis> {
        vec![
            StateAxis::periodic(-PI, PI),
            StateAxis::bounded(-self.spec.max_speed, self.spec.max_speed),
        ]
    }

    pub fn reset(&self, rng: &mut impl Rng, state: &mut [f64]) {
        state[0] = rng.random_range(-1.0..=1.0) * self.spec.init_theta;
        state[1] = rng.random_range(-1.0..=1.0) * self.spec.init_theta_dot;
    }

    /// The clipped torque as Gymnasium holds it: a float32 (agents pass float32 actions, as the
    /// action space declares). Under NumPy 2's promotion rules (NEP 50) the Python float
    /// constants beside it become float32 too, so Gymnasium computes the torque term
    /// `3/(m l²)·u` and the action cost `0.001·u²` in float32 and the rest in float64; we do the
    /// same, which keeps long trajectories on Gymnasium's to ~1e-12 instead of letting a
    /// float32 rounding (~1e-8 a step) grow through the swings.
    #[inline]
    fn torque(&self, action: &[f64]) -> f32 {
        let max = self.spec.max_torque as f32;
        (action[0] as f32).clamp(-max, max)
    }

    #[inline]
    pub fn next_state(&self, state: &[f64], action: &[f64], next: &mut [f64]) {
        self.integrate(state, state[0].sin(), self.torque(action), next);
    }

    #[inline]
    fn integrate(&self, state: &[f64], sin_theta: f64, u: f32, next: &mut [f64]) {
        let accel = self.gravity_gain * sin_theta + f64::from(self.torque_gain * u);
        let new_theta_dot =
            (state[1] + accel * self.spec.dt).clamp(-self.spec.max_speed, self.spec.max_speed);
        next[0] = state[0] + new_theta_dot * self.spec.dt;
        next[1] = new_theta_dot;
    }

    #[inline]
    pub fn reward(&self, state: &[f64], action: &[f64]) -> f64 {
        self.cost(state, self.torque(action))
    }

    #[inline]
    fn cost(&self, state: &[f64], u: f32) -> f64 {
        let w = &self.spec.reward;
        let th = angle_normalize(state[0]);
        // Gymnasium: angle_normalize(th)**2 + 0.1*thdot**2 + 0.001*(u**2), in that order.
        -(w.angle_cost * (th * th)
            + w.velocity_cost * (state[1] * state[1])
            + f64::from(self.action_cost * (u * u)))
    }

    /// `[cos θ, sin θ, θ̇]` rounded to float32, as Gymnasium returns it (`dtype=np.float32`), so
    /// a rollout prints Gymnasium's observations bit for bit; the agent reads float32 anyway.
    #[inline]
    pub fn observe(&self, state: &[f64], obs: &mut [f64]) {
        let (s, c) = libm::sincos(state[0]);
        obs[0] = f64::from(c as f32);
        obs[1] = f64::from(s as f32);
        obs[2] = f64::from(state[1] as f32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn angle_normalize_is_pythons_floored_modulo() {
        // Python: ((x + pi) % (2*pi)) - pi
        assert!((angle_normalize(0.5) - 0.5).abs() < 1e-15);
        assert!((angle_normalize(4.0) - (4.0 - 2.0 * PI)).abs() < 1e-12);
        assert!((angle_normalize(-4.0) - (-4.0 + 2.0 * PI)).abs() < 1e-12);
        assert!((angle_normalize(PI) + PI).abs() < 1e-12);
        assert!((angle_normalize(13.0) - (13.0 - 4.0 * PI)).abs() < 1e-12);
        // Python's ((x + math.pi) % (2 * math.pi)) - math.pi, far from [−π, π): the same bits
        for (x, python) in [
            (1e300, 2.418165953062772),
            (-1e300, -2.418165953062772),
            (1e17, -1.901909558165098),
            (-3e9, -1.7321865384451094),
            (123456.789, -1.5191007716906917),
            (-98765.4321, -0.04225644409459406),
            (7.0 * PI, -PI),
            (-19.5, -0.6504440784612413),
        ] {
            assert_eq!(angle_normalize(x), python, "x = {x}");
        }
    }

    #[test]
    fn one_step_by_hand() {
        let p = PendulumSpec::default().validate().unwrap();
        let (s, a) = ([1.0, 0.5], [3.0]); // torque clipped to 2
        let mut n = [0.0; 2];
        p.next_state(&s, &a, &mut n);
        let thdot = 0.5 + (15.0 * 1.0f64.sin() + 3.0 * 2.0) * 0.05;
        assert_eq!(n[1], thdot);
        assert_eq!(n[0], 1.0 + thdot * 0.05);
        // 0.001·u² in float32, as NumPy 2 computes it beside a float32 torque: 0.004 + 1.9e-10.
        let cost = 1.0 + 0.1 * 0.25 + f64::from(0.001f32 * 4.0f32);
        assert_eq!(p.reward(&s, &a), -cost);
        assert!((cost - 1.029).abs() > 1e-10 && (cost - 1.029).abs() < 1e-9);
        // A torque that float32 rounds: u = f32(1.1), and 3·u rounded to float32 again.
        let (s, a) = ([-0.4, 2.0], [1.1]);
        p.next_state(&s, &a, &mut n);
        let torque_term = f64::from(3.0f32 * 1.1f32);
        assert!((torque_term - 3.3).abs() > 1e-8);
        let thdot = 2.0 + (15.0 * (-0.4f64).sin() + torque_term) * 0.05;
        assert_eq!(n[1], thdot);
    }
}
