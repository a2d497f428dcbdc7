//! The objective half of a problem: what "optimal" means (DESIGN §1).
//!
//! Maximize `E Σ_t γ^t [r(s_t,a_t) + α·H(π(·|s_t))]`, entropy differential in the environment's
//! action units. Soft value `V(s) = α·log ∫_A exp(Q(s,a)/α) da` (minus `α·log|A|` under the
//! uniform prior), policy `π(a|s) = exp((Q(s,a) − V(s))/α)`.

use serde::{Deserialize, Serialize};

use crate::check::{Checked, Invalid, positive, within};

/// How the next state's value enters `Q`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backup {
    /// `Q(s,a) = r(s,a) + γ·E_{s'}[V(s')]`: the variational MaxEnt-RL solution (SAC's target).
    Maxent,
    /// `Q(s,a) = r(s,a) + γ·α·log E_{s'}[exp(V(s')/α)]`: exact inference in the optimality
    /// graphical model; optimistic about stochastic transitions.
    Inference,
}

/// The base measure of the entropy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionPrior {
    /// Lebesgue measure on the action box: SAC's differential entropy.
    Lebesgue,
    /// The uniform distribution on the box: subtracts `α·log|A|` from V at every step.
    Uniform,
}

/// The temperature α.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Temperature {
    Fixed(f64),
    /// Learned during training against a target entropy (`agent.target_entropy`).
    Auto,
}

impl Temperature {
    /// The fixed α, if there is one.
    pub fn fixed(&self) -> Option<f64> {
        match self {
            Temperature::Fixed(a) => Some(*a),
            Temperature::Auto => None,
        }
    }
}

/// Infinite discounted horizon (a stationary fixed point) or `T` steps (`V_T ≡ 0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Horizon {
    Discounted,
    Finite(usize),
}

/// The `[objective]` section as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ObjectiveSpec {
    pub gamma: f64,
    /// A number > 0, or `"auto"`.
    pub alpha: toml::Value,
    pub backup: Backup,
    pub action_prior: ActionPrior,
    /// `"discounted"`, or an integer number of steps.
    pub horizon: toml::Value,
}

impl Default for ObjectiveSpec {
    fn default() -> Self {
        ObjectiveSpec {
            gamma: 0.99,
            alpha: "auto".into(),
            backup: Backup::Maxent,
            action_prior: ActionPrior::Lebesgue,
            horizon: "discounted".into(),
        }
    }
}

/// A validated objective.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Objective {
    pub gamma: f64,
    pub temperature: Temperature,
    pub backup: Backup,
    pub action_prior: ActionPrior,
    pub horizon: Horizon,
}

impl ObjectiveSpec {
    /// Keys are relative to the `[objective]` table.
    pub fn validate(&self) -> Checked<Objective> {
        let temperature = match &self.alpha {
            toml::Value::String(s) if s == "auto" => Temperature::Auto,
            v => match v.as_float().or(v.as_integer().map(|i| i as f64)) {
                Some(a) => Temperature::Fixed(positive("alpha", a)?),
                None => {
                    return Err(Invalid::new(
                        "alpha",
                        format!(
                            "{} is neither a number > 0 nor \"auto\"",
                            crate::check::shown(v)
                        ),
                    ));
                }
            },
        };
        let horizon = match &self.horizon {
            toml::Value::String(s) if s == "discounted" => Horizon::Discounted,
            toml::Value::Integer(t) if *t >= 1 => Horizon::Finite(*t as usize),
            v => {
                return Err(Invalid::new(
                    "horizon",
                    format!(
                        "{} is neither \"discounted\" nor an integer number of steps >= 1",
                        crate::check::shown(v)
                    ),
                ));
            }
        };
        let gamma = within("gamma", self.gamma, 0.0, 1.0)?;
        if horizon == Horizon::Discounted && gamma >= 1.0 {
            return Err(Invalid::new(
                "gamma",
                "1 is out of range for horizon = \"discounted\": must be < 1 (or give an integer horizon)",
            ));
        }
        Ok(Objective {
            gamma,
            temperature,
            backup: self.backup,
            action_prior: self.action_prior,
            horizon,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> Checked<Objective> {
        let s: ObjectiveSpec = toml::from_str(text).unwrap();
        s.validate()
    }

    #[test]
    fn defaults_are_sacs() {
        let o = spec("").unwrap();
        assert_eq!(
            (o.gamma, o.temperature, o.backup),
            (0.99, Temperature::Auto, Backup::Maxent)
        );
        assert_eq!(
            (o.action_prior, o.horizon),
            (ActionPrior::Lebesgue, Horizon::Discounted)
        );
    }

    #[test]
    fn alpha_and_horizon_take_numbers_or_their_word() {
        assert_eq!(
            spec("alpha = 2").unwrap().temperature,
            Temperature::Fixed(2.0)
        );
        assert_eq!(
            spec("alpha = 0.5").unwrap().temperature,
            Temperature::Fixed(0.5)
        );
        assert_eq!(spec("alpha = 0.0").unwrap_err().key, "alpha");
        assert_eq!(spec("alpha = \"learned\"").unwrap_err().key, "alpha");
        assert_eq!(
            spec("horizon = 10\ngamma = 1.0").unwrap().horizon,
            Horizon::Finite(10)
        );
        assert_eq!(spec("horizon = 0").unwrap_err().key, "horizon");
        assert_eq!(spec("gamma = 1.0").unwrap_err().key, "gamma");
        assert_eq!(spec("gamma = 1.5\nhorizon = 3").unwrap_err().key, "gamma");
    }
}
