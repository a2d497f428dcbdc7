//! The commands behind the CLI: what each does with its arguments and files, short of printing.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::{Algorithm, Config};
use crate::env::World;
use crate::error::{Error, Result};
use crate::math::mean_std;
use crate::rng::Rng;
use crate::sac::Sac;
use crate::sql::Sql;
use crate::training::episodes::{distinct_goals, run_episodes};
use crate::training::memory::LearnerBytes;
use crate::training::{Learner, Resume, RunSummary, Start, checkpoint, memory, train as train_run};

/// What the config's learner holds while it trains.
pub(crate) fn learner_bytes(config: &Config) -> LearnerBytes {
    match config.agent.algorithm {
        Algorithm::Sac(_) => Sac::training_bytes(config),
        Algorithm::Sql(_) => Sql::training_bytes(config),
    }
}

/// The threads a run trains on: SAC splits a lone run's updates over two cores; SQL's products
/// and kernel would split over two as well (the same bits), but its update is no faster so
/// (measured: 256 against 236–268 updates/s on one, with 30% more CPU), and runs side by side
/// take one each.
fn threads(config: &Config, lone: bool) -> usize {
    match config.agent.algorithm {
        Algorithm::Sac(_) if lone => cores().min(2),
        _ => 1,
    }
}

/// Trains a fresh learner of the config's algorithm.
pub(crate) fn train_fresh(
    config: &Config,
    dir: &Path,
    bar: &indicatif::ProgressBar,
    lone: bool,
) -> Result<RunSummary> {
    let threads = threads(config, lone);
    match config.agent.algorithm {
        Algorithm::Sac(_) => {
            let build = |rng: &mut Rng| Ok(Sac::new(config, rng));
            train_run(config, dir, Start::Fresh(build), bar, threads)
        }
        Algorithm::Sql(_) => {
            let build = |rng: &mut Rng| Sql::new(config, rng);
            train_run(config, dir, Start::Fresh(build), bar, threads)
        }
    }
}

/// A checkpoint's policy, of whichever learner wrote it.
fn load_policy(dir: &Path, config: &Config) -> Result<Box<dyn Learner>> {
    Ok(match config.agent.algorithm {
        Algorithm::Sac(_) => Box::new(crate::sac::load_model(dir, config, true)?),
        Algorithm::Sql(_) => Box::new(crate::sql::load_model(dir, config, true)?),
    })
}

/// Trains one config for one or several seeds (two at a time on two cores).
pub fn train(
    path: &Path,
    out: Option<PathBuf>,
    seed: Option<u64>,
    seeds: Option<Vec<u64>>,
    sets: &[String],
) -> Result<Vec<RunSummary>> {
    let base = Config::load(path, sets)?;
    check_trainable(&base)?;
    let seeds = seeds.unwrap_or_else(|| vec![seed.unwrap_or(base.seed)]);
    let repeated = (1..seeds.len()).find(|&i| seeds[..i].contains(&seeds[i]));
    if let Some(i) = repeated {
        let list: Vec<String> = seeds.iter().map(u64::to_string).collect();
        return Err(Error::argument(
            format!("--seeds {}", list.join(",")),
            format!(
                "seed {} appears twice (each seed trains into a run dir of its own)",
                seeds[i]
            ),
        ));
    }
    let several = seeds.len() > 1;
    let mut jobs = Vec::new();
    for &s in &seeds {
        let mut with_seed = sets.to_vec();
        with_seed.push(format!("seed={s}"));
        let config = Config::load(path, &with_seed)?;
        let run_name = format!("{}-{s}", config.name);
        let dir = match (&out, several) {
            (Some(o), false) => o.clone(),
            (Some(o), true) => o.join(run_name),
            (None, _) => PathBuf::from("runs").join(run_name),
        };
        jobs.push((config, dir));
    }
    let workers = if several { 2.min(cores()) } else { 1 };
    for (config, _) in &jobs {
        memory::check(config, learner_bytes(config), workers)?;
    }
    let multi = indicatif::MultiProgress::new();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<std::sync::Mutex<Option<Result<RunSummary>>>> =
        jobs.iter().map(|_| Default::default()).collect();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some((config, dir)) = jobs.get(i) else {
                        break;
                    };
                    let bar = multi.add(crate::progress::training(config.seed));
                    let r = train_fresh(config, dir, &bar, workers == 1);
                    *results[i].lock().expect("no panics while holding it") = Some(r);
                }
            });
        }
    });
    results
        .into_iter()
        .map(|m| m.into_inner().expect("no panics").expect("every job ran"))
        .collect()
}

