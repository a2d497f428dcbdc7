//! `kind = "gymnasium"`: any Gymnasium environment with Box observation and action spaces, run by
//! a worker process ([`worker`]). It has no model, so it serves the learners only.
//!
//! What the user writes ([`GymnasiumSpec`]): `id`, `kwargs` (passed to `gymnasium.make`),
//! `python` (default `$MAXENT_PYTHON`, else `python3`), `import` (modules imported first, so a
//! user's own registered ids work) and `timeout` (seconds any one answer may take). What the
//! worker reported about the env ([`Reported`]: spaces, bounds, time limit, versions) is recorded
//! beside it, so a run dir says what it ran and reading it back needs no worker.

mod worker;

use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use worker::{Failure, Worker};

use super::Interval;
use crate::check::{Checked, Invalid};

/// The default of `timeout`, in seconds: generous, for an env's import and first `make`.
pub const DEFAULT_TIMEOUT: f64 = 120.0;

/// An env table of kind `gymnasium`, as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GymnasiumSpec {
    pub id: String,
    #[serde(default)]
    pub kwargs: toml::Table,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python: Option<String>,
    #[serde(default, rename = "import")]
    pub imports: Vec<String>,
    #[serde(default = "default_timeout")]
    pub timeout: f64,
    /// What the worker said, in a recorded config.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reported: Option<Reported>,
}

fn default_timeout() -> f64 {
    DEFAULT_TIMEOUT
}

/// What a worker reports about its environment when it starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reported {
    pub gymnasium: String,
    pub numpy: String,
    pub python: String,
    pub executable: String,
    /// The wrapped env as Gymnasium prints it (`<TimeLimit<OrderEnforcing<…>>>`).
    pub env: String,
    pub observation_space: String,
    pub observation_dim: usize,
    pub action_space: String,
    pub action_low: Vec<f64>,
    pub action_high: Vec<f64>,
    /// The `TimeLimit` of the env's registration (or of `kwargs.max_episode_steps`).
    pub max_episode_steps: usize,
}

/// A validated Gymnasium env with what its worker reported.
#[derive(Debug, Clone, PartialEq)]
pub struct Gymnasium {
    spec: GymnasiumSpec,
    reported: Reported,
    bounds: Vec<Interval>,
}

/// Every key a gymnasium env table may have (`kwargs` takes any key below it).
pub fn schema() -> toml::Table {
    let mut t = toml::Table::new();
    for key in ["kind", "id", "python"] {
        t.insert(key.into(), "".into());
    }
    t.insert("kwargs".into(), toml::Value::Table(toml::Table::new()));
    t.insert("import".into(), toml::Value::Array(Vec::new()));
    t.insert("timeout".into(), DEFAULT_TIMEOUT.into());
    t.insert("reported".into(), toml::Value::Table(toml::Table::new()));
    t
}

impl GymnasiumSpec {
    /// Checks the keys a user wrote (no worker is started).
    pub fn check(&self) -> Checked<()> {
        if self.id.trim().is_empty() {
            return Err(Invalid::new(
                "id",
                "is empty: name a registered env, e.g. \"HalfCheetah-v5\"",
            ));
        }
        if self.python.as_ref().is_some_and(|p| p.trim().is_empty()) {
            return Err(Invalid::new("python", "is empty: name an interpreter"));
        }
        for (i, m) in self.imports.iter().enumerate() {
            let ok = !m.is_empty()
                && m.split('.').all(|part| {
                    part.chars()
                        .next()
                        .is_some_and(|c| c.is_alphabetic() || c == '_')
                        && part.chars().all(|c| c.is_alphanumeric() || c == '_')
                });
            if !ok {
                return Err(Invalid::new(
                    format!("import[{i}]"),
                    format!("\"{m}\" is not a Python module name"),
                ));
            }
        }
        crate::check::within("timeout", self.timeout, 1e-3, 1e6)?;
        kwargs_json(&self.kwargs)?;
        Ok(())
    }

    /// The interpreter: `python`, else `$MAXENT_PYTHON`, else `python3` on PATH.
    pub fn interpreter(&self) -> String {
        self.python
            .clone()
            .or_else(|| {
                std::env::var("MAXENT_PYTHON")
                    .ok()
                    .filter(|p| !p.is_empty())
            })
            .unwrap_or_else(|| "python3".into())
    }

    /// What `worker.py` reads: the id, the kwargs as JSON and the imports.
    fn worker_spec(&self) -> String {
        let kwargs = kwargs_json(&self.kwargs).expect("checked");
        serde_json::json!({ "id": self.id, "kwargs": kwargs, "import": self.imports }).to_string()
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs_f64(self.timeout)
    }

    /// Validates the keys and learns the env's spaces: from `reported` where it is given (a
    /// recorded config), else by starting a worker once (remembered for this process). A
    /// worker's refusal comes back as the key it concerns.
    pub fn resolve(mut self) -> Checked<Gymnasium> {
        self.check()?;
        let reported = match self.reported.take() {
            Some(r) => check_reported(r)?,
            None => self.probe()?,
        };
        let bounds = reported
            .action_low
            .iter()
            .zip(&reported.action_high)
            .map(|(&lo, &hi)| Interval { lo, hi })
            .collect();
        Ok(Gymnasium {
            spec: self,
            reported,
            bounds,
        })
    }

