//! The exact solver on the pendulum (DESIGN §2's reference problem): the whole `solve` (table
//! build plus Newton soft value iteration to 1e-6), at 101² and 201² states × 41 actions, γ = 0.99.
//! A vectorized numpy soft value iteration needs ~0.1 s a sweep and ~1 200 sweeps at 201².

use criterion::{Criterion, criterion_group, criterion_main};
use maxent::Config;
use maxent::exact::Solution;

fn pendulum(n: usize) -> Config {
    let sets = [
        "objective.alpha=0.5".to_string(),
        format!("solver.states=[{n},{n}]"),
        "solver.actions=[41]".to_string(),
        "solver.tolerance=1e-6".to_string(),
    ];
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/pendulum.toml");
    Config::load(&path, &sets).unwrap()
}

fn solve(c: &mut Criterion) {
    maxent::process::init(); // as the `maxent` binary runs
    let mut group = c.benchmark_group("solve_pendulum");
    group.sample_size(10);
    for n in [101, 201] {
        let config = pendulum(n);
        group.bench_function(format!("{n}x{n}x41"), |b| {
            b.iter(|| Solution::solve(&config, |_, _| {}).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, solve);
criterion_main!(benches);
