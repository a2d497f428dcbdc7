//! Pictures for `compare`: heatmaps of quantities over a 2-D state space, and action
//! distributions over a 2-D action box, as PNG (plotters, viridis colours, DejaVu Sans).

use std::path::Path;

use plotters::prelude::*;
use plotters::style::colors::colormaps::ViridisRGB;

use crate::error::{Error, Result};

/// Values on a `nx × ny` raster over `[x0, x1] × [y0, y1]`, row-major in y then x.
pub struct Raster {
    pub title: String,
    pub x: (f64, f64),
    pub y: (f64, f64),
    pub nx: usize,
    pub ny: usize,
    pub values: Vec<f64>,
}

fn draw_error(path: &Path) -> impl Fn(String) -> Error + '_ {
    move |e| Error::Write {
        path: path.to_path_buf(),
        source: std::io::Error::other(e),
    }
}

/// Draws rasters side by side (`cols` per row) with axis labels, each with its own colour range
/// (given in its caption), to `path` (written under a temporary name, then renamed).
pub fn heatmaps(
    path: &Path,
    rasters: &[Raster],
    cols: usize,
    x_desc: &str,
    y_desc: &str,
) -> Result<()> {
    let _ =
        plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular());
    let err = draw_error(path);
    let tmp = path.with_extension("tmp.png");
    let rows = rasters.len().div_ceil(cols);
    {
        let root =
            BitMapBackend::new(&tmp, (460 * cols as u32, 420 * rows as u32)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
        for (panel, r) in root.split_evenly((rows, cols)).iter().zip(rasters) {
            let finite = r.values.iter().copied().filter(|v| v.is_finite());
            let lo = finite.clone().fold(f64::INFINITY, f64::min);
            let hi = finite.fold(f64::NEG_INFINITY, f64::max);
            let (lo, hi) = if lo < hi {
                (lo, hi)
            } else {
                (lo - 1e-9, lo + 1e-9)
            };
            let mut chart = ChartBuilder::on(panel)
                .caption(
                    format!("{}  [{lo:.3}, {hi:.3}]", r.title),
                    ("sans-serif", 16),
                )
                .margin(8)
                .x_label_area_size(32)
                .y_label_area_size(44)
                .build_cartesian_2d(r.x.0..r.x.1, r.y.0..r.y.1)
                .map_err(|e| err(e.to_string()))?;
            chart
                .configure_mesh()
                .disable_mesh()
                .x_desc(x_desc)
                .y_desc(y_desc)
                .label_style(("sans-serif", 12))
                .draw()
                .map_err(|e| err(e.to_string()))?;
            let (dx, dy) = ((r.x.1 - r.x.0) / r.nx as f64, (r.y.1 - r.y.0) / r.ny as f64);
            let cells = (0..r.ny)
                .flat_map(|j| (0..r.nx).map(move |i| (i, j)))
                .map(|(i, j)| {
                    let v = r.values[j * r.nx + i];
                    let color = if v.is_finite() {
                        ViridisRGB::get_color_normalized(v, lo, hi)
                    } else {
                        RGBColor(200, 200, 200)
                    };
                    let (x, y) = (r.x.0 + i as f64 * dx, r.y.0 + j as f64 * dy);
                    Rectangle::new([(x, y), (x + dx, y + dy)], color.filled())
                });
            chart.draw_series(cells).map_err(|e| err(e.to_string()))?;
        }
        root.present().map_err(|e| err(e.to_string()))?;
    }
    std::fs::rename(&tmp, path).map_err(|source| Error::Write {
        path: path.to_path_buf(),
        source,
    })
}
