//! Run configs (DESIGN §4): read a TOML file, resolve its environment, apply `--set` overrides,
//! check every key once, and hand out typed, trusted values.
//!
//! Errors name where the bad value came from: the config file, the env file, or the `--set`
//! argument that put it there.

mod overrides;
mod sections;

pub use overrides::Override;
pub use sections::{
    Agent, AgentSpec, Algorithm, DiffusionKeys, MAX_NOISE_NODES, SacKeys, Sampler, SolverSpec,
    SqlKeys, SvgdKeys, TargetEntropy, Train,
};

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::check::Invalid;
use crate::env::{self, PendulumSpec, PointMassSpec, World};
use crate::error::{Error, Result};
use crate::objective::{Objective, ObjectiveSpec};

/// A run config as written, every section at its default when absent. `env` is resolved to a
/// table before this is read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct ConfigSpec {
    name: String,
    seed: u64,
    env: toml::Value,
    objective: ObjectiveSpec,
    train: Train,
    agent: AgentSpec,
    solver: SolverSpec,
}

impl Default for ConfigSpec {
    fn default() -> Self {
        ConfigSpec {
            name: String::new(),
            seed: 0,
            env: "pendulum".into(),
            objective: ObjectiveSpec::default(),
            train: Train::default(),
            agent: AgentSpec::default(),
            solver: SolverSpec::default(),
        }
    }
}

/// A validated run config.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Where it came from (a file path), for error messages.
    pub origin: String,
    pub name: String,
    pub seed: u64,
    pub env: World,
    pub objective: Objective,
    pub train: Train,
    pub agent: Agent,
    pub solver: SolverSpec,
    /// The fully resolved config (defaults filled, env inline), as run dirs record it.
    resolved: toml::Table,
    /// `--set` overrides of top-level keys, `(key, argument as typed)`: errors found after
    /// loading name the argument rather than the file.
    overrides: Vec<(String, String)>,
}

impl Config {
    /// Reads `path` and applies `sets` (`--set KEY=VALUE` arguments) on top.
    pub fn load(path: &Path, sets: &[String]) -> Result<Config> {
        let text = read(path)?;
        let table = parse_toml(&text, path)?;
        let default_name = path.file_stem().map(|s| s.to_string_lossy().into_owned());
        Config::from_table(
            table,
            &path.display().to_string(),
            path.parent(),
            default_name,
            sets,
        )
    }

    /// Reads a config that a checkpoint or a solution recorded. They write the resolved config,
    /// every key of it, so a key that is missing means the file lost it (a truncated copy): it is
    /// refused as corrupt rather than read with the default in its place.
    pub fn load_recorded(path: &Path) -> Result<Config> {
        let text = read(path)?;
        let table = with_default_learner(parse_toml(&text, path)?);
        let config = Config::build(
            table.clone(),
            &path.display().to_string(),
            path.parent(),
            None,
            &[],
            true,
        )?;
        match first_missing(&config.resolved, &with_added_keys(table, &config.resolved)) {
            Some(key) => Err(Error::input(
                path,
                format!(
                    "corrupt recorded config: `{key}` is missing (a recorded config lists every key)"
                ),
            )),
            None => Ok(config),
        }
    }

    /// Builds a config from a parsed table. `origin` names it in errors; relative env paths are
    /// looked up beside `dir` first. A Gymnasium env's worker is asked for its spaces afresh.
    pub fn from_table(
        table: toml::Table,
        origin: &str,
        dir: Option<&Path>,
        default_name: Option<String>,
        sets: &[String],
    ) -> Result<Config> {
        Config::build(table, origin, dir, default_name, sets, false)
    }

