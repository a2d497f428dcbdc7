//! The candle networks of the reference SAC update ([`super::reference`], the test oracle of the
//! fused update in `maxent::sac`): MLPs of `Linear` layers (`y = x·Wᵀ + b`, W `[out, in]`, as PyTorch's), a
//! tanh-squashed Gaussian actor and twin soft Q critics. Parameters live in a [`Params`] map under
//! PyTorch-style names, initialized from our own seeded RNG with PyTorch's default `nn.Linear`
//! init, `U(−1/√fan_in, 1/√fan_in)` for weights and biases (candle's init is not seedable).

use std::collections::BTreeMap;

use candle_core::{D, Device, Result, Tensor, Var};
use rand::Rng;

use maxent::rng::Rng as OurRng;
use maxent::tanh_gaussian::{LOG_STD_MAX, LOG_STD_MIN};

/// Trainable variables by name; a `BTreeMap`, so iteration is in sorted name order.
#[derive(Debug, Clone, Default)]
pub struct Params {
    pub vars: BTreeMap<String, Var>,
}

impl Params {
    fn uniform(
        &mut self,
        rng: &mut OurRng,
        name: String,
        shape: &[usize],
        bound: f64,
    ) -> Result<Var> {
        let n: usize = shape.iter().product();
        let data: Vec<f32> = (0..n)
            .map(|_| rng.random_range(-bound..bound) as f32)
            .collect();
        let var = Var::from_tensor(&Tensor::from_vec(data, shape, &Device::Cpu)?)?;
        self.vars.insert(name, var.clone());
        Ok(var)
    }

    /// The variables whose names start with `prefix`, in name order.
    pub fn with_prefix(&self, prefix: &str) -> Vec<(String, Var)> {
        self.vars
            .iter()
            .filter(|(n, _)| n.starts_with(prefix))
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect()
    }
}

/// `y = x·Wᵀ + b`, x `[batch, in]`, W `[out, in]`, b `[out]`.
#[derive(Debug, Clone)]
pub struct Linear {
    pub weight: Var,
    pub bias: Var,
}

