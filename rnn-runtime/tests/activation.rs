//! The activations and derivative helpers of `rnn_runtime::activation` beyond `exp`, `sigmoid`
//! and `tanh` (whose f32 accuracy is `tests/fastmath/`): values at the special points (±0, ±inf,
//! NaN, the kinks, huge and tiny arguments) in f32 and f64, the f64 versions against
//! independent formulas, and every derivative helper against central differences of its forward
//! function in f64.

use rnn_runtime::activation::{
    abs, clamp, clamp_grad, elu, elu_grad, gelu, gelu_grad, gelu_tanh, gelu_tanh_grad, leaky_relu,
    leaky_relu_grad, maximum, minimum, pow, sign, silu, silu_grad, softplus, square, tie_step,
};
use rnn_runtime::Float;

/// `a` and `b` are the same float, to the bit (so `+0` is not `-0`), or both NaN.
fn same<F: Float>(a: F, b: F) -> bool {
    (a.is_nan() && b.is_nan()) || (a == b && a.is_sign_negative() == b.is_sign_negative())
}

macro_rules! assert_same {
    ($got:expr, $want:expr) => {{
        let (got, want) = ($got, $want);
        assert!(
            same(got, want),
            "{} = {got:e}, expected {want:e}",
            stringify!($got)
        );
    }};
}

/// `got` within `rel` of `want` (relative).
fn assert_close<F: Float>(what: &str, got: F, want: f64, rel: f64) {
    let got = got.to_f64();
    assert!(
        (got - want).abs() <= rel * want.abs(),
        "{what} = {got:e}, expected {want:e}"
    );
}

fn f<F: Float>(v: f64) -> F {
    F::from_f64(v)
}

