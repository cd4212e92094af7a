//! Vectorizable `exp`, `sigmoid`, `tanh`, `expm1`, `softplus`, `gelu`, `gelu_tanh` (and the
//! derivatives of the last two) for `f32`: straight-line arithmetic (no calls into libm, no
//! data-dependent branches), so that LLVM turns a fused loop of them into SIMD code. Where an
//! argument of the exponential must be known beyond f32 precision (`-x^2/2` of `gelu`, the
//! cubic of `gelu_tanh`), it is computed in f64, which vectorizes as well.
//!
//! Accuracy against the exact functions (evaluated in f64), measured by
//! `tests/fastmath/accuracy.rs`:
//! - `exp`: relative error below 2e-7 wherever the result is a normal f32 (x in about
//!   [-87.3, 88.7]); the ends of the range behave as `f32::exp`: `+inf` above ln(f32::MAX) ≈
//!   88.72, gradual underflow through the subnormals (within one subnormal step of `f32::exp`)
//!   and exactly 0 below about -103.97 (`tests/fastmath/range.rs`);
//! - `sigmoid`: relative error below 3e-7 wherever the result is a normal f32 (x above about
//!   -87.3), exactly 1 from about x = 17 on, and 0 below about -88.72, as `1 / (1 + e^-x)`
//!   with `f32::exp` (the exact value there is below 3e-39);
//! - `tanh`: relative error below 1e-6 everywhere, odd, exactly ±1 beyond |x| ≈ 9.
//!
//! and by `tests/fastmath/smooth.rs`, relative error below 1e-6 wherever the exact result is a
//! normal f32, absolute error below 1e-7 around the root of a derivative, and within a few
//! subnormal steps below the normal range (in parentheses the maxima of its dense sweep, on a
//! fifth of all f32s):
//! - `expm1` (3.1e-7), `softplus` (2.3e-7), `gelu` (3.1e-7), `gelu_tanh` (2.7e-7);
//! - `gelu_grad` (5.3e-7; 7e-8 absolute on [-1, -0.5]), `gelu_tanh_grad` (6.9e-7; 6e-8
//!   absolute on [-1, -0.5]).
//!
//! NaN in gives NaN out; `exp(+inf) = +inf`, `exp(-inf) = 0`, `sigmoid(±inf) = 1, 0`,
//! `tanh(±inf) = ±1`.

const LOG2E: f32 = std::f32::consts::LOG2_E;
/// ln 2 split in a part exact in f32 and the rest, for the argument reduction.
const LN2_HI: f32 = 0.693_145_75;
const LN2_LO: f32 = 1.428_606_8e-6;
/// Adding then subtracting 1.5 * 2^23 rounds an f32 to the nearest integer.
const ROUND: f32 = 12_582_912.0;

/// `e^x` for f32.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    // `-0.0` is the identity of addition (`r + -0.0` is `r` for every `r`, signed zeros
    // included), so this is exactly the exponential of `x` alone and the addition folds away.
    exp_sum(x, -0.0)
}

/// `e^(x + lo)` for an argument known beyond f32 precision as the unevaluated sum of `x` and a
/// correction `|lo| <= 1e-5` (the rounding error of `x`): the correction enters after the
/// argument reduction, where it is not rounded away.
#[inline(always)]
fn exp_sum(x: f32, lo: f32) -> f32 {
    // Beyond these bounds the result is +inf or 0 anyway; within them `n` below stays in
    // [-150, 129], so 2^n splits into two normal powers of two. The clamp keeps infinities in
    // range and lets NaN through.
    let x = x.clamp(-104.0, 89.0);
    let shifted = x * LOG2E + ROUND;
    let n = shifted - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO + lo;
    // e^r on |r| <= ln(2)/2 by its Taylor series to r^7 (truncation error below 5e-9).
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0
                    + r * (1.0 / 24.0
                        + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    // The low bits of `shifted` hold n (two's complement), obtained in integer arithmetic that
    // vectorizes (a float-to-int cast would not: it saturates). 2^n = 2^h * 2^(n-h) with
    // h = n >> 1: both factors are normal numbers (2^k is (k + 127) << 23), and multiplying by
    // the second one last overflows to +inf or rounds into the subnormals (down to 0) exactly
    // as the true result would.
    let n = shifted.to_bits().wrapping_sub(ROUND.to_bits()) as i32;
    let half = n >> 1;
    let pow2 = |k: i32| f32::from_bits((k.wrapping_add(127) as u32) << 23);
    p * pow2(half) * pow2(n - half)
}

/// `e^a` rounded to f32, for an argument computed in f64 (where its rounding error is
/// negligible): `a` is split into an f32 and the f32 rounding of the rest, for [`exp_sum`].
/// Exactly 0 below about -103.97, +inf above about 88.72, NaN for NaN.
#[inline(always)]
fn exp_wide(a: f64) -> f32 {
    // Beyond ±200 the result is 0 or +inf anyway; the clamp keeps the split finite (|lo| <=
    // 2^-17) and lets NaN through.
    let a = a.clamp(-200.0, 200.0);
    let hi = a as f32;
    let lo = (a - hi as f64) as f32;
    exp_sum(hi, lo)
}

/// `1 / (1 + e^-x)` for f32: as that expression with `f32::exp`, it is exactly 1 from about
/// x = 17 on, subnormal from about -87.3 down and exactly 0 below about -88.72 (where `e^-x`
/// overflows; the exact value there is below 3e-39).
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// `tanh(x)` for f32: an odd Taylor polynomial for |x| < 0.3 (keeping the relative error small
/// near 0), `1 - 2 / (e^{2|x|} + 1)` beyond, with the sign of `x`.
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    let a = x.abs();
    let a2 = a * a;
    let small = a + a
        * a2
        * (-1.0 / 3.0
            + a2 * (2.0 / 15.0
                + a2 * (-17.0 / 315.0 + a2 * (62.0 / 2835.0 + a2 * (-1382.0 / 155_925.0)))));
    let large = 1.0 - 2.0 / (exp(2.0 * a) + 1.0);
    let t = if a < 0.3 { small } else { large };
    t.copysign(x)
}

