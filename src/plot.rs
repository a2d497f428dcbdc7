//! `maxent plot`: learning curves from run dirs' `metrics.csv` as one PNG — episode return, eval
//! return, α and the losses against environment steps. Runs of one config (by name) are drawn as
//! their mean with a ±1 std band; different configs get different colours.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use plotters::prelude::*;

use crate::error::{Error, Result};
use crate::training::metrics::Column;

/// One run's metrics: `(step, value)` series by name.
struct Run {
    name: String,
    series: BTreeMap<&'static str, Vec<(f64, f64)>>,
}

const SERIES: [(&str, &str, Column); 5] = [
    ("episode return", "episode", Column::Return),
    ("eval return", "eval", Column::Return),
    ("alpha", "episode", Column::Alpha),
    ("critic loss", "episode", Column::CriticLoss),
    ("actor loss", "episode", Column::ActorLoss),
];

fn read_run(dir: &Path) -> Result<Run> {
    let path = dir.join("metrics.csv");
    let text = crate::training::metrics::read(&path)?;
    let lines = text.lines().skip(1);
    let mut series: BTreeMap<&'static str, Vec<(f64, f64)>> = BTreeMap::new();
    for (i, line) in lines.enumerate() {
        let f: Vec<&str> = line.split(',').collect();
        let step = f
            .get(1)
            .and_then(|s| s.parse::<f64>().ok())
            .ok_or_else(|| Error::input(&path, format!("line {}: malformed row", i + 2)))?;
        for (label, kind, col) in SERIES {
            if f[0] == kind
                && let Some(v) = f.get(col.index()).and_then(|s| s.parse::<f64>().ok())
            {
                series.entry(label).or_default().push((step, v));
            }
        }
    }
    let name = crate::config::Config::load(&dir.join("config.toml"), &[])
        .map(|c| c.name)
        .unwrap_or_else(|_| dir.display().to_string());
    Ok(Run { name, series })
}

/// Mean and std across runs, per bin of `width` steps (per exact step when `width` is 0).
fn band(runs: &[&Run], label: &str, width: f64) -> Vec<(f64, f64, f64)> {
    let mut per_run: Vec<BTreeMap<i64, (f64, f64)>> = Vec::new(); // bin → (sum, count)
    for r in runs {
        let mut bins: BTreeMap<i64, (f64, f64)> = BTreeMap::new();
        for &(s, v) in r.series.get(label).into_iter().flatten() {
            let key = if width > 0.0 {
                (s / width).ceil() as i64
            } else {
                s as i64
            };
            let e = bins.entry(key).or_default();
            e.0 += v;
            e.1 += 1.0;
        }
        per_run.push(bins);
    }
    let keys: std::collections::BTreeSet<i64> =
        per_run.iter().flat_map(|b| b.keys().copied()).collect();
    keys.into_iter()
        .map(|k| {
            let vals: Vec<f64> = per_run
                .iter()
                .filter_map(|b| b.get(&k).map(|(s, c)| s / c))
                .collect();
            let (mean, std) = crate::math::mean_std(&vals);
            let x = if width > 0.0 {
                k as f64 * width
            } else {
                k as f64
            };
            (x, mean, std)
        })
        .collect()
}

/// Matplotlib's first colours: distinct and readable on white.
const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(23, 190, 207),
];

fn draw_error(path: &Path) -> impl Fn(String) -> Error + '_ {
    move |e| Error::Write {
        path: path.to_path_buf(),
        source: std::io::Error::other(e),
    }
}

