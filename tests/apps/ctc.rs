//! The CTC example (`examples/ctc.rs`) with a tiny configuration: a bidirectional LSTM of 16
//! units each way, 200 batches of 16 strings at a lower noise than the default, must transcribe
//! 100 held-out digit strings with a label error rate of at most 10%, with either decoder.

#[path = "../../examples/ctc.rs"]
mod example;

use example::{run, Config};

#[test]
fn a_bidirectional_lstm_learns_to_transcribe_with_ctc() {
    for seed in [1, 2] {
        let cfg = Config {
            iterations: 200,
            batch: 16,
            hidden: 16,
            noise: 0.5,
            test: 100,
            seed,
            ..Config::default()
        };
        let o = run(&cfg).unwrap();
        assert!(
            o.greedy_ler <= 0.10 && o.beam_ler <= 0.10,
            "seed {seed}: label error rate {:.3} (best path), {:.3} (beam); test loss {:.4}",
            o.greedy_ler,
            o.beam_ler,
            o.test_loss
        );
    }
}
