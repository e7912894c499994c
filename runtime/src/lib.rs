//! Execution of Phi programs.
//!
//! - [`interp`]: the reference interpreter of the `snn` dialect, float32 and integer modes;
//! - [`emu`]: `phi-emu`, the instruction-level emulator with its timing and energy models;
//! - [`neuron`]: the LIF/IF step (snnTorch semantics, fixed-point variant);
//! - [`phi`]: semantics of the `phi` dialect (matching, Level 1, Level 2, PWP tables);
//! - [`kernels`]: synaptic, pooling and elementwise kernels;
//! - [`tensor`] and [`npy`]: runtime tensors and their `.npy` form; [`metrics`]: read-out;
//! - [`rng`]: seeded, portable randomness;
//! - [`out!`] and [`outln!`]: `print!`/`println!` for command-line output that a closed pipe
//!   (`phic … | head`) ends quietly instead of panicking.

/// Like `print!`, but a failed write (a closed pipe) is ignored: command-line output is best
/// effort, never a panic.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// Like `println!`, but a failed write (a closed pipe) is ignored.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

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
