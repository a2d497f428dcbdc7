//! The training loop (DESIGN §3–5): collect with the current policy (uniform random actions for
//! `learning_starts` steps), store in the replay buffer, update, evaluate, checkpoint.
//!
//! Run dir: `config.toml`, `metrics.csv` (one row per episode and per evaluation),
//! `checkpoints/step_<N>/`, `final/`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use indicatif::ProgressBar;
use rand::Rng as _;
use serde::Serialize;

use super::checkpoint::{self, LossSums, TrainState};
use super::episodes::run_episodes;
use super::metrics::Metrics;
use super::replay::{Replay, Sampled};
use super::{Learner, Losses};
use crate::config::Config;
use crate::env::Runner;
use crate::error::{Error, Result};
use crate::math::mean_std;
use crate::rng::{self, Rng};
use crate::tanh_gaussian::to_env_action;

/// Set by the Ctrl-C handler; the loop checkpoints and stops at the next step.
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Tag of the RNGs derived for evaluation episodes.
const EVAL_TAG: u64 = 0xE7A1;

/// What `train --json` reports (DESIGN §3).
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub seed: u64,
    pub steps: u64,
    pub episodes: u64,
    pub updates: u64,
    pub wall_seconds: f64,
    /// Wall time of this session's training loop, from its first step to its last (evaluations
    /// and checkpoints inside it included; starting the envs and building the learner before
    /// it, and the final evaluation and checkpoint after it, not): what the two rates divide by.
    pub loop_seconds: f64,
    pub env_steps_per_second: f64,
    pub updates_per_second: f64,
    /// Mean wall time the loop spent on one training-env step, this session: a model's step; for
    /// a worker, the wait for its answer after the step's updates ran beside it.
    pub env_seconds_per_step: f64,
    /// For a Gymnasium env: the mean time inside the env's own `step` in Python.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub python_env_seconds_per_step: Option<f64>,
    pub final_eval_mean_return: f64,
    pub final_eval_std_return: f64,
    pub alpha: f64,
    pub checkpoint: PathBuf,
    pub run_dir: PathBuf,
}

fn fmt(x: f64) -> String {
    format!("{x}")
}

/// Where a run resumes from: a learner filled from a checkpoint, and its training state.
pub struct Resume<L> {
    pub learner: L,
    pub state: TrainState,
    pub replay: Option<Replay>,
    /// The metrics file of the run being continued.
    pub metrics: PathBuf,
}

/// How a run starts: afresh, building its learner from the run's seeded RNG (which then drives
/// the rest of the run), or from a checkpoint.
pub enum Start<L, F: FnOnce(&mut Rng) -> Result<L>> {
    Fresh(F),
    Resume(Box<Resume<L>>),
}

/// Trains `config` in `run_dir`, from scratch or from `resume`, the whole loop inside a rayon
/// pool of `threads` threads: with two, the learner splits each update over them
/// ([`Learner::set_parallel`]), and its fork–joins hand work to the other worker directly instead
/// of waking a pool from outside and putting the caller to sleep on each one (5–8% faster per
/// update, measured); with one, whatever the learner's engine parallelizes stays on this run's
/// thread (two runs side by side do not share a pool).
pub fn train<L: Learner + Send, F: FnOnce(&mut Rng) -> Result<L> + Send>(
    config: &Config,
    run_dir: &Path,
    start: Start<L, F>,
    bar: &ProgressBar,
    threads: usize,
) -> Result<RunSummary> {
    let parallel = threads > 1;
    match rayon::ThreadPoolBuilder::new().num_threads(threads).build() {
        Ok(pool) => pool.install(|| train_loop(config, run_dir, start, bar, parallel)),
        Err(_) => train_loop(config, run_dir, start, bar, parallel),
    }
}

