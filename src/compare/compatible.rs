//! A checkpoint and a solution can be compared only when they are of one problem: the same
//! environment, γ, the objective SAC learns (discounted, `maxent` backup, `lebesgue` prior) and α.

use crate::config::Config;
use crate::error::{Error, Result};
use crate::exact::Solution;
use crate::objective::{ActionPrior, Backup, Horizon, Temperature};

/// Where the α of a comparison came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlphaSource {
    /// Both used the config's α.
    Fixed,
    /// Training learned α and the solution was solved at it.
    Learned,
}

impl AlphaSource {
    pub fn as_str(self) -> &'static str {
        match self {
            AlphaSource::Fixed => "fixed",
            AlphaSource::Learned => "learned",
        }
    }
}

/// The relative difference within which a learned α counts as the solution's: the learned α is
/// stored as f32 log α, the solution's as the f64 a user typed.
pub const LEARNED_ALPHA_RTOL: f64 = 1e-4;

/// Refuses a pair of a different problem; returns α and where it came from. `learned_alpha` is
/// the checkpoint's α (the learned one when the config says `"auto"`).
pub fn check(learned: &Config, learned_alpha: f64, exact: &Solution) -> Result<(f64, AlphaSource)> {
    let refuse = |what: String| Error::argument("compare", what);
    let (lo, eo) = (&learned.objective, &exact.config.objective);
    if learned.env.to_table() != exact.config.env.to_table() {
        return Err(refuse(
            "the checkpoint and the solution are for different environments".into(),
        ));
    }
    if (lo.gamma - eo.gamma).abs() > 1e-12 {
        return Err(refuse(format!(
            "gamma differs: {} (checkpoint) vs {} (solution)",
            lo.gamma, eo.gamma
        )));
    }
    if eo.backup != Backup::Maxent
        || eo.action_prior != ActionPrior::Lebesgue
        || eo.horizon != Horizon::Discounted
    {
        return Err(refuse(
            "SAC learns the discounted maxent backup with the lebesgue prior: solve with those"
                .into(),
        ));
    }
    match lo.temperature {
        Temperature::Fixed(a) if (a - exact.alpha).abs() > 1e-9 * a => Err(refuse(format!(
            "alpha differs: {a} (checkpoint) vs {} (solution)",
            exact.alpha
        ))),
        Temperature::Fixed(a) => Ok((a, AlphaSource::Fixed)),
        Temperature::Auto => {
            let a = learned_alpha;
            if (a - exact.alpha).abs() > LEARNED_ALPHA_RTOL * a {
                // `{a}` is the shortest decimal that reads back as this f64: solving at it passes.
                return Err(refuse(format!(
                    "the checkpoint learned alpha = {a}; solve with --set objective.alpha={a} (the solution has {})",
                    exact.alpha
                )));
            }
            Ok((a, AlphaSource::Learned))
        }
    }
}
