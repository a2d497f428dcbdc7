//! End-to-end tests of the `maxent` binary: environments against reference data, and bad input.

mod util;

use serde_json::Value;
use util::{Dir, floats, repo, shared};

/// Replays every Gymnasium Pendulum-v1 trajectory of a JSONL file (optional `g`, `m`, `l`;
/// `init`, float32 `actions`, and per step `states`, `obs`, `rewards`) through `maxent rollout`.
/// States, observations (float32, as Gymnasium's) and rewards agree to `tol` (Gymnasium's
/// float32 torque arithmetic reproduced, they match to the last bits). Returns how many
/// trajectories it checked.
fn replay_gymnasium(path: &std::path::Path, tol: f64) -> usize {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let dir = Dir::new();
    let mut count = 0;
    for (i, line) in text.lines().filter(|l| !l.trim().is_empty()).enumerate() {
        let reference: Value = serde_json::from_str(line).unwrap();
        let actions = floats(&reference["actions"]);
        let lines: Vec<String> = actions.iter().map(|a| format!("{a:?}")).collect();
        dir.write("actions.txt", &lines.join("\n"));
        let init = floats(&reference["init"]);
        let state = format!("{:?},{:?}", init[0], init[1]);
        let mut args: Vec<String> = [
            "rollout",
            "--env",
            "pendulum",
            "--state",
            &state,
            "--actions",
            "actions.txt",
            "--json",
        ]
        .map(String::from)
        .to_vec();
        for key in ["g", "m", "l"] {
            if let Some(v) = reference[key].as_f64() {
                args.extend(["--set".into(), format!("env.{key}={v:?}")]);
            }
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = dir.maxent(&args).json();
        let n = actions.len();
        assert_eq!(
            out["rewards"].as_array().unwrap().len(),
            n,
            "trajectory {i}"
        );
        for t in 0..n.min(reference["states"].as_array().unwrap().len()) {
            for (key, ours) in [("states", "states"), ("obs", "observations")] {
                let ours = floats(&out[ours][t]);
                let theirs = floats(&reference[key][t]);
                for (a, b) in ours.iter().zip(&theirs) {
                    assert!(
                        (a - b).abs() <= tol * b.abs().max(1.0),
                        "trajectory {i} step {t} {key}: {ours:?} vs {theirs:?}"
                    );
                }
            }
            let (a, b) = (
                out["rewards"][t].as_f64().unwrap(),
                reference["rewards"][t].as_f64().unwrap(),
            );
            assert!(
                (a - b).abs() <= tol * b.abs().max(1.0),
                "trajectory {i} step {t} reward: {a} vs {b}"
            );
            assert!(!out["terminated"][t].as_bool().unwrap());
            assert_eq!(out["truncated"][t].as_bool().unwrap(), t + 1 >= 200);
        }
        count += 1;
    }
    count
}

/// Every Gymnasium 1.4.0 Pendulum-v1 trajectory in `../shared/reference` replays through
/// `maxent rollout` to 1e-9 in states and rewards (the reference promises 1e-5 for a faithful
/// pendulum).
#[test]
fn pendulum_matches_gymnasium_reference_trajectories() {
    let path = shared("reference/pendulum_v1_gymnasium.jsonl");
    let count = replay_gymnasium(&path, 1e-9);
    assert!(count >= 12, "only {count} reference trajectories");
}

/// 30 more Gymnasium trajectories (tests/data/gen_pendulum_gymnasium.py): other g, m and l,
/// start states beyond the bounds, torques up to ±10⁴, up to 260 steps. Chaotic swings amplify
/// any per-step difference (a float64 torque term against Gymnasium's float32 one drifted to
/// 1e-4 within 150 steps); reproduced exactly, they stay within 1e-9.
#[test]
fn pendulum_matches_gymnasium_at_other_constants_and_extremes() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/pendulum_gymnasium_more.jsonl");
    assert_eq!(replay_gymnasium(&path, 1e-9), 30);
}

