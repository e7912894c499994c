//! Initializer data: inline literals and ONNX external data.
//!
//! An initializer's data is either written inline (`{1.0, 2.0}`) or external, as ONNX's
//! external-data key/value list: `["location": "weights.safetensors", "key": "fc1.weight"]`.
//! The `location` is relative to the model file's directory. By the file's extension:
//!
//! - `.safetensors` — the tensor named by `key` (default: the initializer's name);
//! - `.npy` — the whole array;
//! - anything else — ONNX raw external data: little-endian elements at `offset` (default 0),
//!   `length` bytes (default: to the end of the file).
//!
//! The data must match the initializer's declared type exactly: element type and shape (no
//! silent casts). Each file is read once per compilation.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use phi_dialect::diag::Span;
use phi_dialect::{DResult, Diagnostic};
use phi_runtime::npy::{NpyArray, parse_npy};
use safetensors::{Dtype, SafeTensors};

use super::onnx::ast::{Initializer, LiteralKind, PrimType, TensorData};

/// Elements of a loaded initializer.
#[derive(Clone, Debug, PartialEq)]
pub enum Values {
    /// `float`
    F32(Vec<f32>),
    /// Any integer type, widened.
    I64(Vec<i64>),
}

/// A loaded initializer.
#[derive(Clone, Debug, PartialEq)]
pub struct Loaded {
    /// Declared (and checked) shape.
    pub shape: Vec<usize>,
    /// The elements.
    pub values: Values,
}

/// Reads initializer data, caching external files.
pub struct Loader {
    base: PathBuf,
    files: HashMap<PathBuf, Arc<Vec<u8>>>,
}

const MAX_ELEMENTS: u64 = 1 << 32;

impl Loader {
    /// A loader resolving `location`s against `base` (the model's directory).
    pub fn new(base: impl Into<PathBuf>) -> Self {
        Loader { base: base.into(), files: HashMap::new() }
    }

    fn read(&mut self, rel: &str, span: Span) -> DResult<(PathBuf, Arc<Vec<u8>>)> {
        let path = self.base.join(rel);
        if let Some(b) = self.files.get(&path) {
            return Ok((path, b.clone()));
        }
        let bytes = std::fs::read(&path).map_err(|e| {
            Diagnostic::error(format!("cannot read external data `{rel}`: {e}"))
                .with_span(span, format!("resolved to {}", path.display()))
                .with_help("locations are relative to the model file's directory; check the file exists")
        })?;
        let b = Arc::new(bytes);
        self.files.insert(path.clone(), b.clone());
        Ok((path, b))
    }

