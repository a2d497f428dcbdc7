//! A solved problem: the config it was solved for, its grids and soft values, saved as a
//! solution directory (DESIGN §5): `solution.safetensors` (grid and V, f64, with the resolved
//! config in its metadata), `config.toml`, `summary.json`.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use safetensors::Dtype;
use serde::Serialize;

use super::grid::{ActionGrid, StateGrid};
use super::mdp::{Discretizer, TabularMdp};
use super::soft_vi::{SoftBellman, SolveStats};
use crate::config::{Config, parse_toml};
use crate::env::Env;
use crate::error::{Error, Result};
use crate::objective::Horizon;

const FORMAT: &str = "maxent-solution-1";

/// What `solve --json` and `summary.json` report.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    #[serde(flatten)]
    pub stats: SolveStats,
    pub wall_seconds: f64,
    pub build_seconds: f64,
    pub solve_seconds: f64,
    pub alpha: f64,
    pub states: usize,
    pub actions: usize,
    pub transitions: usize,
    pub table_mib: f64,
    pub peak_memory_mib: f64,
}

/// Soft values of a problem on its grid.
#[derive(Debug, Clone)]
pub struct Solution {
    pub config: Config,
    /// The config's model.
    pub env: Env,
    pub alpha: f64,
    pub grid: StateGrid,
    pub actions: ActionGrid,
    /// `V_t` for `t = 0..T` (finite horizon), or the one stationary V.
    pub values: Vec<Vec<f64>>,
}

/// The one-step lookahead at a state: Q and π over the action grid, V, and π's moments.
#[derive(Debug, Clone, Serialize)]
pub struct Lookahead {
    pub v: f64,
    pub q: Vec<f64>,
    /// Cell probabilities `π(a|s)·Δa`.
    pub probabilities: Vec<f64>,
    /// Densities `π(a|s)` in env action units.
    pub density: Vec<f64>,
    pub policy_mean: Vec<f64>,
    pub policy_std: Vec<f64>,
}

impl Solution {
    /// The temperature the exact solver needs: a number.
    pub fn alpha_of(config: &Config) -> Result<f64> {
        config.objective.temperature.fixed().ok_or_else(|| {
            config.error(
                "objective.alpha",
                "the exact solver needs a number (\"auto\" is for training)",
            )
        })
    }

    pub fn grids(env: &Env, config: &Config) -> (StateGrid, ActionGrid) {
        let grid = StateGrid::new(env.state_axes(), config.solver.states.clone());
        let actions = ActionGrid::new(env.action_bounds(), config.solver.actions.clone());
        (grid, actions)
    }

    /// Refuses, before building anything, a grid whose table this solver cannot index (u32) or
    /// this machine cannot hold, naming `solver.states` or `solver.actions`, whichever has more.
    pub fn check_size(env: &Env, config: &Config) -> Result<()> {
        let spec = &config.solver;
        let product = |v: &[usize]| v.iter().map(|&n| n as f64).product::<f64>();
        let (states, actions) = (product(&spec.states), product(&spec.actions));
        let dim = spec.states.len();
        let outcomes = if env.noise_std() > 0.0 {
            (spec.noise_nodes as f64).powi(dim as i32)
        } else {
            1.0
        };
        let (entries, bytes) = TabularMdp::size_bound(states, dim, actions, outcomes);
        let key = if actions > states {
            "solver.actions"
        } else {
            "solver.states"
        };
        let what =
            format!("{states:.0} states × {actions:.0} actions × {outcomes:.0} noise outcomes");
        if entries > f64::from(u32::MAX) {
            return Err(config.error(
                key,
                format!(
                    "{what} make up to {entries:.3e} transition entries, more than the {} this solver indexes: use a coarser grid",
                    u32::MAX
                ),
            ));
        }
        config.check_memory(key, &format!("the transition table of {what}"), bytes)
    }

    /// Discretizes and solves `config`'s problem. `progress(iteration, residual)` reports.
    pub fn solve(config: &Config, progress: impl FnMut(usize, f64)) -> Result<(Solution, Summary)> {
        let alpha = Self::alpha_of(config)?;
        let env = config.env.model()?;
        Self::check_size(env, config)?;
        let start = Instant::now();
        let (grid, actions) = Self::grids(env, config);
        let mdp = TabularMdp::from_env(env, &grid, &actions, config.solver.noise_nodes);
        let build_seconds = start.elapsed().as_secs_f64();
        let o = &config.objective;
        let bellman = SoftBellman::new(&mdp, o.gamma, alpha, o.backup, o.action_prior);
        let (values, stats) = match o.horizon {
            Horizon::Discounted => {
                let (v, stats) = bellman.solve_discounted(
                    config.solver.tolerance,
                    config.solver.max_iterations,
                    progress,
                );
                (vec![v], stats)
            }
            Horizon::Finite(t) => bellman.solve_finite(t, progress),
        };
        let wall_seconds = start.elapsed().as_secs_f64();
        let summary = Summary {
            stats,
            wall_seconds,
            build_seconds,
            solve_seconds: wall_seconds - build_seconds,
            alpha,
            states: mdp.n_states,
            actions: mdp.n_actions,
            transitions: mdp.next.len(),
            table_mib: mdp.bytes() as f64 / (1024.0 * 1024.0),
            peak_memory_mib: crate::io::peak_memory_mib(),
        };
        let solution = Solution {
            config: config.clone(),
            env: env.clone(),
            alpha,
            grid,
            actions,
            values,
        };
        Ok((solution, summary))
    }

