use std::fmt::{Debug, Display};
use std::iter::Sum;
use std::ops::{AddAssign, DivAssign, MulAssign, SubAssign};

use ndarray::{LinalgScalar, ScalarOperand};

/// The float types a cell computes in: `f32` and `f64`.
pub trait Float:
    num_traits::Float
    + LinalgScalar
    + ScalarOperand
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
    + Sum
    + Debug
    + Display
    + Default
    + Send
    + Sync
    + 'static
{
    /// Converts from `f64` (rounding for `f32`).
    fn from_f64(v: f64) -> Self;
    /// Converts to `f64`.
    fn to_f64(self) -> f64;
    /// `e^x` as the activations compute it: exact for f64, the vectorizable approximation of
    /// `fastmath` for f32.
    fn act_exp(self) -> Self;
    /// `1 / (1 + e^-x)`, as [`Float::act_exp`].
    fn act_sigmoid(self) -> Self;
    /// `tanh(x)`, as [`Float::act_exp`].
    fn act_tanh(self) -> Self;
}

impl Float for f32 {
    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn act_exp(self) -> Self {
        crate::kernels::fastmath::exp(self)
    }
    #[inline(always)]
    fn act_sigmoid(self) -> Self {
        crate::kernels::fastmath::sigmoid(self)
    }
    #[inline(always)]
    fn act_tanh(self) -> Self {
        crate::kernels::fastmath::tanh(self)
    }
}

impl Float for f64 {
    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        v
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline(always)]
    fn act_exp(self) -> Self {
        self.exp()
    }
    #[inline(always)]
    fn act_sigmoid(self) -> Self {
        if self >= 0.0 {
            1.0 / (1.0 + (-self).exp())
        } else {
            let e = self.exp();
            e / (1.0 + e)
        }
    }
    #[inline(always)]
    fn act_tanh(self) -> Self {
        self.tanh()
    }
}
