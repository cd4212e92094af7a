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

/// `ln(1 + e^x)`, computed stably as `max(x, 0) + ln(1 + e^-|x|)` (no overflow of `e^x`,
/// smooth everywhere). Exact in f64 (`f64::exp`, `f64::ln_1p`); in f32 `fastmath::softplus`,
/// the fast `exp` and an atanh series for the logarithm: relative error below 1e-6 wherever
/// the result is a normal f32 (2.3e-7 measured by `tests/fastmath/smooth.rs`, on a fifth of all
/// f32s). `softplus(±0) = ln 2`; `x` itself for large x (from about 15 in f32, 33 in f64;
/// `+inf` for `+inf`); `e^x` for large negative x, through the subnormals to 0
/// (`softplus(-inf) = 0`). NaN gives NaN.
///
/// PyTorch's `softplus` (threshold 20) returns `x` itself above 20; the difference,
/// `ln(1 + e^-x)`, is below 2.1e-9 there.
#[inline(always)]
pub fn softplus<F: Float>(x: F) -> F {
    x.act_softplus()
}

/// `x sigmoid(x)` (SiLU, swish), computed as `x / (1 + e^-x)` for `x >= 0` and as
/// `x h h / (1 + h^2)` with `h = e^(x/2)` for `x < 0`, so that no intermediate is subnormal
/// where the result is normal (`sigmoid(x)` is subnormal from x ≈ -87.3 in f32, `x sigmoid(x)`
/// only from x ≈ -91.8). Exact in f64 (`f64::exp`); in f32 with the fast `exp`: relative error
/// below 1e-6 wherever the result is a normal f32 (3.4e-7 measured by
/// `tests/fastmath/smooth.rs`, on a fifth of all f32s). `silu(±0) = ±0`, `x` for large x
/// (`+inf` for `+inf`), `-0` for large negative x and for `-inf` (the limit, where
/// `x sigmoid(x)` would be `-inf * 0`). NaN gives NaN.
#[inline(always)]
pub fn silu<F: Float>(x: F) -> F {
    let (h, d) = half_sigmoid_parts(x);
    let xm = not_neg_inf(x);
    // Selects; NaN takes the second one, NaN.
    if x >= F::zero() {
        x * d
    } else {
        xm * h * h * d
    }
}

/// `x Phi(x) = x/2 (1 + erf(x / sqrt 2)) = x/2 erfc(-x / sqrt 2)` (GELU, PyTorch's
/// `gelu(approximate='none')`), through `erfc`, which keeps the full relative accuracy of the
/// tiny results of large negative x (`1 + erf` would cancel). f64: with libm's `erfc` (the
/// rounding of `x / sqrt 2` adds a relative error below `x^2 2^-53`, under 2e-13 down to where
/// the result underflows, x ≈ -38). f32: Numerical Recipes' `erfcc` (fractional error below
/// 1.2e-7) with `x^2/2` in the exponent taken exactly and the fast `exp`: relative error below
/// 1e-6 wherever the result is a normal f32 (3.1e-7 measured by `tests/fastmath/smooth.rs`, on
/// a fifth of all f32s). `gelu(±0) = ±0`, `x` for large x (`+inf` for `+inf`), `-0` for large
/// negative x and for `-inf` (the limit; `x/2 (1 + erf)` evaluated literally gives NaN there).
/// NaN gives NaN.
#[inline(always)]
pub fn gelu<F: Float>(x: F) -> F {
    x.act_gelu()
}

/// `x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))` (GELU, PyTorch's
/// `gelu(approximate='tanh')`), computed as `x sigmoid(2 sqrt(2/pi) (x + 0.044715 x^3))`
/// (`(1 + tanh u) / 2 = sigmoid(2u)`), which keeps the full relative accuracy of the tiny
/// results of negative x where `1 + tanh` cancels (the literal formula loses its relative
/// accuracy there, and in f32 gives 0 from about x = -5.1 down, where `tanh` rounds to -1).
/// Exact in f64; in f32 the argument of the exponential is computed in f64 (in f32 its
/// rounding error, which becomes the relative error of the result, would reach several 1e-6
/// for large negative x) and the fast `exp`: relative error below 1e-6 wherever the result is
/// a normal f32 (2.7e-7 measured by `tests/fastmath/smooth.rs`, on a fifth of all f32s).
/// `gelu_tanh(±0) = ±0`, `x` for large x (`+inf` for `+inf`), `-0` for large negative x and
/// for `-inf` (the limit). NaN gives NaN.
#[inline(always)]
pub fn gelu_tanh<F: Float>(x: F) -> F {
    x.act_gelu_tanh()
}

