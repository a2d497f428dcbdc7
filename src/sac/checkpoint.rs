//! Checkpoints (DESIGN §5): `model.safetensors` (every network under PyTorch-style names, f32),
//! `optimizer.safetensors` (Adam's moments), `config.toml` (resolved), `state.json` (counters, the
//! RNG, the episode in progress) and, with `train.save_replay`, `replay.safetensors`. Written to a
//! temporary directory and renamed, so a crash never leaves half a checkpoint.
//!
//! Tensor names in `model.safetensors` (weights `[out, in]` as PyTorch's `nn.Linear`):
//! `actor.trunk.{i}.weight|bias` (the hidden layers, ReLU after each), `actor.mean.*`,
//! `actor.log_std.*` (log σ = −1.5 + 3.5·tanh(raw)), `critic.{0,1}.{i}.*` and
//! `critic_target.{0,1}.{i}.*` (input `[obs, action on [-1, 1]]`, ReLU between layers), and
//! `log_alpha` (a scalar). `optimizer.safetensors` holds `{actor,critic,alpha}.{m,v}.<name>`.

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;

use safetensors::Dtype;
use serde::{Deserialize, Serialize};

use super::agent::Sac;
use super::dense::Layout;
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

/// One named tensor of a flat buffer: name, range, shape, and the fan-in of its layer.
pub type Named = (String, Range<usize>, Vec<usize>, usize);

/// The actor's tensors in its flat buffer, in the order they are initialized: trunk layers, then
/// the stacked last layer split into the mean head and the log-σ head.
pub fn actor_tensors(layout: &Layout, ad: usize) -> Vec<Named> {
    let mut out = Vec::new();
    let last = layout.layers() - 1;
    for l in 0..layout.layers() {
        let (w, b) = layout.ranges(l);
        let (i, o) = (layout.sizes[l], layout.sizes[l + 1]);
        if l < last {
            out.push((format!("actor.trunk.{l}.weight"), w, vec![o, i], i));
            out.push((format!("actor.trunk.{l}.bias"), b, vec![o], i));
        } else {
            for (k, head) in ["mean", "log_std"].iter().enumerate() {
                out.push((
                    format!("actor.{head}.weight"),
                    w.start + k * ad * i..w.start + (k + 1) * ad * i,
                    vec![ad, i],
                    i,
                ));
                out.push((
                    format!("actor.{head}.bias"),
                    b.start + k * ad..b.start + (k + 1) * ad,
                    vec![ad],
                    i,
                ));
            }
        }
    }
    out
}

/// The two critics' tensors in their flat buffer (`prefix` = `critic` or `critic_target`).
pub fn critic_tensors(layout: &Layout, prefix: &str) -> Vec<Named> {
    let mut out = Vec::new();
    for j in 0..2 {
        let base = j * layout.len();
        for l in 0..layout.layers() {
            let (w, b) = layout.ranges(l);
            let (i, o) = (layout.sizes[l], layout.sizes[l + 1]);
            out.push((
                format!("{prefix}.{j}.{l}.weight"),
                base + w.start..base + w.end,
                vec![o, i],
                i,
            ));
            out.push((
                format!("{prefix}.{j}.{l}.bias"),
                base + b.start..base + b.end,
                vec![o],
                i,
            ));
        }
    }
    out
}

fn le_bytes(x: &[f32]) -> Vec<u8> {
    x.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn serialize(
    tensors: &[(String, Vec<usize>, Vec<u8>)],
    metadata: HashMap<String, String>,
) -> Vec<u8> {
    let views = tensors
        .iter()
        .map(|(n, shape, data)| (n.as_str(), Dtype::F32, shape.clone(), &data[..]));
    crate::io::safetensors_bytes(views, metadata)
}

/// Tensors by name: `(shape, values)`.
pub type Tensors = HashMap<String, (Vec<usize>, Vec<f32>)>;

/// Reads an f32 safetensors file into its tensors, with its metadata.
pub fn read_f32(path: &Path) -> Result<(Tensors, HashMap<String, String>)> {
    let bytes = std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            Error::input(path, "no such file: not a checkpoint directory")
        }
        _ => Error::input(path, e.to_string()),
    })?;
    let corrupt = |why: String| Error::input(path, format!("corrupt checkpoint file: {why}"));
    let (tensors, metadata) = crate::io::read_safetensors(&bytes).map_err(corrupt)?;
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

