//! The built-in mountain car (`kind = "mountain_car"`): Gymnasium's MountainCarContinuous-v0 to
//! the bit.

mod util;

use serde_json::Value;
use util::{Dir, floats};

/// Every Gymnasium 1.4.0 trajectory of `tests/data/mountain_car_gymnasium.jsonl` (made by
/// `gen_mountain_car_gymnasium.py` beside it: seeded resets, actions far outside the bounds, the
/// left wall, the flag's edge, the speed limit, drivers that reach the flag, other constants,
/// past the time limit) replays through `maxent rollout --env mountain_car` with the same states,
/// observations, rewards and flags, bit for bit.
#[test]
fn mountain_car_matches_gymnasium_bit_for_bit() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/mountain_car_gymnasium.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let dir = Dir::new();
    let (mut count, mut flags) = (0, 0);
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let reference: Value = serde_json::from_str(line).unwrap();
        let name = reference["name"].as_str().unwrap();
        let actions = floats(&reference["actions"]);
        let lines: Vec<String> = actions.iter().map(|a| format!("{a:?}")).collect();
        dir.write("actions.txt", &lines.join("\n"));
        let init = floats(&reference["init"]);
        let state = format!("{:?},{:?}", init[0], init[1]);
        let mut args: Vec<String> = [
            "rollout",
            "--env",
            "mountain_car",
            "--state",
            &state,
            "--actions",
            "actions.txt",
            "--json",
        ]
        .map(String::from)
        .to_vec();
        for table in ["make", "attrs"] {
            for (key, value) in reference[table].as_object().unwrap() {
                let v = value.as_f64().unwrap();
                args.extend(["--set".into(), format!("env.{key}={v:?}")]);
            }
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = dir.maxent(&args).json();
        let n = actions.len();
        assert_eq!(out["rewards"].as_array().unwrap().len(), n, "{name}");
        for t in 0..n {
            for (key, ours) in [("states", "states"), ("obs", "observations")] {
                assert_eq!(
                    floats(&out[ours][t]),
                    floats(&reference[key][t]),
                    "{name}, step {t}: {key}"
                );
            }
            assert_eq!(
                out["rewards"][t].as_f64(),
                reference["rewards"][t].as_f64(),
                "{name}, step {t}: reward"
            );
            assert_eq!(
                out["terminated"][t], reference["terminated"][t],
                "{name}, step {t}: terminated"
            );
            assert_eq!(out["truncated"][t], t + 1 >= 999, "{name}, step {t}");
        }
        flags += usize::from(reference["terminated"][n - 1] == true);
        count += 1;
    }
    assert_eq!((count, flags), (29, 9));
}

/// `maxent solve` of `config` with `sets` into `out`: its `--json` summary.
fn solve(dir: &Dir, config: &str, out: &str, sets: &[&str]) -> Value {
    let mut args = vec!["solve", "--config", config, "--out", out, "--json"];
    for s in sets {
        args.extend(["--set", s]);
    }
    dir.maxent(&args).json()
}

/// V of a solution at the state `x,0`.
fn v_at(dir: &Dir, solution: &str, x: f64) -> f64 {
    let state = format!("{x},0");
    let q = dir
        .maxent(&["query", "--exact", solution, "--state", &state, "--json"])
        .json();
    q["sources"][0]["v"].as_f64().unwrap()
}

/// `eval --exact` of a solution over `episodes` seeded episodes.
fn eval_exact(dir: &Dir, solution: &str, episodes: usize) -> Value {
    let n = episodes.to_string();
    dir.maxent(&["eval", "--exact", solution, "--episodes", &n, "--json"])
        .json()
}

const FIXED: &str = "configs/mountain_car_fixed_alpha.toml";

/// At the shipped fixed α (0.1, γ = 0.99) the exact MaxEnt optimum drives to the flag: every
/// one of 100 sampled episodes from the reset states ends there, in about 74 steps (it swings
/// left first). V at the reset states converges under refinement, about first order: 101² → 201²
/// moves it by 0.13–0.39, 201² → 401² (the shipped grid) by 0.06–0.13, 0.15–0.35%
/// (docs/mountain_car.md).
#[test]
fn the_exact_optimum_at_the_shipped_alpha_drives_to_the_flag() {
    let dir = Dir::new();
    let config = util::repo(FIXED);
    let summary = solve(&dir, &config, "g401", &[]);
    assert_eq!(summary["converged"], true, "{summary}");
    solve(&dir, &config, "g201", &["solver.states=[201,201]"]);
    solve(&dir, &config, "g101", &["solver.states=[101,101]"]);
    for x in [-0.6, -0.5, -0.4] {
        let v: Vec<f64> = ["g101", "g201", "g401"]
            .iter()
            .map(|s| v_at(&dir, s, x))
            .collect();
        let (coarse, fine) = (v[1] - v[0], v[2] - v[1]);
        assert!(
            coarse > 0.0 && fine > 0.0 && fine < 0.75 * coarse,
            "x = {x}: V at 101², 201², 401²: {v:?}"
        );
        assert!(fine < 0.005 * v[2], "x = {x}: {v:?}");
    }
    let eval = eval_exact(&dir, "g401", 100);
    assert_eq!(eval["episodes_at_goal"], 100, "{eval}");
    let lengths = floats(&eval["lengths"]);
    let mean = lengths.iter().sum::<f64>() / lengths.len() as f64;
    assert!((60.0..90.0).contains(&mean), "mean length {mean}");
    // +100 at the flag less the action cost of ~74 steps of mostly full force.
    let ret = eval["mean_return"].as_f64().unwrap();
    assert!((93.0..97.0).contains(&ret), "mean return {ret}");
    // The episodes' soft return estimates V* at their starts (x ~ U(−0.6, −0.4), v = 0).
    let soft = eval["mean_soft_return"].as_f64().unwrap();
    let (lo, hi) = (v_at(&dir, "g401", -0.6), v_at(&dir, "g401", -0.4));
    assert!(
        lo - 0.5 < soft && soft < hi + 0.5,
        "{soft} outside [{lo}, {hi}]"
    );
}

