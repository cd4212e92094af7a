//! Connectionist Temporal Classification (Graves, Fernández, Gomez & Schmidhuber 2006): a loss
//! for unaligned sequence labelling, and its decoders.
//!
//! The network emits, at every step `t` of an input of length `T_b`, scores (logits) over `C`
//! classes: the labels and one *blank*. A path is one class per step; it collapses to a
//! labelling by merging repeated classes and then dropping blanks (`a a - b b -> a b`,
//! `a - a -> a a`). The loss of a target labelling `l` is `-log p(l | x)`, where `p(l | x)` sums
//! the probability of every path that collapses to `l`; it is computed exactly by the
//! forward–backward recursion over the extended target `l'` (`l` with a blank before, between
//! and after its labels, `2|l| + 1` states), in log space, so that it neither underflows nor
//! overflows at any length (`T = 1000` and beyond).
//!
//! The gradient with respect to the logits is exact:
//! `dL/dz[t, k] = softmax(z[t])[k] - gamma[t, k]`, where `gamma[t, k]` is the posterior
//! probability that a path of `l` emits `k` at step `t` (`sum_{s: l'_s = k} alpha_t(s) beta_t(s)
//! / p(l | x)`), times the reduction's weight; steps at or past an example's length get zero.
//!
//! The conventions are PyTorch's `nn.CTCLoss` (with `log_softmax` of the logits as its input):
//! the same reductions, `zero_infinity`, and the same value for every input
//! (`tests/reference/make_ctc_reference.py` checks loss and gradient to 1e-10 in f64).
//! The decoders are best path ([`greedy_decode`]) and prefix beam search ([`beam_search`]).
//! A [`SequenceModel`](crate::SequenceModel) trains with it through
//! [`ctc_step`](crate::SequenceModel::ctc_step) and transcribes with
//! [`ctc_decode`](crate::SequenceModel::ctc_decode).

use std::collections::HashMap;

use ndarray::{Array3, ArrayView3};

use crate::core::error::{Error, Result};
use crate::kernels::float::Float;
use crate::kernels::threads::{join, num_threads};
use crate::training::loss::check_finite_values;

/// How the per-example losses become one number (as `nn.CTCLoss`'s `reduction`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum CtcReduction {
    /// Each example's loss divided by its target length (at least 1), then the mean over the
    /// batch (zero for an empty batch).
    #[default]
    Mean,
    /// The sum over the batch.
    Sum,
    /// No reduction: [`CtcLoss::losses`] holds each example's loss; [`CtcLoss::loss`] and the
    /// gradient are those of their sum.
    None,
}

/// The settings of [`ctc_loss`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct CtcOptions {
    /// The class index of the blank (PyTorch's default: 0).
    pub blank: usize,
    /// How the per-example losses are combined.
    pub reduction: CtcReduction,
    /// Replace an infinite loss (a target that no path of the input's length can produce) by 0,
    /// with a zero gradient for that example.
    pub zero_infinity: bool,
}

/// How [`SequenceModel::ctc_decode`](crate::SequenceModel::ctc_decode) turns the outputs into
/// labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum CtcDecoder {
    /// Best path: [`greedy_decode`].
    Greedy,
    /// Prefix beam search with `width` prefixes: [`beam_search`].
    Beam {
        /// The number of prefixes kept at each step (at least 1).
        width: usize,
    },
}

/// The result of [`ctc_loss`].
#[derive(Debug, Clone)]
pub struct CtcLoss<F> {
    /// The reduced loss (for [`CtcReduction::None`], the sum of [`CtcLoss::losses`]).
    pub loss: F,
    /// Each example's loss `-log p(target | input)`, before the reduction: `+inf` for an
    /// impossible alignment, or 0 with `zero_infinity`.
    pub losses: Vec<F>,
    /// `d loss / d logits`, `[T, B, C]`; zero at the steps `t >= input_lengths[b]`, and for an
    /// example whose loss is infinite (its gradient is undefined: PyTorch gives `NaN` there,
    /// `zero_infinity` gives 0; here it is 0 either way, the loss says what happened).
    pub grad: Array3<F>,
}

/// `log(exp(a) + exp(b))`, exact at `-inf`.
#[inline]
fn log_add(a: f64, b: f64) -> f64 {
    let (hi, lo) = if a > b { (a, b) } else { (b, a) };
    if lo == f64::NEG_INFINITY {
        hi
    } else {
        hi + (lo - hi).exp().ln_1p()
    }
}