/// Cores this process may use: a lone run splits its updates over two threads only when it has
/// two (a second thread time-sliced on one core would only slow it down).
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

pub(crate) fn check_trainable(config: &Config) -> Result<()> {
    if config.objective.backup != crate::objective::Backup::Maxent {
        return Err(config.error(
            "objective.backup",
            "\"inference\" is for the exact solver; the learners learn the \"maxent\" backup",
        ));
    }
    if config.objective.action_prior != crate::objective::ActionPrior::Lebesgue {
        return Err(config.error(
            "objective.action_prior",
            "the learners' entropy is differential (\"lebesgue\"); \"uniform\" is for the exact solver",
        ));
    }
    if config.objective.horizon != crate::objective::Horizon::Discounted {
        return Err(config.error(
            "objective.horizon",
            "the learners learn a stationary policy: use \"discounted\"",
        ));
    }
    Ok(())
}

/// Continues a run from a checkpoint; only `train.total_steps` may be changed.
pub fn resume(dir: &Path, out: Option<PathBuf>, sets: &[String]) -> Result<RunSummary> {
    let seed = checkpoint::load_config(dir)?.seed;
    resume_with(dir, out, sets, &crate::progress::training(seed), true)
}

/// [`resume`] with its progress on `bar`; `lone` as for [`train_fresh`].
pub(crate) fn resume_with(
    dir: &Path,
    out: Option<PathBuf>,
    sets: &[String],
    bar: &indicatif::ProgressBar,
    lone: bool,
) -> Result<RunSummary> {
    if let Some(bad) = sets
        .iter()
        .find(|s| !s.trim_start().starts_with("train.total_steps="))
    {
        return Err(Error::argument(
            format!("--set {bad}"),
            "only train.total_steps may change when resuming",
        ));
    }
    let config = checkpoint::load_config(dir)?;
    let with_steps = if sets.is_empty() {
        config.clone()
    } else {
        Config::from_table(
            config.resolved().clone(),
            &dir.join("config.toml").display().to_string(),
            None,
            None,
            sets,
        )?
    };
    // checkpoints/step_N/ and final/ sit directly in their run dir.
    let parent = dir.parent().unwrap_or(Path::new("."));
    let original = if parent.file_name().is_some_and(|n| n == "checkpoints") {
        parent.parent().unwrap_or(Path::new("."))
    } else {
        parent
    };
    let run_dir = out.unwrap_or_else(|| original.to_path_buf());
    let metrics = original.join("metrics.csv");
    match config.agent.algorithm {
        Algorithm::Sac(_) => {
            let (sac, state, replay) = crate::sac::load_training(dir, &config)?;
            let resume = Resume {
                learner: sac,
                state,
                replay,
                metrics,
            };
            continue_run(&with_steps, &run_dir, resume, bar, lone)
        }
        Algorithm::Sql(_) => {
            let (sql, state, replay) = crate::sql::load_training(dir, &config)?;
            let resume = Resume {
                learner: sql,
                state,
                replay,
                metrics,
            };
            continue_run(&with_steps, &run_dir, resume, bar, lone)
        }
    }
}

/// Trains a checkpointed learner on up to `config`'s `train.total_steps`.
fn continue_run<L: Learner + Send>(
    config: &Config,
    run_dir: &Path,
    resume: Resume<L>,
    bar: &indicatif::ProgressBar,
    lone: bool,
) -> Result<RunSummary> {
    if config.train.total_steps <= resume.state.step {
        return Err(config.error(
            "train.total_steps",
            format!(
                "{} is not beyond the checkpoint's step {}",
                config.train.total_steps, resume.state.step
            ),
        ));
    }
    let start: Start<L, fn(&mut Rng) -> Result<L>> = Start::Resume(Box::new(resume));
    train_run(config, run_dir, start, bar, threads(config, lone))
}

