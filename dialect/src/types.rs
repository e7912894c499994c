//! Types of IR values: statically shaped tensors of spikes, integers or floats.
//!
//! Every value of the IR is a ranked tensor with a static shape. In the `snn` dialect, the
//! leading dimension of every activation tensor is the time dimension `T` (the batch dimension
//! `N` is implicit: the IR describes one sample, the interpreter runs many). Element types:
//!
//! | IR      | meaning                          | printed |
//! |---------|----------------------------------|---------|
//! | `I1`    | a spike / boolean                | `i1`    |
//! | `I8`    | quantised weight                 | `i8`    |
//! | `I16`   | narrow integer                   | `i16`   |
//! | `I32`   | integer current / membrane       | `i32`   |
//! | `F32`   | float current / membrane         | `f32`   |
//!
//! The printed form is MLIR's builtin tensor type, e.g. `tensor<8x64xi1>`.

use std::fmt;

/// The element type of a tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ElemType {
    /// One bit: a spike or a boolean.
    I1,
    /// Signed 8-bit integer.
    I8,
    /// Signed 16-bit integer.
    I16,
    /// Signed 32-bit integer.
    I32,
    /// IEEE-754 binary32.
    F32,
}

impl ElemType {
    /// All element types, in printing order.
    pub const ALL: [ElemType; 5] = [ElemType::I1, ElemType::I8, ElemType::I16, ElemType::I32, ElemType::F32];

    /// The MLIR spelling.
    pub fn name(self) -> &'static str {
        match self {
            ElemType::I1 => "i1",
            ElemType::I8 => "i8",
            ElemType::I16 => "i16",
            ElemType::I32 => "i32",
            ElemType::F32 => "f32",
        }
    }

    /// Parses the MLIR spelling.
    pub fn from_name(s: &str) -> Option<ElemType> {
        ElemType::ALL.into_iter().find(|e| e.name() == s)
    }

    /// True for the integer types (including `i1`).
    pub fn is_int(self) -> bool {
        match self {
            ElemType::I1 | ElemType::I8 | ElemType::I16 | ElemType::I32 => true,
            ElemType::F32 => false,
        }
    }

    /// Bytes per element in the weight store (i1 takes a byte).
    pub fn byte_width(self) -> usize {
        match self {
            ElemType::I1 | ElemType::I8 => 1,
            ElemType::I16 => 2,
            ElemType::I32 | ElemType::F32 => 4,
        }
    }
}

impl fmt::Display for ElemType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Largest number of elements a tensor type may describe (2^40): keeps every size computation
/// in range and refuses absurd shapes from untrusted text before anything is allocated.
pub const MAX_ELEMENTS: u64 = 1 << 40;

/// Largest rank accepted.
pub const MAX_RANK: usize = 8;

/// A ranked tensor type with a static shape.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TensorType {
    /// The dimensions, outermost first.
    pub shape: Vec<usize>,
    /// The element type.
    pub elem: ElemType,
}

impl TensorType {
    /// A tensor type.
    pub fn new(shape: impl Into<Vec<usize>>, elem: ElemType) -> Self {
        TensorType { shape: shape.into(), elem }
    }

    /// Number of elements (product of the dims; 1 for rank 0).
    pub fn num_elements(&self) -> usize {
        self.shape.iter().product()
    }

    /// Number of elements, or `None` if it exceeds [`MAX_ELEMENTS`] (for untrusted shapes).
    pub fn checked_num_elements(&self) -> Option<usize> {
        let mut n: u64 = 1;
        for &d in &self.shape {
            n = n.checked_mul(d as u64)?;
            if n > MAX_ELEMENTS {
                return None;
            }
        }
        usize::try_from(n).ok()
    }

    /// The rank.
    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    /// The same shape with another element type.
    pub fn with_elem(&self, elem: ElemType) -> Self {
        TensorType { shape: self.shape.clone(), elem }
    }

    /// The shape without its leading (time) dimension.
    pub fn per_step(&self) -> &[usize] {
        self.shape.get(1..).unwrap_or(&[])
    }

    /// Number of elements per time step.
    pub fn per_step_elements(&self) -> usize {
        self.per_step().iter().product()
    }
}

impl fmt::Display for TensorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tensor<")?;
        for d in &self.shape {
            write!(f, "{d}x")?;
        }
        write!(f, "{}>", self.elem)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display() {
        assert_eq!(TensorType::new(vec![8, 64], ElemType::I1).to_string(), "tensor<8x64xi1>");
        assert_eq!(TensorType::new(vec![], ElemType::I32).to_string(), "tensor<i32>");
    }

    #[test]
    fn checked_elements() {
        assert_eq!(TensorType::new(vec![2, 3], ElemType::F32).checked_num_elements(), Some(6));
        assert_eq!(TensorType::new(vec![1 << 30, 1 << 30], ElemType::F32).checked_num_elements(), None);
        assert_eq!(TensorType::new(vec![usize::MAX, 2], ElemType::F32).checked_num_elements(), None);
    }
}
