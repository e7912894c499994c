//! Surrogate-gradient training of feed-forward spiking networks (CPU, candle).
//!
//! The trainer is independent of the compiler's IR: the driver translates a
//! model into a [`NetSpec`] (a stack of [`LayerSpec::Linear`],
//! [`LayerSpec::Conv2d`], [`LayerSpec::Flatten`] and [`LayerSpec::Lif`] layers
//! on a per-step input of shape `[F]` or `[C, H, W]`), provides initial
//! [`Weights`] (from [`init_weights`] or a checkpoint) and [`Dataset`]s of
//! binary spike trains, and gets trained [`Weights`] back.
//!
//! # API
//!
//! ```text
//! NetSpec { time_steps, input_shape: Vec<usize> /* [F] or [C,H,W] */, layers: Vec<LayerSpec> }
//! LayerSpec::{Linear { name, in_features, out_features, bias },
//!             Conv2d { name, in_channels, out_channels, kernel: [kh,kw], strides: [sh,sw],
//!                      pads: [top,left,bottom,right], bias },
//!             Flatten, Lif { beta, threshold, reset }}
//! NetSpec::validate(&self) -> Result<(), TrainError>
//! NetSpec::shapes(&self) -> Result<Vec<Vec<usize>>, TrainError>    // per-step output shape per layer
//! NetSpec::synapses(&self) -> impl Iterator<Item = Synapse>        // name, weight/bias shapes, fan-in
//! init_weights(&NetSpec, seed: u64) -> Result<Weights, TrainError>
//! train(&NetSpec, init: Weights, train: &Dataset, valid: Option<&Dataset>, &TrainConfig,
//!       progress: &mut dyn FnMut(&EpochReport)) -> Result<(Weights, TrainReport), TrainError>
//! train_with(…same…, extra: &mut dyn FnMut(&ForwardOutput, batch: usize)
//!                        -> Result<Option<Tensor /* scalar */>, TrainError>,
//!            progress) -> Result<(Weights, TrainReport), TrainError>   // loss = CE + extra
//! EpochReport { epoch, learning_rate, train_loss /* CE + extra */, extra_loss: Option<f64>,
//!               train_accuracy, valid: Option<EvalReport>, elapsed }
//! evaluate(&NetSpec, &Weights, &Dataset) -> Result<EvalReport, TrainError>
//! save_safetensors(&Weights, &Path) -> Result<(), TrainError>   // atomic
//! load_safetensors(&Path) -> Result<Weights, TrainError>
//! Dataset::new(Array<u8, D> [N,T,…], Vec<u8>) / Dataset::load_npy(x, y)
//! Model::new(&NetSpec, &Weights) -> Model;  Model::forward(&Tensor [T,B,…], &ForwardOptions)
//!       -> ForwardOutput { counts [B,C],
//!                          gemm_inputs: per Linear [T,B,K], per Conv2d im2col [T,B,P,C·kh·kw],
//!                          spikes: per LIF [T,B,…] }
//! // pattern-aware fine-tuning (paft.rs)
//! LayerPatterns::new(k, q, patterns: Vec<i32> /* [parts, q] */, outputs: N_l) -> Result<_, TrainError>
//! paft::effective_patterns(x: &[u8] rows×K, K, &LayerPatterns) -> Result<Vec<u8> /* P* */, _>
//! paft::level2_rows(x: &[u8], K, &LayerPatterns) -> Result<u64 /* Σ Hamming(x, p*) */, _>
//! level2_cost(x: &Tensor [T,B,…,K], &LayerPatterns) -> Result<Tensor, _>
//!       // N_l·(Σ x·(1−2P*) + Σ P*)/B: Level-2 ops per sample, gradient (1−2P*)·N_l/B
//! paft::measure(&Model, &Dataset, &[LayerPatterns]) -> Result<Level2Report, _>
//!       // accuracy, Level-2 and bit-sparse ops per sample and layer
//! ```
//!
//! Two commands sit on top: `phic train` ([`cli`]) and `phic tune` ([`tune_cli`], pattern-aware
//! fine-tuning with [`train_with`] and [`level2_cost`], see `docs/paft.md`).
//!
//! [`Model::forward`] is the single differentiable forward pass used by both
//! training and evaluation; it also returns every synaptic layer's (binary)
//! GEMM input as the compiler sees it (a convolution's im2col matrix, in the
//! layout of `snn.im2col`) and every LIF layer's spikes, all part of the
//! autograd graph, so that fine-tuning objectives can be added on top of it
//! ([`train_with`]; [`paft`] is one).
//!
//! # Semantics (shared with the reference interpreter)
//!
//! Per sample, for `t = 0..T-1`, with input `x[t] ∈ {0,1}^F` (or `{0,1}^{C×H×W}`):
//! a Linear layer computes `I[t] = x[t]·W + b` with `W` stored `[in, out]`; a
//! Conv2d layer computes `I[t][o, oy, ox] = b[o] + Σ W[o, c, ky, kx] ·
//! x[t][c, oy·sh + ky − top, ox·sw + kx − left]` (zero outside the image, `W`
//! stored `[O, C, kh, kw]`), as `snn.conv2d`; Flatten reshapes `[C, H, W]` to
//! `[C·H·W]` in row-major order, as `snn.flatten`. A LIF layer keeps a membrane
//! `v` (initially 0) per neuron and implements snnTorch
//! `Leaky(reset_delay=False)`:
//!
//! ```text
//! reset = (v_prev > threshold)                      # detached
//! subtract: m = (beta*v_prev + I) - reset*threshold
//! zero:     m = beta*((1-reset)*v_prev) + I
//! spk = (m > threshold)                             # strict, exactly 0.0 / 1.0
//! do_reset = spk - reset
//! subtract: v = m - do_reset*threshold
//! zero:     v = m - do_reset*m
//! ```
//!
//! The output of the network is the spike count of the last LIF layer over
//! the `T` steps; the predicted class is the argmax of the counts, ties going
//! to the lowest index ([`argmax_lowest`]).
//!
//! # Gradients
//!
//! The spike is [`surrogate::Heaviside`], a candle `CustomOp1` whose forward
//! pass is the exact step and whose `bwd` multiplies the incoming gradient by
//! a surrogate derivative ([`Surrogate::FastSigmoid`] `1/(1+k|u|)²` by
//! default, or [`Surrogate::Atan`]) at `u = m − threshold`. The carried-over
//! `reset` is computed from the detached membrane; with
//! [`TrainConfig::detach_reset`] (the default) the `spk` inside `do_reset` is
//! detached too, so the reset path carries no gradient (common practice; on
//! the digits MLP it trains as well as the undetached variant, and values are
//! unaffected either way).
//!
//! The loss is snnTorch's `ce_count_loss`: cross-entropy of the spike counts
//! (times [`TrainConfig::count_scale`]) as logits, plus, with [`train_with`],
//! whatever scalar term the caller computes from each batch's [`ForwardOutput`]
//! (pattern-aware fine-tuning adds `λ · Σ_l` [`level2_cost`]). Optimiser:
//! candle-nn AdamW with decoupled weight decay and an optional cosine schedule.
//!
//! # Determinism
//!
//! Initialisation ([`init_weights`]) and shuffling use `ChaCha8Rng` seeded
//! with `seed_from_u64` (shuffling on stream 1), and all sample-order
//! dependent reductions run in a fixed order, so the same seed and data give
//! bit-identical weights on the same machine. The only multi-threaded kernel
//! involved is candle's CPU matmul (the `gemm` crate): it splits the *output*
//! into tiles across threads while each output element's dot product is
//! accumulated by one thread in a fixed k-order, so its results do not depend
//! on the thread count or scheduling; element-wise ops, reductions and the
//! convolutions' gathers (`index_select`, and `index_add` backwards, which adds
//! in index order) are single-threaded. To force single-threaded execution
//! anyway, set `RAYON_NUM_THREADS=1` (candle reads it for its matmul
//! parallelism) in the environment of the process.

