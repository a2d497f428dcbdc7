//! The `maxent` command line (DESIGN §3). Only argument handling lives here; every command is a
//! library call. Exit codes: 0 success, 2 bad input (one line naming the culprit), 1 a failure of
//! the run itself.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use maxent::{Config, Error, commands};

#[derive(Parser)]
#[command(
    name = "maxent",
    version,
    about = "Maximum-entropy RL: soft actor-critic and exact soft value iteration"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once per process: the sweep's many flags make its variant large, and that costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Train a soft actor-critic agent from a config, or resume a run from a checkpoint.
    #[command(group(clap::ArgGroup::new("source").required(true).args(["config", "resume"])))]
    Train {
        #[arg(long)]
        config: Option<PathBuf>,
        /// A checkpoint dir to continue from (its config is used; only train.total_steps may change).
        #[arg(long, conflicts_with_all = ["seed", "seeds"])]
        resume: Option<PathBuf>,
        /// Run dir (default: runs/<name>-<seed>); with several seeds, the parent of their run dirs.
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long, conflicts_with = "seeds")]
        seed: Option<u64>,
        /// Several seeds, comma-separated: sibling run dirs, two at a time.
        #[arg(long, value_delimiter = ',')]
        seeds: Option<Vec<u64>>,
        /// Override a key: KEY=VALUE, the value read as TOML (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Evaluate a checkpoint's policy, or a solution's exact policy: mean ± std return over
    /// seeded episodes.
    Eval {
        #[arg(long, required_unless_present = "exact", conflicts_with = "exact")]
        checkpoint: Option<PathBuf>,
        /// A solution dir: run its exact MaxEnt-optimal policy (sampled, as compare runs it).
        #[arg(long)]
        exact: Option<PathBuf>,
        /// Episodes (default: the config's train.eval_episodes).
        #[arg(long)]
        episodes: Option<usize>,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Sample actions instead of taking tanh(mean).
        #[arg(long)]
        stochastic: bool,
        #[arg(long)]
        json: bool,
    },
    /// Replay actions from a given state (or a seeded reset) and print observations and rewards.
    Rollout {
        /// A built-in env name (pendulum, mountain_car, multigoal, point_mass_lqr,
        /// point_mass_noisy), an env file, or gymnasium:ID.
        #[arg(long)]
        env: String,
        /// The start state, components separated by commas (default: the reset seeded with
        /// --seed).
        #[arg(long, allow_hyphen_values = true)]
        state: Option<String>,
        /// A file with one action per line, components separated by commas.
        #[arg(long)]
        actions: PathBuf,
        /// Seed of the reset and of the transition noise.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Override an env key: env.KEY=VALUE (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// Print one JSON object on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Solve a config's problem exactly (tabular soft value iteration) into a solution dir.
    Solve {
        #[arg(long)]
        config: PathBuf,
        /// Solution directory (default: runs/<name>-exact).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Override a key: KEY=VALUE, the value read as TOML (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Compare a trained agent with the exact solution of its problem.
    Compare {
        #[arg(long)]
        checkpoint: PathBuf,
        #[arg(long)]
        exact: PathBuf,
        /// Report dir (default: runs/<name>-compare).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Seeded episodes per policy (their states are the visited set).
        #[arg(long, default_value_t = 10)]
        episodes: usize,
        /// States per set.
        #[arg(long, default_value_t = 200)]
        states: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long)]
        json: bool,
    },
    /// Value and policy at a state, from checkpoints and solutions side by side.
    Query {
        /// A checkpoint directory (repeatable).
        #[arg(long)]
        checkpoint: Vec<PathBuf>,
        /// A solution directory (repeatable).
        #[arg(long)]
        exact: Vec<PathBuf>,
        /// The state, components separated by commas.
        #[arg(long, allow_hyphen_values = true)]
        state: String,
        #[arg(long)]
        json: bool,
    },
    /// Learning curves (returns, α, losses) of run dirs as a PNG; runs of one config become mean ± std bands.
    Plot {
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Output dir (default: the current dir).
        #[arg(long, default_value = ".")]
        out: PathBuf,
    },
    /// A config × a grid of settings × seeds as a sweep dir, run here (--local) or as a SLURM job
    /// array (--slurm); --run/--index runs one task of it, --status lists its runs.
    #[command(group(clap::ArgGroup::new("mode").required(true).args(["config", "run", "status"])))]
    Sweep {
        #[arg(long)]
        config: Option<PathBuf>,
        /// KEY=V1,V2,... (repeatable): the grid is their cartesian product.
        #[arg(long = "grid", value_name = "KEY=V1,V2,...", requires = "config")]
        grid: Vec<String>,
        /// Seeds of every cell, comma-separated (default: the config's seed).
        #[arg(long, value_delimiter = ',', requires = "config")]
        seeds: Option<Vec<u64>>,
        /// Override a key of every run: KEY=VALUE (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE", requires = "config")]
        sets: Vec<String>,
        /// Sweep dir (default: runs/<name>-sweep).
        #[arg(long, requires = "config")]
        out: Option<PathBuf>,
        /// Run the sweep on this machine.
        #[arg(long, requires = "config", conflicts_with = "slurm")]
        local: bool,
        /// Runs at a time with --local (default: the cores), each on one thread.
        #[arg(long, requires = "local")]
        jobs: Option<usize>,
        /// Write sweep.sbatch, one SLURM job array.
        #[arg(long, requires = "config")]
        slurm: bool,
        /// Submit sweep.sbatch with sbatch and record the job id.
        #[arg(long, requires = "slurm")]
        submit: bool,
        #[arg(long, requires = "slurm")]
        partition: Option<String>,
        #[arg(long, requires = "slurm")]
        account: Option<String>,
        /// Time limit of each array task (SLURM's --time).
        #[arg(long, requires = "slurm")]
        time: Option<String>,
        /// Memory of each array task (SLURM's --mem).
        #[arg(long, requires = "slurm")]
        mem: Option<String>,
        /// Array tasks at once (%P of --array).
        #[arg(long, requires = "slurm")]
        max_parallel: Option<usize>,
        /// Let SLURM requeue preempted tasks (they resume from their checkpoints).
        #[arg(long, requires = "slurm")]
        requeue: bool,
        /// An extra #SBATCH line (repeatable), e.g. --sbatch=--qos=low.
        #[arg(
            long = "sbatch",
            value_name = "LINE",
            requires = "slurm",
            allow_hyphen_values = true
        )]
        sbatch: Vec<String>,
        /// A sweep dir: run one of its tasks (what sweep.sbatch calls).
        #[arg(long, requires = "index")]
        run: Option<PathBuf>,
        #[arg(long, requires = "run")]
        index: Option<usize>,
        /// A sweep dir: the state of each of its runs.
        #[arg(long)]
        status: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// One table over many runs: a row per sweep cell (or per config of loose run dirs) with mean ±
    /// std, median, IQM and its 95% bootstrap interval of the final evaluation.
    Report {
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Output dir (default: DIR/report for one DIR, else runs/report).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Also draw learning-curve bands per row.
        #[arg(long)]
        plot: bool,
        #[arg(long)]
        json: bool,
    },
    /// Print a config fully resolved (defaults filled, env inline), as run dirs record it.
    Config {
        #[arg(long)]
        config: PathBuf,
        /// Override a key: KEY=VALUE, the value read as TOML (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
    },
}

