//! Neuron dynamics: one time step of LIF/IF, in float and in fixed point.
//!
//! Both follow snnTorch's `Leaky(reset_delay=False)` step exactly (DESIGN §7), including its
//! handling of a membrane that is still above threshold after a reset:
//!
//! ```text
//! reset    = v_prev > threshold                  (from the stored membrane)
//! subtract: m = (beta·v_prev + I) − reset·threshold
//! zero:     m = beta·((1 − reset)·v_prev) + I
//! spike    = m > threshold                       (strict)
//! d        = spike − reset
//! subtract: v = m − d·threshold
//! zero:     v = m − d·m
//! ```
//!
//! In fixed point, `beta·v` is `(v·leak + 2^(shift−1)) >> shift` (arithmetic shift: rounding half
//! up), intermediate values are computed in i64 and every stored membrane saturates to i32.
//! IF is the same step with beta = 1 (leak = 1, shift = 0).

use phi_dialect::ops::snn::{NeuronParams, Reset};

/// Float LIF parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FloatLif {
    /// Decay in [0, 1].
    pub beta: f32,
    /// Threshold.
    pub threshold: f32,
    /// Reset mechanism.
    pub reset: Reset,
}

impl FloatLif {
    /// One step: updates the membrane `v` with current `i`, returns whether the neuron fired.
    #[inline]
    pub fn step(&self, v: &mut f32, i: f32) -> bool {
        let thr = self.threshold;
        let reset = *v > thr;
        let m = match self.reset {
            Reset::Subtract => {
                let base = self.beta * *v + i;
                if reset { base - thr } else { base }
            }
            Reset::Zero => {
                let prev = if reset { 0.0 } else { *v };
                self.beta * prev + i
            }
        };
        let spike = m > thr;
        // do_reset = spike − reset ∈ {−1, 0, 1}, applied exactly as snnTorch writes it.
        let d = spike as u8 as f32 - reset as u8 as f32;
        *v = match self.reset {
            Reset::Subtract => m - d * thr,
            Reset::Zero => m - d * m,
        };
        spike
    }
}

/// Fixed-point LIF parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FixedLif {
    /// Leak multiplier in [0, 2^shift].
    pub leak: i32,
    /// Fraction bits, 0..=30.
    pub shift: u32,
    /// Threshold.
    pub threshold: i32,
    /// Reset mechanism.
    pub reset: Reset,
}

#[inline]
fn sat(x: i64) -> i32 {
    x.clamp(i32::MIN as i64, i32::MAX as i64) as i32
}

impl FixedLif {
    /// `beta·v` in fixed point, rounding half up.
    #[inline]
    pub fn decay(&self, v: i32) -> i64 {
        let round = if self.shift > 0 { 1i64 << (self.shift - 1) } else { 0 };
        (v as i64 * self.leak as i64 + round) >> self.shift
    }

    /// One step: updates the membrane `v` with current `i`, returns whether the neuron fired.
    #[inline]
    pub fn step(&self, v: &mut i32, i: i32) -> bool {
        let thr = self.threshold as i64;
        let reset = *v as i64 > thr;
        let m = match self.reset {
            Reset::Subtract => sat(self.decay(*v) + i as i64 - if reset { thr } else { 0 }),
            Reset::Zero => sat(self.decay(if reset { 0 } else { *v }) + i as i64),
        } as i64;
        let spike = m > thr;
        let d = spike as i64 - reset as i64;
        *v = match self.reset {
            Reset::Subtract => sat(m - d * thr),
            Reset::Zero => sat(m - d * m),
        };
        spike
    }
}

