//! One soft Q-learning update at the multigoal sizes of `configs/multigoal_sql.toml` (128×128
//! networks, batch 64, 16 value particles, 32 kernel particles), on one thread as `maxent train`
//! runs it (the process set up by `maxent::process::init`, the loop inside a one-thread pool, a
//! fresh minibatch drawn from a 10 000-transition buffer before each update), whole and by step:
//! the soft Bellman step (target network on 64·16 rows, Q forward and backward, Adam) and the SVGD
//! step (sampler on 64·32 rows, ∇_a Q at the fixed half, the kernel, the surrogate's backward,
//! Adam); and the SVGD step's parts one by one, as `svgd_step` runs them: the particles (the fixed
//! half by a forward pass alone, the updated half with the sampler's graph), `∇_a log p` (Q
//! forward and its backward to the actions on the 64·16 fixed particles), the kernel direction,
//! and the surrogate's backward with the sampler's Adam step.
//!
//! Beside it, the same update with the diffusion sampler of `configs/multigoal_diffusion.toml`
//! (T = 20, 64 posterior draws): whole, its noise-estimation step, and that step's parts: the
//! draws (levels, noisy replay actions, 64·64 truncated posterior draws), Q at the draws (a
//! forward pass on 64·64 rows), the weighted targets, and the denoiser's forward, backward and
//! Adam step on 64 rows; and acting, one action by 20 denoising passes (what every environment
//! step costs), beside SVGD's one pass. A 256³ f32 product on the same kernel, timed in the same
//! sitting, is the reference the figures are read against.

use candle_core::{Device, Tensor};
use criterion::{Criterion, criterion_group, criterion_main};
use maxent::Config;
use maxent::matrix::{Mat, matmul};
use maxent::sql::Sql;
use maxent::sql::diffusion::Targets;
use maxent::training::{Replay, Sampled};
use rand::Rng;

fn load(name: &str) -> Config {
    let path = format!("{}/configs/{name}.toml", env!("CARGO_MANIFEST_DIR"));
    let table: toml::Table = toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    Config::from_table(table, "bench", None, None, &[]).unwrap()
}

fn setup() -> (Config, Replay) {
    maxent::process::init(); // as the `maxent` binary runs
    let config = load("multigoal_sql");
    let mut rng = maxent::rng::seeded(0);
    let mut replay = Replay::new(10_000, 2, 2);
    for _ in 0..10_000 {
        let mut draw = |lo: f64, hi: f64| rng.random_range(lo..hi);
        let obs = [draw(-7.0, 7.0), draw(-7.0, 7.0)];
        let action = [draw(-1.0, 1.0) as f32, draw(-1.0, 1.0) as f32];
        let next = [obs[0] + f64::from(action[0]), obs[1] + f64::from(action[1])];
        replay.push(
            &obs,
            &action,
            draw(-60.0, 10.0),
            &next,
            draw(0.0, 1.0) < 0.05,
            false,
        );
    }
    (config, replay)
}