pub mod cli;
mod data;
mod model;
pub mod paft;
mod spec;
pub mod surrogate;
mod trainer;
pub mod tune_cli;
mod weights;

use std::fmt;
use std::path::PathBuf;

pub use data::Dataset;
pub use model::{ForwardOptions, ForwardOutput, Model};
pub use paft::{LayerPatterns, Level2Report, level2_cost};
pub use spec::{LayerSpec, NetSpec, Reset, Synapse};
pub use surrogate::Surrogate;
pub use trainer::{
    EpochReport, EvalReport, ExtraLoss, LrSchedule, TrainConfig, TrainReport, argmax_lowest, evaluate, evaluate_model,
    train, train_with,
};
pub use weights::{
    WeightTensor, Weights, bias_name, from_safetensors_bytes, init_weights, load_safetensors, save_safetensors,
    to_safetensors_bytes, weight_name,
};

/// Everything that can go wrong while training.
#[derive(Debug)]
pub enum TrainError {
    /// The [`NetSpec`] is inconsistent.
    InvalidSpec(String),
    /// The [`TrainConfig`] has an out-of-range value.
    InvalidConfig(String),
    /// A dataset does not fit the network or is malformed.
    InvalidData(String),
    /// The [`Weights`] do not match the network.
    InvalidWeights(String),
    /// The loss became NaN or infinite during this (1-based) epoch.
    Diverged {
        /// The epoch in which it happened.
        epoch: usize,
    },
    /// A tensor operation failed.
    Candle(candle_core::Error),
    /// Reading or writing a file failed.
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A safetensors file could not be encoded or decoded.
    Safetensors(String),
    /// An `.npy` file could not be read.
    Npy(String),
}

impl fmt::Display for TrainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrainError::InvalidSpec(m) => write!(f, "invalid network: {m}"),
            TrainError::InvalidConfig(m) => write!(f, "invalid training configuration: {m}"),
            TrainError::InvalidData(m) => write!(f, "invalid data: {m}"),
            TrainError::InvalidWeights(m) => write!(f, "invalid weights: {m}"),
            TrainError::Diverged { epoch } => {
                write!(f, "training diverged (non-finite loss) in epoch {epoch}")
            }
            TrainError::Candle(e) => write!(f, "tensor error: {e}"),
            TrainError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            TrainError::Safetensors(m) => write!(f, "safetensors: {m}"),
            TrainError::Npy(m) => write!(f, "npy: {m}"),
        }
    }
}

impl std::error::Error for TrainError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TrainError::Candle(e) => Some(e),
            TrainError::Io { source, .. } => Some(source),
            TrainError::InvalidSpec(_)
            | TrainError::InvalidConfig(_)
            | TrainError::InvalidData(_)
            | TrainError::InvalidWeights(_)
            | TrainError::Diverged { .. }
            | TrainError::Safetensors(_)
            | TrainError::Npy(_) => None,
        }
    }
}

impl From<candle_core::Error> for TrainError {
    fn from(e: candle_core::Error) -> Self {
        TrainError::Candle(e)
    }
}

#[cfg(test)]
mod conv_tests;
#[cfg(test)]
mod tests;
