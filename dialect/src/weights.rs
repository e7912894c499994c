//! The out-of-line weight store.
//!
//! Large constant tensors (weights, biases, later PWP tables and patterns) do not live inside op
//! attributes: ops hold a [`WeightId`] into the module's [`WeightStore`], and the text form prints
//! a reference `dense_resource<name> : tensor<…>` plus, at the end of the file, MLIR's
//! `dialect_resources` blob section (`"0x" + 4-byte little-endian alignment + little-endian
//! data`, all hex). The blob section may be elided for reading (`dense_resource<__elided__>`);
//! an elided weight parses back as [`WeightData::Elided`] and cannot be executed.

use std::collections::HashMap;

use crate::attr::sanitize_ident;
use crate::types::{ElemType, TensorType};

/// Index of a weight in a [`WeightStore`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WeightId(pub u32);

/// The elements of a stored tensor.
#[derive(Clone, Debug, PartialEq)]
pub enum WeightData {
    /// `i1`, one byte (0 or 1) per element.
    I1(Vec<u8>),
    /// `i8`.
    I8(Vec<i8>),
    /// `i16`.
    I16(Vec<i16>),
    /// `i32`.
    I32(Vec<i32>),
    /// `f32`.
    F32(Vec<f32>),
    /// The data was elided from the text this module was read from.
    Elided,
}

