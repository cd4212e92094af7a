//! Vectorizable `exp`, `sigmoid` and `tanh` for `f32`: straight-line arithmetic (no calls into
//! libm, no data-dependent branches), so that LLVM turns a fused loop of them into SIMD code.
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
