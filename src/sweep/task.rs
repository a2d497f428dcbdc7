//! One run of a sweep as a task (`maxent sweep --run DIR --index I`, what every SLURM array task
//! calls), the local backend that runs them N at a time, and `--status`.
//!
//! A task is idempotent: a finished run (its `final/` written) is skipped; a run killed, timed
//! out or preempted resumes from its newest checkpoint, which holds the replay buffer, so it ends
//! bit-identical to a run that was never stopped; a fresh one trains from the start. While it
//! runs, its run dir holds `running` (host and pid); a task that fails leaves `failed.txt` with
//! its error line.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{Entry, Spec, open, run_dir};
use crate::error::{Error, Result};
use crate::training::RunSummary;

/// What a task did.
pub enum Outcome {
    /// The run was already finished.
    Skipped,
    /// It trained (fresh or resumed) to the end.
    Trained(RunSummary),
}

/// The newest checkpoint of a run dir that is whole (its `state.json` written), if any.
fn newest_checkpoint(run: &Path) -> Option<PathBuf> {
    let dir = run.join("checkpoints");
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let step: u64 = name.strip_prefix("step_")?.parse().ok()?;
            e.path()
                .join("state.json")
                .exists()
                .then(|| (step, e.path()))
        })
        .max_by_key(|(step, _)| *step)
        .map(|(_, p)| p)
}

fn finished(run: &Path) -> bool {
    run.join("final").join("state.json").exists()
}

/// The entry at `index`, or an error naming the range.
fn entry(entries: &[Entry], index: usize) -> Result<&Entry> {
    entries.get(index).ok_or_else(|| {
        Error::argument(
            format!("--index {index}"),
            format!(
                "out of range: the sweep has {} runs (0–{})",
                entries.len(),
                entries.len().saturating_sub(1)
            ),
        )
    })
}

/// Runs one task of the sweep in `dir`.
pub fn run(dir: &Path, index: usize, bar: &indicatif::ProgressBar) -> Result<Outcome> {
    let (spec, entries) = open(dir)?;
    run_entry(dir, &spec, entry(&entries, index)?, bar)
}

fn run_entry(
    dir: &Path,
    spec: &Spec,
    entry: &Entry,
    bar: &indicatif::ProgressBar,
) -> Result<Outcome> {
    let run = run_dir(dir, entry);
    let config = spec.config(entry)?;
    let path = run.join("config.toml");
    let recorded = std::fs::read_to_string(&path)
        .map_err(|e| Error::input(&path, format!("cannot read ({e})")))?;
    if recorded != config.to_toml() {
        return Err(Error::input(
            &path,
            "was edited: it no longer matches the sweep's spec (restore it, or make a new sweep)",
        ));
    }
    if finished(&run) {
        return Ok(Outcome::Skipped);
    }
    let _ = std::fs::remove_file(run.join("failed.txt"));
    let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    crate::io::write_atomically(
        &run.join("running"),
        format!("{} {}\n", host.trim(), std::process::id()),
    )?;
    let result = match newest_checkpoint(&run) {
        Some(checkpoint) => {
            crate::commands::resume_with(&checkpoint, Some(run.clone()), &[], bar, false)
        }
        None => crate::commands::train_fresh(&config, &run, bar, false),
    };
    let _ = std::fs::remove_file(run.join("running"));
    match result {
        Ok(summary) => Ok(Outcome::Trained(summary)),
        // Stopped by a signal (Ctrl-C, SLURM's SIGTERM): a checkpoint, not a failure.
        Err(e @ Error::Interrupted { .. }) => Err(e),
        Err(e) => {
            let _ = crate::io::write_atomically(&run.join("failed.txt"), format!("{e}\n"));
            Err(e)
        }
    }
}

