use ndarray::{Array2, Array3, ArrayView, ArrayView2, ArrayView3, ArrayViewD, Axis, Dimension};
use rand::Rng;

use crate::core::error::{Error, Result};
use crate::core::init::Init;
use crate::core::masks::{MaskSpec, Masks};
use crate::core::params::ParamSet;
use crate::core::states::States;
use crate::core::step::StepSpec;
use crate::kernels::float::Float;
use crate::kernels::pool;

/// The static description of a cell, generated from its spec.
#[derive(Debug, PartialEq)]
pub struct CellSpec {
    /// The cell's name (`Lstm`).
    pub name: &'static str,
    /// Dimension names (`I`, `H`, ...), in order of first appearance.
    pub dims: &'static [&'static str],
    /// The input's name (`x`) and shape (`[I]`).
    pub input: (&'static str, &'static str),
    /// The largest delay `k` read as `x[t-k]` (0 when the cell reads only `x[t]`): the cell
    /// carries its last `input_delay` inputs in [`States::inputs`] across calls.
    pub input_delay: usize,
    /// The states, in declaration order.
    pub states: &'static [StateSpec],
    /// The parameters, in declaration order.
    pub params: &'static [ParamSpec],
    /// The random masks (`mask m: [H] = bernoulli(p);`), in declaration order.
    pub masks: &'static [MaskSpec],
    /// The operations of one step, as the compiler computes them (for tools such as the ONNX
    /// exporter).
    pub step: &'static StepSpec,
    /// What the cell emits each step (`h[t]`).
    pub output: &'static str,
    /// The equations, as written in the spec.
    pub equations: &'static str,
}

/// A state declaration.
#[derive(Debug, PartialEq)]
pub struct StateSpec {
    /// Name (`h`).
    pub name: &'static str,
    /// Shape as written (`[H]`).
    pub shape: &'static str,
    /// The largest delay `k` read as `h[t-k]` (at least 1): the state keeps `delay - 1` steps of
    /// history besides its current value.
    pub delay: usize,
}

/// A parameter declaration.
#[derive(Debug, PartialEq)]
pub struct ParamSpec {
    /// Name (`W_xi`).
    pub name: &'static str,
    /// Shape as written (`[I, H]`).
    pub shape: &'static str,
    /// Initializer.
    pub init: Init,
}

/// What the backward pass needs from the forward pass: the inputs and the values the compiler
/// decided to keep (activated gates, states, products). Opaque to users.
#[derive(Debug, Clone)]
pub struct Trace<F: Float> {
    #[doc(hidden)]
    pub cell: &'static str,
    #[doc(hidden)]
    pub n_time: usize,
    #[doc(hidden)]
    pub n_batch: usize,
    #[doc(hidden)]
    pub lengths: Vec<usize>,
    #[doc(hidden)]
    pub dims: Vec<usize>,
    #[doc(hidden)]
    pub buffers: Vec<Vec<F>>,
    /// The identity of the parameters the forward pass read ([`ParamSet::id`]) and their
    /// generation ([`ParamSet::generation`]): `backward` refuses a trace of other parameters.
    #[doc(hidden)]
    pub params: (u64, u64),
}

impl<F: Float> Drop for Trace<F> {
    fn drop(&mut self) {
        // Hand the buffers back for the next forward pass.
        self.buffers.drain(..).for_each(pool::give);
    }
}

/// The result of a forward pass over a sequence: the outputs, the final states and the trace
/// for [`Cell::backward`], from which [`Forward::states`] also reads every state at every step.
#[derive(Debug, Clone)]
#[must_use = "a forward pass computes outputs, final states and a trace for the backward pass"]
pub struct Forward<F: Float> {
    /// The output at every step, `[T, B, O]`; zero after an example's length.
    pub outputs: Array3<F>,
    /// The states after each example's last step (and their history), ready to start the next
    /// chunk of a truncated-BPTT sequence.
    pub final_states: States<F>,
    /// What the backward pass needs.
    pub trace: Trace<F>,
}

