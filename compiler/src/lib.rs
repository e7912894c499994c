//! The Phi compiler: ONNX-text frontend, passes, backend, trainer and the `phic` driver.
//!
//! - [`frontend`]: ONNX text (and IR text) → verified `snn` module;
//! - [`passes`]: the pass manager and the passes (canonicalize … phi-split, tile);
//! - [`patterns`]: packed activations, partition statistics and pattern selection (k-means);
//! - [`data`]: the model's calibration and held-out data files;
//! - [`analysis`]: layer selection, layouts, the tile plan, and the sparsity report;
//! - [`backend`]: lowering a tiled module to the Phi ISA (`lower-isa`);
//! - [`train`]: surrogate-gradient training with candle (`phic train`);
//! - [`driver`]: the `phic` command line; [`target`]: the compile target from `--target` and
//!   `--hw`; [`failure`]: why a command failed (shared by the driver and the subcommands).

pub mod analysis;
pub mod backend;
pub mod data;
pub mod driver;
pub mod failure;
pub mod frontend;
pub mod passes;
pub mod patterns;
pub mod target;
pub mod train;
