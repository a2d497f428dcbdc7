//! Gymnasium environments through the worker (`env = "gymnasium:ID"`): the same observations,
//! rewards and flags as Gymnasium itself, bit for bit; the built-in pendulum and Gymnasium's
//! agreeing from the same states; bad envs refused in one line before any training; a worker that
//! fails mid-run stopping the run with its stderr; checkpoints at episode ends that resume bit for
//! bit; SAC learning Pendulum-v1 and SQL running through the worker.
//!
//! They need a Python with gymnasium and mujoco: `MAXENT_PYTHON` names it (default `python3`).
//! CI makes one (`.ci/run`) and sets `MAXENT_REQUIRE_GYMNASIUM`, so there a missing one fails;
//! elsewhere these tests say so and skip.

mod util;

use std::process::Command;

use util::{Dir, repo};

fn python() -> Option<String> {
    util::gymnasium_python()
}

/// Runs a Python program with `args`, returning its stdout.
fn run_python(python: &str, program: &str, args: &[&str], dir: &Dir) -> String {
    let out = Command::new(python)
        .arg("-c")
        .arg(program)
        .args(args)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Steps Gymnasium directly: `reset(seed)`, then each action of the file (cast to the action
/// space's dtype, as the worker and Stable-Baselines3 do) until it terminates.
const DIRECT: &str = r#"
import json, sys
import numpy as np, gymnasium as gym
env = gym.make(sys.argv[1])
obs, _ = env.reset(seed=int(sys.argv[2]))
out = {"initial_observation": np.asarray(obs, dtype=np.float64).ravel().tolist(),
       "observations": [], "rewards": [], "terminated": [], "truncated": []}
for line in open(sys.argv[3]):
    a = np.array([float(x) for x in line.split(",")], dtype=env.action_space.dtype)
    obs, r, term, trunc, _ = env.step(a.reshape(env.action_space.shape))
    out["observations"].append(np.asarray(obs, dtype=np.float64).ravel().tolist())
    out["rewards"].append(float(r))
    out["terminated"].append(bool(term))
    out["truncated"].append(bool(trunc))
    if term:
        break
print(json.dumps(out))
"#;

/// `n` actions of `dim` components, uniform on `[-scale, scale]` from a fixed LCG, one a line.
fn actions(n: usize, dim: usize, scale: f64, seed: u64) -> String {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut text = String::new();
    for _ in 0..n {
        let row: Vec<String> = (0..dim)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let u = (x >> 11) as f64 / (1u64 << 53) as f64;
                format!("{}", scale * (2.0 * u - 1.0))
            })
            .collect();
        text.push_str(&row.join(","));
        text.push('\n');
    }
    text
}

/// Asserts two JSON arrays of numbers (nested or not) equal bit for bit.
fn same_bits(what: &str, a: &serde_json::Value, b: &serde_json::Value) {
    match (a, b) {
        (serde_json::Value::Array(x), serde_json::Value::Array(y)) => {
            assert_eq!(x.len(), y.len(), "{what}: lengths differ");
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                same_bits(&format!("{what}[{i}]"), p, q);
            }
        }
        (serde_json::Value::Number(p), serde_json::Value::Number(q)) => {
            let (p, q) = (p.as_f64().unwrap(), q.as_f64().unwrap());
            assert_eq!(p.to_bits(), q.to_bits(), "{what}: {p} vs {q}");
        }
        _ => assert_eq!(a, b, "{what}"),
    }
}

fn assert_same_rollout(id: &str, ours: &serde_json::Value, direct: &serde_json::Value) {
    for key in [
        "initial_observation",
        "observations",
        "rewards",
        "terminated",
        "truncated",
    ] {
        same_bits(&format!("{id} {key}"), &ours[key], &direct[key]);
    }
}

