//! Point-mass worlds in 1 or 2 dimensions: the multi-goal world of Soft Q-Learning (Haarnoja et
//! al. 2017, `softqlearning/environments/multigoal.py`), a linear-quadratic world with a
//! closed-form soft solution, and noisy worlds where the two backups of DESIGN §1 differ.
//!
//! With `u = clip(a, ±max_action)` and `w ~ N(0, noise_std²)` on every state component:
//!
//! ```text
//! velocity:  x' = clip(x + dt·u + w, ±bound)                               state [x]
//! force:     v' = clip(v + dt·u + w_v, ±max_speed),
//!            x' = clip(x + dt·v' + w_x, ±bound)                            state [x, v]
//! reward:    r  = −position_cost·min_k |x' − target_k|² − action_cost·|u|²
//!                 + goal_reward·[min_k |x' − target_k| < goal_radius]
//! ```
//!
//! Reaching a target (distance below `goal_radius`, which must be > 0 to count) terminates the
//! episode; otherwise it is truncated after `episode_steps`. Reset draws the position from
//! `N(init_mean, init_std²)` per component (clipped to the bounds) with zero velocity.

use rand::Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use super::{Interval, StateAxis};
use crate::check::{Checked, Invalid, at_least, finite, non_negative, number, positive};

/// How the action moves the mass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dynamics {
    /// The action is a velocity: `x' = x + dt·u`.
    Velocity,
    /// The action is a force on a unit mass (a double integrator).
    Force,
}

/// The keys of a `kind = "point_mass"` env file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PointMassSpec {
    /// Number of position dimensions: 1 or 2.
    pub dims: usize,
    pub dynamics: Dynamics,
    pub dt: f64,
    /// Actions are clipped to `±max_action` per component.
    pub max_action: f64,
    /// Positions are clipped to `±bound` per component.
    pub bound: f64,
    /// Velocities are clipped to `±max_speed` (force dynamics only).
    pub max_speed: f64,
    /// Standard deviation of the Gaussian noise added to each component of the next state.
    pub noise_std: f64,
    /// Mean of the initial position (default: the origin).
    pub init_mean: Vec<f64>,
    /// Standard deviation of the initial position around `init_mean`.
    pub init_std: f64,
    /// Steps before the episode is truncated.
    pub episode_steps: usize,
    pub reward: PointMassReward,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PointMassReward {
    /// Weight of the squared distance from the next position to the nearest target.
    pub position_cost: f64,
    /// Weight of `|u|²`.
    pub action_cost: f64,
    /// Target points (default: the origin).
    pub targets: Vec<Vec<f64>>,
    /// Coming closer than this to a target pays `goal_reward` and terminates; 0 disables it.
    pub goal_radius: f64,
    pub goal_reward: f64,
}

impl Default for PointMassSpec {
    fn default() -> Self {
        PointMassSpec {
            dims: 1,
            dynamics: Dynamics::Velocity,
            dt: 1.0,
            max_action: 1.0,
            bound: 10.0,
            max_speed: 2.0,
            noise_std: 0.0,
            init_mean: Vec::new(),
            init_std: 0.1,
            episode_steps: 100,
            reward: PointMassReward::default(),
        }
    }
}

impl Default for PointMassReward {
    fn default() -> Self {
        PointMassReward {
            position_cost: 1.0,
            action_cost: 0.0,
            targets: Vec::new(),
            goal_radius: 0.0,
            goal_reward: 0.0,
        }
    }
}

/// A validated point mass; build it with [`PointMassSpec::validate`].
#[derive(Debug, Clone, PartialEq)]
pub struct PointMass {
    spec: PointMassSpec,
    /// Targets flattened, `dims` numbers each.
    targets: Vec<f64>,
}

