//! Soft Q-learning (Haarnoja, Tang, Abbeel, Levine 2017, "Reinforcement Learning with Deep
//! Energy-Based Policies", arXiv:1702.08165, Algorithm 1; reference code `haarnoja/softqlearning`,
//! `softqlearning/algorithms/sql.py`) on candle: a soft Q network `Q_θ(s, a)` with a target copy,
//! and an amortized sampler of the Boltzmann policy `exp(Q_θ(s, ·)/α)`: `a = tanh(f_φ(s, ξ))`,
//! `ξ ~ N(0, I)`, trained by SVGD ([`svgd`]), or a denoising diffusion model trained by Q-weighted
//! noise estimation ([`diffusion`]). Networks are candle-nn `Linear` layers in one `VarMap`
//! (`qf.*`, `qf_target.*`, `sampler.*`), each layer run as one fused op of [`ops`] (product,
//! bias and activation, with a backward that computes only the gradients asked for); every
//! gradient is candle's autograd.
//!
//! Actions on the networks' side are on [-1, 1] per dimension, as in the replay buffer; the env
//! gets them scaled onto its box. Values are in env action units (DESIGN §1): the soft value's
//! importance sampling multiplies by the box's volume `|A|`.

pub mod adam;
pub mod diffusion;
pub mod nets;
pub mod ops;
pub mod svgd;
mod update;

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};
use candle_nn::VarMap;

use self::adam::Adam;
use self::diffusion::{EMBEDDING, Schedule};
use self::nets::Mlp;
use self::ops::{Activation, Grad};
use crate::config::{Algorithm, Config, Sampler, SqlKeys};
use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::training::memory::LearnerBytes;
use crate::training::{Batch, Learner, Losses, NamedTensor, Replay, Tensors, checkpoint, memory};

/// Runge–Kutta steps of the probability-flow ODE for a density (in log η, from t_min to t_max).
pub const ODE_STEPS: usize = 16;

/// The tag of SQL checkpoint files.
pub const FORMAT: &str = "maxent-sql-1";

/// The soft Q-learning agent.
pub struct Sql {
    pub obs_dim: usize,
    pub act_dim: usize,
    pub vars: VarMap,
    pub qf: Mlp,
    pub qf_target: Mlp,
    pub sampler: Mlp,
    /// The moving average of the denoiser's weights (`agent.sampler_ema` > 0), which samples.
    pub sampler_ema: Option<Mlp>,
    pub qf_opt: Adam,
    pub sampler_opt: Adam,
    pub alpha: f64,
    pub gamma: f64,
    /// `log |A|`, the log-volume of the action box in env units.
    pub log_volume: f64,
    pub keys: SqlKeys,
}

fn tensor_error(e: candle_core::Error) -> Error {
    Error::Engine(e.to_string())
}

impl Sql {
    /// Fresh networks, initialized from `rng` in sorted name order (PyTorch's default
    /// `nn.Linear` init); the target starts as a copy of the soft Q network.
    pub fn new(config: &Config, rng: &mut Rng) -> Result<Sql> {
        Self::build(config, rng).map_err(tensor_error)
    }

