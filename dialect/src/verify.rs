//! The verifier: structural and type invariants of a module, checkable after every pass.
//!
//! Invariants, in the order they are checked:
//!
//! 1. **Block.** Every op in the program order is an arena slot and appears once.
//! 2. **Results.** Each result value of an op records that op and its result index; the number
//!    of results is the op kind's.
//! 3. **Operands and dominance.** Every operand is a value defined by an op earlier in the block
//!    (single-block SSA); the operand count fits the op's arity.
//! 4. **Acyclic.** The dataflow graph ([`crate::graph`]) has no cycle.
//! 5. **Weights.** Every weight an op references — by its inherent attributes, or by name from a
//!    discardable `dense_resource` attribute — exists; its data has the declared element type and
//!    element count (or was elided), and a discardable reference states the weight's type.
//! 6. **Types.** Operand and result types obey the op's type rule
//!    ([`crate::ops::OpKind::check_types`]): shapes, element types, float vs integer mode,
//!    neuron parameter ranges.
//! 7. **Time.** Every value except constants is time-major with one common leading dimension
//!    `T ≥ 1`.
//! 8. **Ports.** `snn.input` indices are exactly `0..n` and their names are unique; the same for
//!    `snn.output`; there is at least one output.

use std::collections::{HashMap, HashSet};

use crate::diag::{DResult, Diagnostic};
use crate::graph::Dataflow;
use crate::ir::Module;
use crate::ops::{OpKind, SnnOp};

/// Checks every invariant; the first violation is returned with the op's location.
pub fn verify(m: &Module) -> DResult<()> {
    let mut seen = HashSet::new();
    let mut defined = HashSet::new();
    let mut time: Option<(usize, String)> = None;
    let mut inputs: Vec<(u32, String, crate::ir::OpId)> = Vec::new();
    let mut outputs: Vec<(u32, String, crate::ir::OpId)> = Vec::new();
    for &op in m.body() {
        let err = |msg: String| Diagnostic::error(msg).with_loc(&m.op(op).loc, "");
        if (op.0 as usize) >= m.num_op_slots() || !seen.insert(op) {
            return Err(Diagnostic::error(format!("op #{} is not a live op or appears twice in the block", op.0)));
        }
        let data = m.op(op);
        let name = data.kind.name();
        // 2. results
        if data.results.len() != data.kind.num_results() {
            return Err(err(format!(
                "`{name}` has {} results, expected {}",
                data.results.len(),
                data.kind.num_results()
            )));
        }
        for (i, &r) in data.results.iter().enumerate() {
            if (r.0 as usize) >= m.num_value_slots() || m.value(r).def != op || m.value(r).index as usize != i {
                return Err(err(format!("result {i} of `{name}` is not recorded as defined by it")));
            }
        }
        // 3. operands
        if !data.kind.arity().accepts(data.operands.len()) {
            return Err(err(format!("`{name}` cannot take {} operands", data.operands.len())));
        }
        for (i, &v) in data.operands.iter().enumerate() {
            if (v.0 as usize) >= m.num_value_slots() || !defined.contains(&v) {
                return Err(err(format!("operand {i} of `{name}` is not defined before its use")));
            }
        }
        // 5. weights
        for w in data.kind.weights() {
            if !m.weights.contains(w) {
                return Err(err(format!("`{name}` references a missing weight")));
            }
            m.weights.get(w).check().map_err(&err)?;
        }
        for (k, a) in &data.attrs {
            if let crate::attr::Attr::Resource { name, ty } = a {
                let w = m
                    .weights
                    .find(name)
                    .ok_or_else(|| err(format!("attribute `{k}` refers to a missing weight `{name}`")))?;
                if &m.weights.get(w).ty != ty {
                    return Err(err(format!(
                        "attribute `{k}` says {ty}, but weight `{name}` is {}",
                        m.weights.get(w).ty
                    )));
                }
                m.weights.get(w).check().map_err(&err)?;
            }
        }
        // 6. types
        let ops: Vec<_> = data.operands.iter().map(|&v| m.ty(v)).collect();
        let res: Vec<_> = data.results.iter().map(|&v| m.ty(v)).collect();
        data.kind.check_types(&ops, &res, &m.weights).map_err(&err)?;
        // 7. time
        let is_constant = matches!(data.kind, OpKind::Snn(SnnOp::Constant { .. }));
        if !is_constant {
            for t in &res {
                let t0 = t.shape.first().copied().unwrap_or(0);
                if t0 == 0 {
                    return Err(err(format!("`{name}` result {t} has no time dimension (T ≥ 1 first)")));
                }
                match &time {
                    None => time = Some((t0, name.to_string())),
                    Some((t_first, first)) if *t_first != t0 => {
                        return Err(err(format!(
                            "`{name}` result {t} has T = {t0}, but `{first}` has T = {t_first}: all activations share one time dimension"
                        )));
                    }
                    Some(_) => {}
                }
            }
        }
        // 8. ports (collected)
        if let OpKind::Snn(SnnOp::Input(p)) = &data.kind {
            inputs.push((p.index, p.name.clone(), op));
        }
        if let OpKind::Snn(SnnOp::Output(p)) = &data.kind {
            outputs.push((p.index, p.name.clone(), op));
        }
        defined.extend(data.results.iter().copied());
    }
    // 4. acyclic (implied by dominance in one block, checked on the graph all the same)
    if let Err(op) = Dataflow::build(m).topo_order() {
        return Err(Diagnostic::error("the dataflow graph has a cycle").with_loc(&m.op(op).loc, "on the cycle"));
    }
    // 8. ports
    for (kind, ports) in [("snn.input", &mut inputs), ("snn.output", &mut outputs)] {
        ports.sort();
        let mut names = HashMap::new();
        for (i, (index, name, op)) in ports.iter().enumerate() {
            if *index as usize != i {
                return Err(Diagnostic::error(format!(
                    "`{kind}` indices must be 0..{} without gaps or repeats; found index {index}",
                    ports.len()
                ))
                .with_loc(&m.op(*op).loc, ""));
            }
            if names.insert(name.clone(), *op).is_some() {
                return Err(
                    Diagnostic::error(format!("two `{kind}` ops are named `{name}`")).with_loc(&m.op(*op).loc, "")
                );
            }
        }
    }
    if outputs.is_empty() {
        return Err(Diagnostic::error(format!("module `{}` has no `snn.output`", m.name))
            .with_help("a model needs at least one output"));
    }
    Ok(())
}