impl PointMassSpec {
    /// Checks ranges and fills the dimension-dependent defaults (`init_mean`, `targets`).
    pub fn validate(mut self) -> Checked<PointMass> {
        let d = self.dims;
        if d != 1 && d != 2 {
            return Err(Invalid::new(
                "dims",
                format!("{d} is out of range: must be 1 or 2"),
            ));
        }
        positive("dt", self.dt)?;
        positive("max_action", self.max_action)?;
        positive("bound", self.bound)?;
        positive("max_speed", self.max_speed)?;
        non_negative("noise_std", self.noise_std)?;
        non_negative("init_std", self.init_std)?;
        at_least("episode_steps", self.episode_steps, 1)?;
        if self.init_mean.is_empty() {
            self.init_mean = vec![0.0; d];
        }
        check_point("init_mean", &self.init_mean, d, self.bound)?;
        let r = &mut self.reward;
        finite("reward.position_cost", r.position_cost)?;
        finite("reward.action_cost", r.action_cost)?;
        non_negative("reward.goal_radius", r.goal_radius)?;
        finite("reward.goal_reward", r.goal_reward)?;
        if r.targets.is_empty() {
            r.targets = vec![vec![0.0; d]];
        }
        for (i, t) in r.targets.iter().enumerate() {
            check_point(&format!("reward.targets[{i}]"), t, d, self.bound)?;
        }
        let targets = r.targets.concat();
        Ok(PointMass {
            spec: self,
            targets,
        })
    }
}

fn check_point(key: &str, p: &[f64], dims: usize, bound: f64) -> Checked<()> {
    if p.len() != dims {
        return Err(Invalid::new(
            key,
            format!("has {} components, the world has dims = {dims}", p.len()),
        ));
    }
    for &x in p {
        if !(x.is_finite() && x.abs() <= bound) {
            return Err(Invalid::new(
                key,
                format!(
                    "[{}] is out of range: components must lie within ±bound = ±{}",
                    p.iter().map(|&x| number(x)).collect::<Vec<_>>().join(", "),
                    number(bound)
                ),
            ));
        }
    }
    Ok(())
}

impl PointMass {
    pub fn spec(&self) -> &PointMassSpec {
        &self.spec
    }

    pub fn dims(&self) -> usize {
        self.spec.dims
    }

    pub fn state_dim(&self) -> usize {
        match self.spec.dynamics {
            Dynamics::Velocity => self.spec.dims,
            Dynamics::Force => 2 * self.spec.dims,
        }
    }

    pub fn episode_steps(&self) -> usize {
        self.spec.episode_steps
    }

    pub fn noise_std(&self) -> f64 {
        self.spec.noise_std
    }

    pub fn action_bounds(&self) -> Vec<Interval> {
        vec![Interval::symmetric(self.spec.max_action); self.spec.dims]
    }

    pub fn state_axes(&self) -> Vec<StateAxis> {
        let mut axes = vec![StateAxis::bounded(-self.spec.bound, self.spec.bound); self.spec.dims];
        if self.spec.dynamics == Dynamics::Force {
            let v = StateAxis::bounded(-self.spec.max_speed, self.spec.max_speed);
            axes.extend(std::iter::repeat_n(v, self.spec.dims));
        }
        axes
    }

    pub fn reset(&self, rng: &mut impl Rng, state: &mut [f64]) {
        let s = &self.spec;
        for (x, &mean) in state.iter_mut().zip(&s.init_mean) {
            let z: f64 = rng.sample(StandardNormal);
            *x = (mean + s.init_std * z).clamp(-s.bound, s.bound);
        }
        state[s.dims..self.state_dim()].fill(0.0);
    }

    /// The next state for a given noise draw (`noise[i]` is already scaled by `noise_std`).
    #[inline]
    pub fn next_state(&self, state: &[f64], action: &[f64], noise: &[f64], next: &mut [f64]) {
        let s = &self.spec;
        let d = s.dims;
        for i in 0..d {
            let u = action[i].clamp(-s.max_action, s.max_action);
            match s.dynamics {
                Dynamics::Velocity => {
                    next[i] = (state[i] + s.dt * u + noise[i]).clamp(-s.bound, s.bound);
                }
                Dynamics::Force => {
                    let v =
                        (state[d + i] + s.dt * u + noise[d + i]).clamp(-s.max_speed, s.max_speed);
                    next[d + i] = v;
                    next[i] = (state[i] + s.dt * v + noise[i]).clamp(-s.bound, s.bound);
                }
            }
        }
    }

    /// Squared distance from a position to the nearest target.
    #[inline]
    pub fn nearest_target_sq(&self, position: &[f64]) -> f64 {
        let d = self.spec.dims;
        self.targets
            .chunks_exact(d)
            .map(|t| {
                t.iter()
                    .zip(position)
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum::<f64>()
            })
            .fold(f64::INFINITY, f64::min)
    }

