//! Cross-crate integration tests and the lit suite of the Phi toolchain.