/// Checks logits `[T, B, C]`, the blank and the input lengths (one per example, at most `T`),
/// naming what is wrong.
fn check_inputs<F: Float>(
    what: &str,
    logits: &ArrayView3<'_, F>,
    input_lengths: &[usize],
    blank: usize,
) -> Result<()> {
    let (t, b, c) = logits.dim();
    if c == 0 || blank >= c {
        return Err(Error::Invalid(format!(
            "{what}: blank class {blank} outside the logits' {c} classes ([T={t}, B={b}, C={c}])"
        )));
    }
    if input_lengths.len() != b {
        return Err(Error::Invalid(format!(
            "{what} input lengths: expected {b} (one per example of logits [T={t}, B={b}, C={c}]), \
             found {}",
            input_lengths.len()
        )));
    }
    if let Some((e, &len)) = input_lengths.iter().enumerate().find(|(_, &l)| l > t) {
        return Err(Error::Invalid(format!(
            "{what} input length of example {e}: expected at most T = {t}, found {len}"
        )));
    }
    check_finite_values(&format!("{what} logits"), logits)
}

/// `log_softmax` of the logits of example `b` at steps `0..len`, as `[len * C]` in f64.
fn log_softmax_rows<F: Float>(logits: &ArrayView3<'_, F>, b: usize, len: usize) -> Vec<f64> {
    let classes = logits.dim().2;
    let mut out = Vec::with_capacity(len * classes);
    for t in 0..len {
        let row = &mut out;
        let start = row.len();
        row.extend((0..classes).map(|k| logits[[t, b, k]].to_f64()));
        let max = row[start..]
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        let lse = row[start..]
            .iter()
            .map(|v| (v - max).exp())
            .sum::<f64>()
            .ln()
            + max;
        row[start..].iter_mut().for_each(|v| *v -= lse);
    }
    out
}

/// The smallest input length that can produce `target`: one step per label, plus one blank
/// between each pair of equal neighbours.
#[must_use]
pub fn min_input_length(target: &[usize]) -> usize {
    target.len() + target.windows(2).filter(|w| w[0] == w[1]).count()
}

/// One example: `-log p(target | x)` and the unscaled gradient of that loss with respect to
/// the example's logits, `softmax - gamma` as `[len * C]` (`None` when the alignment is
/// impossible). `lp` holds the `log_softmax` rows `[len * C]`.
fn example(lp: &[f64], classes: usize, target: &[usize], blank: usize) -> (f64, Option<Vec<f64>>) {
    let len = lp.len() / classes.max(1);
    if len < min_input_length(target) {
        return (f64::INFINITY, None);
    }
    if len == 0 {
        // Only the empty target, with the empty path: p = 1.
        return (0.0, Some(vec![]));
    }
    let n = 2 * target.len() + 1;
    let label = |s: usize| {
        if s.is_multiple_of(2) {
            blank
        } else {
            target[s / 2]
        }
    };
    // A path may skip the blank between two different labels.
    let skips = |s: usize| s >= 2 && s % 2 == 1 && label(s) != label(s - 2);
    // At step t only the states s in [first(t), last(t)) are on a complete path: reached
    // from the start (s < 2(t + 1)) and able to reach the end in the steps left
    // (s >= n - 2(len - t)). The others stay at -inf.
    let first = |t: usize| n.saturating_sub(2 * (len - t));
    let last = |t: usize| n.min(2 * (t + 1));
    let ninf = f64::NEG_INFINITY;
    let lp_at = |t: usize, s: usize| lp[t * classes + label(s)];
    let mut alpha = vec![ninf; len * n];
    alpha[0] = lp_at(0, 0);
    if n > 1 {
        alpha[1] = lp_at(0, 1);
    }
    for t in 1..len {
        let (prev, now) = alpha.split_at_mut(t * n);
        let (prev, now) = (&prev[(t - 1) * n..], &mut now[..n]);
        for s in first(t)..last(t) {
            let mut a = prev[s];
            if s >= 1 {
                a = log_add(a, prev[s - 1]);
            }
            if skips(s) {
                a = log_add(a, prev[s - 2]);
            }
            now[s] = if a == ninf { ninf } else { a + lp_at(t, s) };
        }
    }
    let end = &alpha[(len - 1) * n..];
    let log_p = if n > 1 {
        log_add(end[n - 1], end[n - 2])
    } else {
        end[0]
    };
    if log_p == ninf {
        return (f64::INFINITY, None);
    }
    // beta[t][s]: log probability of the rest of the path, steps t+1.., from state s at t.
    let mut beta = vec![ninf; len * n];
    beta[(len - 1) * n + n - 1] = 0.0;
    if n > 1 {
        beta[(len - 1) * n + n - 2] = 0.0;
    }
    for t in (0..len - 1).rev() {
        let (now, next) = beta.split_at_mut((t + 1) * n);
        let (now, next) = (&mut now[t * n..], &next[..n]);
        let emit = |s: usize| next[s] + lp_at(t + 1, s);
        for (s, slot) in now.iter_mut().enumerate().take(last(t)).skip(first(t)) {
            let mut b = emit(s);
            if s + 1 < n {
                b = log_add(b, emit(s + 1));
            }
            if s + 2 < n && skips(s + 2) {
                b = log_add(b, emit(s + 2));
            }
            *slot = b;
        }
    }
    // d(-log p)/dz = softmax - gamma, gamma[t][k] = sum_{s: l'_s = k} exp(alpha + beta - log p).
    let mut grad: Vec<f64> = lp.iter().map(|v| v.exp()).collect();
    for t in 0..len {
        for s in first(t)..last(t) {
            let v = alpha[t * n + s] + beta[t * n + s];
            if v > ninf {
                grad[t * classes + label(s)] -= (v - log_p).exp();
            }
        }
    }
    (-log_p, Some(grad))
}

