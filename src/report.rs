//! `maxent report DIR...`: one table over many runs. A sweep dir gives a row per grid cell; run
//! dirs given directly are grouped by their config without its seed. Per row, over the finished
//! seeds' final evaluations (the last `eval` row of `metrics.csv`: deterministic for SAC, sampled
//! for SQL): mean ± std, median, interquartile mean and its 95% percentile bootstrap interval
//! ([`crate::stats`], rliable's definitions, the bootstrap seeded), the count of finished seeds
//! of all, and the mean wall time of a run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::math::mean_std;
use crate::stats::{BOOTSTRAP_REPS, bootstrap_iqm_interval, iqm, median};
use crate::training::metrics::Column;

/// The seed of the bootstrap's resampling.
pub const BOOTSTRAP_SEED: u64 = 0x5EED;

/// One row of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// The sweep dir (or `runs`) and the cell's settings.
    pub source: String,
    pub settings: Vec<String>,
    pub seeds_finished: usize,
    pub seeds: usize,
    /// `null` where no seed has finished.
    pub mean: Option<f64>,
    pub std: Option<f64>,
    pub median: Option<f64>,
    pub iqm: Option<f64>,
    pub iqm_ci_low: Option<f64>,
    pub iqm_ci_high: Option<f64>,
    pub wall_seconds_mean: Option<f64>,
    /// The run dirs behind the row.
    pub runs: Vec<PathBuf>,
}

/// A run's final evaluation and wall time, if it finished.
fn final_eval(run: &Path) -> Result<Option<(f64, f64)>> {
    if !run.join("final").join("state.json").exists() {
        return Ok(None);
    }
    let path = run.join("metrics.csv");
    let text = crate::training::metrics::read(&path)?;
    let last_eval = text
        .lines()
        .rfind(|l| l.starts_with("eval,"))
        .ok_or_else(|| Error::input(&path, "a finished run without an evaluation row"))?;
    let f: Vec<&str> = last_eval.split(',').collect();
    let number = |c: Column| {
        f.get(c.index())
            .and_then(|v| v.parse::<f64>().ok())
            .ok_or_else(|| Error::input(&path, format!("malformed eval row: {last_eval}")))
    };
    Ok(Some((
        number(Column::Return)?,
        number(Column::WallSeconds)?,
    )))
}

fn row(source: String, settings: Vec<String>, runs: Vec<PathBuf>) -> Result<Row> {
    let finished: Vec<(f64, f64)> = runs
        .iter()
        .map(|r| final_eval(r))
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .flatten()
        .collect();
    let returns: Vec<f64> = finished.iter().map(|f| f.0).collect();
    let some = !returns.is_empty();
    let (mean, std) = mean_std(&returns);
    let (lo, hi) = match some {
        true => bootstrap_iqm_interval(
            &returns,
            0.95,
            BOOTSTRAP_REPS,
            &mut crate::rng::seeded(BOOTSTRAP_SEED),
        ),
        false => (f64::NAN, f64::NAN),
    };
    let wall = finished.iter().map(|f| f.1).sum::<f64>() / finished.len().max(1) as f64;
    let when = |x: f64| some.then_some(x);
    Ok(Row {
        source,
        settings,
        seeds_finished: returns.len(),
        seeds: runs.len(),
        mean: when(mean),
        std: when(std),
        median: some.then(|| median(&returns)),
        iqm: some.then(|| iqm(&returns)),
        iqm_ci_low: when(lo),
        iqm_ci_high: when(hi),
        wall_seconds_mean: when(wall),
        runs,
    })
}

/// A run dir's config text without its `seed` line: runs that share it form one row.
fn group_key(run: &Path) -> Result<String> {
    let path = run.join("config.toml");
    let text = crate::config::read(&path)?;
    Ok(text
        .lines()
        .filter(|l| !l.starts_with("seed ="))
        .collect::<Vec<_>>()
        .join("\n"))
}

