//! [`SequenceModel`]: an optional embedding, stacked recurrent layers (any cells, each
//! unidirectional, reverse or bidirectional) with dropout between them, and an optional linear
//! head.
//! The application modes (classification, tagging, regression, generation) are built on its
//! [`SequenceModel::forward`] and [`SequenceModel::backward`]; see [`crate::modes`].

use ndarray::{Array2, Array3, ArrayD, ArrayView2, ArrayView3, Axis};
use rand::{Rng, RngExt};

use crate::core::cell::Layout;
use crate::core::dropout::{reborrow, DropoutRng, MaskSource, PART_DROPOUT};
use crate::core::dyn_cell::DynCell;
use crate::core::error::{Error, Result};
use crate::core::tensors::{check_finite_array, NamedTensors, Parameters};
use crate::kernels::float::Float;
use crate::nn::embedding::Embedding;
use crate::nn::layer::{LayerStates, LayerTrace, RecurrentLayer};
use crate::nn::linear::{Linear, LinearGrads};
use crate::training::data;

/// What a model reads: token ids `[T, B]` (the model needs an embedding) or feature vectors
/// `[T, B, I]`.
#[derive(Debug, Clone, Copy)]
pub enum Input<'a, F> {
    /// Token ids, time-major `[T, B]`.
    Tokens(ArrayView2<'a, usize>),
    /// Feature vectors, time-major `[T, B, I]`.
    Features(ArrayView3<'a, F>),
}

impl<F> Input<'_, F> {
    /// `(T, B)`.
    pub fn dims(&self) -> (usize, usize) {
        match self {
            Input::Tokens(t) => t.dim(),
            Input::Features(x) => (x.dim().0, x.dim().1),
        }
    }
}

/// A stack of recurrent layers between an optional embedding and an optional linear head.
///
/// Parameter names (in this order): `embedding.weight`; per layer `l`, `layer{l}.{name}` for
/// the forward cell's parameters (the spec's names) and `layer{l}.reverse.{name}` for the
/// reverse cell's (of a bidirectional layer, or the only cell of a reverse layer);
/// `head.weight`, `head.bias`.
#[derive(Debug, Clone)]
pub struct SequenceModel<F: Float> {
    /// Token embedding, when the model reads token ids.
    pub embedding: Option<Embedding<F>>,
    /// The recurrent layers, bottom first; each layer's outputs feed the next.
    pub layers: Vec<RecurrentLayer<F>>,
    /// Dropout probability on the inputs of layers 1.. (between layers), in training only.
    pub dropout: f64,
    /// The output head, applied at every step (or to a pooled state).
    pub head: Option<Linear<F>>,
}

/// The result of [`SequenceModel::forward`] (or [`SequenceModel::forward_batch_first`]).
#[derive(Debug, Clone)]
#[must_use = "a forward pass computes outputs, final states and traces for the backward pass"]
pub struct ModelForward<F: Float> {
    /// The top layer's outputs `[T, B, H]` (before the head); `[B, T, H]` from
    /// [`SequenceModel::forward_batch_first`] (see [`ModelForward::layout`]).
    pub hidden: Array3<F>,
    /// Every layer's final states, bottom first: feed them back as `init` to carry the state
    /// into the next chunk (truncated BPTT) or to start a decoder.
    pub final_states: Vec<LayerStates<F>>,
    /// Per-example lengths used.
    pub lengths: Vec<usize>,
    tokens: Option<Array2<usize>>,
    traces: Vec<LayerTrace<F>>,
    masks: Vec<Option<Array3<F>>>,
    layout: Layout,
}

impl<F: Float> ModelForward<F> {
    /// The layout of [`ModelForward::hidden`], in which [`SequenceModel::backward`] takes its
    /// gradient and returns the input gradient.
    pub fn layout(&self) -> Layout {
        self.layout
    }
}

/// The gradients from [`SequenceModel::backward`].
#[derive(Debug, Clone)]
#[must_use = "gradients do nothing until an optimizer applies them"]
pub struct ModelGradients<F> {
    /// Of every parameter, by the model's names and in the order of
    /// [`Parameters::tensors`] (the head's are zero unless given).
    pub params: NamedTensors<F>,
    /// Of the feature inputs `[T, B, I]` (`[B, T, I]` after
    /// [`SequenceModel::forward_batch_first`]; `None` for token inputs).
    pub inputs: Option<Array3<F>>,
    /// Of every layer's initial states: what an encoder receives from its decoder.
    pub initial_states: Vec<LayerStates<F>>,
}

