//! MLIR interop through [melior](https://github.com/mlir-rs/melior), behind the `mlir` feature
//! (off by default, so that building the toolchain needs nothing from LLVM).
//!
//! With the feature, [`Interop`] is an MLIR context in which the `snn`, `phi` and `isa` dialects
//! are registered from their IRDL definitions (`dialect/irdl/phi.irdl.mlir`, embedded), so MLIR
//! verifies our ops as registered operations:
//!
//! - [`Interop::to_mlir`] turns one of our modules (any level: `snn`, integer `snn`, `phi`) or a
//!   compiled program ([`Interop::program_to_mlir`], the `isa` level) into an MLIR module —
//!   MLIR's own parser builds it from our MLIR text, locations and `dense_resource` weights
//!   included — and runs MLIR's verifier on it;
//! - [`Interop::from_mlir`] / [`Interop::program_from_mlir`] print the MLIR module in MLIR's
//!   generic form with debug info and read it back with our parser.
//!
//! Our → MLIR → our is the identity (`tests/roundtrip.rs`, for both examples at every level).
//! Errors carry MLIR's diagnostics. Without the feature this crate is empty.

#![cfg_attr(not(feature = "mlir"), allow(unused_crate_dependencies))]

#[cfg(feature = "mlir")]
mod interop;

#[cfg(feature = "mlir")]
pub use interop::{Error, IRDL, Interop};
