//! Checkpoints (DESIGN §5): `model.safetensors` (every network under PyTorch-style names, f32),
//! `optimizer.safetensors` (Adam's moments), `config.toml` (resolved), `state.json` (counters, the
//! RNG, the episode in progress) and, with `train.save_replay`, `replay.safetensors`. Written to a
//! temporary directory and renamed, so a crash never leaves half a checkpoint.
//!
//! Tensor names in `model.safetensors`: `actor.trunk.{i}.weight|bias` (the hidden layers, ReLU
//! after each), `actor.mean.*`, `actor.log_std.*` (log σ = −1.5 + 3.5·tanh(raw)), `critic.{0,1}.{i}.*`,
//! `critic_target.{0,1}.{i}.*` (input `[obs, action on [-1, 1]]`), and `log_alpha` (a scalar).

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor, Var};
use safetensors::{Dtype, SafeTensors, tensor::TensorView};
use serde::{Deserialize, Serialize};

use super::agent::Sac;
use super::nets::{Actor, Params};
use super::replay::Replay;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::io::{write_dir_atomically, write_file};
use crate::rng::Rng;

pub const FORMAT: &str = "maxent-sac-1";

/// Sums of the losses since the last episode row, for its averages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LossSums {
    pub count: u64,
    pub critic: f64,
    pub actor: f64,
    pub alpha: f64,
    pub entropy: f64,
}

/// Everything besides tensors that a resumed run needs to continue exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// Environment steps taken.
    pub step: u64,
    pub episodes: u64,
    pub updates: u64,
    pub rng: Rng,
    /// The episode in progress: true state, its step count, return and length so far.
    pub sim_state: Vec<f64>,
    pub sim_steps: usize,
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

fn f32_bytes(t: &Tensor) -> Result<Vec<u8>> {
    Ok(t.flatten_all()?
        .to_vec1::<f32>()?
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect())
}

fn serialize(
    tensors: &[(String, Vec<usize>, Vec<u8>)],
    metadata: HashMap<String, String>,
) -> Vec<u8> {
    let views = tensors.iter().map(|(n, shape, data)| {
        (
            n.as_str(),
            TensorView::new(Dtype::F32, shape.clone(), data).expect("shape matches data"),
        )
    });
    safetensors::serialize(views, Some(metadata)).expect("well-formed tensors serialize")
}

/// Reads an f32 safetensors file into `name → (shape, values)`, with its metadata.
pub fn read_f32(
    path: &Path,
) -> Result<(
    HashMap<String, (Vec<usize>, Vec<f32>)>,
    HashMap<String, String>,
)> {
    let bytes = std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            Error::input(path, "no such file: not a checkpoint directory")
        }
        _ => Error::input(path, e.to_string()),
    })?;
    let corrupt = |why: String| Error::input(path, format!("corrupt checkpoint file: {why}"));
    let (_, meta) = SafeTensors::read_metadata(&bytes).map_err(|e| corrupt(e.to_string()))?;
    let metadata = meta.metadata().clone().unwrap_or_default();
    let tensors = SafeTensors::deserialize(&bytes).map_err(|e| corrupt(e.to_string()))?;
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

/// Fills `vars` (name → variable) from `stored`, refusing missing names, wrong shapes and
/// non-finite values. Names in `stored` that `vars` lacks are ignored only if `partial`.
fn fill(
    vars: &[(String, Var)],
    stored: &HashMap<String, (Vec<usize>, Vec<f32>)>,
    path: &Path,
) -> Result<()> {
    for (name, var) in vars {
        let (shape, values) = stored.get(name).ok_or_else(|| {
            Error::input(
                path,
                format!("tensor {name} is missing (a checkpoint of another network?)"),
            )
        })?;
        if shape.as_slice() != var.as_tensor().dims() {
            return Err(Error::input(
                path,
                format!(
                    "tensor {name} has shape {shape:?}, the config's network needs {:?}",
                    var.as_tensor().dims()
                ),
            ));
        }
        if values.iter().any(|v| !v.is_finite()) {
            return Err(Error::input(
                path,
                format!("tensor {name} holds non-finite values"),
            ));
        }
        var.set(&Tensor::from_vec(
            values.clone(),
            shape.as_slice(),
            &Device::Cpu,
        )?)?;
    }
    Ok(())
}

fn model_metadata(config: &Config) -> HashMap<String, String> {
    let env = &config.env;
    let bounds = env.action_bounds();
    HashMap::from([
        ("format".into(), FORMAT.into()),
        ("obs_dim".into(), env.obs_dim().to_string()),
        ("act_dim".into(), env.action_dim().to_string()),
        ("hidden".into(), format!("{:?}", config.agent.hidden)),
        (
            "action_low".into(),
            format!("{:?}", bounds.iter().map(|b| b.lo).collect::<Vec<_>>()),
        ),
        (
            "action_high".into(),
            format!("{:?}", bounds.iter().map(|b| b.hi).collect::<Vec<_>>()),
        ),
        ("log_std_min".into(), super::nets::LOG_STD_MIN.to_string()),
        ("log_std_max".into(), super::nets::LOG_STD_MAX.to_string()),
    ])
}