/// The CTC loss of `logits: [T, B, C]` (unnormalized scores; `log_softmax` is applied here)
/// against `targets` (one label sequence per example, labels in `0..C` other than the blank,
/// possibly empty), where example `b` has `input_lengths[b] <= T` steps, and its gradient with
/// respect to the logits. Computed in f64 whatever `F` is.
///
/// An impossible alignment (fewer steps than [`min_input_length`] of the target) has loss
/// `+inf`, or 0 with [`CtcOptions::zero_infinity`]; its gradient is zero.
///
/// Errors: the blank is not a class; the number of targets or of input lengths is not `B`; an
/// input length exceeds `T`; a target holds the blank or a class `>= C`; a logit is `NaN` or
/// infinite.
pub fn ctc_loss<F: Float, L: AsRef<[usize]> + Sync>(
    logits: ArrayView3<'_, F>,
    targets: &[L],
    input_lengths: &[usize],
    options: &CtcOptions,
) -> Result<CtcLoss<F>> {
    let (t_max, batch, classes) = logits.dim();
    let blank = options.blank;
    check_inputs("ctc loss", &logits, input_lengths, blank)?;
    if targets.len() != batch {
        return Err(Error::Invalid(format!(
            "ctc loss targets: expected {batch} (one per example of logits [T={t_max}, B={batch}, \
             C={classes}]), found {}",
            targets.len()
        )));
    }
    for (e, target) in targets.iter().enumerate() {
        if let Some((i, &bad)) = target
            .as_ref()
            .iter()
            .enumerate()
            .find(|(_, &k)| k >= classes || k == blank)
        {
            return Err(Error::Invalid(format!(
                "ctc loss target of example {e}, label {i}: expected a class in 0..{classes} \
                 other than the blank {blank}, found {bad}"
            )));
        }
    }
    // Examples are independent: with two threads, each computes half of them (the result
    // does not depend on the split).
    let one = |b: usize| {
        let lp = log_softmax_rows(&logits, b, input_lengths[b]);
        example(&lp, classes, targets[b].as_ref(), blank)
    };
    let range = |r: std::ops::Range<usize>| r.map(one).collect::<Vec<_>>();
    let work: usize = (0..batch)
        .map(|b| input_lengths[b] * (2 * targets[b].as_ref().len() + 1 + classes))
        .sum();
    let results = if batch >= 2 && work >= 1 << 14 && num_threads() >= 2 {
        let (mut a, b) = join(|| range(0..batch / 2), || range(batch / 2..batch));
        a.extend(b);
        a
    } else {
        range(0..batch)
    };
    let mut grad = Array3::<F>::zeros((t_max, batch, classes));
    let mut losses = Vec::with_capacity(batch);
    let mut total = 0.0f64;
    for (b, (mut loss, example_grad)) in results.into_iter().enumerate() {
        if loss.is_infinite() && options.zero_infinity {
            loss = 0.0;
        }
        let weight = match options.reduction {
            CtcReduction::Mean => 1.0 / (targets[b].as_ref().len().max(1) as f64 * batch as f64),
            CtcReduction::Sum | CtcReduction::None => 1.0,
        };
        total += loss * weight;
        losses.push(F::from_f64(loss));
        let Some(example_grad) = example_grad else {
            continue;
        };
        for (t, row) in example_grad.chunks(classes).enumerate() {
            for (k, &g) in row.iter().enumerate() {
                grad[[t, b, k]] = F::from_f64(g * weight);
            }
        }
    }
    Ok(CtcLoss {
        loss: F::from_f64(total),
        losses,
        grad,
    })
}

