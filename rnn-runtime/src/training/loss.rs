//! Losses with their gradients: mean squared error and numerically stable softmax
//! cross-entropy (with masking of padded steps).

use ndarray::{Array, Array2, Array3, ArrayView, ArrayView2, ArrayView3, Axis, Dimension};

use crate::core::error::{Error, Result};
use crate::kernels::float::Float;
use crate::training::data::check_lengths;

/// Mean squared error over every entry, `L = mean((y - target)^2)`, and `dL/dy`.
///
/// Errors: the shapes differ; a target is `NaN` or infinite (naming the entry: its gradient
/// would be garbage that the backward pass could only report as a bad output gradient).
pub fn mse<F: Float, D: Dimension>(
    y: ArrayView<'_, F, D>,
    target: ArrayView<'_, F, D>,
) -> Result<(F, Array<F, D>)> {
    if y.shape() != target.shape() {
        return Err(Error::shape(
            "mse target",
            format!("{:?} (the prediction's shape)", y.shape()),
            target.shape(),
        ));
    }
    check_finite_values("mse target", &target)?;
    let n = F::from_f64(y.len().max(1) as f64);
    let diff = &y - &target;
    let loss = diff.iter().map(|&d| d * d).sum::<F>() / n;
    let grad = diff.mapv(|d| d * F::from_f64(2.0) / n);
    Ok((loss, grad))
}

/// Rejects an array with a `NaN` or infinite entry, naming `what`, the entry's index and value.
pub(crate) fn check_finite_values<F: Float, D: Dimension>(
    what: &str,
    a: &ArrayView<'_, F, D>,
) -> Result<()> {
    if a.iter().all(|v| v.is_finite()) {
        return Ok(());
    }
    let dynamic = a.view().into_dyn();
    let (idx, v) = dynamic
        .indexed_iter()
        .find(|(_, v)| !v.is_finite())
        .expect("a non-finite entry exists");
    Err(Error::Invalid(format!(
        "{what}: expected finite values, found {v} at {:?}",
        idx.slice()
    )))
}

/// Row-wise softmax of `logits: [N, C]`, computed stably (the row maximum is subtracted first).
#[must_use]
pub fn softmax<F: Float>(logits: ArrayView2<'_, F>) -> Array2<F> {
    let mut p = logits.to_owned();
    for mut row in p.rows_mut() {
        let max = row.iter().fold(F::neg_infinity(), |m, &x| m.max(x));
        let max = if max.is_finite() { max } else { F::zero() };
        row.mapv_inplace(|x| (x - max).exp());
        let sum = row.sum();
        row.mapv_inplace(|x| x / sum);
    }
    p
}

/// Softmax cross-entropy of `logits: [N, C]` against class indices `targets: [N]`, averaged over
/// the rows where `mask` is true (every row when `None`):
/// `L = -(1/n) sum_rows log softmax(logits)[target]`, and `dL/dlogits = (softmax - onehot) / n`
/// on counted rows, zero on masked ones. Stable for any finite logits (log-sum-exp with the row
/// maximum subtracted). With no counted row the loss and gradient are zero.
pub fn softmax_cross_entropy<F: Float>(
    logits: ArrayView2<'_, F>,
    targets: &[usize],
    mask: Option<&[bool]>,
) -> Result<(F, Array2<F>)> {
    let (n, classes) = logits.dim();
    if targets.len() != n {
        return Err(Error::Invalid(format!(
            "cross-entropy targets: expected {n} (one per row of logits [{n}, {classes}]), found {}",
            targets.len()
        )));
    }
    if let Some(mask) = mask {
        if mask.len() != n {
            return Err(Error::Invalid(format!(
                "cross-entropy mask: expected {n} entries, found {}",
                mask.len()
            )));
        }
    }
    if let Some((row, &bad)) = targets.iter().enumerate().find(|(_, &c)| c >= classes) {
        return Err(Error::Invalid(format!(
            "cross-entropy target of row {row}: expected a class below {classes}, found {bad}"
        )));
    }
    let counted = |r: usize| mask.is_none_or(|m| m[r]);
    let count = (0..n).filter(|&r| counted(r)).count();
    let mut grad = softmax(logits);
    if count == 0 {
        grad.fill(F::zero());
        return Ok((F::zero(), grad));
    }
    let scale = F::one() / F::from_f64(count as f64);
    let mut loss = F::zero();
    for (r, mut row) in grad.rows_mut().into_iter().enumerate() {
        if !counted(r) {
            row.fill(F::zero());
            continue;
        }
        let logit_row = logits.row(r);
        let max = logit_row.iter().fold(F::neg_infinity(), |m, &x| m.max(x));
        let log_sum = logit_row.iter().map(|&x| (x - max).exp()).sum::<F>().ln() + max;
        loss += log_sum - logit_row[targets[r]];
        row[targets[r]] -= F::one();
        row.mapv_inplace(|g| g * scale);
    }
    Ok((loss * scale, grad))
}

/// Softmax cross-entropy of a sequence of logits `[T, B, C]` against `targets: [T][B]` (as a
/// `[T, B]` array of class indices), counting step `t` of example `b` only when `t <
/// lengths[b]` (every step when `None`): the loss of tagging and of language models. Returns the
/// mean over counted steps and `dL/dlogits: [T, B, C]`.
pub fn sequence_cross_entropy<F: Float>(
    logits: ArrayView3<'_, F>,
    targets: ArrayView2<'_, usize>,
    lengths: Option<&[usize]>,
) -> Result<(F, Array3<F>)> {
    let (t, b, c) = logits.dim();
    if targets.dim() != (t, b) {
        return Err(Error::shape(
            "sequence cross-entropy targets",
            format!("[T={t}, B={b}]"),
            targets.shape(),
        ));
    }
    if let Some(lengths) = lengths {
        check_lengths(lengths, t, b)?;
    }
    let flat = logits
        .to_shape((t * b, c))
        .map_err(|e| Error::Invalid(e.to_string()))?;
    let flat_targets: Vec<usize> = targets.iter().copied().collect();
    let mask: Option<Vec<bool>> = lengths.map(|l| (0..t * b).map(|i| i / b < l[i % b]).collect());
    let (loss, grad) = softmax_cross_entropy(flat.view(), &flat_targets, mask.as_deref())?;
    let grad = grad
        .into_shape_with_order((t, b, c))
        .map_err(|e| Error::Invalid(e.to_string()))?;
    Ok((loss, grad))
}

/// Index of the largest entry of each row of `[N, C]` (the predicted class).
#[must_use]
pub fn argmax_rows<F: Float>(scores: ArrayView2<'_, F>) -> Vec<usize> {
    scores
        .axis_iter(Axis(0))
        .map(|row| {
            let mut best = 0;
            for (j, &v) in row.iter().enumerate() {
                if v > row[best] {
                    best = j;
                }
            }
            best
        })
        .collect()
}
