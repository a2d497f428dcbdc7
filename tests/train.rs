//! The trainer end to end: reproducibility, bit-identical resume, evaluation, failures.

mod util;

use util::{Dir, repo};

/// A tiny, fast pendulum run: 600 steps, 32×32 networks, batch 32.
const TINY: &[&str] = &[
    "--set",
    "train.total_steps=600",
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
    "agent.hidden=[32,32]",
];

fn train(dir: &Dir, out: &str, extra: &[&str]) -> serde_json::Value {
    let config = repo("configs/pendulum.toml");
    let mut args = vec!["train", "--config", config.as_str(), "--out", out, "--json"];
    args.extend_from_slice(TINY);
    args.extend_from_slice(extra);
    dir.maxent(&args).json()
}

/// A safetensors file's tensors, name → raw little-endian bytes (the header's metadata map has no
/// fixed order, so files are compared by content).
fn tensors(dir: &Dir, path: &str) -> std::collections::BTreeMap<String, Vec<u8>> {
    let bytes = std::fs::read(dir.path().join(path)).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    st.tensors()
        .into_iter()
        .map(|(n, v)| (n, v.data().to_vec()))
        .collect()
}

fn same(dir: &Dir, a: &str, b: &str) -> bool {
    tensors(dir, a) == tensors(dir, b)
}

#[test]
fn same_seed_same_numbers_other_seed_other_numbers() {
    let dir = Dir::new();
    let a = train(&dir, "a", &[]);
    let b = train(&dir, "b", &[]);
    let c = train(&dir, "c", &["--seed", "1"]);
    for key in [
        "steps",
        "episodes",
        "wall_seconds",
        "env_steps_per_second",
        "updates_per_second",
        "final_eval_mean_return",
        "checkpoint",
    ] {
        assert!(a.get(key).is_some(), "train --json lacks {key}");
    }
    assert_eq!(a["steps"], 600);
    // The rates divide this session's steps and updates by the training loop's time, which the
    // run's setup and its final evaluation and checkpoint lie outside.
    let f = |key: &str| a[key].as_f64().unwrap();
    assert!(
        f("loop_seconds") > 0.0 && f("loop_seconds") < f("wall_seconds"),
        "{a}"
    );
    let close = |x: f64, y: f64| (x - y).abs() <= 1e-9 * y;
    assert!(
        close(f("env_steps_per_second") * f("loop_seconds"), 600.0),
        "{a}"
    );
    assert!(
        close(f("updates_per_second") * f("loop_seconds"), f("updates")),
        "{a}"
    );
    assert_eq!(a["final_eval_mean_return"], b["final_eval_mean_return"]);
    assert_eq!(dir.metrics("a"), dir.metrics("b"));
    assert_ne!(a["final_eval_mean_return"], c["final_eval_mean_return"]);
    // The same bytes, too: checkpoint files are canonical (sorted safetensors headers).
    for file in ["model", "optimizer"] {
        let bytes = |run: &str| {
            std::fs::read(dir.path().join(format!("{run}/final/{file}.safetensors"))).unwrap()
        };
        assert!(
            bytes("a") == bytes("b"),
            "{file}.safetensors differs between runs"
        );
    }
    assert_ne!(dir.metrics("a"), dir.metrics("c"));
    assert!(
        same(
            &dir,
            "a/final/model.safetensors",
            "b/final/model.safetensors"
        ),
        "same seed, other weights"
    );
    assert!(
        !same(
            &dir,
            "a/final/model.safetensors",
            "c/final/model.safetensors"
        ),
        "other seed, same weights"
    );
    // Rows: one per episode (3 of 200 steps) and per evaluation (at 300 and 600).
    let rows = dir.metrics("a");
    assert_eq!(rows.iter().filter(|r| r.starts_with("episode,")).count(), 3);
    assert_eq!(rows.iter().filter(|r| r.starts_with("eval,")).count(), 2);
}

#[test]
fn resume_with_saved_replay_is_bit_identical() {
    let dir = Dir::new();
    train(&dir, "whole", &["--set", "train.save_replay=true"]);
    let ckpt = dir.path().join("whole/checkpoints/step_300");
    assert!(ckpt.join("replay.safetensors").is_file());
    let resumed = dir
        .maxent(&[
            "train",
            "--resume",
            ckpt.to_str().unwrap(),
            "--out",
            "resumed",
            "--json",
        ])
        .json();
    assert_eq!(resumed["steps"], 600);
    assert_eq!(dir.metrics("whole"), dir.metrics("resumed"));
    assert!(
        same(
            &dir,
            "whole/final/model.safetensors",
            "resumed/final/model.safetensors"
        ),
        "resumed weights differ"
    );
    assert!(
        same(
            &dir,
            "whole/final/optimizer.safetensors",
            "resumed/final/optimizer.safetensors"
        ),
        "resumed optimizer differs"
    );
    // Extending a finished run.
    let longer = dir
        .maxent(&[
            "train",
            "--resume",
            "resumed/final",
            "--set",
            "train.total_steps=700",
            "--json",
        ])
        .json();
    assert_eq!(longer["steps"], 700);
}

