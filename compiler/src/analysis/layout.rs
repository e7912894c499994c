//! Layout chains: the pure data-movement ops between stored tensors and GEMMs.
//!
//! After `conv-to-gemm` a convolution is `snn.im2col → GEMM → snn.transpose → snn.reshape →
//! neuron`, and a classifier reads `snn.flatten` of a feature map. None of these ops computes:
//! they only move elements. The backend therefore
//!
//! - stores a layer's output in the GEMM's own row layout (`T × positions × N`, one row per
//!   time step and output position), fusing the neuron across the `transpose → reshape` after
//!   the GEMM ([`neuron_chain`]); the stored value then has a **step map**: for each element of
//!   its per-step logical shape (C order), the element's index in the stored per-step rows;
//! - and reads a GEMM input that is reached from stored tensors through such ops and
//!   concatenations ([`gather_ids`]; a residual `add` becomes a GEMM over `[x | y]`, see the
//!   `add-to-gemm` pass) with a gather through an index table ([`table`], the program's
//!   [`InputMap::Table`](phi_dialect::program::InputMap::Table), one source per stored tensor).
//!
//! Both maps are computed by running the chain's own kernels (`phi_runtime::kernels`, the ones
//! the interpreter runs) on element ids instead of data — `1 + index`, with 0 for the zeros an
//! im2col pads with — so the compiled addressing is the interpreter's semantics by construction.

use std::collections::HashMap;

use phi_dialect::ir::{Module, OpId, ValueId};
use phi_dialect::ops::{OpKind, SnnOp};
use phi_dialect::program::InputMap;
use phi_runtime::kernels::{self, Geometry};
use phi_runtime::tensor::{Data, Tensor};

/// Whether an op only moves elements (and can be folded into addressing).
pub fn is_layout(m: &Module, op: OpId) -> bool {
    match &m.op(op).kind {
        OpKind::Snn(SnnOp::Im2col(_) | SnnOp::Transpose { .. } | SnnOp::Reshape | SnnOp::Flatten) => true,
        OpKind::Snn(
            SnnOp::Input(_)
            | SnnOp::Output(_)
            | SnnOp::Constant { .. }
            | SnnOp::Linear(_)
            | SnnOp::Conv2d(_)
            | SnnOp::Lif(_)
            | SnnOp::If(_)
            | SnnOp::Li { .. }
            | SnnOp::Mul
            | SnnOp::SumPool(_)
            | SnnOp::AvgPool { .. }
            | SnnOp::Add
            | SnnOp::Concat { .. },
        )
        | OpKind::Phi(_) => false,
    }
}

/// The element ids of `x`'s per-step elements over the stored values it is gathered from:
/// walks back through layout ops and `snn.concat`s to stored values (`stored`: each with its
/// step map), appending each new one to `sources`; an element of source `j` has the id
/// `1 + (elements of sources 0..j) + storage index`, 0 for padding. `None` when a path reaches
/// an op that computes.
pub fn gather_ids(
    m: &Module,
    x: ValueId,
    stored: &HashMap<ValueId, Option<Vec<u32>>>,
    sources: &mut Vec<ValueId>,
) -> Option<Vec<i32>> {
    let step_elems = |v: ValueId| {
        let t = m.ty(v);
        t.num_elements() / t.shape[0].max(1)
    };
    if let Some(map) = stored.get(&x) {
        let at = sources.iter().position(|&s| s == x).unwrap_or_else(|| {
            sources.push(x);
            sources.len() - 1
        });
        let base: usize = sources[..at].iter().map(|&s| step_elems(s)).sum();
        let ids = ids(map.as_deref(), step_elems(x));
        return Some(ids.into_iter().map(|e| e + base as i32).collect());
    }
    let def = m.value(x).def;
    let d = m.op(def);
    if is_layout(m, def) {
        let ids = gather_ids(m, d.operands[0], stored, sources)?;
        return Some(eval(m, &[def], ids));
    }
    match &d.kind {
        OpKind::Snn(SnnOp::Concat { axis }) => {
            let mut parts = Vec::with_capacity(d.operands.len());
            for &o in &d.operands {
                let data = gather_ids(m, o, stored, sources)?;
                // one time step of the operand, as a tensor of ids
                let shape: Vec<usize> = std::iter::once(1).chain(m.ty(o).shape[1..].iter().copied()).collect();
                parts.push(Tensor { shape, data: Data::I32(data) });
            }
            let out: Vec<usize> = std::iter::once(1).chain(m.ty(x).shape[1..].iter().copied()).collect();
            match kernels::concat(&parts.iter().collect::<Vec<_>>(), *axis, &out) {
                Data::I32(v) => Some(v),
                Data::Spikes(_) | Data::F32(_) => unreachable!("ids are i32"),
            }
        }
        OpKind::Snn(_) | OpKind::Phi(_) => None,
    }
}

