//! Analyses of compiled programs.
//!
//! - [`sparsity`]: bit density, Level-1 hit rate, Level-2 density and operation counts of a
//!   `phi` program on real inputs.

pub mod sparsity;
