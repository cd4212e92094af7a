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

/// `x` if `x > 0`, else `slope x` (PyTorch's `leaky_relu`); exact. NaN gives NaN.
#[inline(always)]
pub fn leaky_relu<F: Float>(x: F, slope: F) -> F {
    if x > F::zero() {
        x
    } else {
        slope * x
    }
}

/// `|x|`; exact, `abs(-0) = +0`. NaN gives NaN.
#[inline(always)]
pub fn abs<F: Float>(x: F) -> F {
    x.abs()
}

/// `x * x`; correctly rounded. NaN gives NaN.
#[inline(always)]
pub fn square<F: Float>(x: F) -> F {
    x * x
}

/// `x^k` for a literal exponent `k` (a constant at every call site: the choice below is made at
/// compile time). An integer `k` with `|k| <= 64` takes `powi` (repeated multiplication,
/// vectorizable), any other `k` takes `powf` (IEEE `pow`: NaN for negative `x` and a
/// non-integer `k`). f32 computes in f64 and rounds once (`powi` in f32 would lose up to 63 ulps
/// for `k = 64`), so the f32 result is within about half an ulp of the exact one; f64 `powi`
/// is within `|k|` ulps. `pow(x, 0) = 1` for every `x`, NaN included (IEEE `pow`, like PyTorch);
/// `pow(±0, k < 0)` is an infinity (signed as `x^k`). Otherwise NaN gives NaN.
#[inline(always)]
pub fn pow<F: Float>(x: F, k: F) -> F {
    let (xd, kd) = (x.to_f64(), k.to_f64());
    let y = if kd == kd.trunc() && kd.abs() <= 64.0 {
        xd.powi(kd as i32)
    } else {
        xd.powf(kd)
    };
    F::from_f64(y)
}

/// `x` limited to `[lo, hi]` (`lo <= hi`, guaranteed by the caller); exact. Compares and
/// selects: NaN passes through (as in PyTorch's `clamp`; `max`/`min` would drop it), a bound
/// that is infinite is no bound.
#[inline(always)]
pub fn clamp<F: Float>(x: F, lo: F, hi: F) -> F {
    let y = if x < lo { lo } else { x };
    if y > hi {
        hi
    } else {
        y
    }
}

/// The larger of `a` and `b`, NaN if either is NaN (as `torch.maximum`; `f32::max` would drop
/// the NaN). On a tie it returns `a` (so `maximum(-0, +0) = -0`).
#[inline(always)]
pub fn maximum<F: Float>(a: F, b: F) -> F {
    // `a < b` is false when either is NaN: then `a`, unless `b` is the NaN.
    let m = if a < b { b } else { a };
    if b.is_nan() {
        b
    } else {
        m
    }
}

/// The smaller of `a` and `b`, NaN if either is NaN (as `torch.minimum`). On a tie it returns
/// `a` (so `minimum(+0, -0) = +0`).
#[inline(always)]
pub fn minimum<F: Float>(a: F, b: F) -> F {
    let m = if b < a { b } else { a };
    if b.is_nan() {
        b
    } else {
        m
    }
}

/// Derivative of `leaky_relu`: 1 if `x > 0`, else `slope` (at 0: `slope`, as in PyTorch). NaN
/// gives NaN.
#[inline(always)]
pub fn leaky_relu_grad<F: Float>(x: F, slope: F) -> F {
    // Selects: NaN fails both compares and stays.
    if x > F::zero() {
        F::one()
    } else if x <= F::zero() {
        slope
    } else {
        x
    }
}

/// The sign of `x`, the derivative of `abs`: 1 for `x > 0`, -1 for `x < 0`, 0 at ±0 (PyTorch's
/// `abs` backward multiplies by `sgn(x)`, 0 at 0). `sign(±inf) = ±1`. NaN gives NaN.
#[inline(always)]
pub fn sign<F: Float>(x: F) -> F {
    if x > F::zero() {
        F::one()
    } else if x < F::zero() {
        -F::one()
    } else if x == F::zero() {
        F::zero()
    } else {
        x
    }
}

/// Derivative of `clamp(x, lo, hi)` with respect to `x`: 1 if `lo <= x <= hi` (bounds
/// included, as PyTorch's `clamp` backward), else 0. NaN gives NaN.
#[inline(always)]
pub fn clamp_grad<F: Float>(x: F, lo: F, hi: F) -> F {
    if x < lo || x > hi {
        F::zero()
    } else if x >= lo {
        F::one()
    } else {
        x
    }
}

/// The step with 1/2 at the tie: 1 if `d > 0`, 1/2 if `d == 0` (either sign), 0 if `d < 0`.
/// The derivative of `maximum(a, b)` with respect to `a` is `tie_step(a - b)`, with respect to
/// `b` `tie_step(b - a)` (for `minimum`: `tie_step(b - a)` and `tie_step(a - b)`): PyTorch
/// splits the gradient in half between equal arguments. NaN gives NaN, which includes
/// `a - b` for two equal infinities (PyTorch gives 1/2 there).
#[inline(always)]
pub fn tie_step<F: Float>(d: F) -> F {
    if d > F::zero() {
        F::one()
    } else if d < F::zero() {
        F::zero()
    } else if d == F::zero() {
        F::from_f64(0.5)
    } else {
        d
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