    fn build(config: &Config, rng: &mut Rng) -> candle_core::Result<Sql> {
        let Algorithm::Sql(keys) = &config.agent.algorithm else {
            unreachable!("an SQL agent is built for an SQL config");
        };
        let env = &config.env;
        let (od, ad) = (env.obs_dim(), env.action_dim());
        let a = &config.agent;
        let sizes = |input: usize, output: usize| {
            let mut s = vec![input];
            s.extend_from_slice(&a.hidden);
            s.push(output);
            s
        };
        let vars = VarMap::new();
        let qf = Mlp::new(&vars, "qf", &sizes(od + ad, 1), Activation::Identity)?;
        let qf_target = Mlp::new(&vars, "qf_target", &sizes(od + ad, 1), Activation::Identity)?;
        let sampler = match &keys.sampler {
            Sampler::Svgd(_) => Mlp::new(&vars, "sampler", &sizes(od + ad, ad), Activation::Tanh)?,
            Sampler::Diffusion(_) => Mlp::new(
                &vars,
                "sampler",
                &sizes(od + ad + EMBEDDING, ad),
                Activation::Identity,
            )?,
        };
        nets::init_uniform(&vars, rng)?;
        nets::copy_prefix(&vars, "qf.", "qf_target.")?;
        // Built after the seeded init, which it therefore leaves as it was; it starts as a copy.
        let sampler_ema = match &keys.sampler {
            Sampler::Diffusion(d) if d.ema > 0.0 => {
                let sizes = sizes(od + ad + EMBEDDING, ad);
                let ema = Mlp::new(&vars, "sampler_ema", &sizes, Activation::Identity)?;
                nets::copy_prefix(&vars, "sampler.", "sampler_ema.")?;
                Some(ema)
            }
            _ => None,
        };
        let temperature = config.objective.temperature.fixed();
        Ok(Sql {
            obs_dim: od,
            act_dim: ad,
            qf_opt: Adam::named(nets::with_prefix(&vars, "qf."), a.critic_lr)?,
            sampler_opt: Adam::named(nets::with_prefix(&vars, "sampler."), a.actor_lr)?,
            vars,
            qf,
            qf_target,
            sampler,
            sampler_ema,
            alpha: temperature.expect("validation refuses a learned α for SQL"),
            gamma: config.objective.gamma,
            log_volume: env.action_bounds().iter().map(|b| b.width().ln()).sum(),
            keys: keys.clone(),
        })
    }

    /// The bytes of the networks alone (Q, its target, the sampler and its moving average):
    /// what a loaded model holds.
    pub fn network_bytes(config: &Config) -> f64 {
        let (q, s) = Self::parameter_counts(config);
        4.0 * (2.0 * q + (1.0 + Self::averaged_copies(config)) * s)
    }

    /// 1 when the diffusion sampler keeps a moving average of its weights, else 0.
    fn averaged_copies(config: &Config) -> f64 {
        match &config.agent.algorithm {
            Algorithm::Sql(SqlKeys {
                sampler: Sampler::Diffusion(d),
                ..
            }) if d.ema > 0.0 => 1.0,
            _ => 0.0,
        }
    }

    /// Parameters of the Q network and of the sampler (floating point: no overflow).
    fn parameter_counts(config: &Config) -> (f64, f64) {
        let (od, ad, hidden) = (
            config.env.obs_dim(),
            config.env.action_dim(),
            &config.agent.hidden,
        );
        let sampler_inputs = match &config.agent.algorithm {
            Algorithm::Sql(SqlKeys {
                sampler: Sampler::Diffusion(_),
                ..
            }) => od + ad + EMBEDDING,
            _ => od + ad,
        };
        (
            memory::mlp_parameters(od + ad, hidden, 1),
            memory::mlp_parameters(sampler_inputs, hidden, ad),
        )
    }

    /// About the bytes the agent holds while it trains: three networks, two optimizers' moments
    /// and the gradients; then the activations of a minibatch's particles (the value's and the
    /// sampler's: SVGD's kernel particles or the diffusion posterior's draws) through a forward
    /// and a backward pass.
    pub fn training_bytes(config: &Config) -> LearnerBytes {
        let (q, s) = Self::parameter_counts(config);
        let Algorithm::Sql(k) = &config.agent.algorithm else {
            unreachable!("SQL's bytes for an SQL config");
        };
        let value = ("agent.value_particles", k.value_particles);
        let sampler = match &k.sampler {
            Sampler::Svgd(s) => ("agent.kernel_particles", s.kernel_particles),
            Sampler::Diffusion(d) => ("agent.posterior_particles", d.posterior_particles),
        };
        let particles = (value.1 + sampler.1) as f64;
        let rows = config.train.batch_size as f64 * (1.0 + particles);
        let widths: f64 = config.agent.hidden.iter().map(|&h| h as f64).sum();
        LearnerBytes {
            parameters: 4.0 * (5.0 * q + (4.0 + Self::averaged_copies(config)) * s),
            activations: 4.0 * rows * 4.0 * widths,
            particles: Some(if value.1 > sampler.1 { value } else { sampler }),
        }
    }

