//! `maxent sweep` and `maxent report` end to end: expansion, the local backend, idempotent and
//! crash-safe tasks, the SLURM script, bad input, and the report's statistics by hand.

mod util;

use util::{Dir, repo};

/// A tiny pendulum: 16×16 networks, a few hundred steps.
const TINY: &[&str] = &[
    "--set",
    "train.learning_starts=100",
    "--set",
    "train.batch_size=32",
    "--set",
    "train.eval_every=300",
    "--set",
    "train.eval_episodes=2",
    "--set",
    "train.checkpoint_every=300",
    "--set",
    "agent.hidden=[16,16]",
];

fn sweep(dir: &Dir, out: &str, steps: u64, extra: &[&str]) -> util::Run {
    let config = repo("configs/pendulum.toml");
    let steps = format!("train.total_steps={steps}");
    let mut args = vec!["sweep", "--config", &config, "--out", out, "--set", &steps];
    args.extend_from_slice(TINY);
    args.extend_from_slice(extra);
    dir.maxent(&args)
}

/// The last eval row's return of a run dir's metrics.csv.
fn final_return(dir: &Dir, run: &str) -> f64 {
    let text = std::fs::read_to_string(dir.path().join(run).join("metrics.csv")).unwrap();
    let row = text.lines().rfind(|l| l.starts_with("eval,")).unwrap();
    row.split(',').nth(3).unwrap().parse().unwrap()
}

/// 2 actor learning rates × 2 seeds run locally: four run dirs with their resolved configs, a
/// second run skips all four, and the report's numbers are those of the runs' own metrics:
/// with two seeds the IQM is their mean and the 95% bootstrap interval runs from the lower to the
/// higher (each resample of two is both-low with probability 1/4 > 2.5%).
#[test]
fn a_local_sweep_runs_every_cell_and_seed_and_reports_them() {
    let dir = Dir::new();
    let grid = ["--grid", "agent.actor_lr=3e-4,1e-3", "--seeds", "0,1"];
    let r = sweep(
        &dir,
        "sw",
        600,
        &[&grid[..], &["--local", "--jobs", "2", "--json"]].concat(),
    )
    .json();
    assert_eq!(
        (r["runs"].as_u64(), r["trained"].as_u64()),
        (Some(4), Some(4)),
        "{r}"
    );
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("sw/manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest.as_array().unwrap().len(), 4);
    assert_eq!(manifest[3]["settings"][0], "agent.actor_lr=1e-3");
    assert_eq!(manifest[3]["seed"], 1);
    let config =
        std::fs::read_to_string(dir.path().join("sw/runs/cell1-seed1/config.toml")).unwrap();
    for line in [
        "seed = 1",
        "actor_lr = 0.001",
        "save_replay = true",
        "total_steps = 600",
    ] {
        assert!(
            config.lines().any(|l| l.trim() == line),
            "{line} missing:\n{config}"
        );
    }
    let again = sweep(
        &dir,
        "sw",
        600,
        &[&grid[..], &["--local", "--json"]].concat(),
    )
    .json();
    assert_eq!(
        (again["trained"].as_u64(), again["skipped"].as_u64()),
        (Some(0), Some(4))
    );

    let report = dir.maxent(&["report", "sw", "--json"]).json();
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for (cell, row) in rows.iter().enumerate() {
        let x: Vec<f64> = (0..2)
            .map(|s| final_return(&dir, &format!("sw/runs/cell{cell}-seed{s}")))
            .collect();
        let (lo, hi) = (x[0].min(x[1]), x[0].max(x[1]));
        let mean = (x[0] + x[1]) / 2.0;
        let close = |key: &str, v: f64| {
            let got = row[key].as_f64().unwrap();
            assert!(
                (got - v).abs() <= 1e-9 * (1.0 + v.abs()),
                "{key}: {got} vs {v}"
            );
        };
        close("mean", mean);
        close("std", (hi - lo) / 2.0);
        close("median", mean);
        close("iqm", mean);
        close("iqm_ci_low", lo);
        close("iqm_ci_high", hi);
        assert_eq!(row["seeds_finished"], 2);
    }
    for file in ["report.md", "report.json", "report.csv"] {
        assert!(dir.path().join("sw/report").join(file).exists(), "{file}");
    }
    // With --plot, learning-curve bands per row.
    dir.maxent(&["report", "sw", "--plot", "--out", "r3"]).ok();
    for row in 0..2 {
        let png = dir
            .path()
            .join(format!("r3/curves/row{row}/learning_curves.png"));
        assert!(
            std::fs::metadata(&png).unwrap().len() > 1000,
            "{}",
            png.display()
        );
    }
    // The same runs given as run dirs form the same rows.
    let loose = dir
        .maxent(&[
            "report",
            "sw/runs/cell0-seed0",
            "sw/runs/cell0-seed1",
            "--json",
            "--out",
            "r2",
        ])
        .json();
    assert_eq!(loose["rows"][0]["iqm"], rows[0]["iqm"]);
}

/// A task killed after its first checkpoint and run again resumes from it and ends with the very
/// model and metrics of the same task never interrupted.
#[test]
fn a_killed_task_resumes_to_the_uninterrupted_result() {
    let dir = Dir::new();
    for out in ["a", "b"] {
        sweep(&dir, out, 6000, &["--slurm"]).ok();
    }
    assert!(dir.path().join("a/sweep.sbatch").exists());
    let bin = env!("CARGO_BIN_EXE_maxent");
    let mut child = std::process::Command::new(bin)
        .args(["sweep", "--run", "a", "--index", "0"])
        .current_dir(dir.path())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let first = dir
        .path()
        .join("a/runs/cell0-seed0/checkpoints/step_300/state.json");
    let start = std::time::Instant::now();
    while !first.exists() && start.elapsed().as_secs() < 120 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !dir.path().join("a/runs/cell0-seed0/final").exists(),
        "the task finished before it could be killed"
    );
    let status = dir.maxent(&["sweep", "--status", "a", "--json"]).json();
    assert_eq!(status["runs"][0]["state"], "interrupted", "{status}");
    dir.maxent(&["sweep", "--run", "a", "--index", "0"]).ok();
    dir.maxent(&["sweep", "--run", "b", "--index", "0"]).ok();
    let read = |p: &str| std::fs::read(dir.path().join(p)).unwrap();
    assert_eq!(
        read("a/runs/cell0-seed0/final/model.safetensors"),
        read("b/runs/cell0-seed0/final/model.safetensors")
    );
    assert_eq!(
        dir.metrics("a/runs/cell0-seed0"),
        dir.metrics("b/runs/cell0-seed0")
    );
    let status = dir.maxent(&["sweep", "--status", "a", "--json"]).json();
    assert_eq!(status["runs"][0]["state"], "done", "{status}");
}

