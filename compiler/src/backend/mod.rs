//! The backend: `lower-isa` (tiled integer `snn`/`phi` module → Phi ISA program).
//!
//! [`lower`] runs these phases in order, one function each:
//!
//! 1. **Layers** ([`layers::gemms`]): every GEMM becomes a layer of the program's layer table, a
//!    split GEMM in Phi mode, an integer `snn.linear` bit-sparse (spike input) or dense (integer
//!    input, or `--target dense`), with its fused neuron. The `tile` pass planned the same list.
//! 2. **Layouts** ([`layouts`]): which values are stored in DRAM (model inputs, layer outputs) in
//!    which row layout, and the gather table of every layer whose input is reached through
//!    layout ops (im2col, transpose, reshape, flatten, concat; see [`layout`]).
//! 3. **Batch and tile plans** ([`plans`]): what `tile` recorded (`phi.batch`, each layer's
//!    `phi.tile`), checked against the buffers — the backend never plans again.
//! 4. **DRAM placement and ports** ([`dram`]): the constant sections, then the inputs, each
//!    layer's output and membranes for the batch, and the output ports.
//! 5. **Emission** ([`schedule`]): each layer's instructions from its plan, with buffer rings
//!    and dependency tokens ([`emit`]), so that loads of the next group overlap the current
//!    computation and stores overlap the next tile; then `halt` and a validation of every
//!    instruction's fields.

pub mod dram;
pub mod emit;
pub mod schedule;

use std::collections::HashMap;

use phi_dialect::ir::{Module, ValueId};
use phi_dialect::ops::{OpKind, SnnOp};
use phi_dialect::program::{FORMAT_VERSION, LayerDesc, Program, ProgramMeta};
use phi_dialect::target::Target;
use phi_dialect::{DResult, Diagnostic, phi_attrs};

use crate::analysis::layers::{self, Gemm};
use crate::analysis::layout;
use crate::analysis::tiling::{self, Geometry, Limits};
use dram::Dram;
use emit::Emitter;
use schedule::{EmitState, Plan};

fn err(loc: &phi_dialect::Location, msg: impl Into<String>) -> Diagnostic {
    Diagnostic::error(msg).with_loc(loc, "")
}

/// Lowers a verified, tiled integer module to a program for `target`.
pub fn lower(m: &Module, target: &Target, sample: Option<Vec<u8>>) -> DResult<Program> {
    let hw = &target.hw;
    hw.validate().map_err(|e| Diagnostic::error(format!("invalid hardware configuration: {e}")))?;
    let found = layers::gemms(m)?;
    if found.len() > 255 {
        return Err(Diagnostic::error(format!("{} layers; the ISA addresses at most 255", found.len())));
    }
    let layouts = layouts(m, &found)?;
    let (batch, plans) = plans(m, &found, target)?;
    let mut dram = Dram::place_constants(m, &found, &layouts, hw.k)?;
    let (inputs, time_steps) = dram.inputs(m, batch as usize)?;
    let layers = dram.layers(m, &found, &layouts, target.kind, batch as usize)?;
    let outputs = dram.outputs(m, &layouts)?;
    let code = instructions(&layers, &found, &plans, target)?;
    let (activations, dram_bytes) = (dram.activations as u32, dram.bytes()?);
    let (regions, sections) = dram.sections();
    let meta = ProgramMeta {
        format_version: FORMAT_VERSION,
        model: m.name.clone(),
        target: target.kind,
        time_steps,
        batch,
        inputs,
        outputs,
        layers,
        regions,
        activations,
        dram_bytes,
        hw: hw.clone(),
    };
    Ok(Program { meta, code, sections, sample })
}

/// Stored values and the gather tables of layer inputs.
pub struct Layouts {
    /// Every value stored in DRAM (model inputs, layer outputs), with its step map when it is
    /// stored in a GEMM's row layout rather than its logical order.
    pub stored: HashMap<ValueId, Option<Vec<u32>>>,
    /// Per layer: the stored values its input is gathered from (in the order the table's
    /// element ids take them) and the gather table, or `None` when the input is read row by
    /// row as stored.
    pub tables: Vec<Option<(Vec<ValueId>, Vec<u32>)>>,
}