    /// [`Config::from_table`]; a `recorded` config's Gymnasium env keeps what its worker
    /// reported when the run began, so reading it back starts no worker.
    fn build(
        mut table: toml::Table,
        origin: &str,
        dir: Option<&Path>,
        default_name: Option<String>,
        sets: &[String],
        recorded: bool,
    ) -> Result<Config> {
        let sets = sets
            .iter()
            .map(|s| Override::parse(s))
            .collect::<Result<Vec<_>>>()?;
        let (env_sets, top_sets): (Vec<_>, Vec<_>) = sets
            .into_iter()
            .partition(|o| o.path.len() > 1 && o.path[0] == "env");
        let schema = schema();
        for o in &top_sets {
            if !o.is_known(&schema) {
                return Err(unknown_key(o));
            }
            o.apply(&mut table)?;
        }
        let origin_of = |key: &str, file: &str| -> String {
            match top_sets.iter().find(|o| covers(&o.key(), key)) {
                Some(o) => format!("--set {}", o.text),
                None => file.to_string(),
            }
        };

        // The environment: a built-in name, a path, or an inline table.
        let env_value = table.remove("env").unwrap_or_else(|| "pendulum".into());
        let (env_table, env_origin, env_prefix) = match env_value {
            toml::Value::String(name) => {
                let (t, o) = env_source(&name, dir).map_err(|e| match e {
                    Error::Argument { arg, message } => config_error(
                        origin_of("env", origin),
                        "env",
                        format!("\"{arg}\": {message}"),
                    ),
                    other => other,
                })?;
                (t, o, "")
            }
            toml::Value::Table(t) => (t, origin.to_string(), "env."),
            other => {
                return Err(config_error(
                    origin_of("env", origin),
                    "env",
                    format!(
                        "{} is neither an env name, a path, nor a table",
                        crate::check::shown(&other)
                    ),
                ));
            }
        };
        let env = build_env(env_table, &env_origin, env_prefix, &env_sets, recorded)?;

        let spec: ConfigSpec = serde_path_to_error::deserialize(table).map_err(|e| {
            let key = e.path().to_string();
            let message = crate::check::readable(e.into_inner().message());
            config_error(origin_of(&key, origin), &key, message)
        })?;
        let located = |section: &'static str| {
            move |e: Invalid| {
                let e = e.under(section);
                config_error(origin_of(&e.key, origin), &e.key, e.message)
            }
        };
        let objective = spec.objective.validate().map_err(located("objective"))?;
        let train = spec.train.clone().validate().map_err(located("train"))?;
        let agent = spec.agent.validate().map_err(located("agent"))?;
        let solver = match &env {
            World::Model(model) => spec
                .solver
                .clone()
                .validate(model)
                .map_err(located("solver"))?,
            World::Gymnasium(_) => spec.solver.clone(),
        };
        let seed = spec.seed;
        let name = match (spec.name.as_str(), default_name) {
            ("", Some(n)) => n,
            ("", None) => "run".to_string(),
            (n, _) => n.to_string(),
        };
        if name.contains(['/', '\\']) || name.starts_with('.') {
            return Err(config_error(
                origin_of("name", origin),
                "name",
                format!("\"{name}\" cannot name a run directory"),
            ));
        }

        if matches!(agent.algorithm, Algorithm::Sql(_)) && objective.temperature.fixed().is_none() {
            return Err(config_error(
                origin_of("objective.alpha", origin),
                "objective.alpha",
                "soft Q-learning has no learned temperature (agent.algorithm = \"sql\"): give a number",
            ));
        }
        let mut resolved = ConfigSpec {
            name: name.clone(),
            env: toml::Value::Table(env.to_table()),
            solver: solver.clone(),
            agent: agent.resolved(),
            ..spec
        };
        resolved.objective.alpha = match objective.temperature.fixed() {
            Some(a) => toml::Value::Float(a),
            None => "auto".into(),
        };
        let resolved = toml::Table::try_from(&resolved).expect("a config is plain data");
        Ok(Config {
            origin: origin.to_string(),
            name,
            seed,
            env,
            objective,
            train,
            agent,
            solver,
            resolved,
            overrides: top_sets.iter().map(|o| (o.key(), o.text.clone())).collect(),
        })
    }

    /// The fully resolved config, env included: re-reading it gives the same config.
    pub fn to_toml(&self) -> String {
        toml::to_string(&self.resolved).expect("a config is plain data")
    }

    /// The resolved config as a table.
    pub fn resolved(&self) -> &toml::Table {
        &self.resolved
    }

    /// An error about one of this config's keys, naming the `--set` that gave it if one did.
    pub fn error(&self, key: &str, message: impl Into<String>) -> Error {
        let origin = match self.overrides.iter().find(|(k, _)| covers(k, key)) {
            Some((_, text)) => format!("--set {text}"),
            None => self.origin.clone(),
        };
        config_error(origin, key, message)
    }

    /// Refuses work that would need more memory than this machine has available (an absurd
    /// `key`, say, rather than an allocation failure or the OOM killer later on). `bytes` is
    /// an estimate of the peak; `what` says what needs it.
    pub fn check_memory(&self, key: &str, what: &str, bytes: f64) -> Result<()> {
        use crate::io::GIB;
        match crate::io::available_memory() {
            Some(free) if bytes > free as f64 => Err(self.error(
                key,
                format!(
                    "{what} would need about {:.1} GiB of memory, more than the {:.1} GiB available",
                    bytes / GIB,
                    free as f64 / GIB
                ),
            )),
            _ => Ok(()),
        }
    }
}