/// The rows for `dirs`: each a sweep dir or a run dir.
pub fn rows(dirs: &[PathBuf]) -> Result<Vec<Row>> {
    let mut out = Vec::new();
    let mut loose: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for dir in dirs {
        if dir.join("sweep.toml").exists() {
            let (spec, entries) = crate::sweep::open(dir)?;
            for (cell, settings) in spec.cells().into_iter().enumerate() {
                let runs = entries
                    .iter()
                    .filter(|e| e.cell == cell)
                    .map(|e| crate::sweep::run_dir(dir, e))
                    .collect();
                out.push(row(dir.display().to_string(), settings, runs)?);
            }
        } else if dir.join("metrics.csv").exists() {
            loose.entry(group_key(dir)?).or_default().push(dir.clone());
        } else {
            return Err(Error::input(
                dir,
                "neither a sweep dir (sweep.toml) nor a run dir (metrics.csv)",
            ));
        }
    }
    for runs in loose.into_values() {
        let name = crate::config::Config::load(&runs[0].join("config.toml"), &[])
            .map(|c| c.name)
            .unwrap_or_default();
        out.push(row(format!("runs of {name}"), Vec::new(), runs)?);
    }
    Ok(out)
}

fn cell(x: Option<f64>) -> String {
    x.map_or("–".to_string(), |v| format!("{v:.2}"))
}

/// `report.md`.
pub fn markdown(rows: &[Row]) -> String {
    let mut s = format!(
        "# Report\n\nFinal evaluation return per row, over the finished seeds; IQM and its 95% \
         percentile bootstrap interval as rliable computes them ({BOOTSTRAP_REPS} resamples, seed \
         {BOOTSTRAP_SEED}).\n\n\
         | source | settings | seeds | mean ± std | median | IQM | IQM 95% CI | wall s / run |\n\
         |---|---|---|---|---|---|---|---|\n"
    );
    for r in rows {
        let settings = if r.settings.is_empty() {
            "–".to_string()
        } else {
            r.settings.join(", ")
        };
        s += &format!(
            "| {} | {settings} | {}/{} | {} ± {} | {} | {} | [{}, {}] | {} |\n",
            r.source,
            r.seeds_finished,
            r.seeds,
            cell(r.mean),
            cell(r.std),
            cell(r.median),
            cell(r.iqm),
            cell(r.iqm_ci_low),
            cell(r.iqm_ci_high),
            r.wall_seconds_mean
                .map_or("–".to_string(), |w| format!("{w:.1}")),
        );
    }
    s
}

/// `report.csv`: the numbers at full precision.
pub fn csv(rows: &[Row]) -> String {
    let mut s = String::from(
        "source,settings,seeds_finished,seeds,mean,std,median,iqm,iqm_ci_low,iqm_ci_high,wall_seconds_mean\n",
    );
    let num = |x: Option<f64>| x.map_or(String::new(), |v| format!("{v}"));
    for r in rows {
        s += &format!(
            "\"{}\",\"{}\",{},{},{},{},{},{},{},{},{}\n",
            r.source.replace('"', "\"\""),
            r.settings.join(" ").replace('"', "\"\""),
            r.seeds_finished,
            r.seeds,
            num(r.mean),
            num(r.std),
            num(r.median),
            num(r.iqm),
            num(r.iqm_ci_low),
            num(r.iqm_ci_high),
            num(r.wall_seconds_mean),
        );
    }
    s
}

/// Writes `report.md`, `report.json`, `report.csv` (and with `plot`, a learning-curve picture
/// per row under `curves/row<k>/`) into `out` at once; returns the rows.
pub fn write(dirs: &[PathBuf], out: &Path, plot: bool) -> Result<Vec<Row>> {
    let rows = rows(dirs)?;
    let json = serde_json::to_string_pretty(&rows).expect("plain data") + "\n";
    crate::io::write_dir_atomically(out, |tmp| {
        crate::io::write_file(&tmp.join("report.md"), markdown(&rows))?;
        crate::io::write_file(&tmp.join("report.json"), &json)?;
        crate::io::write_file(&tmp.join("report.csv"), csv(&rows))?;
        if plot {
            for (k, r) in rows.iter().enumerate() {
                let runs: Vec<PathBuf> = r
                    .runs
                    .iter()
                    .filter(|d| d.join("metrics.csv").exists())
                    .cloned()
                    .collect();
                if !runs.is_empty() {
                    crate::plot::learning_curves(
                        &runs,
                        &tmp.join("curves").join(format!("row{k}")),
                    )?;
                }
            }
        }
        Ok(())
    })?;
    Ok(rows)
}
