//! Sparse linear systems `(I − J)·x = b` with `J ≥ 0` and row sums ≤ γ < 1: the Newton step of
//! soft value iteration and exact soft policy evaluation. Solved by BiCGSTAB (van der Vorst,
//! SIAM J. Sci. Stat. Comput. 13(2), 1992) with a Jacobi preconditioner.

use rayon::prelude::*;

/// A square sparse matrix in CSR form.
#[derive(Debug, Clone, Default)]
pub struct Sparse {
    pub offsets: Vec<usize>,
    pub cols: Vec<u32>,
    pub vals: Vec<f64>,
}

impl Sparse {
    pub fn rows(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Assembles consecutive blocks of rows.
    pub fn from_blocks(blocks: Vec<Rows>) -> Sparse {
        let mut m = Sparse {
            offsets: vec![0],
            ..Default::default()
        };
        for b in blocks {
            for len in b.lens {
                let last = *m.offsets.last().unwrap();
                m.offsets.push(last + len);
            }
            m.cols.extend(b.cols);
            m.vals.extend(b.vals);
        }
        m
    }

    /// `y = x − J·x`.
    fn apply_i_minus(&self, x: &[f64], y: &mut [f64]) {
        y.par_chunks_mut(1024).enumerate().for_each(|(c, ys)| {
            for (i, y) in ys.iter_mut().enumerate() {
                let row = c * 1024 + i;
                let r = self.offsets[row]..self.offsets[row + 1];
                let jx: f64 = self.cols[r.clone()]
                    .iter()
                    .zip(&self.vals[r])
                    .map(|(&j, v)| v * x[j as usize])
                    .sum();
                *y = x[row] - jx;
            }
        });
    }

    fn diagonal_of_i_minus(&self) -> Vec<f64> {
        (0..self.rows())
            .map(|row| {
                let r = self.offsets[row]..self.offsets[row + 1];
                let jii: f64 = self.cols[r.clone()]
                    .iter()
                    .zip(&self.vals[r])
                    .filter(|(j, _)| **j as usize == row)
                    .map(|(_, v)| v)
                    .sum();
                1.0 - jii
            })
            .collect()
    }
}

/// Sparse rows built one at a time: entries of the current row accumulate in a dense scratch row
/// (so repeated columns add up), and [`Rows::finish_row`] moves them out.
#[derive(Debug, Clone, Default)]
pub struct Rows {
    dense: Vec<f64>,
    touched: Vec<u32>,
    lens: Vec<usize>,
    cols: Vec<u32>,
    vals: Vec<f64>,
}

impl Rows {
    /// Rows over `n` columns.
    pub fn new(n: usize) -> Self {
        Rows {
            dense: vec![0.0; n],
            ..Default::default()
        }
    }

    #[inline]
    pub fn add(&mut self, col: u32, value: f64) {
        let d = &mut self.dense[col as usize];
        if *d == 0.0 {
            self.touched.push(col);
        }
        *d += value;
    }