#[test]
fn rollout_goes_past_the_time_limit_reporting_truncated() {
    let dir = Dir::new();
    dir.write("actions.txt", &"0.5\n".repeat(205));
    let out = dir
        .maxent(&[
            "rollout",
            "--env",
            "pendulum",
            "--state",
            "0.1,0",
            "--actions",
            "actions.txt",
            "--json",
        ])
        .json();
    let truncated: Vec<bool> = out["truncated"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_bool().unwrap())
        .collect();
    assert_eq!(truncated.len(), 205);
    assert!(!truncated[198] && truncated[199] && truncated[204]);
}

#[test]
fn multigoal_rollout_reaches_a_goal_and_terminates() {
    let dir = Dir::new();
    dir.write("actions.txt", "1,0\n1,0\n1,0\n1,0\n1,0\n1,0\n");
    let out = dir
        .maxent(&[
            "rollout",
            "--env",
            "multigoal",
            "--state",
            "0,0",
            "--actions",
            "actions.txt",
            "--json",
        ])
        .json();
    // x = 1, 2, 3, 4.  Reward -(5-x)^2 - 30·1, +10 once within radius 1 of (5, 0) (strictly).
    let rewards = floats(&out["rewards"]);
    assert_eq!(
        rewards,
        [
            -16.0 - 30.0,
            -9.0 - 30.0,
            -4.0 - 30.0,
            -1.0 - 30.0 + 0.0,
            -30.0 + 10.0
        ]
    );
    let terminated: Vec<bool> = out["terminated"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_bool().unwrap())
        .collect();
    assert_eq!(terminated, [false, false, false, false, true]);
    assert_eq!(floats(&out["states"][4]), [5.0, 0.0]);
}

#[test]
fn env_overrides_and_env_files_apply_to_rollout() {
    let dir = Dir::new();
    dir.write("actions.txt", "0.5\n0.5\n");
    let env = dir.write(
        "slow.toml",
        "kind = \"point_mass\"\ndt = 0.1\nbound = 3.0\n[reward]\ntargets = [[1.0]]\n",
    );
    let out = dir
        .maxent(&[
            "rollout",
            "--env",
            env.to_str().unwrap(),
            "--state",
            "0",
            "--actions",
            "actions.txt",
            "--set",
            "env.dt=2.0",
            "--json",
        ])
        .json();
    // x' = clip(x + 2·0.5, ±3): 1, 2; reward −(x' − 1)².
    assert_eq!(floats(&out["rewards"]), [0.0, -1.0]);
    assert_eq!(floats(&out["observations"][1]), [2.0]);
}

#[test]
fn noisy_rollouts_are_reproducible_per_seed() {
    let dir = Dir::new();
    dir.write("actions.txt", &"0.3\n".repeat(20));
    let run = |seed: &str| {
        dir.maxent(&[
            "rollout",
            "--env",
            "point_mass_noisy",
            "--state",
            "0",
            "--actions",
            "actions.txt",
            "--seed",
            seed,
            "--json",
        ])
        .json()
    };
    assert_eq!(run("3"), run("3"));
    assert_ne!(run("3")["states"], run("4")["states"]);
}

