//! `activation::{exp, sigmoid, tanh}` through the public generic API: the f32 approximations
//! against the exact functions evaluated in f64 at the same (f32) input, and f64 bit-exactness.
//! Run with `-- --nocapture` to see the measured errors.

use rnn_runtime::activation::{exp, sigmoid, tanh};

use crate::{assert_f64_is_std, exact_sigmoid};

/// Every 1e-4 over [-20, 20].
fn dense() -> impl Iterator<Item = f32> {
    (-200_000..=200_000).map(|i| (i as f64 * 1e-4) as f32)
}

/// Every 1e-3 over [-87, 88]: the whole range on which `exp` is specified.
fn exp_range() -> impl Iterator<Item = f32> {
    (-87_000..=88_000).map(|i| (i as f64 * 1e-3) as f32)
}

/// Every 997th positive finite f32 bit pattern (subnormals to f32::MAX), both signs.
fn all_magnitudes() -> impl Iterator<Item = f32> {
    (0..0x7f80_0000u32)
        .step_by(997)
        .map(f32::from_bits)
        .flat_map(|x| [x, -x])
}

const EXTREMES: [f32; 22] = [
    0.0,
    -0.0,
    1e-30,
    -1e-30,
    1e-8,
    -1e-8,
    f32::MIN_POSITIVE,
    -f32::MIN_POSITIVE,
    1e-45,
    -1e-45,
    0.3,
    -0.3,
    0.6,
    -0.6,
    87.0,
    -87.0,
    88.0,
    -88.0,
    1e4,
    -1e4,
    f32::MAX,
    f32::MIN,
];

/// The points of every accuracy sweep (here and in `smooth.rs`).
pub(crate) fn sweep() -> impl Iterator<Item = f32> {
    dense()
        .chain(exp_range())
        .chain(all_magnitudes())
        .chain(EXTREMES)
}

/// Largest error seen (relative, or absolute for [`Worst::absolute`]), and where.
pub(crate) struct Worst {
    name: &'static str,
    relative: bool,
    err: f64,
    at: f32,
    count: usize,
}

impl Worst {
    /// A tracker of the relative error.
    pub(crate) fn new(name: &'static str) -> Self {
        Worst {
            name,
            relative: true,
            err: 0.0,
            at: f32::NAN,
            count: 0,
        }
    }

    /// A tracker of the absolute error (where the exact result passes through 0).
    pub(crate) fn absolute(name: &'static str) -> Self {
        Worst {
            relative: false,
            ..Worst::new(name)
        }
    }

    pub(crate) fn add(&mut self, x: f32, approx: f32, exact: f64) {
        let err = if self.relative {
            assert!(exact != 0.0 && exact.is_finite(), "{}: at {x:e}", self.name);
            ((approx as f64 - exact) / exact).abs()
        } else {
            (approx as f64 - exact).abs()
        };
        assert!(!err.is_nan(), "{}: {approx} at {x:e}", self.name);
        self.count += 1;
        if err > self.err {
            self.err = err;
            self.at = x;
        }
    }

