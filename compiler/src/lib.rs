//! The Phi compiler: ONNX-text frontend, passes, backend, trainer and the `phic` driver.

pub mod frontend;
pub mod train;