#[test]
fn rollouts_equal_gymnasium_bit_for_bit() {
    let Some(python) = python() else { return };
    let dir = Dir::new();
    // Actions past the bounds (the env clips them), Pendulum past its 200-step limit (truncated
    // from step 200 on), MountainCar driven to the flag (terminated) by the actions that
    // pushing along the velocity took from the same reset.
    let pumping = run_python(
        &python,
        r#"
import numpy as np, gymnasium as gym
env = gym.make("MountainCarContinuous-v0")
obs, _ = env.reset(seed=3)
for _ in range(999):
    a = 1.0 if obs[1] >= 0 else -0.9
    print(a)
    obs, r, term, trunc, _ = env.step(np.array([a], dtype=np.float32))
    if term or trunc:
        break
"#,
        &[],
        &dir,
    );
    let cases: [(&str, u64, String); 5] = [
        ("Pendulum-v1", 0, actions(230, 1, 2.5, 1)),
        ("Pendulum-v1", 12345, actions(40, 1, 2.0, 2)),
        ("MountainCarContinuous-v0", 3, pumping),
        ("MountainCarContinuous-v0", 8, actions(120, 1, 1.3, 3)),
        ("HalfCheetah-v5", 5, actions(150, 6, 1.0, 4)),
    ];
    for (i, (id, seed, text)) in cases.iter().enumerate() {
        let file = dir.write(&format!("actions{i}.txt"), text);
        let file = file.to_str().unwrap();
        let seed = seed.to_string();
        let env = format!("gymnasium:{id}");
        let ours = dir
            .maxent(&[
                "rollout",
                "--env",
                &env,
                "--seed",
                &seed,
                "--actions",
                file,
                "--json",
            ])
            .json();
        let direct: serde_json::Value =
            serde_json::from_str(&run_python(&python, DIRECT, &[id, &seed, file], &dir)).unwrap();
        assert_same_rollout(id, &ours, &direct);
        let steps = ours["rewards"].as_array().unwrap().len();
        match *id {
            "Pendulum-v1" if i == 0 => {
                let trunc = ours["truncated"].as_array().unwrap();
                assert!(!trunc[198].as_bool().unwrap() && trunc[199].as_bool().unwrap());
                assert_eq!(steps, 230);
            }
            "MountainCarContinuous-v0" if i == 2 => {
                assert_eq!(ours["terminated"][steps - 1], true, "the flag is reached");
                assert!(ours["rewards"][steps - 1].as_f64().unwrap() > 99.0);
            }
            _ => {}
        }
    }
}

/// `rollout` of the built-in `builtin` and of `gymnasium:ID` from each of `states` (which the
/// worker sets on the env) with the same actions: the same observations, rewards and flags, bit
/// for bit.
fn builtin_and_gymnasium_agree(dir: &Dir, builtin: &str, id: &str, states: &[&str], actions: &str) {
    for state in states {
        let run = |env: &str| {
            dir.maxent(&[
                "rollout",
                "--env",
                env,
                "--state",
                state,
                "--actions",
                actions,
                "--json",
            ])
            .json()
        };
        let ours = run(builtin);
        let theirs = run(&format!("gymnasium:{id}"));
        for key in [
            "initial_observation",
            "observations",
            "rewards",
            "terminated",
            "truncated",
        ] {
            same_bits(
                &format!("{builtin} from {state}: {key}"),
                &ours[key],
                &theirs[key],
            );
        }
    }
}

#[test]
fn the_builtin_pendulum_and_gymnasiums_agree_from_the_same_states() {
    if python().is_none() {
        return;
    }
    let dir = Dir::new();
    let file = dir.write("actions.txt", &actions(60, 1, 2.4, 9));
    let states = ["1,0.5", "-3.1,7.9", "0,0", "3.14159,-8", "2.5,-0.25"];
    builtin_and_gymnasium_agree(
        &dir,
        "pendulum",
        "Pendulum-v1",
        &states,
        file.to_str().unwrap(),
    );
}