/// What `eval --json` reports.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    pub mean_return: f64,
    pub std_return: f64,
    pub returns: Vec<f64>,
    pub lengths: Vec<u64>,
    pub episodes: usize,
    /// Whether the actions were sampled: with `--stochastic`, and always for a policy without a
    /// deterministic action (soft Q-learning's sampler).
    pub stochastic: bool,
    /// Why the actions were sampled without `--stochastic`, if they were.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<&'static str>,
    /// For envs with goals: the goal (index into `targets`) that ended each episode, `null` for
    /// an episode that ran out of time; and how many distinct goals were reached.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub goals: Option<Vec<Option<usize>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub goals_reached: Option<usize>,
    /// For envs with goals: how many episodes ended at one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub episodes_at_goal: Option<usize>,
    /// For the exact policy (`eval --exact`): the mean soft return
    /// `Σ_t γ^t (r_t − α·log π*(a_t|s_t))` of the episodes, which estimates V* at their starts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean_soft_return: Option<f64>,
}

impl EvalReport {
    fn new(
        returns: Vec<f64>,
        lengths: Vec<u64>,
        goals: Option<Vec<Option<usize>>>,
        stochastic: bool,
        note: Option<&'static str>,
    ) -> EvalReport {
        let (mean_return, std_return) = mean_std(&returns);
        let goals_reached = goals.as_deref().map(distinct_goals);
        EvalReport {
            mean_return,
            std_return,
            episodes: returns.len(),
            returns,
            lengths,
            stochastic,
            note,
            episodes_at_goal: goals.as_ref().map(|g| g.iter().flatten().count()),
            goals,
            goals_reached,
            mean_soft_return: None,
        }
    }
}

/// Runs a checkpoint's policy for seeded episodes (SAC's deterministic `tanh(μ)` unless
/// `stochastic`; SQL's sampler always samples).
pub fn eval(
    dir: &Path,
    episodes: Option<usize>,
    seed: u64,
    stochastic: bool,
) -> Result<EvalReport> {
    let config = checkpoint::load_config(dir)?;
    let mut policy = load_policy(dir, &config)?;
    let episodes = episodes.unwrap_or(config.train.eval_episodes);
    if episodes == 0 {
        return Err(Error::argument("--episodes 0", "must be at least 1"));
    }
    let mut rng = crate::rng::seeded(seed);
    let mut runner = config.env.start("evaluation env")?;
    let run = run_episodes(&config.env, &mut runner, episodes, &mut rng, |obs, rng| {
        Ok(match stochastic {
            true => policy.sample_action(obs, rng),
            false => policy.eval_action(obs, rng),
        })
    })?;
    let forced = !stochastic && policy.evaluation_samples();
    Ok(EvalReport::new(
        run.returns,
        run.lengths,
        config.env.has_goals().then_some(run.goals),
        stochastic || forced,
        forced.then_some("sampled: soft Q-learning's policy has no mean action"),
    ))
}

/// `eval --exact`: the exact MaxEnt-optimal policy of a solution for seeded episodes, acting as
/// it does in `compare` (an action cell drawn with probability `π*(a|s)·Δa` by one step of
/// lookahead at the true state, the action uniform within the cell), so always sampled.
pub fn eval_exact(dir: &Path, episodes: Option<usize>, seed: u64) -> Result<EvalReport> {
    use crate::objective::{ActionPrior, Horizon};
    let solution = crate::exact::Solution::load(dir)?;
    let config = &solution.config;
    let episodes = episodes.unwrap_or(config.train.eval_episodes);
    if episodes == 0 {
        return Err(Error::argument("--episodes 0", "must be at least 1"));
    }
    if let Horizon::Finite(_) = config.objective.horizon {
        return Err(Error::argument(
            format!("--exact {}", dir.display()),
            "a finite-horizon solution's policy changes with the step: eval --exact runs discounted solutions",
        ));
    }
    let log_prior = match config.objective.action_prior {
        ActionPrior::Lebesgue => 0.0,
        ActionPrior::Uniform => {
            -(solution.actions.log_cell_volume() + (solution.actions.len() as f64).ln())
        }
    };
    let run = crate::compare::episodes::run(
        &mut crate::compare::episodes::Actor::Exact(&solution),
        &solution.env,
        &solution.actions,
        config.objective.gamma,
        solution.alpha,
        log_prior,
        episodes,
        seed,
    );
    let mut report = EvalReport::new(
        run.returns,
        run.lengths,
        solution.env.has_goals().then_some(run.goals),
        true,
        Some("sampled: the exact policy is a distribution over action cells"),
    );
    report.mean_soft_return = Some(run.soft);
    Ok(report)
}

