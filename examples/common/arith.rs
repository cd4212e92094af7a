//! Addition written as digit strings, for sequence-to-sequence (encoder–decoder) examples.
//!
//! Source: this crate's own definition, in the spirit of the addition tasks of Zaremba &
//! Sutskever (2014), "Learning to Execute", and of the sequence-to-sequence setup of
//! Sutskever, Vinyals & Le (2014) (the encoder reads the source, the decoder starts from
//! `START` and emits the target followed by `END`).
//!
//! Definition: each operand independently gets a digit count drawn uniformly from
//! `1..=max_digits`, then a value drawn uniformly among the numbers with exactly that many
//! digits (`0..=9` for one digit, no leading zeros otherwise). The source is `"a+b"` and the
//! target the decimal sum, e.g. `"123+45"` -> `"168"`. A prediction is an exact match when the
//! tokens it emits before its first `END` spell the target exactly.

use recurrent::rand::RngExt;

/// Padding token id.
pub const PAD: usize = 0;
/// Decoder start token id.
pub const START: usize = 1;
/// End-of-sequence token id.
pub const END: usize = 2;
/// Characters of the non-special tokens; token id = 3 + index.
pub const CHARS: [char; 11] = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '+'];
/// Vocabulary size (3 special tokens + 11 characters).
pub const VOCAB_SIZE: usize = 14;

/// One addition problem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Example {
    /// Left operand.
    pub a: u64,
    /// Right operand.
    pub b: u64,
    /// `"a+b"`.
    pub source: String,
    /// The sum, `"a + b"` in decimal.
    pub target: String,
}

fn operand(rng: &mut impl RngExt, max_digits: u32) -> u64 {
    let digits = rng.random_range(1..=max_digits);
    if digits == 1 {
        rng.random_range(0..=9)
    } else {
        rng.random_range(10u64.pow(digits - 1)..10u64.pow(digits))
    }
}

/// Draws one problem with operands of up to `max_digits` digits (1..=18).
pub fn generate(rng: &mut impl RngExt, max_digits: u32) -> Example {
    assert!((1..=18).contains(&max_digits));
    let a = operand(rng, max_digits);
    let b = operand(rng, max_digits);
    Example {
        a,
        b,
        source: format!("{a}+{b}"),
        target: (a + b).to_string(),
    }
}

/// Draws `n` problems.
pub fn batch(rng: &mut impl RngExt, max_digits: u32, n: usize) -> Vec<Example> {
    (0..n).map(|_| generate(rng, max_digits)).collect()
}

/// Longest source for `max_digits`: two operands and the `+`.
pub fn max_source_len(max_digits: u32) -> usize {
    2 * max_digits as usize + 1
}

/// Longest target for `max_digits` (the sum can carry one extra digit).
pub fn max_target_len(max_digits: u32) -> usize {
    max_digits as usize + 1
}

/// Token id of a character of [`CHARS`]; panics on any other character.
pub fn token(c: char) -> usize {
    3 + CHARS
        .iter()
        .position(|&k| k == c)
        .unwrap_or_else(|| panic!("character {c:?} is not in the vocabulary"))
}

/// Token ids of a string of digits and `+`, without special tokens.
pub fn encode(text: &str) -> Vec<usize> {
    text.chars().map(token).collect()
}

/// Decoder input for teacher forcing: `START` followed by the target's tokens.
pub fn decoder_input(target: &str) -> Vec<usize> {
    std::iter::once(START).chain(encode(target)).collect()
}

/// Decoder output to predict: the target's tokens followed by `END`.
pub fn decoder_target(target: &str) -> Vec<usize> {
    encode(target)
        .into_iter()
        .chain(std::iter::once(END))
        .collect()
}

/// Text of a token sequence up to its first `END`, skipping `PAD` and `START`.
pub fn decode(tokens: &[usize]) -> String {
    tokens
        .iter()
        .take_while(|&&t| t != END)
        .filter(|&&t| t != PAD && t != START)
        .map(|&t| CHARS[t - 3])
        .collect()
}

/// Right-pads `tokens` with `PAD` to `len` (panics if longer).
pub fn pad(tokens: &[usize], len: usize) -> Vec<usize> {
    assert!(tokens.len() <= len, "sequence of {} > {len}", tokens.len());
    let mut out = tokens.to_vec();
    out.resize(len, PAD);
    out
}

/// Whether `predicted` (decoder output tokens) spells `target` exactly: the tokens before the
/// first `END` must be the target's tokens, with no stray `PAD`/`START` among them. A
/// prediction that never emits `END` is accepted only if it is exactly the target's tokens.
pub fn exact_match(predicted: &[usize], target: &str) -> bool {
    let end = predicted
        .iter()
        .position(|&t| t == END)
        .unwrap_or(predicted.len());
    predicted[..end] == encode(target)[..]
}

/// Fraction of predictions that are an [`exact_match`] for their target.
pub fn sequence_accuracy(predicted: &[Vec<usize>], targets: &[String]) -> f64 {
    super::hit_rate(predicted, targets, |p, t| exact_match(p, t))
}
