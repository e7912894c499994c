//! Checks of a program's metadata before the emulator allocates or indexes anything by it.
//!
//! A `.phibin` that passed its checksum can still be crafted (or compiled by a buggy backend)
//! with fields that would make the emulator allocate gigabytes, loop for hours, or index past
//! its DRAM image. [`program`] rejects those up front, with a [`CheckError`] naming the field:
//!
//! 1. the hardware configuration validates ([`phi_dialect::hw::HwConfig::validate`]: every
//!    buffer is at most 1 MiB, the units are positive);
//! 2. the DRAM image is at most [`MAX_DRAM_BYTES`];
//! 3. the batch is between 1 and [`MAX_BATCH`];
//! 4. there is one constant section per region, of the region's size, inside the image;
//! 5. every input and output port has a non-empty shape of positive dimensions, rows wide
//!    enough for their elements, its `batch` samples inside the image, and (a real-valued
//!    input's) a positive finite scale (its element kind is an `i1` or `i32`
//!    [`PortElem`] by construction: another spelling does not parse);
//! 6. every layer's partition width `k` is at most 32 bits and its pattern count `q` at most
//!    32,767 (match indices are `i16`), so that per-instruction tables sized by them
//!    (partitions × q) stay small;
//! 7. a layer whose input goes through an index table ([`InputMap::Table`]) has between one and
//!    [`MAX_SOURCES`] sources, positive step and source sizes, rows per sample divisible by its
//!    steps, source rows wide enough for their elements, only spike sources when it gathers
//!    spikes, and the whole `P × K` table inside the image (each entry is checked against the
//!    sources' extent when the gather reads it).
//!
//! Everything else (instruction fields, layer addresses) is checked as the instructions run:
//! an access outside a buffer or the image is a trap.

use std::fmt;

use phi_dialect::program::{InputKind, InputMap, PortElem, Program};

/// The largest DRAM image the emulator allocates (1 GiB).
pub const MAX_DRAM_BYTES: u32 = 1 << 30;

/// The most sources one layer's index table may read.
pub const MAX_SOURCES: usize = 64;

/// The largest batch a program may declare.
pub const MAX_BATCH: u32 = 1 << 16;

/// Why a program's metadata is refused (see the module documentation for the checks).
#[derive(Clone, Debug, PartialEq)]
pub enum CheckError {
    /// The hardware configuration does not validate.
    Hardware {
        /// [`HwConfig::validate`](phi_dialect::hw::HwConfig::validate)'s message.
        message: String,
    },
    /// The DRAM image is larger than [`MAX_DRAM_BYTES`].
    DramTooLarge {
        /// Its size in bytes.
        bytes: u32,
    },
    /// The batch is 0 or larger than [`MAX_BATCH`].
    Batch {
        /// The batch.
        batch: u32,
    },
    /// The program does not have one constant section per region.
    SectionCount {
        /// Regions in the metadata.
        regions: usize,
        /// Sections in the program.
        sections: usize,
    },
    /// A constant section is not its region's (name or size).
    SectionMismatch {
        /// The section's name.
        section: String,
        /// The section's size in bytes.
        section_bytes: usize,
        /// The region's section name.
        region: String,
        /// The region's size in bytes.
        region_bytes: u32,
    },
    /// A constant region lies outside the DRAM image.
    RegionOutside {
        /// The region's section name.
        region: String,
        /// Its DRAM address.
        dram: u32,
        /// The image's size in bytes.
        image: u64,
    },
    /// An input or output port is invalid.
    Port {
        /// Input or output.
        direction: PortDirection,
        /// The port's name.
        name: String,
        /// What is wrong with it.
        problem: PortProblem,
    },
    /// A layer's partition width or pattern count is too large.
    PatternSize {
        /// The layer's index.
        layer: usize,
        /// Its name.
        name: String,
        /// Its partition width.
        k: u32,
        /// Its pattern count.
        q: u32,
    },
    /// A layer's input index table is invalid.
    InputTable {
        /// The layer's index.
        layer: usize,
        /// Its name.
        name: String,
        /// What is wrong with the table.
        problem: TableProblem,
    },
}

/// Which list of the metadata a port is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PortDirection {
    /// `meta.inputs`.
    Input,
    /// `meta.outputs`.
    Output,
}

impl PortDirection {
    /// `input` or `output`.
    pub fn name(self) -> &'static str {
        match self {
            PortDirection::Input => "input",
            PortDirection::Output => "output",
        }
    }
}