    /// Loads and checks an initializer's data.
    pub fn load(&mut self, init: &Initializer) -> DResult<Loaded> {
        let shape = declared_shape(init)?;
        let numel: usize = shape.iter().product();
        let elem = init.ty.elem;
        match &init.data {
            TensorData::Inline(lits) => {
                if lits.len() != numel {
                    return Err(Diagnostic::error(format!(
                        "initializer `{}` is declared with {numel} elements but {} are written",
                        init.name.text,
                        lits.len()
                    ))
                    .with_span(init.data_span, "data here")
                    .with_secondary(init.ty.span, "declared type"));
                }
                let values = if is_float(elem) {
                    Values::F32(
                        lits.iter()
                            .map(|l| {
                                l.as_f64().map(|v| v as f32).ok_or_else(|| {
                                    Diagnostic::error("expected a number").with_span(l.span, "not a number")
                                })
                            })
                            .collect::<DResult<_>>()?,
                    )
                } else if is_int(elem) {
                    Values::I64(
                        lits.iter()
                            .map(|l| match l.kind {
                                LiteralKind::Int(v) => Ok(v),
                                LiteralKind::Float(_) | LiteralKind::Str(_) => Err(Diagnostic::error(format!(
                                    "`{}` initializer `{}` needs integer data",
                                    elem.name(),
                                    init.name.text
                                ))
                                .with_span(l.span, "not an integer")),
                            })
                            .collect::<DResult<_>>()?,
                    )
                } else {
                    return Err(unsupported_dtype(init, elem));
                };
                Ok(Loaded { shape, values })
            }
            TensorData::External(pairs) => {
                let loc = pairs.iter().find(|p| p.key == "location").ok_or_else(|| {
                    Diagnostic::error(format!("external data of `{}` has no `location`", init.name.text))
                        .with_span(init.data_span, "")
                        .with_help(r#"write ["location": "weights.safetensors", "key": "name"]"#)
                })?;
                let (path, bytes) = self.read(&loc.value, loc.value_span)?;
                let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
                let values = match ext.as_str() {
                    "safetensors" => {
                        let key = init.data.external("key").unwrap_or(&init.name.text).to_string();
                        from_safetensors(&bytes, &key, init, &shape, loc.value_span)?
                    }
                    "npy" => from_npy(&bytes, init, &shape, loc.value_span)?,
                    _ => from_raw(&bytes, init, numel, loc.value_span)?,
                };
                Ok(Loaded { shape, values })
            }
        }
    }
}

fn declared_shape(init: &Initializer) -> DResult<Vec<usize>> {
    let mut shape = Vec::new();
    let mut n: u64 = 1;
    for d in init.shape() {
        let d = usize::try_from(d).map_err(|_| {
            Diagnostic::error(format!("initializer `{}` has a negative dimension", init.name.text))
                .with_span(init.ty.span, "")
        })?;
        n = n.saturating_mul(d as u64);
        shape.push(d);
    }
    if n > MAX_ELEMENTS {
        return Err(Diagnostic::error(format!("initializer `{}` declares {n} elements, too many", init.name.text))
            .with_span(init.ty.span, "")
            .with_help("at most 2^32 elements per initializer"));
    }
    Ok(shape)
}

fn unsupported_dtype(init: &Initializer, t: PrimType) -> Diagnostic {
    Diagnostic::error(format!(
        "initializer `{}` has element type `{}`, which the Phi frontend does not load",
        init.name.text,
        t.name()
    ))
    .with_span(init.ty.elem_span, "")
    .with_help("weights are `float`; shapes are `int64`")
}

fn mismatch(init: &Initializer, span: Span, what: String) -> Diagnostic {
    Diagnostic::error(format!(
        "external data of `{}` does not match its declared type {}: {what}",
        init.name.text,
        type_text(init)
    ))
    .with_span(span, "data from here")
    .with_secondary(init.ty.span, "declared here")
}

fn type_text(init: &Initializer) -> String {
    format!("{}{:?}", init.ty.elem.name(), init.shape())
}

fn from_safetensors(bytes: &[u8], key: &str, init: &Initializer, shape: &[usize], span: Span) -> DResult<Values> {
    let st = SafeTensors::deserialize(bytes)
        .map_err(|e| Diagnostic::error(format!("not a valid safetensors file: {e}")).with_span(span, ""))?;
    let view =
        st.tensor(key).map_err(|_| {
            let mut names: Vec<&str> = st.names().into_iter().collect();
            names.sort_unstable();
            let shown: Vec<&str> = names.iter().take(12).copied().collect();
            Diagnostic::error(format!("the safetensors file has no tensor `{key}`"))
                .with_span(span, "")
                .with_help(format!("it holds: {}{}", shown.join(", "), if names.len() > 12 { ", …" } else { "" }))
        })?;
    if view.shape() != shape {
        return Err(mismatch(init, span, format!("the file's `{key}` has shape {:?}", view.shape())));
    }
    let data = view.data();
    match (view.dtype(), init.ty.elem) {
        (Dtype::F32, PrimType::Float) => {
            Ok(Values::F32(data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()))
        }
        (Dtype::I64, PrimType::Int64) => {
            Ok(Values::I64(data.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes"))).collect()))
        }
        (d, _) => Err(mismatch(init, span, format!("the file's `{key}` has dtype {d:?}"))),
    }
}

fn from_npy(bytes: &[u8], init: &Initializer, shape: &[usize], span: Span) -> DResult<Values> {
    let a = parse_npy(bytes).map_err(|e| Diagnostic::error(e).with_span(span, ""))?;
    if a.shape() != shape {
        return Err(mismatch(init, span, format!("the .npy array has shape {:?}", a.shape())));
    }
    match (&a, init.ty.elem) {
        (NpyArray::F32(x), PrimType::Float) => Ok(Values::F32(x.iter().copied().collect())),
        (NpyArray::I64(_), PrimType::Int64) | (NpyArray::I32(_), PrimType::Int32) => {
            Ok(Values::I64(a.to_i64().expect("integer array")))
        }
        (_, _) => Err(mismatch(init, span, format!("the .npy array has dtype {}", a.dtype()))),
    }
}

fn from_raw(bytes: &[u8], init: &Initializer, numel: usize, span: Span) -> DResult<Values> {
    let num = |k: &str| -> DResult<Option<usize>> {
        match init.data.external(k) {
            None => Ok(None),
            Some(v) => v.parse::<usize>().map(Some).map_err(|_| {
                Diagnostic::error(format!("external data `{k}` must be a byte count, found `{v}`"))
                    .with_span(init.data_span, "")
            }),
        }
    };
    let offset = num("offset")?.unwrap_or(0);
    let length = num("length")?;
    let end = match length {
        Some(l) => offset.checked_add(l),
        None => Some(bytes.len()),
    };
    let slice = end.and_then(|e| bytes.get(offset..e)).ok_or_else(|| {
        Diagnostic::error(format!("external data range {offset}+{length:?} is outside the {}-byte file", bytes.len()))
            .with_span(span, "")
    })?;
    let float = init.ty.elem == PrimType::Float;
    let width = if float {
        4
    } else if init.ty.elem == PrimType::Int64 {
        8
    } else {
        return Err(unsupported_dtype(init, init.ty.elem));
    };
    if slice.len() != numel * width {
        return Err(mismatch(init, span, format!("{} raw bytes, expected {}", slice.len(), numel * width)));
    }
    Ok(if float {
        Values::F32(slice.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
    } else {
        Values::I64(slice.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes"))).collect())
    })
}

/// Element types loaded as f32.
pub fn is_float(t: PrimType) -> bool {
    matches!(t, PrimType::Float | PrimType::Double)
}

/// Element types loaded as (widened) integers.
pub fn is_int(t: PrimType) -> bool {
    matches!(t, PrimType::Int64 | PrimType::Int32 | PrimType::Int16 | PrimType::Int8 | PrimType::Uint8 | PrimType::Bool)
}

/// The directory a model path's relative locations resolve against.
pub fn base_dir(model: &Path) -> PathBuf {
    match model.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        Some(_) | None => PathBuf::from("."),
    }
}
