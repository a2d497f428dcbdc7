//! Soft Q-learning end to end, with each of its samplers (SVGD and diffusion): its config keys,
//! reproducibility, bit-exact resume, evaluation by sampling, and compare and query of its
//! energy-based policy.

mod util;

use util::{Dir, repo};

/// A tiny multigoal SQL run: 400 steps, 16×16 networks, batch 16, few particles.
const TINY: &[&str] = &[
    "--set",
    "train.total_steps=400",
    "--set",
    "train.learning_starts=50",
    "--set",
    "train.batch_size=16",
    "--set",
    "train.eval_every=200",
    "--set",
    "train.eval_episodes=2",
    "--set",
    "train.checkpoint_every=200",
    "--set",
    "agent.hidden=[16,16]",
    "--set",
    "agent.value_particles=4",
    "--set",
    "agent.target_update_interval=50",
];

/// The two samplers: their shipped configs, and few particles or steps for the tiny runs.
#[derive(Debug, Clone, Copy)]
enum Sampler {
    Svgd,
    Diffusion,
}

const SAMPLERS: [Sampler; 2] = [Sampler::Svgd, Sampler::Diffusion];

impl Sampler {
    fn config(self) -> String {
        repo(match self {
            Sampler::Svgd => "configs/multigoal_sql.toml",
            Sampler::Diffusion => "configs/multigoal_diffusion.toml",
        })
    }

    fn tiny(self) -> &'static [&'static str] {
        match self {
            Sampler::Svgd => &["--set", "agent.kernel_particles=6"],
            Sampler::Diffusion => &[
                "--set",
                "agent.diffusion_steps=5",
                "--set",
                "agent.posterior_particles=8",
                "--set",
                "agent.sampler_ema=0.9",
            ],
        }
    }
}

fn train(dir: &Dir, sampler: Sampler, out: &str, extra: &[&str]) -> serde_json::Value {
    let config = sampler.config();
    let mut args = vec!["train", "--config", config.as_str(), "--out", out, "--json"];
    args.extend_from_slice(TINY);
    args.extend_from_slice(sampler.tiny());
    args.extend_from_slice(extra);
    dir.maxent(&args).json()
}

/// The sampler's shipped config solved on `states`² states × `actions`² actions into `out`.
fn solve(dir: &Dir, sampler: Sampler, out: &str, states: usize, actions: usize) {
    let config = sampler.config();
    let grid = |key: &str, n: usize| format!("solver.{key}=[{n},{n}]");
    let (states, actions) = (grid("states", states), grid("actions", actions));
    dir.maxent(&[
        "solve", "--config", &config, "--out", out, "--set", &states, "--set", &actions, "--json",
    ])
    .json();
}

fn file(dir: &Dir, path: &str) -> Vec<u8> {
    std::fs::read(dir.path().join(path)).unwrap()
}

