//! `report.md`: a table a person reads in ten seconds, with a caution where the action grid is
//! too coarse for either policy.

use std::path::Path;

use super::{Report, StateSet};

/// Above this share of narrow states the report says the grid resolves the policies poorly.
const NARROW_CAUTION: f64 = 0.1;

pub fn markdown(r: &Report, checkpoint: &Path, exact: &Path) -> String {
    let worst = |f: fn(&StateSet) -> f64| f(&r.visited).max(f(&r.grid));
    let mut cautions = String::new();
    let narrow_exact = worst(|s| s.narrow_exact_fraction);
    if narrow_exact > NARROW_CAUTION {
        cautions += &format!(
            "\n**Caution:** at {:.0}% of the states the exact policy is narrower than two action cells; \
             the grid resolves it poorly there and the KL estimate is unreliable. Raise α or `solver.actions`.\n",
            100.0 * narrow_exact
        );
    }
    let narrow_learned = worst(|s| s.narrow_learned_fraction);
    if narrow_learned > NARROW_CAUTION {
        cautions += &format!(
            "\n**Caution:** at {:.0}% of the states the learned policy is narrower than two action cells; \
             its tabulation over the cells, and so its soft regret, is coarse there. Raise `solver.actions`.\n",
            100.0 * narrow_learned
        );
    }
    let row = |name: &str, v: &StateSet| {
        format!(
            "| {name} | {} | {:.4} | {:.4} | {:.4} ({:.2}% of mean \\|V*\\|) | {:.4} ({:.2}%) | {:.4} | {:+.3} |\n",
            v.states,
            v.kl_mean,
            v.value_error_mean,
            v.soft_regret_mean,
            100.0 * v.soft_regret_relative,
            v.projected_soft_regret_mean,
            100.0 * v.projected_soft_regret_relative,
            v.mean_action_error,
            v.critic_bias_mean
        )
    };
    format!(
        "# Learned vs exact\n\nCheckpoint `{}` against solution `{}`, α = {} ({}).\n\n\
         | states | n | KL(π_learned‖π_exact) nats | \\|V_learned − V*\\| | soft regret V* − V^π | the same for π* fitted by a tanh-Gaussian | mean-action error | critic bias V_learned − V^π |\n\
         |---|---|---|---|---|---|---|---|\n{}{}\n\
         | over {} seeded episodes | learned | exact |\n|---|---|---|\n\
         | return (undiscounted) | {:.2} | {:.2} |\n| soft return (discounted) | {:.2} | {:.2} |\n{}",
        checkpoint.display(),
        exact.display(),
        r.alpha,
        r.alpha_source,
        row("visited by the learned policy", &r.visited),
        row("uniform over the solver's grid", &r.grid),
        r.episodes,
        r.return_learned,
        r.return_exact,
        r.soft_return_learned,
        r.soft_return_exact,
        cautions
    )
}
