//! π* projected onto the learned policy's class, node by node: the diagonal tanh-Gaussian (μ and
//! log σ per action dimension in its pre-tanh space, log σ within the actor's bounds) closest to
//! π* in `KL(q‖π*)` over the solver's action cells, q taken by its exact cell masses (as the
//! learned policy is for its exact evaluation). Minimizing that KL against the exact Q* is SAC's
//! own policy step, so the result is what the class can do with a perfect critic, one step from
//! π*.

use rayon::prelude::*;

use crate::exact::grid::ActionGrid;
use crate::math::{normal_mass, normal_pdf};
use crate::tanh_gaussian::{LOG_STD_MAX, LOG_STD_MIN, pre_tanh_edges, pre_tanh_midpoints};

/// One dimension's cell masses of `N(μ, σ²)` over pre-tanh cell edges, with their derivatives
/// `∂m/∂μ = (φ(z_lo) − φ(z_hi))/σ` and `∂m/∂log σ = z_lo·φ(z_lo) − z_hi·φ(z_hi)`.
fn masses_and_slopes(edges: &[f64], mu: f64, log_std: f64) -> Vec<(f64, f64, f64)> {
    let sigma = log_std.exp();
    let z: Vec<f64> = edges.iter().map(|u| (u - mu) / sigma).collect();
    let z_phi = |z: f64| {
        if z.is_finite() {
            z * normal_pdf(z)
        } else {
            0.0
        }
    };
    z.windows(2)
        .map(|w| {
            (
                normal_mass(w[0], w[1]),
                (normal_pdf(w[0]) - normal_pdf(w[1])) / sigma,
                z_phi(w[0]) - z_phi(w[1]),
            )
        })
        .collect()
}

