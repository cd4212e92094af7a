//! The application modes of the textbook on a [`SequenceModel`]: sequence to class
//! (classification from the last output or the mean over time), synchronous sequence to
//! sequence (an output at every step: tagging, regression, language models), one to many
//! (generation from a prompt), and truncated backpropagation through time. The asynchronous
//! mode (encoder–decoder) is [`crate::Seq2Seq`].
//!
//! Each `*_step` method runs the forward pass (with dropout when given an RNG), the loss and
//! the backward pass, and returns a [`TrainStep`] whose gradients an
//! [`Optimizer`](crate::train::Optimizer) applies to the model.

use std::ops::Range;

use ndarray::{s, Array2, Array3, ArrayView2, ArrayView3, Axis};
use rand::{Rng, RngExt};

use crate::core::dropout::DropoutRng;
use crate::core::error::{Error, Result};
use crate::core::tensors::NamedTensors;
use crate::kernels::float::Float;
use crate::nn::layer::LayerStates;
use crate::nn::linear::{Linear, LinearGrads};
use crate::nn::model::{Input, ModelForward, SequenceModel};
#[cfg(doc)]
use crate::training::ctc::CtcReduction;
use crate::training::ctc::{beam_search, ctc_loss, greedy_decode, CtcDecoder, CtcOptions};
use crate::training::loss::{
    argmax_rows, check_finite_values, mse, sequence_cross_entropy, softmax_cross_entropy,
};

/// How a sequence becomes one vector for classification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Pooling {
    /// The top layer's output at each example's last step (`t = len - 1`); for a bidirectional
    /// top layer, the reverse half is taken at `t = 0`, where the reverse cell ends (and for a
    /// reverse top layer, the whole output is taken there). An example
    /// of length 0 pools to zeros.
    Last,
    /// The mean of the top layer's outputs over each example's steps (zeros for length 0).
    Mean,
}

/// The result of one training step: the loss, the gradients of every parameter (in the
/// model's order) and the final states (to carry into the next chunk of truncated BPTT).
#[derive(Debug, Clone)]
pub struct TrainStep<F> {
    /// The loss (mean over counted steps or examples).
    pub loss: F,
    /// Gradients of every parameter.
    pub grads: NamedTensors<F>,
    /// Every layer's final states.
    pub final_states: Vec<LayerStates<F>>,
}

/// The windows `[start, end)` of `chunk` steps covering `0..n_time` (the last may be shorter),
/// for truncated backpropagation through time: run each window from the previous window's
/// final states, so the state carries across chunks while the gradient stops at the borders.
pub fn tbptt_windows(n_time: usize, chunk: usize) -> Vec<Range<usize>> {
    let chunk = chunk.max(1);
    (0..n_time.div_ceil(chunk))
        .map(|k| k * chunk..((k + 1) * chunk).min(n_time))
        .collect()
}

/// Each example's number of steps inside `window` given its full `lengths`.
pub fn window_lengths(lengths: &[usize], window: &Range<usize>) -> Vec<usize> {
    lengths
        .iter()
        .map(|&len| len.clamp(window.start, window.end) - window.start)
        .collect()
}

/// Refuses a sampling temperature that is negative or not finite (a `NaN` one would silently
/// sample greedily).
pub fn check_temperature(temperature: f64) -> Result<()> {
    if temperature.is_finite() && temperature >= 0.0 {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "temperature: expected a finite number >= 0 (0: greedy), found {temperature}"
        )))
    }
}

/// Draws a class from `logits / temperature` (softmax); a temperature of 0 takes the argmax.
///
/// Errors: the temperature is negative or not finite (see [`check_temperature`]).
pub fn sample_logits<F: Float>(logits: &[F], temperature: f64, rng: &mut dyn Rng) -> Result<usize> {
    check_temperature(temperature)?;
    Ok(sample_checked(logits, temperature, rng))
}

