//! The tabular MDP (DESIGN §2). For every state-action pair: its expected reward and its
//! *outcomes* — one per draw of the transition noise (a Gauss–Hermite node combination, or the one
//! next state of deterministic dynamics), each with its probability and either the grid nodes
//! that interpolate its next state (multilinear weights) or none, when the transition is
//! terminal (absorbing: value 0 from then on).
//!
//! Keeping outcomes apart from interpolation matters for the `inference` backup: its optimism
//! (`α·log E exp(V'/α)`) is over the real noise only, while an off-grid next state's value is the
//! interpolant `Σ w·V(node)`. Merging both into one distribution would make interpolation look
//! like noise, and the two backups would differ even on deterministic dynamics.

use rayon::prelude::*;

use super::grid::{ActionGrid, StateGrid};
use super::hermite::gaussian_nodes;
use crate::env::{Env, MAX_STATE_DIM};

/// A finite MDP with continuous-action bookkeeping: each action stands for a cell of measure
/// `exp(log_cell)`. Pair `k = s·n_actions + a`; its outcomes are
/// `pair_start[k]..pair_start[k+1]`; outcome `o` has probability `outcome_prob[o]` and the nodes
/// `next[outcome_start[o]..outcome_start[o+1]]` with weights `weight[..]` summing to 1 (an empty
/// range is a terminal outcome).
#[derive(Debug, Clone, PartialEq)]
pub struct TabularMdp {
    pub n_states: usize,
    pub n_actions: usize,
    pub reward: Vec<f64>,
    pub pair_start: Vec<u32>,
    pub outcome_prob: Vec<f64>,
    pub outcome_start: Vec<u32>,
    pub next: Vec<u32>,
    pub weight: Vec<f64>,
    /// `log Π Δa`, the log-measure of one action cell (0 for a discrete action set).
    pub log_cell: f64,
}

/// One outcome of a pair: its probability and interpolation nodes (none: terminal).
pub struct Outcome<'a> {
    pub prob: f64,
    pub next: &'a [u32],
    pub weight: &'a [f64],
}

impl Outcome<'_> {
    /// The interpolated value of the next state (0 if terminal).
    #[inline]
    pub fn value(&self, v: &[f64]) -> f64 {
        self.next
            .iter()
            .zip(self.weight)
            .map(|(&j, w)| w * v[j as usize])
            .sum()
    }
}

impl TabularMdp {
    /// An empty MDP to fill with [`TabularMdp::push_pair`], pairs in order.
    pub fn new(n_actions: usize, log_cell: f64) -> Self {
        TabularMdp {
            n_states: 0,
            n_actions,
            reward: Vec::new(),
            pair_start: vec![0],
            outcome_prob: Vec::new(),
            outcome_start: vec![0],
            next: Vec::new(),
            weight: Vec::new(),
            log_cell,
        }
    }

    /// Appends the next pair: its expected reward and outcomes `(probability, [(node, weight)])`,
    /// an empty node list meaning terminal.
    pub fn push_pair<'a>(
        &mut self,
        reward: f64,
        outcomes: impl IntoIterator<Item = (f64, &'a [(u32, f64)])>,
    ) {
        self.reward.push(reward);
        for (p, nodes) in outcomes {
            self.outcome_prob.push(p);
            for &(j, w) in nodes {
                self.next.push(j);
                self.weight.push(w);
            }
            self.outcome_start.push(to_u32(self.next.len()));
        }
        self.pair_start.push(to_u32(self.outcome_prob.len()));
        self.n_states = self.reward.len() / self.n_actions;
    }

