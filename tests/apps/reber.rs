//! The embedded Reber example (`examples/reber.rs`) with a tiny configuration: an LSTM of 16
//! units trained for 60 epochs on 256 strings must solve at least 80% of 256 test strings
//! (every step's top-k outputs are the k symbols the grammar allows; the penultimate symbol
//! alone is a coin flip without the long-range memory) and generate mostly grammatical strings.

#[path = "../../examples/reber.rs"]
mod example;

use example::{run, Config, Kind};

fn tiny(seed: u64) -> Config {
    Config {
        epochs: 60,
        hidden: 16,
        generate: 200,
        seed,
        ..Config::default()
    }
}

#[test]
fn lstm_predicts_the_embedded_reber_grammar() {
    for seed in [1, 2] {
        let o = run(Kind::Lstm, &tiny(seed)).unwrap();
        assert!(
            o.solved >= 0.8,
            "seed {seed}: solved {:.3} (steps {:.4}, penultimate {:.3})",
            o.solved,
            o.steps,
            o.penultimate
        );
        assert!(
            o.accepted >= 0.6,
            "seed {seed}: generated strings accepted {:.3}; samples {:?}",
            o.accepted,
            o.samples
        );
    }
}

#[test]
fn top_k_criterion() {
    use example::top_k_is_allowed;
    let allowed = [false, true, true, false, false, false, false];
    assert!(top_k_is_allowed(
        &[0.0, 2.0, 1.0, 0.5, 0.0, 0.0, 0.0],
        &allowed
    ));
    assert!(!top_k_is_allowed(
        &[0.0, 2.0, 0.4, 0.5, 0.0, 0.0, 0.0],
        &allowed
    ));
    assert!(!top_k_is_allowed(
        &[0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0],
        &allowed
    ));
    assert!(!top_k_is_allowed(&[0.0; 7], &[false; 7]));
}
