//! The replay buffer: a preallocated ring of flat f32 columns, sampled uniformly. `terminated`
//! and `truncated` are stored apart: only `terminated` stops bootstrapping (a time limit does
//! not end the task, so its next state's value still counts).

use rand::Rng;

use crate::rng::Rng as OurRng;

/// A replay minibatch in flat rows: obs `[B, obs]`, action `[B, act]` (on [-1, 1]), reward,
/// next obs and terminated `[B]` (1.0 where the episode terminated: no bootstrap).
pub struct Batch<'a> {
    pub obs: &'a [f32],
    pub action: &'a [f32],
    pub reward: &'a [f32],
    pub next_obs: &'a [f32],
    pub terminated: &'a [f32],
}

#[derive(Debug, Clone, PartialEq)]
pub struct Replay {
    pub capacity: usize,
    pub obs_dim: usize,
    pub act_dim: usize,
    /// Transitions held (≤ capacity).
    pub len: usize,
    /// Where the next transition goes.
    pub pos: usize,
    pub obs: Vec<f32>,
    pub action: Vec<f32>,
    pub reward: Vec<f32>,
    pub next_obs: Vec<f32>,
    pub terminated: Vec<f32>,
    pub truncated: Vec<f32>,
}

/// A sampled minibatch, owning its rows (see [`Batch`]). Reused between samples.
#[derive(Debug, Clone, Default)]
pub struct Sampled {
    pub obs: Vec<f32>,
    pub action: Vec<f32>,
    pub reward: Vec<f32>,
    pub next_obs: Vec<f32>,
    pub terminated: Vec<f32>,
}

impl Sampled {
    pub fn batch(&self) -> Batch<'_> {
        Batch {
            obs: &self.obs,
            action: &self.action,
            reward: &self.reward,
            next_obs: &self.next_obs,
            terminated: &self.terminated,
        }
    }
}

impl Replay {
    /// The bytes a buffer of `capacity` transitions holds (in floating point: no overflow).
    pub fn bytes(capacity: usize, obs_dim: usize, act_dim: usize) -> f64 {
        4.0 * capacity as f64 * (2 * obs_dim + act_dim + 3) as f64
    }

    pub fn new(capacity: usize, obs_dim: usize, act_dim: usize) -> Self {
        Replay {
            capacity,
            obs_dim,
            act_dim,
            len: 0,
            pos: 0,
            obs: vec![0.0; capacity * obs_dim],
            action: vec![0.0; capacity * act_dim],
            reward: vec![0.0; capacity],
            next_obs: vec![0.0; capacity * obs_dim],
            terminated: vec![0.0; capacity],
            truncated: vec![0.0; capacity],
        }
    }

    pub fn push(
        &mut self,
        obs: &[f64],
        action: &[f32],
        reward: f64,
        next_obs: &[f64],
        terminated: bool,
        truncated: bool,
    ) {
        let (i, od, ad) = (self.pos, self.obs_dim, self.act_dim);
        for (dst, src) in self.obs[i * od..(i + 1) * od].iter_mut().zip(obs) {
            *dst = *src as f32;
        }
        for (dst, src) in self.next_obs[i * od..(i + 1) * od].iter_mut().zip(next_obs) {
            *dst = *src as f32;
        }
        self.action[i * ad..(i + 1) * ad].copy_from_slice(action);
        self.reward[i] = reward as f32;
        self.terminated[i] = terminated as u8 as f32;
        self.truncated[i] = truncated as u8 as f32;
        self.pos = (self.pos + 1) % self.capacity;
        self.len = (self.len + 1).min(self.capacity);
    }

    /// `batch` transitions drawn uniformly with replacement, into `out`.
    pub fn sample(&self, rng: &mut OurRng, batch: usize, out: &mut Sampled) {
        let (od, ad) = (self.obs_dim, self.act_dim);
        for v in [
            &mut out.obs,
            &mut out.action,
            &mut out.reward,
            &mut out.next_obs,
            &mut out.terminated,
        ] {
            v.clear();
        }
        for _ in 0..batch {
            let i = rng.random_range(0..self.len);
            out.obs.extend_from_slice(&self.obs[i * od..(i + 1) * od]);
            out.action
                .extend_from_slice(&self.action[i * ad..(i + 1) * ad]);
            out.reward.push(self.reward[i]);
            out.next_obs
                .extend_from_slice(&self.next_obs[i * od..(i + 1) * od]);
            out.terminated.push(self.terminated[i]);
        }
    }

    /// The filled part of each column, for saving: `(name, data, row width)`.
    pub fn columns(&self) -> [(&'static str, &[f32], usize); 6] {
        let (n, od, ad) = (self.len, self.obs_dim, self.act_dim);
        [
            ("obs", &self.obs[..n * od], od),
            ("action", &self.action[..n * ad], ad),
            ("reward", &self.reward[..n], 1),
            ("next_obs", &self.next_obs[..n * od], od),
            ("terminated", &self.terminated[..n], 1),
            ("truncated", &self.truncated[..n], 1),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_overwrites_the_oldest_and_keeps_flags_apart() {
        let mut r = Replay::new(3, 1, 1);
        for i in 0..5 {
            r.push(
                &[i as f64],
                &[0.5],
                i as f64,
                &[i as f64 + 1.0],
                i == 1,
                i == 4,
            );
        }
        assert_eq!((r.len, r.pos), (3, 2));
        assert_eq!(r.reward, [3.0, 4.0, 2.0]);
        assert_eq!(r.terminated, [0.0, 0.0, 0.0]);
        assert_eq!(r.truncated, [0.0, 1.0, 0.0]);
        let mut rng = crate::rng::seeded(0);
        let mut b = Sampled::default();
        r.sample(&mut rng, 8, &mut b);
        assert_eq!(b.obs.len(), 8);
        for (o, n) in b.obs.iter().zip(&b.next_obs) {
            assert_eq!(o + 1.0, *n, "obs and next_obs stay paired");
        }
    }
}
