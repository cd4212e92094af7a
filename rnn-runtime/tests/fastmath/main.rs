//! The fast f32 activations (`exp`, `sigmoid`, `tanh`; `softplus`, `silu`, `gelu`, `gelu_tanh`,
//! `elu` and their derivatives in `smooth`) against exact references: accuracy over the whole
//! f32 range, and the standard library's behaviour at its ends. Their speed is a benchmark:
//! `cargo run --release -p rnn-bench --example activation_rate` (and `function_rate`).
//!
//! Run with `cargo test -p rnn-runtime --test fastmath -- --nocapture` to see the measured
//! errors.

mod accuracy;
mod range;
mod smooth;

use rnn_runtime::activation::{exp, sigmoid, tanh};

/// The logistic function in f64, in its stable form (no overflow of `e^-x`).
fn exact_sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// In f64 the activations are the standard library's functions, to the bit (sigmoid: its stable
/// form).
fn assert_f64_is_std(x: f64) {
    assert_eq!(exp(x).to_bits(), x.exp().to_bits(), "exp({x:e})");
    assert_eq!(tanh(x).to_bits(), x.tanh().to_bits(), "tanh({x:e})");
    assert_eq!(
        sigmoid(x).to_bits(),
        exact_sigmoid(x).to_bits(),
        "sigmoid({x:e})"
    );
}