/// Runs every task of the sweep here, `jobs` at a time, each on one thread: one progress bar for
/// the sweep and a line per finished run on stderr. Returns how many were trained and skipped;
/// an error if any failed (the others still run).
pub fn local(dir: &Path, jobs: usize) -> Result<(usize, usize)> {
    let (spec, entries) = open(dir)?;
    let configs: Vec<_> = entries
        .iter()
        .map(|e| spec.config(e))
        .collect::<Result<_>>()?;
    for config in &configs {
        crate::training::memory::check(config, crate::commands::learner_bytes(config), jobs)?;
    }
    let bar = crate::progress::sweep(entries.len() as u64);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let counts = std::sync::Mutex::new((0usize, 0usize, 0usize));
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(|| {
                loop {
                    // After Ctrl-C (or SIGTERM) the running runs checkpoint; no new one starts.
                    if crate::training::run::INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst) {
                        break;
                    }
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some(e) = entries.get(i) else { break };
                    let hidden = indicatif::ProgressBar::hidden();
                    let line = match run_entry(dir, &spec, e, &hidden) {
                        Ok(Outcome::Skipped) => {
                            counts.lock().expect("no panics").1 += 1;
                            format!("run {i} ({}): finished before, skipped", e.run_dir)
                        }
                        Ok(Outcome::Trained(s)) => {
                            counts.lock().expect("no panics").0 += 1;
                            format!(
                                "run {i} ({}): final eval {:.1} in {:.1} s",
                                e.run_dir, s.final_eval_mean_return, s.wall_seconds
                            )
                        }
                        Err(err @ Error::Interrupted { .. }) => {
                            format!("run {i} ({}): {err}", e.run_dir)
                        }
                        Err(err) => {
                            counts.lock().expect("no panics").2 += 1;
                            format!("run {i} ({}): failed: {err}", e.run_dir)
                        }
                    };
                    // Printed whether or not stderr is a terminal (the bar is drawn only there).
                    bar.suspend(|| eprintln!("{line}"));
                    bar.inc(1);
                }
            });
        }
    });
    bar.finish_and_clear();
    let (trained, skipped, failed) = counts.into_inner().expect("no panics");
    if crate::training::run::INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst) {
        return Err(Error::External {
            program: "maxent sweep".into(),
            message: format!(
                "interrupted: the running runs wrote checkpoints; run the sweep again to finish it ({trained} finished, {failed} failed)"
            ),
        });
    }
    if failed > 0 {
        return Err(Error::External {
            program: "maxent sweep".into(),
            message: format!(
                "{failed} of {} runs failed (their run dirs hold failed.txt; maxent sweep --status {} lists them); running the sweep again retries them",
                entries.len(),
                dir.display()
            ),
        });
    }
    Ok((trained, skipped))
}

/// One run's state, as `--status` reports it.
#[derive(Debug, Clone, Serialize)]
pub struct RunStatus {
    pub index: usize,
    pub run_dir: String,
    pub settings: Vec<String>,
    pub seed: u64,
    /// `done`, `running`, `interrupted` (resumes from `step`), `failed` or `missing`.
    pub state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The SLURM job state of its array task, where `squeue` or `sacct` knows it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slurm: Option<String>,
}

/// Whether the process a `running` marker names is alive on this host.
fn alive(marker: &str) -> bool {
    let mut parts = marker.split_whitespace();
    let (host, pid) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let here = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    if host != here.trim() {
        // Another node's task: trust the marker (SLURM's state says more).
        return true;
    }
    Path::new("/proc").join(pid).exists()
}

/// The state of every run of the sweep in `dir`.
pub fn status(dir: &Path) -> Result<Vec<RunStatus>> {
    let (_, entries) = open(dir)?;
    let slurm = super::slurm::task_states(dir);
    Ok(entries
        .iter()
        .map(|e| {
            let run = run_dir(dir, e);
            let checkpoint = newest_checkpoint(&run).and_then(|c| {
                let text = std::fs::read_to_string(c.join("state.json")).ok()?;
                serde_json::from_str::<serde_json::Value>(&text).ok()?["step"].as_u64()
            });
            let marker = std::fs::read_to_string(run.join("running")).ok();
            let failed = std::fs::read_to_string(run.join("failed.txt")).ok();
            let state = if finished(&run) {
                "done"
            } else if marker.as_deref().is_some_and(alive) {
                "running"
            } else if failed.is_some() {
                "failed"
            } else if checkpoint.is_some() {
                "interrupted"
            } else {
                "missing"
            };
            RunStatus {
                index: e.index,
                run_dir: e.run_dir.clone(),
                settings: e.settings.clone(),
                seed: e.seed,
                state,
                step: checkpoint.filter(|_| state != "done"),
                error: failed.map(|f| f.trim().to_string()),
                slurm: slurm.get(&e.index).cloned(),
            }
        })
        .collect())
}
