//! Environment steps per second, actions drawn in advance (as the Gymnasium figure it is compared
//! with: ~55 thousand Pendulum-v1 steps/s on this machine). Resets when an episode ends.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use maxent::config::load_env;
use maxent::env::Simulator;
use rand::Rng;

const STEPS: usize = 100_000;

fn bench_env(c: &mut Criterion, name: &str) {
    let env = load_env(name, &[]).unwrap();
    let mut rng = maxent::rng::seeded(0);
    let bounds = env.action_bounds();
    let actions: Vec<f64> = (0..STEPS * bounds.len())
        .map(|i| rng.random_range(bounds[i % bounds.len()].lo..=bounds[i % bounds.len()].hi))
        .collect();
    let mut sim = Simulator::new(env.clone());
    let mut obs = vec![0.0; env.obs_dim()];
    sim.reset(&mut rng, &mut obs);
    let mut group = c.benchmark_group("env_step");
    group.throughput(Throughput::Elements(STEPS as u64));
    group.bench_function(name, |b| {
        b.iter(|| {
            let mut total = 0.0;
            for a in actions.chunks_exact(bounds.len()) {
                let t = sim.step(a, &mut rng, &mut obs);
                total += t.reward;
                if t.terminated || t.truncated {
                    sim.reset(&mut rng, &mut obs);
                }
            }
            std::hint::black_box(total)
        })
    });
    group.finish();
}

fn env_steps(c: &mut Criterion) {
    bench_env(c, "pendulum");
    bench_env(c, "multigoal");
    bench_env(c, "point_mass_noisy");
}

criterion_group!(benches, env_steps);
criterion_main!(benches);
