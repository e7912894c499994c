//! Checks of a program's metadata before the emulator allocates or indexes anything by it.
//!
//! A `.phibin` that passed its checksum can still be crafted (or compiled by a buggy backend)
//! with fields that would make the emulator allocate gigabytes, loop for hours, or index past
//! its DRAM image. [`program`] rejects those up front, with a message naming the field:
//!
//! 1. the hardware configuration validates ([`phi_dialect::hw::HwConfig::validate`]: every
//!    buffer is at most 1 MiB, the units are positive);
//! 2. the DRAM image is at most [`MAX_DRAM_BYTES`];
//! 3. the batch is between 1 and [`MAX_BATCH`];
//! 4. there is one constant section per region, of the region's size, inside the image;
//! 5. every input and output port has a known element type (`i1`, `i32`), a non-empty shape of
//!    positive dimensions, rows wide enough for their elements, its `batch` samples inside
//!    the image, and (a real-valued input's) a positive finite scale;
//! 6. every layer's partition width `k` is at most 32 bits and its pattern count `q` at most
//!    32,767 (match indices are `i16`), so that per-instruction tables sized by them
//!    (partitions × q) stay small;
//! 7. a layer whose input goes through an index table ([`InputMap::Table`]) has positive step
//!    and source sizes, rows per sample divisible by its steps, a source row wide enough for
//!    `src_cols` elements, and the whole `P × K` table inside the image (each entry is checked
//!    against the source's extent when the gather reads it).
//!
//! Everything else (instruction fields, layer addresses) is checked as the instructions run:
//! an access outside a buffer or the image is a trap.

use phi_dialect::program::{InputKind, InputMap, Program};

/// The largest DRAM image the emulator allocates (1 GiB).
pub const MAX_DRAM_BYTES: u32 = 1 << 30;

/// The largest batch a program may declare.
pub const MAX_BATCH: u32 = 1 << 16;

/// Checks `p`'s metadata (see the module documentation for the list).
pub fn program(p: &Program) -> Result<(), String> {
    let meta = &p.meta;
    meta.hw.validate().map_err(|e| format!("the program's hardware configuration is invalid: {e}"))?;
    if meta.dram_bytes > MAX_DRAM_BYTES {
        return Err(format!(
            "the program asks for a DRAM image of {} bytes; the emulator allows at most {MAX_DRAM_BYTES}",
            meta.dram_bytes
        ));
    }
    if meta.batch == 0 || meta.batch > MAX_BATCH {
        return Err(format!("the program's batch is {}; it must be in 1..={MAX_BATCH}", meta.batch));
    }
    let dram = u64::from(meta.dram_bytes);
    if p.sections.len() != meta.regions.len() {
        return Err(format!(
            "the program has {} constant regions but {} sections",
            meta.regions.len(),
            p.sections.len()
        ));
    }
    for (r, (name, bytes)) in meta.regions.iter().zip(&p.sections) {
        if *name != r.section || bytes.len() as u64 != u64::from(r.bytes) {
            return Err(format!(
                "section `{name}` ({} bytes) does not match region `{}` ({} bytes)",
                bytes.len(),
                r.section,
                r.bytes
            ));
        }
        if u64::from(r.dram) + u64::from(r.bytes) > dram {
            return Err(format!("region `{}` at 0x{:08x} lies outside the {dram}-byte DRAM image", r.section, r.dram));
        }
    }
    for (kind, ports) in [("input", &meta.inputs), ("output", &meta.outputs)] {
        for port in ports.iter() {
            let bad = |what: String| Err(format!("{kind} `{}`: {what}", port.name));
            let elem_bytes = match port.elem.as_str() {
                "i1" => None,
                "i32" => Some(4u64),
                other => return bad(format!("unknown element type `{other}` (i1 or i32)")),
            };
            if port.scale.is_some_and(|s| !(s.is_finite() && s > 0.0)) {
                return bad(format!("input scale {:?} must be positive and finite", port.scale));
            }
            if port.shape.is_empty() || port.shape.contains(&0) {
                return bad(format!("shape {:?} must have positive dimensions", port.shape));
            }
            let mut elems: u64 = 1;
            for &d in &port.shape {
                elems = elems.checked_mul(d as u64).filter(|&e| e <= dram * 8).ok_or_else(|| {
                    format!("{kind} `{}`: shape {:?} is larger than the DRAM image", port.name, port.shape)
                })?;
            }
            let width = *port.shape.last().expect("non-empty") as u64;
            let need = elem_bytes.map_or(width.div_ceil(8), |b| b * width);
            if u64::from(port.row_bytes) < need {
                return bad(format!("rows of {} bytes cannot hold {width} elements of {}", port.row_bytes, port.elem));
            }
            let rows = elems / width * u64::from(meta.batch);
            let end = rows
                .checked_mul(u64::from(port.row_bytes))
                .and_then(|b| b.checked_add(u64::from(port.dram)))
                .filter(|&e| e <= dram);
            if end.is_none() {
                return bad(format!(
                    "{} samples at 0x{:08x} lie outside the {dram}-byte DRAM image",
                    meta.batch, port.dram
                ));
            }
        }
    }
    for (i, l) in meta.layers.iter().enumerate() {
        if l.k > 32 || l.q > i16::MAX as u32 {
            return Err(format!(
                "layer {i} (`{}`) has k = {} and q = {}: k must be at most 32 and q at most {}",
                l.name,
                l.k,
                l.q,
                i16::MAX
            ));
        }
        match l.input.map {
            InputMap::Rows => {}
            InputMap::Table { table, steps, src_rows, src_cols } => {
                let bad = |what: String| Err(format!("layer {i} (`{}`): input table: {what}", l.name));
                if steps == 0 || src_rows == 0 || src_cols == 0 || l.rows_per_sample % steps != 0 {
                    return bad(format!(
                        "steps {steps}, source rows {src_rows} and columns {src_cols} must be positive, and divide the {} rows per sample",
                        l.rows_per_sample
                    ));
                }
                let need = match l.input.kind {
                    InputKind::Spikes => u64::from(src_cols).div_ceil(8),
                    InputKind::Int => u64::from(src_cols) * 4,
                };
                if u64::from(l.input.row_bytes) < need {
                    return bad(format!("source rows of {} bytes cannot hold {src_cols} elements", l.input.row_bytes));
                }
                let entries = u64::from(l.rows_per_sample / steps) * u64::from(l.k_cols);
                if u64::from(table) + entries * 4 > dram {
                    return bad(format!("{entries} entries at 0x{table:08x} lie outside the {dram}-byte DRAM image"));
                }
            }
        }
    }
    Ok(())
}
