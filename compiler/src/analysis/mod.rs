//! Analyses of modules and compiled programs, shared by passes, the backend and the driver.
//!
//! - [`layers`]: which ops become the accelerator's layers (GEMMs with their fused neurons);
//! - [`layout`]: the data-movement chains between stored tensors and GEMMs, and their maps;
//! - [`tiling`]: the tile plan and batch of every layer (decided by `tile`, checked by the
//!   backend);
//! - [`sparsity`]: bit density, Level-1 hit rate, Level-2 density and operation counts of a
//!   `phi` program on real inputs.

pub mod layers;
pub mod layout;
pub mod sparsity;
pub mod tiling;