/// Follows single-user layout ops forward from `v` to the op that is their only user at the
/// end; returns the layout ops and that op.
pub fn neuron_chain(m: &Module, v: ValueId) -> (Vec<OpId>, Option<OpId>) {
    let mut chain = Vec::new();
    let mut v = v;
    loop {
        let uses = m.uses(v);
        let [(user, _)] = uses[..] else { return (chain, None) };
        if is_layout(m, user) && !matches!(m.op(user).kind, OpKind::Snn(SnnOp::Im2col(_))) {
            chain.push(user);
            v = m.result(user);
        } else {
            return (chain, Some(user));
        }
    }
}

/// Runs `chain` on the per-step element ids of its first operand (`ids`, C order of the
/// operand's per-step shape), returning the ids of the last result's per-step elements.
pub fn eval(m: &Module, chain: &[OpId], ids: Vec<i32>) -> Vec<i32> {
    let mut data = Data::I32(ids);
    for &op in chain {
        let d = m.op(op);
        let x = &m.ty(d.operands[0]).shape;
        // one image of one time step: the leading dimension is 1
        let one: Vec<usize> = std::iter::once(1).chain(x[1..].iter().copied()).collect();
        data = match &d.kind {
            OpKind::Snn(SnnOp::Im2col(c)) => {
                let g = Geometry::im2col(&x[1..], c);
                kernels::im2col(&data, 1, g, c.channels)
            }
            OpKind::Snn(SnnOp::Transpose { perm }) => kernels::transpose(&data, &one, perm),
            OpKind::Snn(SnnOp::Reshape | SnnOp::Flatten) => data,
            OpKind::Snn(
                SnnOp::Input(_)
                | SnnOp::Output(_)
                | SnnOp::Constant { .. }
                | SnnOp::Linear(_)
                | SnnOp::Conv2d(_)
                | SnnOp::Lif(_)
                | SnnOp::If(_)
                | SnnOp::Li { .. }
                | SnnOp::Mul
                | SnnOp::SumPool(_)
                | SnnOp::AvgPool { .. }
                | SnnOp::Add
                | SnnOp::Concat { .. },
            )
            | OpKind::Phi(_) => unreachable!("chains hold layout ops only"),
        };
    }
    match data {
        Data::I32(v) => v,
        Data::Spikes(_) | Data::F32(_) => unreachable!("layout kernels keep the element type"),
    }
}

/// Element ids `1 + storage index` of a stored value's per-step elements (`map`: its step map,
/// `None` for the identity of `n` elements).
pub fn ids(map: Option<&[u32]>, n: usize) -> Vec<i32> {
    match map {
        Some(m) => m.iter().map(|&s| s as i32 + 1).collect(),
        None => (1..=n as i32).collect(),
    }
}

/// The gather table of ids from [`eval`]: storage indices, [`InputMap::ZERO`] for padding.
pub fn table(ids: &[i32]) -> Vec<u32> {
    ids.iter().map(|&e| if e == 0 { InputMap::ZERO } else { (e - 1) as u32 }).collect()
}

/// A step map from ids: `None` when it is the identity.
pub fn step_map(ids: &[i32]) -> Option<Vec<u32>> {
    let identity = ids.iter().enumerate().all(|(i, &e)| e == i as i32 + 1);
    (!identity).then(|| ids.iter().map(|&e| (e - 1) as u32).collect())
}