/// [`sample_logits`] with a temperature already checked.
fn sample_checked<F: Float>(logits: &[F], temperature: f64, rng: &mut dyn Rng) -> usize {
    let argmax = || {
        let mut best = 0;
        for (j, v) in logits.iter().enumerate() {
            if *v > logits[best] {
                best = j;
            }
        }
        best
    };
    if temperature <= 0.0 || logits.is_empty() {
        return argmax();
    }
    let scaled: Vec<f64> = logits
        .iter()
        .map(|v| Float::to_f64(*v) / temperature)
        .collect();
    let max = scaled.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let weights: Vec<f64> = scaled.iter().map(|v| (v - max).exp()).collect();
    let total: f64 = weights.iter().sum();
    if !total.is_finite() || total <= 0.0 {
        return argmax();
    }
    let mut u = rng.random::<f64>() * total;
    for (j, w) in weights.iter().enumerate() {
        if u < *w {
            return j;
        }
        u -= w;
    }
    weights.len() - 1
}

/// The head applied at every step: `[T, B, H] -> [T, B, O]`.
fn head_every_step<F: Float>(head: &Linear<F>, hidden: ArrayView3<'_, F>) -> Result<Array3<F>> {
    let (t, b, h) = hidden.dim();
    let flat = hidden
        .to_shape((t * b, h))
        .map_err(|e| Error::Invalid(e.to_string()))?;
    let y = head.forward(flat.view())?;
    let o = y.ncols();
    y.into_shape_with_order((t, b, o))
        .map_err(|e| Error::Invalid(e.to_string()))
}

/// Back through the head applied at every step.
fn head_every_step_backward<F: Float>(
    head: &Linear<F>,
    hidden: ArrayView3<'_, F>,
    d_y: ArrayView3<'_, F>,
) -> Result<(Array3<F>, LinearGrads<F>)> {
    let (t, b, h) = hidden.dim();
    let flat = hidden
        .to_shape((t * b, h))
        .map_err(|e| Error::Invalid(e.to_string()))?;
    let dy = d_y
        .to_shape((t * b, d_y.dim().2))
        .map_err(|e| Error::Invalid(e.to_string()))?;
    let (dx, grads) = head.backward(flat.view(), dy.view())?;
    let dx = dx
        .into_shape_with_order((t, b, h))
        .map_err(|e| Error::Invalid(e.to_string()))?;
    Ok((dx, grads))
}

impl<F: Float> SequenceModel<F> {
    fn head_or_error(&self) -> Result<&Linear<F>> {
        self.head.as_ref().ok_or_else(|| {
            Error::Invalid("this mode needs an output head; add one with with_head".into())
        })
    }

    /// Where the top layer's forward half ends (the reverse half follows; a reverse layer is all
    /// reverse half).
    fn forward_width(&self) -> usize {
        self.layers.last().map_or(0, |l| {
            if l.reversed {
                0
            } else {
                l.forward.output_size()
            }
        })
    }

    fn pool(&self, hidden: ArrayView3<'_, F>, lengths: &[usize], pooling: Pooling) -> Array2<F> {
        let (_, b, h) = hidden.dim();
        let split = self.forward_width();
        let mut pooled = Array2::zeros((b, h));
        for (j, &len) in lengths.iter().enumerate() {
            if len == 0 {
                continue;
            }
            match pooling {
                Pooling::Last => {
                    pooled
                        .slice_mut(s![j, ..split])
                        .assign(&hidden.slice(s![len - 1, j, ..split]));
                    pooled
                        .slice_mut(s![j, split..])
                        .assign(&hidden.slice(s![0, j, split..]));
                }
                Pooling::Mean => {
                    let mean =
                        hidden.slice(s![..len, j, ..]).sum_axis(Axis(0)) / F::from_f64(len as f64);
                    pooled.row_mut(j).assign(&mean);
                }
            }
        }
        pooled
    }

    fn pool_backward(
        &self,
        d_pooled: ArrayView2<'_, F>,
        n_time: usize,
        lengths: &[usize],
        pooling: Pooling,
    ) -> Array3<F> {
        let (b, h) = d_pooled.dim();
        let split = self.forward_width();
        let mut d = Array3::zeros((n_time, b, h));
        for (j, &len) in lengths.iter().enumerate() {
            if len == 0 {
                continue;
            }
            match pooling {
                Pooling::Last => {
                    d.slice_mut(s![len - 1, j, ..split])
                        .assign(&d_pooled.slice(s![j, ..split]));
                    d.slice_mut(s![0, j, split..])
                        .assign(&d_pooled.slice(s![j, split..]));
                }
                Pooling::Mean => {
                    let share = d_pooled.row(j).mapv(|g| g / F::from_f64(len as f64));
                    for t in 0..len {
                        d.slice_mut(s![t, j, ..]).assign(&share);
                    }
                }
            }
        }
        d
    }

