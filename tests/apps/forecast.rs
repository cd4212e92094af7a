//! The forecast example, trained small: both models beat the persistence baseline by 2x.

#[path = "../../examples/forecast.rs"]
mod example;

use example::{run, Config, Kind};

#[test]
fn narx_and_lstm_beat_persistence_twice_over() {
    let cfg = Config {
        train_len: 2000,
        test_len: 500,
        epochs: 400,
        hidden: 16,
        ..Config::default()
    };
    for kind in [Kind::Narx, Kind::Lstm] {
        let o = run(kind, &cfg).unwrap();
        assert!(
            o.persistence / o.nrmse >= 2.0,
            "{}: NRMSE {:.4} vs persistence {:.4}",
            kind.name(),
            o.nrmse,
            o.persistence
        );
    }
}
