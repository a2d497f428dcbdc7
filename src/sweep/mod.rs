//! `maxent sweep`: a config × a grid of settings × seeds, expanded into a sweep dir, then run here
//! (`--local`) or as one SLURM job array (`--slurm`), each run a task that is idempotent and
//! resumes from its last checkpoint.
//!
//! A sweep dir holds `sweep.toml` (the spec: the base config's text and path, the grid, the seeds,
//! the `--set`s, the `[slurm]` table), `manifest.json` (index → run dir, cell, settings, seed) and
//! `runs/<cell>-seed<seed>/config.toml`, each run's fully resolved config; `sweep.sbatch` for
//! SLURM. Every expanded config is validated before anything is written.

pub mod slurm;
pub mod task;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::error::{Error, Result};

/// One `--grid KEY=V1,V2,...`: a key and its values, each TOML value text as `--set` reads it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Axis {
    pub key: String,
    pub values: Vec<String>,
}

/// What a sweep is: everything its run dirs are expanded from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    /// The base config's path as given, and its text (the runs' configs come from the text's
    /// resolution, recorded in each run dir).
    pub config_path: String,
    pub config_text: String,
    pub grid: Vec<Axis>,
    pub seeds: Vec<u64>,
    pub sets: Vec<String>,
    #[serde(default)]
    pub slurm: slurm::Options,
}

/// One run of the sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub index: usize,
    /// Relative to the sweep dir.
    pub run_dir: String,
    pub cell: usize,
    /// The grid's settings of the cell, `KEY=VALUE` in grid order.
    pub settings: Vec<String>,
    pub seed: u64,
}

/// Splits `V1,V2,...` at the commas outside brackets and quotes (`[64,64],[128,128]` is two
/// values).
fn split_values(text: &str) -> Vec<String> {
    let (mut out, mut cur, mut depth, mut quote) = (Vec::new(), String::new(), 0i32, None);
    for c in text.chars() {
        match (c, quote) {
            ('"' | '\'', None) => quote = Some(c),
            (q, Some(open)) if q == open => quote = None,
            ('[' | '{', None) => depth += 1,
            (']' | '}', None) => depth -= 1,
            (',', None) if depth == 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur);
    out.into_iter().map(|v| v.trim().to_string()).collect()
}

/// Parses the `--grid` arguments.
pub fn parse_grid(args: &[String]) -> Result<Vec<Axis>> {
    let mut axes: Vec<Axis> = Vec::new();
    for arg in args {
        let bad = |m: &str| Error::argument(format!("--grid {arg}"), m.to_string());
        let (key, values) = arg
            .split_once('=')
            .ok_or_else(|| bad("expected KEY=V1,V2,..."))?;
        let key = key.trim();
        if key.is_empty() {
            return Err(bad("the key is empty"));
        }
        if key == "solver" || key.starts_with("solver.") {
            return Err(bad("solver keys do not change a run; sweep the learner's"));
        }
        if key == "seed" {
            return Err(bad("seeds are given by --seeds"));
        }
        if axes.iter().any(|a| a.key == key) {
            return Err(bad("the key is given twice"));
        }
        let values = split_values(values);
        if values.iter().any(String::is_empty) {
            return Err(bad("an empty value (expected V1,V2,...)"));
        }
        if let Some(v) = (1..values.len()).find(|&i| values[..i].contains(&values[i])) {
            return Err(bad(&format!("the value {} appears twice", values[v])));
        }
        axes.push(Axis {
            key: key.to_string(),
            values,
        });
    }
    Ok(axes)
}

impl Spec {
    /// The cells of the grid, in order (the last axis fastest): each a list of `KEY=VALUE`.
    pub fn cells(&self) -> Vec<Vec<String>> {
        self.grid.iter().fold(vec![Vec::new()], |cells, axis| {
            cells
                .iter()
                .flat_map(|c| {
                    axis.values.iter().map(move |v| {
                        let mut c = c.clone();
                        c.push(format!("{}={v}", axis.key));
                        c
                    })
                })
                .collect()
        })
    }

    /// Every run: cells × seeds, the seeds fastest.
    pub fn entries(&self) -> Vec<Entry> {
        let mut out = Vec::new();
        for (cell, settings) in self.cells().into_iter().enumerate() {
            for &seed in &self.seeds {
                out.push(Entry {
                    index: out.len(),
                    run_dir: format!("runs/cell{cell}-seed{seed}"),
                    cell,
                    settings: settings.clone(),
                    seed,
                });
            }
        }
        out
    }

    /// The fully resolved config of one run: the base config with the sweep's `--set`s, the
    /// cell's settings and the seed, and a replay buffer in every checkpoint (so a run resumed
    /// after a kill ends bit-identical to one that was not).
    pub fn config(&self, entry: &Entry) -> Result<Config> {
        let table: toml::Table = toml::from_str(&self.config_text).map_err(|e| {
            Error::input(
                &self.config_path,
                format!("not TOML any more: {}", e.message()),
            )
        })?;
        let mut sets = self.sets.clone();
        sets.extend(entry.settings.iter().cloned());
        sets.push(format!("seed={}", entry.seed));
        sets.push("train.save_replay=true".to_string());
        let path = Path::new(&self.config_path);
        let name = path.file_stem().map(|s| s.to_string_lossy().into_owned());
        Config::from_table(table, &self.config_path, path.parent(), name, &sets)
    }
}

/// Reads a sweep dir's spec and manifest.
pub fn open(dir: &Path) -> Result<(Spec, Vec<Entry>)> {
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read_to_string(&path).map_err(|e| {
            Error::input(
                &path,
                format!("cannot read ({e}): not a sweep dir made by `maxent sweep`"),
            )
        })
    };
    let spec_path = dir.join("sweep.toml");
    let spec: Spec = toml::from_str(&read("sweep.toml")?)
        .map_err(|e| Error::input(&spec_path, format!("corrupt sweep spec: {}", e.message())))?;
    let manifest_path = dir.join("manifest.json");
    let entries: Vec<Entry> = serde_json::from_str(&read("manifest.json")?)
        .map_err(|e| Error::input(&manifest_path, format!("corrupt manifest: {e}")))?;
    if entries != spec.entries() {
        return Err(Error::input(
            &manifest_path,
            "does not match sweep.toml (edited?)",
        ));
    }
    Ok((spec, entries))
}

