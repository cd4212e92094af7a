//! Named tensors: the parameters (or gradients) of a whole model, and the [`Parameters`] trait
//! through which optimizers and gradient clipping see a cell's [`ParamSet`] and a model alike.

use ndarray::{ArrayD, ArrayViewD, Dimension, IxDyn};

use crate::core::error::{Error, Result};
use crate::core::params::ParamSet;
use crate::kernels::float::Float;

/// Anything that holds named tensors in a fixed order: a cell's [`ParamSet`], the parameters of
/// a model, or their gradients. Optimizers pair a parameter with its gradient by position and
/// check that names and sizes agree.
pub trait Parameters<F: Float> {
    /// Every tensor as `(name, row-major values)`, in a fixed order.
    fn tensors(&self) -> Vec<(String, &[F])>;
    /// Every tensor mutably, in the same order as [`Parameters::tensors`].
    fn tensors_mut(&mut self) -> Vec<(String, &mut [F])>;

    /// Euclidean norm over every entry of every tensor (`inf` or `NaN` if an entry is).
    #[must_use]
    fn global_norm(&self) -> F {
        self.tensors()
            .iter()
            .map(|(_, v)| v.iter().map(|&x| x * x).sum::<F>())
            .sum::<F>()
            .sqrt()
    }

    /// Multiplies every entry by `alpha`.
    fn scale_all(&mut self, alpha: F) {
        for (_, v) in self.tensors_mut() {
            v.iter_mut().for_each(|x| *x *= alpha);
        }
    }

    /// Number of scalars over all tensors.
    fn scalar_count(&self) -> usize {
        self.tensors().iter().map(|(_, v)| v.len()).sum()
    }
}

/// An ordered list of named tensors (each in standard row-major layout): the gradients of a
/// model, in the order of the model's parameters, or anything read from a checkpoint.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NamedTensors<F> {
    /// `(name, value)` pairs, in order.
    pub tensors: Vec<(String, ArrayD<F>)>,
}

impl<F: Float> NamedTensors<F> {
    /// An empty list.
    pub fn new() -> Self {
        NamedTensors {
            tensors: Vec::new(),
        }
    }

    /// Appends `value` under `name` (copied into standard layout).
    pub fn push(&mut self, name: impl Into<String>, value: ArrayViewD<'_, F>) {
        let standard = value.as_standard_layout().into_owned();
        self.tensors.push((name.into(), standard));
    }

    /// Appends every tensor of `set`, each name prefixed by `prefix`.
    pub fn extend_prefixed(&mut self, prefix: &str, set: &ParamSet<F>) {
        for (name, value) in set.iter() {
            self.push(format!("{prefix}{name}"), value);
        }
    }

    /// The tensor called `name`.
    pub fn get(&self, name: &str) -> Result<ArrayViewD<'_, F>> {
        self.tensors
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.view())
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "no tensor named `{name}`; the tensors are: {}",
                    self.names().join(", ")
                ))
            })
    }

    /// The names, in order.
    pub fn names(&self) -> Vec<&str> {
        self.tensors.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// Number of tensors.
    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    /// Whether there are no tensors.
    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    /// Zeros with the same names and shapes.
    #[must_use]
    pub fn zeros_like(&self) -> Self {
        NamedTensors {
            tensors: self
                .tensors
                .iter()
                .map(|(n, v)| (n.clone(), ArrayD::zeros(IxDyn(v.shape()))))
                .collect(),
        }
    }

    /// `self += other`, tensor by tensor (same names and shapes required).
    pub fn accumulate(&mut self, other: &NamedTensors<F>) -> Result<()> {
        check_same_layout(self, other)?;
        for ((_, a), (_, b)) in self.tensors.iter_mut().zip(&other.tensors) {
            *a += b;
        }
        Ok(())
    }
}

impl<F: Float> Parameters<F> for NamedTensors<F> {
    fn tensors(&self) -> Vec<(String, &[F])> {
        self.tensors
            .iter()
            .map(|(n, v)| (n.clone(), v.as_slice().expect("stored in standard layout")))
            .collect()
    }

    fn tensors_mut(&mut self) -> Vec<(String, &mut [F])> {
        self.tensors
            .iter_mut()
            .map(|(n, v)| {
                let slice = v.as_slice_mut().expect("stored in standard layout");
                (n.clone(), slice)
            })
            .collect()
    }
}

/// The first non-finite entry of `values` (`NaN` or infinite): its flat index and value.
pub(crate) fn first_non_finite<F: Float>(values: &[F]) -> Option<(usize, F)> {
    if values.iter().all(|v| v.is_finite()) {
        return None;
    }
    values
        .iter()
        .copied()
        .enumerate()
        .find(|(_, v)| !v.is_finite())
}

/// Rejects a tensor with a `NaN` or infinite entry: the error says `{what} `{name}``, the
/// entry's position (as a multi-index `[i, j, ...]`) and its value.
pub(crate) fn check_finite_array<F: Float>(
    what: &str,
    name: &str,
    value: ArrayViewD<'_, F>,
) -> Result<()> {
    if value.iter().all(|v| v.is_finite()) {
        return Ok(());
    }
    let (idx, v) = value
        .indexed_iter()
        .find(|(_, v)| !v.is_finite())
        .expect("a non-finite entry exists");
    Err(Error::Invalid(format!(
        "{what} `{name}`: expected finite values, found {v} at {:?}",
        idx.slice()
    )))
}

/// Rejects named tensors with a `NaN` or infinite entry, naming the tensor, the entry's flat
/// index and its value.
pub(crate) fn check_finite_tensors<F: Float>(what: &str, p: &dyn Parameters<F>) -> Result<()> {
    for (name, values) in p.tensors() {
        if let Some((k, v)) = first_non_finite(values) {
            return Err(Error::Invalid(format!(
                "{what} `{name}`: expected finite values, found {v} at flat index {k} (of {})",
                values.len()
            )));
        }
    }
    Ok(())
}

/// Checks that `a` and `b` hold the same names with the same sizes, in the same order.
pub(crate) fn check_same_layout<F: Float>(
    a: &dyn Parameters<F>,
    b: &dyn Parameters<F>,
) -> Result<()> {
    let left: Vec<(String, usize)> = a.tensors().into_iter().map(|(n, v)| (n, v.len())).collect();
    let right: Vec<(String, usize)> = b.tensors().into_iter().map(|(n, v)| (n, v.len())).collect();
    if left.len() != right.len() {
        return Err(Error::Invalid(format!(
            "parameters and gradients differ: expected {} tensors, found {}",
            left.len(),
            right.len()
        )));
    }
    for ((ln, ls), (rn, rs)) in left.iter().zip(&right) {
        if ln != rn || ls != rs {
            return Err(Error::Invalid(format!(
                "parameters and gradients differ: expected `{ln}` with {ls} entries, found `{rn}` with {rs}"
            )));
        }
    }
    Ok(())
}
