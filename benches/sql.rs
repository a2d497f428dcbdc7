//! One soft Q-learning update at the multigoal sizes of `configs/multigoal_sql.toml` (128×128
//! networks, batch 64, 16 value particles, 32 kernel particles), on one thread as `maxent train`
//! runs it, whole and by step: the soft Bellman step (target network on 64·16 rows, Q forward
//! and backward, Adam) and the SVGD step (sampler on 64·32 rows, ∇_a Q at the fixed half, the
//! kernel, the surrogate's backward, Adam); and the SVGD step's parts one by one, as `svgd_step`
//! runs them: the sampler's forward pass, `∇_a log p` (Q forward and backward on the 64·16 fixed
//! particles), the kernel direction, the sampler's forward and backward pass of the surrogate,
//! and one Adam step over the sampler's gradients.

use candle_core::{Device, Tensor, Var};
use candle_nn::Optimizer as _;
use criterion::{Criterion, criterion_group, criterion_main};
use maxent::Config;
use maxent::sql::Sql;
use maxent::training::{Replay, Sampled};
use rand::Rng;

fn setup() -> (Config, Replay) {
    // As the `maxent` binary runs (criterion runs benchmarks on this one thread).
    maxent::process::init();
    let table: toml::Table = toml::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/configs/multigoal_sql.toml"
        ))
        .unwrap(),
    )
    .unwrap();
    let config = Config::from_table(table, "bench", None, None, &[]).unwrap();
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
    replay.sample(&mut rng, 64, &mut sampled);
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
    let dev = &Device::Cpu;
    let batch = sampled.batch();
    let t = |x: &[f32], cols: usize| Tensor::from_slice(x, (x.len() / cols, cols), dev).unwrap();
    let (obs, action, next) = (t(batch.obs, 2), t(batch.action, 2), t(batch.next_obs, 2));
    let reward = Tensor::from_slice(batch.reward, 64, dev).unwrap();
    let terminated = Tensor::from_slice(batch.terminated, 64, dev).unwrap();
    timed("sql_update", &mut || {
        std::hint::black_box(sql.update(&batch, &mut rng).unwrap());
    });
    timed("sql_soft_bellman_step", &mut || {
        std::hint::black_box(
            sql.soft_bellman_step(&obs, &action, &reward, &next, &terminated, &mut rng)
                .unwrap(),
        );
    });
    timed("sql_svgd_step", &mut || {
        std::hint::black_box(sql.svgd_step(&obs, &mut rng).unwrap());
    });

    // The SVGD step's parts (multigoal: 2-D observations and actions, 16 fixed and 16 updated
    // particles of 32 per state).
    let (n, k, half, ad) = (64, 32, 16, 2);
    let repeat = |x: &Tensor, times: usize| {
        x.unsqueeze(1)
            .unwrap()
            .broadcast_as((n, times, 2))
            .unwrap()
            .reshape((n * times, 2))
            .unwrap()
    };
    let obs_k = repeat(&obs, k);
    let xi = maxent::sql::nets::normal(&mut rng, n * k, ad).unwrap();
    let sampler_input = Tensor::cat(&[&obs_k, &xi], 1).unwrap();
    let forward = |sql: &Sql| sql.sampler.forward(&sampler_input).unwrap().tanh().unwrap();
    timed("sql_svgd_sampler_forward", &mut || {
        std::hint::black_box(forward(&sql));
    });
    let actions = forward(&sql).reshape((n, k, ad)).unwrap();
    let fixed = actions.narrow(1, 0, half).unwrap().detach();
    let obs_half = repeat(&obs, half);
    let fixed_rows = fixed.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let updated_rows = actions
        .narrow(1, half, half)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let grad_log_p = |sql: &Sql| {
        let leaf = Var::from_tensor(&fixed.reshape((n * half, ad)).unwrap()).unwrap();
        let x = Tensor::cat(&[&obs_half, leaf.as_tensor()], 1).unwrap();
        let q = sql.qf.forward(&x).unwrap().squeeze(1).unwrap();
        let grads = (q / sql.alpha)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        grads
            .get(leaf.as_tensor())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
    };
    timed("sql_svgd_grad_log_p", &mut || {
        std::hint::black_box(grad_log_p(&sql));
    });
    let grads = grad_log_p(&sql);
    timed("sql_svgd_kernel_direction", &mut || {
        std::hint::black_box(maxent::sql::svgd::direction(
            &fixed_rows,
            &grads,
            &updated_rows,
            n,
            ad,
        ));
    });
    let phi = Tensor::from_vec(
        maxent::sql::svgd::direction(&fixed_rows, &grads, &updated_rows, n, ad),
        (n, half, ad),
        dev,
    )
    .unwrap();
    let surrogate_grads = |sql: &Sql| {
        let a = forward(sql).reshape((n, k, ad)).unwrap();
        let updated = a.narrow(1, half, half).unwrap();
        (updated * &phi)
            .unwrap()
            .sum_all()
            .unwrap()
            .neg()
            .unwrap()
            .backward()
            .unwrap()
    };
    timed("sql_svgd_sampler_forward_backward", &mut || {
        std::hint::black_box(surrogate_grads(&sql));
    });
    let g = surrogate_grads(&sql);
    timed("sql_svgd_adam_step", &mut || {
        sql.sampler_opt.step(&g).unwrap();
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
