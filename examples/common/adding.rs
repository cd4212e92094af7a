//! The adding problem of Hochreiter & Schmidhuber (1997), "Long Short-Term Memory",
//! Neural Computation 9(8), Experiment 4.
//!
//! Definition (as in the paper):
//! - Every sequence element is a pair `(value, marker)`. The value is drawn uniformly from
//!   `[-1, 1]`; the marker is `1.0`, `0.0` or `-1.0`.
//! - The length is an integer drawn uniformly from `T..=T + T/10` (integer division).
//! - Exactly two pairs are marked with `1.0`: first one of the first ten pairs (its value is
//!   `X1`), then one of the first `T/2 - 1` still unmarked pairs (its value is `X2`). Since the
//!   first mark lies among the first ten pairs, the second is drawn uniformly from the positions
//!   `0..T/2` other than the first mark.
//! - The markers of all other pairs are `0.0`, except the first and the final pair, whose
//!   markers are `-1.0` (unless the first pair is marked; the final pair never is, for
//!   `T >= 4`).
//! - "`X1` is set to zero in the rare case where the first pair of the sequence got marked":
//!   when the first mark falls on pair 0, that pair's value is set to `0.0`. (The paper states
//!   this only for `X1`; when the *second* mark falls on pair 0 its value is kept.)
//! - The target, seen only at the sequence end, is `0.5 + (X1 + X2) / 4.0`, the sum scaled
//!   into `[0, 1]`.
//! - A sequence is processed correctly when the absolute error at the end is below `0.04`.

use recurrent::rand::RngExt;

/// Absolute error below which a prediction counts as correct (the paper's criterion).
pub const TOLERANCE: f64 = 0.04;

/// One adding-problem sequence.
#[derive(Clone, Debug, PartialEq)]
pub struct Sequence {
    /// `(value, marker)` per time step.
    pub pairs: Vec<(f64, f64)>,
    /// `0.5 + (X1 + X2) / 4.0`.
    pub target: f64,
    /// Indices of the first and second marked pairs (`X1`'s and `X2`'s positions).
    pub marked: (usize, usize),
}

/// Draws one sequence for minimal length `t` (needs `t >= 22` so that `T/2 - 1 >= 10`).
pub fn generate(rng: &mut impl RngExt, t: usize) -> Sequence {
    assert!(t >= 22, "the adding problem needs T >= 22, got {t}");
    let len = rng.random_range(t..=t + t / 10);
    let mut pairs: Vec<(f64, f64)> = (0..len)
        .map(|_| (rng.random_range(-1.0..=1.0), 0.0))
        .collect();
    pairs[0].1 = -1.0;
    pairs[len - 1].1 = -1.0;
    let first = rng.random_range(0..10);
    // Uniform over 0..t/2 without `first`: draw from t/2 - 1 slots and skip over `first`.
    let mut second = rng.random_range(0..t / 2 - 1);
    if second >= first {
        second += 1;
    }
    if first == 0 {
        pairs[0].0 = 0.0;
    }
    pairs[first].1 = 1.0;
    pairs[second].1 = 1.0;
    let target = 0.5 + (pairs[first].0 + pairs[second].0) / 4.0;
    Sequence {
        pairs,
        target,
        marked: (first, second),
    }
}

/// Draws `n` sequences.
pub fn batch(rng: &mut impl RngExt, t: usize, n: usize) -> Vec<Sequence> {
    (0..n).map(|_| generate(rng, t)).collect()
}

/// The paper's criterion: `|prediction - target| < 0.04`.
pub fn solved(prediction: f64, target: f64) -> bool {
    (prediction - target).abs() < TOLERANCE
}

/// Fraction of `(prediction, target)` pairs that are [`solved`].
pub fn accuracy(predictions: &[f64], targets: &[f64]) -> f64 {
    super::hit_rate(predictions, targets, |&p, &t| solved(p, t))
}
