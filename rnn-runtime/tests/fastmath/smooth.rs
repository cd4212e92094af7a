//! The f32 versions of `activation::{softplus, silu, gelu, gelu_tanh, elu}` and of the
//! derivatives with a fast path (`silu_grad`, `gelu_grad`, `gelu_tanh_grad`) against their f64
//! versions (exact) at the same f32 input, over the whole f32 range: relative error wherever the
//! exact result is a normal f32, absolute error in a window around the root of a derivative
//! (where the result passes through 0 and only the absolute error can be small), and within two
//! subnormal steps (plus the relative bound) where the exact result is subnormal or 0. Run with
//! `-- --nocapture` to see the measured errors.

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

/// Largest absolute error seen, and where.
struct WorstAbs {
    name: &'static str,
    err: f64,
    at: f32,
    count: usize,
}

impl WorstAbs {
    fn new(name: &'static str) -> Self {
        WorstAbs {
            name,
            err: 0.0,
            at: f32::NAN,
            count: 0,
        }
    }

    fn add(&mut self, x: f32, approx: f32, exact: f64) {
        let err = (approx as f64 - exact).abs();
        assert!(!err.is_nan(), "{}: {approx} at {x:e}", self.name);
        self.count += 1;
        if err > self.err {
            self.err = err;
            self.at = x;
        }
    }

    fn report(&self, bound: f64) {
        println!(
            "{:<40} max abs error {:.3e} = {:.2} f32::EPSILON at x = {:e}  [{} points]",
            self.name,
            self.err,
            self.err / f32::EPSILON as f64,
            self.at,
            self.count
        );
        assert!(
            self.err < bound,
            "{}: {:e} at {:e}",
            self.name,
            self.err,
            self.at
        );
    }
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// Measures `fast` against `exact` over [`sweep`] and `tail`: relative error for x < 0 and
/// x >= 0 (bounded by `rel`), absolute error on `root` (bounded by `abs`), and the results that
/// are not normal f32s.
fn measure(
    name: &str,
    fast: impl Fn(f32) -> f32,
    exact: impl Fn(f64) -> f64,
    root: Option<(f32, f32)>,
    tail: impl Iterator<Item = f32>,
    rel: f64,
    abs: f64,
) {
    let mut neg = Worst::new(leak(format!("{name} f32 on x < 0")));
    let mut pos = Worst::new(leak(format!("{name} f32 on x >= 0")));
    let mut near_root = root.map(|(lo, hi)| {
        WorstAbs::new(leak(format!("{name} f32 on [{lo}, {hi}] (root; absolute)")))
    });
    let (mut below_normal, mut below_normal_steps) = (0usize, 0.0f64);
    for x in sweep().chain(tail) {
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

#[test]
fn expm1_f32_accuracy() {
    measure(
        "expm1",
        fastmath::expm1,
        f64::exp_m1,
        None,
        every_f32(-0.5, -1e-30)
            .chain(every_f32(1e-30, 0.5))
            .step_by(61),
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
            every_f32(-1e-3, -1e-30).step_by(101),
            1e-6,
            0.0,
        );
    }
}

#[test]
fn softplus_f32_accuracy() {
    measure(
        "softplus",
        softplus::<f32>,
        softplus::<f64>,
        None,
        every_f32(-105.0, -86.0).step_by(3),
        1e-6,
        0.0,
    );
}

#[test]
fn silu_f32_accuracy() {
    measure(
        "silu",
        silu::<f32>,
        silu::<f64>,
        None,
        every_f32(-110.0, -85.0).step_by(3),
        1e-6,
        0.0,
    );
}

#[test]
fn silu_grad_f32_accuracy() {
    measure(
        "silu_grad",
        silu_grad::<f32>,
        silu_grad::<f64>,
        Some((-1.53, -1.03)),
        every_f32(-110.0, -85.0).step_by(3),
        1e-6,
        1e-7,
    );
}

#[test]
fn gelu_f32_accuracy() {
    measure(
        "gelu",
        gelu::<f32>,
        gelu::<f64>,
        None,
        every_f32(-14.5, -12.0),
        1e-6,
        0.0,
    );
}

#[test]
fn gelu_grad_f32_accuracy() {
    measure(
        "gelu_grad",
        gelu_grad::<f32>,
        gelu_grad::<f64>,
        Some((-1.0, -0.5)),
        every_f32(-14.5, -12.0),
        1e-6,
        1e-7,
    );
}

#[test]
fn gelu_tanh_f32_accuracy() {
    measure(
        "gelu_tanh",
        gelu_tanh::<f32>,
        gelu_tanh::<f64>,
        None,
        every_f32(-11.0, -9.0),
        1e-6,
        0.0,
    );
}

#[test]
fn gelu_tanh_grad_f32_accuracy() {
    measure(
        "gelu_tanh_grad",
        gelu_tanh_grad::<f32>,
        gelu_tanh_grad::<f64>,
        Some((-1.0, -0.5)),
        every_f32(-11.0, -9.0),
        1e-6,
        1e-7,
    );
}
