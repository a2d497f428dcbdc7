//! The exact, tabular solver: discretize a problem (grid, mdp), solve its soft Bellman equation
//! (soft_vi, linear), and keep the result (solution).

pub mod grid;
pub mod hermite;
pub mod linear;
pub mod mdp;
pub mod soft_vi;
pub mod solution;

pub use grid::{ActionGrid, StateGrid};
pub use mdp::TabularMdp;
pub use soft_vi::{SoftBellman, SolveStats};
pub use solution::Solution;
