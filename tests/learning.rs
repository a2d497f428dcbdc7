//! Fixed-seed learning outcomes with honest margins (full multi-seed runs are in README).

mod util;

use util::{Dir, repo};

/// `configs/pendulum.toml` (the RL Zoo's SAC settings, 20 000 steps) with seed 0 reached a final
/// deterministic evaluation of −148 over 10 episodes when this test was written (five seeds:
/// see README; SB3 here gave −122, −185, −117 for seeds 0–2). The margin allows for a change of
/// floating-point summation order, not for a regression to the untrained −1 200.
#[test]
fn pendulum_learns_with_the_rl_zoo_settings() {
    let dir = Dir::new();
    let config = repo("configs/pendulum.toml");
    let r = dir
        .maxent(&["train", "--config", &config, "--out", "run", "--json"])
        .json();
    let ret = r["final_eval_mean_return"].as_f64().unwrap();
    eprintln!("pendulum seed 0: final eval {ret:.1}");
    assert!(ret >= -250.0, "final eval return {ret}");
}

/// `configs/multigoal.toml` shortened to 6 000 steps: the deterministic policy reaches one of the
/// four goals (episode shorter than the 30-step limit) in at least 16 of 20 episodes. The full
/// run reaches a goal in 20 of 20 within 8 steps.
#[test]
fn multigoal_reaches_a_goal_in_most_episodes() {
    let dir = Dir::new();
    let config = repo("configs/multigoal.toml");
    let r = dir
        .maxent(&[
            "train",
            "--config",
            &config,
            "--out",
            "run",
            "--set",
            "train.total_steps=6000",
            "--json",
        ])
        .json();
    assert!(r["steps"] == 6000);
    let e = dir
        .maxent(&[
            "eval",
            "--checkpoint",
            "run/final",
            "--episodes",
            "20",
            "--json",
        ])
        .json();
    let reached = e["lengths"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l.as_u64().unwrap() < 30)
        .count();
    eprintln!(
        "multigoal: {reached} of 20 episodes reach a goal; mean return {}",
        e["mean_return"]
    );
    assert!(reached >= 16, "{reached} of 20 reached a goal");
}

/// `configs/pendulum_fixed_alpha.toml` (α = 1, 40 000 steps at lr 3e-4, seed 0) compared with
/// its exact solution. Last measured, on visited states: KL(π_learned‖π*) 0.0482 nats and soft
/// regret 2.37% of mean |V*| (issue #5's targets: 0.05 and 2%), while the critic sat 25 below its
/// own policy's true soft value (58 at 20 000 steps: see README). From 30 000 steps on the regret
/// moves between 2.1% and 2.6% from one checkpoint to the next (seeds 0 and 1; at lr 1e-3,
/// between 2.5% and 3.4%): pinned with margins above that band.
#[test]
fn fixed_alpha_pendulum_is_close_to_the_exact_policy() {
    let dir = Dir::new();
    let config = repo("configs/pendulum_fixed_alpha.toml");
    dir.maxent(&["train", "--config", &config, "--out", "run", "--json"])
        .json();
    assert_eq!(
        dir.maxent(&["solve", "--config", &config, "--out", "exact"])
            .code,
        0
    );
    let r = dir
        .maxent(&[
            "compare",
            "--checkpoint",
            "run/final",
            "--exact",
            "exact",
            "--out",
            "cmp",
            "--json",
        ])
        .json();
    let (kl, regret) = (
        r["visited"]["kl_mean"].as_f64().unwrap(),
        r["visited"]["soft_regret_relative"].as_f64().unwrap(),
    );
    eprintln!(
        "fixed α = 1: visited KL {kl:.4} nats, soft regret {:.2}% of mean |V*|",
        100.0 * regret
    );
    assert!(kl <= 0.06, "KL {kl}");
    assert!(regret <= 0.03, "soft regret {regret}");
    assert!(r["soft_regret_mean"].as_f64().unwrap() >= -1e-6);
    // π* fitted by a tanh-Gaussian, state by state: no policy beats π*, and this one is the
    // class's own share of the regret (1.32% here).
    let projected = r["visited"]["projected_soft_regret_relative"]
        .as_f64()
        .unwrap();
    eprintln!("π* fitted by a tanh-Gaussian: {:.2}%", 100.0 * projected);
    assert!(
        projected >= -1e-8 && projected <= regret,
        "projected regret {projected}"
    );
}
