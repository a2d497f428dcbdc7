//! `exp`, `ln`, `tanh` and `log(1 − tanh²)` on f32 as straight-line arithmetic (Cody–Waite range
//! reduction and the minimax polynomials of Cephes' `expf`, `logf` and `tanhf`, Moshier 1989,
//! "Methods and Programs for Mathematical Functions"), with selects instead of branches, so that a
//! loop over a slice compiles to vector instructions; a libm call per element cannot. SAC's
//! tanh-Gaussian sampling runs these over a minibatch's every action component: 3 072 of them an
//! update at HalfCheetah's six, where glibc's scalar calls took 80 ns a component.
//!
//! No fused multiply–add is formed (Rust never contracts), so a loop gives the same bits compiled
//! for any x86-64 level; its caller compiles it for AVX2 too (`#[target_feature]`) and runs that
//! where the CPU has it.
//! Accuracy against f64 over every 97th (`tanh`: 31st) float of their range (the tests): `exp`
//! 0.97 ulp at worst, `ln` 0.79, `tanh` 1.50, `log(1 − tanh²)` 2.1e-7 relative to max(1, |value|).
//! NaN propagates through each.

/// `1.5·2²³`: adding it rounds an f32 of magnitude below 2²² to an integer, which then sits in the
/// low bits of the sum's mantissa.
const ROUND: f32 = 12_582_912.0;
const LN2_HI: f32 = 355.0 / 512.0; // ln 2 in 9 bits (0.693359375), so n·LN2_HI is exact for |n| ≤ 2¹⁴
const LN2_LO: f32 = -2.121_944_4e-4; // ln 2 − LN2_HI

/// `x` limited to `[lo, hi]`, NaN kept (a select on each side, which vectorizes).
#[inline(always)]
fn limit(x: f32, lo: f32, hi: f32) -> f32 {
    let x = if x < lo { lo } else { x };
    if x > hi { hi } else { x }
}

/// `eˣ`. Inputs past ±87.3 are limited to it: `exp` gives 1.2e-38 at the bottom (the smallest
/// normal float, not 0) and 6.3e37 at the top (not ∞).
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    let x = limit(x, -87.336_55, 87.336_55);
    // x = n·ln 2 + r, |r| ≤ ln 2 / 2
    let shifted = x * std::f32::consts::LOG2_E + ROUND;
    let n_bits = shifted.to_bits().wrapping_sub(ROUND.to_bits()) as i32;
    let n = shifted - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let z = r * r;
    let p = (((((1.987_569_2e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2)
        * r
        + 1.666_666_5e-1)
        * r
        + 0.5)
        * z
        + r
        + 1.0;
    // 2ⁿ from its exponent bits (n in [−126, 126])
    p * f32::from_bits(((n_bits + 127) as u32) << 23)
}

/// `ln x` for a positive normal `x`.
#[inline(always)]
pub fn ln(x: f32) -> f32 {
    const SQRT_HALF: f32 = std::f32::consts::FRAC_1_SQRT_2;
    let bits = x.to_bits();
    // x = m·2ᵉ with m in [½, 1), then m in [√½, √2) for the polynomial
    let e = ((bits >> 23) & 0xff) as i32 - 126;
    let m = f32::from_bits((bits & 0x007f_ffff) | 0x3f00_0000);
    let low = m < SQRT_HALF;
    let e = (if low { e - 1 } else { e }) as f32;
    let f = if low { m + m - 1.0 } else { m - 1.0 };
    let z = f * f;
    let p = ((((((((7.037_683_6e-2 * f - 1.151_461_e-1) * f + 1.167_699_9e-1) * f
        - 1.242_014_1e-1)
        * f
        + 1.424_932_3e-1)
        * f
        - 1.666_805_8e-1)
        * f
        + 2.000_071_4e-1)
        * f
        - 2.499_999_4e-1)
        * f
        + 3.333_333e-1)
        * f
        * z;
    let y = p + LN2_LO * e - 0.5 * z;
    // NaN in, NaN out: the bit manipulation above would make a number of it
    if x.is_nan() { x } else { f + y + LN2_HI * e }
}

/// `tanh x`, given `t = e^(−2|x|)` (which [`log1m_tanh_sq_of`] shares).
#[inline(always)]
pub fn tanh_of(x: f32, t: f32) -> f32 {
    let s = x * x;
    let near_zero =
        ((((-5.704_988_7e-3 * s + 2.063_909e-2) * s - 5.373_971_6e-2) * s + 1.333_144_2e-1) * s
            - 3.333_328e-1)
            * s
            * x
            + x;
    let far = ((1.0 - t) / (1.0 + t)).copysign(x);
    if x.abs() < 0.625 { near_zero } else { far }
}

/// `tanh x`.
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    tanh_of(x, exp(-2.0 * x.abs()))
}