/// Phase 2: the layouts of stored values and the gather table of every layer whose input is
/// reached through layout ops (and concatenations of them).
fn layouts(m: &Module, found: &[Gemm]) -> DResult<Layouts> {
    let mut stored: HashMap<ValueId, Option<Vec<u32>>> = HashMap::new();
    for &op in m.body() {
        if let OpKind::Snn(SnnOp::Input(_)) = m.op(op).kind {
            stored.insert(m.result(op), None);
        }
    }
    let step_elems = |v: ValueId| -> usize {
        let t = m.ty(v);
        t.num_elements() / t.shape[0].max(1)
    };
    let mut tables = Vec::new();
    for g in found {
        let input = match stored.get(&g.x) {
            Some(None) => None,
            Some(Some(_)) | None => {
                let mut sources = Vec::new();
                let ids = layout::gather_ids(m, g.x, &stored, &mut sources).ok_or_else(|| {
                    err(
                        &g.loc,
                        "the GEMM's input is neither a model input nor reached from layers' outputs by layout ops",
                    )
                    .with_help("between layers the backend lowers im2col, transpose, reshape, flatten and concat")
                })?;
                Some((sources, layout::table(&ids)))
            }
        };
        tables.push(input);
        let map = match g.out_chain.first() {
            Some(&first) => {
                let gemm_value = m.op(first).operands[0];
                layout::step_map(&layout::eval(m, &g.out_chain, layout::ids(None, step_elems(gemm_value))))
            }
            None => None,
        };
        stored.insert(g.out, map);
    }
    Ok(Layouts { stored, tables })
}

/// Phase 3: the batch and every layer's tile plan, as `tile` recorded them, each checked
/// against the target's buffers.
fn plans(m: &Module, found: &[Gemm], target: &Target) -> DResult<(u32, Vec<Plan>)> {
    let untiled = || {
        Diagnostic::error("the module has no tile plan")
            .with_help("run the `tile` pass last (every target's pipeline does; see --list-passes)")
    };
    let batch = match (phi_attrs::batch(m), found.is_empty()) {
        (Some(b), _) => b,
        (None, true) => 1,
        (None, false) => return Err(untiled()),
    };
    let hw = &target.hw;
    let lim = Limits { m: hw.m as usize, n: hw.n as usize };
    let mut plans = Vec::with_capacity(found.len());
    for g in found {
        let t = phi_attrs::tile(m, g.op).ok_or_else(|| untiled().with_loc(&g.loc, "this layer"))?;
        let geo = Geometry::of(m, g, target.kind, hw.k);
        tiling::check(&geo, batch, t, lim, &hw.buffers).map_err(|msg| {
            err(&g.loc, format!("layer `{}`: the recorded tile plan does not fit the accelerator: {msg}", g.name))
                .with_help("run `tile` for this target and hardware configuration")
        })?;
        let (nt, group) = (t.cols as usize, t.group as usize);
        plans.push(Plan { mr: t.rows as usize, nt, ct: geo.n.div_ceil(nt), group });
    }
    Ok((batch, plans))
}

/// Phase 5: every layer's instructions, then `halt`; every instruction's fields are validated.
fn instructions(
    layers: &[LayerDesc],
    found: &[Gemm],
    plans: &[Plan],
    target: &Target,
) -> DResult<Vec<phi_dialect::isa::Inst>> {
    let mut e = Emitter::new();
    let mut state = EmitState::default();
    for (li, ((l, g), &p)) in layers.iter().zip(found).zip(plans).enumerate() {
        schedule::emit_layer(&mut e, &mut state, li as u8, l, p, &target.hw.buffers).map_err(|msg| err(&g.loc, msg))?;
    }
    let code = e.halt();
    for (i, inst) in code.iter().enumerate() {
        inst.validate().map_err(|msg| Diagnostic::error(format!("internal error: instruction {i}: {msg}")))?;
    }
    Ok(code)
}