/// Best-path decoding: at each step `t < input_lengths[b]` the most probable class, then
/// repeats merged and blanks dropped. `input_lengths: None` reads every step. (The labelling
/// of the most probable path, not always the most probable labelling: see [`beam_search`].)
///
/// Errors: as [`ctc_loss`] for the logits, the blank and the lengths.
pub fn greedy_decode<F: Float>(
    logits: ArrayView3<'_, F>,
    input_lengths: Option<&[usize]>,
    blank: usize,
) -> Result<Vec<Vec<usize>>> {
    let (t_max, batch, classes) = logits.dim();
    let all = vec![t_max; batch];
    let lengths = input_lengths.unwrap_or(&all);
    check_inputs("ctc greedy decoding", &logits, lengths, blank)?;
    Ok((0..batch)
        .map(|b| {
            let mut out = vec![];
            let mut previous = blank;
            for t in 0..lengths[b] {
                let mut best = 0;
                for k in 1..classes {
                    if logits[[t, b, k]] > logits[[t, b, best]] {
                        best = k;
                    }
                }
                if best != blank && best != previous {
                    out.push(best);
                }
                previous = best;
            }
            out
        })
        .collect())
}

/// Prefix beam search (Hannun et al. 2014, without a language model): keeps the `width`
/// most probable label prefixes, each with the probabilities of its paths ending in a blank
/// and in a label, so that paths that collapse to the same prefix are summed. Returns, per
/// example, the most probable labelling found and its log probability `log p(l | x)` (exact
/// for that labelling when the beam kept all its paths). `width = 1` keeps one prefix per step.
///
/// Errors: `width` is 0; otherwise as [`greedy_decode`].
pub fn beam_search<F: Float>(
    logits: ArrayView3<'_, F>,
    input_lengths: Option<&[usize]>,
    blank: usize,
    width: usize,
) -> Result<Vec<(Vec<usize>, f64)>> {
    let (t_max, batch, classes) = logits.dim();
    let all = vec![t_max; batch];
    let lengths = input_lengths.unwrap_or(&all);
    check_inputs("ctc beam search", &logits, lengths, blank)?;
    if width == 0 {
        return Err(Error::Invalid(
            "ctc beam search: expected a beam width of at least 1, found 0".into(),
        ));
    }
    let ninf = f64::NEG_INFINITY;
    Ok((0..batch)
        .map(|b| {
            let lp = log_softmax_rows(&logits, b, lengths[b]);
            // prefix -> (log p of its paths ending in a blank, ... ending in its last label)
            let mut beams: Vec<(Vec<usize>, (f64, f64))> = vec![(vec![], (0.0, ninf))];
            for lp_t in lp.chunks(classes) {
                let mut next: HashMap<Vec<usize>, (f64, f64)> = HashMap::new();
                for (prefix, (p_blank, p_label)) in &beams {
                    let p_any = log_add(*p_blank, *p_label);
                    for (k, &lp_k) in lp_t.iter().enumerate() {
                        if k == blank {
                            let e = next.entry(prefix.clone()).or_insert((ninf, ninf));
                            e.0 = log_add(e.0, p_any + lp_k);
                            continue;
                        }
                        let mut longer = prefix.clone();
                        longer.push(k);
                        if prefix.last() == Some(&k) {
                            // `k k` merges: only a blank in between starts a new label.
                            let e = next.entry(longer).or_insert((ninf, ninf));
                            e.1 = log_add(e.1, p_blank + lp_k);
                            let e = next.entry(prefix.clone()).or_insert((ninf, ninf));
                            e.1 = log_add(e.1, p_label + lp_k);
                        } else {
                            let e = next.entry(longer).or_insert((ninf, ninf));
                            e.1 = log_add(e.1, p_any + lp_k);
                        }
                    }
                }
                let mut ranked: Vec<(Vec<usize>, (f64, f64))> = next.into_iter().collect();
                // Most probable first; ties broken by the prefix, so the result is deterministic.
                ranked.sort_by(|(pa, a), (pb, b)| {
                    log_add(b.0, b.1)
                        .total_cmp(&log_add(a.0, a.1))
                        .then_with(|| pa.cmp(pb))
                });
                ranked.truncate(width);
                beams = ranked;
            }
            let (labels, (p_blank, p_label)) = beams.swap_remove(0);
            (labels, log_add(p_blank, p_label))
        })
        .collect())
}

