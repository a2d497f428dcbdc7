//! Gauss–Hermite quadrature for Gaussian transition noise:
//! `E[f(w)], w ~ N(0, σ²)  ≈  Σ_i (w_i/√π)·f(√2·σ·x_i)`, exact for polynomials of degree < 2n.
//!
//! Nodes by Newton's method on the orthonormal Hermite recurrence, as in Numerical Recipes
//! (3rd ed., §4.6, `gauher`); a crate for this would bring a linear-algebra library with it.

/// The `n` nodes `x_i` and weights `w_i` of `∫ exp(−x²) f(x) dx ≈ Σ w_i f(x_i)`, ascending.
pub fn gauss_hermite(n: usize) -> (Vec<f64>, Vec<f64>) {
    assert!(n >= 1);
    const PI_M4: f64 = 0.751_125_544_464_942_5; // π^(−1/4)
    let nf = n as f64;
    let mut x = vec![0.0; n];
    let mut w = vec![0.0; n];
    let mut z = 0.0f64;
    for i in 0..n.div_ceil(2) {
        z = match i {
            0 => (2.0 * nf + 1.0).sqrt() - 1.855_75 * (2.0 * nf + 1.0).powf(-1.0 / 6.0),
            1 => z - 1.14 * nf.powf(0.426) / z,
            2 => 1.86 * z - 0.86 * x[0],
            3 => 1.91 * z - 0.91 * x[1],
            _ => 2.0 * z - x[i - 2],
        };
        let mut pp = 0.0;
        for _ in 0..100 {
            // p1 = normalized H_n(z), p2 = H_{n−1}(z), by the three-term recurrence.
            let (mut p1, mut p2) = (PI_M4, 0.0);
            for j in 0..n {
                let p3 = p2;
                p2 = p1;
                let jf = j as f64;
                p1 = z * (2.0 / (jf + 1.0)).sqrt() * p2 - (jf / (jf + 1.0)).sqrt() * p3;
            }
            pp = (2.0 * nf).sqrt() * p2;
            let step = p1 / pp;
            z -= step;
            if step.abs() <= 1e-15 * z.abs().max(1.0) {
                break;
            }
        }
        x[i] = z;
        x[n - 1 - i] = -z;
        w[i] = 2.0 / (pp * pp);
        w[n - 1 - i] = w[i];
    }
    x.reverse();
    w.reverse();
    if n % 2 == 1 {
        x[n / 2] = 0.0;
    }
    (x, w)
}

/// Offsets and probabilities that integrate against `N(0, σ²)`: `E f(w) ≈ Σ p_i f(o_i)`.
pub fn gaussian_nodes(n: usize, sigma: f64) -> (Vec<f64>, Vec<f64>) {
    let (x, w) = gauss_hermite(n);
    let sqrt_pi = std::f64::consts::PI.sqrt();
    let offsets = x
        .iter()
        .map(|x| std::f64::consts::SQRT_2 * sigma * x)
        .collect();
    let probs = w.iter().map(|w| w / sqrt_pi).collect();
    (offsets, probs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_rules_match_their_closed_forms() {
        let sp = std::f64::consts::PI.sqrt();
        let (x, w) = gauss_hermite(1);
        assert!(x[0].abs() < 1e-15 && (w[0] - sp).abs() < 1e-13);
        let (x, w) = gauss_hermite(2);
        assert!((x[1] - 0.5f64.sqrt()).abs() < 1e-13 && (w[0] - sp / 2.0).abs() < 1e-13);
        let (x, w) = gauss_hermite(3);
        assert!((x[2] - 1.5f64.sqrt()).abs() < 1e-13);
        assert!((w[1] - 2.0 * sp / 3.0).abs() < 1e-13 && (w[0] - sp / 6.0).abs() < 1e-13);
    }

    #[test]
    fn gaussian_moments_are_exact_up_to_degree_2n_minus_1() {
        // E w^(2k) = σ^(2k)·(2k − 1)!!
        let sigma = 0.7f64;
        for n in 1..=20 {
            let (o, p) = gaussian_nodes(n, sigma);
            for k in 0..n {
                let moment: f64 = o
                    .iter()
                    .zip(&p)
                    .map(|(o, p)| p * o.powi(2 * k as i32))
                    .sum();
                let double_fact: f64 = (1..=k).map(|i| (2 * i - 1) as f64).product();
                let expect = sigma.powi(2 * k as i32) * double_fact;
                assert!(
                    (moment - expect).abs() <= 1e-10 * expect.max(1.0),
                    "n={n} k={k}: {moment} vs {expect}"
                );
            }
        }
    }
}