/// `e^x - 1` for f32, accurate near 0: the Taylor polynomial to x^7 for |x| < 0.35 (truncation
/// error below 2e-8 relative), `exp(x) - 1` beyond (where the subtraction loses at most a
/// factor 3.4 of `exp`'s relative error). `expm1(±0) = ±0`, `+inf` above about 88.72, -1 for
/// large negative x.
#[inline(always)]
pub fn expm1(x: f32) -> f32 {
    let small = x
        * (1.0
            + x * (0.5
                + x * (1.0 / 6.0
                    + x * (1.0 / 24.0
                        + x * (1.0 / 120.0 + x * (1.0 / 720.0 + x * (1.0 / 5040.0)))))));
    let large = exp(x) - 1.0;
    // False for NaN, whose `large` is NaN.
    if x.abs() < 0.35 {
        small
    } else {
        large
    }
}

/// `ln(1 + z)` for z in [0, 1]: `2 atanh(u)` with `u = z / (2 + z)` in [0, 1/3], by the odd
/// Taylor series of atanh to u^13 (truncation error below 2e-8 relative).
#[inline(always)]
fn ln_1p_unit(z: f32) -> f32 {
    let u = z / (2.0 + z);
    let u2 = u * u;
    let tail = u2
        * (1.0 / 3.0
            + u2 * (1.0 / 5.0
                + u2 * (1.0 / 7.0 + u2 * (1.0 / 9.0 + u2 * (1.0 / 11.0 + u2 * (1.0 / 13.0))))));
    let v = u + u;
    v + v * tail
}

/// `ln(1 + e^x)` for f32, as `max(x, 0) + ln(1 + e^-|x|)`: `x` itself from about x = 15 on
/// (and `+inf` for `+inf`), `e^x` (subnormal from about -87.3, exactly 0 below about -103.97)
/// for large negative x.
#[inline(always)]
pub fn softplus(x: f32) -> f32 {
    // NaN: `e` and so the sum are NaN.
    let e = exp(-x.abs());
    let m = if x > 0.0 { x } else { 0.0 };
    m + ln_1p_unit(e)
}

/// 2^-64: the factor that undoes `SCALE_LN` (an exponential computed 2^64 times too large keeps
/// its intermediate products normal where the final result is a normal f32).
const TWO_M64: f32 = f32::from_bits((127 - 64) << 23);
/// 64 ln 2: `e^(a + SCALE_LN) = 2^64 e^a`.
const SCALE_LN: f64 = 64.0 * std::f64::consts::LN_2;
/// ln(sqrt(2 pi)): `phi(x) = e^(-x^2/2 - LN_SQRT_2PI)`.
const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_8;

/// Numerical Recipes' `erfcc` for `Phi(-|x|) = erfc(z) / 2`, `z = |x| / sqrt 2` (`x` already
/// clamped to [-30, 30]): `erfc(z) = t e^(-z^2 + q)` with `t = 1 / (1 + z/2)` and `q` a
/// polynomial in `t` (fractional error below 1.2e-7 for all z >= 0). Returns `(t, q, h)` with
/// `h = x^2 / 2 = z^2`, all in f64: `h` is exact there (the square of an f32), and it needs to
/// be, as its absolute error is the relative error of the result and it reaches 100 where the
/// result is still a normal f32; `t` and `q` in f64 remove their rounding errors (which would
/// add about 1e-7 near x = 0) at the cost of a few f64 operations.
#[inline(always)]
fn erfcc_parts(x: f32) -> (f64, f64, f64) {
    let x = x as f64;
    let z = x.abs() * std::f64::consts::FRAC_1_SQRT_2;
    let t = 1.0 / (1.0 + 0.5 * z);
    let q = -1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    (t, q, 0.5 * (x * x))
}

