//! The grids of DESIGN §2.
//!
//! States: a bounded dimension with N nodes has them evenly from `lo` to `hi`, both included; a
//! periodic one (period `hi − lo`) has N nodes at `lo + (hi − lo)·i/N` and wraps. A point between
//! nodes is spread over the 2^d surrounding nodes by multilinear interpolation weights; points
//! outside a bounded dimension are clipped to it.
//!
//! Actions: K cells per dimension, actions at the cell midpoints, `Δa = width/K`, so that
//! `Σ_k f(a_k)·Π Δa` approximates `∫_A f(a) da` (the midpoint rule).

use crate::env::{Interval, StateAxis};

/// A regular grid over the state box, flattened row-major (the last dimension varies fastest).
#[derive(Debug, Clone, PartialEq)]
pub struct StateGrid {
    axes: Vec<StateAxis>,
    nodes: Vec<usize>,
    spacing: Vec<f64>,
    strides: Vec<usize>,
}

impl StateGrid {
    /// `nodes[i] ≥ 2` (≥ 3 if periodic), checked by the config.
    pub fn new(axes: Vec<StateAxis>, nodes: Vec<usize>) -> Self {
        assert_eq!(axes.len(), nodes.len());
        let spacing = axes
            .iter()
            .zip(&nodes)
            .map(|(a, &n)| (a.hi - a.lo) / if a.periodic { n } else { n - 1 } as f64)
            .collect();
        let mut strides = vec![1; nodes.len()];
        for i in (0..nodes.len().saturating_sub(1)).rev() {
            strides[i] = strides[i + 1] * nodes[i + 1];
        }
        StateGrid {
            axes,
            nodes,
            spacing,
            strides,
        }
    }

    pub fn axes(&self) -> &[StateAxis] {
        &self.axes
    }

    pub fn nodes(&self) -> &[usize] {
        &self.nodes
    }

    pub fn dim(&self) -> usize {
        self.nodes.len()
    }

    /// Number of grid nodes.
    pub fn len(&self) -> usize {
        self.nodes.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Coordinate of node `j` along dimension `i`.
    pub fn coordinate(&self, i: usize, j: usize) -> f64 {
        self.axes[i].lo + self.spacing[i] * j as f64
    }

    /// The coordinates of the node with flat index `index`.
    pub fn node(&self, index: usize, out: &mut [f64]) {
        for (i, o) in out.iter_mut().enumerate().take(self.dim()) {
            let j = (index / self.strides[i]) % self.nodes[i];
            *o = self.coordinate(i, j);
        }
    }

    /// Calls `f(node, weight)` for each surrounding node of `x` with a nonzero multilinear
    /// weight; the weights sum to 1.
    #[inline]
    pub fn interpolate(&self, x: &[f64], mut f: impl FnMut(usize, f64)) {
        const MAX: usize = crate::env::MAX_STATE_DIM;
        let d = self.dim();
        let mut base = [0usize; MAX];
        let mut up = [0usize; MAX]; // index offset of the upper neighbour, in strides
        let mut frac = [0.0f64; MAX];
        for i in 0..d {
            let (axis, n) = (&self.axes[i], self.nodes[i]);
            let (j, w, next) = if axis.periodic {
                let t = ((x[i] - axis.lo) / self.spacing[i]).rem_euclid(n as f64);
                let j = (t.floor() as usize).min(n - 1);
                (j, (t - j as f64).clamp(0.0, 1.0), (j + 1) % n)
            } else {
                let t = (x[i].clamp(axis.lo, axis.hi) - axis.lo) / self.spacing[i];
                let j = (t.floor() as usize).min(n - 2);
                (j, (t - j as f64).clamp(0.0, 1.0), j + 1)
            };
            base[i] = j * self.strides[i];
            up[i] = next * self.strides[i];
            frac[i] = w;
        }
        for corner in 0..(1usize << d) {
            let mut weight = 1.0;
            let mut index = 0;
            for i in 0..d {
                if corner >> i & 1 == 1 {
                    weight *= frac[i];
                    index += up[i];
                } else {
                    weight *= 1.0 - frac[i];
                    index += base[i];
                }
            }
            if weight > 0.0 {
                f(index, weight);
            }
        }
    }

    /// The multilinear interpolant of `values` (one per node) at `x`.
    pub fn value_at(&self, values: &[f64], x: &[f64]) -> f64 {
        let mut v = 0.0;
        self.interpolate(x, |i, w| v += w * values[i]);
        v
    }
}

/// Midpoint cells over the action box.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionGrid {
    bounds: Vec<Interval>,
    cells: Vec<usize>,
}

impl ActionGrid {
    pub fn new(bounds: Vec<Interval>, cells: Vec<usize>) -> Self {
        assert_eq!(bounds.len(), cells.len());
        ActionGrid { bounds, cells }
    }

    pub fn dim(&self) -> usize {
        self.cells.len()
    }

