//! Environment steps per second, actions drawn in advance, resetting when an episode ends: the
//! built-in models (compared with Gymnasium's own ~55 thousand Pendulum-v1 steps/s on this
//! machine), and Gymnasium envs through the worker, whose round trip per step is printed beside
//! the time the env's own `step` took inside Python. The Gymnasium part needs an interpreter
//! with gymnasium and mujoco (`MAXENT_PYTHON`); without one it says so and is left out.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use maxent::config::load_env;
use rand::Rng;

fn bench_env(c: &mut Criterion, name: &str, steps: usize) {
    let env = match load_env(name, &[]) {
        Ok(env) => env,
        Err(e) => {
            eprintln!("env_step/{name}: left out ({e})");
            return;
        }
    };
    let mut rng = maxent::rng::seeded(0);
    let bounds = env.action_bounds();
    let actions: Vec<f64> = (0..steps * bounds.len())
        .map(|i| rng.random_range(bounds[i % bounds.len()].lo..=bounds[i % bounds.len()].hi))
        .collect();
    let mut runner = env.start("bench").unwrap();
    let mut obs = vec![0.0; env.obs_dim()];
    runner.reset(&mut rng, &mut obs).unwrap();
    let mut group = c.benchmark_group("env_step");
    group.throughput(Throughput::Elements(steps as u64));
    if steps < 10_000 {
        group.sample_size(20);
    }
    let mut round_trip = (0u64, 0.0f64);
    group.bench_function(name, |b| {
        b.iter(|| {
            let started = std::time::Instant::now();
            let mut total = 0.0;
            for a in actions.chunks_exact(bounds.len()) {
                let t = runner.step(a, &mut rng, &mut obs).unwrap();
                total += t.reward;
                if t.terminated || t.truncated {
                    runner.reset(&mut rng, &mut obs).unwrap();
                }
            }
            round_trip.0 += steps as u64;
            round_trip.1 += started.elapsed().as_secs_f64();
            std::hint::black_box(total)
        })
    });
    group.finish();
    if let Some((n, inside)) = runner.python_step_time() {
        eprintln!(
            "env_step/{name}: {:.1} µs a step through the worker, {:.1} µs of it inside the env's step in Python",
            1e6 * round_trip.1 / round_trip.0 as f64,
            1e6 * inside / n as f64
        );
    }
}

fn env_steps(c: &mut Criterion) {
    bench_env(c, "pendulum", 100_000);
    bench_env(c, "multigoal", 100_000);
    bench_env(c, "point_mass_noisy", 100_000);
    bench_env(c, "gymnasium:Pendulum-v1", 2_000);
    bench_env(c, "gymnasium:HalfCheetah-v5", 2_000);
}

criterion_group!(benches, env_steps);
criterion_main!(benches);