/// The result of an inference pass ([`Cell::infer`]): a forward pass that keeps nothing for a
/// backward pass.
#[derive(Debug, Clone)]
#[must_use = "an inference pass computes outputs and final states"]
pub struct Inference<F: Float> {
    /// The output at every step, `[T, B, O]`; zero after an example's length.
    pub outputs: Array3<F>,
    /// The states after each example's last step (and their history).
    pub final_states: States<F>,
}

/// Gradients of a scalar loss, from [`Cell::backward`].
#[derive(Debug, Clone)]
#[must_use = "gradients do nothing until an optimizer applies them"]
pub struct Gradients<F> {
    /// Gradient of every parameter, by the same names and shapes.
    pub params: ParamSet<F>,
    /// Gradient of the input sequence, `[T, B, I]`.
    pub inputs: Array3<F>,
    /// Gradient of the initial states and their history.
    pub initial_states: States<F>,
}

/// A recurrent cell: implemented by every type that `rnn_cell!` generates.
///
/// Shapes: `T` steps, `B` examples, input size `I`, output size `O`; sequences are time-major.
pub trait Cell<F: Float>: Sized + Clone {
    /// The cell's named dimensions (a struct with one `usize` field per dimension name), which
    /// generic code builds from names with [`CellDims::from_names`].
    type Dims: CellDims;

    /// The static description of the cell.
    fn spec() -> &'static CellSpec;

    /// A cell with every parameter drawn by its spec's initializer from `rng`.
    fn new(dims: Self::Dims, rng: &mut dyn Rng) -> Self;

    /// A cell with every parameter zero.
    fn zeros(dims: Self::Dims) -> Self;

    /// The dimensions the cell was built with.
    fn dims(&self) -> Self::Dims;

    /// Input size `I`.
    fn input_size(&self) -> usize;

    /// The size of each state, in declaration order.
    fn state_sizes(&self) -> Vec<usize>;

    /// Output size `O`.
    fn output_size(&self) -> usize;

    /// The parameters.
    fn params(&self) -> &ParamSet<F>;

    /// The parameters, mutably.
    fn params_mut(&mut self) -> &mut ParamSet<F>;

    /// Runs the cell over `x: [T, B, I]`, from `init` (zeros when `None`), each example `b`
    /// running for `lengths[b] <= T` steps (all `T` when `None`): after its length an example's
    /// states stay frozen and its outputs are zero. A cell with random masks
    /// (`mask m: [H] = bernoulli(p);`) runs with each mask at its expectation `p`, as in
    /// evaluation; [`Cell::forward_train`] draws them.
    ///
    /// `init` carries the states, their history and the input history (`x[t-k]` for `t < k`
    /// reads `init.inputs[k - t - 1]`); the final states carry the same for the next chunk, so
    /// chunks chained through `final_states` give the numbers of one call over the whole
    /// sequence. Refuses non-finite inputs, initial states and parameters (the parameters are
    /// scanned only when they changed since the last scan).
    fn forward(
        &self,
        x: ArrayView3<'_, F>,
        init: Option<&States<F>>,
        lengths: Option<&[usize]>,
    ) -> Result<Forward<F>> {
        self.forward_masked(x, init, lengths, Masks::Expected)
    }

    /// The forward pass of training: [`Cell::forward`] with every random mask of the spec drawn
    /// from `rng` (once per sequence and example for `bernoulli(p)`, at every step for
    /// `bernoulli_per_step(p)`; the same seed gives the same masks). The masks are kept in the
    /// trace, so [`Cell::backward`] is exact, and [`Forward::masks`] returns them. Each call
    /// draws anew: to keep a per-sequence mask across the chunks of truncated BPTT, pass the
    /// first chunk's masks to the next ones with [`Cell::forward_masked`]. For a cell without
    /// masks this is [`Cell::forward`].
    fn forward_train(
        &self,
        x: ArrayView3<'_, F>,
        init: Option<&States<F>>,
        lengths: Option<&[usize]>,
        rng: &mut dyn Rng,
    ) -> Result<Forward<F>> {
        self.forward_masked(x, init, lengths, Masks::Draw(rng))
    }

