//! The Phi compiler: ONNX-text frontend, passes, backend, trainer and the `phic` driver.
//!
//! - [`frontend`]: ONNX text (and IR text) → verified `snn` module;
//! - [`passes`]: transformations (`quantize` today);
//! - [`patterns`]: packed activations, partition statistics and pattern selection (k-means);
//! - [`train`]: surrogate-gradient training with candle (`phic train`);
//! - [`driver`]: the `phic` command line.

pub mod driver;
pub mod frontend;
pub mod passes;
pub mod patterns;
pub mod train;