/// `x Phi(x) = x/2 erfc(-x / sqrt 2)` (GELU) for f32: `x` for large x, `-0` for large negative
/// x (and `-inf`), keeping its relative accuracy where it is tiny.
#[inline(always)]
pub fn gelu(x: f32) -> f32 {
    // |x| >= 30: Phi(-|x|) < 1e-197, 0 in f32; the clamp keeps -inf out of `-inf * 0`.
    let xs = x.clamp(-30.0, 30.0);
    let (t, q, h) = erfcc_parts(xs);
    // 2^64 Phi(-|x|), normal where x Phi(x) is.
    let p = 0.5 * t as f32 * exp_wide(SCALE_LN + q - h);
    // x < 0: x Phi(x); x >= 0: x (1 - Phi(-x)). NaN takes the second one, NaN.
    let neg = xs * p * TWO_M64;
    let pos = x * (1.0 - p * TWO_M64);
    if x < 0.0 {
        neg
    } else {
        pos
    }
}

/// `Phi(x) + x phi(x)`, the derivative of [`gelu`], for f32: 1 for large x, `-0` for large
/// negative x. With Mills' ratio `r = Phi(-|x|) / phi(x) = t e^(q + ln sqrt(2 pi)) / 2` (from
/// `erfcc_parts`, small numbers only) and `k = 2^64 phi(x)`: `(r + x) phi(x)` for x < 0,
/// whose root near x = -0.7518 comes out of `r + x` with a small absolute error.
#[inline(always)]
pub fn gelu_grad(x: f32) -> f32 {
    let xs = x.clamp(-30.0, 30.0);
    let (t, q, h) = erfcc_parts(xs);
    let r = 0.5 * t as f32 * exp_wide(q + LN_SQRT_2PI);
    let k = exp_wide(SCALE_LN - LN_SQRT_2PI - h);
    // x < 0: Phi(x) + x phi(x) = (r + x) phi(x); x >= 0: 1 - Phi(-x) + x phi(x).
    let neg = (r + xs) * k * TWO_M64;
    let pos = 1.0 + (xs - r) * k * TWO_M64;
    if x < 0.0 {
        neg
    } else {
        pos
    }
}

/// `2 sqrt(2/pi)`: `gelu_tanh(x) = x sigmoid(GELU_TANH_A x + GELU_TANH_B x^3)`, as
/// `(1 + tanh(u)) / 2 = sigmoid(2u)` with PyTorch's `u = sqrt(2/pi) (x + 0.044715 x^3)`.
pub(crate) const GELU_TANH_A: f64 = std::f64::consts::SQRT_2 * std::f64::consts::FRAC_2_SQRT_PI;
/// `2 sqrt(2/pi) 0.044715`, see [`GELU_TANH_A`].
pub(crate) const GELU_TANH_B: f64 = GELU_TANH_A * 0.044_715;

/// For [`gelu_tanh`] and [`gelu_tanh_grad`]: `(x, g, d)` with `x` clamped below at -1e4, and
/// for `E = 2u = A x + B x^3` (computed in f64, where it is accurate to far below the f32
/// precision of its exponential), `g = 2^64 e^-|E|` and `d = 1 / (1 + e^-|E|)`, so that
/// `sigmoid(|E|) = d` and `sigmoid(-|E|) = g d 2^-64`.
#[inline(always)]
fn gelu_tanh_parts(x: f32) -> (f32, f32, f32) {
    // Below -1e4 the result is -0 (0 for the derivative); the clamp keeps -inf out of
    // `-inf * 0`.
    let x = if x < -1e4 { -1e4 } else { x };
    let xd = x as f64;
    let e = xd * (GELU_TANH_A + GELU_TANH_B * (xd * xd));
    let g = exp_wide(SCALE_LN - e.abs());
    let d = 1.0 / (1.0 + g * TWO_M64);
    (x, g, d)
}

/// `x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))` (GELU, tanh approximation) for f32,
/// computed as `x sigmoid(2u)`, which keeps its relative accuracy for negative x where
/// `1 + tanh` cancels: `x` for large x, `-0` for large negative x (and `-inf`).
#[inline(always)]
pub fn gelu_tanh(x: f32) -> f32 {
    let (xm, g, d) = gelu_tanh_parts(x);
    // E has the sign of x. x >= 0: x sigmoid(|E|); x < 0: x sigmoid(-|E|). NaN: the second.
    let pos = xm * d;
    let neg = xm * g * d * TWO_M64;
    if x >= 0.0 {
        pos
    } else {
        neg
    }
}

/// The derivative of [`gelu_tanh`] for f32: `s (1 + x (1 - s) E')` with `s = sigmoid(E)`,
/// `1 - s = sigmoid(-E)` and `E' = A + 3 B x^2`. 1 for large x, `-0` for large negative x.
#[inline(always)]
pub fn gelu_tanh_grad(x: f32) -> f32 {
    let (xm, g, d) = gelu_tanh_parts(x);
    // Above 1e4 the derivative is 1; the clamp keeps `x^2` and `inf * 0` out.
    let xm = if xm > 1e4 { 1e4 } else { xm };
    let de = GELU_TANH_A as f32 + (3.0 * GELU_TANH_B) as f32 * (xm * xm);
    let pos = d * (1.0 + xm * de * (g * TWO_M64) * d);
    let neg = g * d * (1.0 + xm * d * de) * TWO_M64;
    if x >= 0.0 {
        pos
    } else {
        neg
    }
}