    /// The forward pass with the random masks expected ([`Masks::Expected`], as
    /// [`Cell::forward`]), drawn ([`Masks::Draw`], as [`Cell::forward_train`]) or given
    /// ([`Masks::Given`]: by name, `[B, size]` per-sequence, `[T, B, size]` per-step).
    ///
    /// Errors: those of [`Cell::forward`]; given masks that are missing, unknown, of another
    /// shape, or not finite.
    fn forward_masked(
        &self,
        x: ArrayView3<'_, F>,
        init: Option<&States<F>>,
        lengths: Option<&[usize]>,
        masks: Masks<'_, F>,
    ) -> Result<Forward<F>>;

    /// The forward pass without keeping anything for a backward pass (the per-step values live
    /// in `[B, ...]` buffers reused at every step): the outputs and final states of
    /// [`Cell::forward`] (random masks at their expectation), with less memory and less work.
    fn infer(
        &self,
        x: ArrayView3<'_, F>,
        init: Option<&States<F>>,
        lengths: Option<&[usize]>,
    ) -> Result<Inference<F>>;

    /// Back-propagates through time from `d_outputs: [T, B, O]` (the loss's gradient with
    /// respect to `forward.outputs`) and `d_final` (with respect to `forward.final_states`;
    /// zeros when `None`).
    ///
    /// The trace must come from this cell's own [`Cell::forward`] with the parameters unchanged
    /// since (no mutable access in between): otherwise the gradient would mix values of two
    /// different parameter sets, and the call returns an error naming the cause.
    fn backward(
        &self,
        forward: &Forward<F>,
        d_outputs: ArrayView3<'_, F>,
        d_final: Option<&States<F>>,
    ) -> Result<Gradients<F>>;