#[test]
fn resolved_config_reads_back_to_itself() {
    let dir = Dir::new();
    let first = dir.maxent(&[
        "config",
        "--config",
        &repo("configs/pendulum.toml"),
        "--set",
        "objective.alpha=0.2",
        "--set",
        "env.dt=0.02",
    ]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert!(first.stdout.contains("dt = 0.02") && first.stdout.contains("alpha = 0.2"));
    let path = dir.write("resolved.toml", &first.stdout);
    let second = dir.maxent(&["config", "--config", path.to_str().unwrap()]);
    assert_eq!(second.stdout, first.stdout);
}

#[test]
fn bad_input_exits_2_with_one_line_naming_the_culprit() {
    let dir = Dir::new();
    let pendulum = repo("configs/pendulum.toml");
    let broken = dir.write("broken.toml", "name = \"x\"\n[train\ntotal_steps = 5\n");
    let unknown = dir.write("unknown.toml", "[train]\ntotal_stepz = 5\n");
    let badenv = dir.write("badenv.toml", "env = \"cartpole\"\n");
    let inline = dir.write("inline.toml", "[env]\nkind = \"point_mass\"\ndims = 3\n");
    let typed = dir.write("typed.toml", "[agent]\nhidden = \"big\"\n");
    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (
            vec!["config", "--config", broken.to_str().unwrap()],
            vec!["broken.toml:2:", "TOML syntax"],
        ),
        (
            vec!["config", "--config", unknown.to_str().unwrap()],
            vec!["unknown.toml", "train", "total_stepz"],
        ),
        (
            vec![
                "config",
                "--config",
                &pendulum,
                "--set",
                "objective.gamma=1.5",
            ],
            vec!["objective.gamma", "1.5"],
        ),
        (
            vec![
                "config",
                "--config",
                &pendulum,
                "--set",
                "train.batch_size=0",
            ],
            vec!["train.batch_size", "0"],
        ),
        (
            vec![
                "config",
                "--config",
                &pendulum,
                "--set",
                "train.buffer_size=10",
            ],
            vec!["train.buffer_size", "batch_size = 256"],
        ),
        (
            vec!["config", "--config", &pendulum, "--set", "train.nope=1"],
            vec!["--set train.nope=1", "unknown key"],
        ),
        (
            vec![
                "config",
                "--config",
                &pendulum,
                "--set",
                "train.total_steps",
            ],
            vec!["--set train.total_steps", "KEY=VALUE"],
        ),
        (
            vec![
                "config",
                "--config",
                &pendulum,
                "--set",
                "solver.actions=[4,4]",
            ],
            vec!["solver.actions", "1 action dimensions"],
        ),
        (
            vec!["config", "--config", &pendulum, "--set", "env.max_torque=0"],
            vec!["env.max_torque", "> 0"],
        ),
        (
            vec![
                "config",
                "--config",
                &pendulum,
                "--set",
                "env.reward.nope=0",
            ],
            vec!["unknown key", "env.reward.nope"],
        ),
        (
            vec!["config", "--config", badenv.to_str().unwrap()],
            vec!["badenv.toml", "env", "cartpole"],
        ),
        (
            vec!["config", "--config", inline.to_str().unwrap()],
            vec!["inline.toml", "env.dims", "3"],
        ),
        (
            vec!["config", "--config", typed.to_str().unwrap()],
            vec!["typed.toml", "agent.hidden", "invalid type"],
        ),
        (
            vec!["config", "--config", "missing.toml"],
            vec!["missing.toml", "no such file"],
        ),
        (
            vec![
                "rollout",
                "--env",
                "cartpole",
                "--state",
                "0",
                "--actions",
                "a.txt",
            ],
            vec!["cartpole", "unknown env"],
        ),
        (
            vec![
                "rollout",
                "--env",
                "pendulum",
                "--state",
                "0",
                "--actions",
                "a.txt",
            ],
            vec!["--state 0", "expected 2"],
        ),
        (
            vec![
                "rollout",
                "--env",
                "pendulum",
                "--state",
                "0,x",
                "--actions",
                "a.txt",
            ],
            vec!["--state 0,x", "numbers"],
        ),
        (
            vec![
                "rollout",
                "--env",
                "pendulum",
                "--state",
                "0,0",
                "--actions",
                "a.txt",
            ],
            vec!["a.txt", "no such file"],
        ),
        (
            vec![
                "rollout",
                "--env",
                "pendulum",
                "--state",
                "0,0",
                "--actions",
                "bad.txt",
            ],
            vec!["bad.txt", "line 2", "zero"],
        ),
        (
            vec![
                "rollout",
                "--env",
                "pendulum",
                "--state",
                "0,0",
                "--actions",
                "bad.txt",
                "--set",
                "train.x=1",
            ],
            vec!["--set train.x=1", "env.KEY"],
        ),
        (vec!["rollout", "--env", "pendulum"], vec!["required"]),
        (vec!["frobnicate"], vec!["frobnicate"]),
    ];
    dir.write("bad.txt", "0.5\nzero\n");
    for (args, needles) in cases {
        let run = dir.maxent(&args);
        eprintln!("{args:?} -> {}", run.stderr.trim());
        run.assert_bad_input(&needles);
    }
}