    pub fn finish_row(&mut self) {
        self.lens.push(self.touched.len());
        for &j in &self.touched {
            self.cols.push(j);
            self.vals.push(self.dense[j as usize]);
            self.dense[j as usize] = 0.0;
        }
        self.touched.clear();
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn norm_inf(a: &[f64]) -> f64 {
    a.iter().fold(0.0f64, |m, x| m.max(x.abs()))
}

/// How a linear solve ended: iterations taken and the true residual `‖b − (I − J)x‖∞` of the
/// returned x.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinearSolve {
    pub iterations: usize,
    pub residual: f64,
    pub converged: bool,
}

/// Solves `(I − J)·x = b` from the initial guess in `x` until `‖b − (I − J)x‖∞ ≤ tol` or
/// `max_iter` iterations in all. BiCGSTAB updates its residual recursively, which drifts from
/// the true one; when the recursion says done but the true residual is above `tol` (or the
/// method breaks down), it restarts from the true residual.
pub fn solve_i_minus(
    j: &Sparse,
    b: &[f64],
    x: &mut [f64],
    tol: f64,
    max_iter: usize,
) -> LinearSolve {
    let n = b.len();
    let inv_diag: Vec<f64> = j.diagonal_of_i_minus().iter().map(|d| 1.0 / d).collect();
    let mut r = vec![0.0; n];
    let true_residual = |x: &[f64], r: &mut [f64]| {
        j.apply_i_minus(x, r);
        for (r, b) in r.iter_mut().zip(b) {
            *r = b - *r;
        }
        norm_inf(r)
    };
    let mut iterations = 0;
    let mut residual = true_residual(x, &mut r);
    while residual > tol && iterations < max_iter {
        let taken = bicgstab(j, &inv_diag, &mut r, x, tol, max_iter - iterations);
        let stalled = taken == 0;
        iterations += taken;
        let previous = residual;
        residual = true_residual(x, &mut r);
        if stalled || residual >= previous {
            break; // a whole cycle without progress: more of the same will not help
        }
    }
    LinearSolve {
        iterations,
        residual,
        converged: residual <= tol,
    }
}

/// BiCGSTAB (Jacobi-preconditioned) from `x` with its residual `r = b − (I − J)x`, until the
/// recursive residual is `≤ tol`, a breakdown, or `max_iter`; returns the iterations taken.
fn bicgstab(
    j: &Sparse,
    inv_diag: &[f64],
    r: &mut [f64],
    x: &mut [f64],
    tol: f64,
    max_iter: usize,
) -> usize {
    let n = r.len();
    let precondition = |v: &[f64], out: &mut [f64]| {
        for ((o, v), d) in out.iter_mut().zip(v).zip(inv_diag) {
            *o = v * d;
        }
    };
    let r_hat = r.to_vec();
    let (mut rho, mut alpha, mut omega) = (1.0, 1.0, 1.0);
    let (mut v, mut p) = (vec![0.0; n], vec![0.0; n]);
    let (mut y, mut s, mut z, mut t) = (vec![0.0; n], vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    for it in 1..=max_iter {
        let rho_new = dot(&r_hat, r);
        if rho_new == 0.0 || omega == 0.0 {
            return it - 1; // breakdown: keep the iterate so far
        }
        let beta = (rho_new / rho) * (alpha / omega);
        rho = rho_new;
        for i in 0..n {
            p[i] = r[i] + beta * (p[i] - omega * v[i]);
        }
        precondition(&p, &mut y);
        j.apply_i_minus(&y, &mut v);
        alpha = rho / dot(&r_hat, &v);
        for i in 0..n {
            s[i] = r[i] - alpha * v[i];
            x[i] += alpha * y[i];
        }
        if norm_inf(&s) <= tol {
            return it;
        }
        precondition(&s, &mut z);
        j.apply_i_minus(&z, &mut t);
        let tt = dot(&t, &t);
        omega = if tt > 0.0 { dot(&t, &s) / tt } else { 0.0 };
        for i in 0..n {
            x[i] += omega * z[i];
            r[i] = s[i] - omega * t[i];
        }
        if norm_inf(r) <= tol {
            return it;
        }
    }
    max_iter
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solves_a_discounted_chain() {
        // J = γ·P for a 3-state chain; check (I − J)x = b against the solution by substitution.
        let gamma = 0.9;
        let j = Sparse {
            offsets: vec![0, 2, 4, 5],
            cols: vec![0, 1, 1, 2, 0],
            vals: vec![gamma * 0.5, gamma * 0.5, gamma * 0.2, gamma * 0.8, gamma],
        };
        let b = [1.0, -2.0, 0.5];
        let mut x = vec![0.0; 3];
        let solve = solve_i_minus(&j, &b, &mut x, 1e-13, 100);
        assert!(solve.converged && solve.residual <= 1e-13, "{solve:?}");
        let mut y = vec![0.0; 3];
        j.apply_i_minus(&x, &mut y);
        for (y, b) in y.iter().zip(&b) {
            assert!((y - b).abs() < 1e-12);
        }
        // One iteration is not enough from zero: reported, with the true residual.
        let mut x = vec![0.0; 3];
        let solve = solve_i_minus(&j, &b, &mut x, 1e-13, 1);
        j.apply_i_minus(&x, &mut y);
        let residual = y
            .iter()
            .zip(&b)
            .fold(0.0f64, |m, (y, b)| m.max((y - b).abs()));
        assert!(!solve.converged && solve.iterations == 1, "{solve:?}");
        assert_eq!(solve.residual, residual);
    }
}
