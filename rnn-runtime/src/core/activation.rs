//! Activation functions of the language, with the numerically careful forms used by both the
//! forward pass and the derivatives the compiler emits.

use crate::kernels::float::Float;

/// `1 / (1 + exp(-x))`: exact and overflow-free in f64; in f32 the vectorizable approximation
/// of `fastmath::sigmoid` (relative error below 3e-7 wherever the result is a normal
/// f32, 1.5e-7 measured by `tests/fastmath/accuracy.rs`; 1 for large x, 0 below about
/// -88.72 as `1 / (1 + e^-x)` computed with `f32::exp`). NaN gives NaN.
#[inline(always)]
pub fn sigmoid<F: Float>(x: F) -> F {
    x.act_sigmoid()
}

/// Hyperbolic tangent: exact in f64; in f32 `fastmath::tanh` (relative error below
/// 1e-6 everywhere, 2.3e-7 measured; odd, `tanh(±0) = ±0`, exactly ±1 beyond |x| ≈ 9). NaN
/// gives NaN.
#[inline(always)]
pub fn tanh<F: Float>(x: F) -> F {
    x.act_tanh()
}

/// `max(x, 0)`; NaN gives NaN (a NaN must not turn into a plausible 0), `relu(-0) = +0`.
#[inline(always)]
pub fn relu<F: Float>(x: F) -> F {
    // One compare and a select (vectorizable); false for NaN, which passes through.
    if x <= F::zero() {
        F::zero()
    } else {
        x
    }
}

/// `exp(x)`: exact in f64; in f32 `fastmath::exp` (relative error below 2e-7 wherever
/// the result is a normal f32, 1e-7 measured; like `f32::exp`, `+inf` above ln(f32::MAX) ≈
/// 88.72, subnormal results below about -87.3 and exactly 0 below about -103.97). NaN gives
/// NaN.
#[inline(always)]
pub fn exp<F: Float>(x: F) -> F {
    x.act_exp()
}

/// Natural logarithm.
#[inline(always)]
pub fn log<F: Float>(x: F) -> F {
    x.ln()
}

/// Square root.
#[inline(always)]
pub fn sqrt<F: Float>(x: F) -> F {
    x.sqrt()
}

/// `x / (1 + |x|)`.
#[inline(always)]
pub fn softsign<F: Float>(x: F) -> F {
    x / (F::one() + x.abs())
}

/// `clamp(x / 6 + 1/2, 0, 1)`, as PyTorch's `hardsigmoid`; NaN gives NaN.
#[inline(always)]
pub fn hard_sigmoid<F: Float>(x: F) -> F {
    let y = x / F::from_f64(6.0) + F::from_f64(0.5);
    // Compares and selects (vectorizable); both false for NaN, which passes through (`max` and
    // `min` would drop it).
    let y = if y <= F::zero() { F::zero() } else { y };
    if y >= F::one() {
        F::one()
    } else {
        y
    }
}

/// Derivative of `relu` from its output: 1 where `y > 0`, else 0.
#[inline(always)]
pub fn relu_grad<F: Float>(y: F) -> F {
    if y > F::zero() {
        F::one()
    } else {
        F::zero()
    }
}

/// Derivative of `softsign` from its input: `1 / (1 + |x|)^2`.
#[inline(always)]
pub fn softsign_grad<F: Float>(x: F) -> F {
    let d = F::one() + x.abs();
    F::one() / (d * d)
}

/// Derivative of `hard_sigmoid` from its input: `1/6` on `(-3, 3)`, else 0.
#[inline(always)]
pub fn hard_sigmoid_grad<F: Float>(x: F) -> F {
    let three = F::from_f64(3.0);
    if x > -three && x < three {
        F::from_f64(1.0 / 6.0)
    } else {
        F::zero()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nan_propagates<F: Float>() {
        let nan = F::nan();
        assert!(relu(nan).is_nan(), "relu(NaN)");
        assert!(hard_sigmoid(nan).is_nan(), "hard_sigmoid(NaN)");
        assert!(sigmoid(nan).is_nan() && tanh(nan).is_nan() && exp(nan).is_nan());
        assert!(softsign(nan).is_nan() && log(nan).is_nan() && sqrt(nan).is_nan());
    }

    #[test]
    fn relu_and_hard_sigmoid_propagate_nan() {
        nan_propagates::<f32>();
        nan_propagates::<f64>();
    }

    #[test]
    fn relu_and_hard_sigmoid_values_are_unchanged() {
        let xs: [f64; 12] = [
            -1e300, -3.5, -3.0, -1.0, -0.0, 0.0, 1e-300, 0.25, 2.9, 3.0, 7.0, 1e300,
        ];
        for x in xs {
            assert_eq!(relu(x), x.max(0.0), "relu({x})");
            let h = (x / 6.0 + 0.5).clamp(0.0, 1.0);
            assert_eq!(hard_sigmoid(x), h, "hard_sigmoid({x})");
        }
        assert_eq!(relu(-0.0f64).to_bits(), 0.0f64.to_bits());
        assert_eq!(relu(f64::INFINITY), f64::INFINITY);
        assert_eq!(relu(f64::NEG_INFINITY), 0.0);
        assert_eq!(hard_sigmoid(f32::INFINITY), 1.0);
        assert_eq!(hard_sigmoid(f32::NEG_INFINITY), 0.0);
    }
}