/// The special points of every function, for f32 and f64 alike (`eps`: the relative tolerance
/// of the approximate values).
fn special_points<F: Float + std::fmt::LowerExp>(eps: f64) {
    let (zero, nzero, one) = (F::zero(), -F::zero(), F::one());
    let (inf, ninf, nan) = (F::infinity(), F::neg_infinity(), F::nan());
    let (max, min) = (F::max_value(), F::min_value());
    let tiny: F = f(1e-30);

    // softplus
    assert_close("softplus(0)", softplus(zero), std::f64::consts::LN_2, eps);
    assert_close("softplus(-0)", softplus(nzero), std::f64::consts::LN_2, eps);
    assert_close(
        "softplus(1e-30)",
        softplus(tiny),
        std::f64::consts::LN_2,
        eps,
    );
    assert_same!(softplus(inf), inf);
    assert_same!(softplus(ninf), zero);
    assert_same!(softplus(max), max);
    assert_same!(softplus(min), zero);
    assert_same!(softplus(f::<F>(100.0)), f(100.0));
    assert_close(
        "softplus(-80)",
        softplus(f::<F>(-80.0)),
        (-80f64).exp(),
        eps,
    );
    assert!(softplus(nan).is_nan());

    // silu
    assert_same!(silu(zero), zero);
    assert_same!(silu(nzero), nzero);
    assert_same!(silu(tiny), f(5e-31));
    assert_same!(silu(-tiny), f(-5e-31));
    assert_same!(silu(inf), inf);
    assert_same!(silu(ninf), nzero);
    assert_same!(silu(max), max);
    assert_same!(silu(min), nzero);
    assert_close(
        "silu(-80)",
        silu(f::<F>(-80.0)),
        -80.0 * (-80f64).exp(),
        3.0 * eps,
    );
    assert!(silu(nan).is_nan());

    // gelu
    assert_same!(gelu(zero), zero);
    assert_same!(gelu(nzero), nzero);
    assert_close("gelu(1e-30)", gelu(tiny), 5e-31, eps);
    assert_close("gelu(-1e-30)", gelu(-tiny), -5e-31, eps);
    assert_same!(gelu(inf), inf);
    assert_same!(gelu(ninf), nzero);
    assert_same!(gelu(max), max);
    assert_same!(gelu(min), nzero);
    assert_same!(gelu(f::<F>(10.0)), f(10.0));
    assert_same!(gelu(f::<F>(-100.0)), nzero);
    // -12 Phi(-12) = -12 erfc(12 / sqrt 2) / 2.
    let want = -6.0 * libm::erfc(12.0 / std::f64::consts::SQRT_2);
    assert_close("gelu(-12)", gelu(f::<F>(-12.0)), want, 5.0 * eps);
    assert!(gelu(nan).is_nan());

    // gelu_tanh
    assert_same!(gelu_tanh(zero), zero);
    assert_same!(gelu_tanh(nzero), nzero);
    assert_close("gelu_tanh(1e-30)", gelu_tanh(tiny), 5e-31, eps);
    assert_close("gelu_tanh(-1e-30)", gelu_tanh(-tiny), -5e-31, eps);
    assert_same!(gelu_tanh(inf), inf);
    assert_same!(gelu_tanh(ninf), nzero);
    assert_same!(gelu_tanh(max), max);
    assert_same!(gelu_tanh(min), nzero);
    assert_same!(gelu_tanh(f::<F>(10.0)), f(10.0));
    assert_same!(gelu_tanh(f::<F>(-100.0)), nzero);
    assert!(gelu_tanh(nan).is_nan());

    // elu
    for alpha in [one, f(0.5)] {
        assert_same!(elu(zero, alpha), zero);
        assert_same!(elu(nzero, alpha), nzero);
        assert_same!(elu(tiny, alpha), tiny);
        assert_same!(elu(inf, alpha), inf);
        assert_same!(elu(ninf, alpha), -alpha);
        assert_same!(elu(min, alpha), -alpha);
        assert!(elu(nan, alpha).is_nan());
        let a = alpha.to_f64();
        assert_close(
            "elu(-1e-4)",
            elu(f::<F>(-1e-4), alpha),
            a * (-1e-4f64).exp_m1(),
            eps,
        );
        assert_close("elu(-1e-30)", elu(-tiny, alpha), -a * 1e-30, eps);
        assert_close(
            "elu(-3)",
            elu(f::<F>(-3.0), alpha),
            a * (-3f64).exp_m1(),
            eps,
        );
    }

    // leaky_relu
    let slope: F = f(0.01);
    assert_same!(leaky_relu(f::<F>(2.0), slope), f(2.0));
    assert_same!(leaky_relu(f::<F>(-2.0), slope), f(-0.02));
    assert_same!(leaky_relu(zero, slope), zero);
    assert_same!(leaky_relu(nzero, slope), nzero);
    assert_same!(leaky_relu(inf, slope), inf);
    assert_same!(leaky_relu(ninf, slope), ninf);
    assert!(leaky_relu(nan, slope).is_nan());

    // abs, square
    assert_same!(abs(nzero), zero);
    assert_same!(abs(f::<F>(-2.5)), f(2.5));
    assert_same!(abs(ninf), inf);
    assert!(abs(nan).is_nan());
    assert_same!(square(f::<F>(-3.0)), f(9.0));
    assert_same!(square(nzero), zero);
    assert_same!(square(ninf), inf);
    assert_same!(square(max), inf);
    assert!(square(nan).is_nan());

    // pow
    assert_same!(pow(f::<F>(2.0), f(3.0)), f(8.0));
    assert_same!(pow(f::<F>(-2.0), f(3.0)), f(-8.0));
    assert_same!(pow(f::<F>(-2.0), f(-2.0)), f(0.25));
    assert_same!(pow(f::<F>(2.0), f(64.0)), f(18_446_744_073_709_551_616.0));
    assert_same!(pow(f::<F>(2.0), f(65.0)), f(36_893_488_147_419_103_232.0));
    assert_same!(pow(f::<F>(4.0), f(0.5)), f(2.0));
    assert_same!(pow(f::<F>(4.0), f(-1.5)), f(0.125));
    for x in [zero, nzero, inf, ninf, nan, f(-3.0)] {
        assert_same!(pow(x, zero), one);
    }
    assert_same!(pow(zero, -one), inf);
    assert_same!(pow(nzero, -one), ninf);
    assert_same!(pow(nzero, f(-2.0)), inf);
    assert_same!(pow(nzero, f(3.0)), nzero);
    assert!(pow(f::<F>(-8.0), f(1.0 / 3.0)).is_nan());
    assert!(pow(nan, f(2.0)).is_nan() && pow(nan, f(0.5)).is_nan());
    // 1.1^64 and 1.1^-37 within rounding of the exact values (powi in the input's precision
    // would lose up to |k| ulps).
    let x: F = f(1.1);
    let xd = x.to_f64();
    assert_close("pow(1.1, 64)", pow(x, f(64.0)), xd.powf(64.0), eps);
    assert_close("pow(1.1, -37)", pow(x, f(-37.0)), xd.powf(-37.0), eps);

    // clamp
    let (lo, hi): (F, F) = (f(-1.0), f(2.0));
    assert_same!(clamp(f::<F>(5.0), lo, hi), hi);
    assert_same!(clamp(f::<F>(-5.0), lo, hi), lo);
    assert_same!(clamp(f::<F>(0.5), lo, hi), f(0.5));
    assert_same!(clamp(inf, lo, hi), hi);
    assert_same!(clamp(ninf, lo, hi), lo);
    assert_same!(clamp(f::<F>(5.0), lo, inf), f(5.0));
    assert_same!(clamp(f::<F>(-5.0), ninf, hi), f(-5.0));
    assert_same!(clamp(nzero, zero, hi), nzero);
    assert!(clamp(nan, lo, hi).is_nan());

    // maximum, minimum
    assert_same!(maximum(one, f(2.0)), f(2.0));
    assert_same!(maximum(f::<F>(2.0), one), f(2.0));
    assert_same!(minimum(one, f(2.0)), one);
    assert_same!(minimum(f::<F>(2.0), one), one);
    assert_same!(maximum(nzero, zero), nzero);
    assert_same!(minimum(zero, nzero), zero);
    assert_same!(maximum(ninf, one), one);
    assert_same!(minimum(inf, one), one);
    for (a, b) in [(nan, one), (one, nan), (nan, nan), (nan, inf), (ninf, nan)] {
        assert!(maximum(a, b).is_nan() && minimum(a, b).is_nan());
    }

    // silu_grad, gelu_grad, gelu_tanh_grad
    for (name, g) in [
        ("silu_grad", silu_grad::<F> as fn(F) -> F),
        ("gelu_grad", gelu_grad::<F>),
        ("gelu_tanh_grad", gelu_tanh_grad::<F>),
    ] {
        assert_close(&format!("{name}(0)"), g(zero), 0.5, eps);
        assert_close(&format!("{name}(-0)"), g(nzero), 0.5, eps);
        assert_close(&format!("{name}(1e-30)"), g(tiny), 0.5, eps);
        for x in [f(1000.0), max, inf] {
            assert_same!(g(x), one);
        }
        for x in [f(-1000.0), min, ninf] {
            assert!(g(x) == zero, "{name}({x:e}) = {:e}", g(x));
            if name != "gelu_grad" {
                assert_same!(g(x), nzero);
            }
        }
        assert!(g(nan).is_nan(), "{name}(NaN)");
    }

    // elu_grad
    let alpha: F = f(0.7);
    assert_same!(elu_grad(f::<F>(2.0), f(2.0), alpha), one);
    assert_same!(elu_grad(zero, elu(zero, alpha), alpha), alpha);
    assert_same!(elu_grad(nzero, elu(nzero, alpha), alpha), alpha);
    assert_same!(elu_grad(inf, inf, alpha), one);
    assert_same!(elu_grad(ninf, elu(ninf, alpha), alpha), zero);
    let x: F = f(-1.5);
    assert_close(
        "elu_grad(-1.5)",
        elu_grad(x, elu(x, alpha), alpha),
        0.7 * (-1.5f64).exp(),
        10.0 * eps,
    );
    assert!(elu_grad(nan, elu(nan, alpha), alpha).is_nan());

    // leaky_relu_grad
    assert_same!(leaky_relu_grad(tiny, slope), one);
    assert_same!(leaky_relu_grad(zero, slope), slope);
    assert_same!(leaky_relu_grad(nzero, slope), slope);
    assert_same!(leaky_relu_grad(-tiny, slope), slope);
    assert_same!(leaky_relu_grad(inf, slope), one);
    assert_same!(leaky_relu_grad(ninf, slope), slope);
    assert!(leaky_relu_grad(nan, slope).is_nan());

    // sign
    assert_same!(sign(zero), zero);
    assert_same!(sign(nzero), zero);
    assert_same!(sign(tiny), one);
    assert_same!(sign(-tiny), -one);
    assert_same!(sign(F::min_positive_value() / f(4.0)), one);
    assert_same!(sign(inf), one);
    assert_same!(sign(ninf), -one);
    assert!(sign(nan).is_nan());

    // clamp_grad
    for x in [lo, hi, zero, nzero, f(1.5)] {
        assert_same!(clamp_grad(x, lo, hi), one);
    }
    for x in [f(-1.0001), f(2.0001), inf, ninf] {
        assert_same!(clamp_grad(x, lo, hi), zero);
    }
    assert_same!(clamp_grad(f::<F>(3.0), lo, inf), one);
    assert_same!(clamp_grad(one, one, one), one);
    assert!(clamp_grad(nan, lo, hi).is_nan());

    // tie_step
    let half: F = f(0.5);
    assert_same!(tie_step(zero), half);
    assert_same!(tie_step(nzero), half);
    assert_same!(tie_step(tiny), one);
    assert_same!(tie_step(-tiny), zero);
    assert_same!(tie_step(inf), one);
    assert_same!(tie_step(ninf), zero);
    assert!(tie_step(nan).is_nan());
    // maximum(a, b) with a = b: each argument gets half of the gradient.
    let (a, b): (F, F) = (f(3.0), f(3.0));
    assert_same!(tie_step(a - b) + tie_step(b - a), one);
    // Two equal infinities: a - b is NaN.
    assert!(tie_step(inf - F::infinity()).is_nan());
}

