//! The Phi IR.
//!
//! This crate holds the intermediate representation of the Phi toolchain and its formats, and
//! nothing that executes or transforms it:
//!
//! - [`ir`]: the module container (arenas of ops and values, program order, weight store);
//! - [`ops`]: op identity per dialect ([`ops::snn`] today), type rules, generic attributes;
//! - [`types`], [`attr`], [`weights`], [`location`]: the pieces ops are made of;
//! - [`print`] and [`parse`]: MLIR generic syntax, round-tripping byte for byte;
//! - [`verify`]: the invariants, checkable after every pass; [`graph`]: the petgraph view;
//! - [`diag`]: diagnostics with labelled spans, rendered at the edge;
//! - [`isa`]: the Phi ISA (instructions, encoding, listing); [`program`]: a compiled program
//!   (layer table, DRAM map); [`phibin`]: its ELF container; [`hw`]: the hardware configuration;
//!   [`target`]: the compile target (accelerator kind + configuration);
//! - [`phi_attrs`]: the `phi.*` discardable attributes, each key defined once with typed accessors.

pub mod attr;
pub mod diag;
pub mod graph;
pub mod hw;
pub mod ir;
pub mod isa;
pub mod location;
pub mod ops;
pub mod parse;
pub mod phi_attrs;
pub mod phibin;
pub mod print;
pub mod program;
pub mod target;
pub mod types;
pub mod verify;
pub mod weights;

pub use diag::{DResult, Diagnostic, FileId, SourceMap, Span};
pub use ir::{Module, OpId, ValueId};
pub use location::Location;
pub use ops::{OpKind, SnnOp};
pub use parse::parse_module;
pub use print::{PrintOptions, print_module};
pub use types::{ElemType, TensorType};
pub use verify::verify;