    /// A sampled action on [-1, 1] for each of `n` observations, the noise from `rng`.
    pub fn sample(&self, obs: &[f32], n: usize, rng: &mut Rng) -> candle_core::Result<Vec<f32>> {
        match &self.keys.sampler {
            Sampler::Svgd(_) => {
                let obs = Tensor::from_slice(obs, (n, self.obs_dim), &Device::Cpu)?;
                let xi = nets::normal(rng, n, self.act_dim)?;
                self.sampler_actions(&obs, &xi, Grad::None)?
                    .flatten_all()?
                    .to_vec1()
            }
            Sampler::Diffusion(d) => {
                let schedule = Schedule::new(d.steps);
                diffusion::sample_with(&schedule, n, self.act_dim, rng, |t, x| {
                    let levels = vec![t; n];
                    self.denoiser(self.sampling(), obs, x, &levels, Grad::None)?
                        .flatten_all()?
                        .to_vec1()
                })
            }
        }
    }

    /// Whether the sampler has a density to evaluate (the diffusion model's, by its
    /// probability-flow ODE).
    pub fn has_density(&self) -> bool {
        matches!(self.keys.sampler, Sampler::Diffusion(_))
    }

    /// The log-density on [-1, 1]^d of the diffusion model's probability-flow ODE sampler at one
    /// observation `obs` for each of the `actions` (row-major, on [-1, 1]), by
    /// [`diffusion::ode_log_density`] with [`ODE_STEPS`] steps and the exact Jacobian trace.
    pub fn log_density(&self, obs: &[f32], actions: &[f32]) -> candle_core::Result<Vec<f64>> {
        let ad = self.act_dim;
        let n = actions.len() / ad;
        let rows: Vec<f32> = obs.iter().copied().cycle().take(obs.len() * n).collect();
        diffusion::ode_log_density(actions, ad, ODE_STEPS, |t, x| {
            self.denoiser_and_diagonal(&rows, x, t)
        })
    }

    /// The denoiser's ε at level `t` and the diagonal of its Jacobian in the noisy action,
    /// `∂ε_i/∂x_i` (one backward pass per action dimension, the weights held constant), both
    /// `[rows, act_dim]`.
    fn denoiser_and_diagonal(
        &self,
        obs: &[f32],
        x: &[f32],
        t: f64,
    ) -> candle_core::Result<(Vec<f32>, Vec<f32>)> {
        let (od, ad) = (self.obs_dim, self.act_dim);
        let n = x.len() / ad;
        let dev = &Device::Cpu;
        let leaf = candle_core::Var::from_slice(x, (n, ad), dev)?;
        let mut embedding = [0.0f32; EMBEDDING];
        diffusion::embed(t, &mut embedding);
        let input = Tensor::cat(
            &[
                &Tensor::from_slice(obs, (n, od), dev)?,
                leaf.as_tensor(),
                &Tensor::from_slice(&embedding, (1, EMBEDDING), dev)?
                    .broadcast_as((n, EMBEDDING))?,
            ],
            1,
        )?;
        let eps = self.sampling().forward(&input, Grad::Frozen)?;
        let mut diagonal = vec![0.0f32; n * ad];
        for i in 0..ad {
            let grads = eps.narrow(1, i, 1)?.sum_all()?.backward()?;
            let column = grads
                .get(leaf.as_tensor())
                .expect("ε depends on the noisy action")
                .narrow(1, i, 1)?
                .flatten_all()?
                .to_vec1::<f32>()?;
            for (r, g) in column.into_iter().enumerate() {
                diagonal[r * ad + i] = g;
            }
        }
        Ok((eps.flatten_all()?.to_vec1()?, diagonal))
    }

    /// The diffusion sampler's denoiser that samples: the moving average of its weights if it
    /// keeps one, else the trained weights.
    fn sampling(&self) -> &Mlp {
        self.sampler_ema.as_ref().unwrap_or(&self.sampler)
    }

    /// The denoiser `net` (`ε_φ(s, a_t, t)`, or its moving average) on rows of observations,
    /// noisy actions and levels, `[rows, act_dim]`.
    fn denoiser(
        &self,
        net: &Mlp,
        obs: &[f32],
        noisy: &[f32],
        levels: &[f64],
        grad: Grad,
    ) -> candle_core::Result<Tensor> {
        let (od, ad, n) = (self.obs_dim, self.act_dim, levels.len());
        let width = od + ad + EMBEDDING;
        let mut rows = vec![0.0f32; n * width];
        for (i, row) in rows.chunks_exact_mut(width).enumerate() {
            row[..od].copy_from_slice(&obs[i * od..(i + 1) * od]);
            row[od..od + ad].copy_from_slice(&noisy[i * ad..(i + 1) * ad]);
            diffusion::embed(levels[i], &mut row[od + ad..]);
        }
        let x = Tensor::from_vec(rows, (n, width), &Device::Cpu)?;
        net.forward(&x, grad)
    }

