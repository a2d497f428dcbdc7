//! The exact solver against closed forms, brute force and its own Bellman residual (DESIGN §2's
//! verification ladder). Each test states the closed form it checks.

use maxent::Config;
use maxent::exact::{SoftBellman, Solution, TabularMdp};
use maxent::objective::{ActionPrior, Backup};

/// A config from TOML text (`env` inline or by name), solved.
fn config(text: &str) -> Config {
    let table: toml::Table = toml::from_str(text).unwrap();
    Config::from_table(table, "test", None, None, &[]).unwrap_or_else(|e| panic!("{e}"))
}

fn solve(text: &str) -> Solution {
    Solution::solve(&config(text), |_, _| {}).unwrap().0
}

/// `V(0)` of a one-step problem on a 1-D point mass whose next position is the action itself
/// (`x' = 0 + u`), so the reward is a function of the action alone.
fn bandit(k_cells: usize, alpha: f64, reward: &str) -> f64 {
    let s = solve(&format!(
        "[objective]\nalpha = {alpha}\nhorizon = 1\ngamma = 1.0\n[solver]\nstates = [41]\nactions = [{k_cells}]\n\
         [env]\nkind = \"point_mass\"\ndt = 1.0\nmax_action = 1.0\nbound = 10.0\n[env.reward]\n{reward}"
    ));
    s.lookahead(&[0.0]).v
}

fn erf(x: f64) -> f64 {
    libm::erf(x)
}

#[test]
fn bandit_quadratic_reward_matches_the_erf_form() {
    // r = −k(a − a₀)² on [−1, 1]:  V = α·log( √(πα/k)/2 · [erf(√(k/α)(1 − a₀)) − erf(√(k/α)(−1 − a₀))] )
    let (k, a0, alpha): (f64, f64, f64) = (3.0, 0.4, 0.7);
    let c = (k / alpha).sqrt();
    let exact = alpha
        * ((std::f64::consts::PI * alpha / k).sqrt() / 2.0
            * (erf(c * (1.0 - a0)) - erf(c * (-1.0 - a0))))
        .ln();
    let reward = format!("position_cost = {k}\ntargets = [[{a0}]]");
    let errors: Vec<f64> = [5, 20, 80]
        .iter()
        .map(|&kc| ((bandit(kc, alpha, &reward) - exact) / exact).abs())
        .collect();
    eprintln!("quadratic bandit: V = {exact:.6}, relative errors {errors:?}");
    // The midpoint rule is second order: each 4× refinement cuts the error ~16×.
    assert!(
        errors[0] > 10.0 * errors[1] && errors[1] > 10.0 * errors[2],
        "{errors:?}"
    );
    assert!(errors[2] < 5e-4, "{errors:?}");
}

#[test]
fn bandit_linear_reward_matches_the_sinh_form() {
    // position_cost p, action_cost −p, target t:  r = −p(u − t)² + p·u² = 2pt·u − pt² = b·a + C.
    // V = C + α·log(2α·sinh(b/α)/b)
    let (p, t, alpha): (f64, f64, f64) = (0.25, 3.0, 0.5);
    let (b, c) = (2.0 * p * t, -p * t * t);
    let exact = c + alpha * (2.0 * alpha * (b / alpha).sinh() / b).ln();
    let reward = format!(
        "position_cost = {p}\naction_cost = {}\ntargets = [[{t}]]",
        -p
    );
    let errors: Vec<f64> = [5, 20, 80]
        .iter()
        .map(|&kc| ((bandit(kc, alpha, &reward) - exact) / exact).abs())
        .collect();
    eprintln!("linear bandit: V = {exact:.6}, relative errors {errors:?}");
    // The midpoint rule is second order: each 4× refinement cuts the error ~16×.
    assert!(
        errors[0] > 10.0 * errors[1] && errors[1] > 10.0 * errors[2],
        "{errors:?}"
    );
    assert!(errors[2] < 5e-4, "{errors:?}");
}