impl fmt::Display for PortDirection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What is wrong with a port ([`CheckError::Port`]).
#[derive(Clone, Debug, PartialEq)]
pub enum PortProblem {
    /// The input scale is not positive and finite.
    Scale {
        /// The scale.
        scale: f32,
    },
    /// The shape is empty or has a zero dimension.
    Shape {
        /// The per-sample shape.
        shape: Vec<usize>,
    },
    /// The shape has more elements than the DRAM image has bits.
    ShapeTooLarge {
        /// The per-sample shape.
        shape: Vec<usize>,
    },
    /// A stored row is too short for a row of elements.
    RowBytes {
        /// Bytes per stored row.
        row_bytes: u32,
        /// Elements per row (the last dimension).
        width: u64,
        /// Their kind.
        elem: PortElem,
    },
    /// The `batch` samples do not fit in the DRAM image.
    Outside {
        /// The batch.
        batch: u32,
        /// The port's DRAM address.
        dram: u32,
        /// The image's size in bytes.
        image: u64,
    },
}

/// What is wrong with a layer's input index table ([`CheckError::InputTable`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TableProblem {
    /// No source, or more than [`MAX_SOURCES`].
    Sources {
        /// The number of sources.
        count: usize,
    },
    /// A size is zero, or the steps do not divide the rows per sample.
    Geometry {
        /// Time steps per sample.
        steps: u32,
        /// Stored source rows per step.
        src_rows: u32,
        /// Source columns.
        src_cols: u32,
        /// The layer's rows per sample.
        rows_per_sample: u32,
    },
    /// A stored source row is too short for `src_cols` elements.
    RowBytes {
        /// Bytes per stored source row.
        row_bytes: u32,
        /// Source columns.
        src_cols: u32,
    },
    /// A layer that gathers spikes names an integer source.
    IntoSpikes {
        /// The source's index.
        source: usize,
    },
    /// The table lies outside the DRAM image.
    Outside {
        /// Entries of the table (4 bytes each).
        entries: u64,
        /// Its DRAM address.
        table: u32,
        /// The image's size in bytes.
        image: u64,
    },
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckError::Hardware { message } => {
                write!(f, "the program's hardware configuration is invalid: {message}")
            }
            CheckError::DramTooLarge { bytes } => write!(
                f,
                "the program asks for a DRAM image of {bytes} bytes; the emulator allows at most {MAX_DRAM_BYTES}"
            ),
            CheckError::Batch { batch } => write!(f, "the program's batch is {batch}; it must be in 1..={MAX_BATCH}"),
            CheckError::SectionCount { regions, sections } => {
                write!(f, "the program has {regions} constant regions but {sections} sections")
            }
            CheckError::SectionMismatch { section, section_bytes, region, region_bytes } => write!(
                f,
                "section `{section}` ({section_bytes} bytes) does not match region `{region}` ({region_bytes} bytes)"
            ),
            CheckError::RegionOutside { region, dram, image } => {
                write!(f, "region `{region}` at 0x{dram:08x} lies outside the {image}-byte DRAM image")
            }
            CheckError::Port { direction, name, problem } => write!(f, "{direction} `{name}`: {problem}"),
            CheckError::PatternSize { layer, name, k, q } => write!(
                f,
                "layer {layer} (`{name}`) has k = {k} and q = {q}: k must be at most 32 and q at most {}",
                i16::MAX
            ),
            CheckError::InputTable { layer, name, problem } => {
                write!(f, "layer {layer} (`{name}`): input table: {problem}")
            }
        }
    }
}

impl std::error::Error for CheckError {}

impl fmt::Display for PortProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PortProblem::Scale { scale } => write!(f, "input scale {scale:?} must be positive and finite"),
            PortProblem::Shape { shape } => write!(f, "shape {shape:?} must have positive dimensions"),
            PortProblem::ShapeTooLarge { shape } => write!(f, "shape {shape:?} is larger than the DRAM image"),
            PortProblem::RowBytes { row_bytes, width, elem } => {
                write!(f, "rows of {row_bytes} bytes cannot hold {width} elements of {elem}")
            }
            PortProblem::Outside { batch, dram, image } => {
                write!(f, "{batch} samples at 0x{dram:08x} lie outside the {image}-byte DRAM image")
            }
        }
    }
}

impl fmt::Display for TableProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TableProblem::Geometry { steps, src_rows, src_cols, rows_per_sample } => write!(
                f,
                "steps {steps}, source rows {src_rows} and columns {src_cols} must be positive, and divide the {rows_per_sample} rows per sample"
            ),
            TableProblem::RowBytes { row_bytes, src_cols } => {
                write!(f, "source rows of {row_bytes} bytes cannot hold {src_cols} elements")
            }
            TableProblem::Sources { count } => {
                write!(f, "{count} sources: a table reads between 1 and {MAX_SOURCES}")
            }
            TableProblem::IntoSpikes { source } => {
                write!(f, "source {source} holds integers, but the layer gathers spikes")
            }
            TableProblem::Outside { entries, table, image } => {
                write!(f, "{entries} entries at 0x{table:08x} lie outside the {image}-byte DRAM image")
            }
        }
    }
}