    /// `tanh(f_φ([s, ξ]))`, `[rows, act_dim]`.
    fn sampler_actions(
        &self,
        obs: &Tensor,
        xi: &Tensor,
        grad: Grad,
    ) -> candle_core::Result<Tensor> {
        self.sampler.forward(&Tensor::cat(&[obs, xi], 1)?, grad)
    }

    /// `Q_θ(s, a)` for `n` rows of observations and actions on [-1, 1].
    pub fn q(&self, obs: &[f32], action: &[f32], n: usize) -> candle_core::Result<Vec<f32>> {
        let dev = &Device::Cpu;
        let x = Tensor::cat(
            &[
                Tensor::from_slice(obs, (n, self.obs_dim), dev)?,
                Tensor::from_slice(action, (n, self.act_dim), dev)?,
            ],
            1,
        )?;
        self.qf.forward(&x, Grad::None)?.flatten_all()?.to_vec1()
    }

    fn named(&self, prefix: &str) -> Vec<NamedTensor> {
        nets::with_prefix(&self.vars, prefix)
            .into_iter()
            .map(|(name, var)| {
                let values = var
                    .as_tensor()
                    .flatten_all()
                    .and_then(|t| t.to_vec1())
                    .expect("an f32 variable reads back");
                (name, var.dims().to_vec(), values)
            })
            .collect()
    }
}

/// The stored tensor `key` as a tensor of `dims` (see [`checkpoint::stored_values`]).
fn stored_tensor(key: &str, dims: &[usize], stored: &Tensors, path: &Path) -> Result<Tensor> {
    let values = checkpoint::stored_values(stored, key, dims, path)?;
    Tensor::from_slice(values, dims, &Device::Cpu).map_err(tensor_error)
}

impl Learner for Sql {
    fn format(&self) -> &'static str {
        FORMAT
    }

    fn sample_action(&mut self, obs: &[f64], rng: &mut Rng) -> Vec<f32> {
        let x: Vec<f32> = obs.iter().map(|&v| v as f32).collect();
        self.sample(&x, 1, rng)
            .expect("the sampler's shapes are its own")
    }

    fn eval_action(&mut self, obs: &[f64], rng: &mut Rng) -> Vec<f32> {
        self.sample_action(obs, rng)
    }

    fn evaluation_samples(&self) -> bool {
        true
    }

    fn update(&mut self, batch: &Batch, rng: &mut Rng) -> Losses {
        Sql::update(self, batch, rng).expect("the update's shapes are its own")
    }

    fn alpha(&self) -> f64 {
        self.alpha
    }

    /// candle parallelizes inside its own operations; the update has no split of its own.
    fn set_parallel(&mut self, _parallel: bool) {}

    fn model_tensors(&self) -> (Vec<NamedTensor>, HashMap<String, String>) {
        let tensors = self.named("");
        let meta = HashMap::from([
            ("format".to_string(), FORMAT.to_string()),
            ("sampler".to_string(), self.keys.sampler.name().to_string()),
            (
                "hidden".to_string(),
                format!(
                    "{:?}",
                    self.qf.layers[..self.qf.layers.len() - 1]
                        .iter()
                        .map(|l| l.weight().dims()[0])
                        .collect::<Vec<_>>()
                ),
            ),
        ]);
        (tensors, meta)
    }

    fn optimizer_tensors(&self) -> (Vec<NamedTensor>, HashMap<String, String>) {
        let mut out = Vec::new();
        let mut meta = HashMap::from([("format".to_string(), FORMAT.to_string())]);
        for (which, opt) in [("critic", &self.qf_opt), ("actor", &self.sampler_opt)] {
            meta.insert(format!("{which}.t"), opt.t.to_string());
            for (name, var, m, v) in &opt.slots {
                for (moment, t) in [("m", m), ("v", v)] {
                    let values = t
                        .flatten_all()
                        .and_then(|t| t.to_vec1())
                        .expect("an f32 moment reads back");
                    out.push((
                        format!("{which}.{moment}.{name}"),
                        var.dims().to_vec(),
                        values,
                    ));
                }
            }
        }
        (out, meta)
    }

    fn load_model(&mut self, stored: &Tensors, path: &Path, policy_only: bool) -> Result<()> {
        for (name, var) in nets::sorted(&self.vars) {
            if !policy_only || name.starts_with("sampler.") || name.starts_with("sampler_ema.") {
                let t = stored_tensor(&name, var.dims(), stored, path)?;
                var.set(&t).map_err(tensor_error)?;
            }
        }
        Ok(())
    }

    fn load_optimizer(
        &mut self,
        stored: &Tensors,
        metadata: &HashMap<String, String>,
        path: &Path,
    ) -> Result<()> {
        for (which, opt) in [
            ("critic", &mut self.qf_opt),
            ("actor", &mut self.sampler_opt),
        ] {
            opt.t = checkpoint::step_count(metadata, which, path)?;
            for (name, var, m, v) in &mut opt.slots {
                for (moment, slot) in [("m", m), ("v", v)] {
                    let key = format!("{which}.{moment}.{name}");
                    *slot = stored_tensor(&key, var.dims(), stored, path)?;
                }
            }
        }
        Ok(())
    }
}