/// The built-in mountain car and MountainCarContinuous-v0 from the same states (a set state is
/// held in float64 until the first step, as after Gymnasium's reset): the bottom, the left wall
/// moving into it, the flag's edge, the speed limits; actions beyond the bounds.
#[test]
fn the_builtin_mountain_car_and_gymnasiums_agree_from_the_same_states() {
    if python().is_none() {
        return;
    }
    let dir = Dir::new();
    let file = dir.write("actions.txt", &actions(300, 1, 1.5, 4));
    let states = [
        "-0.5,0",
        "-1.2,-0.05",
        "0.449,0.002",
        "-0.5236,0.07",
        "0.3,-0.07",
        "-0.87654321,0.0123456789",
    ];
    builtin_and_gymnasium_agree(
        &dir,
        "mountain_car",
        "MountainCarContinuous-v0",
        &states,
        file.to_str().unwrap(),
    );
}

/// A module of registered test envs: unbounded actions, an env that prints on stdout (from
/// Python and from C), one that raises and one that hangs at its 25th step (of the run).
const TEST_ENVS: &str = r#"
import os, time
import numpy as np
import gymnasium as gym

class Line(gym.Env):
    def __init__(self, bound=1.0, mode="plain"):
        self.action_space = gym.spaces.Box(-bound, bound, (1,), np.float32)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (2,), np.float64)
        self.mode, self.t, self.x, self.steps = mode, 0, 0.0, 0
    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.t, self.x = 0, float(self.np_random.uniform(-1, 1))
        return np.array([self.x, 0.0]), {}
    def step(self, a):
        self.t += 1
        self.steps += 1
        self.x += float(a[0])
        if self.mode == "print":
            print("a line on stdout", flush=True)
            os.write(1, b"\x00raw bytes on fd 1\n")
        if self.mode == "crash" and self.steps == 25:
            raise RuntimeError("the test env broke at step 25")
        if self.mode == "hang" and self.steps == 25:
            time.sleep(3600)
        return np.array([self.x, float(self.t)]), -abs(self.x), False, False, {}

gym.register("Line-v0", entry_point=Line, max_episode_steps=10)
gym.register("Unbounded-v0", entry_point=Line, max_episode_steps=10, kwargs={"bound": np.inf})
gym.register("NoLimit-v0", entry_point=Line)
"#;

fn test_envs(dir: &Dir) {
    dir.write("maxent_test_envs.py", TEST_ENVS);
}

/// `maxent` with the test envs importable.
fn maxent_with_envs(dir: &Dir, args: &[&str]) -> util::Run {
    dir.maxent_env(args, &[("PYTHONPATH", dir.path())])
}

#[test]
fn bad_gymnasium_envs_are_refused_in_one_line() {
    if python().is_none() {
        return;
    }
    let dir = Dir::new();
    test_envs(&dir);
    let acts = dir.write("a.txt", "0.5\n");
    let acts = acts.to_str().unwrap();
    let rollout = |env: &str, sets: &[&str]| {
        let mut args = vec!["rollout", "--env", env, "--actions", acts];
        for s in sets {
            args.extend(["--set", s]);
        }
        maxent_with_envs(&dir, &args)
    };
    rollout("gymnasium:CartPole-v1", &[]).assert_bad_input(&["id", "Discrete(2)", "not a Box"]);
    rollout("gymnasium:NoSuchEnv-v0", &[]).assert_bad_input(&["id", "NoSuchEnv"]);
    rollout("gymnasium:Pendulum-v1", &["env.kwargs.gravity=3"])
        .assert_bad_input(&["kwargs", "gravity"]);
    rollout(
        "gymnasium:Pendulum-v1",
        &["env.import=[\"no_such_module\"]"],
    )
    .assert_bad_input(&["env.import", "no_such_module"]);
    rollout("gymnasium:Pendulum-v1", &["env.python=\"/no/such/python\""])
        .assert_bad_input(&["python", "/no/such/python"]);
    let with = ["env.import=[\"maxent_test_envs\"]"];
    rollout("gymnasium:Unbounded-v0", &with).assert_bad_input(&["id", "unbounded"]);
    rollout("gymnasium:NoLimit-v0", &with)
        .assert_bad_input(&["no time limit", "max_episode_steps"]);
    // A time limit given as a kwarg makes it an env.
    let limited = [
        "env.import=[\"maxent_test_envs\"]",
        "env.kwargs.max_episode_steps=3",
    ];
    let run = rollout("gymnasium:NoLimit-v0", &limited);
    assert_eq!(run.code, 0, "{}", run.stderr);

    // The exact solver and its comparisons need a model.
    let config = dir.write(
        "gym.toml",
        "env = \"gymnasium:Pendulum-v1\"\n[objective]\nalpha = 0.5\n",
    );
    let config = config.to_str().unwrap();
    maxent_with_envs(&dir, &["solve", "--config", config]).assert_bad_input(&[
        "gymnasium:Pendulum-v1",
        "no model",
        "built-in",
    ]);
    // `config` shows what the worker reported.
    let shown = maxent_with_envs(&dir, &["config", "--config", config]);
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    for needle in [
        "[env.reported]",
        "max_episode_steps = 200",
        "observation_dim = 3",
        "action_low = [-2.0]",
        "gymnasium = \"1.",
    ] {
        assert!(shown.stdout.contains(needle), "{needle}: {}", shown.stdout);
    }
}

