//! Code the example applications share: data generators and evaluation criteria per task
//! (`adding`, `arith`, `corpus`, `mackey_glass`, `reber`, `temporal_order`), and the examples'
//! plumbing: the command line (`flags`), the cells compared and the driver that trains each
//! (`cells`), the optimizer loop's pieces (`train`) and the result tables (`table`).
//!
//! Each example includes this directory with `mod common;` and uses only what it needs, hence
//! the module-wide `dead_code` allowance. Every generator takes a caller-seeded `&mut impl Rng`
//! and returns plain `Vec`s; no task module depends on the training code.
//! `tests/tasks.rs` checks the properties each task module documents.
#![allow(dead_code)]

pub mod adding;
pub mod arith;
pub mod cells;
pub mod corpus;
pub mod flags;
pub mod mackey_glass;
pub mod reber;
pub mod table;
pub mod temporal_order;
pub mod train;

/// Fraction of `(prediction, target)` pairs for which `hit` holds (0 for none).
///
/// Panics if the slices differ in length.
pub fn hit_rate<P, T>(predictions: &[P], targets: &[T], hit: impl Fn(&P, &T) -> bool) -> f64 {
    assert_eq!(predictions.len(), targets.len());
    if targets.is_empty() {
        return 0.0;
    }
    let hits = predictions
        .iter()
        .zip(targets)
        .filter(|(p, t)| hit(p, t))
        .count();
    hits as f64 / targets.len() as f64
}