/// `rollout`: replays an actions file from a state, or from the reset seeded with `seed` (warning
/// on stderr about a start state outside the bounds, or actions left over after the episode
/// ended).
pub fn rollout(
    env: &str,
    state: Option<&str>,
    actions: &Path,
    seed: u64,
    sets: &[String],
) -> Result<crate::rollout::Rollout> {
    let env = crate::config::load_env(env, sets)?;
    let start = match (&env, state) {
        (_, None) => None,
        (World::Model(model), Some(state)) => {
            let start = crate::rollout::parse_vector("--state", state, model.state_dim())?;
            let axes = model.state_axes();
            if let Some(i) = axes
                .iter()
                .zip(&start)
                .position(|(a, &x)| !a.periodic && (x < a.lo || x > a.hi))
            {
                eprintln!(
                    "warning: --state component {i} = {} lies outside [{}, {}]",
                    start[i], axes[i].lo, axes[i].hi
                );
            }
            Some(start)
        }
        (World::Gymnasium(_), Some(state)) => Some(parse_numbers("--state", state)?),
    };
    let actions = crate::rollout::read_actions(actions, env.action_dim())?;
    let out = crate::rollout::rollout(&env, start.as_deref(), &actions, seed)?;
    if out.observations.len() < actions.len() {
        eprintln!(
            "note: the episode ended after {} of {} actions; the rest were not applied",
            out.observations.len(),
            actions.len()
        );
    }
    Ok(out)
}

/// Parses `X[,Y...]` into finite numbers, as many as given.
fn parse_numbers(arg: &str, text: &str) -> Result<Vec<f64>> {
    let n = text.split(',').count();
    crate::rollout::parse_vector(arg, text, n)
}

/// What `solve --json` prints: the solver's summary and where the solution went.
#[derive(Debug, Clone, Serialize)]
pub struct SolveReport {
    #[serde(flatten)]
    pub summary: crate::exact::solution::Summary,
    pub out: PathBuf,
    #[serde(skip)]
    tolerance: f64,
}

impl SolveReport {
    /// An error if the solver ran out of iterations above tolerance (the solution is saved).
    pub fn check_converged(&self) -> Result<()> {
        let s = &self.summary.stats;
        if s.converged {
            Ok(())
        } else {
            Err(Error::NotConverged {
                residual: s.residual,
                tolerance: self.tolerance,
                iterations: s.iterations,
            })
        }
    }
}

/// `solve`: solves a config's problem into a solution dir (default `runs/<name>-exact`), with a
/// progress line on stderr.
pub fn solve(path: &Path, out: Option<PathBuf>, sets: &[String]) -> Result<SolveReport> {
    let config = Config::load(path, sets)?;
    let out = out.unwrap_or_else(|| PathBuf::from("runs").join(format!("{}-exact", config.name)));
    let bar = crate::progress::solver();
    let (solution, summary) = crate::exact::Solution::solve(&config, |it, res| {
        bar.set_message(format!("iteration {it}  residual {res:.3e}"));
        bar.tick();
    })?;
    bar.finish_and_clear();
    solution.save(&out, &summary)?;
    let s = &summary;
    eprintln!(
        "solved {} states × {} actions in {:.2} s ({} iterations, residual {:.2e}, peak {:.0} MiB) → {}",
        s.states,
        s.actions,
        s.wall_seconds,
        s.stats.iterations,
        s.stats.residual,
        s.peak_memory_mib,
        out.display()
    );
    Ok(SolveReport {
        summary,
        out,
        tolerance: config.solver.tolerance,
    })
}