/// `log(1 − tanh² x) = 2·(log 2 − |x| − log(1 + t))`, given `t = e^(−2|x|)`: finite for every
/// finite x.
#[inline(always)]
pub fn log1m_tanh_sq_of(x: f32, t: f32) -> f32 {
    // log(1 + t) for t in (0, 1], accurate also for small t: log(w)·t/(w − 1), w = 1 + t rounded
    let w = 1.0 + t;
    let log1p = if w == 1.0 { t } else { ln(w) * (t / (w - 1.0)) };
    2.0 * (std::f32::consts::LN_2 - x.abs() - log1p)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `step`-th f32 between `lo` and `hi` (by bit pattern, so dense near 0 too).
    fn grid(lo: f32, hi: f32, step: u32) -> Vec<f32> {
        let mut out = Vec::new();
        for (a, b, neg) in [(0.0f32, -lo, true), (0.0, hi, false)] {
            if b <= a {
                continue;
            }
            let (mut k, end) = (f32::MIN_POSITIVE.to_bits(), b.to_bits());
            while k <= end {
                let x = f32::from_bits(k);
                out.push(if neg { -x } else { x });
                k += step;
            }
        }
        out
    }

    fn ulps(got: f32, want: f64) -> f64 {
        let w = want as f32;
        let ulp = f64::from(f32::from_bits(w.abs().to_bits() + 1)) - f64::from(w.abs());
        (f64::from(got) - want).abs() / ulp
    }

    /// The largest error of `f` against `exact` in ulp, over every `step`-th float of the range.
    fn worst_ulps(lo: f32, hi: f32, step: u32, f: fn(f32) -> f32, exact: fn(f64) -> f64) -> f64 {
        grid(lo, hi, step)
            .into_iter()
            .map(|x| ulps(f(x), exact(f64::from(x))))
            .fold(0.0, f64::max)
    }

    #[test]
    fn exp_within_one_and_a_half_ulp() {
        let worst = worst_ulps(-87.0, 87.0, 97, exp, f64::exp);
        assert!(worst <= 1.5, "{worst} ulp");
        assert_eq!(exp(0.0), 1.0);
        assert!(exp(-1000.0) > 0.0 && exp(-1000.0) < 1.2e-38);
        assert!(exp(f32::NAN).is_nan());
    }

    #[test]
    fn ln_within_one_and_a_half_ulp() {
        let worst = worst_ulps(f32::MIN_POSITIVE, 3e38, 97, ln, f64::ln);
        assert!(worst <= 1.5, "{worst} ulp");
        assert_eq!(ln(1.0), 0.0);
        assert!(ln(f32::NAN).is_nan());
    }

    #[test]
    fn tanh_within_two_ulp() {
        let worst = worst_ulps(-20.0, 20.0, 31, tanh, f64::tanh);
        assert!(worst <= 2.0, "{worst} ulp");
        assert_eq!(tanh(100.0), 1.0);
        assert_eq!(tanh(-100.0), -1.0);
        assert!(tanh(f32::NAN).is_nan());
    }

    #[test]
    fn log1m_tanh_sq_matches_f64() {
        let worst = grid(-40.0, 40.0, 31)
            .into_iter()
            .map(|x| {
                let t = exp(-2.0 * x.abs());
                let want = crate::tanh_gaussian::log1m_tanh_sq(f64::from(x));
                (f64::from(log1m_tanh_sq_of(x, t)) - want).abs() / want.abs().max(1.0)
            })
            .fold(0.0, f64::max);
        assert!(worst <= 3e-7, "{worst}");
        assert!(log1m_tanh_sq_of(f32::NAN, exp(f32::NAN)).is_nan());
    }

    #[inline(always)]
    fn all(xs: &[f32]) -> Vec<u32> {
        xs.iter()
            .map(|&x| {
                let t = exp(-2.0 * x.abs());
                tanh_of(x, t) + log1m_tanh_sq_of(x, t) + ln(exp(x).max(1e-30))
            })
            .map(f32::to_bits)
            .collect()
    }

    /// The same bits from the loop compiled for AVX2 and for the baseline.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_and_baseline_agree() {
        #[target_feature(enable = "avx2")]
        unsafe fn all_avx2(xs: &[f32]) -> Vec<u32> {
            all(xs)
        }
        if !std::arch::is_x86_feature_detected!("avx2") {
            return;
        }
        let xs = grid(-30.0, 30.0, 4099);
        // SAFETY: the CPU has AVX2 (checked above).
        assert_eq!(unsafe { all_avx2(&xs) }, all(&xs));
    }
}
