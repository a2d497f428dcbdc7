//! The memory check before training: a replay buffer, networks and minibatch passes that would
//! not fit in the memory available are refused before any work (exit 2), naming the key that
//! weighs most, rather than failing an allocation or meeting the OOM killer later.

use super::replay::Replay;
use crate::config::Config;
use crate::error::Result;
use crate::io::GIB;

/// What a learner holds while it trains, in bytes (floating point, so absurd sizes cannot
/// overflow): its parameters with their optimizer state and gradients, and a minibatch's
/// activations and gradients through its passes.
#[derive(Debug, Clone, Copy)]
pub struct LearnerBytes {
    pub parameters: f64,
    pub activations: f64,
    /// The key of the largest per-row particle count the minibatch passes multiply by, and its
    /// value (SQL's value, kernel or posterior particles), if any.
    pub particles: Option<(&'static str, usize)>,
}

/// Parameters (weights and biases) of an MLP `[input, hidden…, output]`, in floating point.
pub fn mlp_parameters(input: usize, hidden: &[usize], output: usize) -> f64 {
    let sizes: Vec<f64> = std::iter::once(input)
        .chain(hidden.iter().copied())
        .chain([output])
        .map(|n| n as f64)
        .collect();
    sizes.windows(2).map(|w| (w[0] + 1.0) * w[1]).sum()
}

/// Refuses `runs` trainings of `config` at once whose memory would not fit.
pub fn check(config: &Config, learner: LearnerBytes, runs: usize) -> Result<()> {
    let env = &config.env;
    let replay = Replay::bytes(config.train.buffer_size, env.obs_dim(), env.action_dim());
    let LearnerBytes {
        parameters,
        activations,
        particles,
    } = learner;
    // The minibatch passes grow with the batch, the widths and the particles: blame the largest.
    let widths: usize = config.agent.hidden.iter().sum();
    let passes_key = [
        ("train.batch_size", config.train.batch_size),
        ("agent.hidden", widths),
    ]
    .into_iter()
    .chain(particles)
    .fold(("agent.hidden", 0), |a, b| if b.1 > a.1 { b } else { a })
    .0;
    let parts = [
        ("train.buffer_size", replay),
        ("agent.hidden", parameters),
        (passes_key, activations),
    ];
    let (key, _) = parts
        .iter()
        .copied()
        .fold(parts[0], |a, b| if b.1 > a.1 { b } else { a });
    let (several, each) = if runs > 1 {
        (format!("{runs} runs of "), " each")
    } else {
        (String::new(), "")
    };
    let what = format!(
        "{several}training (replay buffer {:.1} GiB, networks and optimizer {:.1} GiB, minibatch passes {:.1} GiB{each})",
        replay / GIB,
        parameters / GIB,
        activations / GIB,
    );
    config.check_memory(
        key,
        &what,
        runs as f64 * (replay + parameters + activations),
    )
}