#[test]
fn special_points_f32() {
    special_points::<f32>(1e-6);
}

#[test]
fn special_points_f64() {
    special_points::<f64>(1e-14);
}

/// Points spread over the interesting range, none on a kink (0, the clamp bounds -1 and 2, the
/// other argument 0.5 of maximum/minimum).
const POINTS: [f64; 22] = [
    -9.3, -7.1, -4.2, -2.6, -1.7, -1.28, -1.2, -0.8, -0.75, -0.45, -0.13, -0.01, 0.02, 0.3, 0.77,
    1.4, 1.9, 2.2, 3.9, 6.1, 11.0, 27.0,
];

/// `grad` agrees with the central difference of `fwd` at `x` (f64): with the step
/// `h = 1e-5 max(1, |x|)`, the truncation error (`h^2 f''' / 6`) and the rounding error
/// (`eps |f| / h`, below 3e-10 here) are far below the tolerance.
fn assert_derivative(name: &str, fwd: impl Fn(f64) -> f64, grad: impl Fn(f64) -> f64, x: f64) {
    let h = 1e-5 * x.abs().max(1.0);
    let fd = (fwd(x + h) - fwd(x - h)) / (2.0 * h);
    let g = grad(x);
    assert!(
        (fd - g).abs() <= 1e-8 * (1.0 + g.abs()),
        "{name}'({x}) = {g:e}, central difference {fd:e}"
    );
}

