//! The tanh-Gaussian policy of soft actor-critic (Haarnoja et al. 2018, appendix C), in one place:
//! `u ~ N(μ, σ²)` per action dimension in pre-tanh space, `x = tanh(u)` on [-1, 1], and the env
//! action `a = lo + (x + 1)·(hi − lo)/2` on the action box. Its log-density in env units
//! (DESIGN §1: Lebesgue measure on the box) is
//!
//! ```text
//! log π(a|s) = Σ_i [ log N(u_i; μ_i, σ_i) − log(1 − tanh² u_i) − log half_width_i ]
//! log(1 − tanh² u) = 2·(log 2 − u − softplus(−2u))          (exact for any u, no atanh)
//! ```
//!
//! always taken from the pre-tanh sample u — `atanh` of an f32 action is off by nats once |u| ≳ 9
//! (CleanRL's `get_action`, SB3's `SquashedDiagGaussianDistribution` keep u for the same reason).
//! log σ is bounded smoothly by a scaled tanh of the network's raw output (CleanRL's bound).
//!
//! The scalar kernels are generic over f32 (the trainer's fused update) and f64 (`compare`), so
//! both compute the same expressions; [`TanhGaussian`] holds one state's distribution in f64 for
//! analysis: samples, densities at any env action, and exact masses of the solver's action cells.

use num_traits::Float;

use crate::env::Interval;
use crate::math::{normal_mass, softplus};

/// The bounds of `log σ` (CleanRL, `cleanrl/sac_continuous_action.py`).
pub const LOG_STD_MIN: f64 = -5.0;
pub const LOG_STD_MAX: f64 = 2.0;

fn cast<F: Float>(x: f64) -> F {
    F::from(x).expect("a float converts to a float")
}

/// `log σ = LOG_STD_MIN + (LOG_STD_MAX − LOG_STD_MIN)·(tanh(raw) + 1)/2`, given `tanh(raw)`.
#[inline]
pub fn log_std_of_tanh<F: Float>(tanh_raw: F) -> F {
    cast::<F>(0.5 * (LOG_STD_MAX + LOG_STD_MIN)) + log_std_half_range::<F>() * tanh_raw
}

/// `∂log σ/∂tanh(raw) = (LOG_STD_MAX − LOG_STD_MIN)/2`.
#[inline]
pub fn log_std_half_range<F: Float>() -> F {
    cast(0.5 * (LOG_STD_MAX - LOG_STD_MIN))
}

/// `log(1 − tanh² u) = 2·(log 2 − u − softplus(−2u))`, finite for every finite u.
#[inline]
pub fn log1m_tanh_sq<F: Float>(u: F) -> F {
    let two = cast::<F>(2.0);
    two * (cast::<F>(std::f64::consts::LN_2) - u - softplus(-two * u))
}

/// One dimension's share of `log π` on [-1, 1] from its pre-tanh sample `u = μ + σ·ε`:
/// `log N(u; μ, σ) − log(1 − tanh² u) = −ε²/2 − log σ − log(2π)/2 − log(1 − tanh² u)`.
#[inline]
pub fn log_prob_term<F: Float>(eps: F, log_std: F, u: F) -> F {
    let half_log_2pi = cast::<F>(0.5 * (2.0 * std::f64::consts::PI).ln());
    cast::<F>(-0.5) * eps * eps - log_std - half_log_2pi - log1m_tanh_sq(u)
}

/// `x` on [-1, 1] mapped affinely onto the interval.
#[inline]
pub fn to_env(b: &Interval, x: f64) -> f64 {
    b.lo + (x + 1.0) * 0.5 * b.width()
}

/// Actions on [-1, 1] mapped onto the env's action box, one component per interval.
pub fn to_env_action(bounds: &[Interval], x: &[f32], out: &mut [f64]) {
    for ((o, b), &x) in out.iter_mut().zip(bounds).zip(x) {
        *o = to_env(b, f64::from(x));
    }
}

/// `Σ log half_width`: what the scaling from [-1, 1] onto the box adds to `−log π`.
pub use crate::env::log_half_widths as log_scale;

/// One draw: the pre-tanh sample, the env action and `log π` of it in env units.
#[derive(Debug, Clone, PartialEq)]
pub struct Draw {
    pub u: Vec<f64>,
    pub env_action: Vec<f64>,
    pub log_prob: f64,
}

/// One state's tanh-Gaussian: μ and the bounded log σ per action dimension, over an action box.
#[derive(Debug, Clone, PartialEq)]
pub struct TanhGaussian<'a> {
    pub mean: Vec<f64>,
    pub log_std: Vec<f64>,
    pub bounds: &'a [Interval],
}

