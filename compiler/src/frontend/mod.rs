//! Frontends: readers of model formats that produce the `snn` dialect.

pub mod onnx;
