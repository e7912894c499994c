//! NumPy `.npy` input and output for runtime tensors (via `ndarray-npy`).
//!
//! Spike inputs are `uint8` or `bool` arrays `[N, T, …]` whose values must be 0 or 1; integer
//! inputs may be any NumPy integer type in range of i32; float inputs `float32`/`float64`.
//! Outputs are written atomically (a temporary file in the target directory, then renamed).

use std::io::{Cursor, Write};
use std::path::Path;

use ndarray::{ArrayD, IxDyn};
use ndarray_npy::{ReadNpyExt, WriteNpyExt};
use phi_dialect::ElemType;

use crate::tensor::{Data, Tensor};

/// An array read from a `.npy` file, in its own dtype.
#[derive(Clone, Debug, PartialEq)]
pub enum NpyArray {
    /// `bool`
    Bool(ArrayD<bool>),
    /// `uint8`
    U8(ArrayD<u8>),
    /// `int8`
    I8(ArrayD<i8>),
    /// `int32`
    I32(ArrayD<i32>),
    /// `int64`
    I64(ArrayD<i64>),
    /// `float32`
    F32(ArrayD<f32>),
    /// `float64`
    F64(ArrayD<f64>),
}

impl NpyArray {
    /// The shape.
    pub fn shape(&self) -> &[usize] {
        match self {
            NpyArray::Bool(a) => a.shape(),
            NpyArray::U8(a) => a.shape(),
            NpyArray::I8(a) => a.shape(),
            NpyArray::I32(a) => a.shape(),
            NpyArray::I64(a) => a.shape(),
            NpyArray::F32(a) => a.shape(),
            NpyArray::F64(a) => a.shape(),
        }
    }

    /// The NumPy dtype name.
    pub fn dtype(&self) -> &'static str {
        match self {
            NpyArray::Bool(_) => "bool",
            NpyArray::U8(_) => "uint8",
            NpyArray::I8(_) => "int8",
            NpyArray::I32(_) => "int32",
            NpyArray::I64(_) => "int64",
            NpyArray::F32(_) => "float32",
            NpyArray::F64(_) => "float64",
        }
    }

    /// All elements as f64, in logical (row-major) order.
    pub fn to_f64(&self) -> Vec<f64> {
        match self {
            NpyArray::Bool(a) => a.iter().map(|&x| x as u8 as f64).collect(),
            NpyArray::U8(a) => a.iter().map(|&x| x as f64).collect(),
            NpyArray::I8(a) => a.iter().map(|&x| x as f64).collect(),
            NpyArray::I32(a) => a.iter().map(|&x| x as f64).collect(),
            NpyArray::I64(a) => a.iter().map(|&x| x as f64).collect(),
            NpyArray::F32(a) => a.iter().map(|&x| x as f64).collect(),
            NpyArray::F64(a) => a.to_owned().into_iter().collect(),
        }
    }

    /// Integer elements, if the dtype is integral or bool.
    pub fn to_i64(&self) -> Option<Vec<i64>> {
        Some(match self {
            NpyArray::Bool(a) => a.iter().map(|&x| x as i64).collect(),
            NpyArray::U8(a) => a.iter().map(|&x| x as i64).collect(),
            NpyArray::I8(a) => a.iter().map(|&x| x as i64).collect(),
            NpyArray::I32(a) => a.iter().map(|&x| x as i64).collect(),
            NpyArray::I64(a) => a.iter().copied().collect(),
            NpyArray::F32(_) | NpyArray::F64(_) => return None,
        })
    }
}

fn try_read<A: ndarray_npy::ReadableElement>(bytes: &[u8]) -> Option<ArrayD<A>> {
    ArrayD::<A>::read_npy(Cursor::new(bytes)).ok()
}

/// Parses `.npy` bytes of any supported dtype.
pub fn parse_npy(bytes: &[u8]) -> Result<NpyArray, String> {
    if !bytes.starts_with(b"\x93NUMPY") {
        return Err("not a .npy file (no \\x93NUMPY magic)".into());
    }
    if let Some(a) = try_read::<u8>(bytes) {
        return Ok(NpyArray::U8(a));
    }
    if let Some(a) = try_read::<bool>(bytes) {
        return Ok(NpyArray::Bool(a));
    }
    if let Some(a) = try_read::<f32>(bytes) {
        return Ok(NpyArray::F32(a));
    }
    if let Some(a) = try_read::<i64>(bytes) {
        return Ok(NpyArray::I64(a));
    }
    if let Some(a) = try_read::<i32>(bytes) {
        return Ok(NpyArray::I32(a));
    }
    if let Some(a) = try_read::<i8>(bytes) {
        return Ok(NpyArray::I8(a));
    }
    if let Some(a) = try_read::<f64>(bytes) {
        return Ok(NpyArray::F64(a));
    }
    // Report what ndarray-npy says about it as a u8 array (the usual spike dtype).
    match ArrayD::<u8>::read_npy(Cursor::new(bytes)) {
        Ok(_) => unreachable!("tried above"),
        Err(e) => Err(format!("unsupported or malformed .npy: {e}")),
    }
}