    /// The outcomes of pair `k`.
    #[inline]
    pub fn outcomes(&self, k: usize) -> impl Iterator<Item = Outcome<'_>> {
        (self.pair_start[k] as usize..self.pair_start[k + 1] as usize).map(move |o| {
            let r = self.outcome_start[o] as usize..self.outcome_start[o + 1] as usize;
            Outcome {
                prob: self.outcome_prob[o],
                next: &self.next[r.clone()],
                weight: &self.weight[r],
            }
        })
    }

    /// Memory held by the table, in bytes.
    pub fn bytes(&self) -> usize {
        self.reward.len() * 12 + self.outcome_prob.len() * 12 + self.next.len() * 12
    }

    /// Before building: at most how many `(node, weight)` entries the table of a grid with
    /// `states` nodes in `dim` dimensions, `actions` cells and `outcomes` noise outcomes a pair
    /// holds (each outcome spreads over at most its cell's 2^dim corners), and about the peak
    /// bytes of building and solving it (1.5× the table, as measured on the pendulum, plus the
    /// solver's vectors over states). In floating point, so that absurd grids cannot overflow.
    pub fn size_bound(states: f64, dim: usize, actions: f64, outcomes: f64) -> (f64, f64) {
        let pairs = states * actions;
        let entries = pairs * outcomes * 2f64.powi(dim as i32);
        let table = 12.0 * (pairs + pairs * outcomes + entries);
        (entries, 1.5 * table + 80.0 * states)
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
        let parts: Vec<TabularMdp> = nodes
            .par_chunks(256)
            .map(|chunk| {
                let mut part = TabularMdp::new(actions.len(), actions.log_cell_volume());
                let mut s = [0.0; MAX_STATE_DIM];
                for &i in chunk {
                    grid.node(i, &mut s);
                    disc.push_state(&s[..grid.dim()], &mut part);
                }
                part
            })
            .collect();
        let mut mdp = TabularMdp::new(actions.len(), actions.log_cell_volume());
        let total = |f: fn(&TabularMdp) -> usize| parts.iter().map(f).sum::<usize>();
        mdp.reward.reserve_exact(total(|p| p.reward.len()));
        mdp.outcome_prob
            .reserve_exact(total(|p| p.outcome_prob.len()));
        mdp.next.reserve_exact(total(|p| p.next.len()));
        mdp.weight.reserve_exact(total(|p| p.next.len()));
        for part in parts {
            mdp.append(part);
        }
        mdp
    }

    fn append(&mut self, part: TabularMdp) {
        let (o0, e0) = (to_u32(self.outcome_prob.len()), to_u32(self.next.len()));
        self.reward.extend(part.reward);
        self.outcome_prob.extend(part.outcome_prob);
        self.next.extend(part.next);
        self.weight.extend(part.weight);
        self.pair_start
            .extend(part.pair_start[1..].iter().map(|o| o + o0));
        self.outcome_start
            .extend(part.outcome_start[1..].iter().map(|e| e + e0));
        self.n_states = self.reward.len() / self.n_actions;
    }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n)
        .expect("a transition table with more than 4 billion entries: use a coarser grid")
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

    /// Appends the pairs of state `s` (one per action cell) to `mdp`. Terminal outcomes of a pair
    /// are merged into one.
    pub fn push_state(&self, s: &[f64], mdp: &mut TabularMdp) {
        self.push_state_actions(s, &self.actions, mdp);
    }

    /// Appends the pairs of state `s` with the given actions (`action_dim` numbers each, env
    /// units) to `mdp`.
    pub fn push_state_actions(&self, s: &[f64], actions: &[f64], mdp: &mut TabularMdp) {
        let d = s.len();
        let mut next = [0.0; MAX_STATE_DIM];
        let mut nodes: Vec<(u32, f64)> = Vec::new();
        let mut spans: Vec<(f64, usize, usize)> = Vec::new();
        for a in actions.chunks_exact(self.action_dim) {
            let (mut reward, mut terminal) = (0.0, 0.0);
            nodes.clear();
            spans.clear();
            for (noise, p) in &self.noise {
                let (r, terminal_next) =
                    self.env
                        .transition(s, a, &noise[..d], false, &mut next[..d]);
                reward += p * r;
                if terminal_next {
                    terminal += p;
                } else {
                    let start = nodes.len();
                    self.grid
                        .interpolate(&next[..d], |i, w| nodes.push((i as u32, w)));
                    spans.push((*p, start, nodes.len()));
                }
            }
            let terminal_outcome = (terminal > 0.0).then_some((terminal, &[][..]));
            let outcomes = spans
                .iter()
                .map(|&(p, a, b)| (p, &nodes[a..b]))
                .chain(terminal_outcome);
            mdp.push_pair(reward, outcomes);
        }
    }
}