/// Sizes that no machine holds, or that the solver cannot index, are refused before any work
/// (no run dir, no allocation failure or OOM kill later), naming the key and the `--set` behind
/// it; so is a checkpoint whose config asks for such networks.
#[test]
fn sizes_beyond_memory_or_indexing_are_refused_before_any_work() {
    let dir = Dir::new();
    let pendulum = repo("configs/pendulum.toml");
    let out = dir.path().join("run");
    let out_arg = out.to_str().unwrap();
    let train = |set: &str| {
        let args = [
            "train", "--config", &pendulum, "--out", out_arg, "--set", set,
        ];
        dir.maxent(&args)
    };
    // 10¹² transitions of 48 bytes, 10⁸-wide layers (~10¹⁶ parameters), 10⁹-row minibatches.
    train("train.buffer_size=1000000000000").assert_bad_input(&[
        "--set train.buffer_size=1000000000000",
        "replay buffer",
        "GiB of memory",
    ]);
    train("agent.hidden=[100000000,100000000]").assert_bad_input(&[
        "--set agent.hidden",
        "networks",
        "GiB of memory",
    ]);
    let args = [
        "train",
        "--config",
        &pendulum,
        "--out",
        out_arg,
        "--set",
        "train.batch_size=1000000000",
        "--set",
        "train.buffer_size=1000000000",
    ];
    dir.maxent(&args)
        .assert_bad_input(&["train.batch_size", "GiB of memory"]);
    assert!(!out.exists(), "a refused run wrote {}", out.display());

    let solve = |set: &str| {
        let args = [
            "solve",
            "--config",
            &pendulum,
            "--out",
            out_arg,
            "--set",
            "objective.alpha=0.5",
            "--set",
            set,
        ];
        dir.maxent(&args)
    };
    // 10¹⁰ nodes × 41 actions × 4 corners, and 40 401 nodes × 10⁸ actions × 4 corners.
    solve("solver.states=[100000,100000]").assert_bad_input(&[
        "--set solver.states",
        "transition entries",
        "coarser grid",
    ]);
    solve("solver.actions=[100000000]").assert_bad_input(&["--set solver.actions", "coarser grid"]);
    assert!(!out.exists(), "a refused solve wrote {}", out.display());

    let config = dir.maxent(&[
        "config",
        "--config",
        &pendulum,
        "--set",
        "agent.hidden=[100000000,256]",
    ]);
    assert_eq!(config.code, 0, "{}", config.stderr);
    std::fs::create_dir(dir.path().join("huge")).unwrap();
    dir.write("huge/config.toml", &config.stdout);
    dir.write("huge/model.safetensors", "not read");
    let huge = dir.path().join("huge");
    dir.maxent(&["eval", "--checkpoint", huge.to_str().unwrap()])
        .assert_bad_input(&["config.toml", "agent.hidden", "GiB of memory"]);
}

/// A small pendulum problem that solves in a fraction of a second.
const SMALL: [&str; 6] = [
    "--set",
    "objective.alpha=0.5",
    "--set",
    "solver.states=[41,41]",
    "--set",
    "solver.actions=[11]",
];

fn solve_small(dir: &Dir, out: &str, extra: &[&str]) -> Value {
    let config = repo("configs/pendulum.toml");
    let mut args = vec!["solve", "--config", config.as_str(), "--out", out, "--json"];
    args.extend_from_slice(&SMALL);
    args.extend_from_slice(extra);
    dir.maxent(&args).json()
}

