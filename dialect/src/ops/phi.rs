//! The `phi` dialect: a spiking GEMM split into Phi's two levels of sparsity.
//!
//! `phi-split` rewrites an integer spiking GEMM `snn.linear(x: T×…×K i1) {weight: K×N i8, bias}`
//! into four ops over the same time-major rows:
//!
//! | op | operands → result | attributes |
//! |---|---|---|
//! | `phi.match` | `x: T×…×K i1` → `idx: T×…×P i16` | `patterns: P×q i32`, `k` |
//! | `phi.residual` | `x`, `idx` → `r: T×…×K i8` | `patterns`, `k` |
//! | `phi.l1_accumulate` | `idx` → `acc: T×…×N i32` | `pwp: P×q×N i16`, `bias`? `N i32` |
//! | `phi.l2_accumulate` | `r`, `acc` → `T×…×N i32` | `weight: K×N i8` |
//!
//! K is cut into `P = ⌈K / k⌉` partitions of `k` columns (the last may be narrower); bit `j` of
//! a partition vector is column `partition·k + j`. `patterns[p]` holds `q` pattern bit vectors
//! of partition `p` (unused slots are 0, which never matches).
//!
//! - **Match** (run time, in hardware): for each row and partition, the pattern at minimum
//!   Hamming distance `d` (ties → lowest index) is used when `d + 1 < popcount(x)`; `idx` is its
//!   index, or −1 (bit-sparse fallback).
//! - **Residual**: `r = x − p` for a matched partition (entries in {−1, 0, +1}), `r = x`
//!   otherwise.
//! - **Level 1**: `acc = bias + Σ_partitions PWP[p][idx]`, with the pattern-weight products
//!   `PWP[p][i] = Σ_{j ∈ pattern i} W[p·k + j, :]` precomputed by the compiler.
//! - **Level 2**: `out = acc + Σ_k r_k · W[k, :]` (+1 adds a weight row, −1 subtracts one).
//!
//! Lossless: `x·W = p·W + r·W`, so with wrapping i32 arithmetic `out` equals the dense
//! `x·W + bias` bit for bit.

use crate::attr::{Attr, IntTy};
use crate::diag::DResult;
use crate::ops::{Arity, AttrReader};
use crate::types::{ElemType, TensorType};
use crate::weights::{WeightId, WeightStore};

/// The patterns a match or residual op uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Patterns {
    /// `P × q` pattern bit vectors (i32).
    pub patterns: WeightId,
    /// Partition width in columns (1..=32).
    pub k: u32,
}

/// The ops of the `phi` dialect.
#[derive(Clone, Debug, PartialEq)]
pub enum PhiOp {
    /// Run-time pattern matching.
    Match(Patterns),
    /// Level-2 residual `x − p`.
    Residual(Patterns),
    /// Level-1 accumulation of pattern-weight products.
    L1Accumulate {
        /// `P × q × N` products (i16).
        pwp: WeightId,
        /// Optional `N` bias (i32), the accumulator's initial value.
        bias: Option<WeightId>,
    },
    /// Level-2 signed sparse accumulation onto the Level-1 result.
    L2Accumulate {
        /// `K × N` weights (i8).
        weight: WeightId,
    },
}

impl PhiOp {
    /// Generic names of every op of the dialect.
    pub const NAMES: [&'static str; 4] = ["phi.match", "phi.residual", "phi.l1_accumulate", "phi.l2_accumulate"];

    /// The generic name.
    pub fn name(&self) -> &'static str {
        match self {
            PhiOp::Match(_) => "phi.match",
            PhiOp::Residual(_) => "phi.residual",
            PhiOp::L1Accumulate { .. } => "phi.l1_accumulate",
            PhiOp::L2Accumulate { .. } => "phi.l2_accumulate",
        }
    }

    /// Operand count.
    pub fn arity(&self) -> Arity {
        match self {
            PhiOp::Match(_) | PhiOp::L1Accumulate { .. } => Arity::Exact(1),
            PhiOp::Residual(_) | PhiOp::L2Accumulate { .. } => Arity::Exact(2),
        }
    }

