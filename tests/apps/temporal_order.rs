//! The temporal order example (`examples/temporal_order.rs`) with a tiny configuration: an LSTM
//! of 16 units, 200 batches, sequences cut after 60 symbols (both relevant symbols kept), must
//! classify at least 90% of 256 fresh sequences (chance: 25%).

#[path = "../../examples/temporal_order.rs"]
mod example;

use example::{run, Config, Kind};

fn tiny(seed: u64) -> Config {
    Config {
        iterations: 200,
        hidden: 16,
        test: 256,
        truncate: Some(60),
        seed,
        ..Config::default()
    }
}

#[test]
fn lstm_learns_the_temporal_order() {
    for seed in [1, 2] {
        let outcome = run(Kind::Lstm, &tiny(seed)).unwrap();
        assert!(
            outcome.accuracy >= 0.9,
            "seed {seed}: accuracy {:.3} (paper's criterion {:.3}, test loss {:.4})",
            outcome.accuracy,
            outcome.paper,
            outcome.test_loss
        );
    }
}
