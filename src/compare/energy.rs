//! Soft Q-learning's side of a comparison. Its policy is the energy-based one,
//! `π_θ(a|s) = exp((Q_θ(s,a) − V_θ(s))/α)`, with `V_θ(s) = α·log Σ_k Δa·exp(Q_θ(s,a_k)/α)` by
//! midpoint quadrature over the solution's action cells `a_k` (cell volume `Δa`): its cell
//! masses are `softmax(Q_θ(s,·)/α)`, on the very cells π* has from the solver. So
//!
//! - `KL(π_θ‖π*) = Σ_k p_k·(log p_k − log p*_k)` exactly over the cells (no sampling), both
//!   logs from their Q by log-softmax (exact where a mass underflows);
//! - `V_learned = V_θ`, which is also `E_{π_θ}[Q_θ − α·log π_θ]`;
//! - its episodes act as the exact policy does: a cell drawn by its mass, the action uniform
//!   within it, density `p_k/Δa`;
//!
//! and the amortized sampler is measured against π_θ by its cell histogram ([`Fidelity`]).

use rand::Rng as _;
use rand::distr::Distribution as _;
use rand::distr::weighted::WeightedIndex;

use super::learned::{
    Against, Fidelity, LearnedPolicy, QUERY_TAG, Query, SAMPLER_DRAWS, observations,
};
use crate::env::Env;
use crate::exact::Solution;
use crate::exact::grid::ActionGrid;
use crate::exact::solution::Lookahead;
use crate::math::{moments, soft_max};
use crate::rng::Rng;
use crate::sql::Sql;
use crate::tanh_gaussian::to_env_action;

/// Rows of one pass of the Q network over states × cells.
const ROWS_PER_PASS: usize = 1 << 15;

/// The most action dimensions in which compare evaluates a diffusion sampler's density (one
/// backward pass per dimension for the exact Jacobian trace, at every cell).
const MAX_DENSITY_DIMS: usize = 3;