#[test]
fn derivatives_match_central_differences() {
    for x in POINTS {
        assert_derivative("silu", silu, silu_grad, x);
        assert_derivative("gelu", gelu, gelu_grad, x);
        assert_derivative("gelu_tanh", gelu_tanh, gelu_tanh_grad, x);
        assert_derivative("abs", abs, sign, x);
        for alpha in [1.0, 0.3, 1.673_263_242_354_377_3] {
            assert_derivative(
                "elu",
                |x| elu(x, alpha),
                |x| elu_grad(x, elu(x, alpha), alpha),
                x,
            );
        }
        for slope in [0.01, 0.2, -0.5] {
            assert_derivative(
                "leaky_relu",
                |x| leaky_relu(x, slope),
                |x| leaky_relu_grad(x, slope),
                x,
            );
        }
        let (lo, hi) = (-1.0, 2.0);
        assert_derivative("clamp", |x| clamp(x, lo, hi), |x| clamp_grad(x, lo, hi), x);
        let b = 0.5;
        assert_derivative("maximum (a)", |a| maximum(a, b), |a| tie_step(a - b), x);
        assert_derivative("maximum (b)", |b| maximum(x, b), |b| tie_step(b - x), b);
        assert_derivative("minimum (a)", |a| minimum(a, b), |a| tie_step(b - a), x);
        assert_derivative("minimum (b)", |b| minimum(x, b), |b| tie_step(x - b), b);
    }
}

