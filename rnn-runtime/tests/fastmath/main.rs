//! The fast f32 activations (`exp`, `sigmoid`, `tanh`) against exact references: accuracy over
//! the whole f32 range, and the standard library's behaviour at its ends. Their speed is a
//! benchmark: `cargo run --release -p rnn-bench --example activation_rate`.
//!
//! Run with `cargo test -p rnn-runtime --test fastmath -- --nocapture` to see the measured
//! errors.

mod accuracy;
mod range;

/// The logistic function in f64, in its stable form (no overflow of `e^-x`).
fn exact_sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}
