//! Adam without weight decay on candle variables, behind candle-nn's `Optimizer` trait
//! (candle-nn's own `AdamW` defaults to `weight_decay = 0.01` and keeps its moments private, so a
//! checkpoint could not resume it). PyTorch's `torch.optim.Adam` step, one tensor at a time:
//!
//! ```text
//! m ← β₁·m + (1 − β₁)·g      v ← β₂·v + (1 − β₂)·g²
//! p ← p − (lr / (1 − β₁ᵗ))·m / (√v / √(1 − β₂ᵗ) + ε)
//! ```
//!
//! with the constants of the fused SAC path ([`crate::sac::optim`]).

use candle_core::{Result, Tensor, Var, backprop::GradStore};

use crate::sac::optim::{BETA1, BETA2, EPS};

#[derive(Debug, Clone)]
pub struct Adam {
    pub lr: f64,
    /// Steps taken.
    pub t: u64,
    /// `(name, variable, m, v)` in name order.
    pub slots: Vec<(String, Var, Tensor, Tensor)>,
}

impl Adam {
    /// Adam over named variables (their moments are named after them in checkpoints).
    pub fn named(vars: Vec<(String, Var)>, lr: f64) -> Result<Adam> {
        let slots = vars
            .into_iter()
            .map(|(n, v)| {
                let z = v.as_tensor().zeros_like()?;
                Ok((n, v, z.clone(), z))
            })
            .collect::<Result<_>>()?;
        Ok(Adam { lr, t: 0, slots })
    }
}

impl candle_nn::Optimizer for Adam {
    type Config = f64;

    fn new(vars: Vec<Var>, lr: f64) -> Result<Self> {
        let named = vars
            .into_iter()
            .enumerate()
            .map(|(i, v)| (i.to_string(), v))
            .collect();
        Adam::named(named, lr)
    }

    /// One step on the gradients in `grads` (variables without a gradient are left alone).
    fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.t += 1;
        let c1 = 1.0 - BETA1.powi(self.t as i32);
        let c2 = 1.0 - BETA2.powi(self.t as i32);
        for (_, var, m, v) in &mut self.slots {
            let Some(g) = grads.get(var.as_tensor()) else {
                continue;
            };
            *m = ((&*m * BETA1)? + (g * (1.0 - BETA1))?)?.detach();
            *v = ((&*v * BETA2)? + (g.sqr()? * (1.0 - BETA2))?)?.detach();
            let denom = ((v.sqrt()? / c2.sqrt())? + EPS)?;
            let update = ((&*m / denom)? * (self.lr / c1))?;
            var.set(&(var.as_tensor() - update)?)?;
        }
        Ok(())
    }

    fn learning_rate(&self) -> f64 {
        self.lr
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.lr = lr;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;
    use candle_nn::Optimizer as _;

    /// Two steps by hand: lr 0.1, g = 2 then −1 on p = 1:
    /// t=1: m = 0.2, v = 0.004, p = 1 − 0.1·(0.2/0.1)/(√0.004/√0.001 + 1e-8) = 0.9
    /// t=2: m = 0.08, v = 0.004996, p = 0.9 − 0.1·(0.08/0.19)/(√0.004996/√0.001999 + 1e-8)
    #[test]
    fn two_steps_by_hand() {
        let p = Var::from_tensor(&Tensor::new(&[1.0f32], &Device::Cpu).unwrap()).unwrap();
        let mut opt = Adam::new(vec![p.clone()], 0.1).unwrap();
        for g in [2.0f32, -1.0] {
            let loss = (p.as_tensor() * f64::from(g)).unwrap().sum_all().unwrap();
            opt.backward_step(&loss).unwrap();
        }
        let step2 = 0.1 * (0.08 / 0.19) / ((0.004996f64).sqrt() / (0.001999f64).sqrt() + 1e-8);
        let expect = 0.9 - step2;
        let got = f64::from(p.as_tensor().to_vec1::<f32>().unwrap()[0]);
        assert!((got - expect).abs() < 1e-6, "{got} vs {expect}");
        assert_eq!(opt.t, 2);
    }
}