impl<F: Float> SequenceModel<F> {
    /// A model of `layers` without embedding, dropout or head; checks that each layer reads
    /// what the one below emits.
    pub fn new(layers: Vec<RecurrentLayer<F>>) -> Result<Self> {
        let model = SequenceModel {
            embedding: None,
            layers,
            dropout: 0.0,
            head: None,
        };
        model.validate()?;
        Ok(model)
    }

    /// A model of unidirectional layers of the given cells.
    pub fn stack(cells: Vec<Box<dyn DynCell<F>>>) -> Result<Self> {
        Self::new(
            cells
                .into_iter()
                .map(RecurrentLayer::unidirectional)
                .collect(),
        )
    }

    /// Adds a token embedding of `vocab` ids into vectors of the bottom layer's input size.
    pub fn with_embedding(mut self, vocab: usize, rng: &mut dyn Rng) -> Result<Self> {
        let dim = self.input_size()?;
        self.embedding = Some(Embedding::new(vocab, dim, rng));
        Ok(self)
    }

    /// Adds a linear head from the top layer's outputs to `outputs` values.
    pub fn with_head(mut self, outputs: usize, rng: &mut dyn Rng) -> Result<Self> {
        let hidden = self.hidden_size()?;
        self.head = Some(Linear::new(hidden, outputs, rng));
        Ok(self)
    }

    /// Sets the dropout probability between layers (`0 <= p < 1`).
    pub fn with_dropout(mut self, p: f64) -> Result<Self> {
        if !(0.0..1.0).contains(&p) {
            return Err(Error::Invalid(format!(
                "dropout: expected a probability in [0, 1), found {p}"
            )));
        }
        self.dropout = p;
        Ok(self)
    }

    /// Checks that the sizes chain: embedding → layer 0 → ... → head.
    pub fn validate(&self) -> Result<()> {
        let first = self.layers.first().ok_or_else(|| {
            Error::Invalid("a sequence model needs at least one recurrent layer".into())
        })?;
        for (l, layer) in self.layers.iter().enumerate() {
            layer
                .check_direction()
                .map_err(|e| Error::Invalid(format!("layer {l}: {e}")))?;
        }
        if let Some(e) = &self.embedding {
            if e.dim() != first.input_size() {
                return Err(Error::Invalid(format!(
                    "embedding: layer 0 reads I = {}, the embedding gives D = {}",
                    first.input_size(),
                    e.dim()
                )));
            }
        }
        for (l, pair) in self.layers.windows(2).enumerate() {
            if pair[1].input_size() != pair[0].output_size() {
                return Err(Error::Invalid(format!(
                    "layer {}: expected input size {} (the output of layer {l}), found I = {}",
                    l + 1,
                    pair[0].output_size(),
                    pair[1].input_size()
                )));
            }
        }
        if let Some(h) = &self.head {
            let top = self.layers.last().map_or(0, |l| l.output_size());
            if h.inputs() != top {
                return Err(Error::Invalid(format!(
                    "head: expected input size {top} (the top layer's output), found {}",
                    h.inputs()
                )));
            }
        }
        Ok(())
    }

    /// The bottom layer's input size.
    pub fn input_size(&self) -> Result<usize> {
        self.layers
            .first()
            .map(|l| l.input_size())
            .ok_or_else(|| Error::Invalid("the model has no layers".into()))
    }

    /// The top layer's output size.
    pub fn hidden_size(&self) -> Result<usize> {
        self.layers
            .last()
            .map(|l| l.output_size())
            .ok_or_else(|| Error::Invalid("the model has no layers".into()))
    }

    /// Zero states of every layer for `batch` examples.
    pub fn zero_states(&self, batch: usize) -> Vec<LayerStates<F>> {
        self.layers.iter().map(|l| l.zero_states(batch)).collect()
    }

