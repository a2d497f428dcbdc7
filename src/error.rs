//! The library's error type. Every variant names the file, key, argument or value at fault, in
//! one line, so that `main` can print it as is.

use std::path::PathBuf;

/// Anything that stops a command. [`Error::is_bad_input`] tells the user's mistakes (exit code 2)
/// from failures of the run itself (exit code 1).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A key of a config or env file (or of a `--set`) has a value that is not allowed.
    #[error("{origin}: {key}: {message}")]
    Config {
        origin: String,
        key: String,
        message: String,
    },
    /// A TOML file that does not parse.
    #[error("{path}:{line}:{column}: TOML syntax error: {message}")]
    Syntax {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
    /// A command-line argument that is malformed or inconsistent with the environment.
    #[error("{arg}: {message}")]
    Argument { arg: String, message: String },
    /// An input file that is missing, unreadable or malformed.
    #[error("{}: {message}", path.display())]
    Input { path: PathBuf, message: String },
    /// The solver stopped at its iteration limit above tolerance (the solution is still saved).
    #[error(
        "did not converge: residual {residual:.3e} > tolerance {tolerance:e} after {iterations} iterations (solution saved anyway; raise solver.max_iterations)"
    )]
    NotConverged {
        residual: f64,
        tolerance: f64,
        iterations: usize,
    },
    /// Exact soft policy evaluation (a linear solve) stopped above its tolerance.
    #[error(
        "exact soft policy evaluation of {what} did not converge: linear residual {residual:.3e} > tolerance {tolerance:e} after {iterations} BiCGSTAB iterations"
    )]
    PolicyEvaluation {
        what: String,
        residual: f64,
        tolerance: f64,
        iterations: usize,
    },
    /// A loss or weight became NaN or infinite.
    #[error("diverged at step {step}: {what} = {value} (the last good checkpoint is untouched)")]
    Diverged { step: u64, what: String, value: f64 },
    /// Ctrl-C: the run stopped after writing a checkpoint.
    #[error("interrupted at step {step}; checkpoint written to {}; continue with: maxent train --resume {}", checkpoint.display(), checkpoint.display())]
    Interrupted { step: u64, checkpoint: PathBuf },
    /// The tensor engine (candle) failed on an operation of a learner's own shapes: a bug, not
    /// bad input.
    #[error("tensor engine failed: {0}")]
    Engine(String),
    /// An outside program (`sbatch`) is missing or failed; its own message is passed on.
    #[error("{program}: {message}")]
    External { program: String, message: String },
    /// A Gymnasium env's worker failed mid-run (died, hung, or its env raised): the env and
    /// what happened, with the tail of its stderr.
    #[error("{env}: {message}")]
    Worker { env: String, message: String },
    /// Writing an output failed (a full disk, a read-only directory).
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl Error {
    /// True for mistakes in what the user typed or pointed us at (exit code 2).
    pub fn is_bad_input(&self) -> bool {
        !matches!(
            self,
            Error::Write { .. }
                | Error::External { .. }
                | Error::NotConverged { .. }
                | Error::PolicyEvaluation { .. }
                | Error::Engine(_)
                | Error::Diverged { .. }
                | Error::Interrupted { .. }
                | Error::Worker { .. }
        )
    }

    pub fn argument(arg: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Argument {
            arg: arg.into(),
            message: message.into(),
        }
    }

    pub fn input(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Input {
            path: path.into(),
            message: message.into(),
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;