    pub fn cells(&self) -> &[usize] {
        &self.cells
    }

    /// Number of actions (cells).
    pub fn len(&self) -> usize {
        self.cells.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Width of a cell along dimension `i`.
    pub fn delta(&self, i: usize) -> f64 {
        self.bounds[i].width() / self.cells[i] as f64
    }

    /// `log Π Δa`: the log-measure of one cell.
    pub fn log_cell_volume(&self) -> f64 {
        (0..self.dim()).map(|i| self.delta(i).ln()).sum()
    }

    /// The midpoint of cell `index` (row-major, the last dimension fastest).
    pub fn action(&self, index: usize, out: &mut [f64]) {
        let mut rest = index;
        for i in (0..self.dim()).rev() {
            let k = rest % self.cells[i];
            rest /= self.cells[i];
            out[i] = self.bounds[i].lo + (k as f64 + 0.5) * self.delta(i);
        }
    }

    /// The cell holding an env action (row-major; actions on or beyond an edge go to the edge's
    /// cell).
    pub fn cell_of(&self, action: &[f64]) -> usize {
        (0..self.dim()).fold(0, |index, i| {
            let k = ((action[i] - self.bounds[i].lo) / self.delta(i)).floor();
            index * self.cells[i] + (k.max(0.0) as usize).min(self.cells[i] - 1)
        })
    }

    /// Every action's midpoint, `dim` numbers each.
    pub fn all(&self) -> Vec<f64> {
        let d = self.dim();
        let mut out = vec![0.0; self.len() * d];
        for (k, a) in out.chunks_exact_mut(d).enumerate() {
            self.action(k, a);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::PI;

    #[test]
    fn every_midpoint_lies_in_its_own_cell_and_edges_clamp() {
        let g = ActionGrid::new(
            vec![
                Interval { lo: -2.0, hi: 2.0 },
                Interval { lo: 0.0, hi: 1.0 },
            ],
            vec![4, 3],
        );
        let mut a = [0.0; 2];
        for k in 0..g.len() {
            g.action(k, &mut a);
            assert_eq!(g.cell_of(&a), k);
        }
        assert_eq!(g.cell_of(&[-2.0, 0.0]), 0);
        assert_eq!(g.cell_of(&[2.0, 1.0]), 11);
        assert_eq!(g.cell_of(&[-9.0, 0.5]), 1);
        assert_eq!(g.cell_of(&[-1.0, 0.34]), 4);
    }

    #[test]
    fn bounded_nodes_include_both_ends_and_periodic_ones_wrap() {
        let g = StateGrid::new(
            vec![StateAxis::periodic(-PI, PI), StateAxis::bounded(-8.0, 8.0)],
            vec![4, 5],
        );
        assert_eq!(g.len(), 20);
        let mut x = [0.0; 2];
        g.node(19, &mut x);
        assert_eq!(x, [-PI + 3.0 * PI / 2.0, 8.0]);
        // Between the last θ node and the first (wrapped), a quarter of the way; θ̇ beyond 8 clips.
        let mut w = Vec::new();
        g.interpolate(&[-PI + 3.5 * PI / 2.0 - 0.25 * PI / 2.0, 100.0], |i, wt| {
            w.push((i, wt))
        });
        w.sort_by_key(|p| p.0);
        assert_eq!(w.len(), 2);
        assert_eq!((w[0].0, w[1].0), (4, 19));
        assert!((w[0].1 - 0.25).abs() < 1e-12 && (w[1].1 - 0.75).abs() < 1e-12);
    }

    #[test]
    fn interpolation_is_exact_for_multilinear_functions() {
        let g = StateGrid::new(
            vec![StateAxis::bounded(-1.0, 2.0), StateAxis::bounded(0.0, 1.0)],
            vec![7, 3],
        );
        let f = |x: &[f64]| 1.0 + 2.0 * x[0] - x[1] + 0.5 * x[0] * x[1];
        let mut values = vec![0.0; g.len()];
        let mut x = [0.0; 2];
        for (i, v) in values.iter_mut().enumerate() {
            g.node(i, &mut x);
            *v = f(&x);
        }
        for p in [[0.3, 0.77], [-0.99, 0.01], [1.9, 0.5]] {
            assert!((g.value_at(&values, &p) - f(&p)).abs() < 1e-12);
        }
    }

    #[test]
    fn action_cells_are_midpoints() {
        let a = ActionGrid::new(
            vec![Interval::symmetric(2.0), Interval::symmetric(1.0)],
            vec![4, 2],
        );
        let mut x = [0.0; 2];
        a.action(0, &mut x);
        assert_eq!(x, [-1.5, -0.5]);
        a.action(7, &mut x);
        assert_eq!(x, [1.5, 0.5]);
        assert!((a.log_cell_volume() - (1.0f64 * 1.0).ln()).abs() < 1e-15);
    }
}