    /// The parameter called `name`, in `[in, out]` layout.
    fn param(&self, name: &str) -> Result<ArrayViewD<'_, F>> {
        self.params().get(name)
    }

    /// Overwrites the parameter called `name` (same shape required) with a view of any
    /// dimensionality: an `ArrayView1` for a vector, an `ArrayView2` for a matrix, or an
    /// `ArrayViewD`.
    fn set_param<D: Dimension>(&mut self, name: &str, value: ArrayView<'_, F, D>) -> Result<()> {
        self.params_mut().set(name, value)
    }

    /// Zero states (and history) for `batch` examples.
    #[must_use]
    fn zero_states(&self, batch: usize) -> States<F> {
        States::zeros(Self::spec(), self.input_size(), &self.state_sizes(), batch)
    }

    /// One step for inference or generation: from `x: [B, I]` and the current `states`, returns
    /// the output `[B, O]` and the next states. Stepping through a sequence, feeding each call
    /// the states the previous one returned, gives exactly the numbers of one
    /// [`Cell::infer`] over the whole sequence: the states carry the state history (`h[t-k]`)
    /// and the input history (`x[t-k]`).
    fn step(&self, x: ArrayView2<'_, F>, states: &States<F>) -> Result<(Array2<F>, States<F>)> {
        let x3 = x.insert_axis(Axis(0));
        let inference = self.infer(x3, Some(states), None)?;
        let out = inference.outputs.index_axis_move(Axis(0), 0);
        Ok((out, inference.final_states))
    }

    /// [`Cell::forward`] on a batch-first sequence, as burn, candle and Keras lay them out:
    /// `x: [B, T, I]` in, outputs `[B, T, O]` out (in [`ForwardBatchFirst::outputs`]); for
    /// [`Cell::backward_batch_first`]. The numbers are those of the time-major pass on the
    /// transposed input, exactly (the input and outputs are transposed at the boundary, a copy
    /// each). Initial and final states are `[B, size]` in either layout.
    fn forward_batch_first(
        &self,
        x: ArrayView3<'_, F>,
        init: Option<&States<F>>,
        lengths: Option<&[usize]>,
    ) -> Result<ForwardBatchFirst<F>> {
        check_batch_first_input(x, self.input_size())?;
        let mut forward = self.forward(Layout::BatchFirst.to_time_major(x), init, lengths)?;
        let outputs = Layout::BatchFirst.arrange(forward.outputs.view());
        // The trace is what backward needs; the outputs live on, transposed, in the result.
        forward.outputs = Array3::zeros((0, 0, 0));
        Ok(ForwardBatchFirst {
            outputs,
            final_states: forward.final_states.clone(),
            forward,
        })
    }

    /// [`Cell::infer`] on a batch-first sequence: `x: [B, T, I]` in, outputs `[B, T, O]`.
    fn infer_batch_first(
        &self,
        x: ArrayView3<'_, F>,
        init: Option<&States<F>>,
        lengths: Option<&[usize]>,
    ) -> Result<Inference<F>> {
        check_batch_first_input(x, self.input_size())?;
        let inference = self.infer(Layout::BatchFirst.to_time_major(x), init, lengths)?;
        Ok(Inference {
            outputs: Layout::BatchFirst.arrange(inference.outputs.view()),
            final_states: inference.final_states,
        })
    }

    /// [`Cell::backward`] of a [`Cell::forward_batch_first`] pass: `d_outputs: [B, T, O]` (the
    /// gradient of [`ForwardBatchFirst::outputs`]) in; the input gradient
    /// ([`Gradients::inputs`]) comes back batch-first too, `[B, T, I]`. Parameter and
    /// initial-state gradients are those of the time-major pass.
    fn backward_batch_first(
        &self,
        forward: &ForwardBatchFirst<F>,
        d_outputs: ArrayView3<'_, F>,
        d_final: Option<&States<F>>,
    ) -> Result<Gradients<F>> {
        let (b, t) = (forward.forward.trace.n_batch, forward.forward.trace.n_time);
        let (db, dt, o) = d_outputs.dim();
        if (db, dt) != (b, t) {
            return Err(Error::shape(
                "output gradient (batch-first)",
                format!("[{b}, {t}, {o}] (batch, time, output size), as the outputs"),
                d_outputs.shape(),
            ));
        }
        let d = Layout::BatchFirst.to_time_major(d_outputs);
        let mut grads = self.backward(&forward.forward, d, d_final)?;
        grads.inputs = Layout::BatchFirst.arrange(grads.inputs.view());
        Ok(grads)
    }
}

/// Refuses a batch-first input `[B, T, I]` whose feature size is not `input_size`, naming the
/// shapes in the batch-first order the caller used.
pub(crate) fn check_batch_first_input<F>(x: ArrayView3<'_, F>, input_size: usize) -> Result<()> {
    if x.dim().2 != input_size {
        return Err(Error::shape(
            "input sequence (batch-first)",
            format!("[B, T, {input_size}] (batch, time, input size)"),
            x.shape(),
        ));
    }
    Ok(())
}

/// How a sequence batch is laid out: time-major `[T, B, ...]` (what cells and models take and
/// return by default, PyTorch's `batch_first=False`) or batch-first `[B, T, ...]` (burn, candle,
/// Keras, PyTorch's `batch_first=True`). The `*_batch_first` methods ([`Cell::forward_batch_first`],
/// [`crate::SequenceModel::forward_batch_first`], ...) transpose at the boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Layout {
    /// `[T, B, ...]`.
    #[default]
    TimeMajor,
    /// `[B, T, ...]`.
    BatchFirst,
}