    /// A description of every part, for checkpoint metadata: the cell type, its dimensions and
    /// its spec's fingerprint per layer, and the embedding and head shapes.
    pub fn describe(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Some(e) = &self.embedding {
            out.push(("embedding".into(), format!("[{}, {}]", e.vocab(), e.dim())));
        }
        for (l, layer) in self.layers.iter().enumerate() {
            let cell = |c: &dyn DynCell<F>| {
                format!(
                    "{} {} spec:{:016x}",
                    c.cell_spec().name,
                    c.dims_text(),
                    c.cell_spec().fingerprint()
                )
            };
            for (prefix, c) in layer.named_cells() {
                // `layer0`, `layer0.reverse`: a reverse layer is told from a forward one.
                let part = format!("layer{l}.{prefix}");
                out.push((part.trim_end_matches('.').to_string(), cell(c)));
            }
        }
        if let Some(h) = &self.head {
            out.push(("head".into(), format!("[{}, {}]", h.inputs(), h.outputs())));
        }
        out.push(("dropout".into(), format!("{}", self.dropout)));
        out
    }

    fn features(&self, input: Input<'_, F>) -> Result<(Array3<F>, Option<Array2<usize>>)> {
        match (input, &self.embedding) {
            (Input::Tokens(t), Some(e)) => Ok((e.forward(t)?, Some(t.to_owned()))),
            (Input::Tokens(_), None) => Err(Error::Invalid(
                "token input: the model has no embedding; give feature vectors [T, B, I] or add one with with_embedding".into(),
            )),
            (Input::Features(x), _) => Ok((x.to_owned(), None)),
        }
    }

    fn check_init(&self, init: Option<&[LayerStates<F>]>) -> Result<()> {
        if let Some(init) = init {
            if init.len() != self.layers.len() {
                return Err(Error::Invalid(format!(
                    "initial states: expected one per layer ({}), found {}",
                    self.layers.len(),
                    init.len()
                )));
            }
        }
        Ok(())
    }

    /// Runs every layer over `input` (each example for `lengths[b]` steps; all `T` when
    /// `None`), from `init` (zeros when `None`). With `dropout_rng` (training), dropout is
    /// applied between layers with masks drawn from it, and so are the random masks of cells
    /// whose specs declare them (`mask m: [H] = bernoulli(p);`, layer by layer after that
    /// layer's dropout mask); without, the model is deterministic (cell masks at their
    /// expectation). The source is any RNG (`Some(&mut rng)`: one sequence of draws for the
    /// batch) or an [`crate::ExampleSeeds`] (each example's masks from streams of its own, the
    /// same whichever batch or shard the example is in).
    pub fn forward(
        &self,
        input: Input<'_, F>,
        lengths: Option<&[usize]>,
        init: Option<&[LayerStates<F>]>,
        dropout_rng: Option<&mut dyn DropoutRng>,
    ) -> Result<ModelForward<F>> {
        let lengths = self.checked_lengths(&input, lengths, init)?;
        let (mut x, tokens) = self.features(input)?;
        let mut source = dropout_rng;
        if let Some(MaskSource::PerExample(seeds)) = source.as_mut().map(|s| s.source()) {
            seeds.check_batch(lengths.len())?;
        }
        let mut traces = Vec::with_capacity(self.layers.len());
        let mut masks = Vec::with_capacity(self.layers.len());
        let mut final_states = Vec::with_capacity(self.layers.len());
        for (l, layer) in self.layers.iter().enumerate() {
            let keep = 1.0 - self.dropout;
            // Per-example streams are this layer's own; a shared RNG goes on drawing.
            let seeds = source.as_mut().and_then(|s| match s.source() {
                MaskSource::PerExample(seeds) => Some(seeds.at(l, PART_DROPOUT)),
                MaskSource::Shared(_) => None,
            });
            let mut layer_seeds = seeds;
            let layer_source: Option<&mut dyn DropoutRng> = match &mut layer_seeds {
                Some(seeds) => Some(seeds),
                None => reborrow(&mut source),
            };
            let (mask, layer_source) = match layer_source {
                Some(src) if l > 0 && self.dropout > 0.0 => {
                    let mask = dropout_mask(src, x.raw_dim(), keep);
                    x *= &mask;
                    (Some(mask), Some(src))
                }
                other => (None, other),
            };
            let (out, states, trace) =
                layer.forward_with(x.view(), &lengths, init.map(|s| &s[l]), layer_source)?;
            masks.push(mask);
            traces.push(trace);
            final_states.push(states);
            x = out;
        }
        Ok(ModelForward {
            hidden: x,
            final_states,
            lengths,
            tokens,
            traces,
            masks,
            layout: Layout::TimeMajor,
        })
    }