/// Draws `learning_curves.png` into `out` from the run dirs; returns its path.
pub fn learning_curves(dirs: &[PathBuf], out: &Path) -> Result<PathBuf> {
    let runs = dirs
        .iter()
        .map(|d| read_run(d))
        .collect::<Result<Vec<_>>>()?;
    let mut groups: BTreeMap<&str, Vec<&Run>> = BTreeMap::new();
    for r in &runs {
        groups.entry(&r.name).or_default().push(r);
    }
    std::fs::create_dir_all(out).map_err(|source| Error::Write {
        path: out.to_path_buf(),
        source,
    })?;
    let path = out.join("learning_curves.png");
    let tmp = out.join(".learning_curves.tmp.png");
    let _ =
        plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular());
    let err = draw_error(&path);
    let max_step = runs
        .iter()
        .flat_map(|r| r.series.values().flatten().map(|p| p.0))
        .fold(1.0f64, f64::max);
    {
        let root = BitMapBackend::new(&tmp, (1400, 1000)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
        let panels = root.split_evenly((2, 2));
        let plots: [(&str, &[&str]); 4] = [
            ("episode return", &["episode return"]),
            ("deterministic evaluation return", &["eval return"]),
            ("temperature α", &["alpha"]),
            ("losses", &["critic loss", "actor loss"]),
        ];
        for (panel, (title, labels)) in panels.iter().zip(plots) {
            let mut curves = Vec::new();
            for (gi, (name, members)) in groups.iter().enumerate() {
                for (li, label) in labels.iter().enumerate() {
                    let width = if *label == "eval return" {
                        0.0
                    } else {
                        max_step / 100.0
                    };
                    let b = band(members, label, width);
                    if !b.is_empty() {
                        let tag = if labels.len() > 1 {
                            format!("{name} {label}")
                        } else {
                            format!("{name} (n = {})", members.len())
                        };
                        curves.push((
                            COLORS[(gi * labels.len() + li) % COLORS.len()].to_rgba(),
                            tag,
                            b,
                        ));
                    }
                }
            }
            let lo = curves
                .iter()
                .flat_map(|c| c.2.iter().map(|p| p.1 - p.2))
                .fold(f64::INFINITY, f64::min);
            let hi = curves
                .iter()
                .flat_map(|c| c.2.iter().map(|p| p.1 + p.2))
                .fold(f64::NEG_INFINITY, f64::max);
            let (lo, hi) = if lo.is_finite() && hi > lo {
                (lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo))
            } else {
                (-1.0, 1.0)
            };
            let mut chart = ChartBuilder::on(panel)
                .caption(title, ("sans-serif", 22))
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(70)
                .build_cartesian_2d(0.0..max_step, lo..hi)
                .map_err(|e| err(e.to_string()))?;
            let decimals = if hi - lo > 20.0 {
                0
            } else if hi - lo > 2.0 {
                1
            } else {
                3
            };
            let y_fmt = move |y: &f64| format!("{y:.decimals$}");
            chart
                .configure_mesh()
                .x_desc("environment steps")
                .x_label_formatter(&|x| format!("{x:.0}"))
                .y_label_formatter(&y_fmt)
                .label_style(("sans-serif", 14))
                .draw()
                .map_err(|e| err(e.to_string()))?;
            for (color, tag, b) in &curves {
                let mut poly: Vec<(f64, f64)> = b.iter().map(|p| (p.0, p.1 + p.2)).collect();
                poly.extend(b.iter().rev().map(|p| (p.0, p.1 - p.2)));
                chart
                    .draw_series(std::iter::once(Polygon::new(poly, color.mix(0.2).filled())))
                    .map_err(|e| err(e.to_string()))?;
                let c = *color;
                chart
                    .draw_series(LineSeries::new(
                        b.iter().map(|p| (p.0, p.1)),
                        c.stroke_width(2),
                    ))
                    .map_err(|e| err(e.to_string()))?
                    .label(tag.as_str())
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2))
                    });
            }
            if !curves.is_empty() {
                chart
                    .configure_series_labels()
                    .label_font(("sans-serif", 14))
                    .background_style(WHITE.mix(0.85))
                    .border_style(BLACK)
                    .draw()
                    .map_err(|e| err(e.to_string()))?;
            }
        }
        root.present().map_err(|e| err(e.to_string()))?;
    }
    drop(err);
    std::fs::rename(&tmp, &path).map_err(|source| Error::Write {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}
