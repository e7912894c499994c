//! The IR container: a module of ops in one block, with SSA values and a weight store.
//!
//! Storage is arena-based, in the style of Cranelift's data-flow graph: ops and values live in
//! vectors addressed by `u32` newtype ids ([`OpId`], [`ValueId`]); the program order is a separate
//! list of op ids (the module's single block). Removing an op takes it out of the order; its arena
//! slot stays (dead) until [`Module::compact`] renumbers everything. No `Rc<RefCell>`: passes get
//! `&mut Module` and edit through its methods.
//!
//! Every value is defined by exactly one op result and typed by a [`TensorType`].

use std::collections::BTreeMap;

use crate::attr::Attr;
use crate::location::Location;
use crate::ops::OpKind;
use crate::types::TensorType;
use crate::weights::{WeightId, WeightStore};

/// Id of an op in its module's arena; printed as the op's position.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OpId(pub u32);

/// Id of an SSA value in its module's arena; printed as `%N` after renumbering.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ValueId(pub u32);

/// An op: its kind (with typed inherent attributes), operands, results, discardable attributes
/// and location.
#[derive(Clone, Debug, PartialEq)]
pub struct OpData {
    /// What the op is, with its inherent attributes.
    pub kind: OpKind,
    /// The values it reads.
    pub operands: Vec<ValueId>,
    /// The values it defines.
    pub results: Vec<ValueId>,
    /// Discardable attributes (dialect-prefixed names such as `phi.scale`), sorted by name.
    pub attrs: BTreeMap<String, Attr>,
    /// Where it came from.
    pub loc: Location,
}

/// An SSA value: its type and defining op result.
#[derive(Clone, Debug, PartialEq)]
pub struct ValueData {
    /// The tensor type.
    pub ty: TensorType,
    /// The op that defines it.
    pub def: OpId,
    /// Which result of that op.
    pub index: u32,
}

/// A module: one block of ops, its values, its weights and module attributes.
#[derive(Clone, Debug, PartialEq)]
pub struct Module {
    /// Symbol name (`sym_name`).
    pub name: String,
    /// Module attributes (e.g. `phi.calibration`), sorted by name.
    pub attrs: BTreeMap<String, Attr>,
    /// The weight store.
    pub weights: WeightStore,
    ops: Vec<OpData>,
    values: Vec<ValueData>,
    body: Vec<OpId>,
}