    /// Checks `init` against the layers and `lengths` against the input `[T, B]`; every example
    /// is `T` steps long when `lengths` is `None`.
    fn checked_lengths(
        &self,
        input: &Input<'_, F>,
        lengths: Option<&[usize]>,
        init: Option<&[LayerStates<F>]>,
    ) -> Result<Vec<usize>> {
        self.check_init(init)?;
        let (n_time, n_batch) = input.dims();
        match lengths {
            Some(l) => {
                data::check_lengths(l, n_time, n_batch)?;
                Ok(l.to_vec())
            }
            None => Ok(vec![n_time; n_batch]),
        }
    }

    /// The forward pass without dropout and without keeping anything for a backward pass:
    /// returns the top layer's outputs `[T, B, H]` and every layer's final states.
    pub fn infer(
        &self,
        input: Input<'_, F>,
        lengths: Option<&[usize]>,
        init: Option<&[LayerStates<F>]>,
    ) -> Result<(Array3<F>, Vec<LayerStates<F>>)> {
        let lengths = self.checked_lengths(&input, lengths, init)?;
        let (mut x, _) = self.features(input)?;
        let mut final_states = Vec::with_capacity(self.layers.len());
        for (l, layer) in self.layers.iter().enumerate() {
            let (out, states) = layer.infer(x.view(), &lengths, init.map(|s| &s[l]))?;
            final_states.push(states);
            x = out;
        }
        Ok((x, final_states))
    }

    /// [`SequenceModel::forward`] on batch-first features `x: [B, T, I]` (as burn, candle and
    /// Keras lay them out): [`ModelForward::hidden`] is `[B, T, H]`, and
    /// [`SequenceModel::backward`] then takes `d_hidden: [B, T, H]` and returns the input
    /// gradient `[B, T, I]`. The numbers are those of the time-major pass on the transposed
    /// input, exactly (the input, the outputs and their gradients are transposed at the
    /// boundary). Lengths, initial and final states are the same in both layouts.
    pub fn forward_batch_first(
        &self,
        x: ArrayView3<'_, F>,
        lengths: Option<&[usize]>,
        init: Option<&[LayerStates<F>]>,
        dropout_rng: Option<&mut dyn DropoutRng>,
    ) -> Result<ModelForward<F>> {
        crate::core::cell::check_batch_first_input(x, self.input_size()?)?;
        let time_major = Layout::BatchFirst.to_time_major(x);
        let mut fwd = self.forward(Input::Features(time_major), lengths, init, dropout_rng)?;
        fwd.hidden = Layout::BatchFirst.arrange(fwd.hidden.view());
        fwd.layout = Layout::BatchFirst;
        Ok(fwd)
    }

    /// [`SequenceModel::infer`] on batch-first features `x: [B, T, I]`: returns the top layer's
    /// outputs `[B, T, H]` and every layer's final states.
    pub fn infer_batch_first(
        &self,
        x: ArrayView3<'_, F>,
        lengths: Option<&[usize]>,
        init: Option<&[LayerStates<F>]>,
    ) -> Result<(Array3<F>, Vec<LayerStates<F>>)> {
        crate::core::cell::check_batch_first_input(x, self.input_size()?)?;
        let time_major = Layout::BatchFirst.to_time_major(x);
        let (hidden, states) = self.infer(Input::Features(time_major), lengths, init)?;
        Ok((Layout::BatchFirst.arrange(hidden.view()), states))
    }

