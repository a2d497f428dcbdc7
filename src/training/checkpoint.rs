//! Checkpoints (DESIGN §5), the same format for every learner: `model.safetensors` (the
//! learner's networks under its tensor names, f32, with the env's dimensions and action box in
//! the metadata), `optimizer.safetensors` (its optimizers' state), `config.toml` (resolved),
//! `state.json` (counters, the RNG, the episode in progress) and, with `train.save_replay`,
//! `replay.safetensors`. Written to a temporary directory and renamed, so a crash never leaves
//! half a checkpoint. Reading builds nothing: the caller builds the learner for the recorded
//! config and the files fill it, only the parts asked for.

use std::collections::HashMap;
use std::path::Path;

use safetensors::Dtype;
use serde::{Deserialize, Serialize};

use super::replay::Replay;
use super::{Learner, NamedTensor, Tensors};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::io::{write_dir_atomically, write_file};
use crate::rng::Rng;

/// The tag of replay files.
const REPLAY_FORMAT: &str = "maxent-replay-1";

/// Sums of the losses since the last episode row, for its averages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LossSums {
    pub count: u64,
    pub critic: f64,
    pub actor: f64,
    pub alpha: f64,
    /// `None` for a learner that reports no entropy.
    pub entropy: Option<f64>,
}

/// Everything besides tensors that a resumed run needs to continue exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// Environment steps taken.
    pub step: u64,
    pub episodes: u64,
    pub updates: u64,
    pub rng: Rng,
    /// The episode in progress: true state (a model's), its step count, return and length so far.
    pub sim_state: Vec<f64>,
    pub sim_steps: usize,
    /// For a Gymnasium env (whose state cannot be saved): the seed its episode began with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub episode_seed: Option<u64>,
    pub episode_return: f64,
    pub episode_length: u64,
    pub losses: LossSums,
    /// α at this step (the learned one when `alpha = "auto"`).
    pub alpha: f64,
    /// Wall time spent before this checkpoint (across resumes).
    pub wall_seconds: f64,
    /// The latest evaluation's mean return, if any.
    pub last_eval_return: Option<f64>,
}

fn serialize(tensors: &[NamedTensor], metadata: HashMap<String, String>) -> Vec<u8> {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let views = tensors
        .iter()
        .zip(&bytes)
        .map(|((n, shape, _), data)| (n.as_str(), Dtype::F32, shape.clone(), &data[..]));
    crate::io::safetensors_bytes(views, metadata)
}

/// Reads an f32 safetensors file into its tensors, with its metadata; with `format`, refuses a
/// file whose `format` tag differs.
pub fn read_f32(path: &Path, format: Option<&str>) -> Result<(Tensors, HashMap<String, String>)> {
    let bytes = std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            Error::input(path, "no such file: not a checkpoint directory")
        }
        _ => Error::input(path, e.to_string()),
    })?;
    let corrupt = |why: String| Error::input(path, format!("corrupt checkpoint file: {why}"));
    let (tensors, metadata) = crate::io::read_safetensors(&bytes).map_err(corrupt)?;
    if let Some(f) = format
        && metadata.get("format").is_some_and(|g| g != f)
    {
        return Err(Error::input(
            path,
            format!(
                "written by another learner ({}, this config's learner reads {f})",
                metadata["format"]
            ),
        ));
    }
    let mut out = HashMap::new();
    for (name, view) in tensors.tensors() {
        if view.dtype() != Dtype::F32 {
            return Err(corrupt(format!(
                "{name} is {:?}, expected F32",
                view.dtype()
            )));
        }
        let values: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
            .collect();
        out.insert(name, (view.shape().to_vec(), values));
    }
    Ok((out, metadata))
}

/// The values of stored tensor `key`, which must have the shape `dims` (a learner's own) and be
/// finite; `path` names the file in the error.
pub fn stored_values<'a>(
    stored: &'a Tensors,
    key: &str,
    dims: &[usize],
    path: &Path,
) -> Result<&'a [f32]> {
    let (shape, values) = stored.get(key).ok_or_else(|| {
        Error::input(
            path,
            format!("tensor {key} is missing (a checkpoint of another network?)"),
        )
    })?;
    if shape.as_slice() != dims {
        return Err(Error::input(
            path,
            format!("tensor {key} has shape {shape:?}, the config's network needs {dims:?}"),
        ));
    }
    if values.iter().any(|v| !v.is_finite()) {
        return Err(Error::input(
            path,
            format!("tensor {key} holds non-finite values"),
        ));
    }
    Ok(values)
}

/// The step count of optimizer `which` (`{which}.t` in an optimizer file's metadata).
pub fn step_count(metadata: &HashMap<String, String>, which: &str, path: &Path) -> Result<u64> {
    metadata
        .get(&format!("{which}.t"))
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| {
            Error::input(
                path,
                format!("corrupt checkpoint file: no step count for the {which} optimizer"),
            )
        })
}

