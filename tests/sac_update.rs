//! The fused SAC update: against the same update written with candle's autograd (tests/oracle),
//! every loss and parameter agrees from the same weights, batch and noise; and split over two
//! threads it does the one-thread arithmetic bit for bit.

mod oracle;

use candle_core::Tensor;
use maxent::Config;
use maxent::rng::Rng;
use maxent::sac::Sac;
use maxent::training::Sampled;
use oracle::reference;

fn config(alpha: &str) -> Config {
    let table: toml::Table = toml::from_str(&format!(
        "env = \"multigoal\"\n[objective]\nalpha = {alpha}\n[agent]\nhidden = [16, 8]"
    ))
    .unwrap();
    Config::from_table(table, "test", None, None, &[]).unwrap()
}

/// `n` random multigoal transitions (2-D observations and actions), a fifth of them terminal.
fn random_transitions(rng: &mut Rng, n: usize) -> Sampled {
    use rand::Rng as _;
    let mut draw = |k: usize, lo: f32, hi: f32| -> Vec<f32> {
        (0..k).map(|_| rng.random_range(lo..hi)).collect()
    };
    Sampled {
        obs: draw(n * 2, -6.0, 6.0),
        action: draw(n * 2, -1.0, 1.0),
        reward: draw(n, -40.0, 10.0),
        next_obs: draw(n * 2, -6.0, 6.0),
        terminated: draw(n, 0.0, 1.0)
            .iter()
            .map(|u| if *u < 0.2 { 1.0 } else { 0.0 })
            .collect(),
    }
}

/// The fast update and candle's autograd update, from the same weights, batch and noise, move
/// every parameter the same way, three updates in a row.
#[test]
fn fast_update_matches_candle_autograd() {
    for alpha in ["\"auto\"", "0.3"] {
        let cfg = config(alpha);
        let mut rng = maxent::rng::seeded(7);
        let mut fast = Sac::new(&cfg, &mut rng);
        let mut slow = reference::Sac::new(&cfg, &mut rng).unwrap();
        for (name, shape, values) in fast.named_tensors() {
            let var = &slow.params.vars[&name];
            var.set(&Tensor::from_vec(values, shape, &candle_core::Device::Cpu).unwrap())
                .unwrap();
        }
        let data = random_transitions(&mut rng, 32);
        let batch = data.batch();
        let tensors = reference::Batch::from_flat(&batch, 2, 2).unwrap();
        for step in 0..3 {
            let (mut r1, mut r2) = (maxent::rng::seeded(step), maxent::rng::seeded(step));
            let lf = fast.update(&batch, &mut r1);
            let ls = slow.update(&tensors, &mut r2).unwrap();
            for (what, a, b) in [
                ("critic", lf.critic, ls.critic),
                ("actor", lf.actor, ls.actor),
                ("alpha", lf.alpha, ls.alpha),
                ("entropy", lf.entropy.unwrap(), ls.entropy.unwrap()),
            ] {
                assert!(
                    (a - b).abs() <= 1e-4 * (1.0 + b.abs()),
                    "{alpha} step {step}: {what} loss {a} vs {b}"
                );
            }
            for (name, _, values) in fast.named_tensors() {
                let theirs = slow.params.vars[&name]
                    .as_tensor()
                    .flatten_all()
                    .unwrap()
                    .to_vec1::<f32>()
                    .unwrap();
                for (k, (a, b)) in values.iter().zip(&theirs).enumerate() {
                    assert!(
                        (a - b).abs() <= 1e-4 * (1.0 + b.abs()),
                        "{alpha} step {step}: {name}[{k}] {a} vs {b}"
                    );
                }
            }
        }
    }
}

/// The twin-thread update does the serial update's arithmetic: the same weights, bit for bit.
#[test]
fn parallel_update_is_bit_identical_to_the_serial_one() {
    let cfg = config("\"auto\"");
    let mut rng = maxent::rng::seeded(11);
    let serial = Sac::new(&cfg, &mut rng);
    let mut parallel = serial.clone();
    parallel.parallel = true;
    let mut serial = serial;
    let data = random_transitions(&mut rng, 64);
    let batch = data.batch();
    for step in 0..3 {
        let (mut r1, mut r2) = (maxent::rng::seeded(step), maxent::rng::seeded(step));
        assert_eq!(
            serial.update(&batch, &mut r1),
            parallel.update(&batch, &mut r2)
        );
    }
    assert_eq!(serial.actor, parallel.actor);
    assert_eq!(serial.critic, parallel.critic);
    assert_eq!(serial.target, parallel.target);
    assert_eq!(serial.critic_opt, parallel.critic_opt);
    assert_eq!(serial.log_alpha, parallel.log_alpha);
}