#[test]
fn what_an_env_prints_cannot_corrupt_the_stream() {
    let Some(python) = python() else { return };
    let dir = Dir::new();
    test_envs(&dir);
    let acts = dir.write("a.txt", &actions(12, 1, 1.0, 5));
    let acts = acts.to_str().unwrap();
    let sets = [
        "--set",
        "env.import=[\"maxent_test_envs\"]",
        "--set",
        "env.kwargs.mode=\"print\"",
    ];
    let mut args = vec!["rollout", "--env", "gymnasium:Line-v0", "--seed", "4"];
    args.extend(["--actions", acts, "--json"]);
    args.extend(sets);
    let printing = maxent_with_envs(&dir, &args).json();
    let plain = maxent_with_envs(&dir, &args[..args.len() - 2]).json();
    assert_same_rollout("Line-v0", &printing, &plain);
    // Ten steps, the time limit.
    assert_eq!(plain["rewards"].as_array().unwrap().len(), 12);
    assert_eq!(plain["truncated"][9], true);
    let _ = python;
}

/// A config training on a test env: SAC, small networks, short.
fn line_config(dir: &Dir, mode: &str, timeout: f64) -> String {
    let text = format!(
        "name = \"line\"\n[env]\nkind = \"gymnasium\"\nid = \"Line-v0\"\nimport = [\"maxent_test_envs\"]\ntimeout = {timeout}\nkwargs = {{ mode = \"{mode}\" }}\n\
         [train]\ntotal_steps = 200\nlearning_starts = 10\nbatch_size = 8\neval_every = 0\neval_episodes = 1\ncheckpoint_every = 20\n\
         [agent]\nhidden = [8]\n"
    );
    dir.write(&format!("line_{mode}.toml"), &text)
        .display()
        .to_string()
}

#[test]
fn a_worker_that_fails_mid_run_stops_it_with_its_stderr() {
    if python().is_none() {
        return;
    }
    let dir = Dir::new();
    test_envs(&dir);
    for (mode, timeout, needles) in [
        (
            "crash",
            120.0,
            vec!["RuntimeError", "the test env broke at step 25"],
        ),
        (
            "hang",
            2.0,
            vec!["did not answer within 2 s", "env.timeout"],
        ),
    ] {
        let config = line_config(&dir, mode, timeout);
        let out = format!("run_{mode}");
        let run = maxent_with_envs(&dir, &["train", "--config", &config, "--out", &out]);
        assert_eq!(run.code, 1, "{mode}: {}", run.stderr);
        assert!(
            run.stderr.contains("gymnasium:Line-v0 (training env)"),
            "{}",
            run.stderr
        );
        for n in needles {
            assert!(
                run.stderr.contains(n),
                "{mode}: {n:?} not in {}",
                run.stderr
            );
        }
        // The checkpoint before the failure is whole.
        let ck = dir.path().join(&out).join("checkpoints/step_20");
        for file in [
            "model.safetensors",
            "optimizer.safetensors",
            "state.json",
            "config.toml",
        ] {
            assert!(ck.join(file).is_file(), "{mode}: {file}");
        }
    }
}

