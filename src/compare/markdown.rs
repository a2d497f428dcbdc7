//! `report.md`: a table a person reads in ten seconds, with a caution where the action grid is
//! too coarse for either policy.

use std::path::Path;

use super::{Report, StateSet};

/// Above this share of narrow states the report says the grid resolves the policies poorly.
const NARROW_CAUTION: f64 = 0.1;

pub fn markdown(r: &Report, checkpoint: &Path, exact: &Path) -> String {
    let worst = |f: fn(&StateSet) -> f64| f(&r.visited).max(f(&r.grid)).max(f(&r.start));
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
    let sets = [
        ("visited by the learned policy", &r.visited),
        ("uniform over the solver's grid", &r.grid),
        ("drawn from the reset distribution", &r.start),
    ];
    let percent = |x: f64| format!("{:.2}%", 100.0 * x);
    let projected = |v: &StateSet| match (
        v.projected_soft_regret_mean,
        v.projected_soft_regret_relative,
    ) {
        (Some(m), Some(rel)) => format!(" {m:.4} ({}) |", percent(rel)),
        _ => String::new(),
    };
    let mut table = format!(
        "| states | n | KL(π_learned‖π_exact) nats | \\|V_learned − V*\\| | soft regret V* − V^π |{} mean-action error | critic bias V_learned − V^π |\n|---|---|---|---|---|{}---|---|\n",
        if r.visited.projected_soft_regret_mean.is_some() {
            " the same for π* fitted by a tanh-Gaussian |"
        } else {
            ""
        },
        if r.visited.projected_soft_regret_mean.is_some() {
            "---|"
        } else {
            ""
        },
    );
    for (name, v) in sets {
        table += &format!(
            "| {name} | {} | {:.4} | {:.4} | {:.4} ({} of mean \\|V*\\|) |{} {:.4} | {:+.3} |\n",
            v.states,
            v.kl_mean,
            v.value_error_mean,
            v.soft_regret_mean,
            percent(v.soft_regret_relative),
            projected(v),
            v.mean_action_error,
            v.critic_bias_mean
        );
    }
    if r.visited.sampler_kl_mean.is_some() {
        let density = r.visited.sampler_density_kl_mean.is_some();
        table += &format!(
            "\nThe sampler against the energy-based policy π_θ, by cell histograms of {} draws a state{}:\n\n\
             | states | KL(sampler‖π_θ) | the same for draws from π_θ itself | KL(sampler‖π*) |{}\n|---|---|---|---|{}\n",
            super::learned::SAMPLER_DRAWS,
            if density {
                format!(
                    "; and the exact density of the diffusion model's probability-flow ODE sampler (a deterministic sampler of the same denoiser), over the cells, at each set's first {} states",
                    super::DENSITY_STATES
                )
            } else {
                String::new()
            },
            if density {
                " KL(ODE density‖π_θ) |"
            } else {
                ""
            },
            if density { "---|" } else { "" },
        );
        for (name, v) in sets {
            let f = |x: Option<f64>| x.map_or("–".to_string(), |x| format!("{x:.4}"));
            table += &format!(
                "| {name} | {} | {} | {} |{}\n",
                f(v.sampler_kl_mean),
                f(v.sampler_kl_floor_mean),
                f(v.sampler_kl_exact_mean),
                if density {
                    format!(" {} |", f(v.sampler_density_kl_mean))
                } else {
                    String::new()
                }
            );
        }
    }
    let mut episodes = format!(
        "| over {} seeded episodes | learned | exact |{}\n|---|---|---|{}\n\
         | return (undiscounted) | {:.2} | {:.2} |{}\n| soft return (discounted) | {:.2} | {:.2} |{}\n",
        r.episodes,
        if r.return_sampler.is_some() {
            " sampler |"
        } else {
            ""
        },
        if r.return_sampler.is_some() {
            "---|"
        } else {
            ""
        },
        r.return_learned,
        r.return_exact,
        r.return_sampler
            .map_or(String::new(), |x| format!(" {x:.2} |")),
        r.soft_return_learned,
        r.soft_return_exact,
        if r.return_sampler.is_some() {
            " – |"
        } else {
            ""
        },
    );
    if let Some(g) = &r.goals {
        episodes += &format!(
            "| distinct goals reached | {} | {} |{}\n",
            g.goals_reached_learned,
            g.goals_reached_exact,
            g.goals_reached_sampler
                .map_or(String::new(), |x| format!(" {x} |")),
        );
    }
    format!(
        "# Learned vs exact\n\nCheckpoint `{}` ({}) against solution `{}`, α = {} ({}).\n\n{table}\n{episodes}{cautions}",
        checkpoint.display(),
        match r.sampler {
            Some(sampler) => format!("{}, {sampler} sampler", r.learner),
            None => r.learner.to_string(),
        },
        exact.display(),
        r.alpha,
        r.alpha_source,
    )
}