    /// Back-propagates `d_hidden: [T, B, H]` (the gradient of [`ModelForward::hidden`], in its
    /// [`ModelForward::layout`]: `[B, T, H]` after [`SequenceModel::forward_batch_first`]) and
    /// `d_final` (of the final states, e.g. from a decoder) through every layer and the
    /// embedding. `head` holds the head's gradients when the caller applied the head. The input
    /// gradient comes back in the forward pass's layout.
    pub fn backward(
        &self,
        fwd: &ModelForward<F>,
        d_hidden: ArrayView3<'_, F>,
        d_final: Option<&[LayerStates<F>]>,
        head: Option<LinearGrads<F>>,
    ) -> Result<ModelGradients<F>> {
        if d_hidden.shape() != fwd.hidden.shape() {
            return Err(Error::shape(
                "gradient of the top layer's outputs",
                format!("{:?} (the outputs' shape)", fwd.hidden.shape()),
                d_hidden.shape(),
            ));
        }
        self.check_init(d_final)?;
        let mut d = fwd
            .layout
            .to_time_major(d_hidden)
            .as_standard_layout()
            .into_owned();
        let mut per_layer = Vec::with_capacity(self.layers.len());
        for (l, layer) in self.layers.iter().enumerate().rev() {
            let g = layer.backward(&fwd.traces[l], d.view(), d_final.map(|s| &s[l]))?;
            d = g.inputs.clone();
            if let Some(mask) = &fwd.masks[l] {
                d *= mask;
            }
            per_layer.push(g);
        }
        per_layer.reverse();
        let mut params = NamedTensors::new();
        let d_input = match (&self.embedding, &fwd.tokens) {
            (Some(e), Some(tokens)) => {
                params.push(
                    "embedding.weight",
                    e.backward(tokens.view(), d.view())?.into_dyn().view(),
                );
                None
            }
            (Some(e), None) => {
                params.push("embedding.weight", ArrayD::zeros(e.weight.shape()).view());
                Some(d)
            }
            (None, _) => Some(d),
        };
        let mut initial_states = Vec::with_capacity(per_layer.len());
        for (l, g) in per_layer.into_iter().enumerate() {
            let first = if self.layers[l].reversed {
                "reverse."
            } else {
                ""
            };
            params.extend_prefixed(&format!("layer{l}.{first}"), &g.forward);
            if let Some(r) = &g.reverse {
                params.extend_prefixed(&format!("layer{l}.reverse."), r);
            }
            initial_states.push(g.initial_states);
        }
        if let Some(h) = &self.head {
            let g = head.unwrap_or_else(|| LinearGrads {
                weight: Array2::zeros(h.weight.raw_dim()),
                bias: ndarray::Array1::zeros(h.bias.raw_dim()),
            });
            params.push("head.weight", g.weight.into_dyn().view());
            params.push("head.bias", g.bias.into_dyn().view());
        }
        Ok(ModelGradients {
            params,
            inputs: match fwd.layout {
                Layout::TimeMajor => d_input,
                Layout::BatchFirst => d_input.map(|d| Layout::BatchFirst.arrange(d.view())),
            },
            initial_states,
        })
    }

    /// Every parameter as named tensors (a copy), in the order of [`Parameters::tensors`]: what
    /// a checkpoint stores.
    pub fn named_params(&self) -> NamedTensors<F> {
        let mut out = NamedTensors::new();
        for (name, values) in self.tensors() {
            let shape = self.shape_of(&name);
            let array = ArrayD::from_shape_vec(shape, values.to_vec()).expect("shape matches");
            out.tensors.push((name, array));
        }
        out
    }

    fn shape_of(&self, name: &str) -> Vec<usize> {
        if name == "embedding.weight" {
            return self
                .embedding
                .as_ref()
                .map(|e| e.weight.shape().to_vec())
                .unwrap_or_default();
        }
        if let Some(rest) = name.strip_prefix("head.") {
            let h = self.head.as_ref().expect("head exists");
            return if rest == "weight" {
                h.weight.shape().to_vec()
            } else {
                h.bias.shape().to_vec()
            };
        }
        let (layer, rest) = name.split_once('.').expect("layer name");
        let l: usize = layer["layer".len()..].parse().expect("layer index");
        let (cell, param) = match rest.strip_prefix("reverse.") {
            Some(p) if self.layers[l].reversed => (self.layers[l].forward.as_ref(), p),
            Some(p) => (self.layers[l].reverse.as_deref().expect("reverse cell"), p),
            None => (self.layers[l].forward.as_ref(), rest),
        };
        cell.params()
            .get(param)
            .expect("known parameter")
            .shape()
            .to_vec()
    }

