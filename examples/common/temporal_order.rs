//! The temporal order problem of Hochreiter & Schmidhuber (1997), "Long Short-Term Memory",
//! Neural Computation 9(8), Experiment 6a ("two relevant, widely separated symbols").
//!
//! Definition (as in the paper):
//! - Alphabet of 8 symbols `{a, b, c, d, X, Y, B, E}`, presented as one-hot vectors; the token
//!   ids are the indices into [`ALPHABET`].
//! - The sequence starts with `E`, ends with `B` (the "trigger symbol") and otherwise consists of
//!   symbols drawn uniformly from `{a, b, c, d}`, except at two positions `t1` and `t2`, which
//!   hold `X` or `Y` (each drawn independently with probability 1/2).
//! - The length is drawn uniformly from `100..=110`, `t1` from `10..=20` and `t2` from
//!   `50..=60`. Positions are counted from 1 as in the paper (the leading `E` is position 1), so
//!   the relevant symbols sit at indices `t1 - 1` and `t2 - 1`.
//! - Four classes by the temporal order of the relevant symbols: `X,X -> Q`, `X,Y -> R`,
//!   `Y,X -> S`, `Y,Y -> U`, here class ids 0, 1, 2, 3 ([`CLASS_NAMES`]).
//! - The target is given only at the end; the paper counts a sequence as correct when every
//!   output unit's final error is below 0.3. With a softmax read-out, [`correct`] uses the
//!   arg-max instead.
//!
//! Note: the brief for this module said "first symbol B, last E"; the paper has it the other way
//! round (start `E`, trigger `B` at the end), which is what is implemented here.

use recurrent::rand::RngExt;

/// Symbols; a token id is an index into this array.
pub const ALPHABET: [char; 8] = ['a', 'b', 'c', 'd', 'X', 'Y', 'B', 'E'];
/// Number of symbols (input width of a one-hot encoding).
pub const NUM_SYMBOLS: usize = 8;
/// Number of classes.
pub const NUM_CLASSES: usize = 4;
/// Token id of `X`.
pub const X: usize = 4;
/// Token id of `Y`.
pub const Y: usize = 5;
/// Token id of the trigger symbol `B` (last element).
pub const B: usize = 6;
/// Token id of the start symbol `E` (first element).
pub const E: usize = 7;
/// The paper's class names (Q, R, S, U) with their meaning, by class id.
pub const CLASS_NAMES: [&str; 4] = ["Q (XX)", "R (XY)", "S (YX)", "U (YY)"];

/// One labelled sequence.
#[derive(Clone, Debug, PartialEq)]
pub struct Sequence {
    /// Token ids (indices into [`ALPHABET`]).
    pub tokens: Vec<usize>,
    /// Class id: `2 * (first is Y) + (second is Y)`.
    pub class: usize,
    /// Indices of the two relevant symbols in `tokens` (`t1 - 1`, `t2 - 1`).
    pub positions: (usize, usize),
}

/// Draws one sequence.
pub fn generate(rng: &mut impl RngExt) -> Sequence {
    let len = rng.random_range(100..=110);
    let mut tokens: Vec<usize> = (0..len).map(|_| rng.random_range(0..4)).collect();
    tokens[0] = E;
    tokens[len - 1] = B;
    let t1 = rng.random_range(10..=20);
    let t2 = rng.random_range(50..=60);
    let first_y = rng.random_bool(0.5);
    let second_y = rng.random_bool(0.5);
    tokens[t1 - 1] = if first_y { Y } else { X };
    tokens[t2 - 1] = if second_y { Y } else { X };
    Sequence {
        tokens,
        class: 2 * first_y as usize + second_y as usize,
        positions: (t1 - 1, t2 - 1),
    }
}

/// Draws `n` sequences.
pub fn batch(rng: &mut impl RngExt, n: usize) -> Vec<Sequence> {
    (0..n).map(|_| generate(rng)).collect()
}

/// The class a sequence belongs to, read off its tokens (the order of its `X`/`Y` symbols);
/// `None` when it does not hold exactly two of them.
pub fn class_of(tokens: &[usize]) -> Option<usize> {
    let relevant: Vec<usize> = tokens
        .iter()
        .copied()
        .filter(|&s| s == X || s == Y)
        .collect();
    match relevant[..] {
        [a, b] => Some(2 * (a == Y) as usize + (b == Y) as usize),
        _ => None,
    }
}

/// The string of a token sequence, e.g. `"EabXc…B"`.
pub fn to_string(tokens: &[usize]) -> String {
    tokens.iter().map(|&s| ALPHABET[s]).collect()
}

/// Arg-max of the final output scores equals the class.
pub fn correct(scores: &[f64], class: usize) -> bool {
    argmax(scores) == class
}

/// The paper's criterion for local (one-hot) targets: every output's error below 0.3.
pub fn correct_paper(outputs: &[f64], class: usize) -> bool {
    outputs
        .iter()
        .enumerate()
        .all(|(k, &o)| (o - if k == class { 1.0 } else { 0.0 }).abs() < 0.3)
}

/// Index of the largest score (the first one on ties).
pub fn argmax(scores: &[f64]) -> usize {
    let mut best = 0;
    for (k, &s) in scores.iter().enumerate() {
        if s > scores[best] {
            best = k;
        }
    }
    best
}
