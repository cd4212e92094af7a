//! The f32 versions of `activation::{softplus, silu, gelu, gelu_tanh, elu}` and of the
//! derivatives with a fast path (`silu_grad`, `gelu_grad`, `gelu_tanh_grad`) against their f64
//! versions (exact) at the same f32 input, over the whole f32 range: relative error wherever the
//! exact result is a normal f32, absolute error in a window around the root of a derivative
//! (where the result passes through 0 and only the absolute error can be small), and within two
//! subnormal steps (plus the relative bound) where the exact result is subnormal or 0. Run with
//! `-- --nocapture` to see the measured errors. The maxima quoted in the rustdoc are those of
//! `dense_f32_accuracy` (ignored by default: a fifth of all f32s, about 5 minutes in release
//! mode).

use rnn_runtime::activation::{
    elu, gelu, gelu_grad, gelu_tanh, gelu_tanh_grad, silu, silu_grad, softplus,
};
use rnn_runtime::fastmath;

use crate::accuracy::{sweep, Worst};

/// The smallest positive subnormal f32, 2^-149.
const TINY: f64 = 1.401_298_464_324_817e-45;

/// Every f32 from `lo` to `hi` (same sign), by bit pattern: the end of a function's tail, where
/// its result leaves the normal range.
fn every_f32(lo: f32, hi: f32) -> impl Iterator<Item = f32> {
    let (a, b) = (lo.to_bits(), hi.to_bits());
    (a.min(b)..=a.max(b)).map(f32::from_bits)
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// Measures `fast` against `exact` over `points`: relative error for x < 0 and x >= 0 (bounded
/// by `rel`), absolute error on `root` (bounded by `abs`), and the results that are not normal
/// f32s.
fn measure(
    name: &str,
    fast: impl Fn(f32) -> f32,
    exact: impl Fn(f64) -> f64,
    root: Option<(f32, f32)>,
    points: impl Iterator<Item = f32>,
    rel: f64,
    abs: f64,
) {
    let mut neg = Worst::new(leak(format!("{name} f32 on x < 0")));
    let mut pos = Worst::new(leak(format!("{name} f32 on x >= 0")));
    let mut near_root = root.map(|(lo, hi)| {
        Worst::absolute(leak(format!("{name} f32 on [{lo}, {hi}] (root; absolute)")))
    });
    let (mut below_normal, mut below_normal_steps) = (0usize, 0.0f64);
    for x in points {
        let y = fast(x);
        let e = exact(x as f64);
        assert!(
            !e.is_nan() && !y.is_nan(),
            "{name}({x:e}) = {y:e}, exact {e:e}"
        );
        if (e as f32).is_infinite() {
            assert_eq!(y, e as f32, "{name}({x:e}) overflows");
            continue;
        }
        if let (Some((lo, hi)), Some(w)) = (root, near_root.as_mut()) {
            if (lo..=hi).contains(&x) {
                w.add(x, y, e);
                continue;
            }
        }
        if e.abs() < f32::MIN_POSITIVE as f64 {
            // Subnormal or 0: at most two subnormal steps off (and the relative bound).
            let err = (y as f64 - e).abs();
            assert!(
                err <= 2.0 * TINY + rel * e.abs(),
                "{name}({x:e}) = {y:e}, exact {e:e}"
            );
            below_normal += 1;
            below_normal_steps = below_normal_steps.max(err / TINY);
            continue;
        }
        if x < 0.0 {
            neg.add(x, y, e);
        } else {
            pos.add(x, y, e);
        }
    }
    neg.report(rel);
    pos.report(rel);
    if let Some(w) = near_root {
        w.report(abs);
    }
    println!(
        "{name:<40} {below_normal} points where the exact result is below the normal range, \
         at most {below_normal_steps:.2} subnormal steps off"
    );
}

/// The functions with a fast f32 path beyond `expm1`: name, f32 and f64 versions, the window
/// around the root of a derivative (absolute error there), and the end of the tail where the
/// result leaves the normal range (every f32 there, at the given step).
struct Case {
    name: &'static str,
    fast: fn(f32) -> f32,
    exact: fn(f64) -> f64,
    root: Option<(f32, f32)>,
    tail: (f32, f32, usize),
}

const CASES: [Case; 7] = [
    Case {
        name: "softplus",
        fast: softplus::<f32>,
        exact: softplus::<f64>,
        root: None,
        tail: (-105.0, -86.0, 3),
    },
    Case {
        name: "silu",
        fast: silu::<f32>,
        exact: silu::<f64>,
        root: None,
        tail: (-110.0, -85.0, 3),
    },
    Case {
        name: "silu_grad",
        fast: silu_grad::<f32>,
        exact: silu_grad::<f64>,
        root: Some((-1.53, -1.03)),
        tail: (-110.0, -85.0, 3),
    },
    Case {
        name: "gelu",
        fast: gelu::<f32>,
        exact: gelu::<f64>,
        root: None,
        tail: (-14.5, -12.0, 1),
    },
    Case {
        name: "gelu_grad",
        fast: gelu_grad::<f32>,
        exact: gelu_grad::<f64>,
        root: Some((-1.0, -0.5)),
        tail: (-14.5, -12.0, 1),
    },
    Case {
        name: "gelu_tanh",
        fast: gelu_tanh::<f32>,
        exact: gelu_tanh::<f64>,
        root: None,
        tail: (-11.0, -9.0, 1),
    },
    Case {
        name: "gelu_tanh_grad",
        fast: gelu_tanh_grad::<f32>,
        exact: gelu_tanh_grad::<f64>,
        root: Some((-1.0, -0.5)),
        tail: (-11.0, -9.0, 1),
    },
];

/// The case `name` over [`sweep`] and its tail: relative error below 1e-6, absolute error
/// below 1e-7 around the root.
fn check(name: &str) {
    let c = CASES.iter().find(|c| c.name == name).unwrap();
    let (lo, hi, step) = c.tail;
    let points = sweep().chain(every_f32(lo, hi).step_by(step));
    measure(c.name, c.fast, c.exact, c.root, points, 1e-6, 1e-7);
}

#[test]
fn expm1_f32_accuracy() {
    measure(
        "expm1",
        fastmath::expm1,
        f64::exp_m1,
        None,
        sweep().chain(
            every_f32(-0.5, -1e-30)
                .chain(every_f32(1e-30, 0.5))
                .step_by(61),
        ),
        1e-6,
        0.0,
    );
    assert_eq!(fastmath::expm1(0.0).to_bits(), 0.0f32.to_bits());
    assert_eq!(fastmath::expm1(-0.0).to_bits(), (-0.0f32).to_bits());
    assert_eq!(fastmath::expm1(f32::INFINITY), f32::INFINITY);
    assert_eq!(fastmath::expm1(f32::NEG_INFINITY), -1.0);
    assert!(fastmath::expm1(f32::NAN).is_nan());
}

#[test]
fn elu_f32_accuracy() {
    for alpha in [1.0f32, 1.673_263_2, 0.1] {
        let name = format!("elu(alpha = {alpha})");
        measure(
            &name,
            |x| elu(x, alpha),
            |x| elu(x, alpha as f64),
            None,
            sweep().chain(every_f32(-1e-3, -1e-30).step_by(101)),
            1e-6,
            0.0,
        );
    }
}

#[test]
fn softplus_f32_accuracy() {
    check("softplus");
}

#[test]
fn silu_f32_accuracy() {
    check("silu");
}

#[test]
fn silu_grad_f32_accuracy() {
    check("silu_grad");
}

#[test]
fn gelu_f32_accuracy() {
    check("gelu");
}

#[test]
fn gelu_grad_f32_accuracy() {
    check("gelu_grad");
}

#[test]
fn gelu_tanh_f32_accuracy() {
    check("gelu_tanh");
}

#[test]
fn gelu_tanh_grad_f32_accuracy() {
    check("gelu_tanh_grad");
}

/// Every `step`-th f32 bit pattern of both signs, subnormals to `f32::MAX`.
fn every_nth(step: usize) -> impl Iterator<Item = f32> {
    (0..0x7f80_0000u32)
        .step_by(step)
        .map(f32::from_bits)
        .flat_map(|x| [x, -x])
}

/// Every function on a fifth of all f32s (the maxima given in the rustdoc): about 5 minutes in
/// release mode, `cargo test --release -p rnn-runtime --test fastmath dense -- --ignored
/// --nocapture`.
#[test]
#[ignore = "slow: a fifth of all f32s, run in release mode"]
fn dense_f32_accuracy() {
    let points = || every_nth(5);
    measure(
        "expm1",
        fastmath::expm1,
        f64::exp_m1,
        None,
        points(),
        1e-6,
        0.0,
    );
    for c in &CASES {
        measure(c.name, c.fast, c.exact, c.root, points(), 1e-6, 1e-7);
    }
}