    /// Sequence to class (or to value): the head applied to the pooled outputs, `[B, C]`
    /// (logits for classification, values for regression).
    pub fn classify(
        &self,
        input: Input<'_, F>,
        lengths: Option<&[usize]>,
        pooling: Pooling,
    ) -> Result<Array2<F>> {
        let head = self.head_or_error()?;
        let (hidden, _) = self.infer(input, lengths, None)?;
        let lengths =
            lengths.map_or_else(|| vec![hidden.dim().0; hidden.dim().1], <[usize]>::to_vec);
        head.forward(self.pool(hidden.view(), &lengths, pooling).view())
    }

    /// The predicted class of each example (argmax of [`SequenceModel::classify`]).
    pub fn predict_class(
        &self,
        input: Input<'_, F>,
        lengths: Option<&[usize]>,
        pooling: Pooling,
    ) -> Result<Vec<usize>> {
        Ok(argmax_rows(self.classify(input, lengths, pooling)?.view()))
    }

    /// One training step of sequence to class: softmax cross-entropy of the classes
    /// `targets: [B]` against the logits of the pooled outputs.
    pub fn classify_step(
        &self,
        input: Input<'_, F>,
        lengths: Option<&[usize]>,
        targets: &[usize],
        pooling: Pooling,
        dropout_rng: Option<&mut dyn DropoutRng>,
    ) -> Result<TrainStep<F>> {
        self.pooled_step(input, lengths, pooling, dropout_rng, |logits, _| {
            softmax_cross_entropy(logits, targets, None)
        })
    }

    /// Sequence to value: one training step of mean squared error between the head's output on
    /// the pooled states, `[B, O]`, and `targets: [B, O]` (e.g. the adding problem).
    pub fn pooled_regression_step(
        &self,
        input: Input<'_, F>,
        lengths: Option<&[usize]>,
        targets: ArrayView2<'_, F>,
        pooling: Pooling,
        dropout_rng: Option<&mut dyn DropoutRng>,
    ) -> Result<TrainStep<F>> {
        check_finite_values("regression targets", &targets)?;
        self.pooled_step(input, lengths, pooling, dropout_rng, |y, _| mse(y, targets))
    }

