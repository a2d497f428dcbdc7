//! The replay buffer: a preallocated ring of flat f32 columns, sampled uniformly. `terminated`
//! and `truncated` are stored apart: only `terminated` stops bootstrapping (a time limit does
//! not end the task, so its next state's value still counts).

use candle_core::{Device, Result, Tensor};
use rand::Rng;

use crate::rng::Rng as OurRng;

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

/// A sampled minibatch as tensors: obs `[B, obs]`, action `[B, act]` (on [-1, 1]), reward,
/// terminated `[B]`.
pub struct Batch {
    pub obs: Tensor,
    pub action: Tensor,
    pub reward: Tensor,
    pub next_obs: Tensor,
    pub terminated: Tensor,
}

impl Replay {
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

    /// `batch` transitions drawn uniformly with replacement.
    pub fn sample(&self, rng: &mut OurRng, batch: usize) -> Result<Batch> {
        let (od, ad) = (self.obs_dim, self.act_dim);
        let idx: Vec<usize> = (0..batch).map(|_| rng.random_range(0..self.len)).collect();
        let gather = |col: &[f32], w: usize| -> Vec<f32> {
            idx.iter()
                .flat_map(|&i| col[i * w..(i + 1) * w].iter().copied())
                .collect()
        };
        let dev = &Device::Cpu;
        Ok(Batch {
            obs: Tensor::from_vec(gather(&self.obs, od), (batch, od), dev)?,
            action: Tensor::from_vec(gather(&self.action, ad), (batch, ad), dev)?,
            reward: Tensor::from_vec(gather(&self.reward, 1), batch, dev)?,
            next_obs: Tensor::from_vec(gather(&self.next_obs, od), (batch, od), dev)?,
            terminated: Tensor::from_vec(gather(&self.terminated, 1), batch, dev)?,
        })
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
        let b = r.sample(&mut rng, 8).unwrap();
        for (o, n) in b
            .obs
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
            .iter()
            .zip(b.next_obs.to_vec2::<f32>().unwrap())
        {
            assert_eq!(o + 1.0, n[0], "obs and next_obs stay paired");
        }
    }
}
