//! [`Linear`]: the output head `y = x W + b` applied at every row (step and example).

use ndarray::{Array1, Array2, ArrayView2, Axis};
use rand::Rng;

use crate::core::error::{Error, Result};
use crate::core::init::Init;
use crate::kernels::float::Float;

/// A fully connected layer `y = x W + b`, with `W: [I, O]` (the `[in, out]` layout of every
/// parameter here) and `b: [O]`; initialized as `torch.nn.Linear` (uniform on
/// `[-1/sqrt(I), 1/sqrt(I)]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Linear<F> {
    pub(crate) weight: Array2<F>,
    pub(crate) bias: Array1<F>,
}

/// The gradients of a [`Linear`] layer.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearGrads<F> {
    /// `dL/dW: [I, O]`.
    pub weight: Array2<F>,
    /// `dL/db: [O]`.
    pub bias: Array1<F>,
}

impl<F: Float> Linear<F> {
    /// A layer from `inputs` to `outputs` features with random weights.
    pub fn new(inputs: usize, outputs: usize, rng: &mut dyn Rng) -> Self {
        let a = 1.0 / (inputs.max(1) as f64).sqrt();
        let weight = Init::Uniform(a).sample::<F>(&[inputs, outputs], rng);
        let bias = Init::Uniform(a).sample::<F>(&[outputs], rng);
        Linear {
            weight: weight.into_dimensionality().expect("2-D"),
            bias: bias.into_dimensionality().expect("1-D"),
        }
    }

    /// A layer with the given `W: [I, O]` and `b: [O]`.
    pub fn from_parts(weight: Array2<F>, bias: Array1<F>) -> Result<Self> {
        if bias.len() != weight.ncols() {
            return Err(Error::shape(
                "linear layer bias",
                format!("[O={}] (the weight's columns)", weight.ncols()),
                bias.shape(),
            ));
        }
        Ok(Linear {
            weight: weight.as_standard_layout().into_owned(),
            bias: bias.as_standard_layout().into_owned(),
        })
    }

    /// `W: [I, O]`.
    pub fn weight(&self) -> &Array2<F> {
        &self.weight
    }

    /// `b: [O]`.
    pub fn bias(&self) -> &Array1<F> {
        &self.bias
    }

    /// Input size `I`.
    pub fn inputs(&self) -> usize {
        self.weight.nrows()
    }

    /// Output size `O`.
    pub fn outputs(&self) -> usize {
        self.weight.ncols()
    }

    /// `y = x W + b` for `x: [N, I]`, giving `[N, O]`.
    pub fn forward(&self, x: ArrayView2<'_, F>) -> Result<Array2<F>> {
        if x.ncols() != self.inputs() {
            return Err(Error::shape(
                "linear layer input",
                format!("[N, I={}]", self.inputs()),
                x.shape(),
            ));
        }
        Ok(standard(x.dot(&self.weight) + &self.bias))
    }

    /// Back-propagates `dy: [N, O]` through `y = x W + b`: returns `dL/dx = dy W^T` and the
    /// parameter gradients `dL/dW = x^T dy`, `dL/db = sum_rows dy`.
    pub fn backward(
        &self,
        x: ArrayView2<'_, F>,
        dy: ArrayView2<'_, F>,
    ) -> Result<(Array2<F>, LinearGrads<F>)> {
        if dy.dim() != (x.nrows(), self.outputs()) {
            return Err(Error::shape(
                "linear layer output gradient",
                format!("[N={}, O={}]", x.nrows(), self.outputs()),
                dy.shape(),
            ));
        }
        let dx = standard(dy.dot(&self.weight.t()));
        let grads = LinearGrads {
            weight: standard(x.t().dot(&dy)),
            bias: dy.sum_axis(Axis(0)),
        };
        Ok((dx, grads))
    }
}

/// `a` in standard (row-major) layout: ndarray's products may return column-major arrays
/// (e.g. for `[N, 1] x [1, H]`), which cannot be reshaped without a copy.
fn standard<F: Float>(a: Array2<F>) -> Array2<F> {
    if a.is_standard_layout() {
        a
    } else {
        a.as_standard_layout().into_owned()
    }
}