fn bench(c: &mut Criterion) {
    let (config, replay) = setup();
    let mut rng = maxent::rng::seeded(1);
    let mut sql = Sql::new(&config, &mut rng).unwrap();
    let mut sampled = Sampled::default();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    // Each timing loop runs inside the one-thread pool, as a training run does.
    let mut timed = |name: &str, step: &mut (dyn FnMut() + Send)| {
        c.bench_function(name, |b| {
            b.iter_custom(|iters| {
                pool.install(|| {
                    let start = std::time::Instant::now();
                    for _ in 0..iters {
                        step();
                    }
                    start.elapsed()
                })
            })
        });
    };

    let (a, b) = (vec![0.5f32; 256 * 256], vec![0.25f32; 256 * 256]);
    let mut product = vec![0.0f32; 256 * 256];
    timed("matmul_256_cubed", &mut || {
        let (a, b) = (Mat::new(&a, 256, 256), Mat::new(&b, 256, 256));
        matmul(&mut product, a, b, false);
        std::hint::black_box(&product);
    });

    timed("sql_update", &mut || {
        replay.sample(&mut rng, 64, &mut sampled);
        std::hint::black_box(sql.update(&sampled.batch(), &mut rng).unwrap());
    });

    replay.sample(&mut rng, 64, &mut sampled);
    let dev = &Device::Cpu;
    let batch = sampled.batch();
    let t = |x: &[f32], cols: usize| Tensor::from_slice(x, (x.len() / cols, cols), dev).unwrap();
    let (obs, action, next) = (t(batch.obs, 2), t(batch.action, 2), t(batch.next_obs, 2));
    let reward = Tensor::from_slice(batch.reward, 64, dev).unwrap();
    let terminated = Tensor::from_slice(batch.terminated, 64, dev).unwrap();
    timed("sql_soft_bellman_step", &mut || {
        std::hint::black_box(
            sql.soft_bellman_step(&obs, &action, &reward, &next, &terminated, &mut rng)
                .unwrap(),
        );
    });
    timed("sql_svgd_step", &mut || {
        std::hint::black_box(sql.svgd_step(&obs, &mut rng).unwrap());
    });

    // The SVGD step's parts (multigoal: 2-D actions, 16 fixed and 16 updated particles a state).
    timed("sql_svgd_particles", &mut || {
        std::hint::black_box(sql.svgd_particles(&obs, &mut rng).unwrap());
    });
    let (fixed, updated) = sql.svgd_particles(&obs, &mut rng).unwrap();
    let rows = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let (fixed_rows, updated_rows) = (rows(&fixed), rows(&updated));
    timed("sql_svgd_grad_log_p", &mut || {
        std::hint::black_box(sql.grad_log_p(&obs, &fixed_rows).unwrap());
    });
    let grads = sql.grad_log_p(&obs, &fixed_rows).unwrap();
    let direction = || maxent::sql::svgd::direction(&fixed_rows, &grads, &updated_rows, 64, 2);
    timed("sql_svgd_kernel_direction", &mut || {
        std::hint::black_box(direction());
    });
    let phi = direction();
    timed("sql_svgd_surrogate_step", &mut || {
        std::hint::black_box(sql.surrogate_step(&updated, phi.clone()).unwrap());
    });
    let one_obs = batch.obs[..2].to_vec();
    timed("sql_svgd_act", &mut || {
        std::hint::black_box(sql.sample(&one_obs, 1, &mut rng).unwrap());
    });

    // The diffusion sampler.
    let mut diffusion = Sql::new(&load("multigoal_diffusion"), &mut rng).unwrap();
    let mut fresh = Sampled::default();
    timed("sql_diffusion_update", &mut || {
        replay.sample(&mut rng, 64, &mut fresh);
        std::hint::black_box(diffusion.update(&fresh.batch(), &mut rng).unwrap());
    });
    replay.sample(&mut rng, 64, &mut fresh);
    let batch = fresh.batch();
    timed("sql_diffusion_noise_estimation_step", &mut || {
        std::hint::black_box(
            diffusion
                .noise_estimation_step(batch.obs, batch.action, &mut rng)
                .unwrap(),
        );
    });
    timed("sql_diffusion_draws", &mut || {
        std::hint::black_box(Targets::draw(batch.action, 2, 64, &mut rng));
    });
    let targets = Targets::draw(batch.action, 2, 64, &mut rng);
    timed("sql_diffusion_posterior_q", &mut || {
        std::hint::black_box(
            diffusion
                .posterior_q(batch.obs, &targets.posterior)
                .unwrap(),
        );
    });
    let q = diffusion
        .posterior_q(batch.obs, &targets.posterior)
        .unwrap();
    let alpha = diffusion.alpha;
    timed("sql_diffusion_weighted_targets", &mut || {
        std::hint::black_box(targets.noise(&q, alpha));
    });
    let eps_hat = targets.noise(&q, alpha);
    timed("sql_diffusion_denoiser_step", &mut || {
        std::hint::black_box(
            diffusion
                .denoiser_step(batch.obs, &targets, eps_hat.clone())
                .unwrap(),
        );
    });
    timed("sql_diffusion_act", &mut || {
        std::hint::black_box(diffusion.sample(&one_obs, 1, &mut rng).unwrap());
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