#[test]
fn solve_writes_a_solution_dir_and_query_reads_it() {
    let dir = Dir::new();
    let summary = solve_small(&dir, "sol", &[]);
    // Another process writes the same file, byte for byte (sorted safetensors header).
    solve_small(&dir, "again", &[]);
    let bytes = |d: &str| std::fs::read(dir.path().join(d).join("solution.safetensors")).unwrap();
    assert!(
        bytes("sol") == bytes("again"),
        "two solves wrote different files"
    );
    for key in [
        "iterations",
        "residual",
        "wall_seconds",
        "out",
        "sweeps",
        "peak_memory_mib",
    ] {
        assert!(
            summary.get(key).is_some(),
            "solve --json lacks {key}: {summary}"
        );
    }
    assert!(summary["residual"].as_f64().unwrap() <= 1e-6);
    assert_eq!(summary["out"], "sol");
    for file in ["solution.safetensors", "config.toml", "summary.json"] {
        assert!(
            dir.path().join("sol").join(file).is_file(),
            "{file} missing"
        );
    }
    let q = dir
        .maxent(&["query", "--exact", "sol", "--state", "0.5,-1", "--json"])
        .json();
    let src = &q["sources"][0];
    assert!(src["v"].as_f64().unwrap().is_finite());
    assert_eq!(src["policy_mean"].as_array().unwrap().len(), 1);
    assert!(src["policy_std"][0].as_f64().unwrap() > 0.0);
    let probabilities = floats(&src["probabilities"]);
    assert_eq!(probabilities.len(), 11);
    assert!((probabilities.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    assert_eq!(src["actions"].as_array().unwrap().len(), 11);
}

#[test]
fn solve_refuses_auto_alpha_and_query_refuses_bad_solutions() {
    let dir = Dir::new();
    let config = repo("configs/pendulum.toml");
    dir.maxent(&["solve", "--config", &config, "--out", "x"])
        .assert_bad_input(&["objective.alpha", "needs a number"]);
    solve_small(&dir, "a", &[]);
    solve_small(&dir, "b", &["--set", "env.g=9.81"]);
    dir.maxent(&["query", "--exact", "nowhere", "--state", "0,0"])
        .assert_bad_input(&["nowhere", "no such file"]);
    dir.maxent(&["query", "--exact", "a", "--state", "0"])
        .assert_bad_input(&["--state 0", "expected 2"]);
    // A config from another problem beside the values.
    std::fs::copy(
        dir.path().join("b/config.toml"),
        dir.path().join("a/config.toml"),
    )
    .unwrap();
    dir.maxent(&["query", "--exact", "a", "--state", "0,0"])
        .assert_bad_input(&["config.toml", "does not match"]);
    // A truncated tensor file.
    let path = dir.path().join("b/solution.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    dir.maxent(&["query", "--exact", "b", "--state", "0,0"])
        .assert_bad_input(&["solution.safetensors", "corrupt"]);
    std::fs::write(&path, b"not a safetensors file").unwrap();
    dir.maxent(&["query", "--exact", "b", "--state", "0,0"])
        .assert_bad_input(&["solution.safetensors", "corrupt"]);
    // One bit flipped in a value.
    solve_small(&dir, "c", &[]);
    let ok = dir.maxent(&["query", "--exact", "c", "--state", "0,0"]);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    let path = dir.path().join("c/solution.safetensors");
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.len() - 8;
    bytes[at] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    dir.maxent(&["query", "--exact", "c", "--state", "0,0"])
        .assert_bad_input(&["solution.safetensors", "checksum"]);
    // A config.toml cut short.
    let cfg = dir.path().join("a/config.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    let cut = text[..text.len() / 2].rfind('\n').unwrap() + 1;
    std::fs::write(&cfg, &text[..cut]).unwrap();
    dir.maxent(&["query", "--exact", "a", "--state", "0,0"])
        .assert_bad_input(&["config.toml", "corrupt"]);
}
