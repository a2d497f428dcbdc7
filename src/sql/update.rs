//! One soft Q-learning update (Haarnoja et al. 2017, Algorithm 1), each step with its equation
//! and the line of the reference (`haarnoja/softqlearning`, `softqlearning/algorithms/sql.py`)
//! it follows: the soft Bellman step of `Q_θ`, the SVGD step of the sampler through the updated
//! `Q_θ`, and the target copy every `target_update_interval` updates.

use candle_core::{D, Device, Tensor, Var};

use super::{Sql, nets, svgd};
use crate::rng::Rng;
use crate::training::{Batch, Losses};

/// Inside `log(1 − x² + ε)`, the reference's `EPS` of the squash correction.
const SQUASH_EPS: f64 = 1e-6;

/// `rows` repeated `times` times each, in place: `[n, w]` → `[n·times, w]`.
fn repeat_rows(x: &Tensor, times: usize) -> candle_core::Result<Tensor> {
    let (n, w) = x.dims2()?;
    x.unsqueeze(1)?
        .broadcast_as((n, times, w))?
        .reshape((n * times, w))
}

impl Sql {
    /// One update of both networks on a minibatch; `rng` draws the value's uniform actions and
    /// the sampler's noise.
    pub fn update(&mut self, b: &Batch, rng: &mut Rng) -> candle_core::Result<Losses> {
        let dev = &Device::Cpu;
        let (od, ad, n) = (self.obs_dim, self.act_dim, b.reward.len());
        let obs = Tensor::from_slice(b.obs, (n, od), dev)?;
        let action = Tensor::from_slice(b.action, (n, ad), dev)?;
        let reward = Tensor::from_slice(b.reward, n, dev)?;
        let next_obs = Tensor::from_slice(b.next_obs, (n, od), dev)?;
        let terminated = Tensor::from_slice(b.terminated, n, dev)?;
        let critic = self.soft_bellman_step(&obs, &action, &reward, &next_obs, &terminated, rng)?;
        let actor = self.svgd_step(&obs, rng)?;
        if self
            .qf_opt
            .t
            .is_multiple_of(self.keys.target_update_interval)
        {
            nets::copy_prefix(&self.vars, "qf.", "qf_target.")?;
        }
        Ok(Losses {
            critic,
            actor,
            alpha: 0.0,
            entropy: None,
        })
    }

    /// The next states' soft value by importance sampling with `M = value_particles` actions
    /// uniform on the box:
    /// `V(s′) = α·log(|A|·(1/M)·Σ_j exp(Q̄(s′, a_j)/α))`, the very `α·log ∫_A exp(Q/α) da` the
    /// exact solver computes (the reference's `next_value = logsumexp(Q̄) − log M + d·log 2` is
    /// this with α = 1 on [-1, 1]). Returns `[n]`.
    pub fn soft_value_by_sampling(
        &self,
        next_obs: &Tensor,
        rng: &mut Rng,
    ) -> candle_core::Result<Tensor> {
        let n = next_obs.dims2()?.0;
        let m = self.keys.value_particles;
        let uniform = nets::uniform(rng, n * m, self.act_dim)?;
        let x = Tensor::cat(&[&repeat_rows(next_obs, m)?, &uniform], 1)?;
        let q = self.qf_target.forward(&x)?.reshape((n, m))?;
        let alpha = self.alpha;
        (q / alpha)?
            .log_sum_exp(D::Minus1)?
            .affine(alpha, alpha * (self.log_volume - (m as f64).ln()))
    }

