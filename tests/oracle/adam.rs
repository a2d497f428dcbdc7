//! Adam on candle variables, for the autograd oracle ([`super::reference`]): the same step as
//! `maxent::sac::optim::Adam` (see there), one tensor at a time.

use candle_core::{Result, Tensor, Var, backprop::GradStore};

use maxent::sac::optim::{BETA1, BETA2, EPS};

#[derive(Debug, Clone)]
pub struct Adam {
    pub lr: f64,
    /// Steps taken.
    pub t: u64,
    /// `(name, variable, m, v)` in name order.
    pub slots: Vec<(String, Var, Tensor, Tensor)>,
}

impl Adam {
    pub fn new(vars: Vec<(String, Var)>, lr: f64) -> Result<Self> {
        let slots = vars
            .into_iter()
            .map(|(n, v)| {
                let z = v.as_tensor().zeros_like()?;
                Ok((n, v, z.clone(), z))
            })
            .collect::<Result<_>>()?;
        Ok(Adam { lr, t: 0, slots })
    }

    /// One step on the gradients in `grads` (variables without a gradient are left alone).
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn two_steps_match_pytorch_adam_by_hand() {
        // θ = 1, loss = 3θ² → g = 6θ. Step 1: m̂ = g, v̂ = g², θ −= lr·g/(|g| + ε) ≈ lr.
        let var = Var::new(&[1.0f32], &Device::Cpu).unwrap();
        let mut adam = Adam::new(vec![("x".into(), var.clone())], 0.1).unwrap();
        let mut theta = 1.0f64;
        let (mut m, mut v) = (0.0f64, 0.0f64);
        for t in 1..=2 {
            let loss = (var.as_tensor().sqr().unwrap() * 3.0)
                .unwrap()
                .sum_all()
                .unwrap();
            adam.step(&loss.backward().unwrap()).unwrap();
            let g = 6.0 * theta;
            m = BETA1 * m + (1.0 - BETA1) * g;
            v = BETA2 * v + (1.0 - BETA2) * g * g;
            let (mh, vh) = (m / (1.0 - BETA1.powi(t)), v / (1.0 - BETA2.powi(t)));
            theta -= 0.1 * mh / (vh.sqrt() + EPS);
        }
        let got = var.as_tensor().to_vec1::<f32>().unwrap()[0] as f64;
        assert!((got - theta).abs() < 1e-6, "{got} vs {theta}");
        assert_eq!(adam.t, 2);
    }
}