/// Checks `p`'s metadata (see the module documentation for the list).
pub fn program(p: &Program) -> Result<(), CheckError> {
    let meta = &p.meta;
    meta.hw.validate().map_err(|message| CheckError::Hardware { message })?;
    if meta.dram_bytes > MAX_DRAM_BYTES {
        return Err(CheckError::DramTooLarge { bytes: meta.dram_bytes });
    }
    if meta.batch == 0 || meta.batch > MAX_BATCH {
        return Err(CheckError::Batch { batch: meta.batch });
    }
    let dram = u64::from(meta.dram_bytes);
    if p.sections.len() != meta.regions.len() {
        return Err(CheckError::SectionCount { regions: meta.regions.len(), sections: p.sections.len() });
    }
    for (r, (name, bytes)) in meta.regions.iter().zip(&p.sections) {
        if *name != r.section || bytes.len() as u64 != u64::from(r.bytes) {
            return Err(CheckError::SectionMismatch {
                section: name.clone(),
                section_bytes: bytes.len(),
                region: r.section.clone(),
                region_bytes: r.bytes,
            });
        }
        if u64::from(r.dram) + u64::from(r.bytes) > dram {
            return Err(CheckError::RegionOutside { region: r.section.clone(), dram: r.dram, image: dram });
        }
    }
    for (direction, ports) in [(PortDirection::Input, &meta.inputs), (PortDirection::Output, &meta.outputs)] {
        for port in ports.iter() {
            let bad = |problem| Err(CheckError::Port { direction, name: port.name.clone(), problem });
            if let Some(scale) = port.scale.filter(|s| !(s.is_finite() && *s > 0.0)) {
                return bad(PortProblem::Scale { scale });
            }
            if port.shape.is_empty() || port.shape.contains(&0) {
                return bad(PortProblem::Shape { shape: port.shape.clone() });
            }
            let mut elems: u64 = 1;
            for &d in &port.shape {
                match elems.checked_mul(d as u64).filter(|&e| e <= dram * 8) {
                    Some(e) => elems = e,
                    None => return bad(PortProblem::ShapeTooLarge { shape: port.shape.clone() }),
                }
            }
            let width = *port.shape.last().expect("non-empty") as u64;
            let need = match port.elem {
                PortElem::I1 => width.div_ceil(8),
                PortElem::I32 => 4 * width,
            };
            if u64::from(port.row_bytes) < need {
                return bad(PortProblem::RowBytes { row_bytes: port.row_bytes, width, elem: port.elem });
            }
            let rows = elems / width * u64::from(meta.batch);
            let end = rows
                .checked_mul(u64::from(port.row_bytes))
                .and_then(|b| b.checked_add(u64::from(port.dram)))
                .filter(|&e| e <= dram);
            if end.is_none() {
                return bad(PortProblem::Outside { batch: meta.batch, dram: port.dram, image: dram });
            }
        }
    }
    for (i, l) in meta.layers.iter().enumerate() {
        if l.k > 32 || l.q > i16::MAX as u32 {
            return Err(CheckError::PatternSize { layer: i, name: l.name.clone(), k: l.k, q: l.q });
        }
        match &l.input.map {
            InputMap::Rows => {}
            InputMap::Table { table, steps, sources } => {
                let (table, steps) = (*table, *steps);
                let bad = |problem| Err(CheckError::InputTable { layer: i, name: l.name.clone(), problem });
                if sources.is_empty() || sources.len() > MAX_SOURCES {
                    return bad(TableProblem::Sources { count: sources.len() });
                }
                for (j, src) in sources.iter().enumerate() {
                    if steps == 0 || src.rows == 0 || src.cols == 0 || l.rows_per_sample % steps != 0 {
                        return bad(TableProblem::Geometry {
                            steps,
                            src_rows: src.rows,
                            src_cols: src.cols,
                            rows_per_sample: l.rows_per_sample,
                        });
                    }
                    let need = match src.kind {
                        InputKind::Spikes => u64::from(src.cols).div_ceil(8),
                        InputKind::Int => u64::from(src.cols) * 4,
                    };
                    if u64::from(src.row_bytes) < need {
                        return bad(TableProblem::RowBytes { row_bytes: src.row_bytes, src_cols: src.cols });
                    }
                    if (l.input.kind, src.kind) == (InputKind::Spikes, InputKind::Int) {
                        return bad(TableProblem::IntoSpikes { source: j });
                    }
                }
                let entries = u64::from(l.rows_per_sample / steps) * u64::from(l.k_cols);
                if u64::from(table) + entries * 4 > dram {
                    return bad(TableProblem::Outside { entries, table, image: dram });
                }
            }
        }
    }
    Ok(())
}
