//! The tabular MDP: for every state-action pair, its expected reward, the probability that the
//! transition is absorbing (terminated: value 0 from then on), and a sparse row of next-state
//! probabilities over grid nodes (CSR). Built from an environment's model by evaluating it at the
//! grid nodes and action midpoints, Gauss–Hermite nodes for the noise, and multilinear
//! interpolation of off-grid next states (DESIGN §2).

use rayon::prelude::*;

use super::grid::{ActionGrid, StateGrid};
use super::hermite::gaussian_nodes;
use crate::env::{Env, MAX_STATE_DIM};

/// A finite MDP with continuous-action bookkeeping: each action stands for a cell of measure
/// `exp(log_cell)`.
#[derive(Debug, Clone, PartialEq)]
pub struct TabularMdp {
    pub n_states: usize,
    pub n_actions: usize,
    /// Expected reward of pair `s·n_actions + a`.
    pub reward: Vec<f64>,
    /// Probability that the transition of a pair is terminal.
    pub terminal: Vec<f64>,
    /// Row `k`'s entries are `next[offsets[k]..offsets[k+1]]` with `prob[..]`; a row's
    /// probabilities plus its terminal probability sum to 1.
    pub offsets: Vec<usize>,
    pub next: Vec<u32>,
    pub prob: Vec<f64>,
    /// `log Π Δa`, the log-measure of one action cell (0 for a discrete action set).
    pub log_cell: f64,
}

impl TabularMdp {
    /// The entries of pair `k = s·n_actions + a`.
    #[inline]
    pub fn row(&self, k: usize) -> (&[u32], &[f64]) {
        let r = self.offsets[k]..self.offsets[k + 1];
        (&self.next[r.clone()], &self.prob[r])
    }

    /// Memory held by the table, in bytes.
    pub fn bytes(&self) -> usize {
        self.reward.len() * 16 + self.offsets.len() * 8 + self.next.len() * 12
    }

    /// Discretizes `env` at every grid node (DESIGN §2).
    pub fn from_env(
        env: &Env,
        grid: &StateGrid,
        actions: &ActionGrid,
        noise_nodes: usize,
    ) -> TabularMdp {
        let disc = Discretizer::new(env, grid, actions, noise_nodes);
        let nodes: Vec<usize> = (0..grid.len()).collect();
        let rows: Vec<Rows> = nodes
            .par_chunks(256)
            .map(|chunk| {
                let mut rows = Rows::default();
                let mut s = [0.0; MAX_STATE_DIM];
                for &i in chunk {
                    grid.node(i, &mut s);
                    disc.push_state(&s[..grid.dim()], &mut rows);
                }
                rows
            })
            .collect();
        TabularMdp::from_rows(rows, actions)
    }

    /// The rows of arbitrary states (their next-state entries index the grid).
    pub fn from_rows(rows: Vec<Rows>, actions: &ActionGrid) -> TabularMdp {
        let pairs: usize = rows.iter().map(|r| r.reward.len()).sum();
        let entries: usize = rows.iter().map(|r| r.next.len()).sum();
        let mut mdp = TabularMdp {
            n_states: pairs / actions.len(),
            n_actions: actions.len(),
            reward: Vec::with_capacity(pairs),
            terminal: Vec::with_capacity(pairs),
            offsets: Vec::with_capacity(pairs + 1),
            next: Vec::with_capacity(entries),
            prob: Vec::with_capacity(entries),
            log_cell: actions.log_cell_volume(),
        };
        mdp.offsets.push(0);
        for r in rows {
            mdp.reward.extend(r.reward);
            mdp.terminal.extend(r.terminal);
            mdp.next.extend(r.next);
            mdp.prob.extend(r.prob);
            for len in r.lens {
                let last = *mdp.offsets.last().unwrap();
                mdp.offsets.push(last + len);
            }
        }
        mdp
    }
}

/// Evaluates an environment's model at a state for every action cell and noise node.
pub struct Discretizer<'a> {
    env: &'a Env,
    grid: &'a StateGrid,
    /// Action midpoints, `action_dim` numbers each.
    actions: Vec<f64>,
    action_dim: usize,
    /// Every combination of per-dimension Gauss–Hermite nodes: noise vector and probability.
    noise: Vec<([f64; MAX_STATE_DIM], f64)>,
}

impl<'a> Discretizer<'a> {
    pub fn new(
        env: &'a Env,
        grid: &'a StateGrid,
        actions: &ActionGrid,
        noise_nodes: usize,
    ) -> Self {
        let d = grid.dim();
        let std = env.noise_std();
        let (offs, probs) = if std > 0.0 {
            gaussian_nodes(noise_nodes, std)
        } else {
            (vec![0.0], vec![1.0])
        };
        let noise = (0..offs.len().pow(d as u32))
            .map(|c| {
                let (mut w, mut p, mut rest) = ([0.0; MAX_STATE_DIM], 1.0, c);
                for w in w.iter_mut().take(d) {
                    *w = offs[rest % offs.len()];
                    p *= probs[rest % offs.len()];
                    rest /= offs.len();
                }
                (w, p)
            })
            .collect();
        Discretizer {
            env,
            grid,
            actions: actions.all(),
            action_dim: actions.dim(),
            noise,
        }
    }

    /// Appends the rows of state `s` (one per action) to `rows`.
    pub fn push_state(&self, s: &[f64], rows: &mut Rows) {
        let d = s.len();
        let mut next = [0.0; MAX_STATE_DIM];
        let mut entries: Vec<(u32, f64)> = Vec::new();
        for a in self.actions.chunks_exact(self.action_dim) {
            let (mut reward, mut terminal) = (0.0, 0.0);
            for (noise, p) in &self.noise {
                self.env.next_state(s, a, &noise[..d], &mut next[..d]);
                reward += p * self.env.reward(s, a, &next[..d]);
                if self.env.terminal(&next[..d]) {
                    terminal += p;
                } else {
                    self.grid
                        .interpolate(&next[..d], |i, w| entries.push((i as u32, p * w)));
                }
            }
            entries.sort_unstable_by_key(|e| e.0);
            let start = rows.next.len();
            for &(i, p) in &entries {
                if rows.next.len() > start && rows.next.last() == Some(&i) {
                    *rows.prob.last_mut().expect("an entry was pushed") += p;
                } else {
                    rows.next.push(i);
                    rows.prob.push(p);
                }
            }
            entries.clear();
            rows.lens.push(rows.next.len() - start);
            rows.reward.push(reward);
            rows.terminal.push(terminal);
        }
    }
}

/// Rows of consecutive states, in the layout of [`TabularMdp`].
#[derive(Debug, Default)]
pub struct Rows {
    reward: Vec<f64>,
    terminal: Vec<f64>,
    lens: Vec<usize>,
    next: Vec<u32>,
    prob: Vec<f64>,
}