/// Expands a spec into `dir`: validates every run's config, then writes the run dirs' configs,
/// the manifest and the spec. A dir that already holds this very spec is reused as it is (its
/// finished runs stay); one made by another spec, or holding anything else, is refused.
pub fn create(dir: &Path, spec: &Spec) -> Result<Vec<Entry>> {
    let entries = spec.entries();
    let configs: Vec<Config> = entries
        .iter()
        .map(|e| {
            spec.config(e).map_err(|err| {
                let cell = if e.settings.is_empty() {
                    String::from("the base config")
                } else {
                    format!("--grid cell {}", e.settings.join(" "))
                };
                Error::argument(cell, err.to_string())
            })
        })
        .collect::<Result<_>>()?;
    for (config, _) in configs.iter().zip(&entries) {
        crate::commands::check_trainable(config)?;
    }
    let spec_text = toml::to_string(spec).expect("a spec serializes");
    let spec_path = dir.join("sweep.toml");
    if spec_path.exists() {
        let (old, _) = open(dir)?;
        // The [slurm] table may change between submissions; the runs may not.
        let runs_of = |s: &Spec| Spec {
            slurm: slurm::Options::default(),
            ..s.clone()
        };
        if runs_of(&old) != runs_of(spec) {
            return Err(Error::input(
                &spec_path,
                "this sweep dir was made by another spec; give another --out (nothing was overwritten)",
            ));
        }
    } else if dir.read_dir().is_ok_and(|mut d| d.next().is_some()) {
        return Err(Error::input(
            dir,
            "exists and is not a sweep dir; give another --out",
        ));
    }
    for (config, entry) in configs.iter().zip(&entries) {
        let run = dir.join(&entry.run_dir);
        let path = run.join("config.toml");
        if !path.exists() {
            std::fs::create_dir_all(&run).map_err(|source| Error::Write {
                path: run.clone(),
                source,
            })?;
            crate::io::write_atomically(&path, config.to_toml())?;
        }
    }
    let manifest = serde_json::to_string_pretty(&entries).expect("plain data") + "\n";
    crate::io::write_atomically(&dir.join("manifest.json"), manifest)?;
    crate::io::write_atomically(&spec_path, spec_text)?;
    Ok(entries)
}

/// `maxent sweep --config …`: the spec from the command line, expanded into `out` (default
/// `runs/<name>-sweep`). Returns the sweep dir and its runs.
pub fn plan(
    config: &Path,
    grid: &[String],
    seeds: Option<Vec<u64>>,
    sets: &[String],
    out: Option<PathBuf>,
    slurm: slurm::Options,
) -> Result<(PathBuf, Vec<Entry>)> {
    let base = Config::load(config, sets)?;
    let seeds = seeds.unwrap_or_else(|| vec![base.seed]);
    if let Some(i) = (1..seeds.len()).find(|&i| seeds[..i].contains(&seeds[i])) {
        return Err(Error::argument(
            "--seeds",
            format!("seed {} appears twice", seeds[i]),
        ));
    }
    let grid = parse_grid(grid)?;
    for set in sets {
        let key = set.split_once('=').map_or(set.as_str(), |(k, _)| k).trim();
        if grid.iter().any(|a| a.key == key) {
            return Err(Error::argument(
                format!("--set {set}"),
                "the key is also swept by --grid",
            ));
        }
    }
    let spec = Spec {
        config_path: std::path::absolute(config)
            .unwrap_or_else(|_| config.to_path_buf())
            .display()
            .to_string(),
        config_text: crate::config::read(config)?,
        grid,
        seeds,
        sets: sets.to_vec(),
        slurm,
    };
    let dir = out.unwrap_or_else(|| PathBuf::from("runs").join(format!("{}-sweep", base.name)));
    let entries = create(&dir, &spec)?;
    Ok((dir, entries))
}