#[test]
fn bandit_constant_reward_is_c_plus_alpha_log_width() {
    // The pendulum without action cost: r = −(θ² + 0.1·θ̇²) = C whatever the torque, on [−1, 1]:
    // V = C + α·log 2, exactly for every K (and α·log 2 less under the uniform prior).
    for (prior, shift) in [("lebesgue", 0.3 * 2f64.ln()), ("uniform", 0.0)] {
        let table: toml::Table = toml::from_str(&format!(
            "env = \"pendulum\"\n[objective]\nalpha = 0.3\nhorizon = 1\ngamma = 1.0\naction_prior = \"{prior}\"\n\
             [solver]\nstates = [8, 5]\nactions = [7]"
        ))
        .unwrap();
        let sets = [
            "env.max_torque=1.0".to_string(),
            "env.reward.action_cost=0.0".to_string(),
        ];
        let cfg = Config::from_table(table, "test", None, None, &sets).unwrap();
        let s = Solution::solve(&cfg, |_, _| {}).unwrap().0;
        let (theta, theta_dot): (f64, f64) = (0.7, -1.5);
        let c = -(theta * theta + 0.1 * theta_dot * theta_dot);
        let v = s.lookahead(&[theta, theta_dot]).v;
        assert!(
            (v - (c + shift)).abs() < 1e-12,
            "{prior}: {v} vs {}",
            c + shift
        );
    }
}

/// The soft LQR closed form of DESIGN §2 for `x' = x + b·u + w`, `w ~ N(0, σ²)`,
/// `r = −(q·x'² + ρ·u²)`: `V(x) = −p·x² − c`, `π*(u|x) = N(−(p̃b/h)·x, α/(2h))`.
struct SoftLqr {
    p: f64,
    c: f64,
    gain: f64,
    std: f64,
}

fn soft_lqr(b: f64, q: f64, rho: f64, sigma: f64, gamma: f64, alpha: f64) -> SoftLqr {
    let mut p = 0.0;
    for _ in 0..10_000 {
        let pt = q + gamma * p;
        let h = rho + pt * b * b;
        p = pt - pt * pt * b * b / h;
    }
    let pt = q + gamma * p;
    let h = rho + pt * b * b;
    let c = (pt * sigma * sigma - alpha / 2.0 * (std::f64::consts::PI * alpha / h).ln())
        / (1.0 - gamma);
    SoftLqr {
        p,
        c,
        gain: pt * b / h,
        std: (alpha / (2.0 * h)).sqrt(),
    }
}

/// The solver's V, policy mean and policy std at `xs` against the closed form, each within 1%
/// (the mean within 1% of max(|mean|, std)).
fn assert_matches_soft_lqr(text: &str, lqr: &SoftLqr, xs: &[f64]) {
    let s = solve(text);
    eprintln!(
        "closed form: p = {:.6}, c = {:.6}, gain = {:.6}, std = {:.6}",
        lqr.p, lqr.c, lqr.gain, lqr.std
    );
    for &x in xs {
        let l = s.lookahead(&[x]);
        let v = -lqr.p * x * x - lqr.c;
        let mean = -lqr.gain * x;
        eprintln!(
            "x = {x:5.2}: V {:.5} vs {v:.5} ({:.2e} rel), mean {:.5} vs {mean:.5}, std {:.5} vs {:.5}",
            l.v,
            ((l.v - v) / v).abs(),
            l.policy_mean[0],
            l.policy_std[0],
            lqr.std
        );
        assert!(((l.v - v) / v).abs() < 0.01, "V({x}) = {} vs {v}", l.v);
        assert!(
            (l.policy_mean[0] - mean).abs() < 0.01 * lqr.std.max(mean.abs()),
            "mean at {x}: {} vs {mean}",
            l.policy_mean[0]
        );
        assert!(
            ((l.policy_std[0] - lqr.std) / lqr.std).abs() < 0.01,
            "std at {x}: {} vs {}",
            l.policy_std[0],
            lqr.std
        );
    }
}

#[test]
fn soft_lqr_matches_the_riccati_closed_form() {
    let (gamma, alpha) = (0.9, 0.2);
    let text = format!(
        "env = \"point_mass_lqr\"\n[objective]\ngamma = {gamma}\nalpha = {alpha}\n[solver]\nstates = [401]\nactions = [161]\ntolerance = 1e-9"
    );
    // envs/point_mass_lqr.toml: b = dt = 0.5, q = 1, ρ = 0.5, σ = 0.1; bounds ±10 (x), ±8 (u).
    let lqr = soft_lqr(0.5, 1.0, 0.5, 0.1, gamma, alpha);
    assert_matches_soft_lqr(&text, &lqr, &[-3.0, -1.5, -0.5, 0.0, 0.7, 2.0, 3.0]);
}

