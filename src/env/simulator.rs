//! One running episode of an [`Env`], stepped the way Gymnasium steps it (with a `TimeLimit`).

use rand::Rng;
use rand_distr::StandardNormal;

use super::{Env, MAX_STATE_DIM};

/// What one step returns besides the observation. `terminated` means the next state is
/// absorbing (its value is 0); `truncated` means the time limit cut the episode and the next
/// state's value still counts. Both can be true; learning must look at `terminated` alone.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transition {
    pub reward: f64,
    pub terminated: bool,
    pub truncated: bool,
}

/// An environment with a current state and step counter.
#[derive(Debug, Clone)]
pub struct Simulator {
    env: Env,
    state: [f64; MAX_STATE_DIM],
    steps: usize,
    noisy: bool,
}

impl Simulator {
    pub fn new(env: Env) -> Self {
        let noisy = env.noise_std() > 0.0;
        Simulator {
            env,
            state: [0.0; MAX_STATE_DIM],
            steps: 0,
            noisy,
        }
    }

    pub fn env(&self) -> &Env {
        &self.env
    }

    /// The true state (not the observation).
    pub fn state(&self) -> &[f64] {
        &self.state[..self.env.state_dim()]
    }

    /// Steps taken since the last reset.
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// Starts an episode from a random initial state and writes its observation.
    pub fn reset(&mut self, rng: &mut impl Rng, obs: &mut [f64]) {
        self.env.reset(rng, &mut self.state);
        self.start(obs);
    }

    /// Starts an episode from a given state (`state.len()` must be the state dimension).
    pub fn reset_to(&mut self, state: &[f64], obs: &mut [f64]) {
        self.state[..state.len()].copy_from_slice(state);
        self.start(obs);
    }

    /// Puts the simulator back into a saved mid-episode state (`steps` already taken).
    pub fn restore(&mut self, state: &[f64], steps: usize, obs: &mut [f64]) {
        self.reset_to(state, obs);
        self.steps = steps;
    }

    fn start(&mut self, obs: &mut [f64]) {
        self.steps = 0;
        let (n, m) = (self.env.state_dim(), self.env.obs_dim());
        self.env.observe(&self.state[..n], &mut obs[..m]);
    }

    /// Applies `action` (clipped by the env), draws the transition noise if any, and writes the
    /// next observation.
    #[inline]
    pub fn step(&mut self, action: &[f64], rng: &mut impl Rng, obs: &mut [f64]) -> Transition {
        let n = self.env.state_dim();
        let mut noise = [0.0; MAX_STATE_DIM];
        if self.noisy {
            let std = self.env.noise_std();
            for w in &mut noise[..n] {
                *w = std * rng.sample::<f64, _>(StandardNormal);
            }
        }
        let mut next = [0.0; MAX_STATE_DIM];
        let from_reset = self.steps == 0;
        let (reward, terminated) = self.env.transition(
            &self.state[..n],
            action,
            &noise[..n],
            from_reset,
            &mut next[..n],
        );
        self.state = next;
        self.steps += 1;
        self.env.observe(&self.state[..n], obs);
        Transition {
            reward,
            terminated,
            truncated: self.steps >= self.env.episode_steps(),
        }
    }
}
