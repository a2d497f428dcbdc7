//! `metrics.csv` of a run dir: one row per episode (its return and length, the update losses
//! averaged over it) and one per evaluation (mean and std of the deterministic return), appended
//! a whole line at a time. `plot` reads it back through [`Column`].

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

pub const HEADER: &str = "kind,step,episode,return,return_std,length,critic_loss,actor_loss,alpha_loss,alpha,entropy,wall_seconds";

/// The columns of [`HEADER`], in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    Kind,
    Step,
    Episode,
    Return,
    ReturnStd,
    Length,
    CriticLoss,
    ActorLoss,
    AlphaLoss,
    Alpha,
    Entropy,
    WallSeconds,
}

impl Column {
    pub fn index(self) -> usize {
        self as usize
    }
}

/// A `metrics.csv`'s text, checked to be one (its first line is [`HEADER`]).
pub fn read(path: &Path) -> Result<String> {
    let text = crate::config::read(path)?;
    if text.lines().next() != Some(HEADER) {
        return Err(Error::input(
            path,
            "not a maxent metrics file (unexpected header)",
        ));
    }
    Ok(text)
}

fn write_error(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Write {
        path: path.to_path_buf(),
        source,
    }
}

/// An open metrics file.
pub struct Metrics {
    path: PathBuf,
    file: std::fs::File,
}

impl Metrics {
    /// A fresh file, or — resuming at `keep_until` — the old one cut to the rows up to that step
    /// (written whole under a temporary name, then renamed).
    pub fn open(path: PathBuf, keep_until: Option<(u64, &Path)>) -> Result<Metrics> {
        let mut text = format!("{HEADER}\n");
        if let Some((step, old)) = keep_until
            && let Ok(old_text) = std::fs::read_to_string(old)
        {
            for line in old_text.lines().skip(1) {
                let row_step = line
                    .split(',')
                    .nth(Column::Step.index())
                    .and_then(|s| s.parse::<u64>().ok());
                if row_step.is_some_and(|s| s <= step) {
                    text.push_str(line);
                    text.push('\n');
                }
            }
        }
        let tmp = path.with_extension("csv.tmp");
        std::fs::write(&tmp, &text).map_err(write_error(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(write_error(&path))?;
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(write_error(&path))?;
        Ok(Metrics { path, file })
    }

    /// Appends one row, its fields in [`Column`] order.
    pub fn row(&mut self, fields: &[String]) -> Result<()> {
        let line = fields.join(",") + "\n";
        self.file
            .write_all(line.as_bytes())
            .map_err(write_error(&self.path))
    }
}
