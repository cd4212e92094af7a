//! Where a training pass draws its random masks (model dropout between layers, and the masks a
//! cell's spec declares): from one RNG shared by the whole batch, or from a stream of its own
//! for every example ([`ExampleSeeds`]).
//!
//! A shared RNG draws the batch's masks in one sequence, so an example's masks depend on the
//! other examples of its batch (their number and the padded length `T`). Per-example streams
//! do not: an example's masks depend on the seed, the training step and the example's index in
//! the dataset alone. Data-parallel training needs this, so that splitting a batch over
//! processes (each with its own shard, padded to its own `T`) draws the masks a single process
//! draws for the whole batch.

use rand::rngs::ChaCha8Rng;
use rand::{Rng, SeedableRng};

use crate::core::error::{Error, Result};

/// The masks' source of a training pass, as the forward passes of `SequenceModel` and
/// `Seq2Seq` and their `*_step` methods take it (`dropout: Option<&mut dyn
/// DropoutRng>`): any RNG (`Some(&mut rng)`, one sequence of draws for the whole batch) or an
/// [`ExampleSeeds`] (a stream per example).
pub trait DropoutRng {
    /// The source of this pass's draws.
    fn source(&mut self) -> MaskSource<'_>;
}

/// What a [`DropoutRng`] draws from.
pub enum MaskSource<'a> {
    /// One RNG for the whole batch: example after example (see [`crate::Masks::Draw`] for a
    /// cell's masks).
    Shared(&'a mut dyn Rng),
    /// A stream per example.
    PerExample(&'a ExampleSeeds),
}

impl<R: Rng> DropoutRng for R {
    fn source(&mut self) -> MaskSource<'_> {
        MaskSource::Shared(self)
    }
}

impl DropoutRng for ExampleSeeds {
    fn source(&mut self) -> MaskSource<'_> {
        MaskSource::PerExample(self)
    }
}

/// Reborrows an optional source for one pass, keeping it for the next.
pub(crate) fn reborrow<'s>(
    source: &'s mut Option<&mut dyn DropoutRng>,
) -> Option<&'s mut dyn DropoutRng> {
    match source {
        Some(s) => Some(&mut **s),
        None => None,
    }
}

/// The seeds of a batch's per-example mask streams: a run's `seed`, the training `step`, and
/// each example's index in the dataset (`examples[b]` for column `b` of the batch).
///
/// Every mask of example `b` (the dropout mask before each layer above the first, each mask of
/// each layer's cells) is drawn from a ChaCha8 stream of its own, seeded from `(seed, step,
/// examples[b], scope, layer, part, mask)`, step after step and entry by entry within it (so
/// the first `len` steps of a per-step mask do not depend on the padded length `T` of the
/// batch). A data-parallel run passes each process the seeds of its shard
/// ([`ExampleSeeds::select`]); the masks are those of the whole batch in one process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExampleSeeds {
    seed: u64,
    step: u64,
    examples: Vec<u64>,
    /// Which model of a composite draws (a `Seq2Seq`'s encoder 0, decoder 1).
    scope: u64,
    /// The layer whose masks are drawn (set by the model for each layer).
    layer: u64,
    /// The part of the layer ([`PART_DROPOUT`], [`PART_FORWARD`], [`PART_REVERSE`]).
    part: u64,
}

/// Parts of a layer: the dropout mask in front of it, its forward cell, its reverse cell.
pub(crate) const PART_DROPOUT: u64 = 0;
pub(crate) const PART_FORWARD: u64 = 1;
pub(crate) const PART_REVERSE: u64 = 2;

impl ExampleSeeds {
    /// The seeds of a batch whose column `b` is example `examples[b]` of the dataset, at
    /// training step `step` of a run seeded with `seed`.
    pub fn new(seed: u64, step: u64, examples: &[usize]) -> Self {
        ExampleSeeds {
            seed,
            step,
            examples: examples.iter().map(|&e| e as u64).collect(),
            scope: 0,
            layer: 0,
            part: PART_FORWARD,
        }
    }