    /// The soft Bellman step: `y = r + γ·(1 − terminated)·V(s′)` (a truncation bootstraps),
    /// `J_Q = ½·mean((Q_θ(s, a) − y)²)` (the reference's `bellman_residual`), one Adam step on θ.
    /// Returns `J_Q`.
    pub fn soft_bellman_step(
        &mut self,
        obs: &Tensor,
        action: &Tensor,
        reward: &Tensor,
        next_obs: &Tensor,
        terminated: &Tensor,
        rng: &mut Rng,
    ) -> candle_core::Result<f64> {
        let v_next = self.soft_value_by_sampling(next_obs, rng)?;
        let continues = terminated.affine(-1.0, 1.0)?;
        let y = (reward + (continues * v_next)?.affine(self.gamma, 0.0)?)?.detach();
        let q = self
            .qf
            .forward(&Tensor::cat(&[obs, action], 1)?)?
            .squeeze(1)?;
        let loss = ((q - y)?.sqr()?.mean_all()? * 0.5)?;
        candle_nn::Optimizer::backward_step(&mut self.qf_opt, &loss)?;
        Ok(f64::from(loss.to_scalar::<f32>()?))
    }

    /// The SVGD step of the sampler (the reference's `_create_svgd_update`): per state, K =
    /// `kernel_particles` samples `a = tanh(f_φ(s, ξ))`, split into fixed particles (no gradient)
    /// and updated ones; the target log-density at the fixed ones is
    /// `log p(a) = Q_θ(s, a)/α + Σ_i log(1 − a_i² + ε)` (Q and the reference's squash correction),
    /// its gradient by autograd; [`svgd::direction`] gives φ for the updated particles, and
    /// `∂φ/∂φ-params` is propagated through f_φ by minimizing `−Σ a_updated·φ` (φ a constant: the
    /// reference's surrogate loss). Returns that surrogate per particle.
    pub fn svgd_step(&mut self, obs: &Tensor, rng: &mut Rng) -> candle_core::Result<f64> {
        let (n, ad) = (obs.dims2()?.0, self.act_dim);
        let k = self.keys.kernel_particles;
        let (updated_count, fixed_count) = self.keys.updated_and_fixed();
        let obs_k = repeat_rows(obs, k)?;
        let xi = nets::normal(rng, n * k, ad)?;
        let actions = self.sampler_actions(&obs_k, &xi)?.reshape((n, k, ad))?;
        let fixed = actions.narrow(1, 0, fixed_count)?;
        let updated = actions.narrow(1, fixed_count, updated_count)?;

        // ∇_a log p at the fixed particles, by autograd through Q_θ.
        let fixed_leaf = Var::from_tensor(&fixed.detach().reshape((n * fixed_count, ad))?)?;
        let x = Tensor::cat(
            &[&repeat_rows(obs, fixed_count)?, fixed_leaf.as_tensor()],
            1,
        )?;
        let q = self.qf.forward(&x)?.squeeze(1)?;
        let squash = (fixed_leaf
            .as_tensor()
            .sqr()?
            .affine(-1.0, 1.0 + SQUASH_EPS)?)
        .log()?
        .sum(1)?;
        let log_p = ((q / self.alpha)? + squash)?;
        let grads = log_p.sum_all()?.backward()?;
        let grad_log_p = grads
            .get(fixed_leaf.as_tensor())
            .expect("log p depends on the fixed particles")
            .flatten_all()?
            .to_vec1::<f32>()?;

        let fixed_rows = fixed.detach().flatten_all()?.to_vec1::<f32>()?;
        let updated_rows = updated.detach().flatten_all()?.to_vec1::<f32>()?;
        let phi = svgd::direction(&fixed_rows, &grad_log_p, &updated_rows, n, ad);
        let phi = Tensor::from_vec(phi, (n, updated_count, ad), &Device::Cpu)?;
        let surrogate = (updated * phi)?.sum_all()?.neg()?;
        candle_nn::Optimizer::backward_step(&mut self.sampler_opt, &surrogate)?;
        Ok(f64::from(surrogate.to_scalar::<f32>()?) / (n * updated_count) as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn config(text: &str) -> Config {
        let table: toml::Table = toml::from_str(text).unwrap();
        Config::from_table(table, "test", None, None, &[]).unwrap()
    }

    /// With the target network's last layer zeroed but for its bias c, Q̄ ≡ c, so
    /// `V = α·log(|A|·exp(c/α)) = c + α·log|A|` exactly, for any particles: on the multi-goal
    /// box (±1 in each of two dimensions, |A| = 4), c = 2, α = 0.5: V = 2 + 0.5·log 4.
    #[test]
    fn soft_value_of_a_constant_q_is_c_plus_alpha_log_volume() {
        let cfg = config(
            "env = \"multigoal\"\n[objective]\nalpha = 0.5\n[agent]\nalgorithm = \"sql\"\nhidden = [8]",
        );
        let mut rng = crate::rng::seeded(0);
        let sql = Sql::new(&cfg, &mut rng).unwrap();
        for (name, var) in nets::with_prefix(&sql.vars, "qf_target.1.") {
            let value = if name.ends_with("bias") { 2.0 } else { 0.0 };
            var.set(&(var.as_tensor().zeros_like().unwrap() + value).unwrap())
                .unwrap();
        }
        let next = Tensor::new(&[[0.3f32, -1.0], [4.0, 2.0]], &Device::Cpu).unwrap();
        let v = sql
            .soft_value_by_sampling(&next, &mut rng)
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let box_volume: f64 = cfg.env.action_bounds().iter().map(|b| b.width()).product();
        let expect = 2.0 + 0.5 * box_volume.ln();
        for v in v {
            assert!((f64::from(v) - expect).abs() < 1e-5, "{v} vs {expect}");
        }
    }

    /// A target network set to `Q̄ = w·a` (the hidden layer passes `±a_i` and the ReLUs recover a):
    /// with 20 000 particles the importance-sampling value matches the closed form
    /// `α·log ∫_{[-1,1]²} exp(w·a/α) da = α·Σ_i log(2α·sinh(w_i/α)/w_i)` within its Monte Carlo
    /// error.
    #[test]
    fn soft_value_by_sampling_matches_the_closed_form_integral() {
        let alpha = 0.7;
        let cfg = config(&format!(
            "env = \"multigoal\"\n[objective]\nalpha = {alpha}\n[agent]\nalgorithm = \"sql\"\nhidden = [4]\nvalue_particles = 20000"
        ));
        let mut rng = crate::rng::seeded(1);
        let sql = Sql::new(&cfg, &mut rng).unwrap();
        // Layer 0: hidden = [a0, −a0, a1, −a1]·1 (obs weights 0), so relu(h) recovers a through
        // relu(a) − relu(−a); layer 1 weights (w0, −w0, w1, −w1) give Q = w·a.
        let (w0, w1) = (1.3f32, -0.6f32);
        let set = |name: &str, values: Vec<f32>| {
            let var = &nets::sorted(&sql.vars)
                .into_iter()
                .find(|(n, _)| n == name)
                .unwrap()
                .1;
            var.set(&Tensor::from_vec(values, var.shape(), &Device::Cpu).unwrap())
                .unwrap();
        };
        // Input [obs (2), action (2)] → 4 hidden.
        set(
            "qf_target.0.weight",
            vec![
                0., 0., 1., 0., //
                0., 0., -1., 0., //
                0., 0., 0., 1., //
                0., 0., 0., -1.,
            ],
        );
        set("qf_target.0.bias", vec![0.0; 4]);
        set("qf_target.1.weight", vec![w0, -w0, w1, -w1]);
        set("qf_target.1.bias", vec![0.0]);
        let next = Tensor::new(&[[0.0f32, 0.0]], &Device::Cpu).unwrap();
        let v = f64::from(
            sql.soft_value_by_sampling(&next, &mut rng)
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()[0],
        );
        // The network's actions are on [-1, 1]; the env box is ±1 too (multigoal's max_action).
        let closed: f64 = [w0, w1]
            .iter()
            .map(|&w| {
                let w = f64::from(w);
                alpha * (2.0 * alpha * (w / alpha).sinh() / w).ln()
            })
            .sum();
        assert!((v - closed).abs() < 0.01, "{v} vs {closed}");
    }
}