fn train_loop<L: Learner, F: FnOnce(&mut Rng) -> Result<L>>(
    config: &Config,
    run_dir: &Path,
    start: Start<L, F>,
    bar: &ProgressBar,
    parallel: bool,
) -> Result<RunSummary> {
    let started = Instant::now();
    std::fs::create_dir_all(run_dir).map_err(|source| Error::Write {
        path: run_dir.to_path_buf(),
        source,
    })?;
    let config_path = run_dir.join("config.toml");
    crate::io::write_file(&config_path, config.to_toml())?;
    let env = &config.env;
    let tc = &config.train;
    let (od, ad) = (env.obs_dim(), env.action_dim());
    let bounds = env.action_bounds();
    let mut runner = env.start("training env")?;
    let mut eval_runner: Option<Runner> = None;
    let mut obs = vec![0.0; od];
    let mut next_obs = vec![0.0; od];
    let mut env_action = vec![0.0; ad];

    let (mut learner, mut st, mut replay, mut metrics) = match start {
        Start::Resume(r) => {
            let r = *r;
            let mut st = r.state;
            let mut learner = r.learner;
            learner.set_parallel(parallel);
            resume_episode(&mut runner, &mut st, &env.label(), &mut obs)?;
            let replay = r
                .replay
                .unwrap_or_else(|| Replay::new(tc.buffer_size, od, ad));
            let metrics = Metrics::open(run_dir.join("metrics.csv"), Some((st.step, &r.metrics)))?;
            st.alpha = learner.alpha();
            (learner, st, replay, metrics)
        }
        Start::Fresh(build) => {
            let mut rng = rng::seeded(config.seed);
            let mut learner = build(&mut rng)?;
            learner.set_parallel(parallel);
            runner.reset(&mut rng, &mut obs)?;
            let st = TrainState {
                step: 0,
                episodes: 0,
                updates: 0,
                rng,
                sim_state: Vec::new(),
                sim_steps: 0,
                episode_seed: None,
                episode_return: 0.0,
                episode_length: 0,
                losses: LossSums::default(),
                alpha: learner.alpha(),
                wall_seconds: 0.0,
                last_eval_return: None,
            };
            let replay = Replay::new(tc.buffer_size, od, ad);
            (
                learner,
                st,
                replay,
                Metrics::open(run_dir.join("metrics.csv"), None)?,
            )
        }
    };
    let (start_step, start_updates, wall_before) = (st.step, st.updates, st.wall_seconds);
    let wall = |started: &Instant| wall_before + started.elapsed().as_secs_f64();
    bar.set_length(tc.total_steps);
    bar.set_position(st.step);
    let mut last_eval: Option<(u64, f64, f64)> = None;
    let mut sampled = Sampled::default();
    let mut recent_return = f64::NAN;

    let snapshot = |runner: &Runner, st: &mut TrainState, started: &Instant| {
        st.sim_state = runner.state().map(<[f64]>::to_vec).unwrap_or_default();
        st.sim_steps = runner.steps();
        st.episode_seed = runner.episode_seed();
        st.wall_seconds = wall(started);
    };
    // A periodic checkpoint that waits for the episode's end (a Gymnasium env's mid-episode
    // state cannot be saved).
    let mut checkpoint_due = false;
    let mut env_seconds = 0.0;
    let overlap = runner.steps_in_background();

    let loop_started = Instant::now();
    while st.step < tc.total_steps {
        // Act: uniform on [-1, 1] before learning starts, then sampled from the policy.
        let action: Vec<f32> = if st.step < tc.learning_starts {
            (0..ad)
                .map(|_| st.rng.random_range(-1.0f32..=1.0))
                .collect()
        } else {
            learner.sample_action(&obs, &mut st.rng)
        };
        to_env_action(&bounds, &action, &mut env_action);
        // A worker's env steps while this step's updates run (they sample the transitions
        // before it); a model steps first, then the updates see its transition too (SB3's order).
        let t = if overlap {
            runner.start_step(&env_action)?;
            let collected = st.step + 1;
            learn(
                &mut learner,
                &replay,
                &mut st,
                config,
                &mut sampled,
                collected,
            )?;
            let waited = Instant::now();
            let t = runner.finish_step(&mut next_obs)?;
            env_seconds += waited.elapsed().as_secs_f64();
            t
        } else {
            let stepped = Instant::now();
            let t = runner.step(&env_action, &mut st.rng, &mut next_obs)?;
            env_seconds += stepped.elapsed().as_secs_f64();
            t
        };
        replay.push(
            &obs,
            &action,
            t.reward,
            &next_obs,
            t.terminated,
            t.truncated,
        );
        std::mem::swap(&mut obs, &mut next_obs);
        st.step += 1;
        st.episode_return += t.reward;
        st.episode_length += 1;

        if t.terminated || t.truncated {
            st.episodes += 1;
            let l = st.losses;
            let avg = |x: f64| {
                if l.count > 0 {
                    fmt(x / l.count as f64)
                } else {
                    String::new()
                }
            };
            metrics.row(&[
                "episode".into(),
                st.step.to_string(),
                st.episodes.to_string(),
                fmt(st.episode_return),
                String::new(),
                st.episode_length.to_string(),
                avg(l.critic),
                avg(l.actor),
                avg(l.alpha),
                fmt(st.alpha),
                l.entropy.map_or(String::new(), avg),
                format!("{:.3}", wall(&started)),
            ])?;
            recent_return = st.episode_return;
            st.episode_return = 0.0;
            st.episode_length = 0;
            st.losses = LossSums::default();
            runner.reset(&mut st.rng, &mut obs)?;
        }

        if !overlap {
            let collected = st.step;
            learn(
                &mut learner,
                &replay,
                &mut st,
                config,
                &mut sampled,
                collected,
            )?;
        }

        if tc.eval_every > 0 && st.step % tc.eval_every == 0 {
            last_eval = Some(evaluate_into(
                config,
                &mut learner,
                &mut st,
                &mut metrics,
                wall(&started),
                &mut eval_runner,
            )?);
        }
        checkpoint_due |= tc.checkpoint_every > 0 && st.step % tc.checkpoint_every == 0;
        if checkpoint_due && st.step < tc.total_steps && runner.can_checkpoint() {
            checkpoint_due = false;
            snapshot(&runner, &mut st, &started);
            let dir = checkpoint_dir(run_dir, st.step);
            checkpoint::save(
                &dir,
                config,
                &learner,
                &st,
                tc.save_replay.then_some(&replay),
            )?;
        }
        if st.step % 100 == 0 || st.step == tc.total_steps {
            bar.set_position(st.step);
            bar.set_message(format!("return {recent_return:.1}  α {:.3}", st.alpha));
        }
        if INTERRUPTED.load(Ordering::SeqCst) {
            snapshot(&runner, &mut st, &started);
            let dir = checkpoint_dir(run_dir, st.step);
            checkpoint::save(&dir, config, &learner, &st, Some(&replay))?;
            return Err(Error::Interrupted {
                step: st.step,
                checkpoint: dir,
            });
        }
    }

    let loop_seconds = loop_started.elapsed().as_secs_f64().max(1e-9);

    let (_, mean, std) = match last_eval {
        Some(e) if e.0 == st.step => e,
        _ => evaluate_into(
            config,
            &mut learner,
            &mut st,
            &mut metrics,
            wall(&started),
            &mut eval_runner,
        )?,
    };
    snapshot(&runner, &mut st, &started);
    let final_dir = run_dir.join("final");
    checkpoint::save(
        &final_dir,
        config,
        &learner,
        &st,
        tc.save_replay.then_some(&replay),
    )?;
    bar.finish_and_clear();
    let session_steps = (st.step - start_step).max(1) as f64;
    let python_env_seconds_per_step = runner
        .python_step_time()
        .map(|(steps, seconds)| seconds / steps.max(1) as f64);
    Ok(RunSummary {
        seed: config.seed,
        steps: st.step,
        episodes: st.episodes,
        updates: st.updates,
        wall_seconds: st.wall_seconds,
        loop_seconds,
        env_steps_per_second: (st.step - start_step) as f64 / loop_seconds,
        updates_per_second: (st.updates - start_updates) as f64 / loop_seconds,
        env_seconds_per_step: env_seconds / session_steps,
        python_env_seconds_per_step,
        final_eval_mean_return: mean,
        final_eval_std_return: std,
        alpha: st.alpha,
        checkpoint: final_dir,
        run_dir: run_dir.to_path_buf(),
    })
}

