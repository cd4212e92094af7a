//! The character-level language model example (`examples/char_lm.rs`), trained tiny: a
//! one-layer LSTM on the first 12 KB of the default corpus must predict held-out text clearly
//! better than the best context-free (unigram) model.

#[path = "../../examples/char_lm.rs"]
mod example;

#[test]
fn tiny_char_lm_beats_the_unigram_entropy() {
    let cfg = example::Config {
        epochs: 8,
        streams: 8,
        chunk: 32,
        embed: 16,
        hidden: 64,
        layers: 1,
        dropout: 0.0,
        lr: 1e-2,
        max_bytes: Some(12 * 1024),
        sample: 40,
        eval_every_epoch: false,
        ..example::Config::default()
    };
    let text = example::default_corpus();
    let o = example::run(&text, &cfg).unwrap();
    eprintln!(
        "tiny char LM: held-out {:.3} bpc, unigram entropy {:.3}, {} steps in {:.1} s; sample {:?}",
        o.bpc, o.unigram_bits, o.steps, o.seconds, o.sample
    );
    assert!(o.bpc.is_finite());
    assert!(
        o.bpc <= 0.8 * o.unigram_bits,
        "held-out {:.3} bpc, expected at most 80% of the unigram entropy {:.3}",
        o.bpc,
        o.unigram_bits
    );
    assert_eq!(o.sample.chars().count(), "The ".len() + 40);
}
