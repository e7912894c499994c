//! Runtime tensors: batched values `[N, T, …]` (or constants without the batch dimension).

use phi_dialect::ElemType;

/// Elements of a runtime tensor.
#[derive(Clone, Debug, PartialEq)]
pub enum Data {
    /// Spikes / booleans, one byte each (0 or 1).
    Spikes(Vec<u8>),
    /// 32-bit integers.
    I32(Vec<i32>),
    /// 32-bit floats.
    F32(Vec<f32>),
}

impl Data {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            Data::Spikes(v) => v.len(),
            Data::I32(v) => v.len(),
            Data::F32(v) => v.len(),
        }
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The IR element type this data carries.
    pub fn elem(&self) -> ElemType {
        match self {
            Data::Spikes(_) => ElemType::I1,
            Data::I32(_) => ElemType::I32,
            Data::F32(_) => ElemType::F32,
        }
    }

    /// Element `i` as f32.
    pub fn get_f32(&self, i: usize) -> f32 {
        match self {
            Data::Spikes(v) => v[i] as f32,
            Data::I32(v) => v[i] as f32,
            Data::F32(v) => v[i],
        }
    }

    /// Converts to f32 elements.
    pub fn to_f32(&self) -> Vec<f32> {
        match self {
            Data::Spikes(v) => v.iter().map(|&x| x as f32).collect(),
            Data::I32(v) => v.iter().map(|&x| x as f32).collect(),
            Data::F32(v) => v.clone(),
        }
    }
}

/// A shaped runtime tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    /// Dimensions; for activations `[N, T, …]`.
    pub shape: Vec<usize>,
    /// Row-major elements.
    pub data: Data,
}

impl Tensor {
    /// A tensor (the caller guarantees `data.len()` = product of `shape`).
    pub fn new(shape: Vec<usize>, data: Data) -> Self {
        debug_assert_eq!(shape.iter().product::<usize>(), data.len());
        Tensor { shape, data }
    }

    /// Spikes as a tensor.
    pub fn spikes(shape: Vec<usize>, v: Vec<u8>) -> Self {
        Tensor::new(shape, Data::Spikes(v))
    }

    /// Samples `a..b` along the leading (batch) dimension.
    pub fn samples(&self, a: usize, b: usize) -> Tensor {
        let per: usize = self.shape[1..].iter().product();
        let (x, y) = (a * per, b * per);
        let data = match &self.data {
            Data::Spikes(v) => Data::Spikes(v[x..y].to_vec()),
            Data::I32(v) => Data::I32(v[x..y].to_vec()),
            Data::F32(v) => Data::F32(v[x..y].to_vec()),
        };
        let mut shape = self.shape.clone();
        shape[0] = b - a;
        Tensor::new(shape, data)
    }

    /// Appends the samples of `more` (same shape but the leading dimension, same type).
    pub fn append_samples(&mut self, more: Tensor) {
        self.shape[0] += more.shape[0];
        match (&mut self.data, more.data) {
            (Data::Spikes(a), Data::Spikes(b)) => a.extend(b),
            (Data::I32(a), Data::I32(b)) => a.extend(b),
            (Data::F32(a), Data::F32(b)) => a.extend(b),
            (Data::Spikes(_) | Data::I32(_) | Data::F32(_), _) => panic!("append_samples: element types differ"),
        }
    }

    /// The spike bytes, if this holds spikes.
    pub fn as_spikes(&self) -> Option<&[u8]> {
        match &self.data {
            Data::Spikes(v) => Some(v),
            Data::I32(_) | Data::F32(_) => None,
        }
    }
}