/// The updates of one step, once `collected` steps have been collected: SB3 trains once more than
/// `learning_starts` have been.
fn learn<L: Learner>(
    learner: &mut L,
    replay: &Replay,
    st: &mut TrainState,
    config: &Config,
    sampled: &mut Sampled,
    collected: u64,
) -> Result<()> {
    let tc = &config.train;
    if collected <= tc.learning_starts || replay.len < tc.batch_size {
        return Ok(());
    }
    for _ in 0..tc.updates_per_step {
        replay.sample(&mut st.rng, tc.batch_size, sampled);
        let l: Losses = learner.update(&sampled.batch(), &mut st.rng);
        for (what, v) in [
            ("critic loss", l.critic),
            ("actor loss", l.actor),
            ("temperature loss", l.alpha),
        ] {
            if !v.is_finite() {
                return Err(Error::Diverged {
                    step: collected,
                    what: what.into(),
                    value: v,
                });
            }
        }
        st.updates += 1;
        st.alpha = learner.alpha();
        st.losses.count += 1;
        st.losses.critic += l.critic;
        st.losses.actor += l.actor;
        st.losses.alpha += l.alpha;
        if let Some(h) = l.entropy {
            *st.losses.entropy.get_or_insert(0.0) += h;
        }
    }
    Ok(())
}