/// SAC on HalfCheetah-v5 (1 000-step episodes), checkpointing every 1 500 steps: the checkpoint
/// waits for the episode's end at 2 000, and resuming from it gives the uninterrupted run's
/// final model, optimizer and metrics, bit for bit. The final checkpoint falls mid-episode:
/// resuming it drops that episode and says so.
#[test]
fn halfcheetah_checkpoints_at_an_episode_end_and_resumes_bit_for_bit() {
    if python().is_none() {
        return;
    }
    let dir = Dir::new();
    let config = dir.write(
        "cheetah.toml",
        "name = \"cheetah\"\nenv = \"gymnasium:HalfCheetah-v5\"\n\
         [train]\ntotal_steps = 2300\nlearning_starts = 1000\nbatch_size = 64\neval_every = 0\neval_episodes = 1\ncheckpoint_every = 1500\nsave_replay = true\n\
         [agent]\nhidden = [32, 32]\n",
    );
    let config = config.to_str().unwrap();
    let full = dir
        .maxent(&["train", "--config", config, "--out", "full", "--json"])
        .json();
    assert_eq!(full["steps"], 2300);
    let checkpoints = dir.path().join("full/checkpoints");
    let names: Vec<String> = std::fs::read_dir(&checkpoints)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        ["step_2000"],
        "the checkpoint due at 1 500 waits for the episode's end"
    );
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(checkpoints.join("step_2000/state.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(state["sim_steps"], 0);
    assert!(state["episode_seed"].is_u64());

    // A copy of the run up to its checkpoint, resumed.
    copy_dir(&dir.path().join("full"), &dir.path().join("resumed"));
    std::fs::remove_dir_all(dir.path().join("resumed/final")).unwrap();
    let resumed = dir
        .maxent(&[
            "train",
            "--resume",
            "resumed/checkpoints/step_2000",
            "--json",
        ])
        .json();
    assert_eq!(resumed["steps"], 2300);
    for file in ["model.safetensors", "optimizer.safetensors"] {
        let a = std::fs::read(dir.path().join("full/final").join(file)).unwrap();
        let b = std::fs::read(dir.path().join("resumed/final").join(file)).unwrap();
        assert!(a == b, "{file} differs after resuming");
    }
    assert_eq!(dir.metrics("full"), dir.metrics("resumed"));

    // The final checkpoint is 300 steps into the third episode.
    let more = dir.maxent(&[
        "train",
        "--resume",
        "full/final",
        "--set",
        "train.total_steps=2400",
        "--json",
    ]);
    assert_eq!(more.code, 0, "{}", more.stderr);
    assert!(
        more.stderr.contains("300 steps into an episode") && more.stderr.contains("dropped"),
        "{}",
        more.stderr
    );
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The shipped pendulum config (the RL Zoo's SAC settings, 20 000 steps) on Gymnasium's own
/// Pendulum-v1: seed 0 evaluates at about −180 (docs/gymnasium.md); the zoo's bar is −250 (its
/// reported SAC mean is −160 ± 90).
#[test]
fn sac_learns_gymnasium_pendulum() {
    if python().is_none() {
        return;
    }
    let dir = Dir::new();
    let config = repo("configs/pendulum.toml");
    let run = dir
        .maxent(&[
            "train",
            "--config",
            &config,
            "--set",
            "env=\"gymnasium:Pendulum-v1\"",
            "--out",
            "gp",
            "--json",
        ])
        .json();
    let ret = run["final_eval_mean_return"].as_f64().unwrap();
    assert!(ret >= -250.0, "final evaluation {ret}");
    assert!(run["python_env_seconds_per_step"].as_f64().unwrap() > 0.0);
    let eval = dir
        .maxent(&[
            "eval",
            "--checkpoint",
            "gp/final",
            "--episodes",
            "5",
            "--json",
        ])
        .json();
    assert_eq!(eval["returns"].as_array().unwrap().len(), 5);
    assert!(eval["mean_return"].as_f64().unwrap() >= -400.0, "{eval}");
}

/// Soft Q-learning through the worker: a short run on Pendulum-v1 trains (finite losses in every
/// episode row), and `eval` samples its policy.
#[test]
fn sql_trains_on_a_gymnasium_env() {
    if python().is_none() {
        return;
    }
    let dir = Dir::new();
    let config = repo("configs/multigoal_sql.toml");
    let run = dir
        .maxent(&[
            "train",
            "--config",
            &config,
            "--set",
            "env=\"gymnasium:Pendulum-v1\"",
            "--set",
            "train.total_steps=1200",
            "--set",
            "train.eval_every=0",
            "--set",
            "train.eval_episodes=2",
            "--out",
            "sql",
            "--json",
        ])
        .json();
    assert_eq!(run["steps"], 1200);
    assert_eq!(run["episodes"], 6);
    let metrics = std::fs::read_to_string(dir.path().join("sql/metrics.csv")).unwrap();
    let header: Vec<&str> = metrics.lines().next().unwrap().split(',').collect();
    let critic = header.iter().position(|h| *h == "critic_loss").unwrap();
    let trained: Vec<f64> = metrics
        .lines()
        .skip(1)
        .filter(|l| l.starts_with("episode"))
        .filter_map(|l| l.split(',').nth(critic).unwrap().parse().ok())
        .collect();
    assert!(
        trained.len() >= 4 && trained.iter().all(|v| v.is_finite()),
        "{metrics}"
    );
    let eval = dir
        .maxent(&[
            "eval",
            "--checkpoint",
            "sql/final",
            "--episodes",
            "2",
            "--json",
        ])
        .json();
    assert_eq!(eval["stochastic"], true);
}

/// A tiny SAC on Gymnasium's Pendulum-v1: 16×16 networks, 1 000 steps.
const TINY_GYM: &[&str] = &[
    "--set",
    "env=\"gymnasium:Pendulum-v1\"",
    "--set",
    "train.total_steps=1000",
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
];

/// A local sweep of a Gymnasium env, two cells run two at a time: each run is the run `train`
/// makes alone with the same settings, number for number, and `report` reads them.
#[test]
fn a_sweep_of_a_gymnasium_env_runs_each_cell_as_train_alone_does() {
    if python().is_none() {
        return;
    }
    let dir = Dir::new();
    let config = repo("configs/pendulum.toml");
    let mut args = vec!["sweep", "--config", &config, "--out", "sw"];
    args.extend_from_slice(TINY_GYM);
    args.extend_from_slice(&[
        "--grid",
        "agent.actor_lr=3e-4,1e-3",
        "--local",
        "--jobs",
        "2",
        "--json",
    ]);
    let swept = dir.maxent(&args).json();
    assert_eq!(swept["trained"], 2, "{swept}");
    for (cell, lr) in ["3e-4", "1e-3"].iter().enumerate() {
        let lr = format!("agent.actor_lr={lr}");
        let out = format!("alone{cell}");
        let mut args = vec!["train", "--config", &config, "--out", &out, "--set", &lr];
        args.extend_from_slice(TINY_GYM);
        dir.maxent(&args).ok();
        let metrics = dir.metrics(&out);
        assert_eq!(
            metrics.len(),
            1 + 5 + 2,
            "header, 5 episodes, evaluations at 500 and 1000"
        );
        assert_eq!(metrics, dir.metrics(&format!("sw/runs/cell{cell}-seed0")));
    }
    let report = dir.maxent(&["report", "sw", "--json"]).json();
    assert_eq!(report["rows"].as_array().unwrap().len(), 2, "{report}");
    assert_eq!(report["rows"][1]["seeds_finished"], 1);
}