    /// Overwrites every parameter from `tensors` (names and shapes must match exactly, e.g. a
    /// checkpoint of the same model; every value finite: a `NaN` or infinite entry is an error
    /// naming the tensor and the entry). Validates everything before writing anything, so on
    /// error the model is unchanged.
    pub fn load_params(&mut self, tensors: &NamedTensors<F>) -> Result<()> {
        let own = self.named_params();
        if own.len() != tensors.len() {
            return Err(Error::Invalid(format!(
                "parameters: expected {} tensors ({}), found {} ({})",
                own.len(),
                own.names().join(", "),
                tensors.len(),
                tensors.names().join(", ")
            )));
        }
        for (name, value) in &own.tensors {
            let theirs = tensors.get(name)?;
            if theirs.shape() != value.shape() {
                return Err(Error::shape(
                    format!("parameter {name}"),
                    format!("{:?}", value.shape()),
                    theirs.shape(),
                ));
            }
            check_finite_array("parameter", name, theirs)?;
        }
        for (name, slot) in self.tensors_mut() {
            let theirs = tensors.get(&name)?;
            for (dst, &src) in slot.iter_mut().zip(theirs.iter()) {
                *dst = src;
            }
        }
        Ok(())
    }
}

impl<F: Float> Parameters<F> for SequenceModel<F> {
    fn tensors(&self) -> Vec<(String, &[F])> {
        let mut out = Vec::new();
        if let Some(e) = &self.embedding {
            out.push((
                "embedding.weight".to_string(),
                e.weight.as_slice().expect("standard layout"),
            ));
        }
        for (l, layer) in self.layers.iter().enumerate() {
            for (prefix, cell) in layer.named_cells() {
                for (name, v) in cell.params().tensors() {
                    out.push((format!("layer{l}.{prefix}{name}"), v));
                }
            }
        }
        if let Some(h) = &self.head {
            out.push((
                "head.weight".to_string(),
                h.weight.as_slice().expect("standard layout"),
            ));
            out.push((
                "head.bias".to_string(),
                h.bias.as_slice().expect("standard layout"),
            ));
        }
        out
    }

    fn tensors_mut(&mut self) -> Vec<(String, &mut [F])> {
        let mut out = Vec::new();
        if let Some(e) = &mut self.embedding {
            out.push((
                "embedding.weight".to_string(),
                e.weight.as_slice_mut().expect("standard layout"),
            ));
        }
        for (l, layer) in self.layers.iter_mut().enumerate() {
            for (prefix, cell) in layer.named_cells_mut() {
                for (name, v) in cell.params_mut().tensors_mut() {
                    out.push((format!("layer{l}.{prefix}{name}"), v));
                }
            }
        }
        if let Some(h) = &mut self.head {
            out.push((
                "head.weight".to_string(),
                h.weight.as_slice_mut().expect("standard layout"),
            ));
            out.push((
                "head.bias".to_string(),
                h.bias.as_slice_mut().expect("standard layout"),
            ));
        }
        out
    }
}

/// An inverted-dropout mask of shape `dim` (`[T, B, I]`): each entry `1 / keep` with
/// probability `keep`, else 0; drawn from the shared RNG in row-major order, or for each example
/// from its own stream, step after step (so its first steps do not depend on the padded `T`).
fn dropout_mask<F: Float>(source: &mut dyn DropoutRng, dim: ndarray::Ix3, keep: f64) -> Array3<F> {
    let scale = F::from_f64(1.0 / keep);
    let draw = |rng: &mut dyn Rng| {
        if rng.random::<f64>() < keep {
            scale
        } else {
            F::zero()
        }
    };
    match source.source() {
        MaskSource::Shared(rng) => Array3::from_shape_simple_fn(dim, || draw(rng)),
        MaskSource::PerExample(seeds) => {
            let mut mask = Array3::zeros(dim);
            for b in 0..dim[1] {
                let mut rng = seeds.stream(b, 0);
                for v in mask.index_axis_mut(Axis(1), b).iter_mut() {
                    *v = draw(&mut rng);
                }
            }
            mask
        }
    }
}
