//! The adding-problem example, trained small: the LSTM solves a short version (T = 22).

#[path = "../../examples/adding_problem.rs"]
mod example;

use example::{run, Config, Kind};

#[test]
fn lstm_solves_a_short_adding_problem() {
    let cfg = Config {
        t: 22,
        iterations: 600,
        batch: 32,
        hidden: 16,
        test: 512,
        ..Config::default()
    };
    let outcome = run(Kind::Lstm, &cfg).unwrap();
    assert!(
        outcome.solved >= 0.9,
        "LSTM solved {:.1}% of the test sequences (mean |error| {:.4})",
        100.0 * outcome.solved,
        outcome.mean_abs_error
    );
    assert!(!outcome.curve.is_empty());
}