    /// The stationary V, or `V_0` of a finite horizon.
    pub fn v0(&self) -> &[f64] {
        &self.values[0]
    }

    /// The values that follow step 0: `V_1` (or 0 when T = 1), or the stationary V.
    pub fn next_values(&self) -> std::borrow::Cow<'_, [f64]> {
        match self.config.objective.horizon {
            Horizon::Discounted => self.values[0].as_slice().into(),
            Horizon::Finite(_) => match self.values.get(1) {
                Some(v) => v.as_slice().into(),
                None => vec![0.0; self.grid.len()].into(),
            },
        }
    }

    /// The soft Bellman operator of this solution's problem on `mdp`.
    pub fn bellman<'a>(&self, mdp: &'a TabularMdp) -> SoftBellman<'a> {
        let o = &self.config.objective;
        SoftBellman::new(mdp, o.gamma, self.alpha, o.backup, o.action_prior)
    }

    /// The tabular MDP of this solution's grid.
    pub fn mdp(&self) -> TabularMdp {
        TabularMdp::from_env(
            &self.env,
            &self.grid,
            &self.actions,
            self.config.solver.noise_nodes,
        )
    }

    /// Q, π and V at any state by one step of lookahead through the model, V interpolated.
    pub fn lookahead(&self, state: &[f64]) -> Lookahead {
        let disc = Discretizer::new(
            &self.env,
            &self.grid,
            &self.actions,
            self.config.solver.noise_nodes,
        );
        let mut mdp = TabularMdp::new(self.actions.len(), self.actions.log_cell_volume());
        disc.push_state(state, &mut mdp);
        let bellman = self.bellman(&mdp);
        let mut q = vec![0.0; mdp.n_actions];
        bellman.q_values(&self.next_values(), 0, &mut q);
        let v = bellman.soft_max(&q);
        let mut probabilities = vec![0.0; mdp.n_actions];
        bellman.policy_from_q(&q, &mut probabilities);
        let cell = mdp.log_cell.exp();
        let density = probabilities.iter().map(|p| p / cell).collect();
        let (mean, std) = crate::math::moments(
            &self.actions.all(),
            self.actions.dim(),
            Some(&probabilities),
        );
        Lookahead {
            v,
            q,
            probabilities,
            density,
            policy_mean: mean,
            policy_std: std,
        }
    }

    /// `Q(s, a)` at arbitrary actions (`action_dim` numbers each, env units), by lookahead.
    pub fn q_at(&self, state: &[f64], actions: &[f64]) -> Vec<f64> {
        let disc = Discretizer::new(
            &self.env,
            &self.grid,
            &self.actions,
            self.config.solver.noise_nodes,
        );
        let n = actions.len() / self.actions.dim();
        let mut mdp = TabularMdp::new(n, self.actions.log_cell_volume());
        disc.push_state_actions(state, actions, &mut mdp);
        let mut q = vec![0.0; n];
        self.bellman(&mdp).q_values(&self.next_values(), 0, &mut q);
        q
    }

    /// Writes the solution directory atomically.
    pub fn save(&self, dir: &Path, summary: &Summary) -> Result<()> {
        let config_text = self.config.to_toml();
        let bytes = self.to_safetensors(&config_text);
        let summary_json = serde_json::to_string_pretty(summary).expect("plain data");
        crate::io::write_dir_atomically(dir, |tmp| {
            crate::io::write_file(&tmp.join("solution.safetensors"), &bytes)?;
            crate::io::write_file(&tmp.join("config.toml"), &config_text)?;
            crate::io::write_file(&tmp.join("summary.json"), summary_json + "\n")
        })
    }

    fn to_safetensors(&self, config_text: &str) -> Vec<u8> {
        let le_f64 = |x: &[f64]| x.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>();
        let le_i64 = |x: &[usize]| {
            x.iter()
                .flat_map(|&v| (v as i64).to_le_bytes())
                .collect::<Vec<u8>>()
        };
        let axes = self.grid.axes();
        let d = axes.len();
        let mut v_shape = self.grid.nodes().to_vec();
        if matches!(self.config.objective.horizon, Horizon::Finite(_)) {
            v_shape.insert(0, self.values.len());
        }
        let buffers: Vec<(&str, Dtype, Vec<usize>, Vec<u8>)> = vec![
            ("v", Dtype::F64, v_shape, le_f64(&self.values.concat())),
            (
                "grid_lo",
                Dtype::F64,
                vec![d],
                le_f64(&axes.iter().map(|a| a.lo).collect::<Vec<_>>()),
            ),
            (
                "grid_hi",
                Dtype::F64,
                vec![d],
                le_f64(&axes.iter().map(|a| a.hi).collect::<Vec<_>>()),
            ),
            (
                "grid_periodic",
                Dtype::U8,
                vec![d],
                axes.iter().map(|a| a.periodic as u8).collect(),
            ),
            ("grid_nodes", Dtype::I64, vec![d], le_i64(self.grid.nodes())),
            (
                "action_cells",
                Dtype::I64,
                vec![self.actions.dim()],
                le_i64(self.actions.cells()),
            ),
            ("alpha", Dtype::F64, vec![], le_f64(&[self.alpha])),
        ];
        let views = buffers
            .iter()
            .map(|(name, dtype, shape, data)| (*name, *dtype, shape.clone(), &data[..]));
        let metadata = HashMap::from([
            ("format".to_string(), FORMAT.to_string()),
            ("config".to_string(), config_text.to_string()),
        ]);
        crate::io::safetensors_bytes(views, metadata)
    }

    /// Reads a solution directory back, bit-exactly, refusing one whose files disagree.
    pub fn load(dir: &Path) -> Result<Solution> {
        let config_path = dir.join("config.toml");
        let config = Config::load_recorded(&config_path)?;
        let alpha = Self::alpha_of(&config)?;
        let path = dir.join("solution.safetensors");
        let bytes = std::fs::read(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                Error::input(&path, "no such file: not a solution directory")
            }
            _ => Error::input(&path, e.to_string()),
        })?;
        let corrupt =
            |why: String| Error::input(&path, format!("corrupt or foreign solution: {why}"));
        let (tensors, info) = crate::io::read_safetensors(&bytes).map_err(corrupt)?;
        if info.get("format").map(String::as_str) != Some(FORMAT) {
            return Err(corrupt("not written by maxent solve".into()));
        }
        let stored = crate::config::with_default_learner(parse_toml(
            info.get("config").map_or("", |s| s.as_str()),
            &path,
        )?);
        let stored = crate::config::with_added_keys(stored, config.resolved());
        if &stored != config.resolved() {
            return Err(Error::input(
                &config_path,
                format!(
                    "does not match the config stored in {} (edited, or from another problem)",
                    path.display()
                ),
            ));
        }
        let env = config.env.model()?.clone();
        let (grid, actions) = Self::grids(&env, &config);
        let f64s = |name: &str| -> Result<(Vec<usize>, Vec<f64>)> {
            let t = tensors
                .tensor(name)
                .map_err(|e| corrupt(format!("{name}: {e}")))?;
            if t.dtype() != Dtype::F64 {
                return Err(corrupt(format!("{name} is {:?}, not F64", t.dtype())));
            }
            let values = t
                .data()
                .chunks_exact(8)
                .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")))
                .collect();
            Ok((t.shape().to_vec(), values))
        };
        let (shape, v) = f64s("v")?;
        let per_step = grid.len();
        let steps = match config.objective.horizon {
            Horizon::Discounted => 1,
            Horizon::Finite(t) => t,
        };
        if v.len() != steps * per_step || shape.iter().product::<usize>() != v.len() {
            return Err(corrupt(format!(
                "v has shape {shape:?}, the config's grid needs {steps} × {per_step}"
            )));
        }
        let (_, lo) = f64s("grid_lo")?;
        let expected_lo: Vec<f64> = grid.axes().iter().map(|a| a.lo).collect();
        if lo != expected_lo {
            return Err(corrupt(format!(
                "grid_lo {lo:?} differs from the config's {expected_lo:?}"
            )));
        }
        if f64s("alpha")?.1 != [alpha] {
            return Err(corrupt("alpha differs from the config's".into()));
        }
        if v.iter().any(|x| !x.is_finite()) {
            return Err(corrupt("v holds non-finite values".into()));
        }
        let values = v.chunks_exact(per_step).map(<[f64]>::to_vec).collect();
        Ok(Solution {
            config,
            env,
            alpha,
            grid,
            actions,
            values,
        })
    }
}
