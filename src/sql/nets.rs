//! The soft Q-learning networks on candle-nn: MLPs of `candle_nn::Linear` layers
//! (`y = x·Wᵀ + b`, W `[out, in]`) with ReLU between them, their variables in a `VarMap` under
//! PyTorch-style names (`{name}.{i}.weight|bias`). candle's initializers are not seedable, so
//! after building, every variable is overwritten from our seeded RNG in sorted name order with
//! PyTorch's default `nn.Linear` init, `U(±1/√fan_in)` for weights and biases (STYLE §5).

use candle_core::{DType, Device, Result, Tensor, Var};
use candle_nn::{Linear, VarBuilder, VarMap};
use rand::Rng as _;

use super::ops::{self, Activation, Grad};
use crate::rng::Rng;

/// An MLP: `sizes = [in, hidden…, out]`, ReLU after every layer but the last, `output` after the
/// last.
#[derive(Debug, Clone)]
pub struct Mlp {
    pub layers: Vec<Linear>,
    pub output: Activation,
}

impl Mlp {
    /// Builds the layers' variables in `vars` under `{name}.{i}`.
    pub fn new(vars: &VarMap, name: &str, sizes: &[usize], output: Activation) -> Result<Mlp> {
        let vb = VarBuilder::from_varmap(vars, DType::F32, &Device::Cpu);
        let layers = sizes
            .windows(2)
            .enumerate()
            .map(|(i, w)| candle_nn::linear(w[0], w[1], vb.pp(format!("{name}.{i}"))))
            .collect::<Result<_>>()?;
        Ok(Mlp { layers, output })
    }

    /// The network on the rows of `x`, each layer one fused op of [`ops::layer`] (candle's
    /// `Linear` and activation in values); `grad` says which gradients the graph keeps.
    pub fn forward(&self, x: &Tensor, grad: Grad) -> Result<Tensor> {
        let mut h = x.clone();
        for (i, layer) in self.layers.iter().enumerate() {
            let bias = layer.bias().expect("every layer has a bias");
            let act = match i + 1 < self.layers.len() {
                true => Activation::Relu,
                false => self.output,
            };
            h = ops::layer(&h, layer.weight(), bias, act, grad)?;
        }
        Ok(h)
    }
}

/// The variables of `vars`, sorted by name (a `VarMap` is a `HashMap`).
pub fn sorted(vars: &VarMap) -> Vec<(String, Var)> {
    let mut all: Vec<(String, Var)> = vars
        .data()
        .lock()
        .expect("no panics while holding it")
        .iter()
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

/// The variables whose names start with `prefix`, sorted by name.
pub fn with_prefix(vars: &VarMap, prefix: &str) -> Vec<(String, Var)> {
    sorted(vars)
        .into_iter()
        .filter(|(n, _)| n.starts_with(prefix))
        .collect()
}

/// Overwrites every variable from `rng` in sorted name order: `U(±1/√fan_in)`, the fan-in being
/// a weight's second dimension (and, for a bias, that of its layer's weight).
pub fn init_uniform(vars: &VarMap, rng: &mut Rng) -> Result<()> {
    let all = sorted(vars);
    let fan_in = |name: &str| -> usize {
        let layer = name.rsplit_once('.').map_or(name, |(l, _)| l);
        all.iter()
            .find(|(n, _)| n == &format!("{layer}.weight"))
            .map_or(1, |(_, w)| w.dims()[1])
    };
    for (name, var) in &all {
        let bound = 1.0 / (fan_in(name) as f64).sqrt();
        let n = var.elem_count();
        let data: Vec<f32> = (0..n)
            .map(|_| rng.random_range(-bound..bound) as f32)
            .collect();
        var.set(&Tensor::from_vec(data, var.shape(), &Device::Cpu)?)?;
    }
    Ok(())
}

/// Each variable under `from` with its namesake under `to` (the same suffix).
fn namesakes(vars: &VarMap, from: &str, to: &str) -> Vec<(Var, Var)> {
    let all = sorted(vars);
    all.iter()
        .filter_map(|(name, var)| {
            let rest = name.strip_prefix(from)?;
            let (_, dst) = all.iter().find(|(n, _)| n == &format!("{to}{rest}"))?;
            Some((var.clone(), dst.clone()))
        })
        .collect()
}

/// Copies the values of the variables under `from` onto those under `to` (same suffixes).
pub fn copy_prefix(vars: &VarMap, from: &str, to: &str) -> Result<()> {
    for (var, dst) in namesakes(vars, from, to) {
        dst.set(var.as_tensor())?;
    }
    Ok(())
}

/// `avg ← β·avg + (1 − β)·value` for each variable under `from` and its namesake under `to`.
pub fn moving_average(vars: &VarMap, from: &str, to: &str, beta: f64) -> Result<()> {
    for (var, avg) in namesakes(vars, from, to) {
        avg.set(&((avg.as_tensor() * beta)? + (var.as_tensor() * (1.0 - beta))?)?)?;
    }
    Ok(())
}

/// A tensor of `[rows, cols]` from our RNG: standard normal, or uniform on [-1, 1].
pub fn normal(rng: &mut Rng, rows: usize, cols: usize) -> Result<Tensor> {
    let data: Vec<f32> = (0..rows * cols)
        .map(|_| rng.sample::<f32, _>(rand_distr::StandardNormal))
        .collect();
    Tensor::from_vec(data, (rows, cols), &Device::Cpu)
}

pub fn uniform(rng: &mut Rng, rows: usize, cols: usize) -> Result<Tensor> {
    let data: Vec<f32> = (0..rows * cols)
        .map(|_| rng.random_range(-1.0f32..=1.0))
        .collect();
    Tensor::from_vec(data, (rows, cols), &Device::Cpu)
}
