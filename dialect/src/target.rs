//! The compile target: which accelerator a module is compiled for, and its configuration.
//!
//! One [`Target`] is built by the driver (from `--target` and `--hw`) and handed to the pass
//! manager; every pass that depends on the hardware (pattern width and count, tile sizes,
//! buffer capacities) reads it from there, typed, and the backend lowers for the same value.
//! Nothing converts it to text and back.

use crate::hw::HwConfig;
pub use crate::program::TargetKind;

/// An accelerator kind and its hardware configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    /// Phi, or one of the baselines.
    pub kind: TargetKind,
    /// Its configuration (the paper's Table 1 by default).
    pub hw: HwConfig,
}

impl Target {
    /// A target of `kind` on `hw`.
    pub fn new(kind: TargetKind, hw: HwConfig) -> Target {
        Target { kind, hw }
    }

    /// The Phi accelerator with the paper's configuration.
    pub fn phi() -> Target {
        Target::new(TargetKind::Phi, HwConfig::default())
    }

    /// The same hardware, another kind (the baselines of one run share the configuration).
    pub fn with_kind(&self, kind: TargetKind) -> Target {
        Target { kind, hw: self.hw.clone() }
    }
}

impl Default for Target {
    fn default() -> Self {
        Target::phi()
    }
}