impl Layout {
    /// A view of `x` (in this layout) as time-major `[T, B, ...]`: the same view for
    /// [`Layout::TimeMajor`], the first two axes swapped (no copy) for [`Layout::BatchFirst`].
    pub fn to_time_major<'a, F>(self, x: ArrayView3<'a, F>) -> ArrayView3<'a, F> {
        match self {
            Layout::TimeMajor => x,
            Layout::BatchFirst => x.permuted_axes([1, 0, 2]),
        }
    }

    /// A time-major `x: [T, B, ...]` in this layout, as an array in standard (row-major) order.
    pub fn arrange<F: Clone>(self, x: ArrayView3<'_, F>) -> Array3<F> {
        match self {
            Layout::TimeMajor => x.to_owned(),
            Layout::BatchFirst => x.permuted_axes([1, 0, 2]).as_standard_layout().into_owned(),
        }
    }
}

/// The result of [`Cell::forward_batch_first`]: the outputs `[B, T, O]`, the final states, and
/// what [`Cell::backward_batch_first`] needs (a time-major [`Forward`], whose `outputs` are
/// left empty: they are here).
#[derive(Debug, Clone)]
#[must_use = "a forward pass computes outputs, final states and a trace for the backward pass"]
pub struct ForwardBatchFirst<F: Float> {
    /// The output at every step, batch-first `[B, T, O]`; zero after an example's length.
    pub outputs: Array3<F>,
    /// The states after each example's last step (and their history), `[B, size]` each.
    pub final_states: States<F>,
    forward: Forward<F>,
}

impl<F: Float> ForwardBatchFirst<F> {
    /// The value of the state called `name` after every step, batch-first `[B, T, size]` (see
    /// [`Forward::states`]).
    pub fn states(&self, name: &str) -> Result<Array3<F>> {
        let time_major = self.forward.states(name)?;
        Ok(Layout::BatchFirst.arrange(time_major.view()))
    }
}

impl<F: Float> Forward<F> {
    /// The value of the state called `name` after every step, `[T, B, size]`: entry `[t, b]`
    /// is example `b`'s state after step `t` (`h[t]`), read from the trace without running the
    /// cell again. For an example past its length the state stays frozen: its value after its
    /// last step (its initial state when its length is 0), so row `T - 1` equals
    /// `final_states.get(name)`.
    ///
    /// Errors: an unknown state name ([`Error::UnknownName`], listing the cell's states), or
    /// `final_states` replaced by states of another cell (the state layout is taken from them).
    pub fn states(&self, name: &str) -> Result<Array3<F>> {
        let spec = self.final_states.spec();
        if spec.name != self.trace.cell {
            return Err(Error::Invalid(format!(
                "Forward::states: the trace is of a `{}`, the final states of a `{}`",
                self.trace.cell, spec.name
            )));
        }
        spec.state(name)?;
        let s = spec
            .states
            .iter()
            .position(|st| st.name == name)
            .expect("a state of the spec");
        let (n_time, n_batch, delay) =
            (self.trace.n_time, self.trace.n_batch, spec.states[s].delay);
        // The trace's buffers: the input, then one `[T + delay, B, size]` buffer per state
        // (row `t + delay` holds the state after step `t`), then the backward pass's values.
        let buffer = self.trace.buffers.get(1 + s).map_or(&[][..], |b| &b[..]);
        let rows = (n_time + delay) * n_batch;
        let size = match rows {
            0 => self.final_states.values.get(s).map_or(0, |v| v.ncols()),
            _ => buffer.len() / rows,
        };
        if buffer.len() != rows * size {
            return Err(Error::Invalid(format!(
                "Forward::states: state `{name}`: expected a trace buffer of {} rows, found {} \
                 values",
                n_time + delay,
                buffer.len()
            )));
        }
        let values = buffer[delay * n_batch * size..].to_vec();
        Ok(Array3::from_shape_vec((n_time, n_batch, size), values).expect("checked length"))
    }
}

impl CellSpec {
    /// The state declaration called `name`.
    pub fn state(&self, name: &str) -> Result<&StateSpec> {
        self.states
            .iter()
            .find(|s| s.name == name)
            .ok_or_else(|| Error::UnknownName {
                kind: "state",
                name: name.to_string(),
                known: self.states.iter().map(|s| s.name).collect(),
            })
    }
}