#[test]
fn bad_sweeps_are_refused_with_one_line() {
    let dir = Dir::new();
    sweep(&dir, "x", 300, &["--grid", "agent.actor_lr", "--local"])
        .assert_bad_input(&["--grid agent.actor_lr", "KEY=V1,V2"]);
    sweep(
        &dir,
        "x",
        300,
        &["--grid", "agent.actor_lr=1e-3,-1", "--local"],
    )
    .assert_bad_input(&["agent.actor_lr=-1", "actor_lr"]);
    sweep(&dir, "x", 300, &["--grid", "agent.nonsense=1,2", "--local"])
        .assert_bad_input(&["agent.nonsense"]);
    sweep(
        &dir,
        "x",
        300,
        &["--grid", "solver.states=[5,5]", "--local"],
    )
    .assert_bad_input(&["solver"]);
    sweep(&dir, "x", 300, &["--grid", "agent.actor_lr=1e-3,2e-3"])
        .assert_bad_input(&["--local or --slurm"]);
    assert!(
        !dir.path().join("x").exists(),
        "nothing written for a refused sweep"
    );

    sweep(&dir, "s", 300, &["--slurm"]).ok();
    sweep(
        &dir,
        "s",
        300,
        &["--grid", "agent.actor_lr=1e-3,2e-3", "--slurm"],
    )
    .assert_bad_input(&["another spec"]);
    dir.maxent(&["sweep", "--run", "s", "--index", "5"])
        .assert_bad_input(&["--index 5", "out of range"]);
    let config = dir.path().join("s/runs/cell0-seed0/config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replace("gamma = 0.99", "gamma = 0.9")).unwrap();
    dir.maxent(&["sweep", "--run", "s", "--index", "0"])
        .assert_bad_input(&["config.toml", "edited"]);
    dir.maxent(&["sweep", "--status", "nowhere"])
        .assert_bad_input(&["nowhere", "not a sweep dir"]);
    dir.maxent(&["report", "nowhere"])
        .assert_bad_input(&["nowhere"]);
}

/// `--submit` without SLURM on the machine: sbatch.sbatch is written, and the error says why
/// nothing was submitted (exit 1).
#[test]
fn submitting_without_sbatch_says_so() {
    if std::process::Command::new("sbatch")
        .arg("--version")
        .output()
        .is_ok()
    {
        eprintln!("skipped: sbatch is installed here");
        return;
    }
    let dir = Dir::new();
    let r = sweep(
        &dir,
        "s",
        300,
        &["--slurm", "--submit", "--time", "00:10:00"],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("sbatch") && r.stderr.lines().count() == 2,
        "{}",
        r.stderr
    );
    let script = std::fs::read_to_string(dir.path().join("s/sweep.sbatch")).unwrap();
    assert!(
        script.contains("#SBATCH --time=00:10:00")
            && script.contains("--index \"$SLURM_ARRAY_TASK_ID\"")
    );
}
