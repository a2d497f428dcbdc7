//! One SAC update at the RL Zoo's Pendulum-v1 sizes (256×256 networks, batch 256) on one thread
//! and split over two, two independent updates at once, and one replay minibatch sample; and the
//! update at HalfCheetah-v5's sizes (17 observations, 6 actions) beside the pendulum's through the
//! same Gymnasium config, which tells the network's share of the gap between the two envs'
//! training rates from the worker's.

use criterion::{Criterion, criterion_group, criterion_main};
use maxent::Config;
use maxent::sac::Sac;
use maxent::training::{Replay, Sampled};
use rand::Rng;

fn setup() -> (Config, Replay) {
    maxent::process::init(); // as the `maxent` binary runs
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/pendulum.toml");
    let config = Config::load(&path, &[]).unwrap();
    (config, filled_replay(3, 1))
}

/// A replay buffer of 100 000 random transitions.
fn filled_replay(obs_dim: usize, act_dim: usize) -> Replay {
    let mut rng = maxent::rng::seeded(0);
    let mut replay = Replay::new(100_000, obs_dim, act_dim);
    for _ in 0..100_000 {
        let o: Vec<f64> = (0..obs_dim).map(|_| rng.random_range(-1.0..1.0)).collect();
        let n: Vec<f64> = (0..obs_dim).map(|_| rng.random_range(-1.0..1.0)).collect();
        let a: Vec<f32> = (0..act_dim).map(|_| rng.random_range(-1.0..1.0)).collect();
        replay.push(&o, &a, rng.random_range(-16.0..0.0), &n, false, false);
    }
    replay
}

/// The pendulum config as a run dir records it, with a Gymnasium env of `obs` observations and
/// `act` actions on [−1, 1] for its env as a worker reports one (so no worker starts).
fn gymnasium_sized(obs: usize, act: usize) -> Config {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let pendulum = Config::load(&root.join("configs/pendulum.toml"), &[]).unwrap();
    let mut table: toml::Table = toml::from_str(&pendulum.to_toml()).unwrap();
    let bounds = |b: &str| format!("[{}]", vec![b; act].join(", "));
    let env: toml::Table = toml::from_str(
        &r#"kind = "gymnasium"
id = "HalfCheetah-v5"
import = []
timeout = 120.0
[kwargs]
[reported]
gymnasium = "1.4.0"
numpy = "2.4.6"
python = "3.11.7"
executable = "python3"
env = "<TimeLimit<OrderEnforcing<PassiveEnvChecker<HalfCheetahEnv<HalfCheetah-v5>>>>>"
observation_space = "Box(-inf, inf, (17,), float64)"
observation_dim = OBS
action_space = "Box(-1.0, 1.0, (6,), float32)"
action_low = LOW
action_high = HIGH
max_episode_steps = 1000"#
            .replace("OBS", &obs.to_string())
            .replace("LOW", &bounds("-1.0"))
            .replace("HIGH", &bounds("1.0")),
    )
    .unwrap();
    table.insert("env".into(), env.into());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, toml::to_string(&table).unwrap()).unwrap();
    Config::load_recorded(&path).unwrap()
}

/// The reference the update's figures are stated beside: one f32 product of 256×256×256 through
/// the same kernel (this VM's speed drifts; a ratio to this holds across sittings).
fn product_256(c: &mut Criterion) {
    use maxent::matrix::{Mat, matmul};
    let mut rng = maxent::rng::seeded(3);
    let mut draw = || -> Vec<f32> {
        (0..256 * 256)
            .map(|_| rng.random_range(-1.0..1.0))
            .collect()
    };
    let (a, b) = (draw(), draw());
    let mut out = vec![0.0f32; 256 * 256];
    c.bench_function("matmul_256_cubed", |bench| {
        bench.iter(|| {
            matmul(
                &mut out,
                Mat::new(&a, 256, 256),
                Mat::new(&b, 256, 256),
                false,
            );
            std::hint::black_box(&out);
        })
    });
}

