//! Numerics every part shares: the stable soft maximum (log-sum-exp) and softmax, softplus, and
//! the mass of a standard normal between two points, each accurate in the tails.

use num_traits::Float;

/// `α·log Σ_i exp(x_i/α)`, stably: `m + α·log Σ_i exp((x_i − m)/α)` with `m = max_i x_i`.
/// With α = 1 it is the log-sum-exp.
#[inline]
pub fn soft_max(alpha: f64, x: &[f64]) -> f64 {
    let m = x.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v));
    let sum: f64 = x.iter().map(|&v| ((v - m) / alpha).exp()).sum();
    m + alpha * sum.ln()
}

/// `α·log Σ_i w_i·exp(x_i/α)` over the `(w_i, x_i)` that `terms()` yields (the weights ≥ 0, one
/// positive), stably, as [`soft_max`]: the soft maximum under a weighting such as transition
/// probabilities.
#[inline]
pub fn weighted_soft_max<I: Iterator<Item = (f64, f64)>>(alpha: f64, terms: impl Fn() -> I) -> f64 {
    let m = terms().fold(f64::NEG_INFINITY, |m, (_, v)| m.max(v));
    let sum: f64 = terms().map(|(w, v)| w * ((v - m) / alpha).exp()).sum();
    m + alpha * sum.ln()
}

/// `p_i = exp(x_i/α) / Σ_j exp(x_j/α)`, stably (the Boltzmann distribution at temperature α).
pub fn softmax_into(alpha: f64, x: &[f64], p: &mut [f64]) {
    let m = x.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v));
    let mut sum = 0.0;
    for (p, &x) in p.iter_mut().zip(x) {
        *p = ((x - m) / alpha).exp();
        sum += *p;
    }
    p.iter_mut().for_each(|p| *p /= sum);
}

/// `softplus(x) = log(1 + eˣ) = max(x, 0) + log(1 + e^−|x|)`, without overflow for large |x|.
#[inline]
pub fn softplus<F: Float>(x: F) -> F {
    x.max(F::zero()) + (-x.abs()).exp().ln_1p()
}

/// The standard normal density `φ(z) = exp(−z²/2)/√(2π)` (0 at ±∞).
#[inline]
pub fn normal_pdf(z: f64) -> f64 {
    if z.is_infinite() {
        return 0.0;
    }
    (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt()
}

/// `Φ(b) − Φ(a)` for `a ≤ b` (either may be infinite), the standard normal's mass on `[a, b]`,
/// accurate in both tails: there it is a difference of two small `erfc` values rather than of two
/// numbers near 1 (`Φ(z) = erfc(−z/√2)/2`).
pub fn normal_mass(a: f64, b: f64) -> f64 {
    let q = |z: f64| 0.5 * libm::erfc(z / std::f64::consts::SQRT_2); // 1 − Φ(z)
    let mass = if a >= 0.0 {
        q(a) - q(b)
    } else if b <= 0.0 {
        q(-b) - q(-a)
    } else {
        1.0 - q(b) - q(-a)
    };
    mass.max(0.0)
}

/// Mean and (population) standard deviation.
pub fn mean_std(x: &[f64]) -> (f64, f64) {
    let n = x.len().max(1) as f64;
    let mean = x.iter().sum::<f64>() / n;
    let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// Mean and (population) standard deviation per component of `ad`-vectors, weighted by `weights`
/// (summing to 1) or equally.
pub fn moments(points: &[f64], ad: usize, weights: Option<&[f64]>) -> (Vec<f64>, Vec<f64>) {
    let n = points.len() / ad;
    let w = |j: usize| weights.map_or(1.0 / n as f64, |w| w[j]);
    let mut mean = vec![0.0; ad];
    for (j, a) in points.chunks_exact(ad).enumerate() {
        mean.iter_mut().zip(a).for_each(|(m, a)| *m += w(j) * a);
    }
    let mut var = vec![0.0; ad];
    for (j, a) in points.chunks_exact(ad).enumerate() {
        for i in 0..ad {
            var[i] += w(j) * (a[i] - mean[i]).powi(2);
        }
    }
    (mean, var.iter().map(|v| v.sqrt()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soft_max_is_the_log_sum_exp_scaled_by_alpha() {
        let x = [1.0, -2.0, 0.5];
        let direct = 0.5 * x.iter().map(|v| (v / 0.5).exp()).sum::<f64>().ln();
        assert!((soft_max(0.5, &x) - direct).abs() < 1e-14);
        // Far beyond exp's range it still answers: max + α·log(1 + e^−Δ/α + …).
        let big = [1e4, 1e4 - 1.0];
        assert!((soft_max(1.0, &big) - (1e4 + (1.0 + (-1.0f64).exp()).ln())).abs() < 1e-10);
        let w = weighted_soft_max(2.0, || [(0.25, 1.0), (0.75, 3.0)].into_iter());
        let direct = 2.0 * (0.25 * 0.5f64.exp() + 0.75 * 1.5f64.exp()).ln();
        assert!((w - direct).abs() < 1e-14);
        let mut p = [0.0; 3];
        softmax_into(0.5, &x, &mut p);
        let z: f64 = x.iter().map(|v| (v / 0.5).exp()).sum();
        for (p, v) in p.iter().zip(&x) {
            assert!((p - (v / 0.5).exp() / z).abs() < 1e-15);
        }
    }

    #[test]
    fn normal_mass_is_exact_in_the_tails() {
        // Φ(1) − Φ(−1) = erf(1/√2) = 0.682689492137086 (to 15 digits).
        assert!((normal_mass(-1.0, 1.0) - 0.682_689_492_137_086).abs() < 1e-15);
        assert!((normal_mass(f64::NEG_INFINITY, f64::INFINITY) - 1.0).abs() < 1e-16);
        // 1 − Φ(10) = 7.619853024160527e-24: naive 1 − Φ would give 0.
        let tail = normal_mass(10.0, f64::INFINITY);
        assert!(
            (tail / 7.619_853_024_160_527e-24 - 1.0).abs() < 1e-13,
            "{tail}"
        );
        assert_eq!(normal_mass(-f64::INFINITY, -10.0), tail);
        assert_eq!(softplus(-800.0f64), 0.0);
        assert_eq!(softplus(800.0f64), 800.0);
        assert!((softplus(0.0f64) - 2f64.ln()).abs() < 1e-16);
    }
}
