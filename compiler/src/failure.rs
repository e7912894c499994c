//! Why a command failed: a diagnostic (exit code 1) or a usage error (exit code 2).
//!
//! Shared by the `phic` driver and the `phic train`/`phic tune` subcommands, which sit below
//! it; only the driver renders failures.

use phi_dialect::Diagnostic;

/// Why a command failed.
#[derive(Debug)]
pub enum Failure {
    /// A compile or run error.
    Diag(Diagnostic),
    /// A usage error (exit code 2).
    Usage(String),
}

impl From<Diagnostic> for Failure {
    fn from(d: Diagnostic) -> Self {
        Failure::Diag(d)
    }
}
