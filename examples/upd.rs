use maxent::Config;
use maxent::sac::Sac;
use maxent::sac::replay::{Replay, Sampled};
use rand::Rng;
fn main() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/pendulum.toml");
    let config = Config::load(&path, &[]).unwrap();
    let mut rng = maxent::rng::seeded(0);
    let mut replay = Replay::new(10_000, 3, 1);
    for _ in 0..10_000 {
        let o: Vec<f64> = (0..3).map(|_| rng.random_range(-1.0..1.0)).collect();
        replay.push(&o, &[0.3], -1.0, &o, false, false);
    }
    let mut sac = Sac::new(&config, &mut rng);
    let mut s = Sampled::default();
    for _ in 0..300 {
        replay.sample(&mut rng, 256, &mut s);
        sac.update(&s.batch(), &mut rng);
    }
}