#[test]
fn sql_keys_are_validated_and_belong_to_their_learner() {
    let dir = Dir::new();
    let sql = repo("configs/multigoal_sql.toml");
    let sac = repo("configs/pendulum.toml");
    let config = |path: &str, set: &str| dir.maxent(&["config", "--config", path, "--set", set]);
    config(&sql, "objective.alpha=\"auto\"")
        .assert_bad_input(&["objective.alpha", "no learned temperature"]);
    config(&sql, "agent.tau=0.1").assert_bad_input(&["agent.tau", "\"sac\""]);
    config(&sac, "agent.value_particles=8").assert_bad_input(&["agent.value_particles", "\"sql\""]);
    config(&sac, "agent.algorithm=\"ppo\"").assert_bad_input(&["agent.algorithm", "ppo"]);
    config(&sql, "agent.kernel_update_ratio=0.01").assert_bad_input(&[
        "agent.kernel_update_ratio",
        "0 to move",
        "two fixed",
    ]);
    // One fixed particle: the kernel's bandwidth h = med²/log 1 is infinite, κ ≡ 1.
    dir.maxent(&[
        "config",
        "--config",
        &sql,
        "--set",
        "agent.kernel_particles=2",
    ])
    .assert_bad_input(&["kernel_particles = 2", "1 fixed", "two fixed"]);
    let three = dir.maxent(&[
        "config",
        "--config",
        &sql,
        "--set",
        "agent.kernel_particles=3",
        "--set",
        "agent.kernel_update_ratio=0.34",
    ]);
    assert_eq!(
        three.code, 0,
        "1 updated and 2 fixed is enough: {}",
        three.stderr
    );
    config(&sql, "agent.value_particles=0").assert_bad_input(&["agent.value_particles"]);
    // Each sampler's keys belong to it; the sampler is one of two.
    let diffusion = repo("configs/multigoal_diffusion.toml");
    config(&sql, "agent.diffusion_steps=5").assert_bad_input(&[
        "agent.diffusion_steps",
        "diffusion sampler",
        "agent.sampler = \"svgd\"",
    ]);
    config(&diffusion, "agent.kernel_particles=8").assert_bad_input(&[
        "agent.kernel_particles",
        "SVGD sampler",
        "agent.sampler = \"diffusion\"",
    ]);
    config(&sql, "agent.sampler=\"langevin\"").assert_bad_input(&[
        "agent.sampler",
        "langevin",
        "\"svgd\" or \"diffusion\"",
    ]);
    config(&diffusion, "agent.diffusion_steps=0").assert_bad_input(&["agent.diffusion_steps"]);
    config(&diffusion, "agent.diffusion_steps=100000000000")
        .assert_bad_input(&["agent.diffusion_steps", "[1, 10000]"]);
    // Particles a row multiply the minibatch passes: the memory check blames them.
    dir.maxent(&[
        "train",
        "--config",
        &diffusion,
        "--set",
        "agent.posterior_particles=1000000000",
    ])
    .assert_bad_input(&["agent.posterior_particles", "memory"]);
    config(&diffusion, "agent.posterior_particles=0")
        .assert_bad_input(&["agent.posterior_particles"]);
    config(&diffusion, "agent.sampler_ema=1").assert_bad_input(&["agent.sampler_ema", "[0, 1)"]);
    config(&diffusion, "agent.sampler_ema=-0.5").assert_bad_input(&["agent.sampler_ema", "[0, 1)"]);
    config(&sql, "agent.sampler_ema=0.9")
        .assert_bad_input(&["agent.sampler_ema", "diffusion sampler"]);
    config(&sac, "agent.sampler=\"diffusion\"").assert_bad_input(&["agent.sampler", "\"sql\""]);
    let resolved = dir.maxent(&["config", "--config", &diffusion]);
    assert_eq!(resolved.code, 0, "{}", resolved.stderr);
    for key in [
        "sampler = \"diffusion\"",
        "diffusion_steps = 20",
        "posterior_particles = 64",
        "sampler_ema = 0.0",
    ] {
        assert!(resolved.stdout.contains(key), "{key}: {}", resolved.stdout);
    }
    assert!(!resolved.stdout.contains("kernel_"), "{}", resolved.stdout);
    // The resolved config lists the learner's own keys and none of the other's.
    let resolved = dir.maxent(&["config", "--config", &sql]);
    assert_eq!(resolved.code, 0, "{}", resolved.stderr);
    for key in [
        "algorithm = \"sql\"",
        "sampler = \"svgd\"",
        "value_particles = 16",
        "kernel_particles = 32",
    ] {
        assert!(resolved.stdout.contains(key), "{key}: {}", resolved.stdout);
    }
    for key in [
        "tau",
        "init_alpha",
        "target_entropy",
        "alpha_lr",
        "diffusion_steps",
        "posterior_particles",
    ] {
        assert!(
            !resolved.stdout.contains(&format!("\n{key} =")),
            "{key}: {}",
            resolved.stdout
        );
    }
}

/// The same config and seed give the same numbers and the same checkpoint bytes; another seed
/// others. A run resumed from a checkpoint with its replay buffer ends bit-identical to one never
/// interrupted.
#[test]
fn sql_runs_are_reproducible_and_resume_bit_exactly() {
    for sampler in SAMPLERS {
        runs_are_reproducible_and_resume_bit_exactly(sampler);
    }
}