    fn probe(&self) -> Checked<Reported> {
        static PROBED: Mutex<Vec<(String, Reported)>> = Mutex::new(Vec::new());
        let key = format!("{}\n{}", self.interpreter(), self.worker_spec());
        let mut probed = PROBED.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, r)) = probed.iter().find(|(k, _)| *k == key) {
            return Ok(r.clone());
        }
        let (_, reported) = Worker::start(&self.interpreter(), &self.worker_spec(), self.timeout())
            .map_err(|f| start_failure(f, &self.id))?;
        probed.push((key, reported.clone()));
        Ok(reported)
    }
}

/// A worker's refusal to start as an invalid key; a lost worker as a message under `id`.
fn start_failure(f: Failure, id: &str) -> Invalid {
    match f {
        Failure::Refused { key, message } => Invalid::new(key, message),
        Failure::Lost(message) => Invalid::new(
            "id",
            format!("{id}: {}", message.lines().collect::<Vec<_>>().join(" | ")),
        ),
    }
}

/// Refuses a recorded description that cannot be one (a corrupt or hand-edited run config).
fn check_reported(r: Reported) -> Checked<Reported> {
    let key = |k: &str| format!("reported.{k}");
    if r.observation_dim == 0 {
        return Err(Invalid::new(key("observation_dim"), "must be at least 1"));
    }
    if r.action_low.is_empty() || r.action_low.len() != r.action_high.len() {
        return Err(Invalid::new(
            key("action_high"),
            "must list as many bounds as action_low, at least one",
        ));
    }
    if !r
        .action_low
        .iter()
        .zip(&r.action_high)
        .all(|(lo, hi)| lo.is_finite() && hi.is_finite() && lo < hi)
    {
        return Err(Invalid::new(
            key("action_low"),
            "each bound must be finite and below its action_high",
        ));
    }
    if r.max_episode_steps == 0 {
        return Err(Invalid::new(key("max_episode_steps"), "must be at least 1"));
    }
    Ok(r)
}

/// `kwargs` as the JSON object `gymnasium.make` gets: TOML tables, arrays, strings, booleans
/// and finite numbers (a date has no Python counterpart here).
fn kwargs_json(kwargs: &toml::Table) -> Checked<serde_json::Value> {
    fn convert(v: &toml::Value, key: &str) -> Checked<serde_json::Value> {
        use serde_json::Value as J;
        Ok(match v {
            toml::Value::String(s) => J::String(s.clone()),
            toml::Value::Integer(i) => J::from(*i),
            toml::Value::Float(f) => {
                serde_json::Number::from_f64(*f)
                    .map(J::Number)
                    .ok_or_else(|| {
                        Invalid::new(
                            key,
                            format!(
                                "{} cannot be passed to Python as JSON",
                                crate::check::number(*f)
                            ),
                        )
                    })?
            }
            toml::Value::Boolean(b) => J::Bool(*b),
            toml::Value::Datetime(d) => {
                return Err(Invalid::new(
                    key,
                    format!("{d} is a date, not a value gymnasium.make takes"),
                ));
            }
            toml::Value::Array(items) => J::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, x)| convert(x, &format!("{key}[{i}]")))
                    .collect::<Checked<_>>()?,
            ),
            toml::Value::Table(t) => J::Object(
                t.iter()
                    .map(|(k, x)| Ok((k.clone(), convert(x, &format!("{key}.{k}"))?)))
                    .collect::<Checked<_>>()?,
            ),
        })
    }
    convert(&toml::Value::Table(kwargs.clone()), "kwargs")
}

impl Gymnasium {
    pub fn spec(&self) -> &GymnasiumSpec {
        &self.spec
    }

    pub fn reported(&self) -> &Reported {
        &self.reported
    }

    pub fn id(&self) -> &str {
        &self.spec.id
    }

    /// `gymnasium:ID`, as messages name it.
    pub fn label(&self) -> String {
        format!("gymnasium:{}", self.spec.id)
    }

    /// The env table a run dir records: the keys as given, with what the worker reported.
    pub fn to_table(&self) -> toml::Table {
        let spec = GymnasiumSpec {
            reported: Some(self.reported.clone()),
            ..self.spec.clone()
        };
        toml::Table::try_from(spec).expect("an env spec is plain data")
    }

    pub fn obs_dim(&self) -> usize {
        self.reported.observation_dim
    }

    pub fn action_bounds(&self) -> &[Interval] {
        &self.bounds
    }

    pub fn episode_steps(&self) -> usize {
        self.reported.max_episode_steps
    }

    /// Starts a worker for this env and checks that it reports the spaces recorded for it (a
    /// checkpoint's networks are shaped by them).
    pub fn start(&self) -> crate::Result<Worker> {
        let config_error = |f: Failure| {
            let e = start_failure(f, &self.spec.id);
            crate::Error::Config {
                origin: format!("env {}", self.label()),
                key: format!("env.{}", e.key),
                message: e.message,
            }
        };
        let spec = &self.spec;
        let (worker, now) = Worker::start(&spec.interpreter(), &spec.worker_spec(), spec.timeout())
            .map_err(config_error)?;
        let was = &self.reported;
        let same = now.observation_dim == was.observation_dim
            && now.action_low == was.action_low
            && now.action_high == was.action_high
            && now.max_episode_steps == was.max_episode_steps;
        if !same {
            return Err(crate::Error::Config {
                origin: format!("env {}", self.label()),
                key: "env.reported".into(),
                message: format!(
                    "the env now reports {} observations, actions in {}, {} steps an episode (with {} at {}); the config records {}, {}, {}",
                    now.observation_dim,
                    now.action_space,
                    now.max_episode_steps,
                    now.gymnasium,
                    now.executable,
                    was.observation_dim,
                    was.action_space,
                    was.max_episode_steps
                ),
            });
        }
        Ok(worker)
    }
}
