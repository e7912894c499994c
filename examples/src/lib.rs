//! Data preparation for the bundled example models.
//!
//! * [`digits`]: the UCI optical digits set → rate-coded spike trains for
//!   `examples/digits_mlp` (binary `make-digits`).

pub mod digits;
