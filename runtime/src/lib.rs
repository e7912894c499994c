//! Execution of Phi programs.
//!
//! - [`interp`]: the reference interpreter of the `snn` dialect, float32 and integer modes;
//! - [`emu`]: `phi-emu`, the instruction-level emulator with its timing and energy models;
//! - [`neuron`]: the LIF/IF step (snnTorch semantics, fixed-point variant);
//! - [`phi`]: semantics of the `phi` dialect (matching, Level 1, Level 2, PWP tables);
//! - [`kernels`]: synaptic, pooling and elementwise kernels;
//! - [`tensor`] and [`npy`]: runtime tensors and their `.npy` form; [`metrics`]: read-out;
//! - [`rng`]: seeded, portable randomness.

pub mod emu;
pub mod input;
pub mod interp;
pub mod kernels;
pub mod metrics;
pub mod neuron;
pub mod npy;
pub mod phi;
pub mod rng;
pub mod tensor;

pub use interp::{Options, run, run_with};
pub use tensor::{Data, Tensor};
