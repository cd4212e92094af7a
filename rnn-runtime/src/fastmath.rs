//! Vectorizable `exp`, `sigmoid` and `tanh` for `f32`: straight-line arithmetic (no calls into
//! libm, no data-dependent branches), so that LLVM turns a fused loop of them into SIMD code.
//!
//! Accuracy against the exact functions (evaluated in f64), measured by
//! `tests/fastmath_accuracy.rs`:
//! - `exp`: relative error below 2e-7 on [-87, 88]; inputs are clamped to [-87.3, 88], so
//!   `exp` saturates at e^88 ≈ 1.65e38 and bottoms out at about 1.2e-38 instead of reaching
//!   infinity or zero;
//! - `sigmoid`: relative error below 3e-7 wherever the result exceeds 1e-30; 1 at +∞ side;
//! - `tanh`: relative error below 1e-6 everywhere, odd, exactly ±1 beyond |x| ≈ 9.
//!
//! NaN in gives NaN out.

const LOG2E: f32 = std::f32::consts::LOG2_E;
/// ln 2 split in a part exact in f32 and the rest, for the argument reduction.
const LN2_HI: f32 = 0.693_145_75;
const LN2_LO: f32 = 1.428_606_8e-6;
/// Adding then subtracting 1.5 * 2^23 rounds an f32 to the nearest integer.
const ROUND: f32 = 12_582_912.0;

/// `e^x` for f32.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    let x = x.clamp(-87.3, 88.0);
    let shifted = x * LOG2E + ROUND;
    let n = shifted - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    // e^r on |r| <= ln(2)/2 by its Taylor series to r^7 (truncation error below 5e-9).
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0
                    + r * (1.0 / 24.0
                        + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    // The low bits of `shifted` hold n (two's complement): 2^n is (n + 127) << 23, computed in
    // integer arithmetic that vectorizes (a float-to-int cast would not: it saturates).
    let scale = f32::from_bits(
        shifted
            .to_bits()
            .wrapping_sub(ROUND.to_bits())
            .wrapping_add(127)
            << 23,
    );
    p * scale
}

/// `1 / (1 + e^-x)` for f32.
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
