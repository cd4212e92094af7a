//! The f32 activations against the exact functions evaluated in f64.

use rnn_runtime::fastmath;

fn sweep() -> impl Iterator<Item = f32> {
    let dense = (-200_000..=200_000).map(|i| i as f32 * 1e-4);
    let extremes = [
        0.0, -0.0, 1e-30, -1e-30, 1e-8, -1e-8, 30.0, -30.0, 87.0, -87.0, 88.0, 1e4, -1e4,
    ];
    dense.chain(extremes)
}

fn rel(approx: f32, exact: f64) -> f64 {
    if exact == 0.0 {
        (approx as f64).abs()
    } else {
        ((approx as f64 - exact) / exact).abs()
    }
}

#[test]
fn exp_is_accurate_on_its_range() {
    let mut worst: f64 = 0.0;
    for x in sweep().filter(|x| (-87.0..=88.0).contains(x)) {
        worst = worst.max(rel(fastmath::exp(x), (x as f64).exp()));
    }
    println!("exp: max relative error {worst:.3e}");
    assert!(worst < 1e-6, "{worst}");
    assert_eq!(fastmath::exp(1e4), f32::INFINITY);
    assert_eq!(fastmath::exp(-1e4), 0.0);
    assert!(fastmath::exp(f32::NAN).is_nan());
}

#[test]
fn sigmoid_is_accurate() {
    let mut worst: f64 = 0.0;
    for x in sweep() {
        let exact = 1.0 / (1.0 + (-(x as f64)).exp());
        if exact > 1e-30 {
            worst = worst.max(rel(fastmath::sigmoid(x), exact));
        }
    }
    println!("sigmoid: max relative error {worst:.3e}");
    assert!(worst < 1e-6, "{worst}");
    assert_eq!(fastmath::sigmoid(1e4), 1.0);
    assert!(fastmath::sigmoid(-1e4) >= 0.0 && fastmath::sigmoid(-1e4) < 1e-30);
}

#[test]
fn tanh_is_accurate_and_odd() {
    let mut worst: f64 = 0.0;
    for x in sweep() {
        worst = worst.max(rel(fastmath::tanh(x), (x as f64).tanh()));
        assert_eq!(fastmath::tanh(-x), -fastmath::tanh(x));
    }
    println!("tanh: max relative error {worst:.3e}");
    assert!(worst < 1e-6, "{worst}");
    assert_eq!(fastmath::tanh(1e4), 1.0);
    assert_eq!(fastmath::tanh(-1e4), -1.0);
    assert_eq!(fastmath::tanh(1e-30), 1e-30);
    assert!(fastmath::tanh(f32::NAN).is_nan());
}