impl Module {
    /// An empty module.
    pub fn new(name: impl Into<String>) -> Self {
        Module {
            name: name.into(),
            attrs: BTreeMap::new(),
            weights: WeightStore::new(),
            ops: Vec::new(),
            values: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Appends an op at the end of the block, creating one result per given type.
    pub fn push(&mut self, kind: OpKind, operands: Vec<ValueId>, result_types: Vec<TensorType>, loc: Location) -> OpId {
        let id = self.create(kind, operands, result_types, loc);
        self.body.push(id);
        id
    }

    /// Appends an op whose result types follow from its type rule; fails with the rule's message
    /// (or when the op's result type is not determined by its operands, e.g. `snn.reshape`).
    pub fn append(&mut self, kind: OpKind, operands: Vec<ValueId>, loc: Location) -> Result<OpId, String> {
        let tys: Vec<&TensorType> = operands.iter().map(|&v| self.ty(v)).collect();
        let results =
            kind.infer(&tys, &self.weights)?.ok_or_else(|| format!("`{}` needs explicit result types", kind.name()))?;
        Ok(self.push(kind, operands, results, loc))
    }

    /// Inserts an op before `anchor` with result types from its type rule.
    pub fn insert_before_inferred(
        &mut self,
        anchor: OpId,
        kind: OpKind,
        operands: Vec<ValueId>,
        loc: Location,
    ) -> Result<OpId, String> {
        let tys: Vec<&TensorType> = operands.iter().map(|&v| self.ty(v)).collect();
        let results =
            kind.infer(&tys, &self.weights)?.ok_or_else(|| format!("`{}` needs explicit result types", kind.name()))?;
        Ok(self.insert_before(anchor, kind, operands, results, loc))
    }

    /// Inserts an op right before `anchor` in the block.
    pub fn insert_before(
        &mut self,
        anchor: OpId,
        kind: OpKind,
        operands: Vec<ValueId>,
        result_types: Vec<TensorType>,
        loc: Location,
    ) -> OpId {
        let id = self.create(kind, operands, result_types, loc);
        let pos = self.position(anchor).unwrap_or(self.body.len());
        self.body.insert(pos, id);
        id
    }

    fn create(&mut self, kind: OpKind, operands: Vec<ValueId>, result_types: Vec<TensorType>, loc: Location) -> OpId {
        let id = OpId(self.ops.len() as u32);
        let results = result_types
            .into_iter()
            .enumerate()
            .map(|(i, ty)| {
                let v = ValueId(self.values.len() as u32);
                self.values.push(ValueData { ty, def: id, index: i as u32 });
                v
            })
            .collect();
        self.ops.push(OpData { kind, operands, results, attrs: BTreeMap::new(), loc });
        id
    }

    /// The op behind an id.
    pub fn op(&self, id: OpId) -> &OpData {
        &self.ops[id.0 as usize]
    }

    /// Mutable access to an op.
    pub fn op_mut(&mut self, id: OpId) -> &mut OpData {
        &mut self.ops[id.0 as usize]
    }

    /// The value behind an id.
    pub fn value(&self, id: ValueId) -> &ValueData {
        &self.values[id.0 as usize]
    }

    /// The type of a value.
    pub fn ty(&self, id: ValueId) -> &TensorType {
        &self.values[id.0 as usize].ty
    }

    /// Changes the type of a value (passes that retype, e.g. quantisation).
    pub fn set_ty(&mut self, id: ValueId, ty: TensorType) {
        self.values[id.0 as usize].ty = ty;
    }

    /// The first result of an op (internal invariant: the op has one).
    pub fn result(&self, op: OpId) -> ValueId {
        *self.op(op).results.first().expect("op has a result")
    }

    /// Number of op slots in the arena (live or dead).
    pub fn num_op_slots(&self) -> usize {
        self.ops.len()
    }

    /// Number of value slots in the arena.
    pub fn num_value_slots(&self) -> usize {
        self.values.len()
    }

    /// The block, in program order.
    pub fn body(&self) -> &[OpId] {
        &self.body
    }

    /// Replaces the program order (must be a permutation of live ops; the verifier checks
    /// dominance).
    pub fn set_body(&mut self, order: Vec<OpId>) {
        self.body = order;
    }

    /// Position of an op in the block.
    pub fn position(&self, op: OpId) -> Option<usize> {
        self.body.iter().position(|&o| o == op)
    }

    /// Takes an op out of the block. Its results must have no remaining uses.
    pub fn remove(&mut self, op: OpId) {
        self.body.retain(|&o| o != op);
    }

    /// Every use of a value as `(op, operand index)`, in program order.
    pub fn uses(&self, v: ValueId) -> Vec<(OpId, usize)> {
        let mut out = Vec::new();
        for &op in &self.body {
            for (i, &o) in self.op(op).operands.iter().enumerate() {
                if o == v {
                    out.push((op, i));
                }
            }
        }
        out
    }

    /// Rewrites every use of `old` into a use of `new`.
    pub fn replace_all_uses(&mut self, old: ValueId, new: ValueId) {
        for &op in &self.body {
            for o in &mut self.ops[op.0 as usize].operands {
                if *o == old {
                    *o = new;
                }
            }
        }
    }

    /// Live ops of a given kind predicate, in program order.
    pub fn ops_where(&self, mut f: impl FnMut(&OpKind) -> bool) -> Vec<OpId> {
        self.body.iter().copied().filter(|&o| f(&self.op(o).kind)).collect()
    }

    /// Weight ids referenced by live ops, in order of first use.
    pub fn used_weights(&self) -> Vec<WeightId> {
        let mut seen = Vec::new();
        for &op in &self.body {
            for w in self.op(op).kind.weights().into_iter().chain(self.attr_weights(op)) {
                if !seen.contains(&w) {
                    seen.push(w);
                }
            }
        }
        seen
    }

    /// Weights referenced (by name) from an op's discardable attributes, e.g. calibration
    /// statistics, in attribute order.
    pub fn attr_weights(&self, op: OpId) -> Vec<WeightId> {
        self.op(op)
            .attrs
            .values()
            .filter_map(|a| match a {
                Attr::Resource { name, .. } => self.weights.find(name),
                Attr::Int(..) | Attr::F32(_) | Attr::Bool(_) | Attr::Str(_) | Attr::I64Array(_) | Attr::Array(_) => {
                    None
                }
            })
            .collect()
    }

    /// Attaches (or replaces) a discardable attribute that refers to a weight.
    pub fn set_attr_weight(&mut self, op: OpId, attr: &str, w: WeightId) {
        let wt = self.weights.get(w);
        let value = Attr::Resource { name: wt.name.clone(), ty: wt.ty.clone() };
        self.op_mut(op).attrs.insert(attr.to_string(), value);
    }

    /// The weight a discardable resource attribute refers to.
    pub fn attr_weight(&self, op: OpId, attr: &str) -> Option<WeightId> {
        match self.op(op).attrs.get(attr)? {
            Attr::Resource { name, .. } => self.weights.find(name),
            Attr::Int(..) | Attr::F32(_) | Attr::Bool(_) | Attr::Str(_) | Attr::I64Array(_) | Attr::Array(_) => None,
        }
    }

    /// Number of live ops referencing a weight.
    pub fn uses_of_weight(&self, w: WeightId) -> usize {
        self.body.iter().filter(|&&op| self.op(op).kind.weights().contains(&w)).count()
    }

    /// Rebuilds the arenas so that they hold exactly the live ops, their values and the used
    /// weights, numbered in program order. Ids held outside the module become invalid.
    pub fn compact(&mut self) {
        let mut fresh = Module::new(self.name.clone());
        fresh.attrs = self.attrs.clone();
        let mut wmap = BTreeMap::new();
        for w in self.used_weights() {
            let old = self.weights.get(w);
            let nw = fresh.weights.add(&old.name, old.ty.clone(), old.data.clone());
            wmap.insert(w, nw);
        }
        let mut vmap = vec![None; self.values.len()];
        for &op in &self.body {
            let data = self.op(op);
            let operands = data.operands.iter().map(|v| vmap[v.0 as usize].unwrap_or(*v)).collect();
            let tys = data.results.iter().map(|&r| self.ty(r).clone()).collect();
            let mut kind = data.kind.clone();
            kind.remap_weights(&mut |w| wmap.get(&w).copied().unwrap_or(w));
            let nop = fresh.push(kind, operands, tys, data.loc.clone());
            fresh.op_mut(nop).attrs = data.attrs.clone();
            for (old, new) in data.results.iter().zip(fresh.op(nop).results.clone()) {
                vmap[old.0 as usize] = Some(new);
            }
        }
        *self = fresh;
    }
}