    /// The seeds of columns `columns` of this batch (a process's shard), in that order.
    ///
    /// Errors: a column past the batch.
    pub fn select(&self, columns: &[usize]) -> Result<Self> {
        let examples = columns
            .iter()
            .map(|&c| {
                self.examples.get(c).copied().ok_or_else(|| {
                    Error::Invalid(format!(
                        "ExampleSeeds::select: expected columns below the batch size {}, found {c}",
                        self.examples.len()
                    ))
                })
            })
            .collect::<Result<Vec<u64>>>()?;
        Ok(ExampleSeeds {
            examples,
            ..self.clone()
        })
    }

    /// Each column's example index.
    pub fn examples(&self) -> &[u64] {
        &self.examples
    }

    /// The number of examples (the batch size `B` this draws for).
    pub fn len(&self) -> usize {
        self.examples.len()
    }

    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.examples.is_empty()
    }

    /// These seeds for another model of a composite (a `Seq2Seq`'s decoder draws in scope 1).
    pub(crate) fn in_scope(&self, scope: u64) -> Self {
        ExampleSeeds {
            scope,
            ..self.clone()
        }
    }

    /// These seeds for `part` of layer `layer` of a model.
    pub(crate) fn at(&self, layer: usize, part: u64) -> Self {
        ExampleSeeds {
            layer: layer as u64,
            part,
            ..self.clone()
        }
    }

    /// These seeds for `part` of the same layer.
    pub(crate) fn with_part(&self, part: u64) -> Self {
        ExampleSeeds {
            part,
            ..self.clone()
        }
    }

    /// Errors unless this draws for a batch of `n_batch` examples.
    pub(crate) fn check_batch(&self, n_batch: usize) -> Result<()> {
        if self.examples.len() == n_batch {
            Ok(())
        } else {
            Err(Error::shape(
                "ExampleSeeds",
                format!("one example index per column of the batch (B={n_batch})"),
                &[self.examples.len()],
            ))
        }
    }

    /// The stream of column `b`'s draws of mask `mask` (in declaration order; 0 for a dropout
    /// mask) of the current part of the current layer.
    pub(crate) fn stream(&self, b: usize, mask: usize) -> ChaCha8Rng {
        let mut h = mix(self.seed);
        for word in [
            self.step,
            self.examples[b],
            self.scope,
            self.layer,
            self.part,
            mask as u64,
        ] {
            h = mix(h ^ word);
        }
        ChaCha8Rng::seed_from_u64(h)
    }
}

/// SplitMix64's finalizer: a bijection of `u64` whose outputs for nearby inputs look unrelated.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_depend_on_every_coordinate_and_selection_keeps_them() {
        let seeds = ExampleSeeds::new(1, 2, &[10, 11, 12]);
        let first = |s: &ExampleSeeds, b, mask| s.stream(b, mask).next_u64();
        let base = first(&seeds, 0, 0);
        assert_ne!(base, first(&seeds, 1, 0));
        assert_ne!(base, first(&seeds, 0, 1));
        assert_ne!(base, first(&seeds.at(0, PART_REVERSE), 0, 0));
        assert_ne!(base, first(&seeds.at(1, PART_FORWARD), 0, 0));
        assert_eq!(base, first(&seeds.at(0, PART_FORWARD), 0, 0));
        assert_ne!(base, first(&seeds.in_scope(1), 0, 0));
        assert_ne!(base, first(&ExampleSeeds::new(1, 3, &[10]), 0, 0));
        let shard = seeds.select(&[2, 0]).unwrap();
        assert_eq!(shard.examples(), &[12, 10]);
        assert_eq!(first(&shard, 1, 0), base);
        assert!(seeds.select(&[3]).is_err());
        assert!(seeds.check_batch(2).is_err());
        assert!(seeds.check_batch(3).is_ok());
    }
}
