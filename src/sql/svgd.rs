//! Stein variational gradient descent for the sampler (Liu & Wang 2016; amortized as in Haarnoja
//! et al. 2017, arXiv:1702.08165, eq. 13): per state, `Kx` fixed particles x_i define the
//! direction in which each of `Ky` updated particles y_j moves,
//!
//! ```text
//! φ(y_j) = (1/Kx)·Σ_i [ κ(x_i, y_j)·∇_x log p(x_i) + ∇_x κ(x_i, y_j) ]
//! κ(x, y) = exp(−‖x − y‖²/h),   ∇_x κ(x, y) = −(2/h)·(x − y)·κ(x, y)
//! h = max(median_{i,j} ‖x_i − y_j‖² / log Kx, 10⁻³)
//! ```
//!
//! the median being the `(Kx·Ky/2 + 1)`-th largest squared distance, as the reference's
//! `adaptive_isotropic_gaussian_kernel` (`haarnoja/softqlearning`, `softqlearning/misc/kernel.py`)
//! takes it. The direction is a constant of the sampler's update (it carries no gradient), so
//! it is computed here on plain rows: `[states, particles, dim]`, row-major.

use rayon::prelude::*;

/// The smallest bandwidth (the reference's `h_min`).
pub const H_MIN: f64 = 1e-3;

/// The median heuristic's bandwidth for one state's fixed (`kx × d`) and updated (`ky × d`)
/// particles.
pub fn bandwidth(fixed: &[f32], updated: &[f32], d: usize) -> f64 {
    let kx = fixed.len() / d;
    let mut dist: Vec<f64> = fixed
        .chunks_exact(d)
        .flat_map(|x| updated.chunks_exact(d).map(move |y| squared_distance(x, y)))
        .collect();
    let m = dist.len();
    let (_, &mut median, _) = dist.select_nth_unstable_by(m - (m / 2 + 1), f64::total_cmp);
    (median / (kx as f64).ln()).max(H_MIN)
}

fn squared_distance(x: &[f32], y: &[f32]) -> f64 {
    x.iter().zip(y).map(|(a, b)| f64::from(a - b).powi(2)).sum()
}

/// φ for every updated particle of every state: `fixed`, `grad_log_p` `[n, kx, d]`, `updated`
/// `[n, ky, d]`; returns `[n, ky, d]`. States are independent: they are shared among the threads
/// of the rayon pool this runs in, each computed as alone.
pub fn direction(
    fixed: &[f32],
    grad_log_p: &[f32],
    updated: &[f32],
    n: usize,
    d: usize,
) -> Vec<f32> {
    let (kx, ky) = (fixed.len() / (n * d), updated.len() / (n * d));
    let mut out = vec![0.0f32; n * ky * d];
    out.par_chunks_mut(ky * d).enumerate().for_each(|(s, out)| {
        let xs = &fixed[s * kx * d..(s + 1) * kx * d];
        let gs = &grad_log_p[s * kx * d..(s + 1) * kx * d];
        let ys = &updated[s * ky * d..(s + 1) * ky * d];
        let h = bandwidth(xs, ys, d);
        let mut phi = vec![0.0f64; d];
        for (y, out) in ys.chunks_exact(d).zip(out.chunks_exact_mut(d)) {
            phi.fill(0.0);
            for (x, g) in xs.chunks_exact(d).zip(gs.chunks_exact(d)) {
                let kappa = (-squared_distance(x, y) / h).exp();
                for k in 0..d {
                    let grad_kappa = -2.0 / h * f64::from(x[k] - y[k]) * kappa;
                    phi[k] += kappa * f64::from(g[k]) + grad_kappa;
                }
            }
            for (o, p) in out.iter_mut().zip(&phi) {
                *o = (p / kx as f64) as f32;
            }
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two fixed particles and one updated one in 1-D, by hand: x = (0, 1), y = 0.5, so both
    /// squared distances are 0.25, the median (the 2nd largest of 2) is 0.25 and
    /// h = 0.25 / log 2; κ = exp(−0.25/h) = exp(−log 2) = 1/2 for both;
    /// ∇_x κ = −(2/h)(x − y)κ = ±(2/h)(0.5)(0.5) cancel; with ∇log p = (1, 3),
    /// φ = (1/2)·(½·1 + ½·3) = 1.
    #[test]
    fn direction_by_hand() {
        let h = bandwidth(&[0.0, 1.0], &[0.5], 1);
        assert!((h - 0.25 / 2f64.ln()).abs() < 1e-12, "{h}");
        let phi = direction(&[0.0, 1.0], &[1.0, 3.0], &[0.5], 1, 1);
        assert!((phi[0] - 1.0).abs() < 1e-6, "{phi:?}");
        // Off-centre, the repulsion shows: y = 0.2, x = (0, 1), ∇log p = 0:
        // d² = (0.04, 0.64), median (2nd largest) 0.04, h = max(0.04/log 2, 1e-3);
        // φ = (1/2)·Σ_i −(2/h)(x_i − y)·exp(−d_i²/h).
        let h = 0.04 / 2f64.ln();
        let expect = 0.5
            * (-(2.0 / h) * (0.0 - 0.2) * (-0.04 / h).exp()
                - (2.0 / h) * (1.0 - 0.2) * (-0.64 / h).exp());
        let phi = direction(&[0.0, 1.0], &[0.0, 0.0], &[0.2], 1, 1);
        assert!(
            (f64::from(phi[0]) - expect).abs() < 1e-5,
            "{phi:?} vs {expect}"
        );
        assert!(phi[0] > 0.0, "pushed away from the nearer fixed particle");
        // The bandwidth never falls below h_min.
        assert_eq!(bandwidth(&[0.5, 0.5], &[0.5], 1), H_MIN);
    }

    /// Per state, the same as computing each state alone.
    #[test]
    fn states_are_independent() {
        let fixed = [0.1, -0.3, 0.7, 0.2, -0.9, 0.4, 0.0, 0.5];
        let grad = [1.0, 0.5, -0.2, 0.3, 0.8, -1.0, 0.1, 0.0];
        let updated = [0.3, 0.1, -0.4, 0.6];
        let both = direction(&fixed, &grad, &updated, 2, 2);
        let first = direction(&fixed[..4], &grad[..4], &updated[..2], 1, 2);
        let second = direction(&fixed[4..], &grad[4..], &updated[2..], 1, 2);
        assert_eq!(&both[..2], &first[..]);
        assert_eq!(&both[2..], &second[..]);
    }
}
