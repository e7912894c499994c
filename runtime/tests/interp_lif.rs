//! The float32 and integer interpreters on hand-computed LIF traces: a direct-current input
//! through an identity `snn.linear` into `snn.lif` / `snn.if`, both reset modes, and the
//! `v == threshold` edge case (no spike: firing is strict).

use phi_dialect::ops::snn::{Linear, Neuron, NeuronParams, Port, Reset};
use phi_dialect::weights::WeightData;
use phi_dialect::{ElemType, Location, Module, OpKind, SnnOp, TensorType, verify};
use phi_runtime::{Data, Tensor, run};

/// input (T × 1, f32 or i32) → linear (weight 1) → neuron → output.
fn model(t: usize, neuron: SnnOp, int: bool) -> Module {
    let mut m = Module::new("trace");
    let elem = if int { ElemType::I32 } else { ElemType::F32 };
    let x = m.push(
        OpKind::Snn(SnnOp::Input(Port { name: "i".into(), index: 0 })),
        vec![],
        vec![TensorType::new(vec![t, 1], elem)],
        Location::Unknown,
    );
    let x = m.result(x);
    let (wt, wd) = if int {
        (TensorType::new(vec![1, 1], ElemType::I8), WeightData::I8(vec![1]))
    } else {
        (TensorType::new(vec![1, 1], ElemType::F32), WeightData::F32(vec![1.0]))
    };
    let w = m.weights.add("w", wt, wd);
    let l = m.append(OpKind::Snn(SnnOp::Linear(Linear { weight: w, bias: None })), vec![x], Location::Unknown).unwrap();
    let l = m.result(l);
    let s = m.append(OpKind::Snn(neuron), vec![l], Location::Unknown).unwrap();
    let s = m.result(s);
    m.append(OpKind::Snn(SnnOp::Output(Port { name: "s".into(), index: 0 })), vec![s], Location::Unknown).unwrap();
    verify(&m).unwrap();
    m
}

fn spikes(m: &Module, input: Data) -> Vec<u8> {
    let t = input.len();
    let out = run(m, &[Tensor::new(vec![1, t, 1], input)]).unwrap();
    out[0].as_spikes().unwrap().to_vec()
}

fn lif(beta: f32, threshold: f32, reset: Reset) -> SnnOp {
    SnnOp::Lif(Neuron { params: NeuronParams::Float { beta, threshold }, reset })
}

#[test]
fn subtract_reset() {
    // beta 0.5, threshold 1:
    // v: 0.5 | 1.0 (== thr: no spike) | 1.5 → spike, 0.5 | 0.25 | 4.125 → spike, 3.125
    //    | carried reset: 1.5625 − 1 = 0.5625 no spike → v = 1.5625
    //    | carried reset: 0.78125 + 1 − 1 = 0.78125 no spike → v = 1.78125
    //    | carried reset: 0.890625 + 1.5 − 1 = 1.390625 > 1 → spike, v = 1.390625
    let m = model(8, lif(0.5, 1.0, Reset::Subtract), false);
    let s = spikes(&m, Data::F32(vec![0.5, 0.75, 1.0, 0.0, 4.0, 0.0, 1.0, 1.5]));
    assert_eq!(s, [0, 0, 1, 0, 1, 0, 0, 1]);
}

#[test]
fn zero_reset() {
    // v: 0.5 | 1.0 (equal: no spike) | 1.5 → spike, 0 | 2 → spike, 0 | 0.5 | 0.25 − 2 = −1.75 | −0.875 + 2 = 1.125 → spike
    let m = model(7, lif(0.5, 1.0, Reset::Zero), false);
    let s = spikes(&m, Data::F32(vec![0.5, 0.75, 1.0, 2.0, 0.5, -2.0, 2.0]));
    assert_eq!(s, [0, 0, 1, 1, 0, 0, 1]);
}

#[test]
fn threshold_equality_never_fires() {
    // IF with threshold 2: the membrane sits exactly at 2 for three steps, then crosses.
    let n = SnnOp::If(Neuron { params: NeuronParams::Float { beta: 1.0, threshold: 2.0 }, reset: Reset::Subtract });
    let m = model(5, n, false);
    let s = spikes(&m, Data::F32(vec![2.0, 0.0, 0.0, 0.25, 2.0]));
    assert_eq!(s, [0, 0, 0, 1, 1]);
}

#[test]
fn integer_lif_trace() {
    // leak 1/2 (16384 / 2^15), threshold 4, currents chosen so every value is exact except
    // the half-way roundings, which go up: v: 2 | 4 (equal) | 6 → spike, 2 | 1 | 1 + 16 = 17 →
    // spike, 13 | carried: 7 − 4 = 3, no spike → 7 | carried: 4 + 4 − 4 = 4 → v 8
    let n = SnnOp::Lif(Neuron {
        params: NeuronParams::Fixed { leak: 16384, shift: 15, threshold: 4 },
        reset: Reset::Subtract,
    });
    let m = model(7, n, true);
    let s = spikes(&m, Data::I32(vec![2, 3, 4, 0, 16, 0, 4]));
    assert_eq!(s, [0, 0, 1, 0, 1, 0, 0]);
}
