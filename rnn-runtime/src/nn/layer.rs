//! [`RecurrentLayer`]: one layer of a model, a cell run forward in time, or two cells run in
//! both directions (bidirectional) with their outputs concatenated.

use ndarray::{concatenate, s, Array3, ArrayView3, Axis};

use crate::core::cell::Forward;
use crate::core::dyn_cell::DynCell;
use crate::core::error::{Error, Result};
use crate::core::params::ParamSet;
use crate::core::states::States;
use crate::kernels::float::Float;

/// The states of one layer: the forward cell's, and the reverse cell's for a bidirectional
/// layer.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerStates<F> {
    /// States of the cell that runs forward in time.
    pub forward: States<F>,
    /// States of the cell that runs backward in time (bidirectional layers only).
    pub reverse: Option<States<F>>,
}

/// A layer: `forward` runs over `x[0..len]`; `reverse`, when present, over each example's own
/// steps in reverse order (`x[len-1], ..., x[0]`, so padding never enters it), and its outputs
/// are put back in time order and concatenated after the forward cell's: `[T, B, O_f + O_r]`.
#[derive(Debug, Clone)]
pub struct RecurrentLayer<F: Float> {
    /// The cell run forward in time.
    pub forward: Box<dyn DynCell<F>>,
    /// The cell run backward in time, for a bidirectional layer.
    pub reverse: Option<Box<dyn DynCell<F>>>,
}

/// What [`RecurrentLayer::backward`] needs from [`RecurrentLayer::forward`].
#[derive(Debug, Clone)]
pub struct LayerTrace<F: Float> {
    forward: Forward<F>,
    reverse: Option<Forward<F>>,
    lengths: Vec<usize>,
}

/// The gradients of one layer.
#[derive(Debug, Clone)]
pub struct LayerGradients<F> {
    /// Of the input `[T, B, I]`.
    pub inputs: Array3<F>,
    /// Of the forward cell's parameters.
    pub forward: ParamSet<F>,
    /// Of the reverse cell's parameters.
    pub reverse: Option<ParamSet<F>>,
    /// Of the initial states.
    pub initial_states: LayerStates<F>,
}

/// `y[t, b] = x[len_b - 1 - t, b]` for `t < len_b`, zero after: each example's own steps in
/// reverse order. Applying it twice gives back `x` (up to the zeros after each length).
pub fn reverse_within_lengths<F: Float>(x: ArrayView3<'_, F>, lengths: &[usize]) -> Array3<F> {
    let mut y = Array3::zeros(x.raw_dim());
    for (b, &len) in lengths.iter().enumerate() {
        for t in 0..len {
            y.slice_mut(s![t, b, ..])
                .assign(&x.slice(s![len - 1 - t, b, ..]));
        }
    }
    y
}

impl<F: Float> RecurrentLayer<F> {
    /// A layer running `cell` forward in time.
    pub fn unidirectional(cell: Box<dyn DynCell<F>>) -> Self {
        RecurrentLayer {
            forward: cell,
            reverse: None,
        }
    }

    /// A bidirectional layer; both cells must read inputs of the same size.
    pub fn bidirectional(
        forward: Box<dyn DynCell<F>>,
        reverse: Box<dyn DynCell<F>>,
    ) -> Result<Self> {
        if forward.input_size() != reverse.input_size() {
            return Err(Error::Invalid(format!(
                "bidirectional layer: the reverse cell reads I = {}, expected I = {} as the forward cell",
                reverse.input_size(),
                forward.input_size()
            )));
        }
        Ok(RecurrentLayer {
            forward,
            reverse: Some(reverse),
        })
    }

    /// Input size.
    pub fn input_size(&self) -> usize {
        self.forward.input_size()
    }

    /// Output size: the forward cell's, plus the reverse cell's when bidirectional.
    pub fn output_size(&self) -> usize {
        self.forward.output_size() + self.reverse.as_ref().map_or(0, |r| r.output_size())
    }

    /// Zero states for `batch` examples.
    pub fn zero_states(&self, batch: usize) -> LayerStates<F> {
        LayerStates {
            forward: self.forward.zero_states(batch),
            reverse: self.reverse.as_ref().map(|r| r.zero_states(batch)),
        }
    }