/// An SQL checkpoint's agent for its recorded `config`, filled with the sampler only
/// (`policy_only`) or every network. Optimizer state, replay buffer and training state are not
/// read.
pub fn load_model(dir: &Path, config: &Config, policy_only: bool) -> Result<Sql> {
    config.check_memory("agent.hidden", "the networks", Sql::network_bytes(config))?;
    let mut sql = Sql::new(config, &mut crate::rng::seeded(0))?;
    checkpoint::load_model(dir, &mut sql, policy_only)?;
    Ok(sql)
}

/// An SQL checkpoint's whole training state, for `train --resume`.
pub fn load_training(
    dir: &Path,
    config: &Config,
) -> Result<(Sql, checkpoint::TrainState, Option<Replay>)> {
    memory::check(config, Sql::training_bytes(config), 1)?;
    let mut sql = Sql::new(config, &mut crate::rng::seeded(0))?;
    let (state, replay) = checkpoint::load_training(dir, config, &mut sql)?;
    Ok((sql, state, replay))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The diagonal of the denoiser's Jacobian by autograd equals central differences of the
    /// denoiser itself, at a fresh network's random weights (f32: differences of 10⁻² steps,
    /// agreement to 2·10⁻³ relative).
    #[test]
    fn the_denoisers_jacobian_diagonal_matches_finite_differences() {
        let table: toml::Table = toml::from_str(
            "env = \"multigoal\"\n[objective]\nalpha = 1.0\n[agent]\nalgorithm = \"sql\"\nsampler = \"diffusion\"\nhidden = [32, 32]",
        )
        .unwrap();
        let cfg = Config::from_table(table, "test", None, None, &[]).unwrap();
        let sql = Sql::new(&cfg, &mut crate::rng::seeded(7)).unwrap();
        let obs = [0.5f32, -1.5, 0.5, -1.5, 2.0, 0.1];
        let x = [0.3f32, -0.7, 0.05, 0.9, -0.4, -0.2];
        let t = 0.37;
        let (eps, diagonal) = sql.denoiser_and_diagonal(&obs, &x, t).unwrap();
        let at = |x: &[f32]| -> Vec<f32> {
            sql.denoiser(&sql.sampler, &obs, x, &[t; 3], Grad::None)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap()
        };
        assert_eq!(eps, at(&x));
        let h = 1e-2f32;
        for i in 0..x.len() {
            let (mut up, mut down) = (x, x);
            up[i] += h;
            down[i] -= h;
            let fd = (at(&up)[i] - at(&down)[i]) / (2.0 * h);
            assert!(
                (fd - diagonal[i]).abs() <= 2e-3 * (1.0 + fd.abs()),
                "{i}: {fd} vs {}",
                diagonal[i]
            );
        }
    }
}
