//! [`RecurrentLayer`]: one layer of a model, a cell run forward in time, a cell run backward in
//! time (reverse), or two cells run in both directions (bidirectional) with their outputs
//! concatenated.

use ndarray::{concatenate, s, Array3, ArrayView3, Axis};

use crate::core::cell::Forward;
use crate::core::dropout::{DropoutRng, ExampleSeeds, MaskSource, PART_FORWARD, PART_REVERSE};
use crate::core::dyn_cell::DynCell;
use crate::core::error::{Error, Result};
use crate::core::masks::Masks;
use crate::core::params::ParamSet;
use crate::core::states::States;
use crate::kernels::float::Float;
use rand::Rng;

/// Where a layer's cells draw their masks: nowhere (expected), one RNG, or per-example
/// streams (the forward cell's and the reverse cell's).
enum LayerMasks<'a> {
    Expected,
    Shared(&'a mut dyn Rng),
    PerExample(ExampleSeeds, ExampleSeeds),
}

impl<'a> LayerMasks<'a> {
    fn new(source: Option<&'a mut dyn DropoutRng>) -> Self {
        match source.map(|s| s.source()) {
            None => LayerMasks::Expected,
            Some(MaskSource::Shared(rng)) => LayerMasks::Shared(rng),
            Some(MaskSource::PerExample(seeds)) => {
                LayerMasks::PerExample(seeds.with_part(PART_FORWARD), seeds.with_part(PART_REVERSE))
            }
        }
    }

    /// The masks of the forward cell (`reverse` false) or the reverse cell.
    fn masks<F>(&mut self, reverse: bool) -> Masks<'_, F> {
        match self {
            LayerMasks::Expected => Masks::Expected,
            LayerMasks::Shared(rng) => Masks::Draw(&mut **rng),
            LayerMasks::PerExample(fwd, rev) => Masks::PerExample(if reverse { rev } else { fwd }),
        }
    }
}

/// The states of one layer: the forward cell's, and the reverse cell's for a bidirectional
/// layer.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerStates<F> {
    /// States of the cell that runs forward in time (of the layer's only cell for a reverse
    /// layer, [`RecurrentLayer::reverse`]).
    pub forward: States<F>,
    /// States of the cell that runs backward in time (bidirectional layers only).
    pub reverse: Option<States<F>>,
}

/// A layer: `forward` runs over `x[0..len]`; `reverse`, when present, over each example's own
/// steps in reverse order (`x[len-1], ..., x[0]`, so padding never enters it), and its outputs
/// are put back in time order and concatenated after the forward cell's: `[T, B, O_f + O_r]`.
///
/// A reverse layer ([`RecurrentLayer::reverse`], `reversed` set) runs its one cell, held in
/// `forward`, over each example's own steps in reverse order, and puts its outputs back in time
/// order: `[T, B, O]`, the output at `t` aligned with the input at `t` (it has read
/// `x[len-1], ..., x[t]`).
///
/// Build layers with [`RecurrentLayer::unidirectional`], [`RecurrentLayer::reverse`] and
/// [`RecurrentLayer::bidirectional`]; [`RecurrentLayer::direction`] tells which one a layer is.
#[derive(Debug, Clone)]
pub struct RecurrentLayer<F: Float> {
    /// The cell run forward in time (for a reverse layer: its only cell, run backward).
    pub forward: Box<dyn DynCell<F>>,
    /// The cell run backward in time, for a bidirectional layer.
    pub reverse: Option<Box<dyn DynCell<F>>>,
    /// Whether `forward` runs backward in time: a reverse layer (then `reverse` is `None`).
    pub reversed: bool,
}