/// The projection at every state: `optimal` holds π*'s cell probabilities, `n_states × n_cells`;
/// returns the projection's, in the same layout.
pub fn project_tanh_gaussian(actions: &ActionGrid, optimal: &[f64]) -> Vec<f64> {
    let (d, nk) = (actions.dim(), actions.len());
    let cells = actions.cells().to_vec();
    let edges: Vec<Vec<f64>> = cells.iter().map(|&k| pre_tanh_edges(k)).collect();
    // Each cell's pre-tanh midpoint, for the starting moments.
    let mids: Vec<Vec<f64>> = cells.iter().map(|&k| pre_tanh_midpoints(k)).collect();
    // The index of cell k along dimension i (row-major, the last dimension fastest).
    let stride: Vec<usize> = (0..d).map(|i| cells[i + 1..].iter().product()).collect();
    let index = |k: usize, i: usize| (k / stride[i]) % cells[i];
    let clamp = |t: &mut [f64]| {
        for ls in &mut t[d..] {
            *ls = ls.clamp(LOG_STD_MIN, LOG_STD_MAX);
        }
    };
    // KL(q‖π*) and its gradient in θ = (μ, log σ); q's cell masses into `q`.
    let kl = |theta: &[f64], log_p: &[f64], q: &mut [f64], grad: &mut [f64]| -> f64 {
        let marg: Vec<Vec<(f64, f64, f64)>> = (0..d)
            .map(|i| masses_and_slopes(&edges[i], theta[i], theta[d + i]))
            .collect();
        let mut total = 0.0;
        grad.iter_mut().for_each(|g| *g = 0.0);
        for (k, qk) in q.iter_mut().enumerate() {
            *qk = (0..d).map(|i| marg[i][index(k, i)].0).product();
            if *qk <= 0.0 {
                continue;
            }
            let l = qk.ln() - log_p[k];
            total += *qk * l;
            // ∂KL/∂θ = Σ_k ∂q_k·(log q_k − log π*_k) (the +1 drops out: Σ_k ∂q_k = 0).
            for i in 0..d {
                let others: f64 = (0..d)
                    .filter(|&i2| i2 != i)
                    .map(|i2| marg[i2][index(k, i2)].0)
                    .product();
                let (_, dm_mu, dm_ls) = marg[i][index(k, i)];
                grad[i] += l * others * dm_mu;
                grad[d + i] += l * others * dm_ls;
            }
        }
        total
    };
    let mut out = vec![0.0; optimal.len()];
    out.par_chunks_mut(nk)
        .zip(optimal.par_chunks(nk))
        .for_each(|(q, p)| {
            let log_p: Vec<f64> = p.iter().map(|&p| p.max(1e-300).ln()).collect();
            // Start from π*'s marginal moments in pre-tanh space.
            let mut theta = vec![0.0; 2 * d];
            for i in 0..d {
                let (mut m, mut m2) = (0.0, 0.0);
                for (k, &pk) in p.iter().enumerate() {
                    let u = mids[i][index(k, i)];
                    m += pk * u;
                    m2 += pk * u * u;
                }
                theta[i] = m;
                theta[d + i] = (m2 - m * m).max(1e-300).sqrt().ln();
            }
            clamp(&mut theta);
            let mut grad = vec![0.0; 2 * d];
            let mut trial = vec![0.0; 2 * d];
            let mut trial_grad = vec![0.0; 2 * d];
            let mut scratch = vec![0.0; nk];
            let mut f = kl(&theta, &log_p, q, &mut grad);
            // Natural-gradient steps (the Gaussian's Fisher information is 1/σ² for μ and 2 for
            // log σ), halved until the KL falls.
            for _ in 0..200 {
                // A log σ held at its bound moves only back inside.
                for i in 0..d {
                    let ls = theta[d + i];
                    if (ls <= LOG_STD_MIN && grad[d + i] > 0.0)
                        || (ls >= LOG_STD_MAX && grad[d + i] < 0.0)
                    {
                        grad[d + i] = 0.0;
                    }
                }
                let mut step = 1.0;
                let mut improved = false;
                for _ in 0..40 {
                    for i in 0..d {
                        let var = (2.0 * theta[d + i]).exp();
                        trial[i] = theta[i] - step * var * grad[i];
                        trial[d + i] = theta[d + i] - step * 0.5 * grad[d + i];
                    }
                    clamp(&mut trial);
                    let ft = kl(&trial, &log_p, &mut scratch, &mut trial_grad);
                    if ft < f {
                        improved = f - ft > 1e-13 * f.abs().max(1e-9);
                        std::mem::swap(&mut theta, &mut trial);
                        std::mem::swap(&mut grad, &mut trial_grad);
                        f = ft;
                        break;
                    }
                    step *= 0.5;
                }
                if !improved {
                    break;
                }
            }
            kl(&theta, &log_p, q, &mut grad);
        });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::Interval;
    use crate::tanh_gaussian::TanhGaussian;

    /// Cell masses of a diagonal tanh-Gaussian (pre-tanh μ, log σ per dimension) on a ±2 box.
    fn cells_of(actions: &ActionGrid, mu: &[f64], log_std: &[f64]) -> Vec<f64> {
        let bounds = vec![Interval::symmetric(2.0); mu.len()];
        TanhGaussian {
            mean: mu.to_vec(),
            log_std: log_std.to_vec(),
            bounds: &bounds,
        }
        .cell_masses(actions.cells())
    }

    fn kl(q: &[f64], p: &[f64]) -> f64 {
        q.iter()
            .zip(p)
            .filter(|(q, _)| **q > 0.0)
            .map(|(q, p)| q * (q / p).ln())
            .sum()
    }

    fn box2(cells: Vec<usize>) -> ActionGrid {
        ActionGrid::new(vec![Interval::symmetric(2.0); cells.len()], cells)
    }

    /// The analytic gradient of the cell masses agrees with central differences.
    #[test]
    fn mass_slopes_match_finite_differences() {
        let edges = pre_tanh_edges(9);
        let (mu, ls, h) = (0.3, -0.8, 1e-6);
        let at = masses_and_slopes(&edges, mu, ls);
        let (up, down) = (
            masses_and_slopes(&edges, mu + h, ls),
            masses_and_slopes(&edges, mu - h, ls),
        );
        let (wide, narrow) = (
            masses_and_slopes(&edges, mu, ls + h),
            masses_and_slopes(&edges, mu, ls - h),
        );
        for j in 0..9 {
            let d_mu = (up[j].0 - down[j].0) / (2.0 * h);
            let d_ls = (wide[j].0 - narrow[j].0) / (2.0 * h);
            assert!(
                (d_mu - at[j].1).abs() < 1e-8,
                "cell {j}: {d_mu} vs {}",
                at[j].1
            );
            assert!(
                (d_ls - at[j].2).abs() < 1e-8,
                "cell {j}: {d_ls} vs {}",
                at[j].2
            );
        }
    }

    /// A policy already in the class projects onto itself; a two-mode one onto a single
    /// tanh-Gaussian no further from it (in KL(q‖π*)) than the best of a fine search.
    #[test]
    fn projection_onto_tanh_gaussians_recovers_members_and_fits_the_rest() {
        let actions = box2(vec![41]);
        let member = cells_of(&actions, &[0.4], &[-0.7]);
        let projected = project_tanh_gaussian(&actions, &member);
        assert!(
            kl(&projected, &member) < 1e-10,
            "{}",
            kl(&projected, &member)
        );

        let actions = box2(vec![15, 11]);
        let member = cells_of(&actions, &[-0.3, 1.1], &[0.2, -1.5]);
        let projected = project_tanh_gaussian(&actions, &member);
        assert!(kl(&projected, &member) < 1e-10);

        // Two modes at ±1 (pre-tanh ±0.55): no tanh-Gaussian matches them.
        let actions = box2(vec![41]);
        let a = cells_of(&actions, &[-0.55], &[-1.5]);
        let b = cells_of(&actions, &[0.55], &[-1.5]);
        let two: Vec<f64> = a.iter().zip(&b).map(|(a, b)| 0.3 * a + 0.7 * b).collect();
        let projected = project_tanh_gaussian(&actions, &two);
        assert!((projected.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        let fitted = kl(&projected, &two);
        let mut best = f64::INFINITY;
        for i in 0..=60 {
            for j in 0..=60 {
                let (mu, ls) = (-1.5 + 0.05 * i as f64, -3.0 + 0.075 * j as f64);
                best = best.min(kl(&cells_of(&actions, &[mu], &[ls]), &two));
            }
        }
        assert!(
            fitted > 0.05,
            "one Gaussian cannot fit two modes: KL {fitted}"
        );
        assert!(
            fitted <= best + 1e-9,
            "fitted {fitted} vs grid search {best}"
        );

        // All of π* in one cell off the centre: the fit's mean moves onto that cell, its log σ
        // stops at the actor's lower bound, and nearly all of its mass lands there.
        let mut one = vec![1e-12; 41];
        one[29] = 1.0;
        let projected = project_tanh_gaussian(&actions, &one);
        let top = (0..41).max_by(|&a, &b| projected[a].total_cmp(&projected[b]));
        assert_eq!(top, Some(29));
        assert!(projected[29] > 0.999, "{}", projected[29]);
    }
}
