//! [`Embedding`]: token ids to learned vectors.

use ndarray::{Array2, Array3, ArrayView2, ArrayView3};
use rand::Rng;

use crate::core::error::{Error, Result};
use crate::core::init::Init;
use crate::kernels::float::Float;

/// A table `E: [V, D]` mapping token `k` to row `E[k]`; initialized uniform on
/// `[-1/sqrt(D), 1/sqrt(D)]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Embedding<F> {
    pub(crate) weight: Array2<F>,
}

impl<F: Float> Embedding<F> {
    /// A table for `vocab` tokens of `dim` features.
    pub fn new(vocab: usize, dim: usize, rng: &mut dyn Rng) -> Self {
        let weight = Init::Default.sample::<F>(&[vocab, dim], rng);
        Embedding {
            weight: weight.into_dimensionality().expect("2-D"),
        }
    }

    /// A table with the given rows `E: [V, D]`.
    pub fn from_weight(weight: Array2<F>) -> Self {
        Embedding {
            weight: weight.as_standard_layout().into_owned(),
        }
    }

    /// `E: [V, D]`.
    pub fn weight(&self) -> &Array2<F> {
        &self.weight
    }

    /// Vocabulary size `V`.
    pub fn vocab(&self) -> usize {
        self.weight.nrows()
    }

    /// Vector size `D`.
    pub fn dim(&self) -> usize {
        self.weight.ncols()
    }

    /// Looks up `tokens: [T, B]`, giving `[T, B, D]`; an id at or past `V` is an error.
    pub fn forward(&self, tokens: ArrayView2<'_, usize>) -> Result<Array3<F>> {
        let (t, b) = tokens.dim();
        let d = self.dim();
        let mut x = Array3::zeros((t, b, d));
        for ((i, j), &id) in tokens.indexed_iter() {
            if id >= self.vocab() {
                return Err(Error::Invalid(format!(
                    "token at step {i} of example {j}: expected an id below V = {}, found {id}",
                    self.vocab()
                )));
            }
            x.slice_mut(ndarray::s![i, j, ..])
                .assign(&self.weight.row(id));
        }
        Ok(x)
    }

    /// The gradient of the table from `dx: [T, B, D]`, the gradient of the looked-up vectors:
    /// row `k` sums `dx[t, b]` over every `(t, b)` where `tokens[t, b] = k`.
    pub fn backward(
        &self,
        tokens: ArrayView2<'_, usize>,
        dx: ArrayView3<'_, F>,
    ) -> Result<Array2<F>> {
        let (t, b) = tokens.dim();
        if dx.dim() != (t, b, self.dim()) {
            return Err(Error::shape(
                "embedding output gradient",
                format!("[T={t}, B={b}, D={}]", self.dim()),
                dx.shape(),
            ));
        }
        let mut grad = Array2::zeros(self.weight.raw_dim());
        for ((i, j), &id) in tokens.indexed_iter() {
            if id >= self.vocab() {
                return Err(Error::Invalid(format!(
                    "token at step {i} of example {j}: expected an id below V = {}, found {id}",
                    self.vocab()
                )));
            }
            let mut row = grad.row_mut(id);
            row += &dx.slice(ndarray::s![i, j, ..]);
        }
        Ok(grad)
    }
}
