//! The ends of the range of the fast activations: in f32 `exp`, `sigmoid` (as
//! `1 / (1 + exp(-x))`) and `tanh` behave as with the standard library's functions where those
//! overflow to `+inf`, underflow through the subnormals to 0, or saturate at ±1, and NaN gives
//! NaN; in f64 they are the standard library's functions (sigmoid: its stable form).

use rnn_runtime::activation::{exp, log, sigmoid, tanh};
use rnn_runtime::fastmath;

use crate::{assert_f64_is_std, exact_sigmoid};

/// Every f32 from `lo` to `hi` (same sign), by bit pattern.
fn every_f32(lo: f32, hi: f32) -> impl Iterator<Item = f32> {
    let (a, b) = (lo.to_bits(), hi.to_bits());
    (a.min(b)..=a.max(b)).map(f32::from_bits)
}

/// The smallest positive subnormal f32, 2^-149.
const TINY: f64 = 1.401_298_464_324_817e-45;

/// `fast` agrees with the reference `exact` (rounded to f32 by the standard library or from
/// f64): both infinite or both zero, or within the f32 approximations' relative error, or
/// (among subnormals) within two subnormal steps.
fn assert_close(what: &str, x: f32, fast: f32, exact: f32) {
    if exact.is_infinite() || exact == 0.0 || fast.is_infinite() || fast == 0.0 {
        assert_eq!(
            fast.to_bits(),
            exact.to_bits(),
            "{what}({x:e}) = {fast:e}, the standard library gives {exact:e}"
        );
        return;
    }
    let err = (fast as f64 - exact as f64).abs();
    let tol = (3e-7 * (exact as f64).abs()).max(2.0 * TINY);
    assert!(
        err <= tol,
        "{what}({x:e}) = {fast:e}, the standard library gives {exact:e}"
    );
}

#[test]
fn exp_f32_overflows_to_infinity_as_std_does() {
    let mut first_inf = None;
    for x in every_f32(88.0, 90.0) {
        let (fast, std) = (fastmath::exp(x), x.exp());
        assert_close("exp", x, fast, std);
        if fast.is_infinite() && first_inf.is_none() {
            first_inf = Some(x);
        }
    }
    println!("fast exp f32 is +inf from x = {first_inf:?} on");
    for x in [
        88.72284f32,
        88.7229,
        89.0,
        100.0,
        1e4,
        1e30,
        f32::MAX,
        f32::INFINITY,
    ] {
        assert_eq!(fastmath::exp(x), x.exp(), "exp({x:e})");
        assert_eq!(exp(x), x.exp(), "activation::exp({x:e})");
    }
    assert_eq!(fastmath::exp(100.0), f32::INFINITY);
    // The example of the issue: softplus at 100 is +inf in f32, as with std, not 88.
    let softplus = |a: f32| log(1.0 + exp(a));
    assert_eq!(softplus(100.0), (1.0 + 100f32.exp()).ln());
    assert_eq!(softplus(100.0), f32::INFINITY);
    assert!((softplus(80.0) - 80.0).abs() < 1e-5);
}

#[test]
fn exp_f32_underflows_through_the_subnormals_to_zero_as_std_does() {
    let mut first_zero = None;
    for x in every_f32(-86.0, -106.0) {
        let (fast, std) = (fastmath::exp(x), x.exp());
        assert_close("exp", x, fast, std);
        if fast == 0.0 && first_zero.is_none() {
            first_zero = Some(x);
        }
    }
    println!("fast exp f32 is 0 from x = {first_zero:?} down");
    assert!(fastmath::exp(-100.0) > 0.0, "a subnormal, as std's");
    for x in [-104.0f32, -110.0, -1e4, -1e30, f32::MIN, f32::NEG_INFINITY] {
        assert_eq!(fastmath::exp(x).to_bits(), 0.0f32.to_bits(), "exp({x:e})");
        assert_eq!(exp(x), x.exp(), "activation::exp({x:e})");
    }
    assert!(fastmath::exp(f32::NAN).is_nan());
    assert!(exp(f32::NAN).is_nan());
}

/// `1 / (1 + e^-x)` with the standard library's `exp`.
fn std_sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

#[test]
fn sigmoid_f32_reaches_zero_and_one_as_std_does() {
    // Very negative: through the subnormals to 0 where e^-x overflows, as with std's exp.
    for x in every_f32(-60.0, -106.0).step_by(7) {
        assert_close("sigmoid", x, fastmath::sigmoid(x), std_sigmoid(x));
        assert_close("sigmoid", x, sigmoid(x), std_sigmoid(x));
        // Where the result is a normal f32, it is the exact function to 3e-7.
        let exact = exact_sigmoid(x as f64);
        if exact > f32::MIN_POSITIVE as f64 {
            assert_close("sigmoid", x, fastmath::sigmoid(x), exact as f32);
        }
    }
    // Large positive: exactly 1.
    for x in every_f32(15.0, 120.0).step_by(13) {
        assert_close("sigmoid", x, fastmath::sigmoid(x), std_sigmoid(x));
        assert_close(
            "sigmoid",
            x,
            fastmath::sigmoid(x),
            exact_sigmoid(x as f64) as f32,
        );
    }
    for x in [17.0f32, 100.0, 1e4, f32::MAX, f32::INFINITY] {
        assert_eq!(fastmath::sigmoid(x), 1.0, "sigmoid({x:e})");
        assert_eq!(fastmath::sigmoid(x), std_sigmoid(x));
    }
    for x in [-88.73f32, -104.0, -200.0, -1e4, f32::MIN, f32::NEG_INFINITY] {
        assert_eq!(
            fastmath::sigmoid(x).to_bits(),
            0.0f32.to_bits(),
            "sigmoid({x:e})"
        );
        assert_eq!(fastmath::sigmoid(x), std_sigmoid(x));
    }
    assert!(fastmath::sigmoid(-88.0) > 0.0, "a subnormal, as std's");
    assert!(fastmath::sigmoid(f32::NAN).is_nan());
}

#[test]
fn tanh_f32_saturates_as_std_does() {
    for x in every_f32(5.0, 60.0).step_by(11) {
        assert_close("tanh", x, fastmath::tanh(x), x.tanh());
        assert_close("tanh", -x, fastmath::tanh(-x), (-x).tanh());
    }
    for x in [9.0f32, 44.0, 45.0, 89.0, 1e4, f32::MAX, f32::INFINITY] {
        assert_eq!(fastmath::tanh(x), x.tanh(), "tanh({x:e})");
        assert_eq!(fastmath::tanh(-x), (-x).tanh(), "tanh({:e})", -x);
    }
    assert!(fastmath::tanh(f32::NAN).is_nan());
}

#[test]
fn f64_activations_are_std_at_the_ends_of_the_range() {
    let ends = [
        709.0,
        709.782_712_893_384,
        709.782_712_893_385,
        710.0,
        1e4,
        f64::MAX,
        f64::INFINITY,
        -708.0,
        -745.133_219_101_941,
        -745.133_219_101_942,
        -746.0,
        -1e4,
        f64::MIN,
        f64::NEG_INFINITY,
    ];
    for x in ends {
        assert_f64_is_std(x);
    }
    assert_eq!(exp(710.0f64), f64::INFINITY);
    assert_eq!(exp(-746.0f64), 0.0);
    assert!(exp(f64::NAN).is_nan() && sigmoid(f64::NAN).is_nan() && tanh(f64::NAN).is_nan());
}