#[test]
fn eval_is_seeded_and_deterministic_by_default() {
    let dir = Dir::new();
    train(&dir, "run", &[]);
    let eval = |extra: &[&str]| {
        let mut args = vec![
            "eval",
            "--checkpoint",
            "run/final",
            "--episodes",
            "3",
            "--seed",
            "5",
            "--json",
        ];
        args.extend_from_slice(extra);
        dir.maxent(&args).json()
    };
    let (e1, e2) = (eval(&[]), eval(&[]));
    assert_eq!(e1, e2);
    assert_eq!(e1["returns"].as_array().unwrap().len(), 3);
    for key in ["mean_return", "std_return", "episodes"] {
        assert!(e1.get(key).is_some());
    }
    let s = eval(&["--stochastic"]);
    assert_ne!(s["returns"], e1["returns"]);
}

#[test]
fn divergence_stops_with_the_step_and_keeps_the_last_checkpoint() {
    let dir = Dir::new();
    let config = repo("configs/pendulum.toml");
    let mut args = vec!["train", "--config", config.as_str(), "--out", "div"];
    args.extend_from_slice(TINY);
    args.extend_from_slice(&[
        "--set",
        "train.checkpoint_every=100",
        "--set",
        "agent.critic_lr=1e30",
        "--set",
        "agent.actor_lr=1e30",
    ]);
    let run = dir.maxent(&args);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("diverged at step"), "{}", run.stderr);
    assert!(
        dir.path()
            .join("div/checkpoints/step_100/model.safetensors")
            .is_file()
    );
    let ok = dir.maxent(&[
        "eval",
        "--checkpoint",
        "div/checkpoints/step_100",
        "--episodes",
        "1",
    ]);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    // Infinite rewards from the first step: the first update's Q values are NaN, and every row
    // still lands with one critic as its minimum, so the update ends and the check stops the run.
    let mut args = vec!["train", "--config", config.as_str(), "--out", "inf"];
    args.extend_from_slice(TINY);
    args.extend_from_slice(&["--set", "env.reward.angle_cost=1e300"]);
    let run = dir.maxent(&args);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("diverged at step"), "{}", run.stderr);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
}

