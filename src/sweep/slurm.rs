//! The SLURM backend: `sweep.sbatch`, one job array whose task `i` runs
//! `maxent sweep --run DIR --index i`; `--submit` hands it to `sbatch` and records the job id in
//! `slurm_jobs.txt`. Submitting again submits the whole array again: finished runs skip at once,
//! killed ones resume. The sweep dir must be on a filesystem every node sees.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The `#SBATCH` settings of a sweep (flags of `maxent sweep --slurm`, kept in the spec's
/// `[slurm]` table).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Options {
    /// `--partition`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    /// `--account`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// `--time` of each array task (SLURM's `HH:MM:SS` or `D-HH:MM`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// `--mem` of each array task (`4G`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem: Option<String>,
    /// Tasks running at once (`%P` of `--array`); all when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_parallel: Option<usize>,
    /// Whether SLURM may requeue a preempted task (`--requeue`); it resumes from its checkpoint.
    #[serde(default)]
    pub requeue: bool,
    /// Further lines, each written as `#SBATCH <line>`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<String>,
}

/// The text of `sweep.sbatch` for `runs` tasks of the sweep in `dir` (an absolute path), run by
/// the binary at `binary`.
pub fn script(dir: &Path, name: &str, runs: usize, opts: &Options, binary: &Path) -> String {
    let mut lines = vec![
        "#!/bin/bash".to_string(),
        format!("#SBATCH --job-name=maxent-{name}"),
        match opts.max_parallel {
            Some(p) => format!("#SBATCH --array=0-{}%{p}", runs - 1),
            None => format!("#SBATCH --array=0-{}", runs - 1),
        },
        "#SBATCH --cpus-per-task=1".to_string(),
        "#SBATCH --ntasks=1".to_string(),
        format!("#SBATCH --output={}/slurm/%A_%a.out", dir.display()),
    ];
    let mut flag = |key: &str, value: &Option<String>| {
        if let Some(v) = value {
            lines.push(format!("#SBATCH --{key}={v}"));
        }
    };
    flag("partition", &opts.partition);
    flag("account", &opts.account);
    flag("time", &opts.time);
    flag("mem", &opts.mem);
    if opts.requeue {
        lines.push("#SBATCH --requeue".to_string());
    }
    lines.extend(opts.extra.iter().map(|l| format!("#SBATCH {l}")));
    lines.push(String::new());
    lines.push(
        "# Each task trains one run on one thread; a finished run is skipped, a killed one resumes."
            .to_string(),
    );
    lines.push("export CANDLE_NUM_THREADS=1 RAYON_NUM_THREADS=1".to_string());
    lines.push(format!(
        "exec '{}' sweep --run '{}' --index \"$SLURM_ARRAY_TASK_ID\"",
        binary.display(),
        dir.display()
    ));
    lines.join("\n") + "\n"
}

/// Writes `sweep.sbatch` (and the `slurm/` log dir) into the sweep dir.
pub fn write(dir: &Path, name: &str, runs: usize, opts: &Options) -> Result<std::path::PathBuf> {
    let abs = std::path::absolute(dir).map_err(|e| Error::input(dir, e.to_string()))?;
    let binary = std::env::current_exe()
        .map_err(|e| Error::input("maxent", format!("cannot find its own binary: {e}")))?;
    let logs = abs.join("slurm");
    std::fs::create_dir_all(&logs).map_err(|source| Error::Write {
        path: logs.clone(),
        source,
    })?;
    let path = abs.join("sweep.sbatch");
    crate::io::write_atomically(&path, script(&abs, name, runs, opts, &binary))?;
    Ok(path)
}

/// Submits `sweep.sbatch` and appends the job id to `slurm_jobs.txt`.
pub fn submit(dir: &Path) -> Result<String> {
    let script = dir.join("sweep.sbatch");
    let out = std::process::Command::new("sbatch")
        .arg("--parsable")
        .arg(&script)
        .output()
        .map_err(|e| Error::External {
            program: "sbatch".into(),
            message: format!(
                "cannot run it ({e}); is SLURM installed here? {} is written, submit it by hand",
                script.display()
            ),
        })?;
    if !out.status.success() {
        let msg = String::from_utf8_lossy(&out.stderr);
        return Err(Error::External {
            program: "sbatch".into(),
            message: msg
                .lines()
                .next()
                .unwrap_or("failed without a message")
                .to_string(),
        });
    }
    let id = String::from_utf8_lossy(&out.stdout)
        .trim()
        .split(';')
        .next()
        .unwrap_or("")
        .to_string();
    let jobs = dir.join("slurm_jobs.txt");
    let mut text = std::fs::read_to_string(&jobs).unwrap_or_default();
    text.push_str(&id);
    text.push('\n');
    crate::io::write_atomically(&jobs, text)?;
    Ok(id)
}

/// The SLURM state of each array task of the sweep's newest job, by `squeue` (pending, running)
/// and `sacct` (ended), where those programs are on this machine; empty otherwise.
pub fn task_states(dir: &Path) -> HashMap<usize, String> {
    let mut out = HashMap::new();
    let Some(job) = std::fs::read_to_string(dir.join("slurm_jobs.txt"))
        .ok()
        .and_then(|t| t.lines().last().map(str::to_string))
    else {
        return out;
    };
    let run = |program: &str, args: &[&str]| {
        std::process::Command::new(program)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    };
    let mut read = |text: String| {
        for line in text.lines() {
            let mut parts = line.split(['|', ' ']).filter(|p| !p.is_empty());
            let (Some(id), Some(state)) = (parts.next(), parts.next()) else {
                continue;
            };
            if let Some(task) = id
                .strip_prefix(&format!("{job}_"))
                .and_then(|t| t.parse::<usize>().ok())
            {
                out.entry(task).or_insert_with(|| state.to_string());
            }
        }
    };
    // squeue first: it knows pending and running tasks; sacct the ended ones.
    read(run("squeue", &["-h", "-r", "-j", &job, "-o", "%i %T"]));
    read(run(
        "sacct",
        &["-n", "-P", "-X", "-j", &job, "-o", "JobID,State"],
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_runs_one_task_per_index_with_the_options() {
        let opts = Options {
            partition: Some("cpu".into()),
            account: Some("rl-lab".into()),
            time: Some("02:00:00".into()),
            mem: Some("4G".into()),
            max_parallel: Some(8),
            requeue: true,
            extra: vec!["--qos=low".into()],
        };
        let s = script(
            Path::new("/shared/sw"),
            "pendulum",
            10,
            &opts,
            Path::new("/opt/maxent"),
        );
        for line in [
            "#SBATCH --array=0-9%8",
            "#SBATCH --cpus-per-task=1",
            "#SBATCH --partition=cpu",
            "#SBATCH --account=rl-lab",
            "#SBATCH --time=02:00:00",
            "#SBATCH --mem=4G",
            "#SBATCH --requeue",
            "#SBATCH --qos=low",
            "#SBATCH --output=/shared/sw/slurm/%A_%a.out",
            "exec '/opt/maxent' sweep --run '/shared/sw' --index \"$SLURM_ARRAY_TASK_ID\"",
        ] {
            assert!(s.lines().any(|l| l == line), "{line} missing from\n{s}");
        }
        let plain = script(
            Path::new("/d"),
            "x",
            3,
            &Options::default(),
            Path::new("/m"),
        );
        assert!(
            plain.contains("#SBATCH --array=0-2\n") && !plain.contains("--time"),
            "{plain}"
        );
    }
}