fn runs_are_reproducible_and_resume_bit_exactly(sampler: Sampler) {
    let dir = Dir::new();
    let a = train(&dir, sampler, "a", &["--set", "train.save_replay=true"]);
    train(&dir, sampler, "b", &["--set", "train.save_replay=true"]);
    train(&dir, sampler, "c", &["--seed", "1"]);
    assert_eq!(a["steps"], 400);
    assert_eq!(dir.metrics("a"), dir.metrics("b"));
    assert_eq!(
        file(&dir, "a/final/model.safetensors"),
        file(&dir, "b/final/model.safetensors")
    );
    assert_ne!(
        file(&dir, "a/final/model.safetensors"),
        file(&dir, "c/final/model.safetensors")
    );
    // Episode rows carry the Q loss and the sampler's loss (the SVGD surrogate, the denoiser's
    // squared error), no entropy (training evaluates no sampler density) and no temperature
    // loss.
    let row = dir
        .metrics("a")
        .into_iter()
        .rfind(|r| r.starts_with("episode,"))
        .unwrap();
    let fields: Vec<&str> = row.split(',').collect();
    assert!(fields[6].parse::<f64>().unwrap().is_finite(), "{row}");
    let actor = fields[7].parse::<f64>().unwrap();
    assert!(actor.is_finite(), "{sampler:?}: {row}");
    if let Sampler::Diffusion = sampler {
        assert!(actor > 0.0, "a mean squared error: {row}");
    }
    assert_eq!((fields[8], fields[9], fields[10]), ("0", "10", ""), "{row}");

    let resumed = dir
        .maxent(&[
            "train",
            "--resume",
            "a/checkpoints/step_200",
            "--out",
            "resumed",
            "--json",
        ])
        .json();
    assert_eq!(resumed["steps"], 400);
    assert_eq!(dir.metrics("a"), dir.metrics("resumed"));
    assert_eq!(
        file(&dir, "a/final/model.safetensors"),
        file(&dir, "resumed/final/model.safetensors")
    );
    assert_eq!(
        file(&dir, "a/final/optimizer.safetensors"),
        file(&dir, "resumed/final/optimizer.safetensors")
    );
}

/// SQL has no mean action: `eval` samples, seeded, and says so, with the goals its episodes
/// reached.
#[test]
fn sql_checkpoints_evaluate_by_sampling() {
    for sampler in SAMPLERS {
        checkpoints_evaluate_by_sampling(sampler);
    }
}

fn checkpoints_evaluate_by_sampling(sampler: Sampler) {
    let dir = Dir::new();
    train(&dir, sampler, "run", &[]);
    let eval = |seed: &str| {
        dir.maxent(&[
            "eval",
            "--checkpoint",
            "run/final",
            "--episodes",
            "3",
            "--seed",
            seed,
            "--json",
        ])
        .json()
    };
    let (e1, e2, e3) = (eval("0"), eval("0"), eval("5"));
    assert_eq!(e1["returns"], e2["returns"]);
    assert_ne!(e1["returns"], e3["returns"]);
    assert_eq!(e1["stochastic"], true);
    assert!(e1["note"].as_str().unwrap().contains("sampled"), "{e1}");
    // The multi-goal world has goals: which one ended each episode, and how many were reached.
    let goals = e1["goals"].as_array().unwrap();
    assert_eq!(goals.len(), 3);
    let mut reached: Vec<u64> = goals.iter().filter_map(|g| g.as_u64()).collect();
    assert!(reached.iter().all(|&g| g < 4), "{e1}");
    for (g, len) in goals.iter().zip(e1["lengths"].as_array().unwrap()) {
        // An episode without a goal ran out of time.
        assert!(!g.is_null() || len.as_u64() == Some(30), "{e1}");
    }
    reached.sort_unstable();
    reached.dedup();
    assert_eq!(e1["goals_reached"].as_u64(), Some(reached.len() as u64));
    let text = dir.maxent(&["eval", "--checkpoint", "run/final", "--episodes", "1"]);
    assert!(text.stdout.contains("sampled"), "{}", text.stdout);
}

/// compare measures the energy-based policy π_θ over the solution's cells and the sampler
/// against it; query answers for it by uniform particles.
#[test]
fn sql_checkpoints_compare_by_their_energy_based_policy() {
    for sampler in SAMPLERS {
        checkpoints_compare_by_their_energy_based_policy(sampler);
    }
}