fn main() -> ExitCode {
    maxent::process::init();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(), // --help, --version
        Err(e) => {
            let rendered = e.to_string();
            let first = rendered.lines().next().unwrap_or("bad arguments");
            eprintln!("{first} (see maxent --help)");
            return ExitCode::from(2);
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(match e {
                Error::Interrupted { .. } => 130,
                _ if e.is_bad_input() => 2,
                _ => 1,
            })
        }
    }
}

fn run(cli: Cli) -> Result<(), Error> {
    match cli.command {
        Command::Train {
            config,
            resume,
            out,
            seed,
            seeds,
            sets,
            json,
        } => {
            let _ = ctrlc::set_handler(|| {
                maxent::training::run::INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst)
            });
            if let Some(dir) = resume {
                let summary = commands::resume(&dir, out, &sets)?;
                report_runs(&[summary], json);
            } else {
                let path = config.expect("clap requires --config or --resume");
                let summaries = commands::train(&path, out, seed, seeds, &sets)?;
                report_runs(&summaries, json);
            }
        }
        Command::Eval {
            checkpoint,
            exact,
            episodes,
            seed,
            stochastic,
            json,
        } => {
            let r = match (checkpoint, exact) {
                (Some(dir), _) => commands::eval(&dir, episodes, seed, stochastic)?,
                (None, Some(dir)) => commands::eval_exact(&dir, episodes, seed)?,
                (None, None) => unreachable!("clap requires --checkpoint or --exact"),
            };
            if json {
                print_json(&r);
            } else {
                println!(
                    "mean return {:.2} ± {:.2} over {} episodes{}{}",
                    r.mean_return,
                    r.std_return,
                    r.episodes,
                    r.goals_reached
                        .zip(r.episodes_at_goal)
                        .map_or(String::new(), |(g, n)| format!(
                            ", {n} ended at a goal ({g} distinct)"
                        )),
                    r.note.map_or(String::new(), |n| format!(" ({n})"))
                );
            }
        }
        Command::Rollout {
            env,
            state,
            actions,
            seed,
            sets,
            json,
        } => {
            let out = commands::rollout(&env, state.as_deref(), &actions, seed, &sets)?;
            if json {
                print_json(&out);
            } else {
                println!("step\treward\tterminated\ttruncated\tstate\tobservation");
                println!("0\t\t\t\t\t{:?}", out.initial_observation);
                for i in 0..out.observations.len() {
                    let state = out
                        .states
                        .as_ref()
                        .map_or(String::new(), |s| format!("{:?}", s[i]));
                    println!(
                        "{}\t{:.6}\t{}\t{}\t{state}\t{:?}",
                        i + 1,
                        out.rewards[i],
                        out.terminated[i],
                        out.truncated[i],
                        out.observations[i]
                    );
                }
            }
        }
        Command::Solve {
            config,
            out,
            sets,
            json,
        } => {
            let summary = commands::solve(&config, out, &sets)?;
            if json {
                print_json(&summary);
            }
            summary.check_converged()?;
        }
        Command::Compare {
            checkpoint,
            exact,
            out,
            episodes,
            states,
            seed,
            json,
        } => {
            let opts = maxent::compare::Options {
                episodes,
                states,
                seed,
                ..Default::default()
            };
            let (report, md) = commands::compare(&checkpoint, &exact, out, opts)?;
            if json {
                print_json(&report);
            } else {
                print!("{md}");
            }
        }
        Command::Query {
            checkpoint,
            exact,
            state,
            json,
        } => {
            let sources = commands::query(&checkpoint, &exact, &state)?;
            if json {
                print_json(&serde_json::json!({ "state": state, "sources": sources }));
            } else {
                for v in &sources {
                    println!(
                        "{} {}: v = {:.6}  policy mean = {}  std = {}",
                        v["source"].as_str().unwrap_or_default(),
                        v["dir"].as_str().unwrap_or_default(),
                        v["v"].as_f64().unwrap_or(f64::NAN),
                        v["policy_mean"],
                        v["policy_std"]
                    );
                }
            }
        }
        Command::Plot { dirs, out } => {
            let path = maxent::plot::learning_curves(&dirs, &out)?;
            eprintln!("wrote {}", path.display());
        }
        Command::Sweep {
            config,
            grid,
            seeds,
            sets,
            out,
            local,
            jobs,
            slurm,
            submit,
            partition,
            account,
            time,
            mem,
            max_parallel,
            requeue,
            sbatch,
            run,
            index,
            status,
            json,
        } => {
            if let (Some(dir), Some(index)) = (run, index) {
                let _ = ctrlc::set_handler(|| {
                    maxent::training::run::INTERRUPTED
                        .store(true, std::sync::atomic::Ordering::SeqCst)
                });
                let bar = indicatif::ProgressBar::hidden();
                match maxent::sweep::task::run(&dir, index, &bar)? {
                    maxent::sweep::task::Outcome::Skipped => {
                        eprintln!("run {index} of {} finished before: skipped", dir.display())
                    }
                    maxent::sweep::task::Outcome::Trained(s) => report_runs(&[s], json),
                }
                return Ok(());
            }
            if let Some(dir) = status {
                let runs = maxent::sweep::task::status(&dir)?;
                if json {
                    print_json(&serde_json::json!({ "runs": runs }));
                } else {
                    println!("index	state	step	seed	settings	run dir	slurm	error");
                    for r in &runs {
                        println!(
                            "{}	{}	{}	{}	{}	{}	{}	{}",
                            r.index,
                            r.state,
                            r.step.map_or("-".into(), |s| s.to_string()),
                            r.seed,
                            r.settings.join(" "),
                            r.run_dir,
                            r.slurm.as_deref().unwrap_or("-"),
                            r.error.as_deref().unwrap_or("")
                        );
                    }
                }
                return Ok(());
            }
            let config = config.expect("clap requires --config, --run or --status");
            let _ = ctrlc::set_handler(|| {
                maxent::training::run::INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst)
            });
            let backend = match (local, slurm) {
                (true, _) => maxent::sweep::Backend::Local {
                    jobs: jobs.unwrap_or_else(|| {
                        std::thread::available_parallelism().map_or(1, |n| n.get())
                    }),
                },
                (_, true) => maxent::sweep::Backend::Slurm {
                    options: maxent::sweep::slurm::Options {
                        partition,
                        account,
                        time,
                        mem,
                        max_parallel,
                        requeue,
                        extra: sbatch,
                    },
                    submit,
                },
                _ => {
                    return Err(Error::argument(
                        "sweep",
                        "say where it runs: --local or --slurm",
                    ));
                }
            };
            let mut out = maxent::sweep::start(&config, &grid, seeds, &sets, out, backend)?;
            let message = out["message"].take();
            if json {
                out.as_object_mut().expect("an object").remove("message");
                print_json(&out);
            } else {
                eprintln!("{}", message.as_str().unwrap_or_default());
            }
        }
        Command::Report {
            dirs,
            out,
            plot,
            json,
        } => {
            let out = out.unwrap_or_else(|| match dirs.as_slice() {
                [one] => one.join("report"),
                _ => PathBuf::from("runs").join("report"),
            });
            let rows = maxent::report::write(&dirs, &out, plot)?;
            if json {
                print_json(&serde_json::json!({ "rows": rows, "out": out }));
            } else {
                print!("{}", maxent::report::markdown(&rows));
                eprintln!("wrote {}", out.display());
            }
        }
        Command::Config { config, sets } => {
            let config = Config::load(&config, &sets)?;
            print!("{}", config.to_toml());
        }
    }
    Ok(())
}

fn report_runs(runs: &[maxent::training::RunSummary], json: bool) {
    let returns: Vec<f64> = runs.iter().map(|r| r.final_eval_mean_return).collect();
    let (mean, std) = maxent::math::mean_std(&returns);
    if json {
        if let [one] = runs {
            print_json(one);
        } else {
            print_json(
                &serde_json::json!({ "runs": runs, "final_eval_mean_return": mean, "final_eval_std_over_seeds": std }),
            );
        }
        return;
    }
    println!("seed\tsteps\tfinal eval return\tenv steps/s\tupdates/s\tcheckpoint");
    for r in runs {
        println!(
            "{}\t{}\t{:.2} ± {:.2}\t{:.1}\t{:.1}\t{}",
            r.seed,
            r.steps,
            r.final_eval_mean_return,
            r.final_eval_std_return,
            r.env_steps_per_second,
            r.updates_per_second,
            r.checkpoint.display()
        );
    }
    if runs.len() > 1 {
        println!("mean over {} seeds: {mean:.2} ± {std:.2}", runs.len());
    }
}

fn print_json(value: &impl serde::Serialize) {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, value).expect("plain data serializes");
    let _ = writeln!(out);
}