    /// Runs the layer over `x: [T, B, I]` with every example's length, from `init` (zeros when
    /// `None`); returns the outputs `[T, B, O]`, the final states and the trace for backward.
    pub fn forward(
        &self,
        x: ArrayView3<'_, F>,
        lengths: &[usize],
        init: Option<&LayerStates<F>>,
    ) -> Result<(Array3<F>, LayerStates<F>, LayerTrace<F>)> {
        let fwd = self
            .forward
            .forward(x, init.map(|s| &s.forward), Some(lengths))?;
        let mut outputs = fwd.outputs.clone();
        let mut final_states = LayerStates {
            forward: fwd.final_states.clone(),
            reverse: None,
        };
        let mut trace = LayerTrace {
            forward: fwd,
            reverse: None,
            lengths: lengths.to_vec(),
        };
        if let Some(reverse) = &self.reverse {
            let x_rev = reverse_within_lengths(x, lengths);
            let init_rev = init.and_then(|s| s.reverse.as_ref());
            let rev = reverse.forward(x_rev.view(), init_rev, Some(lengths))?;
            let back = reverse_within_lengths(rev.outputs.view(), lengths);
            outputs = concatenate(Axis(2), &[outputs.view(), back.view()])
                .map_err(|e| Error::Invalid(e.to_string()))?;
            final_states.reverse = Some(rev.final_states.clone());
            trace.reverse = Some(rev);
        }
        Ok((outputs, final_states, trace))
    }

    /// [`RecurrentLayer::forward`] without keeping anything for a backward pass.
    pub fn infer(
        &self,
        x: ArrayView3<'_, F>,
        lengths: &[usize],
        init: Option<&LayerStates<F>>,
    ) -> Result<(Array3<F>, LayerStates<F>)> {
        let fwd = self
            .forward
            .infer(x, init.map(|s| &s.forward), Some(lengths))?;
        let mut final_states = LayerStates {
            forward: fwd.final_states,
            reverse: None,
        };
        let mut outputs = fwd.outputs;
        if let Some(reverse) = &self.reverse {
            let x_rev = reverse_within_lengths(x, lengths);
            let init_rev = init.and_then(|s| s.reverse.as_ref());
            let rev = reverse.infer(x_rev.view(), init_rev, Some(lengths))?;
            let back = reverse_within_lengths(rev.outputs.view(), lengths);
            outputs = concatenate(Axis(2), &[outputs.view(), back.view()])
                .map_err(|e| Error::Invalid(e.to_string()))?;
            final_states.reverse = Some(rev.final_states);
        }
        Ok((outputs, final_states))
    }

    /// Back-propagates `d_outputs: [T, B, O]` (and `d_final`, the gradient of the final
    /// states) through the layer.
    pub fn backward(
        &self,
        trace: &LayerTrace<F>,
        d_outputs: ArrayView3<'_, F>,
        d_final: Option<&LayerStates<F>>,
    ) -> Result<LayerGradients<F>> {
        let of = self.forward.output_size();
        if d_outputs.dim().2 != self.output_size() {
            return Err(Error::shape(
                "layer output gradient",
                format!("[T, B, O={}]", self.output_size()),
                d_outputs.shape(),
            ));
        }
        let g = self.forward.backward(
            &trace.forward,
            d_outputs.slice(s![.., .., ..of]),
            d_final.map(|s| &s.forward),
        )?;
        let mut grads = LayerGradients {
            inputs: g.inputs,
            forward: g.params,
            reverse: None,
            initial_states: LayerStates {
                forward: g.initial_states,
                reverse: None,
            },
        };
        if let (Some(reverse), Some(rev_trace)) = (&self.reverse, &trace.reverse) {
            let d_rev = reverse_within_lengths(d_outputs.slice(s![.., .., of..]), &trace.lengths);
            let gr = reverse.backward(
                rev_trace,
                d_rev.view(),
                d_final.and_then(|s| s.reverse.as_ref()),
            )?;
            grads.inputs += &reverse_within_lengths(gr.inputs.view(), &trace.lengths);
            grads.reverse = Some(gr.params);
            grads.initial_states.reverse = Some(gr.initial_states);
        }
        Ok(grads)
    }
}
