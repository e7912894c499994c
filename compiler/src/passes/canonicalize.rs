//! `canonicalize`: local simplifications, applied until nothing changes.
//!
//! - **Fuse bias**: `snn.add(snn.linear(x), snn.constant c)` with `c` of shape `[N]` and the
//!   linear's result used only by that addition becomes `snn.linear(x) {bias = c}` (for a linear
//!   that has no bias yet, in either mode).
//! - **Fold shape ops**: a `snn.flatten` or `snn.reshape` of a `snn.flatten`/`snn.reshape`
//!   reads the original value; a shape op whose result type equals its operand's is removed; a
//!   `snn.reshape` to `T × prod(…)` is spelled `snn.flatten`.
//! - **Dead ops**: ops whose results are never used are removed (inputs and outputs stay).
//!
//! At the end the module is compacted (dense ids, unused weights dropped).

use phi_dialect::ir::{Module, OpId};
use phi_dialect::ops::snn::Linear;
use phi_dialect::ops::{OpKind, SnnOp};
use phi_dialect::{DResult, Location};

use super::{Pass, PassContext, PassInfo};

/// Registry entry.
pub static INFO: PassInfo = PassInfo {
    name: "canonicalize",
    summary: "fuse biases into linear layers, fold flatten/reshape chains, remove dead ops",
    options: &[],
    create: |_, _| Ok(Box::new(Canonicalize)),
};

/// The pass.
pub struct Canonicalize;

impl Pass for Canonicalize {
    fn name(&self) -> &'static str {
        INFO.name
    }

    fn run(&mut self, m: &mut Module, cx: &mut PassContext<'_>) -> DResult<()> {
        let mut stats = [0usize; 3];
        loop {
            let fused = fuse_bias(m);
            let folded = fold_shapes(m);
            let dead = remove_dead(m);
            stats[0] += fused;
            stats[1] += folded;
            stats[2] += dead;
            if fused + folded + dead == 0 {
                break;
            }
        }
        m.compact();
        if stats.iter().any(|&s| s > 0) {
            cx.remark(
                INFO.name,
                format!(
                    "fused {} bias(es), folded {} shape op(s), removed {} dead op(s)",
                    stats[0], stats[1], stats[2]
                ),
            );
        }
        Ok(())
    }
}

fn fuse_bias(m: &mut Module) -> usize {
    let mut n = 0;
    for add in m.body().to_vec() {
        if !matches!(m.op(add).kind, OpKind::Snn(SnnOp::Add)) || !m.body().contains(&add) {
            continue;
        }
        let (a, b) = (m.op(add).operands[0], m.op(add).operands[1]);
        let lin = m.value(a).def;
        let cst = m.value(b).def;
        let OpKind::Snn(SnnOp::Linear(Linear { weight, bias: None })) = m.op(lin).kind else { continue };
        let OpKind::Snn(SnnOp::Constant { value }) = m.op(cst).kind else { continue };
        let n_out = m.weights.get(weight).ty.shape[1];
        let cty = m.weights.get(value).ty.clone();
        // the bias must be [N] of the current's element type, and the linear used only here
        if cty.shape != [n_out] || cty.elem != m.ty(a).elem || m.uses(a).len() != 1 {
            continue;
        }
        let loc = Location::fuse([m.op(lin).loc.clone(), m.op(add).loc.clone()]);
        let fused = m.op_mut(lin);
        fused.kind = OpKind::Snn(SnnOp::Linear(Linear { weight, bias: Some(value) }));
        fused.loc = loc;
        let r = m.result(add);
        m.replace_all_uses(r, a);
        m.remove(add);
        n += 1;
    }
    n
}

fn is_shape_op(kind: &OpKind) -> bool {
    matches!(kind, OpKind::Snn(SnnOp::Flatten | SnnOp::Reshape))
}

fn fold_shapes(m: &mut Module) -> usize {
    let mut n = 0;
    for op in m.body().to_vec() {
        if !is_shape_op(&m.op(op).kind) {
            continue;
        }
        let x = m.op(op).operands[0];
        let r = m.result(op);
        if m.ty(x) == m.ty(r) {
            m.replace_all_uses(r, x);
            m.remove(op);
            n += 1;
            continue;
        }
        // a reshape to `T × prod(…)` is a flatten: use the one canonical spelling
        if matches!(m.op(op).kind, OpKind::Snn(SnnOp::Reshape)) && m.ty(r).rank() == 2 {
            m.op_mut(op).kind = OpKind::Snn(SnnOp::Flatten);
            n += 1;
        }
        let def: OpId = m.value(x).def;
        if is_shape_op(&m.op(def).kind) {
            let src = m.op(def).operands[0];
            m.op_mut(op).operands[0] = src;
            // flatten is a reshape to T×prod; after folding it reads the original value
            n += 1;
        }
    }
    n
}

fn remove_dead(m: &mut Module) -> usize {
    let mut n = 0;
    for op in m.body().to_vec().into_iter().rev() {
        let d = m.op(op);
        let keep = matches!(d.kind, OpKind::Snn(SnnOp::Input(_) | SnnOp::Output(_)));
        if !keep && !d.results.is_empty() && d.results.iter().all(|&r| m.uses(r).is_empty()) {
            m.remove(op);
            n += 1;
        }
    }
    n
}
