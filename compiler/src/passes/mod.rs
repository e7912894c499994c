//! Transformations of the IR.
//!
//! - [`quantize`]: float model → integer model (per-layer symmetric int8).

pub mod quantize;