/// Reads an environment on its own: a built-in name or a path to an env file, with
/// `--set env.KEY=VALUE` overrides (other keys are refused).
pub fn load_env(name_or_path: &str, sets: &[String]) -> Result<World> {
    let sets = sets
        .iter()
        .map(|s| Override::parse(s))
        .collect::<Result<Vec<_>>>()?;
    if let Some(o) = sets.iter().find(|o| o.path.len() < 2 || o.path[0] != "env") {
        return Err(Error::argument(
            format!("--set {}", o.text),
            "only env.KEY=VALUE overrides apply here",
        ));
    }
    let (table, origin) = env_source(name_or_path, None)?;
    build_env(table, &origin, "", &sets, false)
}

/// The table and the origin (for error messages) of an env given by name or path.
fn env_source(name_or_path: &str, dir: Option<&Path>) -> Result<(toml::Table, String)> {
    if let Some(id) = name_or_path.strip_prefix("gymnasium:") {
        let mut table = toml::Table::new();
        table.insert("kind".into(), "gymnasium".into());
        table.insert("id".into(), id.into());
        return Ok((table, format!("env \"{name_or_path}\"")));
    }
    if let Some(text) = env::builtin(name_or_path) {
        let table = toml::from_str(text).expect("built-in env files parse");
        return Ok((table, format!("built-in env \"{name_or_path}\"")));
    }
    let looks_like_path = name_or_path.contains(['/', '\\', '.']);
    let candidates: Vec<PathBuf> = dir
        .map(|d| d.join(name_or_path))
        .into_iter()
        .chain([PathBuf::from(name_or_path)])
        .collect();
    match candidates.iter().find(|p| p.is_file()) {
        Some(path) => {
            let table = parse_toml(&read(path)?, path)?;
            Ok((table, path.display().to_string()))
        }
        None if looks_like_path => Err(Error::input(name_or_path, "no such env file")),
        None => {
            let names: Vec<&str> = env::BUILTIN.iter().map(|(n, _)| *n).collect();
            Err(Error::argument(
                name_or_path,
                format!(
                    "unknown env: not a built-in ({}) nor a file",
                    names.join(", ")
                ),
            ))
        }
    }
}

/// Applies `env.*` overrides to an env table and validates it. `prefix` is how the env's keys
/// read in `origin` (`env.` when the env is inline in a config). Unless the table is `recorded`,
/// a Gymnasium env's `reported` table is dropped: its worker reports afresh.
fn build_env(
    mut table: toml::Table,
    origin: &str,
    prefix: &str,
    sets: &[Override],
    recorded: bool,
) -> Result<World> {
    let rel = |o: &Override| Override {
        path: o.path[1..].to_vec(),
        ..o.clone()
    };
    if let Some(kind) = sets.iter().find(|o| o.path == ["env", "kind"]) {
        rel(kind).apply(&mut table)?;
    }
    let kind_schema = env_schema(&table);
    let gymnasium = table.get("kind").and_then(toml::Value::as_str) == Some("gymnasium");
    for o in sets {
        let r = rel(o);
        let free = gymnasium && r.path.len() > 1 && r.path[0] == "kwargs";
        if let Some(schema) = &kind_schema
            && !free
            && !r.is_known(schema)
        {
            return Err(unknown_key(o));
        }
        r.apply(&mut table)?;
    }
    if gymnasium && !recorded {
        table.remove("reported");
    }
    World::from_table(&table).map_err(|e| {
        match sets.iter().find(|o| covers(&o.path[1..].join("."), &e.key)) {
            Some(o) => config_error(
                format!("--set {}", o.text),
                &format!("env.{}", e.key),
                e.message,
            ),
            None => {
                let key = if e.key.is_empty() {
                    prefix.trim_end_matches('.').to_string()
                } else {
                    format!("{prefix}{}", e.key)
                };
                config_error(origin.to_string(), &key, e.message)
            }
        }
    })
}