impl WeightData {
    /// Number of elements (0 when elided).
    pub fn len(&self) -> usize {
        match self {
            WeightData::I1(v) => v.len(),
            WeightData::I8(v) => v.len(),
            WeightData::I16(v) => v.len(),
            WeightData::I32(v) => v.len(),
            WeightData::F32(v) => v.len(),
            WeightData::Elided => 0,
        }
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The element type, or `None` when elided.
    pub fn elem(&self) -> Option<ElemType> {
        match self {
            WeightData::I1(_) => Some(ElemType::I1),
            WeightData::I8(_) => Some(ElemType::I8),
            WeightData::I16(_) => Some(ElemType::I16),
            WeightData::I32(_) => Some(ElemType::I32),
            WeightData::F32(_) => Some(ElemType::F32),
            WeightData::Elided => None,
        }
    }

    /// Little-endian bytes.
    pub fn to_le_bytes(&self) -> Vec<u8> {
        match self {
            WeightData::I1(v) => v.clone(),
            WeightData::I8(v) => v.iter().map(|&x| x as u8).collect(),
            WeightData::I16(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            WeightData::I32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            WeightData::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            WeightData::Elided => Vec::new(),
        }
    }

    /// Decodes little-endian bytes of `elem`; fails when the length is not a multiple of the
    /// element width or an `i1` byte is not 0/1.
    pub fn from_le_bytes(elem: ElemType, bytes: &[u8]) -> Result<WeightData, String> {
        let w = elem.byte_width();
        if !bytes.len().is_multiple_of(w) {
            return Err(format!("{} bytes is not a whole number of {elem} elements", bytes.len()));
        }
        Ok(match elem {
            ElemType::I1 => {
                if let Some(b) = bytes.iter().find(|&&b| b > 1) {
                    return Err(format!("i1 element with byte value {b}"));
                }
                WeightData::I1(bytes.to_vec())
            }
            ElemType::I8 => WeightData::I8(bytes.iter().map(|&b| b as i8).collect()),
            ElemType::I16 => WeightData::I16(bytes.chunks_exact(2).map(|c| i16::from_le_bytes([c[0], c[1]])).collect()),
            ElemType::I32 => {
                WeightData::I32(bytes.chunks_exact(4).map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
            }
            ElemType::F32 => {
                WeightData::F32(bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
            }
        })
    }
}

/// A named, typed constant tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct Weight {
    /// Unique resource name (a valid MLIR bare identifier).
    pub name: String,
    /// Declared type.
    pub ty: TensorType,
    /// The elements.
    pub data: WeightData,
}

impl Weight {
    /// The f32 elements, if this is a present f32 weight.
    pub fn as_f32(&self) -> Option<&[f32]> {
        match &self.data {
            WeightData::F32(v) => Some(v),
            WeightData::I1(_) | WeightData::I8(_) | WeightData::I16(_) | WeightData::I32(_) | WeightData::Elided => {
                None
            }
        }
    }

    /// The i8 elements, if this is a present i8 weight.
    pub fn as_i8(&self) -> Option<&[i8]> {
        match &self.data {
            WeightData::I8(v) => Some(v),
            WeightData::I1(_) | WeightData::F32(_) | WeightData::I16(_) | WeightData::I32(_) | WeightData::Elided => {
                None
            }
        }
    }

    /// The i32 elements, if this is a present i32 weight.
    pub fn as_i32(&self) -> Option<&[i32]> {
        match &self.data {
            WeightData::I32(v) => Some(v),
            WeightData::I1(_) | WeightData::F32(_) | WeightData::I16(_) | WeightData::I8(_) | WeightData::Elided => {
                None
            }
        }
    }

    /// Checks that the data matches the declared type.
    pub fn check(&self) -> Result<(), String> {
        match self.data.elem() {
            None => Ok(()),
            Some(e) if e != self.ty.elem => {
                Err(format!("weight `{}` holds {e} data but is declared {}", self.name, self.ty))
            }
            Some(_) => {
                let want =
                    self.ty.checked_num_elements().ok_or_else(|| format!("weight `{}` is too large", self.name))?;
                if want != self.data.len() {
                    Err(format!("weight `{}` holds {} elements but {} has {want}", self.name, self.data.len(), self.ty))
                } else {
                    Ok(())
                }
            }
        }
    }
}

/// The weights of a module, addressed by id and by unique name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WeightStore {
    weights: Vec<Weight>,
    by_name: HashMap<String, WeightId>,
}

impl WeightStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a weight under a name derived from `name` (sanitised, made unique with a `_N`
    /// suffix) and returns its id.
    pub fn add(&mut self, name: &str, ty: TensorType, data: WeightData) -> WeightId {
        let base = sanitize_ident(name);
        let mut unique = base.clone();
        let mut n = 1;
        while self.by_name.contains_key(&unique) {
            unique = format!("{base}_{n}");
            n += 1;
        }
        let id = WeightId(self.weights.len() as u32);
        self.by_name.insert(unique.clone(), id);
        self.weights.push(Weight { name: unique, ty, data });
        id
    }

    /// The weight behind an id.
    pub fn get(&self, id: WeightId) -> &Weight {
        &self.weights[id.0 as usize]
    }

    /// Mutable access to a weight's data (the name and type stay).
    pub fn set_data(&mut self, id: WeightId, ty: TensorType, data: WeightData) {
        let w = &mut self.weights[id.0 as usize];
        w.ty = ty;
        w.data = data;
    }

    /// Looks a weight up by its resource name.
    pub fn find(&self, name: &str) -> Option<WeightId> {
        self.by_name.get(name).copied()
    }

    /// Whether an id is in range.
    pub fn contains(&self, id: WeightId) -> bool {
        (id.0 as usize) < self.weights.len()
    }

    /// All weights with their ids.
    pub fn iter(&self) -> impl Iterator<Item = (WeightId, &Weight)> {
        self.weights.iter().enumerate().map(|(i, w)| (WeightId(i as u32), w))
    }

    /// Number of weights.
    pub fn len(&self) -> usize {
        self.weights.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.weights.is_empty()
    }
}

/// Encodes data as an MLIR resource blob string body: `0x` + alignment (u32 LE) + data, in hex.
pub fn encode_blob(data: &WeightData, elem: ElemType) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let bytes = data.to_le_bytes();
    let mut s = String::with_capacity(10 + 2 * bytes.len());
    s.push_str("0x");
    for b in (elem.byte_width() as u32).to_le_bytes().iter().chain(bytes.iter()) {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

/// Decodes an MLIR resource blob string (`0x` + alignment + data) into data of `elem`.
pub fn decode_blob(text: &str, elem: ElemType) -> Result<WeightData, String> {
    let hex = text.strip_prefix("0x").ok_or("a resource blob starts with `0x`")?;
    if hex.len() % 2 != 0 {
        return Err("a resource blob has an even number of hex digits".into());
    }
    let digit = |c: u8| -> Result<u8, String> {
        (c as char).to_digit(16).map(|d| d as u8).ok_or_else(|| format!("`{}` is not a hex digit", c as char))
    };
    let bytes: Vec<u8> =
        hex.as_bytes().chunks_exact(2).map(|p| Ok(digit(p[0])? << 4 | digit(p[1])?)).collect::<Result<_, String>>()?;
    if bytes.len() < 4 {
        return Err("a resource blob starts with a 4-byte alignment".into());
    }
    let align = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    // MLIR prints an empty blob with alignment 0
    if !(align.is_power_of_two() || (align == 0 && bytes.len() == 4)) {
        return Err(format!("blob alignment {align} is not a power of two"));
    }
    WeightData::from_le_bytes(elem, &bytes[4..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_round_trip() {
        let d = WeightData::F32(vec![1.0, -2.5, 0.1]);
        let s = encode_blob(&d, ElemType::F32);
        assert!(s.starts_with("0x04000000"));
        assert_eq!(decode_blob(&s, ElemType::F32).unwrap(), d);
        let d = WeightData::I8(vec![-128, 0, 127]);
        assert_eq!(decode_blob(&encode_blob(&d, ElemType::I8), ElemType::I8).unwrap(), d);
    }

    #[test]
    fn blob_errors() {
        assert!(decode_blob("04000000", ElemType::F32).is_err());
        assert!(decode_blob("0x0400000", ElemType::F32).is_err());
        assert!(decode_blob("0x04000000ZZ", ElemType::I8).is_err());
        assert!(decode_blob("0x0400000000", ElemType::F32).is_err());
        assert!(decode_blob("0x01000000", ElemType::I1).unwrap().is_empty());
        assert!(decode_blob("0x0100000002", ElemType::I1).is_err());
    }

    #[test]
    fn unique_names() {
        let mut s = WeightStore::new();
        let t = TensorType::new(vec![1], ElemType::F32);
        let a = s.add("w", t.clone(), WeightData::F32(vec![0.0]));
        let b = s.add("w", t.clone(), WeightData::F32(vec![0.0]));
        assert_eq!(s.get(a).name, "w");
        assert_eq!(s.get(b).name, "w_1");
        assert_eq!(s.find("w_1"), Some(b));
    }
}