    /// The index (into `targets`) of the goal `next` lies inside, if any: the nearest target
    /// within `goal_radius`.
    pub fn goal_at(&self, next: &[f64]) -> Option<usize> {
        let (d, r) = (self.spec.dims, self.spec.reward.goal_radius);
        if r <= 0.0 {
            return None;
        }
        let dist = |t: &[f64]| -> f64 { t.iter().zip(next).map(|(a, b)| (a - b) * (a - b)).sum() };
        let (k, best) = self
            .targets
            .chunks_exact(d)
            .map(dist)
            .enumerate()
            .fold((0, f64::INFINITY), |a, b| if b.1 < a.1 { b } else { a });
        (best < r * r).then_some(k)
    }

    /// Whether `next` lies inside a goal (an absorbing, terminating transition).
    #[inline]
    pub fn terminal(&self, next: &[f64]) -> bool {
        let r = self.spec.reward.goal_radius;
        r > 0.0 && self.nearest_target_sq(&next[..self.spec.dims]) < r * r
    }

    #[inline]
    pub fn reward(&self, action: &[f64], next: &[f64]) -> f64 {
        let s = &self.spec;
        let r = &s.reward;
        let dist_sq = self.nearest_target_sq(&next[..s.dims]);
        let u_sq: f64 = action[..s.dims]
            .iter()
            .map(|a| a.clamp(-s.max_action, s.max_action).powi(2))
            .sum();
        let goal = r.goal_radius > 0.0 && dist_sq < r.goal_radius * r.goal_radius;
        -r.position_cost * dist_sq - r.action_cost * u_sq + if goal { r.goal_reward } else { 0.0 }
    }

    #[inline]
    pub fn observe(&self, state: &[f64], obs: &mut [f64]) {
        obs.copy_from_slice(&state[..self.state_dim()]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn multigoal() -> PointMass {
        PointMassSpec {
            dims: 2,
            bound: 7.0,
            reward: PointMassReward {
                action_cost: 30.0,
                targets: vec![
                    vec![5.0, 0.0],
                    vec![-5.0, 0.0],
                    vec![0.0, 5.0],
                    vec![0.0, -5.0],
                ],
                goal_radius: 1.0,
                goal_reward: 10.0,
                ..Default::default()
            },
            ..Default::default()
        }
        .validate()
        .unwrap()
    }

    #[test]
    fn multigoal_step_by_hand() {
        // softqlearning's MultiGoalEnv: clip the action, add it, clip to ±7, cost on the new position.
        let env = multigoal();
        let mut next = [0.0; 2];
        env.next_state(&[3.5, 0.5], &[2.0, -0.25], &[0.0, 0.0], &mut next);
        assert_eq!(next, [4.5, 0.25]);
        let expect = -(0.25 + 0.0625) - 30.0 * (1.0 + 0.0625) + 10.0;
        assert!((env.reward(&[2.0, -0.25], &next) - expect).abs() < 1e-12);
        assert!(env.terminal(&next));
        env.next_state(&[6.8, 0.0], &[1.0, 0.0], &[0.0, 0.0], &mut next);
        assert_eq!(next, [7.0, 0.0]);
        assert!(!env.terminal(&next));
    }

    #[test]
    fn force_dynamics_integrate_velocity_first() {
        let env = PointMassSpec {
            dynamics: Dynamics::Force,
            dt: 0.1,
            ..Default::default()
        }
        .validate()
        .unwrap();
        assert_eq!(env.state_dim(), 2);
        let mut next = [0.0; 2];
        env.next_state(&[1.0, 0.5], &[1.0], &[0.0, 0.0], &mut next);
        assert!((next[1] - 0.6).abs() < 1e-15 && (next[0] - 1.06).abs() < 1e-15);
    }

    #[test]
    fn targets_must_match_dims() {
        let mut spec = PointMassSpec::default();
        spec.reward.targets = vec![vec![1.0, 2.0]];
        assert_eq!(spec.validate().unwrap_err().key, "reward.targets[0]");
    }

    #[test]
    fn goal_at_names_the_target_reached() {
        let p = multigoal();
        assert_eq!(p.goal_at(&[5.0, 0.5]), Some(0));
        assert_eq!(p.goal_at(&[-4.2, 0.1]), Some(1));
        assert_eq!(p.goal_at(&[0.3, -5.6]), Some(3));
        assert_eq!(p.goal_at(&[2.0, 2.0]), None);
        assert_eq!(p.goal_at(&[0.0, 6.0]), None, "just outside the radius");
        assert!(p.terminal(&[0.0, 4.01]) && p.goal_at(&[0.0, 4.01]) == Some(2));
    }
}