/// The cell midpoints on the networks' [-1, 1], `actions.len() × dim` numbers.
fn unit_midpoints(env: &Env, actions: &ActionGrid) -> Vec<f32> {
    let bounds = env.action_bounds();
    actions
        .all()
        .chunks_exact(actions.dim())
        .flat_map(|a| {
            a.iter()
                .zip(&bounds)
                .map(|(x, b)| (2.0 * (x - b.lo) / b.width() - 1.0) as f32)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// `Q_θ(s, a_k)` at every cell midpoint of every state, `states.len() × actions.len()`.
fn q_cells(sql: &Sql, env: &Env, actions: &ActionGrid, states: &[Vec<f64>]) -> Vec<f64> {
    let (k, ad) = (actions.len(), actions.dim());
    let unit = unit_midpoints(env, actions);
    let od = env.obs_dim();
    let mut out = Vec::with_capacity(states.len() * k);
    for chunk in states.chunks((ROWS_PER_PASS / k).max(1)) {
        let obs = observations(env, chunk);
        let obs_rows: Vec<f32> = obs
            .chunks_exact(od)
            .flat_map(|o| o.iter().copied().cycle().take(od * k))
            .collect();
        let act_rows: Vec<f32> = unit
            .iter()
            .copied()
            .cycle()
            .take(chunk.len() * k * ad)
            .collect();
        let q = sql
            .q(&obs_rows, &act_rows, chunk.len() * k)
            .expect("the Q network's shapes are its own");
        out.extend(q.into_iter().map(f64::from));
    }
    out
}

/// `log softmax(q/α)`: the log cell masses of the Boltzmann policy of `q`.
fn log_masses(alpha: f64, q: &[f64]) -> Vec<f64> {
    let v = soft_max(alpha, q);
    q.iter().map(|q| (q - v) / alpha).collect()
}

/// `KL(h‖p) = Σ h_k·log(h_k/p_k)` over cells with `h_k > 0`, `p` given by its logs.
fn kl_of_frequencies(h: &[f64], log_p: &[f64]) -> f64 {
    h.iter()
        .zip(log_p)
        .filter(|(h, _)| **h > 0.0)
        .map(|(h, lp)| h * (h.ln() - lp))
        .sum()
}

/// Cell frequencies of `draws` cells drawn from masses `p`.
fn multinomial(p: &[f64], draws: usize, rng: &mut Rng) -> Vec<f64> {
    let pick = WeightedIndex::new(p).expect("masses are finite, non-negative and not all zero");
    let mut h = vec![0.0; p.len()];
    for _ in 0..draws {
        h[pick.sample(rng)] += 1.0 / draws as f64;
    }
    h
}

/// An action drawn from cell masses `p`: the cell by its mass, the action uniform within it.
/// Returns the action (env units) and the cell.
pub fn draw_from_cells(actions: &ActionGrid, p: &[f64], rng: &mut Rng) -> (Vec<f64>, usize) {
    let u: f64 = rng.random_range(0.0..1.0);
    let mut acc = 0.0;
    let k = p
        .iter()
        .position(|p| {
            acc += p;
            acc >= u
        })
        .unwrap_or(p.len() - 1);
    let mut a = vec![0.0; actions.dim()];
    actions.action(k, &mut a);
    for (i, x) in a.iter_mut().enumerate() {
        let jitter: f64 = rng.random_range(-0.5..0.5);
        *x += jitter * actions.delta(i);
    }
    (a, k)
}

impl LearnedPolicy for Sql {
    fn alpha(&self) -> f64 {
        self.alpha
    }

    fn cell_masses(&mut self, env: &Env, actions: &ActionGrid, states: &[Vec<f64>]) -> Vec<f64> {
        let k = actions.len();
        q_cells(self, env, actions, states)
            .chunks_exact(k)
            .flat_map(|q| log_masses(self.alpha, q).into_iter().map(f64::exp))
            .collect()
    }

    fn against(
        &mut self,
        exact: &Solution,
        state: &[f64],
        lookahead: &Lookahead,
        _samples: usize,
        _rng: &mut Rng,
    ) -> Against {
        let (env, actions, alpha) = (&exact.env, &exact.actions, self.alpha);
        let q = q_cells(self, env, actions, &[state.to_vec()]);
        let log_p = log_masses(alpha, &q);
        let p: Vec<f64> = log_p.iter().map(|l| l.exp()).collect();
        let log_star = log_masses(exact.alpha, &lookahead.q);
        let kl = p
            .iter()
            .zip(log_p.iter().zip(&log_star))
            .map(|(p, (lp, ls))| if *p > 0.0 { p * (lp - ls) } else { 0.0 })
            .sum();
        let (mean, std) = moments(&actions.all(), actions.dim(), Some(&p));
        Against {
            kl,
            v_learned: soft_max(alpha, &q) + alpha * actions.log_cell_volume(),
            mean,
            std,
        }
    }

    fn fidelity(
        &mut self,
        exact: &Solution,
        state: &[f64],
        lookahead: &Lookahead,
        density: bool,
        rng: &mut Rng,
    ) -> Option<Fidelity> {
        let (env, actions) = (&exact.env, &exact.actions);
        let log_p = log_masses(self.alpha, &q_cells(self, env, actions, &[state.to_vec()]));
        let p: Vec<f64> = log_p.iter().map(|l| l.exp()).collect();
        let h = self.sampler_histogram(env, actions, state, rng)?;
        let floor = multinomial(&p, SAMPLER_DRAWS, rng);
        let kl_density =
            (density && self.has_density() && actions.dim() <= MAX_DENSITY_DIMS).then(|| {
                let obs = observations(env, &[state.to_vec()]);
                let log_density = self
                    .log_density(&obs, &unit_midpoints(env, actions))
                    .expect("the denoiser's shapes are its own");
                // Cell masses ∝ the density at the midpoints (the cells are equal).
                let log_mass = log_masses(1.0, &log_density);
                log_mass
                    .iter()
                    .zip(&log_p)
                    .map(|(lm, lp)| lm.exp() * (lm - lp))
                    .sum()
            });
        Some(Fidelity {
            kl_to_policy: kl_of_frequencies(&h, &log_p),
            kl_floor: kl_of_frequencies(&floor, &log_p),
            kl_to_exact: kl_of_frequencies(&h, &log_masses(exact.alpha, &lookahead.q)),
            kl_density,
        })
    }

    fn act(
        &mut self,
        env: &Env,
        actions: &ActionGrid,
        state: &[f64],
        rng: &mut Rng,
    ) -> (Vec<f64>, f64) {
        let p = self.cell_masses(env, actions, &[state.to_vec()]);
        let (a, k) = draw_from_cells(actions, &p, rng);
        (a, p[k].ln() - actions.log_cell_volume())
    }

    fn has_class_projection(&self) -> bool {
        false
    }

    fn has_sampler(&self) -> bool {
        true
    }

    fn sampler_action(&mut self, env: &Env, state: &[f64], rng: &mut Rng) -> Option<Vec<f64>> {
        let unit = self
            .sample(&observations(env, &[state.to_vec()]), 1, rng)
            .expect("the sampler's shapes are its own");
        let mut a = vec![0.0; env.action_dim()];
        to_env_action(&env.action_bounds(), &unit, &mut a);
        Some(a)
    }

    fn sampler_histogram(
        &mut self,
        env: &Env,
        actions: &ActionGrid,
        state: &[f64],
        rng: &mut Rng,
    ) -> Option<Vec<f64>> {
        let (ad, n) = (env.action_dim(), SAMPLER_DRAWS);
        let obs: Vec<f32> = observations(env, &[state.to_vec()])
            .into_iter()
            .cycle()
            .take(env.obs_dim() * n)
            .collect();
        let unit = self
            .sample(&obs, n, rng)
            .expect("the sampler's shapes are its own");
        let bounds = env.action_bounds();
        let mut h = vec![0.0; actions.len()];
        let mut a = vec![0.0; ad];
        for u in unit.chunks_exact(ad) {
            to_env_action(&bounds, u, &mut a);
            h[actions.cell_of(&a)] += 1.0 / n as f64;
        }
        Some(h)
    }
}

/// SQL's answer to `query`, by `samples` actions uniform on the box: `V_θ(s) = α·log(|A|·(1/M)·
/// Σ_j exp(Q_θ(s,a_j)/α))` (the training's estimator, with many particles), `π_θ`'s mean and
/// standard deviation by the same particles self-normalized (weights `∝ exp(Q_θ/α)`), and the
/// sampler's from as many draws.
pub fn query(sql: &Sql, env: &Env, state: &[f64], samples: usize, seed: u64) -> Query {
    let mut rng = crate::rng::derived(seed, QUERY_TAG, 3);
    let (ad, bounds) = (env.action_dim(), env.action_bounds());
    let unit: Vec<f32> = (0..samples * ad)
        .map(|_| rng.random_range(-1.0f32..=1.0))
        .collect();
    let obs: Vec<f32> = observations(env, &[state.to_vec()])
        .into_iter()
        .cycle()
        .take(env.obs_dim() * samples)
        .collect();
    let q: Vec<f64> = sql
        .q(&obs, &unit, samples)
        .expect("the Q network's shapes are its own")
        .into_iter()
        .map(f64::from)
        .collect();
    let alpha = sql.alpha;
    let weights: Vec<f64> = log_masses(alpha, &q).into_iter().map(f64::exp).collect();
    let to_env = |unit: &[f32]| {
        let mut out = vec![0.0; unit.len()];
        for (o, u) in out.chunks_exact_mut(ad).zip(unit.chunks_exact(ad)) {
            to_env_action(&bounds, u, o);
        }
        out
    };
    let (policy_mean, policy_std) = moments(&to_env(&unit), ad, Some(&weights));
    let drawn = sql
        .sample(&obs, samples, &mut rng)
        .expect("the sampler's shapes are its own");
    let (sampler_mean, sampler_std) = moments(&to_env(&drawn), ad, None);
    Query {
        v: soft_max(alpha, &q) + alpha * (sql.log_volume - (samples as f64).ln()),
        policy_mean,
        policy_std,
        alpha,
        sampler_mean: Some(sampler_mean),
        sampler_std: Some(sampler_std),
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor};

    use super::*;
    use crate::config::Config;
    use crate::sql::nets;

    /// The multi-goal world (action box [-1, 1]², |A| = 4) at α = 2, solved on a small grid with
    /// `cells × cells` action cells, and its config with a tiny SQL agent.
    fn multigoal(cells: usize) -> (Config, Solution) {
        let text = format!(
            "env = \"multigoal\"\n[objective]\nalpha = 2.0\n[agent]\nalgorithm = \"sql\"\n\
             hidden = [4]\n[solver]\nstates = [15, 15]\nactions = [{cells}, {cells}]"
        );
        let config =
            Config::from_table(toml::from_str(&text).unwrap(), "test", None, None, &[]).unwrap();
        let (solution, _) = Solution::solve(&config, |_, _| {}).unwrap();
        (config, solution)
    }

    /// An SQL agent whose variables are all zero but those `set` names, filled with its value.
    fn agent(config: &Config, set: &[(&str, &[f32])]) -> Sql {
        let sql = Sql::new(config, &mut crate::rng::seeded(0)).unwrap();
        for (name, var) in nets::sorted(&sql.vars) {
            let mut values = vec![0.0f32; var.elem_count()];
            if let Some((_, v)) = set.iter().find(|(n, _)| *n == name) {
                values[..v.len()].copy_from_slice(v);
            }
            var.set(&Tensor::from_vec(values, var.dims(), &Device::Cpu).unwrap())
                .unwrap();
        }
        sql
    }

    /// `Q_θ ≡ c`: π_θ is uniform on the cells, `V_θ = c + α·log|A|`, `KL(π_θ‖π*) =
    /// −log K − (1/K)·Σ_k log p*_k`, its moments those of the midpoints, its episode actions have
    /// density `1/|A|`; a sampler that always answers `tanh(b)` has a one-cell histogram, so
    /// `KL(h‖π_θ) = log K` and `KL(h‖π*) = −log p*` of that cell.
    #[test]
    fn a_constant_q_gives_the_uniform_policy_and_its_closed_forms() {
        let cells = 5;
        let (config, exact) = multigoal(cells);
        let (alpha, k, c) = (2.0, (cells * cells) as f64, 3.0);
        let mut sql = agent(
            &config,
            &[("qf.1.bias", &[3.0]), ("sampler.1.bias", &[0.3, -0.6])],
        );
        let states = [vec![0.0, 0.0], vec![2.0, -1.5]];
        let masses = sql.cell_masses(&exact.env, &exact.actions, &states);
        assert!(
            masses.iter().all(|p| (p - 1.0 / k).abs() < 1e-12),
            "{masses:?}"
        );
        let mut rng = crate::rng::seeded(1);
        for s in &states {
            let l = exact.lookahead(s);
            let d = sql.against(&exact, s, &l, 0, &mut rng);
            let mean_log_star = l.probabilities.iter().map(|p| p.ln()).sum::<f64>() / k;
            assert!((d.kl - (-k.ln() - mean_log_star)).abs() < 1e-9, "{}", d.kl);
            assert!(d.kl > 0.01, "π* is not uniform here: {}", d.kl);
            assert!((d.v_learned - (c + alpha * 4f64.ln())).abs() < 1e-9);
            let n = cells as f64;
            let std = ((1.0 - 1.0 / (n * n)) / 3.0).sqrt();
            for i in 0..2 {
                assert!(d.mean[i].abs() < 1e-12 && (d.std[i] - std).abs() < 1e-12);
            }
            let f = sql.fidelity(&exact, s, &l, true, &mut rng).unwrap();
            let mut a = [0.0; 2];
            to_env_action(
                &config.env.action_bounds(),
                &[0.3f32.tanh(), (-0.6f32).tanh()],
                &mut a,
            );
            let cell = exact.actions.cell_of(&a);
            assert_eq!(
                cell,
                3 * cells + 1,
                "tanh 0.3 = 0.29 in cell 3, tanh −0.6 = −0.54 in cell 1"
            );
            assert!((f.kl_to_policy - k.ln()).abs() < 1e-9, "{}", f.kl_to_policy);
            assert!((f.kl_to_exact + l.probabilities[cell].ln()).abs() < 1e-9);
            // A histogram of n draws from K cells sits ≈ (K − 1)/(2n) nats from its source.
            let floor = (k - 1.0) / (2.0 * SAMPLER_DRAWS as f64);
            assert!(
                f.kl_floor > 0.3 * floor && f.kl_floor < 3.0 * floor,
                "{}",
                f.kl_floor
            );
            let (a, log_pi) = sql.act(&exact.env, &exact.actions, s, &mut rng);
            assert!((log_pi + 4f64.ln()).abs() < 1e-12);
            assert!(a.iter().all(|x| x.abs() <= 1.0));
        }
    }

    /// `Q_θ(s, a) = β·(a₀ + 2) + c` on the networks' [-1, 1] (one ReLU unit reading a₀ with bias
    /// 2, so it stays linear): over the cells π_θ is `softmax(β·u_k/α)` in the first dimension and
    /// uniform in the second; `query` estimates `V = c + 2β + α·log(2·(α/β)·2 sinh(β/α))` and
    /// `E[a₀] = coth(β/α) − α/β` by 4096 uniform particles.
    #[test]
    fn a_linear_q_gives_its_boltzmann_masses_and_query_its_closed_forms() {
        let cells = 7;
        let (config, exact) = multigoal(cells);
        let (alpha, beta, c) = (2.0, 2.0, -1.0);
        // qf.0.weight is [4, obs 2 + action 2]: unit 0 reads a₀ (input 2).
        let sql = agent(
            &config,
            &[
                ("qf.0.weight", &[0.0, 0.0, 1.0, 0.0]),
                ("qf.0.bias", &[2.0]),
                ("qf.1.weight", &[2.0]),
                ("qf.1.bias", &[-1.0]),
            ],
        );
        let mut sql = sql;
        let masses = sql.cell_masses(&exact.env, &exact.actions, &[vec![1.0, 2.0]]);
        let u: Vec<f64> = (0..cells)
            .map(|i| -1.0 + (i as f64 + 0.5) * 2.0 / cells as f64)
            .collect();
        let z: f64 = u.iter().map(|u| (beta * u / alpha).exp()).sum();
        for (kk, p) in masses.iter().enumerate() {
            let expect = (beta * u[kk / cells] / alpha).exp() / z / cells as f64;
            assert!((p - expect).abs() < 1e-7, "cell {kk}: {p} vs {expect}");
        }
        let q = query(&sql, &exact.env, &[1.0, 2.0], 4096, 0);
        let r = beta / alpha;
        let v = c + 2.0 * beta + alpha * (2.0 * (alpha / beta) * 2.0 * r.sinh()).ln();
        // The weights e^{u} on U[-1, 1] have a coefficient of variation 0.56: 0.0087 over 4096.
        assert!((q.v - v).abs() < 4.0 * alpha * 0.0087, "{} vs {v}", q.v);
        let mean0 = 1.0 / r.tanh() - 1.0 / r;
        assert!(
            (q.policy_mean[0] - mean0).abs() < 0.03,
            "{:?}",
            q.policy_mean
        );
        assert!(q.policy_mean[1].abs() < 0.03, "{:?}", q.policy_mean);
        // Zero sampler weights: every draw is tanh(0) = 0.
        assert_eq!(q.sampler_mean, Some(vec![0.0, 0.0]));
        assert_eq!(q.sampler_std, Some(vec![0.0, 0.0]));
    }
}