/// The f64 versions against independent (textbook, or PyTorch's literal) formulas where those
/// are accurate.
#[test]
fn f64_versions_match_the_textbook_formulas() {
    let beta = (2.0 / std::f64::consts::PI).sqrt();
    let phi = |x: f64| (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
    let erf_cdf = |x: f64| 0.5 * (1.0 + libm::erf(x / std::f64::consts::SQRT_2));
    let sigmoid = |x: f64| 1.0 / (1.0 + (-x).exp());
    let dense = (-4000..=4000).map(|i| i as f64 * 1e-3);
    for x in dense.chain(POINTS) {
        assert_close("softplus", softplus(x), x.exp().ln_1p(), 1e-14);
        assert_close("silu", silu(x), x * sigmoid(x), 1e-14);
        let s = sigmoid(x);
        let g = s * (1.0 + x * (1.0 - s));
        assert_close("silu_grad", silu_grad(x), g, 1e-13 / g.abs().min(1.0));
        assert_close(
            "elu",
            elu(x, 1.3),
            if x > 0.0 { x } else { 1.3 * x.exp_m1() },
            0.0,
        );
        // PyTorch's formulas cancel for negative x: compared where they do not (much).
        if x > -2.5 {
            assert_close("gelu", gelu(x), x * erf_cdf(x), 1e-13);
            let g = erf_cdf(x) + x * phi(x);
            assert_close("gelu_grad", gelu_grad(x), g, 1e-12 / g.abs().min(1.0));
            let u = beta * (x + 0.044_715 * x * x * x);
            let t = u.tanh();
            assert_close("gelu_tanh", gelu_tanh(x), 0.5 * x * (1.0 + t), 1e-13);
            let du = beta * (1.0 + 3.0 * 0.044_715 * x * x);
            let g = 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du;
            assert_close(
                "gelu_tanh_grad",
                gelu_tanh_grad(x),
                g,
                1e-12 / g.abs().min(1.0),
            );
        }
    }
    // The deep tails, where the results are tiny but normal: relative accuracy kept.
    let x = -700.0f64;
    let e = (x / 2.0).exp();
    assert_close("silu(-700)", silu(x), x * e * e, 1e-13);
    assert_close("silu_grad(-700)", silu_grad(x), e * e * (1.0 + x), 1e-13);
    assert_close("softplus(-700)", softplus(x), x.exp(), 1e-14);
    // gelu(-37) = -37/2 erfc(37 / sqrt 2): the rounding of x / sqrt 2 costs up to x^2 2^-53.
    let want = -18.5 * libm::erfc(37.0 / std::f64::consts::SQRT_2);
    assert_close("gelu(-37)", gelu(-37.0f64), want, 2e-13);
    // PyTorch's softplus switches to x above 20: the difference is below 2.1e-9.
    assert!(softplus(20.0f64) - 20.0 < 2.1e-9);
}
