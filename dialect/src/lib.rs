//! The Phi IR.
//!
//! This crate holds the intermediate representation of the Phi toolchain and its formats, and
//! nothing that executes or transforms it:
//!
//! - [`diag`]: diagnostics with labelled spans, rendered at the edge;
//! - [`location`]: op source locations;
//! - [`print`]: the MLIR generic-syntax printer.
#![warn(missing_docs)]

pub mod diag;
pub mod location;
pub mod print;

pub use diag::{DResult, Diagnostic, FileId, SourceMap, Span};
pub use location::Location;
