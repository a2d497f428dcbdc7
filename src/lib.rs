//! maxent: maximum-entropy reinforcement learning, sampled (soft actor-critic) and exact
//! (tabular soft value iteration), on one problem definition. See DESIGN.md for the conventions.

pub mod check;
pub mod commands;
pub mod compare;
pub mod config;
pub mod env;
pub mod error;
pub mod exact;
pub mod heatmap;
pub mod io;
pub mod lanes;
pub mod math;
pub mod matrix;
pub mod objective;
pub mod plot;
pub mod process;
pub mod progress;
pub mod report;
pub mod rng;
pub mod rollout;
pub mod sac;
pub mod sql;
pub mod stats;
pub mod sweep;
pub mod tanh_gaussian;
pub mod training;

pub use config::Config;
pub use env::Env;
pub use error::{Error, Result};
