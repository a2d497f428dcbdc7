//! The SAC update written plainly with candle's autograd: the reference that the fused update of
//! `maxent::sac` is tested against (same order, same losses, same parameter names). Soft
//! actor-critic (Haarnoja et al. 2018), in the order Stable-Baselines3's `SAC.train` runs it
//! (temperature, critics, actor, Polyak), with CleanRL's temperature loss on α.

use candle_core::{Device, Result, Tensor, Var};

use super::nets::{Actor, Params, TwinCritic, normal};
use candle_nn::Optimizer as _;
use maxent::config::{Config, TargetEntropy};
use maxent::objective::Temperature;
use maxent::rng::Rng;
use maxent::sql::adam::Adam;
use maxent::training::Losses;

/// A minibatch as tensors.
pub struct Batch {
    pub obs: Tensor,
    pub action: Tensor,
    pub reward: Tensor,
    pub next_obs: Tensor,
    pub terminated: Tensor,
}

impl Batch {
    pub fn from_flat(b: &maxent::training::Batch, obs_dim: usize, act_dim: usize) -> Result<Batch> {
        let n = b.reward.len();
        let dev = &Device::Cpu;
        Ok(Batch {
            obs: Tensor::from_slice(b.obs, (n, obs_dim), dev)?,
            action: Tensor::from_slice(b.action, (n, act_dim), dev)?,
            reward: Tensor::from_slice(b.reward, n, dev)?,
            next_obs: Tensor::from_slice(b.next_obs, (n, obs_dim), dev)?,
            terminated: Tensor::from_slice(b.terminated, n, dev)?,
        })
    }
}

/// The agent: networks, target critics, temperature and their optimizers.
#[derive(Debug, Clone)]
pub struct Sac {
    pub params: Params,
    pub actor: Actor,
    pub critic: TwinCritic,
    pub target: TwinCritic,
    /// `log α`; trained only when α is learned.
    pub log_alpha: Var,
    pub actor_opt: Adam,
    pub critic_opt: Adam,
    pub alpha_opt: Option<Adam>,
    pub gamma: f64,
    pub tau: f64,
    /// In nats, env action units.
    pub target_entropy: f64,
    pub act_dim: usize,
}

impl Sac {
    /// Fresh networks, initialized from `rng`; target critics start as copies of the critics.
    pub fn new(config: &Config, rng: &mut Rng) -> Result<Sac> {
        let env = &config.env;
        let (od, ad) = (env.obs_dim(), env.action_dim());
        let log_scale = env.log_action_scale();
        let a = &config.agent;
        let mut params = Params::default();
        let actor = Actor::new(&mut params, rng, od, ad, &a.hidden, log_scale)?;
        let critic = TwinCritic::new(&mut params, rng, "critic", od, ad, &a.hidden)?;
        let mut target = critic.clone();
        for (i, (q, t)) in critic.q.iter().zip(target.q.iter_mut()).enumerate() {
            for (j, (l, tl)) in q.layers.iter().zip(t.layers.iter_mut()).enumerate() {
                tl.weight = Var::from_tensor(&l.weight.as_tensor().copy()?)?;
                tl.bias = Var::from_tensor(&l.bias.as_tensor().copy()?)?;
                params
                    .vars
                    .insert(format!("critic_target.{i}.{j}.weight"), tl.weight.clone());
                params
                    .vars
                    .insert(format!("critic_target.{i}.{j}.bias"), tl.bias.clone());
            }
        }
        let keys = a.sac();
        let (alpha0, learned) = match config.objective.temperature {
            Temperature::Fixed(alpha) => (alpha, false),
            Temperature::Auto => (keys.init_alpha, true),
        };
        let log_alpha = Var::from_tensor(&Tensor::new(alpha0.ln() as f32, &Device::Cpu)?)?;
        params.vars.insert("log_alpha".into(), log_alpha.clone());
        let target_entropy = match keys.target_entropy {
            TargetEntropy::Auto => -(ad as f64) + log_scale,
            TargetEntropy::Nats(h) => h,
        };
        Ok(Sac {
            actor_opt: Adam::named(params.with_prefix("actor."), a.actor_lr)?,
            critic_opt: Adam::named(params.with_prefix("critic."), a.critic_lr)?,
            alpha_opt: learned
                .then(|| Adam::named(params.with_prefix("log_alpha"), keys.alpha_lr))
                .transpose()?,
            params,
            actor,
            critic,
            target,
            log_alpha,
            gamma: config.objective.gamma,
            tau: keys.tau,
            target_entropy,
            act_dim: ad,
        })
    }

    pub fn alpha(&self) -> Result<f64> {
        Ok(f64::from(self.log_alpha.as_tensor().to_scalar::<f32>()?).exp())
    }