/// The direction(s) in which a [`RecurrentLayer`] runs through time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Direction {
    /// One cell, forward in time ([`RecurrentLayer::unidirectional`]).
    Forward,
    /// One cell, backward in time within each example's length ([`RecurrentLayer::reverse`]).
    Reverse,
    /// Two cells, one each way, outputs concatenated ([`RecurrentLayer::bidirectional`]).
    Bidirectional,
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
    /// Of the forward cell's parameters (of the only cell's, for a reverse layer).
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
            reversed: false,
        }
    }

    /// A layer running `cell` backward in time: over each example's own steps in reverse order
    /// (`x[len-1], ..., x[0]`, so padding never enters it), with its outputs put back in time
    /// order, `[T, B, O]`: the output at step `t` is the cell's after reading
    /// `x[len-1], ..., x[t]`. Its states are in [`LayerStates::forward`]; its final states are
    /// those after reading `x[0]`. Its parameters are named `layer{l}.reverse.{name}` in a
    /// [`crate::SequenceModel`], as the reverse cell of a bidirectional layer.
    pub fn reverse(cell: Box<dyn DynCell<F>>) -> Self {
        RecurrentLayer {
            forward: cell,
            reverse: None,
            reversed: true,
        }
    }

    /// Which way the layer runs.
    pub fn direction(&self) -> Direction {
        match (self.reversed, self.reverse.is_some()) {
            (false, false) => Direction::Forward,
            (true, _) => Direction::Reverse,
            (false, true) => Direction::Bidirectional,
        }
    }

    /// Refuses a layer whose fields were set to a reverse layer with a second cell.
    pub(crate) fn check_direction(&self) -> Result<()> {
        if self.reversed && self.reverse.is_some() {
            return Err(Error::Invalid(
                "layer: expected a reverse layer (`reversed`, one cell) or a bidirectional one \
                 (a `reverse` cell), found both"
                    .into(),
            ));
        }
        Ok(())
    }

    /// The prefixes of the layer's cells' parameter names in a model, with the cells:
    /// `("", forward)` and `("reverse.", reverse)`, or `("reverse.", cell)` for a reverse layer.
    pub(crate) fn named_cells(&self) -> Vec<(&'static str, &dyn DynCell<F>)> {
        let first = if self.reversed { "reverse." } else { "" };
        let mut cells: Vec<(&'static str, &dyn DynCell<F>)> = vec![(first, self.forward.as_ref())];
        if let Some(r) = &self.reverse {
            cells.push(("reverse.", r.as_ref()));
        }
        cells
    }

    /// [`RecurrentLayer::named_cells`], mutably.
    pub(crate) fn named_cells_mut(&mut self) -> Vec<(&'static str, &mut dyn DynCell<F>)> {
        let first = if self.reversed { "reverse." } else { "" };
        let mut cells: Vec<(&'static str, &mut dyn DynCell<F>)> =
            vec![(first, self.forward.as_mut())];
        if let Some(r) = &mut self.reverse {
            cells.push(("reverse.", r.as_mut()));
        }
        cells
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
            reversed: false,
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
    /// The cells' random masks, if their specs declare any, are at their expectation (see
    /// [`RecurrentLayer::forward_with`]).
    pub fn forward(
        &self,
        x: ArrayView3<'_, F>,
        lengths: &[usize],
        init: Option<&LayerStates<F>>,
    ) -> Result<(Array3<F>, LayerStates<F>, LayerTrace<F>)> {
        self.forward_with(x, lengths, init, None)
    }

    /// [`RecurrentLayer::forward`], training the cells' random masks when given `mask_rng`:
    /// drawn from it ([`crate::Cell::forward_train`]; the forward cell's first, then the
    /// reverse cell's; or from each example's streams, [`ExampleSeeds`]), at their expectation
    /// when `None`.
    pub fn forward_with(
        &self,
        x: ArrayView3<'_, F>,
        lengths: &[usize],
        init: Option<&LayerStates<F>>,
        mask_rng: Option<&mut dyn DropoutRng>,
    ) -> Result<(Array3<F>, LayerStates<F>, LayerTrace<F>)> {
        let mut masks = LayerMasks::new(mask_rng);
        self.check_direction()?;
        crate::training::data::check_lengths(lengths, x.dim().0, x.dim().1)?;
        let reversed = self.reversed.then(|| reverse_within_lengths(x, lengths));
        let fwd = self.forward.forward_masked(
            reversed.as_ref().map_or_else(|| x.view(), |r| r.view()),
            init.map(|s| &s.forward),
            Some(lengths),
            masks.masks(false),
        )?;
        let mut outputs = match reversed {
            Some(_) => reverse_within_lengths(fwd.outputs.view(), lengths),
            None => fwd.outputs.clone(),
        };
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
            let rev =
                reverse.forward_masked(x_rev.view(), init_rev, Some(lengths), masks.masks(true))?;
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
        self.check_direction()?;
        crate::training::data::check_lengths(lengths, x.dim().0, x.dim().1)?;
        let reversed = self.reversed.then(|| reverse_within_lengths(x, lengths));
        let fwd = self.forward.infer(
            reversed.as_ref().map_or_else(|| x.view(), |r| r.view()),
            init.map(|s| &s.forward),
            Some(lengths),
        )?;
        let mut final_states = LayerStates {
            forward: fwd.final_states,
            reverse: None,
        };
        let mut outputs = match reversed {
            Some(_) => reverse_within_lengths(fwd.outputs.view(), lengths),
            None => fwd.outputs,
        };
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
        self.check_direction()?;
        let of = self.forward.output_size();
        if d_outputs.dim().2 != self.output_size() {
            return Err(Error::shape(
                "layer output gradient",
                format!("[T, B, O={}]", self.output_size()),
                d_outputs.shape(),
            ));
        }
        let (n_time, n_batch) = (trace.forward.trace.n_time, trace.forward.trace.n_batch);
        if d_outputs.dim().0 != n_time || d_outputs.dim().1 != n_batch {
            return Err(Error::shape(
                "layer output gradient",
                format!("[T={n_time}, B={n_batch}, O={}]", self.output_size()),
                d_outputs.shape(),
            ));
        }
        let d_forward = d_outputs.slice(s![.., .., ..of]);
        let d_reversed = self
            .reversed
            .then(|| reverse_within_lengths(d_forward, &trace.lengths));
        let g = self.forward.backward(
            &trace.forward,
            d_reversed
                .as_ref()
                .map_or_else(|| d_forward.view(), |d| d.view()),
            d_final.map(|s| &s.forward),
        )?;
        let mut grads = LayerGradients {
            inputs: match d_reversed {
                Some(_) => reverse_within_lengths(g.inputs.view(), &trace.lengths),
                None => g.inputs,
            },
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