/// Where a sweep runs.
pub enum Backend {
    /// Here, `jobs` runs at a time.
    Local { jobs: usize },
    /// As a SLURM job array, submitted with `submit`.
    Slurm {
        options: slurm::Options,
        submit: bool,
    },
}

/// `maxent sweep --config … (--local | --slurm)`: plans the sweep and runs or writes (and
/// submits) it; returns what `--json` prints, with a line for a person in `"message"`.
pub fn start(
    config: &Path,
    grid: &[String],
    seeds: Option<Vec<u64>>,
    sets: &[String],
    out: Option<PathBuf>,
    backend: Backend,
) -> Result<serde_json::Value> {
    let options = match &backend {
        Backend::Slurm { options, .. } => options.clone(),
        Backend::Local { .. } => slurm::Options::default(),
    };
    if let Backend::Local { jobs: 0 } = backend {
        return Err(Error::argument("--jobs 0", "must be at least 1"));
    }
    let (dir, entries) = plan(config, grid, seeds, sets, out, options.clone())?;
    eprintln!("{} runs in {}", entries.len(), dir.display());
    Ok(match backend {
        Backend::Local { jobs } => {
            let (trained, skipped) = task::local(&dir, jobs)?;
            serde_json::json!({
                "sweep_dir": dir, "runs": entries.len(), "trained": trained, "skipped": skipped,
                "message": format!("{trained} trained, {skipped} finished before"),
            })
        }
        Backend::Slurm { submit, .. } => {
            let name = Config::load(config, sets)?.name;
            let script = slurm::write(&dir, &name, entries.len(), &options)?;
            let job = match submit {
                true => Some(slurm::submit(&dir)?),
                false => None,
            };
            let message = match &job {
                Some(job) => format!("submitted job {job} ({})", script.display()),
                None => format!(
                    "wrote {}; submit it with: sbatch {}",
                    script.display(),
                    script.display()
                ),
            };
            serde_json::json!({
                "sweep_dir": dir, "runs": entries.len(), "sbatch": script, "job_id": job,
                "message": message,
            })
        }
    })
}

/// The sweep dir's path for a run dir of it.
pub fn run_dir(dir: &Path, entry: &Entry) -> PathBuf {
    dir.join(&entry.run_dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_values_split_outside_brackets_and_quotes() {
        assert_eq!(split_values("3e-4, 1e-3"), ["3e-4", "1e-3"]);
        assert_eq!(
            split_values("[64,64],[128, 128]"),
            ["[64,64]", "[128, 128]"]
        );
        assert_eq!(split_values("\"sac\",'s,ql'"), ["\"sac\"", "'s,ql'"]);
        let axes = parse_grid(&[
            "agent.hidden=[8],[8,8]".into(),
            "objective.gamma=0.9,0.99".into(),
        ])
        .unwrap();
        let spec = Spec {
            config_path: "c.toml".into(),
            config_text: String::new(),
            grid: axes,
            seeds: vec![3, 5],
            sets: vec![],
            slurm: Default::default(),
        };
        let cells = spec.cells();
        assert_eq!(cells.len(), 4);
        assert_eq!(cells[1], ["agent.hidden=[8]", "objective.gamma=0.99"]);
        let e = spec.entries();
        assert_eq!(e.len(), 8);
        assert_eq!(
            (e[3].cell, e[3].seed, e[3].run_dir.as_str()),
            (1, 5, "runs/cell1-seed5")
        );
    }

    #[test]
    fn malformed_grids_name_their_entry() {
        for (arg, needle) in [
            ("agent.actor_lr", "expected KEY=V1,V2"),
            ("agent.actor_lr=", "empty value"),
            ("agent.actor_lr=1e-3,,2e-3", "empty value"),
            ("solver.states=[11,11]", "solver keys"),
            ("seed=1,2", "--seeds"),
            ("agent.actor_lr=1e-3,1e-3", "appears twice"),
        ] {
            let e = parse_grid(&[arg.to_string()]).unwrap_err().to_string();
            assert!(e.contains(arg) && e.contains(needle), "{arg}: {e}");
        }
        let twice = parse_grid(&["a.b=1".into(), "a.b=2".into()]).unwrap_err();
        assert!(twice.to_string().contains("twice"), "{twice}");
    }
}