impl<'a> TanhGaussian<'a> {
    /// From an actor's outputs for one state (μ and bounded log σ, f32).
    pub fn new(mean: &[f32], log_std: &[f32], bounds: &'a [Interval]) -> Self {
        TanhGaussian {
            mean: mean.iter().map(|&m| f64::from(m)).collect(),
            log_std: log_std.iter().map(|&l| f64::from(l)).collect(),
            bounds,
        }
    }

    /// The draw for standard normal noise `eps` (one number per dimension): `u = μ + σ·ε`.
    pub fn draw(&self, eps: &[f64]) -> Draw {
        let mut log_prob = -log_scale(self.bounds);
        let mut u = Vec::with_capacity(eps.len());
        let mut env_action = Vec::with_capacity(eps.len());
        for (i, &e) in eps.iter().enumerate() {
            let ui = self.mean[i] + self.log_std[i].exp() * e;
            log_prob += log_prob_term(e, self.log_std[i], ui);
            env_action.push(to_env(&self.bounds[i], ui.tanh()));
            u.push(ui);
        }
        Draw {
            u,
            env_action,
            log_prob,
        }
    }

    /// `log π(u)` in env units, from pre-tanh values u.
    pub fn log_prob_of_u(&self, u: &[f64]) -> f64 {
        let mut log_prob = -log_scale(self.bounds);
        for (i, &ui) in u.iter().enumerate() {
            let eps = (ui - self.mean[i]) / self.log_std[i].exp();
            log_prob += log_prob_term(eps, self.log_std[i], ui);
        }
        log_prob
    }

    /// `log π(a)` in env units at any env action: through `u = atanh(x)`, so only as exact as x
    /// is away from ±1 (use [`TanhGaussian::log_prob_of_u`] for the policy's own samples). On or
    /// outside the box's edge the density is 0.
    pub fn log_density(&self, env_action: &[f64]) -> f64 {
        let mut u = Vec::with_capacity(env_action.len());
        for (b, &a) in self.bounds.iter().zip(env_action) {
            let x = 2.0 * (a - b.lo) / b.width() - 1.0;
            if x.abs() >= 1.0 {
                return f64::NEG_INFINITY;
            }
            u.push(x.atanh());
        }
        self.log_prob_of_u(&u)
    }

    /// The exact mass of every cell of dimension `i` when its interval is cut into `cells` equal
    /// cells: `Φ(z_{j+1}) − Φ(z_j)` with `z_j = (atanh(x_j) − μ)/σ` at the cell edges `x_j` on
    /// [-1, 1] (the outer edges at ±∞ in pre-tanh space). They sum to 1.
    pub fn dim_masses(&self, i: usize, cells: usize) -> Vec<f64> {
        let z = pre_tanh_edges(cells)
            .iter()
            .map(|u| (u - self.mean[i]) / self.log_std[i].exp())
            .collect::<Vec<f64>>();
        z.windows(2).map(|w| normal_mass(w[0], w[1])).collect()
    }

    /// The exact mass of every cell of a grid with `cells[i]` equal cells along dimension i,
    /// row-major with the last dimension fastest (as `ActionGrid`): the product of the
    /// dimensions' masses.
    pub fn cell_masses(&self, cells: &[usize]) -> Vec<f64> {
        let dims: Vec<Vec<f64>> = (0..cells.len())
            .map(|i| self.dim_masses(i, cells[i]))
            .collect();
        let mut out = vec![1.0];
        for m in &dims {
            out = out
                .iter()
                .flat_map(|p| m.iter().map(move |q| p * q))
                .collect();
        }
        out
    }
}

/// The edges of `cells` equal cells of [-1, 1], in pre-tanh space: `atanh(−1 + 2j/cells)`,
/// `j = 0..=cells` (the first −∞, the last +∞).
pub fn pre_tanh_edges(cells: usize) -> Vec<f64> {
    (0..=cells)
        .map(|j| match j {
            0 => f64::NEG_INFINITY,
            j if j == cells => f64::INFINITY,
            j => (-1.0 + 2.0 * j as f64 / cells as f64).atanh(),
        })
        .collect()
}

