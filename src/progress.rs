//! Progress on stderr (indicatif). Hidden when stderr is not a terminal, so logs and `--json`
//! pipelines stay clean.

use indicatif::{ProgressBar, ProgressStyle};

/// A spinner with a message, for the solver's iterations.
pub fn solver() -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} solve {elapsed_precise} {msg}")
            .expect("valid template"),
    );
    bar
}

/// A bar over environment steps, for training.
pub fn training(seed: u64) -> ProgressBar {
    let bar = ProgressBar::new(0);
    let template =
        format!("seed {seed} {{bar:30}} {{pos}}/{{len}} [{{elapsed_precise}}] {{per_sec}} {{msg}}");
    bar.set_style(ProgressStyle::with_template(&template).expect("valid template"));
    bar
}

/// A sweep's bar: runs finished of all.
pub fn sweep(runs: u64) -> ProgressBar {
    let bar = ProgressBar::new(runs);
    bar.set_style(
        ProgressStyle::with_template(
            "sweep {bar:30} {pos}/{len} runs [{elapsed_precise}] eta {eta}",
        )
        .expect("valid template"),
    );
    bar
}