/// Reads a `.npy` file.
pub fn read_npy(path: &Path) -> Result<NpyArray, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    parse_npy(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// Converts an array into a runtime tensor of the element type a model input expects.
pub fn to_tensor(a: &NpyArray, elem: ElemType) -> Result<Tensor, String> {
    let shape = a.shape().to_vec();
    let data = match elem {
        ElemType::I1 => {
            let vals = a.to_f64();
            if let Some((i, v)) = vals.iter().enumerate().find(|(_, v)| **v != 0.0 && **v != 1.0) {
                return Err(format!("spike input holds {v} at flat index {i}; spikes must be 0 or 1"));
            }
            Data::Spikes(vals.iter().map(|&v| v as u8).collect())
        }
        ElemType::I8 | ElemType::I16 | ElemType::I32 => {
            let vals = a.to_i64().ok_or_else(|| format!("integer input expected, the file holds {}", a.dtype()))?;
            let vals: Result<Vec<i32>, _> = vals.iter().map(|&v| i32::try_from(v)).collect();
            Data::I32(vals.map_err(|_| "integer input out of i32 range".to_string())?)
        }
        ElemType::F32 => Data::F32(a.to_f64().iter().map(|&v| v as f32).collect()),
    };
    Ok(Tensor::new(shape, data))
}

/// Reads labels (`[N]`, any integer dtype, values ≥ 0).
pub fn read_labels(path: &Path) -> Result<Vec<usize>, String> {
    let a = read_npy(path)?;
    if a.shape().len() != 1 {
        return Err(format!("{}: labels must be a 1-D array, found shape {:?}", path.display(), a.shape()));
    }
    let v = a.to_i64().ok_or_else(|| format!("{}: labels must be integers, found {}", path.display(), a.dtype()))?;
    v.into_iter().map(|x| usize::try_from(x).map_err(|_| format!("{}: negative label {x}", path.display()))).collect()
}

/// Writes bytes to `path` atomically: a temporary file beside it (synced, with ordinary
/// `0644` permissions), then a rename. Readers see the old file or the whole new one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        Some(_) | None => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    // Temporary files are created 0600; give the result ordinary file permissions.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file().set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Encodes a tensor as `.npy` bytes: spikes as `uint8`, integers as `int32`, floats as `float32`.
pub fn to_npy_bytes(t: &Tensor) -> Result<Vec<u8>, String> {
    let mut buf = Vec::new();
    let shape = IxDyn(&t.shape);
    let res = match &t.data {
        Data::Spikes(v) => ArrayD::from_shape_vec(shape, v.clone()).map(|a| a.write_npy(&mut buf)),
        Data::I32(v) => ArrayD::from_shape_vec(shape, v.clone()).map(|a| a.write_npy(&mut buf)),
        Data::F32(v) => ArrayD::from_shape_vec(shape, v.clone()).map(|a| a.write_npy(&mut buf)),
    };
    res.map_err(|e| e.to_string())?.map_err(|e| e.to_string())?;
    Ok(buf)
}

/// Writes a tensor to a `.npy` file atomically.
pub fn write_tensor(path: &Path, t: &Tensor) -> Result<(), String> {
    write_atomic(path, &to_npy_bytes(t)?).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_spikes() {
        let t = Tensor::spikes(vec![2, 3], vec![0, 1, 1, 0, 0, 1]);
        let bytes = to_npy_bytes(&t).unwrap();
        let a = parse_npy(&bytes).unwrap();
        assert_eq!(a.dtype(), "uint8");
        assert_eq!(to_tensor(&a, ElemType::I1).unwrap(), t);
    }

    #[test]
    fn rejects_non_binary_spikes_and_garbage() {
        let t = Tensor::new(vec![2], Data::I32(vec![0, 2]));
        let a = parse_npy(&to_npy_bytes(&t).unwrap()).unwrap();
        assert!(to_tensor(&a, ElemType::I1).unwrap_err().contains("must be 0 or 1"));
        assert!(parse_npy(b"hello").is_err());
        let mut bytes = to_npy_bytes(&t).unwrap();
        bytes.truncate(bytes.len() - 3);
        assert!(parse_npy(&bytes).is_err());
    }

    #[test]
    fn atomic_write() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("y.npy");
        write_tensor(&p, &Tensor::spikes(vec![1], vec![1])).unwrap();
        assert_eq!(to_tensor(&read_npy(&p).unwrap(), ElemType::I1).unwrap().data, Data::Spikes(vec![1]));
    }
}
