//! Aggregate statistics over runs, as `google-research/rliable` computes them (Agarwal et al.
//! 2021, "Deep RL at the Edge of the Statistical Precipice"): the median, the interquartile mean
//! (`scipy.stats.trim_mean(x, 0.25)`: the mean after cutting `⌊n/4⌋` values from each end of the
//! sorted sample) and a percentile bootstrap confidence interval of the IQM (rliable's
//! `get_interval_estimates` with one task: resample the runs with replacement, `reps` times, and
//! take the `(1 ± size)/2` quantiles of the statistic, interpolated linearly as NumPy's
//! `percentile`). The bootstrap draws from a seeded RNG, so a report reproduces.

use rand::Rng as _;

/// How many bootstrap resamples a report takes (rliable's default).
pub const BOOTSTRAP_REPS: usize = 50_000;

/// The values sorted ascending (NaN-free input).
fn sorted(x: &[f64]) -> Vec<f64> {
    let mut s = x.to_vec();
    s.sort_by(f64::total_cmp);
    s
}

/// The `q`-quantile (`0 ≤ q ≤ 1`) of sorted values, interpolated linearly between order
/// statistics (NumPy's default `linear` method).
pub fn quantile_sorted(s: &[f64], q: f64) -> f64 {
    let pos = q * (s.len() - 1) as f64;
    let (lo, frac) = (pos.floor() as usize, pos - pos.floor());
    match s.get(lo + 1) {
        Some(hi) if frac > 0.0 => s[lo] + frac * (hi - s[lo]),
        _ => s[lo],
    }
}

pub fn median(x: &[f64]) -> f64 {
    quantile_sorted(&sorted(x), 0.5)
}

/// The mean of sorted values after cutting `⌊n/4⌋` from each end.
fn iqm_sorted(s: &[f64]) -> f64 {
    let cut = s.len() / 4;
    let kept = &s[cut..s.len() - cut];
    kept.iter().sum::<f64>() / kept.len() as f64
}

/// The interquartile mean.
pub fn iqm(x: &[f64]) -> f64 {
    iqm_sorted(&sorted(x))
}

/// The percentile bootstrap interval of the IQM at confidence `size` (0.95 for 95%), from `reps`
/// resamples drawn by `rng`.
pub fn bootstrap_iqm_interval(
    x: &[f64],
    size: f64,
    reps: usize,
    rng: &mut crate::rng::Rng,
) -> (f64, f64) {
    let n = x.len();
    let mut resample = vec![0.0; n];
    let mut stats: Vec<f64> = (0..reps)
        .map(|_| {
            for r in resample.iter_mut() {
                *r = x[rng.random_range(0..n)];
            }
            resample.sort_by(f64::total_cmp);
            iqm_sorted(&resample)
        })
        .collect();
    stats.sort_by(f64::total_cmp);
    let tail = (1.0 - size) / 2.0;
    (
        quantile_sorted(&stats, tail),
        quantile_sorted(&stats, 1.0 - tail),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// scipy: `trim_mean([1..8], 0.25)` cuts 2 from each end, `mean(3, 4, 5, 6) = 4.5`; five values
    /// cut one each (`trim_mean([10, 1, 7, 3, 100], 0.25) = mean(3, 7, 10)`); three or fewer cut
    /// none. NumPy: `median([4, 1, 3, 2]) = 2.5`, `percentile([1, 2, 3, 4], 10) = 1.3`.
    #[test]
    fn iqm_median_and_quantiles_by_hand() {
        let eight: Vec<f64> = (1..=8).map(f64::from).collect();
        assert_eq!(iqm(&eight), 4.5);
        assert!((iqm(&[10.0, 1.0, 7.0, 3.0, 100.0]) - 20.0 / 3.0).abs() < 1e-12);
        assert_eq!(iqm(&[1.0, 2.0, 9.0]), 4.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&[5.0, -1.0, 2.0]), 2.0);
        assert!((quantile_sorted(&[1.0, 2.0, 3.0, 4.0], 0.1) - 1.3).abs() < 1e-12);
        assert_eq!(quantile_sorted(&[7.0], 0.975), 7.0);
    }

    /// Four runs `[0, 1, 2, 10]`: all 4⁴ = 256 resamples are equally likely, so the bootstrap
    /// distribution of the IQM (the mean of a resample's middle two) is known exactly; 50 000
    /// seeded resamples give its 2.5% and 97.5% quantiles. By enumeration: the IQM takes values
    /// in {0, 0.5, 1, 1.5, 2, 5.5, 6, 10}; P(IQM = 0) = 13/256 > 2.5% puts the lower end at 0;
    /// the upper end is where the CDF passes 97.5%.
    #[test]
    fn the_bootstrap_interval_matches_the_exact_resampling_distribution() {
        let x = [0.0, 1.0, 2.0, 10.0];
        let mut exact = Vec::with_capacity(256);
        for i in 0..256usize {
            let mut r: Vec<f64> = (0..4).map(|k| x[(i >> (2 * k)) & 3]).collect();
            r.sort_by(f64::total_cmp);
            exact.push((r[1] + r[2]) / 2.0);
        }
        exact.sort_by(f64::total_cmp);
        let below = |v: f64| exact.iter().filter(|&&e| e < v).count() as f64 / 256.0;
        assert_eq!(below(1e-9), 13.0 / 256.0);
        // The smallest value whose CDF reaches 97.5%.
        let upper = *exact
            .iter()
            .find(|&&v| exact.iter().filter(|&&e| e <= v).count() as f64 / 256.0 >= 0.975)
            .unwrap();
        let (lo, hi) = bootstrap_iqm_interval(&x, 0.95, BOOTSTRAP_REPS, &mut crate::rng::seeded(7));
        assert_eq!(lo, 0.0);
        // The empirical 97.5% quantile lies between the atoms around the exact one.
        let next_below = exact
            .iter()
            .copied()
            .filter(|&v| v < upper)
            .fold(f64::MIN, f64::max);
        assert!(
            hi > next_below - 1e-12 && hi <= upper + 1e-12,
            "{hi} vs ({next_below}, {upper}]"
        );
        // Seeded: the same interval again.
        assert_eq!(
            bootstrap_iqm_interval(&x, 0.95, BOOTSTRAP_REPS, &mut crate::rng::seeded(7)),
            (lo, hi)
        );
        // One run: no spread.
        let one = bootstrap_iqm_interval(&[3.5], 0.95, 100, &mut crate::rng::seeded(1));
        assert_eq!(one, (3.5, 3.5));
    }
}