/// Levenshtein distance between two label sequences (insertions, deletions and substitutions
/// cost 1): the numerator of the label error rate.
#[must_use]
pub fn edit_distance(a: &[usize], b: &[usize]) -> usize {
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, x) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, y) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(x != y));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// The label error rate of `decoded` against `targets`: the summed edit distances divided by
/// the summed target lengths (0 when every target is empty and every decoding too).
#[must_use]
pub fn label_error_rate<A: AsRef<[usize]>, B: AsRef<[usize]>>(decoded: &[A], targets: &[B]) -> f64 {
    let errors: usize = decoded
        .iter()
        .zip(targets)
        .map(|(d, t)| edit_distance(d.as_ref(), t.as_ref()))
        .sum();
    let total: usize = targets.iter().map(|t| t.as_ref().len()).sum();
    if total == 0 {
        errors as f64
    } else {
        errors as f64 / total as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;

    /// Logits whose softmax at each step is `probs[t]` (one example).
    fn from_probs(probs: &[&[f64]]) -> Array3<f64> {
        let c = probs[0].len();
        Array3::from_shape_fn((probs.len(), 1, c), |(t, _, k)| probs[t][k].ln())
    }

    #[test]
    fn the_loss_sums_every_alignment() {
        // T = 2, classes {blank, a}: "a" comes from a a, a -, - a.
        let (pb, pa) = (0.6, 0.4);
        let logits = from_probs(&[&[pb, pa], &[pb, pa]]);
        let opts = CtcOptions {
            reduction: CtcReduction::Sum,
            ..CtcOptions::default()
        };
        let r = ctc_loss(logits.view(), &[vec![1]], &[2], &opts).unwrap();
        let p = pa * pa + pa * pb + pb * pa;
        assert!((r.loss + p.ln()).abs() < 1e-12, "{} vs {}", r.loss, -p.ln());
        // The empty labelling: only - -.
        let r = ctc_loss(logits.view(), &[Vec::<usize>::new()], &[2], &opts).unwrap();
        assert!((r.loss + (pb * pb).ln()).abs() < 1e-12);
    }

    #[test]
    fn repeats_need_a_blank_and_impossible_alignments_are_infinite() {
        assert_eq!(min_input_length(&[1, 1, 2, 2, 2]), 8);
        let logits = Array3::<f64>::zeros((3, 2, 3));
        let opts = CtcOptions {
            reduction: CtcReduction::None,
            ..CtcOptions::default()
        };
        // "a a" needs a - a: 3 steps are enough, 2 are not.
        let r = ctc_loss(logits.view(), &[vec![1, 1], vec![1, 1]], &[3, 2], &opts).unwrap();
        assert!((r.losses[0] - (27.0f64).ln()).abs() < 1e-12); // one path of (1/3)^3
        assert!(r.losses[1].is_infinite() && r.loss.is_infinite());
        assert!(r.grad.iter().all(|g| g.is_finite()));
        let zero = CtcOptions {
            zero_infinity: true,
            ..opts
        };
        let r = ctc_loss(logits.view(), &[vec![1, 1], vec![1, 1]], &[3, 2], &zero).unwrap();
        assert_eq!(r.losses[1], 0.0);
        assert!(r
            .grad
            .slice(ndarray::s![.., 1, ..])
            .iter()
            .all(|&g| g == 0.0));
    }

    #[test]
    fn long_inputs_do_not_underflow() {
        let t = 2000;
        let logits = Array3::from_shape_fn((t, 1, 5), |(t, _, k)| ((t * 7 + k * 3) % 5) as f64);
        let target: Vec<usize> = (0..300).map(|i| 1 + i % 4).collect();
        let r = ctc_loss(logits.view(), &[target], &[t], &CtcOptions::default()).unwrap();
        assert!(r.loss.is_finite() && r.loss > 0.0, "{}", r.loss);
        // Each counted step's gradient sums to zero (softmax and the occupation both sum to 1).
        for step in 0..t {
            let s: f64 = r.grad.slice(ndarray::s![step, 0, ..]).sum();
            assert!(s.abs() < 1e-12, "step {step}: {s}");
        }
    }

    #[test]
    fn bad_inputs_are_errors_naming_them() {
        let logits = Array3::<f64>::zeros((4, 2, 3));
        let opts = CtcOptions::default();
        let err = |r: Result<CtcLoss<f64>>| r.unwrap_err().to_string();
        let msg = err(ctc_loss(logits.view(), &[vec![1]], &[4, 4], &opts));
        assert!(
            msg.contains("expected 2") && msg.contains("found 1"),
            "{msg}"
        );
        let msg = err(ctc_loss(logits.view(), &[vec![1], vec![0]], &[4, 4], &opts));
        assert!(
            msg.contains("example 1") && msg.contains("blank 0"),
            "{msg}"
        );
        let msg = err(ctc_loss(logits.view(), &[vec![1], vec![3]], &[4, 4], &opts));
        assert!(msg.contains("found 3"), "{msg}");
        let msg = err(ctc_loss(logits.view(), &[vec![1], vec![2]], &[4, 5], &opts));
        assert!(msg.contains("at most T = 4"), "{msg}");
        let blank = CtcOptions { blank: 3, ..opts };
        let msg = err(ctc_loss(
            logits.view(),
            &[vec![1], vec![2]],
            &[4, 4],
            &blank,
        ));
        assert!(msg.contains("blank class 3"), "{msg}");
        let mut nan = logits.clone();
        nan[[1, 1, 1]] = f64::NAN;
        let msg = err(ctc_loss(nan.view(), &[vec![1], vec![2]], &[4, 4], &opts));
        assert!(msg.contains("[1, 1, 1]"), "{msg}");
        assert!(beam_search(logits.view(), None, 0, 0).is_err());
    }

    #[test]
    fn greedy_collapses_repeats_and_drops_blanks() {
        // a a - a b b - (blank 0, a 1, b 2)
        let path = [1, 1, 0, 1, 2, 2, 0];
        let logits =
            Array3::from_shape_fn(
                (path.len(), 1, 3),
                |(t, _, k)| {
                    if k == path[t] {
                        2.0
                    } else {
                        0.0
                    }
                },
            );
        let out = greedy_decode(logits.view(), None, 0).unwrap();
        assert_eq!(out, vec![vec![1, 1, 2]]);
        // Only the first 4 steps: a a - a.
        let out = greedy_decode(logits.view(), Some(&[4]), 0).unwrap();
        assert_eq!(out, vec![vec![1, 1]]);
        let (beam, _) = &beam_search(logits.view(), Some(&[4]), 0, 4).unwrap()[0];
        assert_eq!(beam, &vec![1, 1]);
    }

    #[test]
    fn the_beam_finds_the_labelling_that_best_path_misses() {
        // Best path: - - ("", p = 0.36); the labelling "a" has p = 0.64 over three paths.
        let logits = from_probs(&[&[0.6, 0.4], &[0.6, 0.4]]);
        assert_eq!(
            greedy_decode(logits.view(), None, 0).unwrap(),
            vec![Vec::<usize>::new()]
        );
        let (labels, log_p) = &beam_search(logits.view(), None, 0, 2).unwrap()[0];
        assert_eq!(labels, &vec![1]);
        assert!((log_p - 0.64f64.ln()).abs() < 1e-12);
        // Agrees with the loss of that labelling.
        let opts = CtcOptions {
            reduction: CtcReduction::Sum,
            ..CtcOptions::default()
        };
        let r = ctc_loss(logits.view(), &[vec![1]], &[2], &opts).unwrap();
        assert!((r.loss + log_p).abs() < 1e-12);
    }

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance(&[1, 2, 3], &[1, 2, 3]), 0);
        assert_eq!(edit_distance(&[1, 3], &[1, 2, 3]), 1);
        assert_eq!(edit_distance(&[], &[1, 2]), 2);
        assert_eq!(edit_distance(&[2, 1], &[1, 2]), 2);
        let rate = label_error_rate(&[vec![1], vec![2, 2]], &[vec![1, 2], vec![2, 2]]);
        assert!((rate - 0.25).abs() < 1e-15);
    }
}