/// Continues the episode a checkpoint was taken in: a model from its saved state; a Gymnasium
/// env, whose state cannot be saved, from the seed of an episode that had not yet stepped, and
/// otherwise (a checkpoint taken on Ctrl-C or at the end of the run) with a new episode, saying
/// so.
fn resume_episode(
    runner: &mut Runner,
    st: &mut TrainState,
    env: &str,
    obs: &mut [f64],
) -> Result<()> {
    if let Runner::Model(sim) = runner {
        sim.restore(&st.sim_state, st.sim_steps, obs);
        return Ok(());
    }
    match st.episode_seed {
        Some(seed) if st.sim_steps == 0 => runner.reset_seeded(seed, obs),
        _ => {
            eprintln!(
                "note: the checkpoint was taken {} steps into an episode of {env}, whose state cannot be restored: that episode is dropped and a new one begins",
                st.sim_steps
            );
            st.episode_return = 0.0;
            st.episode_length = 0;
            runner.reset(&mut st.rng, obs)
        }
    }
}

fn checkpoint_dir(run_dir: &Path, step: u64) -> PathBuf {
    run_dir.join("checkpoints").join(format!("step_{step}"))
}

/// Deterministic evaluation at the current step (episodes seeded from the run's seed and the step);
/// appends its row to the metrics and records its mean return in the state.
fn evaluate_into(
    config: &Config,
    learner: &mut dyn Learner,
    st: &mut TrainState,
    metrics: &mut Metrics,
    wall: f64,
    runner: &mut Option<Runner>,
) -> Result<(u64, f64, f64)> {
    let (step, episodes) = (st.step, st.episodes);
    let mut rng: Rng = rng::derived(config.seed, EVAL_TAG, step);
    let runner = match runner {
        Some(r) => r,
        None => runner.insert(config.env.start("evaluation env")?),
    };
    let run = run_episodes(
        &config.env,
        runner,
        config.train.eval_episodes,
        &mut rng,
        |obs, rng| Ok(learner.eval_action(obs, rng)),
    )?;
    let (mean, std) = mean_std(&run.returns);
    let mean_len = run.lengths.iter().sum::<u64>() as f64 / run.lengths.len() as f64;
    let empty = String::new;
    metrics.row(&[
        "eval".into(),
        step.to_string(),
        episodes.to_string(),
        fmt(mean),
        fmt(std),
        fmt(mean_len),
        empty(),
        empty(),
        empty(),
        fmt(learner.alpha()),
        empty(),
        format!("{wall:.3}"),
    ])?;
    st.last_eval_return = Some(mean);
    Ok((step, mean, std))
}
