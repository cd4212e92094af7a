//! The encoder–decoder example (`examples/seq2seq.rs`), trained tiny: one-digit addition
//! (100 possible problems, so the held-out set is not disjoint from training here) must be
//! decoded exactly for most problems.

#[path = "../../examples/seq2seq.rs"]
mod example;

#[test]
fn tiny_seq2seq_learns_one_digit_addition() {
    let cfg = example::Config {
        digits: 1,
        iterations: 300,
        batch: 32,
        embed: 8,
        hidden: 32,
        lr: 2e-2,
        test: 200,
        disjoint: false,
        ..example::Config::default()
    };
    let o = example::run(&cfg).unwrap();
    eprintln!(
        "tiny seq2seq: exact match {:.3}, characters {:.3}, {:.1} s; {:?}",
        o.accuracy, o.char_accuracy, o.seconds, o.examples
    );
    assert!(
        o.accuracy >= 0.8,
        "exact match {:.3}, expected at least 0.8",
        o.accuracy
    );
}