    /// One gradient step of every part on a minibatch; `rng` draws the policy noise.
    pub fn update(&mut self, b: &Batch, rng: &mut Rng) -> Result<Losses> {
        let n = b.reward.dims1()?;
        let eps = normal(rng, n, self.act_dim)?;
        let eps_next = normal(rng, n, self.act_dim)?;
        let alpha = self.alpha()?; // this step's α: the value before the temperature update
        let pi = self.actor.sample(&b.obs, &eps)?;

        // Temperature: J(α) = E[−α·(log π(a|s) + H̄)], a ~ π, gradient through log α only.
        let mut alpha_loss = 0.0;
        if let Some(opt) = &mut self.alpha_opt {
            let gap = (pi.log_prob.detach() + self.target_entropy)?;
            let loss = (self
                .log_alpha
                .as_tensor()
                .exp()?
                .broadcast_mul(&gap)?
                .mean_all()?
                * -1.0)?;
            opt.step(&loss.backward()?)?;
            alpha_loss = f64::from(loss.to_scalar::<f32>()?);
        }

        // Critics: y = r + γ·(1 − terminated)·(min_j Q̄_j(s', a') − α·log π(a'|s')), a' ~ π(·|s').
        let next = self.actor.sample(&b.next_obs, &eps_next)?;
        let min_q_next = self.target.min(&b.next_obs, &next.action)?;
        let y = soft_target(
            &b.reward,
            &b.terminated,
            &min_q_next,
            &next.log_prob,
            alpha,
            self.gamma,
        )?
        .detach();
        let [q1, q2] = self.critic.forward(&b.obs, &b.action)?;
        let critic_loss = (((q1 - &y)?.sqr()?.mean_all()? + (q2 - &y)?.sqr()?.mean_all()?)? * 0.5)?;
        self.critic_opt.step(&critic_loss.backward()?)?;

        // Actor: J(π) = E[α·log π(a|s) − min_j Q_j(s, a)], a = tanh(μ + σ·ε) reparameterized,
        // through the critics just updated. Only the actor's variables are stepped.
        let q_pi = self.critic.min(&b.obs, &pi.action)?;
        let actor_loss = ((&pi.log_prob * alpha)? - q_pi)?.mean_all()?;
        self.actor_opt.step(&actor_loss.backward()?)?;

        // Polyak: Q̄ ← τ·Q + (1 − τ)·Q̄.
        for (q, t) in self.critic.q.iter().zip(&self.target.q) {
            for (l, tl) in q.layers.iter().zip(&t.layers) {
                for (src, dst) in [(&l.weight, &tl.weight), (&l.bias, &tl.bias)] {
                    dst.set(
                        &((src.as_tensor() * self.tau)? + (dst.as_tensor() * (1.0 - self.tau))?)?,
                    )?;
                }
            }
        }

        Ok(Losses {
            critic: f64::from(critic_loss.to_scalar::<f32>()?),
            actor: f64::from(actor_loss.to_scalar::<f32>()?),
            alpha: alpha_loss,
            entropy: Some(-f64::from(pi.log_prob.mean_all()?.to_scalar::<f32>()?)),
        })
    }
}

/// The critics' regression target, `y = r + γ·(1 − terminated)·(min_j Q̄_j(s', a') − α·log π(a'|s'))`:
/// a terminated transition does not bootstrap; a truncated one does (it is not in this formula).
pub fn soft_target(
    reward: &Tensor,
    terminated: &Tensor,
    min_q_next: &Tensor,
    log_prob_next: &Tensor,
    alpha: f64,
    gamma: f64,
) -> Result<Tensor> {
    let soft_next = (min_q_next - (log_prob_next * alpha)?)?;
    let not_done = terminated.affine(-1.0, 1.0)?;
    reward + (not_done.mul(&soft_next)? * gamma)?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(v: &[f32]) -> Tensor {
        Tensor::new(v, &Device::Cpu).unwrap()
    }

    #[test]
    fn target_bootstraps_unless_terminated() {
        // r = [1, 2], terminated = [0, 1], min Q̄ = [10, 10], log π = [−1, −1], α = 0.5, γ = 0.9:
        // y = [1 + 0.9·(10 + 0.5), 2]
        let y = soft_target(
            &t(&[1.0, 2.0]),
            &t(&[0.0, 1.0]),
            &t(&[10.0, 10.0]),
            &t(&[-1.0, -1.0]),
            0.5,
            0.9,
        )
        .unwrap();
        let y = y.to_vec1::<f32>().unwrap();
        assert!(
            (y[0] - 10.45).abs() < 1e-5 && (y[1] - 2.0).abs() < 1e-6,
            "{y:?}"
        );
    }
}
