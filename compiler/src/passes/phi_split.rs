//! `phi-split`: rewrite every integer spiking GEMM with selected patterns into the `phi`
//! dialect's two levels.
//!
//! `%c = snn.linear(%x) {weight = W : K×N i8, bias = b}` carrying `phi.patterns` and `phi.k`
//! becomes
//!
//! ```text
//! %idx = phi.match(%x)            {patterns, k}      // run-time matching, −1 = bit sparsity
//! %r   = phi.residual(%x, %idx)   {patterns, k}      // x − p ∈ {−1, 0, +1}
//! %acc = phi.l1_accumulate(%idx)  {pwp, bias}        // bias + Σ PWP[partition][idx]
//! %c'  = phi.l2_accumulate(%r, %acc) {weight = W}    // + Σ r_k · W[k, :]
//! ```
//!
//! with the pattern-weight products `PWP[p][i] = Σ_{j ∈ pattern i} W[p·k + j, :]` computed here
//! (integer, `P × q × N` i16). The lossless rule — a pattern is used only when
//! `d + 1 < popcount(x)` — is part of `phi.match`'s semantics, so the rewritten program computes
//! exactly the dense `x·W + b`. Other discardable attributes (`phi.scale`) move to the final op;
//! the calibration statistics are dropped. Float GEMMs are rejected (run `quantize` first);
//! GEMMs without patterns, or whose input is not spikes, stay dense.

use phi_dialect::ir::{Module, OpId};
use phi_dialect::ops::phi::{Patterns, PhiOp};
use phi_dialect::ops::snn::Linear;
use phi_dialect::ops::{OpKind, SnnOp};
use phi_dialect::phi_attrs;
use phi_dialect::weights::WeightData;
use phi_dialect::{DResult, Diagnostic, ElemType, TensorType};
use phi_runtime::phi::pattern_weight_products;

use super::calibrate::spiking_gemms;
use super::{Pass, PassContext, PassInfo};

/// Registry entry.
pub static INFO: PassInfo = PassInfo {
    name: "phi-split",
    summary: "rewrite spiking GEMMs into phi.match / Level-1 PWP accumulate / Level-2 signed sparse accumulate",
    options: &[],
    create: |_, _| Ok(Box::new(PhiSplit)),
};

/// The pass.
pub struct PhiSplit;

impl Pass for PhiSplit {
    fn name(&self) -> &'static str {
        INFO.name
    }

    fn run(&mut self, m: &mut Module, cx: &mut PassContext<'_>) -> DResult<()> {
        let mut split = 0;
        for op in spiking_gemms(m) {
            let Some(patterns) = phi_attrs::patterns(m, op) else {
                let name = weight_name(m, op);
                cx.remark(INFO.name, format!("{name}: no patterns selected, left dense"));
                continue;
            };
            split_one(m, op, patterns)?;
            split += 1;
        }
        cx.remark(INFO.name, format!("split {split} spiking GEMM(s)"));
        Ok(())
    }
}

fn weight_name(m: &Module, op: OpId) -> String {
    match &m.op(op).kind {
        OpKind::Snn(SnnOp::Linear(l)) => m.weights.get(l.weight).name.clone(),
        OpKind::Snn(_) | OpKind::Phi(_) => "gemm".into(),
    }
}

fn split_one(m: &mut Module, op: OpId, patterns: phi_dialect::weights::WeightId) -> DResult<()> {
    let loc = m.op(op).loc.clone();
    let OpKind::Snn(SnnOp::Linear(Linear { weight, bias })) = m.op(op).kind else {
        unreachable!("spiking_gemms returns snn.linear ops")
    };
    let wt = m.weights.get(weight).clone();
    if wt.ty.elem != ElemType::I8 {
        return Err(Diagnostic::error(format!("phi-split needs the integer model, but `{}` is {}", wt.name, wt.ty))
            .with_loc(&loc, "this GEMM")
            .with_help("run quantize before phi-split"));
    }
    let Some(w) = wt.as_i8() else {
        return Err(
            Diagnostic::error(format!("weight `{}` was elided; phi-split needs its data", wt.name)).with_loc(&loc, "")
        );
    };
    let Some(k) = phi_attrs::patterns_k(m, op) else {
        return Err(Diagnostic::error("`phi.patterns` without `phi.k`").with_loc(&loc, "this GEMM"));
    };
    let pt = m.weights.get(patterns).clone();
    let (k_cols, n) = (wt.ty.shape[0], wt.ty.shape[1]);
    let q = pt.ty.shape[1];
    let pats = pt.as_i32().ok_or_else(|| Diagnostic::error("patterns must be i32").with_loc(&loc, ""))?;
    let pwp = pattern_weight_products(k_cols, n, k as usize, q, pats, w);
    let parts = k_cols.div_ceil(k as usize);
    let pwp_w = m.weights.add(
        &format!("{}.pwp", wt.name),
        TensorType::new(vec![parts, q, n], ElemType::I16),
        WeightData::I16(pwp),
    );

    let x = m.op(op).operands[0];
    let fail = |e: String| Diagnostic::error(e).with_loc(&loc, "splitting this GEMM");
    let p = Patterns { patterns, k };
    let idx = m.insert_before_inferred(op, OpKind::Phi(PhiOp::Match(p)), vec![x], loc.clone()).map_err(fail)?;
    let idx = m.result(idx);
    let r = m.insert_before_inferred(op, OpKind::Phi(PhiOp::Residual(p)), vec![x, idx], loc.clone()).map_err(fail)?;
    let r = m.result(r);
    let acc = m
        .insert_before_inferred(op, OpKind::Phi(PhiOp::L1Accumulate { pwp: pwp_w, bias }), vec![idx], loc.clone())
        .map_err(fail)?;
    let acc = m.result(acc);
    let l2 = m
        .insert_before_inferred(op, OpKind::Phi(PhiOp::L2Accumulate { weight }), vec![r, acc], loc.clone())
        .map_err(fail)?;
    m.op_mut(l2).attrs = m.op(op).attrs.clone();
    phi_attrs::clear_selection(m, l2);
    let old = m.result(op);
    let new = m.result(l2);
    m.replace_all_uses(old, new);
    m.remove(op);
    Ok(())
}