    pub(crate) fn report(&self, bound: f64) {
        println!(
            "{:<40} max {} error {:.3e} = {:.2} f32::EPSILON at x = {:e}  [{} points]",
            self.name,
            if self.relative { "rel" } else { "abs" },
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

#[test]
fn exp_f32_accuracy() {
    let mut range = Worst::new("exp f32 on [-87, 88]");
    for x in sweep() {
        let y = exp(x);
        assert!(y >= 0.0, "exp({x:e}) = {y}");
        if (-87.0..=88.0).contains(&x) {
            range.add(x, y, (x as f64).exp());
        }
    }
    range.report(1e-6);
    // The ends of the range behave as f32::exp (`range.rs` checks every f32 there).
    println!(
        "exp f32 at the extremes: exp(-1e4) = {:e}, exp(1e4) = {:e}, exp(+inf) = {:e}, exp(-inf) = {:e}",
        exp(-1e4f32),
        exp(1e4f32),
        exp(f32::INFINITY),
        exp(f32::NEG_INFINITY)
    );
    assert_eq!(exp(1e4f32), f32::INFINITY);
    assert_eq!(exp(-1e4f32), 0.0);
    assert_eq!(exp(0.0f32), 1.0);
    assert!(exp(f32::NAN).is_nan());
}

#[test]
fn sigmoid_f32_accuracy() {
    let mut all = Worst::new("sigmoid f32 where sigmoid > 1e-30");
    let mut neg = Worst::new("sigmoid f32 on [-69, 0)");
    let mut pos = Worst::new("sigmoid f32 on [0, inf)");
    for x in sweep() {
        let y = sigmoid(x);
        assert!((0.0..=1.0).contains(&y), "sigmoid({x:e}) = {y}");
        let e = exact_sigmoid(x as f64);
        if e > 1e-30 {
            all.add(x, y, e);
            if x < 0.0 {
                neg.add(x, y, e)
            } else {
                pos.add(x, y, e)
            }
        }
    }
    neg.report(1e-6);
    pos.report(1e-6);
    all.report(1e-6);
    println!(
        "sigmoid f32 at the extremes: sigmoid(-1e4) = {:e}, sigmoid(1e4) = {:e}, sigmoid(+-0) = {} {}",
        sigmoid(-1e4f32),
        sigmoid(1e4f32),
        sigmoid(0.0f32),
        sigmoid(-0.0f32)
    );
    assert_eq!(sigmoid(1e4f32), 1.0);
    assert_eq!(sigmoid(f32::INFINITY), 1.0);
    assert!(sigmoid(-1e4f32) >= 0.0 && sigmoid(-1e4f32) < 1e-30);
    assert!(sigmoid(f32::NEG_INFINITY) >= 0.0 && sigmoid(f32::NEG_INFINITY) < 1e-30);
    assert_eq!(sigmoid(0.0f32), 0.5);
    assert!(sigmoid(f32::NAN).is_nan());
}

#[test]
fn tanh_f32_accuracy() {
    let mut tiny = Worst::new("tanh f32 on 0 < |x| < 1e-30");
    let mut small = Worst::new("tanh f32 on 1e-30 <= |x| < 0.3");
    let mut mid = Worst::new("tanh f32 on 0.3 <= |x| < 1");
    let mut large = Worst::new("tanh f32 on |x| >= 1");
    for x in sweep() {
        let y = tanh(x);
        assert_eq!(tanh(-x).to_bits(), (-y).to_bits(), "odd at {x:e}");
        assert!(y.abs() <= 1.0, "tanh({x:e}) = {y}");
        let a = x.abs();
        if a == 0.0 {
            assert_eq!(y.to_bits(), x.to_bits(), "tanh(±0) = ±0");
            continue;
        }
        let e = (x as f64).tanh();
        if a < 1e-30 {
            // tanh(x) = x to far below f32 precision: the result must be x itself (1 ulp slack).
            let ulps = (y.to_bits() as i64 - x.to_bits() as i64).abs();
            assert!(ulps <= 1, "tanh({x:e}) = {y:e}");
            tiny.add(x, y, e);
        } else if a < 0.3 {
            small.add(x, y, e);
        } else if a < 1.0 {
            mid.add(x, y, e);
        } else {
            large.add(x, y, e);
        }
    }
    tiny.report(1e-6);
    small.report(1e-6);
    mid.report(1e-6);
    large.report(1e-6);
    let first_one = dense().filter(|&x| x > 0.0).find(|&x| tanh(x) == 1.0);
    println!("tanh f32 is exactly 1 from x = {first_one:?} on (in the 1e-4 sweep)");
    assert_eq!(tanh(1e4f32), 1.0);
    assert_eq!(tanh(-1e4f32), -1.0);
    assert_eq!(tanh(f32::INFINITY), 1.0);
    assert_eq!(tanh(f32::NEG_INFINITY), -1.0);
    assert_eq!(tanh(1e-30f32), 1e-30);
    assert_eq!(tanh(-1e-30f32), -1e-30);
    assert!(tanh(f32::NAN).is_nan());
}

#[test]
fn f64_is_exact() {
    for x in sweep()
        .map(f64::from)
        .chain([1e-300, -1e-300, 700.0, -745.0, 1e300])
    {
        assert_f64_is_std(x);
    }
    assert!(exp(f64::NAN).is_nan() && sigmoid(f64::NAN).is_nan() && tanh(f64::NAN).is_nan());
}