/// The named dimensions of a cell: implemented by the `<Name>Dims` struct that `rnn_cell!`
/// generates beside every cell (one `usize` field per dimension name, e.g.
/// `LstmDims { I, H }`), so that generic code builds any cell's dimensions from names (read from
/// a configuration file, a command line, a checkpoint's description) without knowing the
/// struct.
///
/// ```
/// use rnn_runtime::{Cell, CellDims, Result};
///
/// /// Any cell, from sizes by name: `[("I", 3), ("H", 4)]` for an LSTM.
/// fn build<C: Cell<f32>>(sizes: &[(&str, usize)]) -> Result<C> {
///     let dims = C::Dims::from_names(sizes)?; // names checked: missing, unknown, zero
///     Ok(C::zeros(dims))
/// }
///
/// /// The sizes of any cell's dimensions, by name: `[("I", 3), ("H", 4)]`.
/// fn sizes<C: Cell<f32>>(cell: &C) -> Vec<(&'static str, usize)> {
///     cell.dims().sizes()
/// }
/// ```
pub trait CellDims: Copy + std::fmt::Debug + PartialEq + Send + Sync + 'static {
    /// The dimension names (`["I", "H"]`), in the order of the struct's fields (the order of
    /// first appearance in the spec, as [`CellSpec::dims`]).
    fn names() -> &'static [&'static str];

    /// The dimensions from `(name, size)` pairs, in any order: every name of
    /// [`CellDims::names`] exactly once, each size at least 1.
    ///
    /// Errors ([`Error::Invalid`]): a missing, unknown or repeated name, or a size of zero; the
    /// message names every problem, the expected names and the pairs given.
    fn from_names(sizes: &[(&str, usize)]) -> Result<Self>;

    /// The sizes, in the order of [`CellDims::names`].
    fn values(&self) -> Vec<usize>;

    /// The size of the dimension called `name` (`None` when the cell has no such dimension).
    fn get(&self, name: &str) -> Option<usize> {
        let i = Self::names().iter().position(|n| *n == name)?;
        self.values().get(i).copied()
    }

    /// `(name, size)` pairs, in the order of [`CellDims::names`]: what
    /// [`CellDims::from_names`] takes back.
    fn sizes(&self) -> Vec<(&'static str, usize)> {
        Self::names().iter().copied().zip(self.values()).collect()
    }
}

/// Checks `(name, size)` pairs against the dimension names `names` of `dims_type` (for
/// [`CellDims::from_names`]; reached through `__private`) and returns the sizes in the order of
/// `names`.
pub fn dims_from_names(
    dims_type: &str,
    names: &[&str],
    sizes: &[(&str, usize)],
) -> Result<Vec<usize>> {
    let mut values: Vec<Option<usize>> = vec![None; names.len()];
    let mut problems: Vec<String> = Vec::new();
    for &(name, size) in sizes {
        match names.iter().position(|n| *n == name) {
            None => problems.push(format!("unknown dimension `{name}`")),
            Some(i) if values[i].is_some() => {
                problems.push(format!("dimension `{name}` given twice"))
            }
            Some(i) => {
                if size == 0 {
                    problems.push(format!("dimension `{name}` is 0, expected at least 1"));
                }
                values[i] = Some(size);
            }
        }
    }
    let missing: Vec<String> = names
        .iter()
        .zip(&values)
        .filter(|(_, v)| v.is_none())
        .map(|(n, _)| format!("`{n}`"))
        .collect();
    if !missing.is_empty() {
        problems.insert(0, format!("missing {}", missing.join(", ")));
    }
    if problems.is_empty() {
        return Ok(values.into_iter().flatten().collect());
    }
    let given: Vec<String> = sizes.iter().map(|(n, s)| format!("{n} = {s}")).collect();
    Err(Error::Invalid(format!(
        "{dims_type}::from_names: {}; expected each of [{}] once with a size of at least 1, \
         found [{}]",
        problems.join("; "),
        names.join(", "),
        given.join(", ")
    )))
}
