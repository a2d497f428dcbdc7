//! The pictures `compare` draws: heatmaps over a 2-D state space (V*, V learned, their
//! difference, both mean actions, the KL) and, for a 2-D action box, π* beside the learned policy
//! at a few states, both as densities of their action cells (cell probability / cell area).

use std::path::Path;

use super::PerState;
use crate::env::StateAxis;
use crate::error::Result;
use crate::exact::Solution;
use crate::heatmap::Raster;

/// A picture: rasters side by side, `cols` per row.
pub struct Figure {
    pub file: &'static str,
    pub rasters: Vec<Raster>,
    pub cols: usize,
    pub x_desc: String,
    pub y_desc: String,
}

impl Figure {
    pub fn draw(&self, dir: &Path) -> Result<()> {
        crate::heatmap::heatmaps(
            &dir.join(self.file),
            &self.rasters,
            self.cols,
            &self.x_desc,
            &self.y_desc,
        )
    }
}

/// `heatmaps.png`: per-state metrics at the centres of an `n × n` raster over the state box.
pub(super) fn state_heatmaps(axes: &[StateAxis], n: usize, per: &[PerState]) -> Figure {
    let raster = |title: &str, f: &dyn Fn(&PerState) -> f64| Raster {
        title: title.to_string(),
        x: (axes[0].lo, axes[0].hi),
        y: (axes[1].lo, axes[1].hi),
        nx: n,
        ny: n,
        values: per.iter().map(f).collect(),
    };
    Figure {
        file: "heatmaps.png",
        rasters: vec![
            raster("V* (exact)", &|p| p.v_exact),
            raster("V learned", &|p| p.v_learned),
            raster("V learned − V*", &|p| p.v_learned - p.v_exact),
            raster("mean action, exact", &|p| p.mean_exact[0]),
            raster("mean action, learned", &|p| p.mean_learned[0]),
            raster("KL(π learned ‖ π*)", &|p| p.kl),
        ],
        cols: 3,
        x_desc: "state[0]".into(),
        y_desc: "state[1]".into(),
    }
}

/// `actions.png`: π* (top row), the learned policy (middle row) and, for a learner with an
/// amortized sampler, its histogram (bottom row) at each of `states`; `learned` holds the
/// policy's cell masses at each state, `sampler` the sampler's cell frequencies.
pub(super) fn action_densities(
    exact: &Solution,
    states: &[Vec<f64>],
    learned: &[f64],
    sampler: Option<&[Vec<f64>]>,
) -> Figure {
    let bounds = exact.env.action_bounds();
    let cells = exact.actions.cells();
    let (k0, k1) = (cells[0], cells[1]);
    let cell_area = exact.actions.log_cell_volume().exp();
    // Cells are row-major in (a0, a1); rasters in (y, x) = (a1, a0).
    let transpose = |d: &[f64]| {
        (0..k0 * k1)
            .map(|k| d[(k % k0) * k1 + k / k0] / cell_area)
            .collect::<Vec<f64>>()
    };
    let raster = |title: String, cell_probabilities: &[f64]| Raster {
        title,
        x: (bounds[0].lo, bounds[0].hi),
        y: (bounds[1].lo, bounds[1].hi),
        nx: k0,
        ny: k1,
        values: transpose(cell_probabilities),
    };
    let mut rasters: Vec<Raster> = states
        .iter()
        .map(|s| {
            let l = exact.lookahead(s);
            raster(format!("π*(a|s) exact, s = {s:.2?}"), &l.probabilities)
        })
        .collect();
    rasters.extend(
        states
            .iter()
            .zip(learned.chunks_exact(k0 * k1))
            .map(|(s, p)| raster(format!("π(a|s) learned, s = {s:.2?}"), p)),
    );
    if let Some(histograms) = sampler {
        rasters.extend(
            states
                .iter()
                .zip(histograms)
                .map(|(s, h)| raster(format!("sampler histogram, s = {s:.2?}"), h)),
        );
    }
    Figure {
        file: "actions.png",
        rasters,
        cols: states.len(),
        x_desc: "action[0]".into(),
        y_desc: "action[1]".into(),
    }
}