/// Every key a config may have, at its default.
fn schema() -> toml::Table {
    let every_key = ConfigSpec {
        agent: AgentSpec::schema(),
        ..ConfigSpec::default()
    };
    toml::Table::try_from(every_key).expect("a config is plain data")
}

/// Every key an env table of this table's kind may have (None for an unknown kind, which
/// validation reports).
fn env_schema(table: &toml::Table) -> Option<toml::Table> {
    let body = match table.get("kind")?.as_str()? {
        "pendulum" => toml::Table::try_from(PendulumSpec::default()),
        "point_mass" => toml::Table::try_from(PointMassSpec::default()),
        "gymnasium" => return Some(env::gymnasium::schema()),
        _ => return None,
    };
    let mut schema = body.expect("an env spec is plain data");
    schema.insert("kind".into(), "".into());
    Some(schema)
}

/// A recorded config without `agent.algorithm` is one of SAC, the default learner: the key is
/// filled in, so that such a run dir reads back complete.
pub fn with_default_learner(mut table: toml::Table) -> toml::Table {
    if let Some(toml::Value::Table(agent)) = table.get_mut("agent")
        && !agent.contains_key("algorithm")
    {
        agent.insert("algorithm".into(), "sac".into());
    }
    table
}

/// Whether the value at key `set` contains the key `key` (`a.b` covers `a.b`, `a.b.c`, `a.b[0]`).
fn covers(set: &str, key: &str) -> bool {
    key.strip_prefix(set)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
}

fn unknown_key(o: &Override) -> Error {
    Error::argument(
        format!("--set {}", o.text),
        format!("unknown key \"{}\"", o.key()),
    )
}

/// Keys that runs and solutions recorded before the key existed lack, with the value that
/// stands for what those runs did.
fn added_keys() -> [(&'static str, toml::Value); 2] {
    [
        ("agent.anchored_particles", toml::Value::Integer(0)),
        ("agent.sampler_ema", toml::Value::Float(0.0)),
    ]
}

/// `table` (a recorded config) with each of [`added_keys`] that `resolved` has and it lacks
/// filled in with its value.
pub fn with_added_keys(mut table: toml::Table, resolved: &toml::Table) -> toml::Table {
    for (path, value) in added_keys() {
        let (section, key) = path.split_once('.').expect("a section's key");
        let applies = resolved
            .get(section)
            .and_then(toml::Value::as_table)
            .is_some_and(|t| t.contains_key(key));
        if let Some(toml::Value::Table(t)) = table.get_mut(section)
            && applies
            && !t.contains_key(key)
        {
            t.insert(key.into(), value);
        }
    }
    table
}

/// The first key path of `full` that `part` lacks, tables compared key by key.
fn first_missing(full: &toml::Table, part: &toml::Table) -> Option<String> {
    full.iter()
        .find_map(|(key, value)| match (value, part.get(key)) {
            (_, None) => Some(key.clone()),
            (toml::Value::Table(f), Some(toml::Value::Table(p))) => {
                first_missing(f, p).map(|k| format!("{key}.{k}"))
            }
            _ => None,
        })
}

fn config_error(origin: String, key: &str, message: impl Into<String>) -> Error {
    Error::Config {
        origin,
        key: if key.is_empty() || key == "." {
            "(top level)".into()
        } else {
            key.to_string()
        },
        message: message.into(),
    }
}

/// Reads a text file, naming it when that fails.
pub fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| {
        let message = match e.kind() {
            std::io::ErrorKind::NotFound => "no such file".to_string(),
            _ => e.to_string(),
        };
        Error::input(path, message)
    })
}

/// Parses TOML text, turning a syntax error into one line with its position.
pub fn parse_toml(text: &str, path: &Path) -> Result<toml::Table> {
    toml::from_str(text).map_err(|e: toml::de::Error| {
        let at = e.span().map_or(0, |s| s.start);
        let before = &text[..at.min(text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
        Error::Syntax {
            path: path.display().to_string(),
            line,
            column,
            message: e.message().trim().replace('\n', "; "),
        }
    })
}