    /// The training step of every sequence-to-one mode: forward, the head on the pooled
    /// outputs (`[B, O]`), `loss` of the head's output (given the lengths; the loss and its
    /// gradient), and the backward pass through head, pooling and layers.
    fn pooled_step(
        &self,
        input: Input<'_, F>,
        lengths: Option<&[usize]>,
        pooling: Pooling,
        dropout_rng: Option<&mut dyn DropoutRng>,
        loss: impl FnOnce(ArrayView2<'_, F>, &[usize]) -> Result<(F, Array2<F>)>,
    ) -> Result<TrainStep<F>> {
        let head = self.head_or_error()?;
        let fwd = self.forward(input, lengths, None, dropout_rng)?;
        let pooled = self.pool(fwd.hidden.view(), &fwd.lengths, pooling);
        let y = head.forward(pooled.view())?;
        let (loss, d_y) = loss(y.view(), &fwd.lengths)?;
        let (d_pooled, head_grads) = head.backward(pooled.view(), d_y.view())?;
        let d_hidden =
            self.pool_backward(d_pooled.view(), fwd.hidden.dim().0, &fwd.lengths, pooling);
        self.finish(fwd, loss, d_hidden.view(), head_grads)
    }

    /// The training step of every synchronous sequence-to-sequence mode: forward from `init`,
    /// the head at every step (`[T, B, O]`), `loss` of the head's outputs (given the lengths;
    /// the loss and its gradient), and the backward pass through head and layers.
    fn every_step_step(
        &self,
        input: Input<'_, F>,
        lengths: Option<&[usize]>,
        init: Option<&[LayerStates<F>]>,
        dropout_rng: Option<&mut dyn DropoutRng>,
        loss: impl FnOnce(ArrayView3<'_, F>, &[usize]) -> Result<(F, Array3<F>)>,
    ) -> Result<TrainStep<F>> {
        let head = self.head_or_error()?;
        let fwd = self.forward(input, lengths, init, dropout_rng)?;
        let y = head_every_step(head, fwd.hidden.view())?;
        let (loss, d_y) = loss(y.view(), &fwd.lengths)?;
        let (d_hidden, head_grads) = head_every_step_backward(head, fwd.hidden.view(), d_y.view())?;
        self.finish(fwd, loss, d_hidden.view(), head_grads)
    }

    fn finish(
        &self,
        fwd: ModelForward<F>,
        loss: F,
        d_hidden: ArrayView3<'_, F>,
        head: LinearGrads<F>,
    ) -> Result<TrainStep<F>> {
        let grads = self.backward(&fwd, d_hidden, None, Some(head))?;
        Ok(TrainStep {
            loss,
            grads: grads.params,
            final_states: fwd.final_states,
        })
    }

    /// Synchronous sequence to sequence: the head's output at every step `[T, B, O]` (logits
    /// for tagging and language models, values for regression; zero-input steps after an
    /// example's length give the head's bias), and the final states.
    pub fn outputs(
        &self,
        input: Input<'_, F>,
        lengths: Option<&[usize]>,
        init: Option<&[LayerStates<F>]>,
    ) -> Result<(Array3<F>, Vec<LayerStates<F>>)> {
        let head = self.head_or_error()?;
        let (hidden, states) = self.infer(input, lengths, init)?;
        Ok((head_every_step(head, hidden.view())?, states))
    }

    /// One training step of unaligned sequence labelling (speech recognition, handwriting):
    /// the CTC loss of the head's outputs at every step (`[T, B, C]` logits over the labels and
    /// the blank) against `targets` (one label sequence per example, shorter than its input),
    /// with each example's input length from `lengths` (`T` when `None`). See [`crate::ctc`]
    /// for the loss, its options and its gradient. The whole sequence is one step (no
    /// truncation: the loss couples every step of an example). The reported loss is the
    /// reduced one (for [`CtcReduction::None`], the sum over examples).
    ///
    /// Errors: as [`ctc_loss`](crate::ctc::ctc_loss) (a label that is the blank or outside the
    /// head's classes, the wrong number of targets) and as the forward pass.
    pub fn ctc_step<L: AsRef<[usize]> + Sync>(
        &self,
        input: Input<'_, F>,
        lengths: Option<&[usize]>,
        targets: &[L],
        options: &CtcOptions,
        dropout_rng: Option<&mut dyn DropoutRng>,
    ) -> Result<TrainStep<F>> {
        self.every_step_step(input, lengths, None, dropout_rng, |logits, lengths| {
            let result = ctc_loss(logits, targets, lengths, options)?;
            Ok((result.loss, result.grad))
        })
    }

    /// Transcribes each example with the head's outputs (`[T, B, C]` logits over the labels
    /// and the `blank`): best path ([`CtcDecoder::Greedy`]) or prefix beam search,
    /// over the steps `t < lengths[b]`.
    ///
    /// Errors: the model has no head; the blank is not one of its classes; as the forward pass.
    pub fn ctc_decode(
        &self,
        input: Input<'_, F>,
        lengths: Option<&[usize]>,
        blank: usize,
        decoder: CtcDecoder,
    ) -> Result<Vec<Vec<usize>>> {
        let (logits, _) = self.outputs(input, lengths, None)?;
        let (t, b, _) = logits.dim();
        let all = vec![t; b];
        let lengths = lengths.unwrap_or(&all);
        match decoder {
            CtcDecoder::Greedy => greedy_decode(logits.view(), Some(lengths), blank),
            CtcDecoder::Beam { width } => {
                Ok(beam_search(logits.view(), Some(lengths), blank, width)?
                    .into_iter()
                    .map(|(labels, _)| labels)
                    .collect())
            }
        }
    }

    /// One training step of tagging or language modelling: softmax cross-entropy of the class
    /// `targets: [T, B]` at every step `t < lengths[b]`, from `init` (zeros when `None`).
    pub fn tag_step(
        &self,
        input: Input<'_, F>,
        lengths: Option<&[usize]>,
        targets: ArrayView2<'_, usize>,
        init: Option<&[LayerStates<F>]>,
        dropout_rng: Option<&mut dyn DropoutRng>,
    ) -> Result<TrainStep<F>> {
        self.every_step_step(input, lengths, init, dropout_rng, |logits, lengths| {
            sequence_cross_entropy(logits, targets, Some(lengths))
        })
    }

    /// One training step of sequence regression: mean squared error of the head's outputs
    /// against `targets: [T, B, O]` over the steps `t < lengths[b]` (mean over counted values),
    /// from `init`.
    pub fn regress_step(
        &self,
        input: Input<'_, F>,
        lengths: Option<&[usize]>,
        targets: ArrayView3<'_, F>,
        init: Option<&[LayerStates<F>]>,
        dropout_rng: Option<&mut dyn DropoutRng>,
    ) -> Result<TrainStep<F>> {
        self.every_step_step(input, lengths, init, dropout_rng, |y, lengths| {
            masked_mse(y, targets, lengths)
        })
    }

    /// One to many: feeds the `prompt` tokens (at least one), then generates `count` tokens,
    /// each drawn from the head's logits at `temperature` (0: greedy) and fed back. Needs an
    /// embedding, a head and unidirectional layers; a negative or non-finite temperature is an
    /// error.
    pub fn generate(
        &self,
        prompt: &[usize],
        count: usize,
        temperature: f64,
        rng: &mut dyn Rng,
    ) -> Result<Vec<usize>> {
        self.generate_until(prompt, count, temperature, rng, &mut |_| false)
    }

    /// [`SequenceModel::generate`] that stops early, after the first token for which
    /// `done(generated so far)` is true (e.g. an end symbol), or after `max` tokens.
    pub fn generate_until(
        &self,
        prompt: &[usize],
        max: usize,
        temperature: f64,
        rng: &mut dyn Rng,
        done: &mut dyn FnMut(&[usize]) -> bool,
    ) -> Result<Vec<usize>> {
        let head = self.head_or_error()?;
        check_temperature(temperature)?;
        if self.embedding.is_none() {
            return Err(Error::Invalid("generation needs a token embedding".into()));
        }
        if let Some(l) = self
            .layers
            .iter()
            .position(|l| l.reverse.is_some() || l.reversed)
        {
            return Err(Error::Invalid(format!(
                "generation needs layers that run forward in time; layer {l} is {:?}",
                self.layers[l].direction()
            )));
        }
        if prompt.is_empty() {
            return Err(Error::Invalid("generation: expected a prompt of at least one token (e.g. a start symbol), found none".into()));
        }
        let tokens = Array2::from_shape_vec((prompt.len(), 1), prompt.to_vec()).expect("[T, 1]");
        let (hidden, mut states) = self.infer(Input::Tokens(tokens.view()), None, None)?;
        let mut logits = head.forward(hidden.slice(s![hidden.dim().0 - 1, .., ..]))?;
        let mut out = Vec::with_capacity(max);
        while out.len() < max {
            let next = sample_checked(&logits.row(0).to_vec(), temperature, rng);
            out.push(next);
            if out.len() == max || done(&out) {
                break;
            }
            let token = Array2::from_elem((1, 1), next);
            let (hidden, next_states) =
                self.infer(Input::Tokens(token.view()), None, Some(&states))?;
            states = next_states;
            logits = head.forward(hidden.slice(s![0, .., ..]))?;
        }
        Ok(out)
    }
}

/// Mean squared error of `y: [T, B, O]` against `targets` over the steps `t < lengths[b]`
/// (mean over the counted values), and its gradient.
fn masked_mse<F: Float>(
    y: ArrayView3<'_, F>,
    targets: ArrayView3<'_, F>,
    lengths: &[usize],
) -> Result<(F, Array3<F>)> {
    if y.shape() != targets.shape() {
        return Err(Error::shape(
            "regression targets",
            format!("{:?} (the outputs' shape)", y.shape()),
            targets.shape(),
        ));
    }
    // Steps after an example's length count for nothing: their target is the output itself
    // (so whatever padding the caller put there, even NaN, is never read).
    let mut counted = 0usize;
    let mut targets = targets.to_owned();
    for (b, &len) in lengths.iter().enumerate() {
        counted += len;
        targets
            .slice_mut(s![len.., b, ..])
            .assign(&y.slice(s![len.., b, ..]));
    }
    check_finite_values("regression targets", &targets.view())?;
    let (sum_loss, mut d_y) = mse(y.view(), targets.view())?;
    let all = y.len().max(1) as f64;
    let share = all / (counted.max(1) * y.dim().2).max(1) as f64;
    let loss = sum_loss * F::from_f64(share);
    d_y.mapv_inplace(|g| g * F::from_f64(share));
    Ok((loss, d_y))
}