/// Where the entropy bonus pays more than the flag, the exact optimum never goes there, and V at
/// the reset states is the closed form of living forever: `α/(1−γ)·log Σ_k exp(−0.1·a_k²/α)·Δa`
/// over the solver's action cells (the soft max of the action cost alone). At γ = 0.99 this holds
/// from α ≈ 1.5 (here α = 3); at a short horizon (γ = 0.9, α = 0.1) the flag is too far to pay.
#[test]
fn where_living_pays_the_optimum_never_reaches_the_flag() {
    let dir = Dir::new();
    let config = util::repo(FIXED);
    for (alpha, gamma, tag) in [(3.0, 0.99, "hot"), (0.1, 0.9, "short")] {
        let (a, g) = (
            format!("objective.alpha={alpha}"),
            format!("objective.gamma={gamma}"),
        );
        solve(&dir, &config, tag, &[&a, &g, "solver.states=[101,101]"]);
        let cell = 2.0 / 41.0;
        let sum: f64 = (0..41)
            .map(|k| {
                let a = -1.0 + (k as f64 + 0.5) * cell;
                (-0.1 * a * a / alpha).exp() * cell
            })
            .sum();
        let living = alpha * sum.ln() / (1.0 - gamma);
        for x in [-0.6, -0.5, -0.4] {
            let v = v_at(&dir, tag, x);
            assert!(
                (v - living).abs() < 1e-4 * living.abs(),
                "{tag}, x = {x}: V = {v}, living forever = {living}"
            );
        }
    }
    let eval = eval_exact(&dir, "hot", 20);
    assert_eq!(eval["episodes_at_goal"], 0, "{eval}");
    assert!(floats(&eval["lengths"]).iter().all(|&l| l == 999.0));
}

/// SAC with the shipped fixed-α config (seed 0, 50 000 steps) never finds the flag, and
/// `compare` says why: on the states it visits its soft regret is over 80% of |V*|, while π*
/// projected onto its tanh-Gaussian class would lose under 1% — the class holds the optimum;
/// its critic is right about its own policy there (bias under 0.5 in absolute value) and wrong
/// by over 10 on the grid states it never saw; the exact policy's soft return is 30+ above its
/// own. Exploration failed, not the objective (docs/mountain_car.md: seeds 0–2, and SQL alike).
#[test]
fn sac_on_the_fixed_alpha_config_fails_by_exploration_not_by_its_objective() {
    let dir = Dir::new();
    let config = util::repo(FIXED);
    let run = dir
        .maxent(&["train", "--config", &config, "--out", "sac", "--json"])
        .json();
    assert!(
        run["final_eval_mean_return"].as_f64().unwrap().abs() < 1.0,
        "{run}"
    );
    solve(&dir, &config, "exact", &["solver.states=[201,201]"]);
    let report = dir.compare("sac/final", "exact", &[]);
    let goals = &report["goals"];
    let at_flag = |who: &str| {
        goals[who]
            .as_array()
            .unwrap()
            .iter()
            .filter(|g| !g.is_null())
            .count()
    };
    let episodes = report["episodes"].as_u64().unwrap() as usize;
    assert_eq!(
        (at_flag("learned"), at_flag("exact")),
        (0, episodes),
        "{goals}"
    );
    let visited = &report["visited"];
    let f = |set: &Value, key: &str| set[key].as_f64().unwrap();
    assert!(f(visited, "soft_regret_relative") > 0.8, "{visited}");
    assert!(
        f(visited, "projected_soft_regret_relative") < 0.01,
        "{visited}"
    );
    assert!(f(visited, "critic_bias_mean").abs() < 0.5, "{visited}");
    assert!(
        f(&report["grid"], "critic_bias_mean") < -10.0,
        "{}",
        report["grid"]
    );
    let gap = f(&report, "soft_return_exact") - f(&report, "soft_return_learned");
    assert!(gap > 30.0, "soft returns: {report}");
}

#[test]
fn eval_exact_refuses_a_finite_horizon_solution() {
    let dir = Dir::new();
    let config = util::repo(FIXED);
    solve(
        &dir,
        &config,
        "finite",
        &[
            "objective.horizon=20",
            "solver.states=[21,21]",
            "solver.actions=[5]",
        ],
    );
    dir.maxent(&["eval", "--exact", "finite"])
        .assert_bad_input(&["--exact finite", "finite-horizon"]);
}