/// Fills the named parts of `flat` from `stored` (under `prefix` + name), refusing missing
/// names, wrong shapes and non-finite values.
fn fill(
    flat: &mut [f32],
    names: &[Named],
    prefix: &str,
    stored: &HashMap<String, (Vec<usize>, Vec<f32>)>,
    path: &Path,
) -> Result<()> {
    for (name, range, shape, _) in names {
        let key = format!("{prefix}{name}");
        let (s, values) = stored.get(&key).ok_or_else(|| {
            Error::input(
                path,
                format!("tensor {key} is missing (a checkpoint of another network?)"),
            )
        })?;
        if s != shape {
            return Err(Error::input(
                path,
                format!("tensor {key} has shape {s:?}, the config's network needs {shape:?}"),
            ));
        }
        if values.iter().any(|v| !v.is_finite()) {
            return Err(Error::input(
                path,
                format!("tensor {key} holds non-finite values"),
            ));
        }
        flat[range.clone()].copy_from_slice(values);
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

/// The agent's parameter buffers with their tensor names: `(buffer, names)`.
fn parts(sac: &Sac) -> [(&[f32], Vec<Named>); 3] {
    [
        (&sac.actor, actor_tensors(&sac.actor_layout, sac.act_dim)),
        (&sac.critic, critic_tensors(&sac.critic_layout, "critic")),
        (
            &sac.target,
            critic_tensors(&sac.critic_layout, "critic_target"),
        ),
    ]
}

/// Every model tensor of the agent, by name: `(name, shape, values)`.
pub fn model_tensors(sac: &Sac) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let mut out: Vec<_> = parts(sac)
        .into_iter()
        .flat_map(|(flat, names)| {
            names
                .into_iter()
                .map(move |(n, r, shape, _)| (n, shape, flat[r].to_vec()))
        })
        .collect();
    out.push(("log_alpha".into(), vec![], vec![sac.log_alpha]));
    out
}

/// Writes a checkpoint directory atomically.
pub fn save(
    dir: &Path,
    config: &Config,
    sac: &Sac,
    state: &TrainState,
    replay: Option<&Replay>,
) -> Result<()> {
    let model: Vec<_> = model_tensors(sac)
        .into_iter()
        .map(|(n, s, v)| (n, s, le_bytes(&v)))
        .collect();
    let mut opt = Vec::new();
    let mut meta = HashMap::from([("format".to_string(), FORMAT.to_string())]);
    let [(_, actor_names), (_, critic_names), _] = parts(sac);
    let alpha_names: Vec<Named> = vec![("log_alpha".into(), 0..1, vec![], 1)];
    let opts = [
        ("actor", Some(&sac.actor_opt), &actor_names),
        ("critic", Some(&sac.critic_opt), &critic_names),
        ("alpha", sac.alpha_opt.as_ref(), &alpha_names),
    ];
    for (which, adam, names) in opts {
        let Some(adam) = adam else { continue };
        meta.insert(format!("{which}.t"), adam.t.to_string());
        for (name, range, shape, _) in names {
            opt.push((
                format!("{which}.m.{name}"),
                shape.clone(),
                le_bytes(&adam.m[range.clone()]),
            ));
            opt.push((
                format!("{which}.v.{name}"),
                shape.clone(),
                le_bytes(&adam.v[range.clone()]),
            ));
        }
    }
    let model_bytes = serialize(&model, model_metadata(config));
    let opt_bytes = serialize(&opt, meta);
    let replay_bytes = replay.map(|r| {
        let cols: Vec<(String, Vec<usize>, Vec<u8>)> = r
            .columns()
            .iter()
            .map(|(n, data, w)| (n.to_string(), vec![r.len, *w], le_bytes(data)))
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
    Config::load_recorded(&dir.join("config.toml"))
}

/// The agent of a checkpoint's model file (networks and α; optimizers fresh).
fn load_model(dir: &Path, config: &Config, actor_only: bool) -> Result<Sac> {
    let (params, _) = Sac::training_bytes(config);
    config.check_memory("agent.hidden", "the networks", params)?;
    let mut sac = Sac::new(config, &mut crate::rng::seeded(0)); // shapes only; values follow
    let path = dir.join("model.safetensors");
    let (model, _) = read_f32(&path)?;
    let names = actor_tensors(&sac.actor_layout, sac.act_dim);
    fill(&mut sac.actor, &names, "", &model, &path)?;
    if !actor_only {
        let names = critic_tensors(&sac.critic_layout, "critic");
        fill(&mut sac.critic, &names, "", &model, &path)?;
        let names = critic_tensors(&sac.critic_layout, "critic_target");
        fill(&mut sac.target, &names, "", &model, &path)?;
    }
    let mut la = [0.0f32];
    fill(
        &mut la,
        &[("log_alpha".into(), 0..1, vec![], 1)],
        "",
        &model,
        &path,
    )?;
    sac.log_alpha = la[0];
    Ok(sac)
}

/// Reads a whole checkpoint back: config, agent (optimizers included), training state, and the
/// replay buffer if it was saved.
pub fn load(dir: &Path) -> Result<(Config, Sac, TrainState, Option<Replay>)> {
    let config = load_config(dir)?;
    let mut sac = load_model(dir, &config, false)?;
    let opt_path = dir.join("optimizer.safetensors");
    let (opt, meta) = read_f32(&opt_path)?;
    let actor_names = actor_tensors(&sac.actor_layout, sac.act_dim);
    let critic_names = critic_tensors(&sac.critic_layout, "critic");
    let alpha_names: Vec<Named> = vec![("log_alpha".into(), 0..1, vec![], 1)];
    let opts = [
        ("actor", Some(&mut sac.actor_opt), &actor_names),
        ("critic", Some(&mut sac.critic_opt), &critic_names),
        ("alpha", sac.alpha_opt.as_mut(), &alpha_names),
    ];
    for (which, adam, names) in opts {
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
        fill(&mut adam.m, names, &format!("{which}.m."), &opt, &opt_path)?;
        fill(&mut adam.v, names, &format!("{which}.v."), &opt, &opt_path)?;
    }

    let state_path = dir.join("state.json");
    let text = crate::config::read(&state_path)?;
    let state: TrainState = serde_json::from_str(&text)
        .map_err(|e| Error::input(&state_path, format!("corrupt checkpoint file: {e}")))?;

    let replay_path = dir.join("replay.safetensors");
    let replay = if replay_path.is_file() {
        Some(load_replay(&replay_path, &config)?)
    } else {
        None
    };
    Ok((config, sac, state, replay))
}

fn load_replay(path: &Path, config: &Config) -> Result<Replay> {
    super::train::check_memory(config, 1)?;
    let (cols, meta) = read_f32(path)?;
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

/// The networks of a checkpoint without its optimizer state (what `query` needs).
pub fn load_actor_and_critics(dir: &Path) -> Result<(Config, Sac)> {
    let config = load_config(dir)?;
    let sac = load_model(dir, &config, false)?;
    Ok((config, sac))
}

/// Only the policy of a checkpoint (what `eval` needs), with its config.
pub fn load_actor(dir: &Path) -> Result<(Config, Sac)> {
    let config = load_config(dir)?;
    let sac = load_model(dir, &config, true)?;
    Ok((config, sac))
}
