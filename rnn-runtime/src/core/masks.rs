//! Random masks: the stochastic regularization a spec declares with
//! `mask m: [H] = bernoulli(p);` (one draw per sequence and example, as variational recurrent
//! dropout) or `mask m: [H] = bernoulli_per_step(p);` (a draw at every step, as zoneout).
//!
//! Whether a pass trains or infers is explicit: [`Cell::forward_train`] draws every mask from
//! the caller's RNG; [`Cell::forward`] and [`Cell::infer`] replace each mask by its expectation
//! `p`; [`Cell::forward_masked`] takes [`Masks::Given`] values (to replay a training pass, or for
//! a gradient check with fixed masks). The masks a forward pass used are part of its trace, so
//! the backward pass is exact, and [`Forward::masks`] returns them.
//!
//! Drawing order, so that the same seed gives the same masks: mask by mask in declaration
//! order; within a mask, step by step (a per-sequence mask has one step), example by example,
//! entry by entry. Each entry is 1 when its four bytes of the RNG's output, read as a
//! little-endian `u32`, are below `p * 2^32` (rounded), so the probability of a 1 is `p` to
//! within `2^-33`.
//!
//! [`Cell::forward_train`]: crate::Cell::forward_train
//! [`Cell::forward`]: crate::Cell::forward
//! [`Cell::infer`]: crate::Cell::infer
//! [`Cell::forward_masked`]: crate::Cell::forward_masked

use ndarray::{ArrayD, IxDyn};
use rand::Rng;

use crate::core::cell::{CellSpec, Forward};
use crate::core::dropout::ExampleSeeds;
use crate::core::error::{Error, Result};
use crate::core::tensors::NamedTensors;
use crate::kernels::float::Float;
use crate::kernels::pool::Buffer;

/// A mask declaration of a spec: `mask m_h: [H] = bernoulli(0.75);`.
#[derive(Debug, PartialEq)]
pub struct MaskSpec {
    /// Name (`m_h`).
    pub name: &'static str,
    /// Shape as written (`[H]`).
    pub shape: &'static str,
    /// The probability of a 1 (the mask's expectation).
    pub p: f64,
    /// Drawn at every step (`bernoulli_per_step`) rather than once per sequence and example.
    pub per_step: bool,
}

impl MaskSpec {
    /// The shape of the mask's values over `n_time` steps and `n_batch` examples: `[B, size]`
    /// for a per-sequence mask, `[T, B, size]` for a per-step one.
    pub fn values_shape(&self, n_time: usize, n_batch: usize, size: usize) -> Vec<usize> {
        if self.per_step {
            vec![n_time, n_batch, size]
        } else {
            vec![n_batch, size]
        }
    }
}

/// What the random masks of a forward pass are (for [`crate::Cell::forward_masked`]). A cell
/// without masks ignores it.
pub enum Masks<'a, F> {
    /// Each mask replaced by its expectation `p` (evaluation): what [`crate::Cell::forward`]
    /// and [`crate::Cell::infer`] use.
    Expected,
    /// Every mask drawn from the RNG (training): mask by mask in declaration order; within a
    /// mask, step by step (one step for a per-sequence mask), example by example, entry by
    /// entry; each entry is 1 when its four bytes of the RNG's output, read as a little-endian
    /// `u32`, are below `p * 2^32` (rounded). The same seed gives the same masks.
    Draw(&'a mut dyn Rng),
    /// Every mask given by name: `[B, size]` for a per-sequence mask, `[T, B, size]` for a
    /// per-step one (any finite values: a replay of [`Forward::masks`], fixed masks for a
    /// gradient check or a reference).
    Given(&'a NamedTensors<F>),
    /// Every mask drawn from a stream of each example's own ([`ExampleSeeds`]): an example's
    /// masks do not depend on the rest of its batch (what data-parallel training needs).
    PerExample(&'a ExampleSeeds),
}

impl<F> std::fmt::Debug for Masks<'_, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Masks::Expected => write!(f, "Masks::Expected"),
            Masks::Draw(_) => write!(f, "Masks::Draw(..)"),
            Masks::Given(_) => write!(f, "Masks::Given(..)"),
            Masks::PerExample(seeds) => write!(f, "Masks::PerExample({seeds:?})"),
        }
    }
}

/// Fills `out` with Bernoulli(`p`) draws from `rng`: entry `k` is 1 when the `k`-th group of
/// four bytes the RNG fills, read as a little-endian `u32`, is below `round(p * 2^32)`, else 0.
/// The bytes are drawn in chunks (one call of the RNG per 1024 entries, not one per entry).
pub fn draw_bernoulli<F: Float>(rng: &mut dyn Rng, p: f64, out: &mut [F]) {
    const CHUNK: usize = 1024;
    let threshold = (p.clamp(0.0, 1.0) * 4_294_967_296.0).round() as u64;
    let (one, zero) = (F::one(), F::zero());
    let mut bytes = [0u8; 4 * CHUNK];
    for block in out.chunks_mut(CHUNK) {
        let bytes = &mut bytes[..4 * block.len()];
        rng.fill_bytes(bytes);
        for (v, b) in block.iter_mut().zip(bytes.chunks_exact(4)) {
            let u = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            *v = if u64::from(u) < threshold { one } else { zero };
        }
    }
}