    /// Result count.
    pub fn num_results(&self) -> usize {
        match self {
            PhiOp::Match(_) | PhiOp::Residual(_) | PhiOp::L1Accumulate { .. } | PhiOp::L2Accumulate { .. } => 1,
        }
    }

    /// Referenced weights.
    pub fn weights(&self) -> Vec<WeightId> {
        match self {
            PhiOp::Match(p) | PhiOp::Residual(p) => vec![p.patterns],
            PhiOp::L1Accumulate { pwp, bias } => std::iter::once(*pwp).chain(*bias).collect(),
            PhiOp::L2Accumulate { weight } => vec![*weight],
        }
    }

    /// Rewrites referenced weight ids.
    pub fn remap_weights(&mut self, f: &mut dyn FnMut(WeightId) -> WeightId) {
        match self {
            PhiOp::Match(p) | PhiOp::Residual(p) => p.patterns = f(p.patterns),
            PhiOp::L1Accumulate { pwp, bias } => {
                *pwp = f(*pwp);
                if let Some(b) = bias {
                    *b = f(*b);
                }
            }
            PhiOp::L2Accumulate { weight } => *weight = f(*weight),
        }
    }

    /// Inherent attributes in generic form.
    pub fn attributes(&self, weights: &WeightStore) -> Vec<(&'static str, Attr)> {
        let res = |w: WeightId| {
            let w = weights.get(w);
            Attr::Resource { name: w.name.clone(), ty: w.ty.clone() }
        };
        match self {
            PhiOp::Match(p) | PhiOp::Residual(p) => {
                vec![("patterns", res(p.patterns)), ("k", Attr::Int(p.k as i64, IntTy::I64))]
            }
            PhiOp::L1Accumulate { pwp, bias } => {
                let mut v = vec![("pwp", res(*pwp))];
                if let Some(b) = bias {
                    v.push(("bias", res(*b)));
                }
                v
            }
            PhiOp::L2Accumulate { weight } => vec![("weight", res(*weight))],
        }
    }