#[test]
fn bad_train_and_eval_input_exits_2() {
    let dir = Dir::new();
    let config = repo("configs/pendulum.toml");
    dir.maxent(&[
        "train",
        "--config",
        &config,
        "--set",
        "objective.backup=inference",
    ])
    .assert_bad_input(&["objective.backup", "exact solver"]);
    dir.maxent(&["train", "--config", &config, "--set", "train.batch_size=0"])
        .assert_bad_input(&["train.batch_size"]);
    dir.maxent(&["train"]).assert_bad_input(&["required"]);
    // Two runs of one seed would write into one run dir at once.
    dir.maxent(&["train", "--config", &config, "--seeds", "3,1,3"])
        .assert_bad_input(&["--seeds 3,1,3", "seed 3 appears twice"]);
    dir.maxent(&["eval", "--checkpoint", "nowhere"])
        .assert_bad_input(&["nowhere"]);
    train(&dir, "run", &[]);
    dir.maxent(&["train", "--resume", "run/final", "--set", "agent.tau=0.1"])
        .assert_bad_input(&["agent.tau", "only train.total_steps"]);
    dir.maxent(&[
        "train",
        "--resume",
        "run/final",
        "--set",
        "train.total_steps=100",
    ])
    .assert_bad_input(&["train.total_steps", "not beyond"]);
    std::fs::write(dir.path().join("run/final/model.safetensors"), b"garbage").unwrap();
    dir.maxent(&["eval", "--checkpoint", "run/final"])
        .assert_bad_input(&["model.safetensors", "corrupt"]);
    let ckpt = dir.path().join("run/checkpoints/step_300");
    std::fs::write(
        ckpt.join("config.toml"),
        std::fs::read_to_string(ckpt.join("config.toml"))
            .unwrap()
            .replace("hidden = [32, 32]", "hidden = [16]"),
    )
    .unwrap();
    dir.maxent(&["eval", "--checkpoint", ckpt.to_str().unwrap()])
        .assert_bad_input(&["model.safetensors", "shape"]);
    train(&dir, "again", &[]);
    // One bit flipped in a weight: the file's checksum catches it.
    let model = dir.path().join("again/final/model.safetensors");
    let mut bytes = std::fs::read(&model).unwrap();
    let at = bytes.len() - 100;
    bytes[at] ^= 1;
    std::fs::write(&model, &bytes).unwrap();
    dir.maxent(&["eval", "--checkpoint", "again/final"])
        .assert_bad_input(&["model.safetensors", "corrupt", "checksum"]);
    bytes[at] ^= 1;
    std::fs::write(&model, &bytes).unwrap();
    // A config.toml cut short: what it lost is not read as defaults.
    let cfg = dir.path().join("again/final/config.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, &text[..text.find("[train]").unwrap()]).unwrap();
    dir.maxent(&["eval", "--checkpoint", "again/final"])
        .assert_bad_input(&["config.toml", "corrupt", "`train`"]);
    std::fs::write(&cfg, "").unwrap();
    dir.maxent(&["train", "--resume", "again/final"])
        .assert_bad_input(&["config.toml", "corrupt"]);
}

#[test]
fn ctrl_c_writes_a_checkpoint_that_resumes() {
    let dir = Dir::new();
    let config = repo("configs/pendulum.toml");
    let mut args = vec!["train", "--config", config.as_str(), "--out", "int"];
    args.extend_from_slice(TINY);
    args.extend_from_slice(&[
        "--set",
        "train.total_steps=1000000",
        "--set",
        "train.checkpoint_every=0",
        "--set",
        "train.eval_every=0",
    ]);
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_maxent"))
        .args(&args)
        .current_dir(dir.path())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let metrics = dir.path().join("int/metrics.csv");
    let t0 = std::time::Instant::now();
    while std::fs::read_to_string(&metrics).map_or(0, |m| m.lines().count()) < 3
        && t0.elapsed().as_secs() < 60
    {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    let step: u64 = stderr
        .split("interrupted at step ")
        .nth(1)
        .and_then(|s| s.split(';').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{stderr}"));
    let ckpt = format!("int/checkpoints/step_{step}");
    assert!(
        dir.path().join(&ckpt).join("replay.safetensors").is_file(),
        "an interrupt saves the replay buffer too"
    );
    let total = format!("train.total_steps={}", step + 50);
    let resumed = dir
        .maxent(&["train", "--resume", &ckpt, "--set", &total, "--json"])
        .json();
    assert_eq!(resumed["steps"].as_u64(), Some(step + 50));
}

#[test]
fn several_seeds_run_side_by_side() {
    let dir = Dir::new();
    let config = repo("configs/pendulum.toml");
    let mut args = vec![
        "train",
        "--config",
        config.as_str(),
        "--out",
        "multi",
        "--seeds",
        "0,1,2",
        "--json",
    ];
    args.extend_from_slice(TINY);
    let out = dir.maxent(&args).json();
    assert_eq!(out["runs"].as_array().unwrap().len(), 3);
    for s in 0..3 {
        assert!(
            dir.path()
                .join(format!("multi/pendulum-{s}/final/model.safetensors"))
                .is_file()
        );
    }
    let single = train(&dir, "single1", &["--seed", "1"]);
    assert_eq!(
        out["runs"][1]["final_eval_mean_return"], single["final_eval_mean_return"],
        "a seed gives the same run alone or beside others"
    );
    assert!(out["final_eval_mean_return"].as_f64().is_some());
}

#[test]
fn compare_reports_against_a_solution_and_refuses_mismatches() {
    let dir = Dir::new();
    train(&dir, "run", &["--set", "objective.alpha=0.2"]);
    let config = repo("configs/pendulum.toml");
    let solve = |out: &str, extra: &[&str]| {
        let mut args = vec![
            "solve",
            "--config",
            config.as_str(),
            "--out",
            out,
            "--set",
            "solver.states=[41,41]",
            "--set",
            "solver.actions=[11]",
        ];
        args.extend_from_slice(extra);
        assert_eq!(dir.maxent(&args).code, 0);
    };
    solve(
        "exact",
        &[
            "--set",
            "objective.alpha=0.2",
            "--set",
            "agent.hidden=[32,32]",
        ],
    );
    solve("hot", &["--set", "objective.alpha=0.5"]);
    solve(
        "far",
        &[
            "--set",
            "objective.alpha=0.2",
            "--set",
            "objective.gamma=0.9",
        ],
    );
    solve(
        "heavy",
        &["--set", "objective.alpha=0.2", "--set", "env.m=2.0"],
    );
    let r = dir.compare("run/final", "exact", &["--episodes", "2", "--states", "20"]);
    for key in [
        "kl_mean",
        "value_error_mean",
        "soft_regret_mean",
        "return_learned",
        "return_exact",
        "states",
    ] {
        assert!(r[key].as_f64().is_some_and(f64::is_finite), "{key}: {r}");
    }
    assert!(r["kl_mean"].as_f64().unwrap() >= 0.0);
    // No policy beats the optimum: the regret on grid nodes is never negative.
    assert!(r["grid"]["soft_regret_mean"].as_f64().unwrap() >= -1e-6);
    assert!(
        dir.path().join("cmp/report.md").is_file() && dir.path().join("cmp/report.json").is_file()
    );
    dir.maxent(&["compare", "--checkpoint", "run/final", "--exact", "hot"])
        .assert_bad_input(&["alpha differs"]);
    dir.maxent(&["compare", "--checkpoint", "run/final", "--exact", "far"])
        .assert_bad_input(&["gamma differs"]);
    dir.maxent(&["compare", "--checkpoint", "run/final", "--exact", "heavy"])
        .assert_bad_input(&["different environments"]);
}

/// `compare` and `query` read a checkpoint's config and networks only: without its optimizer
/// state they still answer. A learned α is named in the refusal at full precision, so solving at
/// the printed value makes the pair comparable, however small α is (at six decimals a learned
/// 1.2e-5 would print as 0.000012, 4% off, and be refused again).
#[test]
fn compare_reads_only_the_model_and_names_a_learned_alpha_exactly() {
    let dir = Dir::new();
    train(
        &dir,
        "run",
        &[
            "--set",
            "objective.alpha=\"auto\"",
            "--set",
            "agent.init_alpha=1.234567e-5",
        ],
    );
    std::fs::remove_file(dir.path().join("run/final/optimizer.safetensors")).unwrap();
    let config = repo("configs/pendulum.toml");
    let solve = |out: &str, alpha: &str| {
        let alpha = format!("objective.alpha={alpha}");
        let args = [
            "solve",
            "--config",
            &config,
            "--out",
            out,
            "--set",
            &alpha,
            "--set",
            "solver.states=[31,31]",
            "--set",
            "solver.actions=[11]",
        ];
        assert_eq!(dir.maxent(&args).code, 0, "solve at {alpha}");
    };
    solve("unit", "1.0");
    let refused = dir.maxent(&["compare", "--checkpoint", "run/final", "--exact", "unit"]);
    refused.assert_bad_input(&["learned alpha", "--set objective.alpha="]);
    let printed = refused
        .stderr
        .split("--set objective.alpha=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .to_string();
    let learned: f64 = printed.parse().unwrap();
    assert!(learned > 1e-6 && learned < 1e-4, "learned α {learned}");
    solve("learned", &printed);
    let r = dir.maxent(&[
        "compare",
        "--checkpoint",
        "run/final",
        "--exact",
        "learned",
        "--out",
        "cmp",
        "--episodes",
        "1",
        "--states",
        "10",
        "--json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = r.json();
    assert_eq!(r["alpha_source"], "learned");
    assert_eq!(r["alpha"].as_f64().unwrap(), learned);
    let q = dir.maxent(&[
        "query",
        "--checkpoint",
        "run/final",
        "--state",
        "0.5,0",
        "--json",
    ]);
    assert_eq!(q.code, 0, "{}", q.stderr);
    // Eval needs the policy only; resuming needs the optimizer and says so.
    assert_eq!(
        dir.maxent(&["eval", "--checkpoint", "run/final", "--episodes", "1"])
            .code,
        0
    );
    dir.maxent(&[
        "train",
        "--resume",
        "run/final",
        "--set",
        "train.total_steps=700",
    ])
    .assert_bad_input(&["optimizer.safetensors"]);
}

#[test]
fn plot_draws_learning_curves_of_several_runs() {
    let dir = Dir::new();
    train(&dir, "a", &[]);
    train(&dir, "b", &["--seed", "1"]);
    let run = dir.maxent(&["plot", "a", "b", "--out", "plots"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let png = std::fs::read(dir.path().join("plots/learning_curves.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert!(
        png.len() > 20_000,
        "an almost empty picture: {} bytes",
        png.len()
    );
    dir.maxent(&["plot", "nowhere"])
        .assert_bad_input(&["nowhere", "metrics.csv"]);
}