/// Writes a checkpoint directory atomically.
pub fn save(
    dir: &Path,
    config: &Config,
    sac: &Sac,
    state: &TrainState,
    replay: Option<&Replay>,
) -> Result<()> {
    let model = sac
        .params
        .vars
        .iter()
        .map(|(n, v)| {
            Ok((
                n.clone(),
                v.as_tensor().dims().to_vec(),
                f32_bytes(v.as_tensor())?,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut opt = Vec::new();
    let mut meta = HashMap::from([("format".to_string(), FORMAT.to_string())]);
    let opts = [
        ("actor", Some(&sac.actor_opt)),
        ("critic", Some(&sac.critic_opt)),
        ("alpha", sac.alpha_opt.as_ref()),
    ];
    for (which, adam) in opts {
        let Some(adam) = adam else { continue };
        meta.insert(format!("{which}.t"), adam.t.to_string());
        for (name, _, m, v) in &adam.slots {
            opt.push((
                format!("{which}.m.{name}"),
                m.dims().to_vec(),
                f32_bytes(m)?,
            ));
            opt.push((
                format!("{which}.v.{name}"),
                v.dims().to_vec(),
                f32_bytes(v)?,
            ));
        }
    }
    let model_bytes = serialize(&model, model_metadata(config));
    let opt_bytes = serialize(&opt, meta);
    let replay_bytes = replay.map(|r| {
        let cols: Vec<(String, Vec<usize>, Vec<u8>)> = r
            .columns()
            .iter()
            .map(|(n, data, w)| {
                (
                    n.to_string(),
                    vec![r.len, *w],
                    data.iter().flat_map(|v| v.to_le_bytes()).collect(),
                )
            })
            .collect();
        let meta = HashMap::from([
            ("format".into(), FORMAT.into()),
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
    Config::load(&dir.join("config.toml"), &[])
}

/// Reads a whole checkpoint back: config, agent (optimizers included), training state, and the
/// replay buffer if it was saved.
pub fn load(dir: &Path) -> Result<(Config, Sac, TrainState, Option<Replay>)> {
    let config = load_config(dir)?;
    let mut sac = Sac::new(&config, &mut crate::rng::seeded(0))?; // shapes only; values follow
    let model_path = dir.join("model.safetensors");
    let (model, _) = read_f32(&model_path)?;
    let vars: Vec<(String, Var)> = sac
        .params
        .vars
        .iter()
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect();
    fill(&vars, &model, &model_path)?;

    let opt_path = dir.join("optimizer.safetensors");
    let (opt, meta) = read_f32(&opt_path)?;
    let opts = [
        ("actor", Some(&mut sac.actor_opt)),
        ("critic", Some(&mut sac.critic_opt)),
        ("alpha", sac.alpha_opt.as_mut()),
    ];
    for (which, adam) in opts {
        let Some(adam) = adam else { continue };
        adam.t = meta
            .get(&format!("{which}.t"))
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| {
                Error::input(
                    &opt_path,
                    format!("corrupt checkpoint file: no step count for the {which} optimizer"),
                )
            })?;
        for (name, _, m, v) in &mut adam.slots {
            for (kind, slot) in [("m", m), ("v", v)] {
                let key = format!("{which}.{kind}.{name}");
                let var = Var::from_tensor(slot)?;
                fill(&[(key, var.clone())], &opt, &opt_path)?;
                *slot = var.as_tensor().clone();
            }
        }
    }

    let state_path = dir.join("state.json");
    let text = crate::config::read(&state_path)?;
    let state: TrainState = serde_json::from_str(&text)
        .map_err(|e| Error::input(&state_path, format!("corrupt checkpoint file: {e}")))?;

    let replay_path = dir.join("replay.safetensors");
    let replay = if replay_path.is_file() {
        let (cols, meta) = read_f32(&replay_path)?;
        let env = &config.env;
        let mut r = Replay::new(config.train.buffer_size, env.obs_dim(), env.action_dim());
        let bad = |why: &str| Error::input(&replay_path, format!("corrupt checkpoint file: {why}"));
        r.pos = meta
            .get("pos")
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| bad("no ring position"))?;
        let len = cols
            .get("reward")
            .map(|c| c.1.len())
            .ok_or_else(|| bad("no reward column"))?;
        if len > r.capacity || r.pos >= r.capacity.max(1) {
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
        Some(r)
    } else {
        None
    };
    Ok((config, sac, state, replay))
}

/// Only the actor of a checkpoint (what `eval` needs), with its config.
pub fn load_actor(dir: &Path) -> Result<(Config, Actor)> {
    let config = load_config(dir)?;
    let env = &config.env;
    let log_scale: f64 = env
        .action_bounds()
        .iter()
        .map(|b| (b.width() / 2.0).ln())
        .sum();
    let mut params = Params::default();
    let actor = Actor::new(
        &mut params,
        &mut crate::rng::seeded(0),
        env.obs_dim(),
        env.action_dim(),
        &config.agent.hidden,
        log_scale,
    )?;
    let path = dir.join("model.safetensors");
    let (model, _) = read_f32(&path)?;
    let vars: Vec<(String, Var)> = params.vars.into_iter().collect();
    fill(&vars, &model, &path)?;
    Ok((config, actor))
}