/// The same closed form at other gains, costs, noise, discounts and temperatures (an inline
/// env), so that no constant of the default LQR world hides in the agreement.
#[test]
fn soft_lqr_matches_the_closed_form_at_other_parameters() {
    // (b, q, ρ, σ, γ, α, action bound): bounds wide enough not to bind at the states checked,
    // and action cells fine beside the policy's std.
    let cases = [
        (0.2, 2.0, 0.1, 0.3, 0.95, 1.0, 20.0),
        (1.0, 0.5, 2.0, 0.05, 0.8, 0.05, 3.0),
    ];
    for (b, q, rho, sigma, gamma, alpha, max_action) in cases {
        let text = format!(
            "[objective]\ngamma = {gamma}\nalpha = {alpha}\n[solver]\nstates = [401]\nactions = [161]\ntolerance = 1e-9\n\
             [env]\nkind = \"point_mass\"\ndims = 1\ndynamics = \"velocity\"\ndt = {b}\nmax_action = {max_action}\nbound = 10.0\n\
             noise_std = {sigma}\n[env.reward]\nposition_cost = {q}\naction_cost = {rho}\ntargets = [[0.0]]\n\
             goal_radius = 0.0\ngoal_reward = 0.0"
        );
        eprintln!("b = {b}, q = {q}, ρ = {rho}, σ = {sigma}, γ = {gamma}, α = {alpha}");
        let lqr = soft_lqr(b, q, rho, sigma, gamma, alpha);
        assert_matches_soft_lqr(&text, &lqr, &[-2.0, -0.8, 0.0, 0.5, 1.5]);
    }
}