fn env_metadata(config: &Config) -> HashMap<String, String> {
    let env = &config.env;
    let bounds = env.action_bounds();
    HashMap::from([
        ("obs_dim".into(), env.obs_dim().to_string()),
        ("act_dim".into(), env.action_dim().to_string()),
        (
            "action_low".into(),
            format!("{:?}", bounds.iter().map(|b| b.lo).collect::<Vec<_>>()),
        ),
        (
            "action_high".into(),
            format!("{:?}", bounds.iter().map(|b| b.hi).collect::<Vec<_>>()),
        ),
    ])
}

/// Writes a checkpoint directory atomically.
pub fn save(
    dir: &Path,
    config: &Config,
    learner: &dyn Learner,
    state: &TrainState,
    replay: Option<&Replay>,
) -> Result<()> {
    let (model, mut model_meta) = learner.model_tensors();
    model_meta.extend(env_metadata(config));
    let model_bytes = serialize(&model, model_meta);
    let (opt, opt_meta) = learner.optimizer_tensors();
    let opt_bytes = serialize(&opt, opt_meta);
    let replay_bytes = replay.map(|r| {
        let cols: Vec<NamedTensor> = r
            .columns()
            .iter()
            .map(|(n, data, w)| (n.to_string(), vec![r.len, *w], data.to_vec()))
            .collect();
        let meta = HashMap::from([
            ("format".into(), REPLAY_FORMAT.into()),
            ("pos".into(), r.pos.to_string()),
            ("capacity".into(), r.capacity.to_string()),
        ]);
        serialize(&cols, meta)
    });
    let state_json = serde_json::to_string_pretty(state).expect("plain data") + "\n";
    write_dir_atomically(dir, |tmp| {
        write_file(&tmp.join("model.safetensors"), &model_bytes)?;
        write_file(&tmp.join("optimizer.safetensors"), &opt_bytes)?;
        write_file(&tmp.join("config.toml"), config.to_toml())?;
        write_file(&tmp.join("state.json"), &state_json)?;
        if let Some(bytes) = &replay_bytes {
            write_file(&tmp.join("replay.safetensors"), bytes)?;
        }
        Ok(())
    })
}

/// The config a checkpoint was trained with.
pub fn load_config(dir: &Path) -> Result<Config> {
    if !dir.is_dir() {
        return Err(Error::input(dir, "no such checkpoint directory"));
    }
    Config::load_recorded(&dir.join("config.toml"))
}

/// Fills `learner` (built for the checkpoint's config) with its model: everything, or with
/// `policy_only` what acting needs. Reads `model.safetensors` only.
pub fn load_model(dir: &Path, learner: &mut dyn Learner, policy_only: bool) -> Result<()> {
    let path = dir.join("model.safetensors");
    let (model, _) = read_f32(&path, Some(learner.format()))?;
    learner.load_model(&model, &path, policy_only)
}

/// Fills `learner` with its whole training state (model and optimizers) and returns the
/// training state, and the replay buffer if it was saved.
pub fn load_training(
    dir: &Path,
    config: &Config,
    learner: &mut dyn Learner,
) -> Result<(TrainState, Option<Replay>)> {
    load_model(dir, learner, false)?;
    let opt_path = dir.join("optimizer.safetensors");
    let (opt, meta) = read_f32(&opt_path, Some(learner.format()))?;
    learner.load_optimizer(&opt, &meta, &opt_path)?;

    let state_path = dir.join("state.json");
    let text = crate::config::read(&state_path)?;
    let state: TrainState = serde_json::from_str(&text)
        .map_err(|e| Error::input(&state_path, format!("corrupt checkpoint file: {e}")))?;

    let replay_path = dir.join("replay.safetensors");
    let replay = if replay_path.is_file() {
        Some(load_replay(&replay_path, config)?)
    } else {
        None
    };
    Ok((state, replay))
}

fn load_replay(path: &Path, config: &Config) -> Result<Replay> {
    let (cols, meta) = read_f32(path, None)?;
    let env = &config.env;
    let mut r = Replay::new(config.train.buffer_size, env.obs_dim(), env.action_dim());
    let bad = |why: &str| Error::input(path, format!("corrupt checkpoint file: {why}"));
    r.pos = meta
        .get("pos")
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| bad("no ring position"))?;
    let len = cols
        .get("reward")
        .map(|c| c.1.len())
        .ok_or_else(|| bad("no reward column"))?;
    if len > r.capacity || r.pos >= r.capacity {
        return Err(bad("more transitions than train.buffer_size holds"));
    }
    r.len = len;
    let (od, ad) = (r.obs_dim, r.act_dim);
    for (name, dst, w) in [
        ("obs", &mut r.obs, od),
        ("action", &mut r.action, ad),
        ("reward", &mut r.reward, 1),
        ("next_obs", &mut r.next_obs, od),
        ("terminated", &mut r.terminated, 1),
        ("truncated", &mut r.truncated, 1),
    ] {
        let (_, data) = cols
            .get(name)
            .ok_or_else(|| bad(&format!("no {name} column")))?;
        if data.len() != len * w {
            return Err(bad(&format!(
                "{name} has {} values, expected {}",
                data.len(),
                len * w
            )));
        }
        dst[..len * w].copy_from_slice(data);
    }
    Ok(r)
}