impl FixedLif {
    /// [`step`](Self::step) over a slice of neurons (membranes `v`, currents `i`), writing each
    /// neuron's spike (0 or 1) to `fired`; the three slices have one length.
    ///
    /// When the magnitudes allow (`max|v| · leak + round < 2³¹` and
    /// `max|v| + max|i| + |threshold| < 2³⁰`), no intermediate value of `step` leaves the `i32`
    /// range, so it runs in `i32` without saturation — a loop the compiler vectorises — with
    /// results identical to `step` (a property test checks it); otherwise it runs `step`.
    pub fn step_slice(&self, v: &mut [i32], i: &[i32], fired: &mut [u8]) {
        let max_v = v.iter().map(|x| x.unsigned_abs()).max().unwrap_or(0) as u64;
        let max_i = i.iter().map(|x| x.unsigned_abs()).max().unwrap_or(0) as u64;
        let round = if self.shift > 0 { 1u64 << (self.shift - 1) } else { 0 };
        let thr = self.threshold.unsigned_abs() as u64;
        let fits = self.leak >= 0 && max_v * self.leak as u64 + round < 1 << 31 && max_v + max_i + thr < 1 << 30;
        if !fits {
            for ((v, &i), f) in v.iter_mut().zip(i).zip(fired.iter_mut()) {
                *f = self.step(v, i) as u8;
            }
            return;
        }
        let (leak, shift, thr, round) = (self.leak, self.shift, self.threshold, round as i32);
        let decay = |v: i32| (v * leak + round) >> shift;
        match self.reset {
            Reset::Subtract => {
                for ((v, &i), f) in v.iter_mut().zip(i).zip(fired.iter_mut()) {
                    let reset = *v > thr;
                    let m = decay(*v) + i - if reset { thr } else { 0 };
                    let spike = m > thr;
                    *v = m - (spike as i32 - reset as i32) * thr;
                    *f = spike as u8;
                }
            }
            Reset::Zero => {
                for ((v, &i), f) in v.iter_mut().zip(i).zip(fired.iter_mut()) {
                    let reset = *v > thr;
                    let m = decay(if reset { 0 } else { *v }) + i;
                    let spike = m > thr;
                    *v = m - (spike as i32 - reset as i32) * m;
                    *f = spike as u8;
                }
            }
        }
    }
}

/// A neuron of either kind.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Lif {
    /// Float model.
    Float(FloatLif),
    /// Integer model.
    Fixed(FixedLif),
}