/// A pair of the chain: its reward, terminal probability and `(next state, probability)` list.
type Pair = (f64, f64, &'static [(u32, f64)]);

/// A 3-state, 2-action chain with stochastic, partly absorbing transitions.
const CHAIN: [Pair; 6] = [
    (0.5, 0.0, &[(0, 0.3), (1, 0.7)]),
    (-1.0, 0.0, &[(2, 1.0)]),
    (0.0, 0.2, &[(0, 0.5), (2, 0.3)]),
    (1.5, 0.0, &[(1, 0.6), (2, 0.4)]),
    (-0.5, 0.5, &[(0, 0.5)]),
    (2.0, 0.0, &[(0, 0.1), (1, 0.1), (2, 0.8)]),
];

fn chain() -> TabularMdp {
    let mut mdp = TabularMdp::new(2, 0.0);
    for (r, term, row) in CHAIN {
        let nodes: Vec<[(u32, f64); 1]> = row.iter().map(|&(j, _)| [(j, 1.0)]).collect();
        let outcomes = row.iter().zip(&nodes).map(|(&(_, p), n)| (p, &n[..]));
        let terminal = (term > 0.0).then_some((term, &[][..]));
        mdp.push_pair(r, outcomes.chain(terminal));
    }
    mdp
}

/// `β_t(s) = Σ over all trajectories from s of p(τ)·exp(Σ r)`, with actions uniform
/// (`p(a|s) = 1/2`), absorbing transitions ending the sum, and `T − t` steps left.
fn brute_force_message(s: usize, steps_left: usize) -> f64 {
    if steps_left == 0 {
        return 1.0;
    }
    let mut total = 0.0;
    for a in 0..2 {
        let (reward, terminal, row) = CHAIN[s * 2 + a];
        let mut future = terminal; // absorbed: nothing more, exp(0) = 1
        for &(j, p) in row {
            future += p * brute_force_message(j as usize, steps_left - 1);
        }
        total += 0.5 * reward.exp() * future;
    }
    total
}

#[test]
fn inference_backup_is_the_textbook_backward_message() {
    // α = 1, γ = 1, horizon T, uniform prior, inference backup: exp(V_t(s)) = β_t(s) = p(o_{t:T}|s).
    let mdp = chain();
    let horizon = 4;
    let bellman = SoftBellman::new(&mdp, 1.0, 1.0, Backup::Inference, ActionPrior::Uniform);
    let (values, stats) = bellman.solve_finite(horizon, |_, _| {});
    assert_eq!(values.len(), horizon);
    assert_eq!(stats.iterations, horizon);
    for (t, v) in values.iter().enumerate() {
        for (s, v) in v.iter().enumerate().take(3) {
            let beta = brute_force_message(s, horizon - t);
            assert!(
                (v.exp() - beta).abs() < 1e-12 * beta,
                "t={t} s={s}: exp V = {} vs β = {beta}",
                v.exp()
            );
        }
    }
}

#[test]
fn newton_agrees_with_plain_value_iteration() {
    // The discounted fixed point by Newton steps equals the one by repeated sweeps V ← TV.
    for backup in [Backup::Maxent, Backup::Inference] {
        let mdp = chain();
        let bellman = SoftBellman::new(&mdp, 0.95, 0.7, backup, ActionPrior::Lebesgue);
        let (v, stats) = bellman.solve_discounted(1e-12, 100, |_, _| {});
        assert!(stats.converged && stats.iterations < 20, "{stats:?}");
        let mut w = vec![0.0; 3];
        let mut out = vec![0.0; 3];
        for _ in 0..2000 {
            bellman.sweep(&w, &w, &mut out);
            std::mem::swap(&mut w, &mut out);
        }
        for s in 0..3 {
            assert!(
                (v[s] - w[s]).abs() < 1e-10,
                "{backup:?} s={s}: {} vs {}",
                v[s],
                w[s]
            );
        }
    }
}

fn noisy(backup: &str) -> Solution {
    solve(&format!(
        "env = \"point_mass_noisy\"\n[objective]\ngamma = 0.99\nalpha = 0.3\nbackup = \"{backup}\"\n[solver]\nstates = [241]\nactions = [41]\ntolerance = 1e-9"
    ))
}

#[test]
fn backups_coincide_on_deterministic_dynamics() {
    for env in ["pendulum", "multigoal"] {
        let text = |b: &str| {
            format!(
                "env = \"{env}\"\n[objective]\nalpha = 0.5\nbackup = \"{b}\"\n[solver]\nstates = [31, 31]\nactions = [{}]\ntolerance = 1e-9",
                if env == "multigoal" { "7, 7" } else { "11" }
            )
        };
        let (m, i) = (solve(&text("maxent")), solve(&text("inference")));
        let diff = m
            .v0()
            .iter()
            .zip(i.v0())
            .fold(0.0f64, |d, (a, b)| d.max((a - b).abs()));
        assert!(diff < 1e-7, "{env}: maxent and inference differ by {diff}");
    }
}

#[test]
fn inference_is_optimistic_on_noisy_dynamics_and_its_policy_earns_less() {
    let (maxent, inference) = (noisy("maxent"), noisy("inference"));
    let mdp = maxent.mdp();
    let truth = maxent.bellman(&mdp); // the real (expected-value) dynamics
    let pi_maxent = truth.policy(maxent.v0());
    let pi_inference = inference.bellman(&mdp).policy(inference.v0());
    let v_of_maxent = truth.evaluate(&pi_maxent, 1e-10).unwrap();
    let v_of_inference = truth.evaluate(&pi_inference, 1e-10).unwrap();
    let start = maxent.grid.len() / 2; // x = 0
    for s in 0..mdp.n_states {
        // Soft policy evaluation of the optimal policy gives back V*.
        assert!((v_of_maxent[s] - maxent.v0()[s]).abs() < 1e-6, "s={s}");
        // Optimism: α·log E exp(V'/α) ≥ E V' (Jensen), so V_inference ≥ V_maxent.
        assert!(inference.v0()[s] >= maxent.v0()[s] - 1e-9, "s={s}");
        // No policy beats the maxent optimum under the real dynamics.
        assert!(v_of_inference[s] <= maxent.v0()[s] + 1e-6, "s={s}");
    }
    let (m, i) = (maxent.lookahead(&[0.0]), inference.lookahead(&[0.0]));
    eprintln!(
        "x = 0: V* {:.4}, V_inference {:.4}, true soft value of the inference policy {:.4}; policy means {:.3} vs {:.3}",
        maxent.v0()[start],
        inference.v0()[start],
        v_of_inference[start],
        m.policy_mean[0],
        i.policy_mean[0]
    );
    assert!(maxent.v0()[start] - v_of_inference[start] > 0.05);
    assert!(
        (m.policy_mean[0] - i.policy_mean[0]).abs() > 0.1,
        "the two policies should differ visibly"
    );
}

#[test]
fn pendulum_values_converge_under_grid_refinement() {
    let v_at = |n: usize| {
        let s = solve(&format!(
            "env = \"pendulum\"\n[objective]\nalpha = 0.5\n[solver]\nstates = [{n}, {n}]\nactions = [21]\ntolerance = 1e-8"
        ));
        [[0.0, 0.0], [1.0, 0.0], [3.0, 1.0], [-2.0, -4.0]].map(|x| s.lookahead(&x).v)
    };
    let (v51, v101, v201) = (v_at(51), v_at(101), v_at(201));
    eprintln!("V at 51², 101², 201²: {v51:?} {v101:?} {v201:?}");
    for i in 0..4 {
        let (d1, d2) = ((v51[i] - v101[i]).abs(), (v101[i] - v201[i]).abs());
        assert!(
            d2 < d1,
            "state {i}: |V101 − V201| = {d2} not below |V51 − V101| = {d1}"
        );
    }
}

#[test]
fn saved_solutions_load_bit_exactly_with_residual_below_tolerance() {
    for (env, backup) in [
        ("pendulum", "maxent"),
        ("point_mass_noisy", "inference"),
        ("multigoal", "maxent"),
    ] {
        let cfg = config(&format!(
            "env = \"{env}\"\n[objective]\nalpha = 0.4\nbackup = \"{backup}\"\n[solver]\nstates = [{}]\nactions = [{}]\ntolerance = 1e-7",
            if env == "point_mass_noisy" {
                "121"
            } else {
                "35, 35"
            },
            if env == "multigoal" { "5, 5" } else { "9" }
        ));
        let (solution, summary) = Solution::solve(&cfg, |_, _| {}).unwrap();
        let dir = tempfile::tempdir().unwrap();
        solution.save(dir.path(), &summary).unwrap();
        let loaded = Solution::load(dir.path()).unwrap();
        assert_eq!(loaded.values, solution.values, "{env}");
        let mdp = loaded.mdp();
        let v = loaded.v0();
        let mut tv = vec![0.0; v.len()];
        let residual = loaded.bellman(&mdp).sweep(v, v, &mut tv);
        eprintln!(
            "{env}/{backup}: residual {residual:.2e} after {} iterations",
            summary.stats.iterations
        );
        assert!(residual <= 1e-7, "{env}: residual {residual}");
    }
}

#[test]
fn multigoal_optimal_policy_at_the_origin_has_four_modes() {
    // configs/multigoal.toml's problem on a coarser state grid: at the origin the four goals are
    // equally far, so π*(·|0) has a mode toward each and little mass between them.
    let cfg = Config::load(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/multigoal.toml"),
        &[
            "solver.states=[71,71]".into(),
            "solver.tolerance=1e-6".into(),
        ],
    )
    .unwrap();
    let s = Solution::solve(&cfg, |_, _| {}).unwrap().0;
    let l = s.lookahead(&[0.0, 0.0]);
    let density_at = |a: [f64; 2]| {
        let midpoints = s.actions.all();
        let k = midpoints
            .chunks_exact(2)
            .position(|m| (m[0] - a[0]).abs() < 1e-9 && (m[1] - a[1]).abs() < 1e-9)
            .unwrap();
        l.density[k]
    };
    let (axis, center, diagonal) = (
        density_at([0.0, 0.857142857142857]),
        density_at([0.0, 0.0]),
        density_at([0.571428571428571, 0.571428571428571]),
    );
    eprintln!("density toward a goal {axis:.4}, at 0 {center:.4}, diagonal {diagonal:.4}");
    for a in [
        [0.857142857142857, 0.0],
        [-0.857142857142857, 0.0],
        [0.0, -0.857142857142857],
    ] {
        assert!(
            (density_at(a) - axis).abs() < 1e-4 * axis,
            "the four modes are symmetric: {} vs {axis}",
            density_at(a)
        );
    }
    assert!(axis > 20.0 * center && axis > 20.0 * diagonal);
}

/// Soft policy evaluation is a linear solve, `(I − γ·P_π)·V = r_π − α·Σ p·log p + α·log Δa`: one
/// that stops above its tolerance says so, with the true residual of what it reached, instead of
/// handing back an unconverged V.
#[test]
fn a_policy_evaluation_that_does_not_converge_is_reported() {
    let s = noisy("maxent");
    let mdp = s.mdp();
    let bellman = s.bellman(&mdp);
    let pi = bellman.policy(s.v0());
    let err = bellman.evaluate_within(&pi, 1e-10, 3).unwrap_err();
    eprintln!("after 3 iterations: {err:?}");
    assert!(
        !err.converged && err.iterations == 3 && err.residual > 1e-10,
        "{err:?}"
    );
    let v = bellman.evaluate_within(&pi, 1e-10, 20_000).unwrap();
    assert!((v[120] - s.v0()[120]).abs() < 1e-6);
}

/// A solve that runs out of `max_iterations` saves its last V and reports that V's own residual
/// `‖TV − V‖∞`, not the residual before its last step.
#[test]
fn an_unconverged_solve_reports_the_residual_of_the_v_it_returns() {
    for iterations in [1, 2, 3] {
        let cfg = config(&format!(
            "env = \"pendulum\"\n[objective]\nalpha = 0.5\n[solver]\nstates = [41, 41]\nactions = [11]\ntolerance = 1e-12\nmax_iterations = {iterations}"
        ));
        let (solution, summary) = Solution::solve(&cfg, |_, _| {}).unwrap();
        assert!(!summary.stats.converged);
        let mdp = solution.mdp();
        let v = solution.v0();
        let mut tv = vec![0.0; v.len()];
        let residual = solution.bellman(&mdp).sweep(v, v, &mut tv);
        eprintln!("{iterations} Newton steps: residual {residual:.3e}");
        assert_eq!(summary.stats.residual, residual, "{iterations} iterations");
    }
}