/// Times `sac.update` on one minibatch, on this thread or, given a pool, split inside it.
fn bench_update(
    c: &mut Criterion,
    name: &str,
    sac: &mut Sac,
    sampled: &Sampled,
    rng: &mut maxent::rng::Rng,
    pool: Option<&rayon::ThreadPool>,
) {
    c.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let mut run = || {
                let start = std::time::Instant::now();
                for _ in 0..iters {
                    std::hint::black_box(sac.update(&sampled.batch(), rng));
                }
                start.elapsed()
            };
            match pool {
                Some(pool) => pool.install(run),
                None => run(),
            }
        })
    });
}

fn bench(c: &mut Criterion) {
    let (config, replay) = setup();
    let mut rng = maxent::rng::seeded(1);
    let mut sampled = Sampled::default();
    c.bench_function("replay_sample_256", |b| {
        b.iter(|| replay.sample(&mut rng, 256, &mut sampled))
    });
    let mut sac = Sac::new(&config, &mut rng);
    let obs = [0.3, -0.2, 1.5];
    c.bench_function("sac_act_deterministic", |b| b.iter(|| sac.act(&obs, None)));
    // As `maxent train` runs it: on one thread, or split over two inside a two-thread pool.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    for parallel in [false, true] {
        let mut sac = Sac::new(&config, &mut rng);
        sac.parallel = parallel;
        replay.sample(&mut rng, 256, &mut sampled);
        let name = if parallel {
            "sac_update_twin_threads"
        } else {
            "sac_update_one_thread"
        };
        bench_update(
            c,
            name,
            &mut sac,
            &sampled,
            &mut rng,
            parallel.then_some(&pool),
        );
    }
}

/// Two independent updates at once, one a thread: what the cores lose when both work (compare
/// with `sac_update_one_thread`).
fn two_streams(c: &mut Criterion) {
    let (config, replay) = setup();
    let mut rng = maxent::rng::seeded(2);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let mut streams: Vec<(Sac, Sampled, maxent::rng::Rng)> = (0..2)
        .map(|k| {
            let mut sampled = Sampled::default();
            replay.sample(&mut rng, 256, &mut sampled);
            (
                Sac::new(&config, &mut rng),
                sampled,
                maxent::rng::seeded(10 + k),
            )
        })
        .collect();
    c.bench_function("sac_update_two_streams", |b| {
        b.iter_custom(|iters| {
            let [(s0, b0, r0), (s1, b1, r1)] = &mut streams[..] else {
                unreachable!()
            };
            pool.install(|| {
                let run = |sac: &mut Sac, sampled: &Sampled, rng: &mut maxent::rng::Rng| {
                    let start = std::time::Instant::now();
                    for _ in 0..iters {
                        std::hint::black_box(sac.update(&sampled.batch(), rng));
                    }
                    start.elapsed()
                };
                let (t0, t1) = rayon::join(|| run(s0, b0, r0), || run(s1, b1, r1));
                (t0 + t1) / 2
            })
        })
    });
}

/// The update at HalfCheetah-v5's sizes (17 observations, 6 actions) and at the pendulum's
/// (3, 1) through the same Gymnasium config, on one thread and split over two: what the wider
/// inputs cost, like for like.
fn halfcheetah_update(c: &mut Criterion) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    for (obs, act, sizes) in [(3, 1, "pendulum_sizes"), (17, 6, "halfcheetah")] {
        let config = gymnasium_sized(obs, act);
        let replay = filled_replay(obs, act);
        let mut rng = maxent::rng::seeded(4);
        let mut sampled = Sampled::default();
        replay.sample(&mut rng, 256, &mut sampled);
        for parallel in [false, true] {
            let mut sac = Sac::new(&config, &mut rng);
            sac.parallel = parallel;
            let split = if parallel {
                "twin_threads"
            } else {
                "one_thread"
            };
            let name = format!("gym_update_{split}_{sizes}");
            bench_update(
                c,
                &name,
                &mut sac,
                &sampled,
                &mut rng,
                parallel.then_some(&pool),
            );
        }
    }
}

criterion_group!(benches, product_256, bench, two_streams, halfcheetah_update);
criterion_main!(benches);