impl Lif {
    /// From the dialect's parameters; `None` for per-neuron parameters, which are not one
    /// neuron (the interpreter builds a [`FloatLif`] per neuron from their weights).
    pub fn from_params(params: NeuronParams, reset: Reset) -> Option<Lif> {
        match params {
            NeuronParams::Float { beta, threshold } => Some(Lif::Float(FloatLif { beta, threshold, reset })),
            NeuronParams::Fixed { leak, shift, threshold } => {
                Some(Lif::Fixed(FixedLif { leak, shift, threshold, reset }))
            }
            NeuronParams::FloatPerNeuron { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The slice update (with its `i32` fast path) is `step`, neuron by neuron.
        #[test]
        fn step_slice_equals_step(
            shift in 0u32..=30,
            leak_frac in 0.0f64..=1.0,
            threshold in prop_oneof![Just(i32::MAX), Just(i32::MIN), Just(0), -2000i32..2000, any::<i32>()],
            subtract in any::<bool>(),
            small in any::<bool>(),
            v in prop::collection::vec(any::<i32>(), 0..40),
            i in prop::collection::vec(any::<i32>(), 40),
        ) {
            let leak = ((1i64 << shift) as f64 * leak_frac) as i32;
            let reset = if subtract { Reset::Subtract } else { Reset::Zero };
            let n = FixedLif { leak, shift, threshold, reset };
            // small magnitudes take the fast path, arbitrary ones mostly the exact one
            let scale = |x: i32| if small { x % 5000 } else { x };
            let v: Vec<i32> = v.into_iter().map(scale).collect();
            let i: Vec<i32> = i[..v.len()].iter().map(|&x| scale(x)).collect();
            let mut want_v = v.clone();
            let want_f: Vec<u8> = want_v.iter_mut().zip(&i).map(|(v, &i)| n.step(v, i) as u8).collect();
            let (mut got_v, mut got_f) = (v.clone(), vec![9u8; v.len()]);
            n.step_slice(&mut got_v, &i, &mut got_f);
            prop_assert_eq!(got_f, want_f);
            prop_assert_eq!(got_v, want_v);
        }
    }

    /// Runs a float neuron over a current trace, returning (spikes, membranes after each step).
    fn trace_f(n: FloatLif, currents: &[f32]) -> (Vec<u8>, Vec<f32>) {
        let mut v = 0.0;
        currents
            .iter()
            .map(|&i| {
                let s = n.step(&mut v, i);
                (s as u8, v)
            })
            .unzip()
    }

    fn trace_i(n: FixedLif, currents: &[i32]) -> (Vec<u8>, Vec<i32>) {
        let mut v = 0;
        currents
            .iter()
            .map(|&i| {
                let s = n.step(&mut v, i);
                (s as u8, v)
            })
            .unzip()
    }

    // Hand-computed traces; beta = 0.5 and thresholds that are powers of two keep every float
    // operation exact, so the expected membranes are exact too.

    #[test]
    fn subtract_reset_trace() {
        let n = FloatLif { beta: 0.5, threshold: 1.0, reset: Reset::Subtract };
        // t0: m = 0.5 (no spike)            v = 0.5
        // t1: m = 0.25 + 0.75 = 1.0 == thr  no spike (strict >), v = 1.0
        // t2: m = 0.5 + 1.0 = 1.5 > 1       spike, v = 0.5
        // t3: m = 0.25 + 0 = 0.25           v = 0.25
        // t4: m = 0.125 + 4.0 = 4.125       spike, v = 3.125  (still above threshold)
        // t5: reset carried: m = 1.5625 + 0 - 1 = 0.5625, no spike, d = -1 → v = 1.5625
        // t6: reset carried again (1.5625 > 1): m = 0.78125 + 1 - 1 = 0.78125, no spike → v = 1.78125
        let (s, v) = trace_f(n, &[0.5, 0.75, 1.0, 0.0, 4.0, 0.0, 1.0]);
        assert_eq!(s, vec![0, 0, 1, 0, 1, 0, 0]);
        assert_eq!(v, vec![0.5, 1.0, 0.5, 0.25, 3.125, 1.5625, 1.78125]);
    }

    #[test]
    fn zero_reset_trace() {
        let n = FloatLif { beta: 0.5, threshold: 1.0, reset: Reset::Zero };
        // t0: 0.5; t1: 0.25+0.75 = 1.0 (equal: no spike); t2: 0.5+1 = 1.5 spike → 0;
        // t3: 0 + 2 = 2 spike → 0; t4: 0 + 0.5 = 0.5; t5: 0.25 - 2 = -1.75
        let (s, v) = trace_f(n, &[0.5, 0.75, 1.0, 2.0, 0.5, -2.0]);
        assert_eq!(s, vec![0, 0, 1, 1, 0, 0]);
        assert_eq!(v, vec![0.5, 1.0, 0.0, 0.0, 0.5, -1.75]);
    }

    #[test]
    fn if_neuron_integrates_without_leak() {
        let n = FloatLif { beta: 1.0, threshold: 2.0, reset: Reset::Subtract };
        let (s, v) = trace_f(n, &[1.0, 1.0, 1.0, 1.0]);
        assert_eq!(s, vec![0, 0, 1, 0]);
        assert_eq!(v, vec![1.0, 2.0, 1.0, 2.0]);
    }

    #[test]
    fn fixed_point_matches_float_when_exact() {
        // beta = 0.5 = 16384 / 2^15; threshold 4, currents multiples of 4 keep everything exact
        let f = FixedLif { leak: 16384, shift: 15, threshold: 4, reset: Reset::Subtract };
        let (s, v) = trace_i(f, &[2, 3, 4, 0, 16, 0, 4]);
        // same trajectory as the float trace scaled by 4 (0.5·4 = 2, …), with rounding half up
        // t0: 2; t1: 1+3 = 4 == thr no spike; t2: 2+4 = 6 spike → 2; t3: 1; t4: 1 (0.5 rounds up)+16 = 17 spike → 13;
        // t5: carried reset: 7 (6.5 rounds up) - 4 = 3 no spike → 7; t6: 4 (3.5 → 4) + 4 - 4 = 4, no spike → 8
        assert_eq!(s, vec![0, 0, 1, 0, 1, 0, 0]);
        assert_eq!(v, vec![2, 4, 2, 1, 13, 7, 8]);
    }

    #[test]
    fn fixed_point_saturates() {
        let f = FixedLif { leak: 1, shift: 0, threshold: i32::MAX, reset: Reset::Zero };
        let (s, v) = trace_i(f, &[i32::MAX, i32::MAX, i32::MIN]);
        assert_eq!(s, vec![0, 0, 0]);
        assert_eq!(v, vec![i32::MAX, i32::MAX, -1]);
        let g = FixedLif { leak: 3, shift: 2, threshold: 10, reset: Reset::Subtract };
        let mut v = -7;
        // (-21 + 2) >> 2 = -19 >> 2 = -5 (floor), -5 + 0 = -5
        g.step(&mut v, 0);
        assert_eq!(v, -5);
    }
}
