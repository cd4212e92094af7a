use std::fmt::{Debug, Display};
use std::iter::Sum;
use std::ops::{AddAssign, DivAssign, MulAssign, SubAssign};

use ndarray::{LinalgScalar, ScalarOperand};
use std::f64::consts::FRAC_1_SQRT_2;

use crate::kernels::fastmath::{GELU_TANH_A, GELU_TANH_B};

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
    /// `e^x - 1`, accurate near 0: `f64::exp_m1` for f64, `fastmath::expm1` for f32.
    fn act_expm1(self) -> Self;
    /// `ln(1 + e^x)` as `max(x, 0) + ln(1 + e^-|x|)`: with `f64::exp` and `f64::ln_1p` for f64,
    /// `fastmath::softplus` for f32.
    fn act_softplus(self) -> Self;
    /// `x/2 erfc(-x / sqrt 2)` (GELU): with libm's `erfc` for f64, `fastmath::gelu` for f32.
    fn act_gelu(self) -> Self;
    /// `erfc(-x / sqrt 2) / 2 + x e^(-x^2/2) / sqrt(2 pi)`, the derivative of
    /// [`Float::act_gelu`], as that function.
    fn act_gelu_grad(self) -> Self;
    /// `x sigmoid(2 sqrt(2/pi) (x + 0.044715 x^3))` (GELU, tanh approximation): exact for f64,
    /// `fastmath::gelu_tanh` for f32.
    fn act_gelu_tanh(self) -> Self;
    /// The derivative of [`Float::act_gelu_tanh`], as that function.
    fn act_gelu_tanh_grad(self) -> Self;
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
    #[inline(always)]
    fn act_expm1(self) -> Self {
        crate::kernels::fastmath::expm1(self)
    }
    #[inline(always)]
    fn act_softplus(self) -> Self {
        crate::kernels::fastmath::softplus(self)
    }
    #[inline(always)]
    fn act_gelu(self) -> Self {
        crate::kernels::fastmath::gelu(self)
    }
    #[inline(always)]
    fn act_gelu_grad(self) -> Self {
        crate::kernels::fastmath::gelu_grad(self)
    }
    #[inline(always)]
    fn act_gelu_tanh(self) -> Self {
        crate::kernels::fastmath::gelu_tanh(self)
    }
    #[inline(always)]
    fn act_gelu_tanh_grad(self) -> Self {
        crate::kernels::fastmath::gelu_tanh_grad(self)
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
    #[inline(always)]
    fn act_expm1(self) -> Self {
        self.exp_m1()
    }
    #[inline(always)]
    fn act_softplus(self) -> Self {
        // A select, not `max`: NaN must not become 0 (it stays NaN through the second term
        // anyway).
        let m = if self > 0.0 { self } else { 0.0 };
        m + (-self.abs()).exp().ln_1p()
    }
    #[inline(always)]
    fn act_gelu(self) -> Self {
        // Below -40 the exact result is below 1e-340, 0 in f64; the bound keeps -inf out of
        // `-inf * 0`.
        let x = if self < -40.0 { -40.0 } else { self };
        0.5 * x * libm::erfc(-x * FRAC_1_SQRT_2)
    }
    #[inline(always)]
    fn act_gelu_grad(self) -> Self {
        // Beyond ±40 the derivative is 1 or 0 in f64; the clamp keeps `inf * 0` out.
        let x = self.clamp(-40.0, 40.0);
        0.5 * libm::erfc(-x * FRAC_1_SQRT_2) + x * (-0.5 * (x * x)).exp() * FRAC_1_SQRT_2PI
    }
    #[inline(always)]
    fn act_gelu_tanh(self) -> Self {
        // Below -1e4 the result is -0; the bound keeps -inf out of `-inf * 0`.
        let x = if self < -1e4 { -1e4 } else { self };
        x * (x * (GELU_TANH_A + GELU_TANH_B * (x * x))).act_sigmoid()
    }
    #[inline(always)]
    fn act_gelu_tanh_grad(self) -> Self {
        // Beyond ±1e4 the derivative is 1 or 0 in f64; the clamp keeps `inf * 0` out.
        let x = self.clamp(-1e4, 1e4);
        let e = x * (GELU_TANH_A + GELU_TANH_B * (x * x));
        let de = GELU_TANH_A + 3.0 * GELU_TANH_B * (x * x);
        e.act_sigmoid() * (1.0 + x * (-e).act_sigmoid() * de)
    }
}

/// `1 / sqrt(2 pi)`.
const FRAC_1_SQRT_2PI: f64 = 0.398_942_280_401_432_7;