impl Linear {
    pub fn new(
        params: &mut Params,
        rng: &mut OurRng,
        name: &str,
        fan_in: usize,
        fan_out: usize,
    ) -> Result<Self> {
        let bound = 1.0 / (fan_in as f64).sqrt();
        Ok(Linear {
            weight: params.uniform(rng, format!("{name}.weight"), &[fan_out, fan_in], bound)?,
            bias: params.uniform(rng, format!("{name}.bias"), &[fan_out], bound)?,
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.matmul(&self.weight.as_tensor().t()?)?
            .broadcast_add(self.bias.as_tensor())
    }
}

/// Linear layers with ReLU between them (none after the last).
#[derive(Debug, Clone)]
pub struct Mlp {
    pub layers: Vec<Linear>,
}

impl Mlp {
    /// `sizes = [in, hidden..., out]`; layer `i` is named `{name}.{i}`.
    pub fn new(params: &mut Params, rng: &mut OurRng, name: &str, sizes: &[usize]) -> Result<Self> {
        let layers = sizes
            .windows(2)
            .enumerate()
            .map(|(i, w)| Linear::new(params, rng, &format!("{name}.{i}"), w[0], w[1]))
            .collect::<Result<_>>()?;
        Ok(Mlp { layers })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut h = x.clone();
        for (i, layer) in self.layers.iter().enumerate() {
            h = layer.forward(&h)?;
            if i + 1 < self.layers.len() {
                h = h.relu()?;
            }
        }
        Ok(h)
    }
}

/// The tanh-Gaussian policy: `a = tanh(u)`, `u ~ N(μ(s), σ(s)²)`, on `[-1, 1]` per dimension;
/// the environment gets `a` scaled to its action box.
#[derive(Debug, Clone)]
pub struct Actor {
    pub trunk: Mlp,
    pub mean: Linear,
    pub log_std: Linear,
    /// `Σ log half_width`: the Jacobian of the scaling from [-1, 1] to env units.
    pub log_scale: f64,
}

/// A batch of reparameterized actions on [-1, 1] and their log-densities in env action units.
pub struct Sample {
    pub action: Tensor,
    pub log_prob: Tensor,
}

impl Actor {
    pub fn new(
        params: &mut Params,
        rng: &mut OurRng,
        obs_dim: usize,
        act_dim: usize,
        hidden: &[usize],
        log_scale: f64,
    ) -> Result<Self> {
        let mut sizes = vec![obs_dim];
        sizes.extend_from_slice(hidden);
        let last = *sizes.last().expect("obs_dim is there");
        Ok(Actor {
            trunk: Mlp::new(params, rng, "actor.trunk", &sizes)?,
            mean: Linear::new(params, rng, "actor.mean", last, act_dim)?,
            log_std: Linear::new(params, rng, "actor.log_std", last, act_dim)?,
            log_scale,
        })
    }

    /// `μ(s)` and the bounded `log σ(s)`.
    pub fn forward(&self, obs: &Tensor) -> Result<(Tensor, Tensor)> {
        let h = self.trunk.forward(obs)?.relu()?;
        let mean = self.mean.forward(&h)?;
        let raw = self.log_std.forward(&h)?.tanh()?;
        let log_std = raw.affine(
            0.5 * (LOG_STD_MAX - LOG_STD_MIN),
            0.5 * (LOG_STD_MAX + LOG_STD_MIN),
        )?;
        Ok((mean, log_std))
    }

    /// `a = tanh(μ + σ·ε)` for given standard normal noise `ε` `[batch, act_dim]`, with
    ///
    /// ```text
    /// log π(a|s) = Σ_i [ log N(u_i; μ_i, σ_i) − log(1 − tanh² u_i) ] − Σ_i log half_width_i
    /// log(1 − tanh² u) = 2·(log 2 − u − softplus(−2u))      (stable for large |u|)
    /// ```
    ///
    /// computed from the pre-tanh sample u, never from `atanh(a)` (unstable near ±1). The last
    /// term puts the density in env action units (DESIGN §1).
    pub fn sample(&self, obs: &Tensor, eps: &Tensor) -> Result<Sample> {
        let (mean, log_std) = self.forward(obs)?;
        let u = (&mean + log_std.exp()?.mul(eps)?)?;
        let action = u.tanh()?;
        let log_normal = ((eps
            .sqr()?
            .affine(-0.5, -0.5 * (2.0 * std::f64::consts::PI).ln()))?
            - &log_std)?;
        let two_u = u.affine(-2.0, 0.0)?;
        let log_det =
            (u.affine(-1.0, std::f64::consts::LN_2)? - softplus(&two_u)?)?.affine(2.0, 0.0)?;
        let log_prob = (log_normal - log_det)?
            .sum(D::Minus1)?
            .affine(1.0, -self.log_scale)?;
        Ok(Sample { action, log_prob })
    }

    /// The deterministic action `tanh(μ(s))` on [-1, 1].
    pub fn deterministic(&self, obs: &Tensor) -> Result<Tensor> {
        self.forward(obs)?.0.tanh()
    }
}

/// `softplus(x) = max(x, 0) + log(1 + exp(−|x|))`, stably.
fn softplus(x: &Tensor) -> Result<Tensor> {
    x.relu()? + (x.abs()?.neg()?.exp()? + 1.0)?.log()?
}

/// Two soft Q networks `Q_j(s, a)` on `[obs, action on [-1, 1]]`.
#[derive(Debug, Clone)]
pub struct TwinCritic {
    pub q: [Mlp; 2],
}

impl TwinCritic {
    pub fn new(
        params: &mut Params,
        rng: &mut OurRng,
        name: &str,
        obs_dim: usize,
        act_dim: usize,
        hidden: &[usize],
    ) -> Result<Self> {
        let mut sizes = vec![obs_dim + act_dim];
        sizes.extend_from_slice(hidden);
        sizes.push(1);
        Ok(TwinCritic {
            q: [
                Mlp::new(params, rng, &format!("{name}.0"), &sizes)?,
                Mlp::new(params, rng, &format!("{name}.1"), &sizes)?,
            ],
        })
    }

    /// `[Q_1, Q_2]`, each `[batch]`.
    pub fn forward(&self, obs: &Tensor, action: &Tensor) -> Result<[Tensor; 2]> {
        let x = Tensor::cat(&[obs, action], 1)?;
        Ok([
            self.q[0].forward(&x)?.squeeze(1)?,
            self.q[1].forward(&x)?.squeeze(1)?,
        ])
    }

    /// `min_j Q_j(s, a)`.
    pub fn min(&self, obs: &Tensor, action: &Tensor) -> Result<Tensor> {
        let [q1, q2] = self.forward(obs, action)?;
        q1.minimum(&q2)
    }
}

/// Standard normal noise `[rows, cols]` from our RNG.
pub fn normal(rng: &mut OurRng, rows: usize, cols: usize) -> Result<Tensor> {
    let data: Vec<f32> = (0..rows * cols)
        .map(|_| rng.sample::<f32, _>(rand_distr::StandardNormal))
        .collect();
    Tensor::from_vec(data, (rows, cols), &Device::Cpu)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tanh_gaussian_log_density_by_hand() {
        // One layer of zeros in the trunk makes μ and log σ the heads' biases. With μ = 0.3,
        // raw log σ r = 0.2 (log σ = −1.5 + 3.5·tanh 0.2), ε = 0.7 and half width 2 (log 2):
        // u = μ + σε, a = tanh u, log π = log N(u; μ, σ) − log(1 − a²) − log 2.
        let mut params = Params::default();
        let mut rng = maxent::rng::seeded(1);
        let actor = Actor::new(&mut params, &mut rng, 3, 1, &[4], 2f64.ln()).unwrap();
        for (name, var) in &params.vars {
            let value = match name.as_str() {
                "actor.mean.bias" => 0.3,
                "actor.log_std.bias" => 0.2,
                _ => 0.0,
            };
            var.set(&(var.as_tensor().zeros_like().unwrap() + value).unwrap())
                .unwrap();
        }
        let obs = Tensor::new(&[[0.5f32, -1.0, 2.0]], &Device::Cpu).unwrap();
        let eps = Tensor::new(&[[0.7f32]], &Device::Cpu).unwrap();
        let s = actor.sample(&obs, &eps).unwrap();
        let log_std = -1.5 + 3.5 * 0.2f64.tanh();
        let u = 0.3 + log_std.exp() * 0.7;
        let a = u.tanh();
        let expect = -0.5 * 0.49
            - log_std
            - 0.5 * (2.0 * std::f64::consts::PI).ln()
            - (1.0 - a * a).ln()
            - 2f64.ln();
        let got = s.log_prob.to_vec1::<f32>().unwrap()[0] as f64;
        assert!((got - expect).abs() < 1e-5, "{got} vs {expect}");
        assert!((s.action.to_vec2::<f32>().unwrap()[0][0] as f64 - a).abs() < 1e-6);
        // Far in the tail the pre-tanh form stays finite where log(1 − tanh²) from `a` would not.
        let far = actor
            .sample(&obs, &Tensor::new(&[[40.0f32]], &Device::Cpu).unwrap())
            .unwrap();
        assert!(far.log_prob.to_vec1::<f32>().unwrap()[0].is_finite());
    }
}