/// `compare`: the report, written with its pictures to a report dir (default
/// `runs/<name>-compare`); returns the report and its Markdown.
pub fn compare(
    checkpoint: &Path,
    exact: &Path,
    out: Option<PathBuf>,
    opts: crate::compare::Options,
) -> Result<(crate::compare::Report, String)> {
    if opts.episodes == 0 || opts.states == 0 {
        return Err(Error::argument(
            "compare",
            "--episodes and --states must be at least 1",
        ));
    }
    let (report, figures) = crate::compare::compare(checkpoint, exact, opts)?;
    let name = checkpoint::load_config(checkpoint)?.name;
    let out = out.unwrap_or_else(|| PathBuf::from("runs").join(format!("{name}-compare")));
    let md = crate::compare::markdown(&report, checkpoint, exact);
    let json_text = serde_json::to_string_pretty(&report).expect("plain data") + "\n";
    crate::io::write_dir_atomically(&out, |tmp| {
        crate::io::write_file(&tmp.join("report.json"), &json_text)?;
        crate::io::write_file(&tmp.join("report.md"), &md)?;
        figures.iter().try_for_each(|f| f.draw(tmp))
    })?;
    Ok((report, md))
}

/// Draws (or uniform particles, for SQL) behind a checkpoint's `query` answer.
const QUERY_SAMPLES: usize = 4096;

/// `query`: each source's answer at one state, checkpoints first (`source`, `dir`, `v`,
/// `policy_mean`, `policy_std`; for SQL checkpoints the sampler's moments; for solutions Q, the
/// action distribution and the midpoints).
pub fn query(
    checkpoints: &[PathBuf],
    exacts: &[PathBuf],
    state: &str,
) -> Result<Vec<serde_json::Value>> {
    if checkpoints.is_empty() && exacts.is_empty() {
        return Err(Error::argument(
            "query",
            "give at least one --checkpoint DIR or --exact DIR",
        ));
    }
    let mut sources = Vec::new();
    let tag = |mut value: serde_json::Value, source: &str, dir: &Path| {
        value["source"] = source.into();
        value["dir"] = dir.display().to_string().into();
        value
    };
    for dir in checkpoints {
        let config = checkpoint::load_config(dir)?;
        let env = config.env.model().map_err(|_| {
            Error::argument(
                format!("--checkpoint {}", dir.display()),
                format!(
                    "trained on {}, which exposes no true state: query takes a state of a built-in environment",
                    config.env.label()
                ),
            )
        })?;
        let x = crate::rollout::parse_vector("--state", state, env.state_dim())?;
        let q = match config.agent.algorithm {
            Algorithm::Sac(_) => {
                let mut sac = crate::sac::load_model(dir, &config, false)?;
                crate::compare::learned::query(&mut sac, env, &x, QUERY_SAMPLES, 0)
            }
            Algorithm::Sql(_) => {
                let sql = crate::sql::load_model(dir, &config, false)?;
                crate::compare::energy::query(&sql, env, &x, QUERY_SAMPLES, 0)
            }
        };
        sources.push(tag(
            serde_json::to_value(&q).expect("plain data"),
            "checkpoint",
            dir,
        ));
    }
    for dir in exacts {
        let solution = crate::exact::Solution::load(dir)?;
        let x = crate::rollout::parse_vector("--state", state, solution.env.state_dim())?;
        let mut value = tag(
            serde_json::to_value(solution.lookahead(&x)).expect("plain data"),
            "exact",
            dir,
        );
        let midpoints = solution.actions.all();
        value["actions"] =
            serde_json::to_value(midpoints.chunks(solution.actions.dim()).collect::<Vec<_>>())
                .expect("numbers");
        sources.push(value);
    }
    Ok(sources)
}