/// Checks [`Masks::Given`] values against the cell's masks: every mask given once, by name,
/// with the shape `[B, size]` or `[T, B, size]` and finite values; nothing else given. `sizes`
/// holds each mask's size.
pub fn check_given<F: Float>(
    masks: &Masks<'_, F>,
    spec: &CellSpec,
    sizes: &[usize],
    n_time: usize,
    n_batch: usize,
) -> Result<()> {
    let Masks::Given(given) = masks else {
        return Ok(());
    };
    let names: Vec<&str> = spec.masks.iter().map(|m| m.name).collect();
    for (name, _) in &given.tensors {
        if !names.contains(&name.as_str()) {
            return Err(Error::Invalid(format!(
                "mask `{name}`: {} has no such mask; its masks are [{}]",
                spec.name,
                names.join(", ")
            )));
        }
    }
    for (mask, &size) in spec.masks.iter().zip(sizes) {
        let value = given.get(mask.name).map_err(|_| {
            Error::Invalid(format!(
                "mask `{}` of {} is not given; Masks::Given needs every mask [{}]",
                mask.name,
                spec.name,
                names.join(", ")
            ))
        })?;
        let expected = mask.values_shape(n_time, n_batch, size);
        if value.shape() != expected.as_slice() {
            let what = if mask.per_step {
                "[T, B, size] (a per-step mask)"
            } else {
                "[B, size] (a mask drawn once per sequence)"
            };
            return Err(Error::shape(
                format!("mask `{}`", mask.name),
                format!("{expected:?}, {what}"),
                value.shape(),
            ));
        }
        if value.iter().any(|v| !v.is_finite()) {
            return Err(Error::Invalid(format!(
                "mask `{}`: expected finite values, found a NaN or infinite entry",
                mask.name
            )));
        }
    }
    Ok(())
}

/// The values of mask `m` for a forward pass (after [`check_given`]): `[B, size]` or
/// `[T, B, size]`, flattened.
pub fn values<F: Float>(
    masks: &mut Masks<'_, F>,
    spec: &CellSpec,
    m: usize,
    n_time: usize,
    n_batch: usize,
    size: usize,
) -> Result<Buffer<F>> {
    let mask = &spec.masks[m];
    let len = mask.values_shape(n_time, n_batch, size).iter().product();
    let mut out = Buffer::for_overwrite(len);
    match masks {
        Masks::Expected => out.fill(F::from_f64(mask.p)),
        Masks::Draw(rng) => draw_bernoulli(&mut **rng, mask.p, &mut out),
        Masks::PerExample(seeds) => {
            seeds.check_batch(n_batch)?;
            let steps = if mask.per_step { n_time } else { 1 };
            let mut own = vec![F::zero(); steps * size];
            for b in 0..n_batch {
                // Step after step, so the first steps do not depend on the padded length.
                draw_bernoulli(&mut seeds.stream(b, m), mask.p, &mut own);
                for (t, row) in own.chunks_exact(size.max(1)).enumerate() {
                    let at = (t * n_batch + b) * size;
                    out[at..at + size].copy_from_slice(&row[..size]);
                }
            }
        }
        Masks::Given(given) => {
            let value = given.get(mask.name)?;
            for (o, v) in out.iter_mut().zip(value.iter()) {
                *o = *v;
            }
        }
    }
    Ok(out)
}

impl<F: Float> Forward<F> {
    /// The masks this forward pass used, by name, in declaration order: `[B, size]` for a mask
    /// drawn once per sequence, `[T, B, size]` for a per-step one (their expectations after
    /// [`crate::Cell::forward`], the draws after [`crate::Cell::forward_train`]). Pass them back
    /// as [`Masks::Given`] to replay the pass. Empty for a cell without masks.
    pub fn masks(&self) -> Result<NamedTensors<F>> {
        let spec = self.final_states.spec();
        if spec.name != self.trace.cell {
            return Err(Error::Invalid(format!(
                "Forward::masks: the trace is of a `{}`, the final states of a `{}`",
                self.trace.cell, spec.name
            )));
        }
        let (n_time, n_batch) = (self.trace.n_time, self.trace.n_batch);
        let mut out = NamedTensors::new();
        for (m, mask) in spec.masks.iter().enumerate() {
            // The trace's buffers: the input, the states, then the masks.
            let values = self
                .trace
                .buffers
                .get(1 + spec.states.len() + m)
                .map_or(&[][..], |b| &b[..]);
            let rows = if mask.per_step {
                n_time * n_batch
            } else {
                n_batch
            };
            let size = values.len().checked_div(rows).unwrap_or(0);
            let shape = mask.values_shape(n_time, n_batch, size);
            let array = ArrayD::from_shape_vec(IxDyn(&shape), values.to_vec()).map_err(|_| {
                Error::Invalid(format!(
                    "Forward::masks: mask `{}`: the trace holds {} values, not a multiple of \
                     {rows} rows",
                    mask.name,
                    values.len()
                ))
            })?;
            out.push(mask.name, array.view());
        }
        Ok(out)
    }
}