    /// Parses a `phi` op from its generic form; `Ok(None)` when `name` is not a `phi` op.
    pub fn from_generic(name: &str, a: &mut AttrReader<'_>) -> DResult<Option<PhiOp>> {
        let patterns = |a: &mut AttrReader<'_>| -> DResult<Patterns> {
            Ok(Patterns { patterns: a.resource("patterns")?, k: a.int("k", 1..=32)? as u32 })
        };
        Ok(Some(match name {
            "phi.match" => PhiOp::Match(patterns(a)?),
            "phi.residual" => PhiOp::Residual(patterns(a)?),
            "phi.l1_accumulate" => PhiOp::L1Accumulate { pwp: a.resource("pwp")?, bias: a.opt_resource("bias")? },
            "phi.l2_accumulate" => PhiOp::L2Accumulate { weight: a.resource("weight")? },
            _ => return Ok(None),
        }))
    }

    /// The type rule (every `phi` op's result type follows from its operands and weights).
    pub fn infer(&self, ops: &[&TensorType], weights: &WeightStore) -> Result<Option<Vec<TensorType>>, String> {
        if !self.arity().accepts(ops.len()) {
            return Err(format!("`{}` takes {:?} operands, got {}", self.name(), self.arity(), ops.len()));
        }
        let name = self.name();
        let rows = |t: &TensorType, elem: ElemType, what: &str| -> Result<usize, String> {
            if t.rank() < 2 || t.elem != elem {
                return Err(format!("{what} of {name} is {t}, expected time-major T×…×n of {elem}"));
            }
            Ok(t.shape[t.rank() - 1])
        };
        let with_last = |t: &TensorType, last: usize, elem: ElemType| {
            let mut s = t.shape.clone();
            *s.last_mut().expect("rank ≥ 2") = last;
            TensorType::new(s, elem)
        };
        let check_patterns = |p: &Patterns, k_cols: usize| -> Result<(usize, usize), String> {
            let pt = &weights.get(p.patterns).ty;
            let parts = k_cols.div_ceil(p.k.max(1) as usize);
            if pt.elem != ElemType::I32 || pt.rank() != 2 || pt.shape[0] != parts || pt.shape[1] == 0 {
                return Err(format!(
                    "patterns of {name} are {pt}, expected tensor<{parts}x?xi32> for K = {k_cols} in partitions of {}",
                    p.k
                ));
            }
            if pt.shape[1] > i16::MAX as usize {
                return Err(format!(
                    "{name}: q = {} patterns per partition is more than an i16 index holds",
                    pt.shape[1]
                ));
            }
            Ok((parts, pt.shape[1]))
        };
        let same_rows = |a: &TensorType, b: &TensorType| a.shape[..a.rank() - 1] == b.shape[..b.rank() - 1];
        let out = match self {
            PhiOp::Match(p) => {
                let k = rows(ops[0], ElemType::I1, "the input")?;
                let (parts, _) = check_patterns(p, k)?;
                with_last(ops[0], parts, ElemType::I16)
            }
            PhiOp::Residual(p) => {
                let k = rows(ops[0], ElemType::I1, "the input")?;
                let (parts, _) = check_patterns(p, k)?;
                let n = rows(ops[1], ElemType::I16, "the match indices")?;
                if n != parts || !same_rows(ops[0], ops[1]) || ops[0].rank() != ops[1].rank() {
                    return Err(format!(
                        "{name}: indices {} do not match input {} in {parts} partitions",
                        ops[1], ops[0]
                    ));
                }
                with_last(ops[0], k, ElemType::I8)
            }
            PhiOp::L1Accumulate { pwp, bias } => {
                let parts = rows(ops[0], ElemType::I16, "the match indices")?;
                let pt = &weights.get(*pwp).ty;
                if pt.elem != ElemType::I16 || pt.rank() != 3 || pt.shape[0] != parts {
                    return Err(format!("pwp of {name} is {pt}, expected tensor<{parts}x?x?xi16>"));
                }
                let n = pt.shape[2];
                if let Some(b) = bias {
                    let bt = &weights.get(*b).ty;
                    if bt.shape != [n] || bt.elem != ElemType::I32 {
                        return Err(format!("bias of {name} is {bt}, expected tensor<{n}xi32>"));
                    }
                }
                with_last(ops[0], n, ElemType::I32)
            }
            PhiOp::L2Accumulate { weight } => {
                let k = rows(ops[0], ElemType::I8, "the residual")?;
                let n = rows(ops[1], ElemType::I32, "the accumulator")?;
                let wt = &weights.get(*weight).ty;
                if wt.elem != ElemType::I8 || wt.shape != [k, n] {
                    return Err(format!("weight of {name} is {wt}, expected tensor<{k}x{n}xi8>"));
                }
                if !same_rows(ops[0], ops[1]) || ops[0].rank() != ops[1].rank() {
                    return Err(format!("{name}: residual {} and accumulator {} differ in rows", ops[0], ops[1]));
                }
                ops[1].clone()
            }
        };
        Ok(Some(vec![out]))
    }

    /// Checks operand and result types.
    pub fn check_types(
        &self,
        ops: &[&TensorType],
        results: &[&TensorType],
        weights: &WeightStore,
    ) -> Result<(), String> {
        let expected = self.infer(ops, weights)?.expect("phi ops have a type rule");
        if results.len() != expected.len() || results.iter().zip(&expected).any(|(r, e)| *r != e) {
            let got: Vec<String> = results.iter().map(|t| t.to_string()).collect();
            let want: Vec<String> = expected.iter().map(|t| t.to_string()).collect();
            return Err(format!(
                "`{}` result types are ({}), expected ({})",
                self.name(),
                got.join(", "),
                want.join(", ")
            ));
        }
        Ok(())
    }
}
