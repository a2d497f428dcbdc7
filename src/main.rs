//! The `maxent` command line (DESIGN §3). Only argument handling lives here; every command is a
//! library call. Exit codes: 0 success, 2 bad input (one line naming the culprit), 1 a failure of
//! the run itself.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use maxent::{Config, Error, config, rollout};

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

#[derive(Subcommand)]
enum Command {
    /// Replay actions from a given state and print states, observations and rewards.
    Rollout {
        /// A built-in env name (pendulum, multigoal, point_mass_lqr, point_mass_noisy) or an env file.
        #[arg(long)]
        env: String,
        /// The start state, components separated by commas.
        #[arg(long, allow_hyphen_values = true)]
        state: String,
        /// A file with one action per line, components separated by commas.
        #[arg(long)]
        actions: PathBuf,
        /// Seed of the transition noise (noisy envs only).
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Override an env key: env.KEY=VALUE (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// Print one JSON object on stdout.
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
            ExitCode::from(if e.is_bad_input() { 2 } else { 1 })
        }
    }
}

fn run(cli: Cli) -> Result<(), Error> {
    match cli.command {
        Command::Rollout {
            env,
            state,
            actions,
            seed,
            sets,
            json,
        } => {
            let env = config::load_env(&env, &sets)?;
            let start = rollout::parse_vector("--state", &state, env.state_dim())?;
            let actions = rollout::read_actions(&actions, env.action_dim())?;
            if let Some(axis) = env
                .state_axes()
                .iter()
                .zip(&start)
                .position(|(a, &x)| !a.periodic && (x < a.lo || x > a.hi))
            {
                let a = env.state_axes()[axis];
                eprintln!(
                    "warning: --state component {axis} = {} lies outside [{}, {}]",
                    start[axis], a.lo, a.hi
                );
            }
            let out = rollout::rollout(&env, &start, &actions, seed);
            if out.states.len() < actions.len() {
                eprintln!(
                    "note: the episode ended after {} of {} actions; the rest were not applied",
                    out.states.len(),
                    actions.len()
                );
            }
            if json {
                print_json(&out);
            } else {
                println!("step\treward\tterminated\ttruncated\tstate\tobservation");
                for i in 0..out.states.len() {
                    println!(
                        "{}\t{:.6}\t{}\t{}\t{:?}\t{:?}",
                        i + 1,
                        out.rewards[i],
                        out.terminated[i],
                        out.truncated[i],
                        out.states[i],
                        out.observations[i]
                    );
                }
            }
        }
        Command::Config { config, sets } => {
            let config = Config::load(&config, &sets)?;
            print!("{}", config.to_toml());
        }
    }
    Ok(())
}

fn print_json(value: &impl serde::Serialize) {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, value).expect("plain data serializes");
    let _ = writeln!(out);
}
