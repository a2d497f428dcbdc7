//! One soft Q-learning update (Haarnoja et al. 2017, Algorithm 1), each step with its equation
//! and the line of the reference (`haarnoja/softqlearning`, `softqlearning/algorithms/sql.py`)
//! it follows: the soft Bellman step of `Q_θ`, the SVGD step of the sampler through the updated
//! `Q_θ`, and the target copy every `target_update_interval` updates.

use candle_core::{D, Device, Tensor, Var};

use super::diffusion::Targets;
use super::ops::Grad;
use super::{Sql, nets, svgd};
use crate::config::Sampler;
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
        let actor = match &self.keys.sampler {
            Sampler::Svgd(_) => self.svgd_step(&obs, rng)?,
            Sampler::Diffusion(_) => self.noise_estimation_step(b.obs, b.action, rng)?,
        };
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
        let q = self.qf_target.forward(&x, Grad::None)?.reshape((n, m))?;
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
            .forward(&Tensor::cat(&[obs, action], 1)?, Grad::Full)?
            .squeeze(1)?;
        let loss = ((q - y)?.sqr()?.mean_all()? * 0.5)?;
        candle_nn::Optimizer::backward_step(&mut self.qf_opt, &loss)?;
        Ok(f64::from(loss.to_scalar::<f32>()?))
    }

    /// The SVGD step of the sampler (the reference's `_create_svgd_update`): per state, K =
    /// `kernel_particles` samples `a = tanh(f_φ(s, ξ))`, split into fixed particles (no gradient:
    /// a forward pass alone) and updated ones; the target log-density at the fixed ones is
    /// `log p(a) = Q_θ(s, a)/α + Σ_i log(1 − a_i² + ε)` (Q and the reference's squash correction),
    /// so `∇_a log p = ∇_a Q_θ/α − 2a/(1 − a² + ε)`, the first by autograd through Q_θ with its
    /// weights held constant (the gradient reaches the actions alone); [`svgd::direction`] gives φ
    /// for the updated particles, and `∂φ/∂φ-params` is propagated through f_φ by minimizing
    /// `−Σ a_updated·φ` (φ a constant: the reference's surrogate loss). Returns that surrogate per
    /// particle.
    pub fn svgd_step(&mut self, obs: &Tensor, rng: &mut Rng) -> candle_core::Result<f64> {
        let (fixed, updated) = self.svgd_particles(obs, rng)?;
        let fixed = fixed.flatten_all()?.to_vec1::<f32>()?;
        let grad_log_p = self.grad_log_p(obs, &fixed)?;
        let (n, ad) = (obs.dims2()?.0, self.act_dim);
        let phi = svgd::direction(
            &fixed,
            &grad_log_p,
            &updated.flatten_all()?.to_vec1::<f32>()?,
            n,
            ad,
        );
        self.surrogate_step(&updated, phi)
    }

    /// The fixed particles (a forward pass alone) and the updated ones (with the sampler's graph),
    /// `[n·Kx, d]` and `[n·Ky, d]` state by state; each state's K noise draws, the first `Kx` for
    /// the fixed particles.
    pub fn svgd_particles(
        &self,
        obs: &Tensor,
        rng: &mut Rng,
    ) -> candle_core::Result<(Tensor, Tensor)> {
        let (n, ad) = (obs.dims2()?.0, self.act_dim);
        let Sampler::Svgd(keys) = &self.keys.sampler else {
            unreachable!("SVGD particles for an SVGD sampler");
        };
        let k = keys.kernel_particles;
        let (updated_count, fixed_count) = keys.updated_and_fixed();
        let xi = nets::normal(rng, n * k, ad)?.reshape((n, k, ad))?;
        let particles = |first: usize, count: usize, grad: Grad| {
            let xi = xi.narrow(1, first, count)?.reshape((n * count, ad))?;
            self.sampler_actions(&repeat_rows(obs, count)?, &xi, grad)
        };
        Ok((
            particles(0, fixed_count, Grad::None)?,
            particles(fixed_count, updated_count, Grad::Full)?,
        ))
    }

    /// `∇_a log p = ∇_a Q_θ(s, a)/α − 2a/(1 − a² + ε)` at the fixed particles (`[n·Kx, d]`
    /// row-major, state by state), the first by autograd through Q_θ with its weights held
    /// constant (the gradient reaches the actions alone).
    pub fn grad_log_p(&self, obs: &Tensor, fixed: &[f32]) -> candle_core::Result<Vec<f32>> {
        let rows = fixed.len() / self.act_dim;
        let fixed_count = rows / obs.dims2()?.0;
        let leaf = Var::from_slice(fixed, (rows, self.act_dim), &Device::Cpu)?;
        let x = Tensor::cat(&[&repeat_rows(obs, fixed_count)?, leaf.as_tensor()], 1)?;
        let grads = self.qf.forward(&x, Grad::Frozen)?.sum_all()?.backward()?;
        let grad_q = grads
            .get(leaf.as_tensor())
            .expect("Q depends on the fixed particles")
            .flatten_all()?
            .to_vec1::<f32>()?;
        let (alpha, eps) = (self.alpha as f32, SQUASH_EPS as f32);
        Ok(grad_q
            .iter()
            .zip(fixed)
            .map(|(&g, &a)| g / alpha - 2.0 * a / (1.0 - a * a + eps))
            .collect())
    }

    /// The diffusion sampler's step by Q-weighted noise estimation ([`super::diffusion`]): the
    /// minibatch's replay actions `actions` noised at levels uniform on `[t_min, t_max]`, K =
    /// `posterior_particles` truncated posterior draws for each (the last `anchored_particles`
    /// of them around the row's draw of highest Q), weighted by `softmax(Q_θ(s, a_0k)/α)` (times
    /// the likelihood over the mixture proposal's density where some are anchored) through the Q
    /// network the Bellman step just updated, the target
    /// `ε̂` held constant, and one Adam step on `J = mean((ε_φ(s, a_t, t) − ε̂)²)` over rows and
    /// action dimensions (the reference's `actor_loss`). Returns J.
    pub fn noise_estimation_step(
        &mut self,
        obs: &[f32],
        actions: &[f32],
        rng: &mut Rng,
    ) -> candle_core::Result<f64> {
        let Sampler::Diffusion(keys) = &self.keys.sampler else {
            unreachable!("noise estimation for a diffusion sampler");
        };
        let (k, anchored) = (keys.posterior_particles, keys.anchored_particles);
        let mut targets = Targets::draw(actions, self.act_dim, k - anchored, rng);
        let mut q = self.posterior_q(obs, &targets.posterior)?;
        if anchored > 0 {
            let (n, d, k1) = (obs.len() / self.obs_dim, self.act_dim, k - anchored);
            // Each row's anchor: its likelihood draw of highest Q (the first of equals).
            let mut anchors = Vec::with_capacity(n * d);
            for (qs, draws) in q
                .chunks_exact(k1)
                .zip(targets.posterior.chunks_exact(k1 * d))
            {
                let best = (0..k1).fold(0, |b, j| if qs[j] > qs[b] { j } else { b });
                anchors.extend_from_slice(&draws[best * d..(best + 1) * d]);
            }
            let added = targets.anchor(&anchors, anchored, rng);
            let q_added = self.posterior_q(obs, &added)?;
            q = q
                .chunks_exact(k1)
                .zip(q_added.chunks_exact(anchored))
                .flat_map(|(a, b)| a.iter().chain(b).copied())
                .collect();
        }
        let eps_hat = targets.noise(&q, self.alpha);
        self.denoiser_step(obs, &targets, eps_hat)
    }

    /// `Q_θ(s, a_0k)` at the posterior draws `posterior` (`[n, K, d]`, K a row), `[n, K]`.
    pub fn posterior_q(&self, obs: &[f32], posterior: &[f32]) -> candle_core::Result<Vec<f32>> {
        let dev = &Device::Cpu;
        let (od, ad) = (self.obs_dim, self.act_dim);
        let (n, rows) = (obs.len() / od, posterior.len() / ad);
        let obs = Tensor::from_slice(obs, (n, od), dev)?;
        let draws = Tensor::from_slice(posterior, (rows, ad), dev)?;
        let x = Tensor::cat(&[&repeat_rows(&obs, rows / n)?, &draws], 1)?;
        self.qf.forward(&x, Grad::None)?.flatten_all()?.to_vec1()
    }

    /// The denoiser's step toward the targets `eps_hat` (`[n, d]`, held constant) at the noisy
    /// actions and levels of `targets`: one Adam step on `mean((ε_φ − ε̂)²)`, which it returns.
    pub fn denoiser_step(
        &mut self,
        obs: &[f32],
        targets: &Targets,
        eps_hat: Vec<f32>,
    ) -> candle_core::Result<f64> {
        let eps = self.denoiser(
            &self.sampler,
            obs,
            &targets.noisy,
            &targets.levels,
            Grad::Full,
        )?;
        let eps_hat = Tensor::from_vec(eps_hat, eps.shape(), &Device::Cpu)?;
        let loss = (eps - eps_hat)?.sqr()?.mean_all()?;
        candle_nn::Optimizer::backward_step(&mut self.sampler_opt, &loss)?;
        if let (Some(_), Sampler::Diffusion(d)) = (&self.sampler_ema, &self.keys.sampler) {
            nets::moving_average(&self.vars, "sampler.", "sampler_ema.", d.ema)?;
        }
        Ok(f64::from(loss.to_scalar::<f32>()?))
    }

    /// The sampler's step on the surrogate `−Σ a_updated·φ` for the updated particles (with their
    /// graph) and their directions `phi` (`[n·Ky, d]` row-major); returns the surrogate per
    /// particle.
    pub fn surrogate_step(&mut self, updated: &Tensor, phi: Vec<f32>) -> candle_core::Result<f64> {
        let shape = updated.shape().clone();
        let phi = Tensor::from_vec(phi, shape.clone(), &Device::Cpu)?;
        let surrogate = (updated * phi)?.sum_all()?.neg()?;
        candle_nn::Optimizer::backward_step(&mut self.sampler_opt, &surrogate)?;
        Ok(f64::from(surrogate.to_scalar::<f32>()?) / shape.dims()[0] as f64)
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

    /// Sets the 2-D-action network `{prefix}` (one hidden layer of 4) to `Q = w·a`: layer 0 gives
    /// hidden = [a0, −a0, a1, −a1] (observation weights 0), so relu recovers a through
    /// relu(a) − relu(−a); layer 1's weights (w0, −w0, w1, −w1) give w·a.
    fn set_linear_q(sql: &Sql, prefix: &str, [w0, w1]: [f32; 2]) {
        let set = |name: &str, values: Vec<f32>| {
            let name = format!("{prefix}.{name}");
            let var = &nets::sorted(&sql.vars)
                .into_iter()
                .find(|(n, _)| n == &name)
                .unwrap()
                .1;
            var.set(&Tensor::from_vec(values, var.shape(), &Device::Cpu).unwrap())
                .unwrap();
        };
        // Input [obs (2), action (2)] → 4 hidden.
        set(
            "0.weight",
            vec![
                0., 0., 1., 0., //
                0., 0., -1., 0., //
                0., 0., 0., 1., //
                0., 0., 0., -1.,
            ],
        );
        set("0.bias", vec![0.0; 4]);
        set("1.weight", vec![w0, -w0, w1, -w1]);
        set("1.bias", vec![0.0]);
    }

    /// With `Q_θ = w·a`, `∇_a log p = w/α − 2a/(1 − a² + ε)` at every particle, by hand: the
    /// gradient reaches the actions through Q with its weights held constant, and Q's own
    /// variables get none.
    #[test]
    fn grad_log_p_of_a_linear_q_is_w_over_alpha_minus_the_squash_term() {
        let alpha = 0.5;
        let cfg = config(&format!(
            "env = \"multigoal\"\n[objective]\nalpha = {alpha}\n[agent]\nalgorithm = \"sql\"\nhidden = [4]"
        ));
        let sql = Sql::new(&cfg, &mut crate::rng::seeded(2)).unwrap();
        let w = [1.3f32, -0.6];
        set_linear_q(&sql, "qf", w);
        let obs = Tensor::new(&[[0.3f32, -1.0], [4.0, 2.0]], &Device::Cpu).unwrap();
        let a = [0.5f32, -0.25, -0.9, 0.1, 0.2, 0.7, -0.4, -0.95];
        let got = sql.grad_log_p(&obs, &a).unwrap();
        for (i, (&g, &a)) in got.iter().zip(&a).enumerate() {
            let (a, w) = (f64::from(a), f64::from(w[i % 2]));
            let expect = w / alpha - 2.0 * a / (1.0 - a * a + SQUASH_EPS);
            assert!(
                (f64::from(g) - expect).abs() < 1e-5 * expect.abs().max(1.0),
                "{i}: {g} vs {expect}"
            );
        }
    }

    /// A target network set to `Q̄ = w·a` ([`set_linear_q`]):
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
        let (w0, w1) = (1.3f32, -0.6f32);
        set_linear_q(&sql, "qf_target", [w0, w1]);
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

    /// With `agent.sampler_ema = β` the average starts as a copy of the denoiser, becomes
    /// `β·φ̄ + (1 − β)·φ` after each sampler step, and is what samples: a sampler without an
    /// average, its denoiser set to the average's weights, draws the same actions from the same
    /// noise.
    #[test]
    fn the_moving_average_of_the_denoiser_samples() {
        let text = |ema: f64| {
            format!(
                "env = \"multigoal\"\n[objective]\nalpha = 1.0\n[agent]\nalgorithm = \"sql\"\nsampler = \"diffusion\"\nhidden = [16]\ndiffusion_steps = 4\nposterior_particles = 8\nsampler_ema = {ema:?}"
            )
        };
        let values = |sql: &Sql, prefix: &str| -> Vec<Vec<f32>> {
            nets::with_prefix(&sql.vars, prefix)
                .iter()
                .map(|(_, v)| v.as_tensor().flatten_all().unwrap().to_vec1().unwrap())
                .collect()
        };
        let beta = 0.75;
        let mut sql = Sql::new(&config(&text(beta)), &mut crate::rng::seeded(0)).unwrap();
        assert_eq!(values(&sql, "sampler."), values(&sql, "sampler_ema."));
        let before = values(&sql, "sampler.");
        let mut rng = crate::rng::seeded(1);
        let obs: Vec<f32> = (0..16).map(|i| i as f32 * 0.5 - 4.0).collect();
        let actions: Vec<f32> = (0..16).map(|i| (i as f32 * 0.37).sin()).collect();
        let targets = Targets::draw(&actions, 2, 8, &mut rng);
        let eps_hat: Vec<f32> = (0..16).map(|i| (i as f32 * 0.11).cos()).collect();
        sql.denoiser_step(&obs, &targets, eps_hat).unwrap();
        let after = values(&sql, "sampler.");
        assert_ne!(before, after, "the step moved the denoiser");
        for ((avg, old), new) in values(&sql, "sampler_ema.").iter().zip(&before).zip(&after) {
            for ((&m, &o), &n) in avg.iter().zip(old).zip(new) {
                let expect = beta * f64::from(o) + (1.0 - beta) * f64::from(n);
                assert!((f64::from(m) - expect).abs() < 1e-6, "{m} vs {expect}");
            }
        }
        // Samplers without an average, their denoisers set to the average and to the trained
        // weights.
        let with_denoiser = |prefix: &str| {
            let plain = Sql::new(&config(&text(0.0)), &mut crate::rng::seeded(0)).unwrap();
            assert!(plain.sampler_ema.is_none());
            for ((_, dst), (_, src)) in nets::with_prefix(&plain.vars, "sampler.")
                .iter()
                .zip(nets::with_prefix(&sql.vars, prefix))
            {
                dst.set(src.as_tensor()).unwrap();
            }
            plain
        };
        let draw = |s: &Sql| s.sample(&obs[..6], 3, &mut crate::rng::seeded(2)).unwrap();
        assert_eq!(draw(&sql), draw(&with_denoiser("sampler_ema.")));
        assert_ne!(draw(&sql), draw(&with_denoiser("sampler.")));
    }

    /// The multigoal_sql sizes (128×128, batch 64, 16 + 32 particles) updated inside a pool of two
    /// threads (the layers' products and the kernel's states split between them) give the same
    /// bits as inside a pool of one: every variable and both losses, over three updates; so do
    /// multigoal_diffusion's (64 posterior draws a row) and multigoal_diffusion_alpha1's (128
    /// draws, 64 anchored, the denoiser's moving average).
    #[test]
    fn updates_on_two_threads_are_the_same_bits_as_on_one() {
        for config in [
            "multigoal_sql",
            "multigoal_diffusion",
            "multigoal_diffusion_alpha1",
        ] {
            updates_on_two_threads_are_the_same_bits_as_on_one_for(config);
        }
    }

    fn updates_on_two_threads_are_the_same_bits_as_on_one_for(config: &str) {
        use rand::Rng as _;
        let path = format!("{}/configs/{config}.toml", env!("CARGO_MANIFEST_DIR"));
        let cfg = Config::load(std::path::Path::new(&path), &[]).unwrap();
        // Three minibatches of 64 made-up transitions: positions and actions uniform on the
        // world's box and the action box, rewards in [−60, 10], one in ten terminated.
        let mut rng = crate::rng::seeded(4);
        let mut uniform = |n: usize, lo: f32, hi: f32| -> Vec<f32> {
            (0..n).map(|_| rng.random_range(lo..hi)).collect()
        };
        let batches: Vec<crate::training::Sampled> = (0..3)
            .map(|_| crate::training::Sampled {
                obs: uniform(128, -7.0, 7.0),
                action: uniform(128, -1.0, 1.0),
                reward: uniform(64, -60.0, 10.0),
                next_obs: uniform(128, -7.0, 7.0),
                terminated: uniform(64, 0.0, 1.0)
                    .into_iter()
                    .map(|u| f32::from(u < 0.1))
                    .collect(),
            })
            .collect();
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let mut rng = crate::rng::seeded(5);
                let mut sql = Sql::new(&cfg, &mut rng).unwrap();
                let mut losses = Vec::new();
                for b in &batches {
                    let l = sql.update(&b.batch(), &mut rng).unwrap();
                    losses.push((l.critic, l.actor));
                }
                let vars: Vec<Vec<f32>> = nets::sorted(&sql.vars)
                    .iter()
                    .map(|(_, v)| v.as_tensor().flatten_all().unwrap().to_vec1().unwrap())
                    .collect();
                (losses, vars)
            })
        };
        let (one, two) = (run(1), run(2));
        assert_eq!(one.0, two.0, "{config}: losses");
        assert!(
            one.1 == two.1,
            "{config}: variables differ between one thread and two"
        );
    }
}
