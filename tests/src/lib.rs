//! Cross-crate integration tests and the lit suite of the Phi toolchain: a FileCheck
//! ([`filecheck`], also the `FileCheck` binary), lit's `not` (the `not` binary), and the runner
//! of the `tests/lit/**` files ([`lit`], driven by `tests/lit.rs`), and [`compile`], the
//! pipeline helper of the integration tests. See `docs/testing.md`.

pub mod compile;
pub mod filecheck;
pub mod lit;