fn checkpoints_compare_by_their_energy_based_policy(sampler: Sampler) {
    let dir = Dir::new();
    train(&dir, sampler, "run", &[]);
    solve(&dir, sampler, "exact", 21, 9);
    let report = dir.compare("run/final", "exact", &["--episodes", "3", "--states", "12"]);
    assert_eq!(report["learner"], "sql");
    let name = match sampler {
        Sampler::Svgd => "svgd",
        Sampler::Diffusion => "diffusion",
    };
    assert_eq!(report["sampler"], name);
    for set in ["visited", "grid", "start"] {
        let s = &report[set];
        assert!(s["kl_mean"].as_f64().unwrap() >= 0.0, "{set}: {s}");
        // A sampler's histogram is no closer to π_θ than π_θ's own draws, up to their noise.
        let (kl, floor) = (
            s["sampler_kl_mean"].as_f64().unwrap(),
            s["sampler_kl_floor_mean"].as_f64().unwrap(),
        );
        assert!(
            floor > 0.0 && floor < 0.05 && kl > 0.5 * floor,
            "{set}: {s}"
        );
        assert!(
            s["sampler_kl_exact_mean"].as_f64().unwrap() > 0.0,
            "{set}: {s}"
        );
        // The energy-based class holds π*: no projection onto it.
        assert!(s.get("projected_soft_regret_mean").is_none(), "{set}: {s}");
    }
    assert_eq!(report["start"]["states"], 12);
    let goals = &report["goals"];
    for who in ["learned", "exact", "sampler"] {
        assert_eq!(goals[who].as_array().unwrap().len(), 3, "{goals}");
    }
    assert!(report["return_sampler"].as_f64().is_some(), "{report}");
    let md = std::fs::read_to_string(dir.path().join("cmp/report.md")).unwrap();
    assert!(
        md.contains(&format!("(sql, {name} sampler)")) && md.contains("KL(sampler‖π_θ)"),
        "{md}"
    );
    assert!(dir.path().join("cmp/actions.png").exists());

    let q = dir
        .maxent(&[
            "query",
            "--checkpoint",
            "run/final",
            "--exact",
            "exact",
            "--state",
            "0,0",
            "--json",
        ])
        .json();
    let (learned, exact) = (&q["sources"][0], &q["sources"][1]);
    assert_eq!(learned["source"], "checkpoint");
    assert_eq!(learned["sampler_mean"].as_array().unwrap().len(), 2, "{q}");
    let (v, v_star) = (learned["v"].as_f64().unwrap(), exact["v"].as_f64().unwrap());
    assert!(v.is_finite() && v_star.is_finite(), "{q}");
}

/// Run dirs and solutions recorded before `agent.anchored_particles` and `agent.sampler_ema`
/// existed lack them: they read as anchoring none and averaging nothing, what their runs did, and
/// compare gives the same report as with the keys written out. Any other missing key is still a
/// corrupt recording.
#[test]
fn recordings_from_before_added_keys_read_as_what_their_runs_did() {
    let dir = Dir::new();
    train(
        &dir,
        Sampler::Diffusion,
        "run",
        &["--set", "agent.sampler_ema=0.0"],
    );
    solve(&dir, Sampler::Diffusion, "exact", 15, 7);
    let args = ["--episodes", "2", "--states", "6"];
    let before = dir.compare("run/final", "exact", &args);
    let lines = ["anchored_particles = 0\n", "sampler_ema = 0.0\n"];
    let cut = |text: &str| lines.iter().fold(text.to_string(), |t, l| t.replace(l, ""));
    for path in [
        "run/config.toml",
        "run/final/config.toml",
        "exact/config.toml",
    ] {
        let text = String::from_utf8(file(&dir, path)).unwrap();
        for line in lines {
            assert!(text.contains(line), "{path}: {text}");
        }
        dir.write(path, &cut(&text));
    }
    // The solution keeps its config in its header's metadata: cut the line there, padding the
    // header with spaces to its length.
    let bytes = file(&dir, "exact/solution.safetensors");
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let stored = header["__metadata__"]["config"]
        .as_str()
        .unwrap()
        .to_string();
    for line in lines {
        assert!(stored.contains(line), "{stored}");
    }
    header["__metadata__"]["config"] = cut(&stored).into();
    let mut json = serde_json::to_vec(&header).unwrap();
    assert!(json.len() <= n);
    json.resize(n, b' ');
    let mut rewritten = bytes[..8].to_vec();
    rewritten.extend_from_slice(&json);
    rewritten.extend_from_slice(&bytes[8 + n..]);
    std::fs::write(dir.path().join("exact/solution.safetensors"), rewritten).unwrap();
    let after = dir.compare("run/final", "exact", &args);
    assert_eq!(before["start"], after["start"]);
    assert_eq!(before["visited"], after["visited"]);
    dir.maxent(&[
        "eval",
        "--checkpoint",
        "run/final",
        "--episodes",
        "2",
        "--json",
    ])
    .json();
    let text = String::from_utf8(file(&dir, "run/final/config.toml")).unwrap();
    dir.write(
        "run/final/config.toml",
        &text.replace("posterior_particles = 8\n", ""),
    );
    dir.maxent(&["eval", "--checkpoint", "run/final", "--json"])
        .assert_bad_input(&["`agent.posterior_particles` is missing"]);
}