/// The midpoints of `cells` equal cells of [-1, 1], in pre-tanh space.
pub fn pre_tanh_midpoints(cells: usize) -> Vec<f64> {
    (0..cells)
        .map(|j| (-1.0 + (2.0 * j as f64 + 1.0) / cells as f64).atanh())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_density_by_hand_and_from_u_in_the_tail() {
        // μ = 0.3, log σ = −1.2, ε = 0.7, box [−2, 2] (half width 2):
        // u = μ + σε, log π = log N(u; μ, σ) − log(1 − tanh² u) − log 2.
        let bounds = [Interval::symmetric(2.0)];
        let p = TanhGaussian {
            mean: vec![0.3],
            log_std: vec![-1.2],
            bounds: &bounds,
        };
        let d = p.draw(&[0.7]);
        let u = 0.3 + (-1.2f64).exp() * 0.7;
        let x = u.tanh();
        let expect = -0.5 * 0.49 + 1.2
            - 0.5 * (2.0 * std::f64::consts::PI).ln()
            - (1.0 - x * x).ln()
            - 2f64.ln();
        assert!(
            (d.log_prob - expect).abs() < 1e-13,
            "{} vs {expect}",
            d.log_prob
        );
        assert!((d.env_action[0] - 2.0 * x).abs() < 1e-15);
        assert!((p.log_density(&d.env_action) - expect).abs() < 1e-12);

        // A saturated policy: μ = 12, σ = e⁻⁵. In pre-tanh space the density is the Gaussian's;
        // log(1 − tanh² u) = log 4 − 2u − 2·log(1 + e^−2u) ≈ −22.61 at u = 12, where 1 − tanh²
        // itself is 1.5e-10 and an f32 action is exactly 1.
        let sat = TanhGaussian {
            mean: vec![12.0],
            log_std: vec![LOG_STD_MIN],
            bounds: &bounds,
        };
        let d = sat.draw(&[0.5]);
        let u = 12.0 + (-5.0f64).exp() * 0.5;
        let log1m = 4f64.ln() - 2.0 * u - 2.0 * (-2.0 * u).exp().ln_1p();
        let expect = -0.125 + 5.0 - 0.5 * (2.0 * std::f64::consts::PI).ln() - log1m - 2f64.ln();
        assert!(
            (d.log_prob - expect).abs() < 1e-12,
            "{} vs {expect}",
            d.log_prob
        );
        assert!((sat.log_prob_of_u(&d.u) - expect).abs() < 1e-12);
        // The f32 kernel of the trainer agrees there too.
        assert!((f64::from(log1m_tanh_sq(12.0f32)) - log1m_tanh_sq(12.0f64)).abs() < 1e-5);
        assert_eq!(sat.log_density(&[2.0]), f64::NEG_INFINITY);
    }

    #[test]
    fn cell_masses_sum_to_one_and_match_monte_carlo() {
        use rand::Rng as _;
        let bounds = [Interval::symmetric(2.0), Interval { lo: -1.0, hi: 3.0 }];
        let p = TanhGaussian {
            mean: vec![0.4, -1.3],
            log_std: vec![-0.6, -1.8],
            bounds: &bounds,
        };
        let cells = [9, 7];
        let masses = p.cell_masses(&cells);
        assert_eq!(masses.len(), 63);
        assert!((masses.iter().sum::<f64>() - 1.0).abs() < 1e-13);
        let mut counts = vec![0u32; 63];
        let mut rng = crate::rng::seeded(3);
        let n = 400_000;
        for _ in 0..n {
            let eps: Vec<f64> = (0..2)
                .map(|_| rng.sample(rand_distr::StandardNormal))
                .collect();
            let a = p.draw(&eps).env_action;
            let k: Vec<usize> = (0..2)
                .map(|i| {
                    let x = (a[i] - bounds[i].lo) / bounds[i].width();
                    ((x * cells[i] as f64) as usize).min(cells[i] - 1)
                })
                .collect();
            counts[k[0] * cells[1] + k[1]] += 1;
        }
        for (k, (&c, &m)) in counts.iter().zip(&masses).enumerate() {
            let freq = f64::from(c) / n as f64;
            let se = (m * (1.0 - m) / n as f64).sqrt().max(1e-7);
            assert!((freq - m).abs() < 5.0 * se, "cell {k}: {freq} vs {m}");
        }
        // A saturated policy puts all its mass in the last cell.
        let sat = TanhGaussian {
            mean: vec![12.0],
            log_std: vec![LOG_STD_MIN],
            bounds: &bounds[..1],
        };
        let m = sat.cell_masses(&[41]);
        assert!((m[40] - 1.0).abs() < 1e-15 && m[..40].iter().all(|&p| p < 1e-300));
    }
}
