//! The Phi compiler: ONNX-text frontend, passes, backend, trainer and the `phic` driver.
//!
//! - [`frontend`]: ONNX text (and IR text) → verified `snn` module;
//! - [`passes`]: the pass manager and the passes (canonicalize … phi-split, tile);
//! - [`patterns`]: packed activations, partition statistics and pattern selection (k-means);
//! - [`analysis`]: measurements of compiled programs (sparsity report);
//! - [`train`]: surrogate-gradient training with candle (`phic train`);
//! - [`driver`]: the `phic` command line.

pub mod analysis;
pub mod backend;
pub mod driver;
pub mod frontend;
pub mod passes;
pub mod patterns;
pub mod train;
