//! Sweeps against a real SLURM controller: CI starts one on its machine (`.ci/slurm.sh`) and sets
//! `MAXENT_REQUIRE_SLURM`; on a machine without one these tests say so and skip.

mod util;

use std::time::{Duration, Instant};

use util::{Dir, repo};

/// Whether a SLURM controller answers here.
fn slurm_up() -> bool {
    let up = std::process::Command::new("sinfo")
        .args(["-h", "-o", "%t"])
        .output()
        .is_ok_and(|o| o.status.success() && !o.stdout.is_empty());
    if !up {
        // CI sets it: there a missing controller is a failure, not a skip.
        assert!(
            std::env::var_os("MAXENT_REQUIRE_SLURM").is_none(),
            "MAXENT_REQUIRE_SLURM is set but no SLURM controller answers"
        );
        eprintln!("skipped: no SLURM controller answers here (CI starts one with .ci/slurm.sh)");
    }
    up
}

fn sweep(dir: &Dir, out: &str, steps: u64, backend: &[&str]) -> serde_json::Value {
    let config = repo("configs/pendulum.toml");
    let steps = format!("train.total_steps={steps}");
    let mut args = vec![
        "sweep",
        "--config",
        &config,
        "--out",
        out,
        "--grid",
        "agent.actor_lr=3e-4,1e-3",
        "--seeds",
        "0,1",
        "--set",
        &steps,
        "--set",
        "train.learning_starts=100",
        "--set",
        "train.batch_size=32",
        "--set",
        "train.eval_every=500",
        "--set",
        "train.eval_episodes=2",
        "--set",
        "train.checkpoint_every=500",
        "--set",
        "agent.hidden=[16,16]",
        "--json",
    ];
    args.extend_from_slice(backend);
    dir.maxent(&args).json()
}

/// A run of the sweeps `cluster` and `here` ended the same: final model and metrics.
fn assert_same_run(dir: &Dir, run: &str) {
    let model = |d: &str| {
        std::fs::read(dir.path().join(d).join(run).join("final/model.safetensors")).unwrap()
    };
    assert_eq!(model("cluster"), model("here"), "{run}");
    assert_eq!(
        dir.metrics(&format!("cluster/{run}")),
        dir.metrics(&format!("here/{run}")),
        "{run}"
    );
}

/// Waits until every run of a sweep is done (or a run failed).
fn wait_done(dir: &Dir, out: &str) {
    let start = Instant::now();
    loop {
        let s = dir.maxent(&["sweep", "--status", out, "--json"]).json();
        let states: Vec<&str> = s["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["state"].as_str().unwrap())
            .collect();
        assert!(!states.contains(&"failed"), "{s}");
        if states.iter().all(|&st| st == "done") {
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(600), "not done: {s}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// 2 values × 2 seeds submitted as a job array report, number for number, what the same sweep
/// run `--local` reports.
#[test]
fn a_submitted_sweep_reports_what_the_local_one_does() {
    if !slurm_up() {
        return;
    }
    let dir = Dir::new();
    let submitted = sweep(
        &dir,
        "cluster",
        1000,
        &["--slurm", "--submit", "--time", "00:10:00"],
    );
    assert!(
        submitted["job_id"].as_str().is_some_and(|j| !j.is_empty()),
        "{submitted}"
    );
    sweep(&dir, "here", 1000, &["--local"]);
    wait_done(&dir, "cluster");
    let report = |d: &str| dir.maxent(&["report", d, "--json"]).json()["rows"].clone();
    let (cluster, here) = (report("cluster"), report("here"));
    for key in [
        "mean",
        "std",
        "median",
        "iqm",
        "iqm_ci_low",
        "iqm_ci_high",
        "seeds_finished",
    ] {
        for row in 0..2 {
            assert_eq!(cluster[row][key], here[row][key], "{key}, row {row}");
        }
    }
}

/// A task cancelled mid-run (`scancel`: SIGTERM, so it checkpoints) and the sweep submitted
/// again: the cancelled run resumes, the others are skipped, and every run ends as in an
/// uninterrupted local sweep.
#[test]
fn a_cancelled_task_resubmitted_ends_as_if_never_stopped() {
    if !slurm_up() {
        return;
    }
    let dir = Dir::new();
    let steps = 40_000;
    let job = sweep(&dir, "cluster", steps, &["--slurm", "--submit"])["job_id"]
        .as_str()
        .unwrap()
        .to_string();
    let first = dir
        .path()
        .join("cluster/runs/cell0-seed0/checkpoints/step_500/state.json");
    let start = Instant::now();
    while !first.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "task 0 never checkpointed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let cancel = std::process::Command::new("scancel")
        .arg(format!("{job}_0"))
        .status()
        .unwrap();
    assert!(cancel.success());
    // Wait for the cancelled task to leave the queue.
    let start = Instant::now();
    while std::process::Command::new("squeue")
        .args(["-h", "-r", "-j", &format!("{job}_0")])
        .output()
        .is_ok_and(|o| !o.stdout.is_empty())
    {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "scancel did not end task 0"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let run0 = dir.path().join("cluster/runs/cell0-seed0");
    assert!(
        !run0.join("final").exists(),
        "task 0 finished before it was cancelled: raise the steps"
    );
    let status = dir
        .maxent(&["sweep", "--status", "cluster", "--json"])
        .json();
    assert_eq!(status["runs"][0]["state"], "interrupted", "{status}");
    // Submitted again: the same spec, so the same dir; what is finished is skipped.
    sweep(&dir, "cluster", steps, &["--slurm", "--submit"]);
    sweep(&dir, "here", steps, &["--local"]);
    wait_done(&dir, "cluster");
    for i in 0..4 {
        let run = format!("runs/cell{}-seed{}", i / 2, i % 2);
        assert_same_run(&dir, &run);
    }
}

/// A sweep of a Gymnasium env (Pendulum-v1 through the worker) submitted as a job array: each
/// task's run equals the same sweep's run `--local`, model and metrics. The tasks find the
/// interpreter as `train` does (`MAXENT_PYTHON`, which `sbatch` passes on).
#[test]
fn a_submitted_gymnasium_sweep_equals_the_local_one() {
    if !slurm_up() || util::gymnasium_python().is_none() {
        return;
    }
    let dir = Dir::new();
    let config = repo("configs/pendulum.toml");
    let gym_sweep = |out: &str, backend: &[&str]| {
        let mut args = vec![
            "sweep",
            "--config",
            &config,
            "--out",
            out,
            "--grid",
            "agent.actor_lr=3e-4,1e-3",
            "--set",
            "env=\"gymnasium:Pendulum-v1\"",
            "--set",
            "train.total_steps=800",
            "--set",
            "train.learning_starts=100",
            "--set",
            "train.batch_size=32",
            "--set",
            "train.eval_every=400",
            "--set",
            "train.eval_episodes=2",
            "--set",
            "agent.hidden=[16,16]",
            "--json",
        ];
        args.extend_from_slice(backend);
        dir.maxent(&args).json()
    };
    gym_sweep("cluster", &["--slurm", "--submit", "--time", "00:10:00"]);
    gym_sweep("here", &["--local"]);
    wait_done(&dir, "cluster");
    for cell in 0..2 {
        let run = format!("runs/cell{cell}-seed0");
        assert_same_run(&dir, &run);
    }
}