/// `x` if `x > 0`, else `alpha (e^x - 1)` (ELU), with an accurate `expm1`: `elu(-1e-4, 1)` is
/// `-9.9995e-5` to full precision. f64: `f64::exp_m1`; f32: `fastmath::expm1`, a Taylor
/// polynomial for |x| < 0.35 and the fast `exp` beyond: relative error of `expm1` below 1e-6
/// over the whole f32 range (3.1e-7 measured by `tests/fastmath/smooth.rs` on a fifth of all
/// f32s, near x = 0.35; 1.7e-7 on the x < 0 that `elu` uses, 2e-7 for `elu` itself).
/// `elu(±0) = ±0` (for `alpha > 0`), `elu(-inf) = -alpha`, `elu(+inf) = +inf`. NaN gives NaN.
#[inline(always)]
pub fn elu<F: Float>(x: F, alpha: F) -> F {
    // A select; NaN takes the second arm, NaN.
    if x > F::zero() {
        x
    } else {
        alpha * x.act_expm1()
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

/// Derivative of `silu`: `s (1 + x (1 - s))` with `s = sigmoid(x)`, where `1 - s` is computed as
/// `sigmoid(-x)` (not by the subtraction, which loses its relative accuracy for large x) and, as
/// in [`silu`], no intermediate is subnormal where the result is normal. Exact in f64; in f32
/// with the fast `exp`: relative error below 1e-6 wherever the result is a normal f32 (7.6e-7
/// measured by `tests/fastmath/smooth.rs`, next to the root), absolute error below 1e-7 on
/// [-1.53, -1.03] around its root x ≈ -1.2785 (3.9e-8 measured). `silu_grad(±0) = 1/2`,
/// 1 for large x and `+inf`, `-0` for large negative x and `-inf` (the limits). NaN gives NaN.
#[inline(always)]
pub fn silu_grad<F: Float>(x: F) -> F {
    let (h, d) = half_sigmoid_parts(x);
    let one = F::one();
    let xf = finite(x);
    // x >= 0: s = d, 1 - s = h^2 d; x < 0: s = h^2 d, 1 - s = d. NaN takes the second, NaN.
    if x >= F::zero() {
        d * (one + xf * (h * h) * d)
    } else {
        h * (one + xf * d) * h * d
    }
}

/// Derivative of `gelu`: `Phi(x) + x phi(x) = erfc(-x / sqrt 2) / 2 + x e^(-x^2/2) / sqrt(2 pi)`.
/// f64: with libm's `erfc`; f32: as [`gelu`], relative error below 1e-6 wherever the result
/// is a normal f32 (5.3e-7 measured by `tests/fastmath/smooth.rs`, next to the root), absolute
/// error below 1e-7 on [-1, -0.5] around its root x ≈ -0.7518 (7e-8 measured).
/// `gelu_grad(±0) = 1/2`, 1 for large x and `+inf`, 0 for large negative x and `-inf` (the
/// limits; `+0` in f64, `-0` in f32). NaN gives NaN.
#[inline(always)]
pub fn gelu_grad<F: Float>(x: F) -> F {
    x.act_gelu_grad()
}

/// Derivative of `gelu_tanh`, exact: with `E = 2 sqrt(2/pi) (x + 0.044715 x^3)` and
/// `s = sigmoid(E)`, `s (1 + x (1 - s) E')`, `E' = 2 sqrt(2/pi) (1 + 3 * 0.044715 x^2)` (the
/// same as `(1 + tanh u) / 2 + x/2 (1 - tanh^2 u) u'` with `u = E/2`), with `1 - s` computed as
/// `sigmoid(-E)`. f32: as [`gelu_tanh`], relative error below 1e-6 wherever the result is a
/// normal f32 (6.9e-7 measured by `tests/fastmath/smooth.rs`, next to the root), absolute error
/// below 1e-7 on [-1, -0.5] around its root x ≈ -0.7522 (6e-8 measured).
/// `gelu_tanh_grad(±0) = 1/2`, 1 for large x and `+inf`, `-0` for large negative x and `-inf`
/// (the limits). NaN gives NaN.
#[inline(always)]
pub fn gelu_tanh_grad<F: Float>(x: F) -> F {
    x.act_gelu_tanh_grad()
}

/// Derivative of `elu` from its input and output (`y = elu(x, alpha)`): 1 if `x > 0`, else
/// `y + alpha` (`= alpha e^x`); at 0 this is `alpha`, as in PyTorch. The sum is accurate to
/// about an ulp of `alpha` in absolute terms: its relative accuracy fades where `alpha e^x`
/// approaches the rounding error of `y`, and it is 0 where `e^x` is below half an ulp of 1
/// (x below about -17 in f32, -37 in f64). NaN `x` (whose `y` is NaN) gives NaN.
#[inline(always)]
pub fn elu_grad<F: Float>(x: F, y: F, alpha: F) -> F {
    if x > F::zero() {
        F::one()
    } else {
        y + alpha
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

/// `(h, d)` with `h = e^(-|x|/2)` and `d = 1 / (1 + h^2) = sigmoid(|x|)`, so that
/// `sigmoid(-|x|) = h^2 d`: `h` stays normal down to `|x|` about 175 (f32), while `e^-|x|`
/// would be subnormal from 87.3 on.
#[inline(always)]
fn half_sigmoid_parts<F: Float>(x: F) -> (F, F) {
    let h = exp(-(x.abs() * F::from_f64(0.5)));
    (h, F::one() / (F::one() + h * h))
}

/// `x` with `-inf` replaced by the most negative finite number (NaN passes): `x * 0` is then
/// `-0` for the limit of a product that decays faster than `x` grows.
#[inline(always)]
fn not_neg_inf<F: Float>(x: F) -> F {
    if x < F::min_value() {
        F::min_value()
    } else {
        x
    }
}

/// `x` with the infinities replaced by the largest finite numbers (NaN passes).
#[inline(always)]
fn finite<F: Float>(x: F) -> F {
    clamp(x, F::min_value(), F::max_value())
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
