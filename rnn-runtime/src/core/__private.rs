//! Support code for the Rust that `rnn_cell!` emits. Not a public API: it changes with the
//! compiler, whose version is pinned exactly to this crate's.
//!
//! Buffer conventions: every per-step buffer is row-major `[T, B, W]` flattened, so row
//! `(t, b)` starts at `(t * B + b) * W`. A state read with delays up to `D` lives in a buffer of
//! `T + D` time rows: row `r = t + D` holds `h[t]`, rows `0..D` the initial state (row `D - 1`)
//! and its history (row `D - 2 - j` holds history entry `j`).

pub use crate::core::activation::*;
pub use crate::core::cell::{
    Cell, CellSpec, Forward, Gradients, Inference, ParamSpec, StateSpec, Trace,
};
pub use crate::core::error::{Error, Result};
pub use crate::core::init::Init;
pub use crate::core::masks::{MaskSpec, Masks};
pub use crate::core::params::ParamSet;
pub use crate::core::states::States;
pub use crate::core::step::{BinaryOp, DimSpec, StepNode, StepOp, StepSpec};
pub use crate::kernels::float::Float;
pub use crate::kernels::pool::Buffer;
pub use crate::kernels::threads::join;
pub use ndarray::{Array2, Array3, ArrayView1, ArrayView2, ArrayView3, ArrayViewD};
pub use ndarray::{ArrayViewMut1, ArrayViewMut2};
pub use rand::Rng;
// Named dimensions (`CellDims`) and typed state views.
pub use crate::core::cell::{dims_from_names, CellDims};
pub use crate::core::states::{state_views, state_views_mut, StateView, StateViewMut};

/// The next of the typed views [`state_views`] returned (one per state, checked there).
pub fn next_view<T>(views: &mut impl Iterator<Item = T>) -> Result<T> {
    views
        .next()
        .ok_or_else(|| Error::Invalid("typed state views: expected one view per state".into()))
}

use ndarray::{ArrayViewMut2 as Mut2, Ix1, Ix2};

/// Whether a fused loop over `n_batch` examples and `elements` values in all should be split
/// between two threads: when threads are allowed and the work outweighs starting a thread.
#[inline]
pub fn split_examples(n_batch: usize, elements: usize) -> bool {
    const MIN_ELEMENTS: usize = 1 << 14;
    n_batch >= 2 && elements >= MIN_ELEMENTS && crate::kernels::threads::num_threads() >= 2
}

/// The versions of the generated passes: compiled for the baseline target, for AVX2 + FMA, or
/// for AVX-512.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VectorIsa {
    /// The baseline target.
    Baseline,
    /// AVX2 and FMA.
    Avx2,
    /// AVX-512F (with AVX2 and FMA).
    Avx512,
}

/// Which version of the generated passes runs: the widest the CPU supports, unless the
/// environment says otherwise (read once per process): `RNN_NO_AVX2` forces the baseline
/// version and `RNN_NO_AVX512` at most the AVX2 one, so that tests run every version on any
/// machine that has it.
#[cfg(target_arch = "x86_64")]
#[inline]
pub fn vector_isa() -> VectorIsa {
    static ISA: std::sync::OnceLock<VectorIsa> = std::sync::OnceLock::new();
    *ISA.get_or_init(|| {
        let avx2 = std::env::var_os("RNN_NO_AVX2").is_none()
            && std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma");
        let avx512 = avx2
            && std::env::var_os("RNN_NO_AVX512").is_none()
            && std::arch::is_x86_feature_detected!("avx512f");
        match (avx512, avx2) {
            (true, _) => VectorIsa::Avx512,
            (false, true) => VectorIsa::Avx2,
            _ => VectorIsa::Baseline,
        }
    })
}

/// One elementwise pass of a generated cell over the examples `[start, end)`: a closure
/// `|start: usize, end: usize, block_1: &mut [T], ..., block_k: &mut [T]|` (0 to 32 blocks)
/// with its arguments. [`vectorized`] calls it with each block as its own argument, so the
/// compiler knows the blocks do not overlap each other or anything else the pass reads, and
/// vectorizes its feature loop.
pub trait RowPass<Args> {
    /// Calls the pass with `args`.
    fn call(self, args: Args);
}

macro_rules! row_pass {
    ($($block:ident),*) => {
        impl<'a, T: 'a, P> RowPass<(usize, usize, $(row_pass!(@slice 'a T $block),)*)> for P
        where
            P: Fn(usize, usize, $(row_pass!(@slice 'a T $block)),*),
        {
            #[inline(always)]
            fn call(self, (start, end, $($block,)*): (usize, usize, $(row_pass!(@slice 'a T $block),)*)) {
                // Through `Fn::call`, the closure's own body: `FnOnce::call_once` would go
                // through a shim that is not inlined.
                (&self)(start, end, $($block),*)
            }
        }
    };
    (@slice $a:lifetime $t:ident $block:ident) => { &$a mut [$t] };
}

macro_rules! row_passes {
    ($first:ident $($block:ident)*) => { row_passes!(@each [$first] $($block)*); };
    (@each [$($done:ident)*]) => { row_pass!($($done),*); };
    (@each [$($done:ident)*] $next:ident $($rest:ident)*) => {
        row_pass!($($done),*);
        row_passes!(@each [$($done)* $next] $($rest)*);
    };
}

impl<P: Fn(usize, usize)> RowPass<(usize, usize)> for P {
    #[inline(always)]
    #[allow(clippy::needless_borrow)] // through `Fn::call`, as in the other arities
    fn call(self, (start, end): (usize, usize)) {
        (&self)(start, end)
    }
}

row_passes!(
    b1 b2 b3 b4 b5 b6 b7 b8 b9 b10 b11 b12 b13 b14 b15 b16
    b17 b18 b19 b20 b21 b22 b23 b24 b25 b26 b27 b28 b29 b30 b31 b32
);

/// The most blocks a [`RowPass`] takes; a generated pass with more runs unvectorized.
pub const MAX_ROW_PASS_BLOCKS: usize = 32;

/// Runs `pass(args)` compiled for the version [`vector_isa`] chooses. The generated cells
/// write each elementwise pass once, as a closure marked `#[inline(always)]`; it is inlined
/// into each of the `#[target_feature]` functions below, so the pass is compiled once per
/// instruction set while the rest of the cell (checks, buffers, GEMM calls) is compiled once.
#[inline(always)]
pub fn vectorized<A, P: RowPass<A>>(pass: P, args: A) {
    #[cfg(target_arch = "x86_64")]
    match vector_isa() {
        // SAFETY: `vector_isa` chose a version the CPU supports.
        VectorIsa::Avx512 => return unsafe { with_avx512(pass, args) },
        VectorIsa::Avx2 => return unsafe { with_avx2(pass, args) },
        VectorIsa::Baseline => {}
    }
    pass.call(args)
}

/// `pass(args)` compiled with AVX-512F, AVX2 and FMA (`pass` is inlined).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn with_avx512<A, P: RowPass<A>>(pass: P, args: A) {
    pass.call(args)
}

/// `pass(args)` compiled with AVX2 and FMA (`pass` is inlined).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn with_avx2<A, P: RowPass<A>>(pass: P, args: A) {
    pass.call(args)
}

/// A literal of the spec in the cell's float type.
#[inline(always)]
pub fn lit<F: Float>(v: f64) -> F {
    F::from_f64(v)
}

/// Checks `x: [T, B, I]` and returns `(T, B)`.
pub fn check_input<F: Float>(
    x: &ArrayView3<'_, F>,
    name: &str,
    size: usize,
) -> Result<(usize, usize)> {
    let shape = x.shape();
    if shape[2] != size {
        return Err(Error::shape(
            format!("input sequence {name}"),
            format!("[T, B, {size}] (time, batch, input size)"),
            shape,
        ));
    }
    check_finite(x, &format!("input sequence {name}"))?;
    Ok((shape[0], shape[1]))
}

/// Rejects `NaN` and infinite entries of a `[T, B, n]` array, naming the first one: a forward
/// or backward pass on them would spread garbage through every later step.
pub fn check_finite<F: Float>(x: &ArrayView3<'_, F>, what: &str) -> Result<()> {
    // `x * 0` is 0 for finite values and NaN otherwise: a branch-free, vectorizable scan.
    let all_finite = match x.as_slice() {
        Some(s) => {
            let mut lanes = [F::zero(); 8];
            let chunks = s.chunks_exact(8);
            let tail = chunks
                .remainder()
                .iter()
                .fold(F::zero(), |a, &v| a + v * F::zero());
            for c in chunks {
                for (l, &v) in lanes.iter_mut().zip(c) {
                    *l += v * F::zero();
                }
            }
            lanes.iter().fold(tail, |a, &l| a + l) == F::zero()
        }
        None => x.iter().all(|v| v.is_finite()),
    };
    if all_finite {
        return Ok(());
    }
    let ((t, b, i), v) = x
        .indexed_iter()
        .find(|(_, v)| !v.is_finite())
        .expect("a non-finite entry exists");
    Err(Error::Invalid(format!(
        "{what}: expected finite values, found {v} at [t={t}, b={b}, {i}]"
    )))
}

/// Checks the per-example lengths (each at most `T`, one per example); `None` means all `T`.
pub fn check_lengths(
    lengths: Option<&[usize]>,
    n_time: usize,
    n_batch: usize,
) -> Result<Vec<usize>> {
    match lengths {
        None => Ok(vec![n_time; n_batch]),
        Some(l) if l.len() != n_batch => Err(Error::Invalid(format!(
            "lengths: expected one length per example ({n_batch}), found {}",
            l.len()
        ))),
        Some(l) => match l.iter().position(|&n| n > n_time) {
            Some(b) => Err(Error::Invalid(format!(
                "lengths: expected each length <= T = {n_time}, found lengths[{b}] = {}",
                l[b]
            ))),
            None => Ok(l.to_vec()),
        },
    }
}

/// Copies an array view into a row-major (pooled) buffer.
pub fn flatten<F: Float>(x: &ArrayView3<'_, F>) -> Buffer<F> {
    let mut buf = Buffer::zeroed(x.len());
    match x.as_slice() {
        Some(s) => buf.copy_from_slice(s),
        None => buf.iter_mut().zip(x.iter()).for_each(|(d, &s)| *d = s),
    }
    buf
}

/// Checks that a gradient array has shape `[T, B, size]` and flattens it.
pub fn check_seq_grad<F: Float>(
    d: &ArrayView3<'_, F>,
    what: &str,
    n_time: usize,
    n_batch: usize,
    size: usize,
) -> Result<Buffer<F>> {
    if d.shape() != [n_time, n_batch, size] {
        return Err(Error::shape(
            what,
            format!("[{n_time}, {n_batch}, {size}]"),
            d.shape(),
        ));
    }
    check_finite(d, what)?;
    Ok(flatten(d))
}

/// Checks that a trace was made by this cell's forward pass, with the parameter values the cell
/// holds now.
pub fn check_trace<F: Float>(
    trace: &Trace<F>,
    cell: &str,
    dims: &[usize],
    n_buffers: usize,
    params: &ParamSet<F>,
) -> Result<()> {
    check_trace_kind(trace, cell, dims, n_buffers)?;
    let (id, generation) = trace.params;
    if id != params.id() {
        return Err(Error::Invalid(format!(
            "backward: the trace comes from the forward pass of another `{cell}` (parameter set \
             #{id}, this cell's is #{}): a gradient needs the trace of this cell's own forward pass",
            params.id()
        )));
    }
    if generation != params.generation() {
        return Err(Error::Invalid(format!(
            "backward: the parameters changed since the forward pass that made this trace \
             ({} mutable accesses since): run forward again with the current parameters",
            params.generation() - generation.min(params.generation())
        )));
    }
    Ok(())
}

/// The identity and generation of `params`, for the trace.
pub fn trace_params<F: Float>(params: &ParamSet<F>) -> (u64, u64) {
    (params.id(), params.generation())
}

/// Refuses non-finite parameters (scanning only when they changed since the last scan).
pub fn check_params<F: Float>(params: &ParamSet<F>) -> Result<()> {
    params.check_finite()
}

fn check_trace_kind<F: Float>(
    trace: &Trace<F>,
    cell: &str,
    dims: &[usize],
    n_buffers: usize,
) -> Result<()> {
    if trace.cell == cell && trace.buffers.len() == n_buffers && trace.dims != dims {
        return Err(Error::Invalid(format!(
            "backward: the trace comes from a `{cell}` with dimensions {:?}, this one has {dims:?}",
            trace.dims
        )));
    }
    if trace.cell != cell || trace.buffers.len() != n_buffers {
        return Err(Error::Invalid(format!(
            "backward: expected the trace of a `{cell}` forward pass, found one of `{}`",
            trace.cell
        )));
    }
    Ok(())
}

fn check_states_shape<F: Float>(
    states: &States<F>,
    spec: &'static CellSpec,
    what: &str,
    (input_size, sizes): (usize, &[usize]),
    n_batch: usize,
) -> Result<()> {
    check_input_history(states, spec, what, input_size, n_batch)?;
    if states.values.len() != spec.states.len() || states.history.len() != spec.states.len() {
        return Err(Error::Invalid(format!(
            "{what}: expected {} states ({}), found {}",
            spec.states.len(),
            spec.states
                .iter()
                .map(|s| s.name)
                .collect::<Vec<_>>()
                .join(", "),
            states.values.len()
        )));
    }
    for (s, st) in spec.states.iter().enumerate() {
        let expected = [n_batch, sizes[s]];
        if states.values[s].shape() != expected {
            return Err(Error::shape(
                format!("{what} {}", st.name),
                format!("[{n_batch}, {}] (batch, {})", sizes[s], st.shape),
                states.values[s].shape(),
            ));
        }
        if states.history[s].len() != st.delay - 1 {
            return Err(Error::Invalid(format!(
                "{what} {}: expected {} history entries (the state is read up to {}[t-{}]), found {}",
                st.name,
                st.delay - 1,
                st.name,
                st.delay,
                states.history[s].len()
            )));
        }
        for (j, h) in states.history[s].iter().enumerate() {
            if h.shape() != expected {
                return Err(Error::shape(
                    format!("{what} {} history[{j}]", st.name),
                    format!("[{n_batch}, {}]", sizes[s]),
                    h.shape(),
                ));
            }
        }
        let arrays = std::iter::once(&states.values[s]).chain(&states.history[s]);
        for (j, a) in arrays.enumerate() {
            if let Some(((b, i), v)) = a.indexed_iter().find(|(_, v)| !v.is_finite()) {
                let which = if j == 0 {
                    String::new()
                } else {
                    format!(" history[{}]", j - 1)
                };
                return Err(Error::Invalid(format!(
                    "{what} {}{which}: expected finite values, found {v} at [b={b}, {i}]",
                    st.name
                )));
            }
        }
    }
    Ok(())
}

fn check_input_history<F: Float>(
    states: &States<F>,
    spec: &'static CellSpec,
    what: &str,
    input_size: usize,
    n_batch: usize,
) -> Result<()> {
    let (name, k) = (spec.input.0, spec.input_delay);
    if states.inputs.len() != k {
        return Err(Error::Invalid(format!(
            "{what}: expected {k} input history entries (the cell reads up to {name}[t-{k}]), \
             found {}",
            states.inputs.len()
        )));
    }
    for (j, h) in states.inputs.iter().enumerate() {
        if h.shape() != [n_batch, input_size] {
            return Err(Error::shape(
                format!("{what} input history[{j}] ({name}[t-{}])", j + 1),
                format!("[{n_batch}, {input_size}] (batch, {})", spec.input.1),
                h.shape(),
            ));
        }
        if let Some(((b, i), v)) = h.indexed_iter().find(|(_, v)| !v.is_finite()) {
            return Err(Error::Invalid(format!(
                "{what} input history[{j}]: expected finite values, found {v} at [b={b}, {i}]"
            )));
        }
    }
    Ok(())
}

/// Checks initial states (if any) against the cell's states, its input size `input_size` (for
/// the input history) and the batch size.
pub fn check_init<F: Float>(
    init: Option<&States<F>>,
    spec: &'static CellSpec,
    input_size: usize,
    sizes: &[usize],
    n_batch: usize,
) -> Result<()> {
    match init {
        None => Ok(()),
        Some(states) => {
            check_states_shape(states, spec, "initial state", (input_size, sizes), n_batch)
        }
    }
}

/// Checks final-state gradients (if any).
pub fn check_final_grads<F: Float>(
    d_final: Option<&States<F>>,
    spec: &'static CellSpec,
    input_size: usize,
    sizes: &[usize],
    n_batch: usize,
) -> Result<()> {
    match d_final {
        None => Ok(()),
        Some(states) => check_states_shape(
            states,
            spec,
            "final-state gradient",
            (input_size, sizes),
            n_batch,
        ),
    }
}

/// The input sequence `[T, B, I]` behind its history: a `[K + T, B, I]` buffer whose rows
/// `0..K` hold the input history of `init` (row `K - 1 - j` holds entry `j`, zeros without
/// `init`) and rows `K..` the sequence, so that `x[t-k]` is row `t + K - k` at every step.
pub fn input_with_history<F: Float>(
    x: &ArrayView3<'_, F>,
    init: Option<&States<F>>,
    k: usize,
) -> Buffer<F> {
    let (n_batch, size) = (x.shape()[1], x.shape()[2]);
    let mut buf = Buffer::zeroed((k + x.shape()[0]) * n_batch * size);
    if let Some(init) = init {
        for (j, h) in init.inputs.iter().enumerate() {
            write_rows(&mut buf, k - 1 - j, n_batch, size, &h.view());
        }
    }
    let rest = &mut buf[k * n_batch * size..];
    match x.as_slice() {
        Some(s) => rest.copy_from_slice(s),
        None => rest.iter_mut().zip(x.iter()).for_each(|(d, &s)| *d = s),
    }
    buf
}

// The masks of a training pass: given masks checked (each mask once, by name, `[B, size]` or
// `[T, B, size]`, finite), then each mask's values drawn, expected or given.
pub use crate::core::masks::{check_given as check_masks, values as mask_buffer};

/// Mask `m` at its expectation, `[size]` (the inference pass reads it for every example and
/// step).
pub fn expected_mask<F: Float>(spec: &CellSpec, m: usize, size: usize) -> Buffer<F> {
    let mut out = Buffer::for_overwrite(size);
    out.fill(F::from_f64(spec.masks[m].p));
    out
}

/// The buffer of state `s` (`[T + D, B, size]`), with its initial value and history in rows
/// `0..D` (zeros when `init` is `None`).
pub fn state_buffer<F: Float>(
    init: Option<&States<F>>,
    s: usize,
    delay: usize,
    n_time: usize,
    n_batch: usize,
    size: usize,
) -> Buffer<F> {
    let mut buf = Buffer::zeroed((n_time + delay) * n_batch * size);
    if let Some(init) = init {
        write_rows(&mut buf, delay - 1, n_batch, size, &init.values[s].view());
        for (j, h) in init.history[s].iter().enumerate() {
            write_rows(&mut buf, delay - 2 - j, n_batch, size, &h.view());
        }
    }
    buf
}

fn write_rows<F: Float>(
    buf: &mut [F],
    r: usize,
    n_batch: usize,
    size: usize,
    v: &ArrayView2<'_, F>,
) {
    let block = &mut buf[r * n_batch * size..(r + 1) * n_batch * size];
    block.iter_mut().zip(v.iter()).for_each(|(d, &s)| *d = s);
}

/// After step `t`, copies the state of every finished example (`t >= lengths[b]`) from row
/// `t - 1` to row `t`, so its state stays frozen.
pub fn freeze<F: Float>(buf: &mut [F], t: usize, delay: usize, lengths: &[usize], size: usize) {
    let n_batch = lengths.len();
    for (b, &len) in lengths.iter().enumerate() {
        if t >= len {
            let from = ((t + delay - 1) * n_batch + b) * size;
            let to = ((t + delay) * n_batch + b) * size;
            buf.copy_within(from..from + size, to);
        }
    }
}

/// The final states: for example `b`, the state at its last step `lengths[b] - 1` and the
/// history before it, and the last `K` inputs. `bufs[s]` is state `s`'s buffer, `input` the
/// buffer of [`input_with_history`].
pub fn final_states<F: Float>(
    spec: &'static CellSpec,
    bufs: &[&[F]],
    sizes: &[usize],
    lengths: &[usize],
    input: &[F],
    input_size: usize,
) -> States<F> {
    let n_batch = lengths.len();
    let gather = |buf: &[F], s: usize, back: usize| {
        let (delay, size) = (spec.states[s].delay, sizes[s]);
        Array2::from_shape_fn((n_batch, size), |(b, j)| {
            let r = lengths[b] + delay - 1 - back;
            buf[(r * n_batch + b) * size + j]
        })
    };
    let values = (0..bufs.len()).map(|s| gather(bufs[s], s, 0)).collect();
    let history = (0..bufs.len())
        .map(|s| {
            (1..spec.states[s].delay)
                .map(|back| gather(bufs[s], s, back))
                .collect()
        })
        .collect();
    let k = spec.input_delay;
    let inputs = (0..k)
        .map(|j| {
            Array2::from_shape_fn((n_batch, input_size), |(b, i)| {
                input[((lengths[b] + k - 1 - j) * n_batch + b) * input_size + i]
            })
        })
        .collect();
    States::from_parts(spec, values, history, inputs)
}

/// Adds the gradients of the final input history into `d_input` (`[K + T, B, I]`), at the
/// rows [`final_states`] read the inputs from.
pub fn inject_final_inputs<F: Float>(
    d_input: &mut [F],
    d_final: Option<&States<F>>,
    k: usize,
    size: usize,
    lengths: &[usize],
) {
    let Some(d) = d_final else { return };
    let n_batch = lengths.len();
    for (j, v) in d.inputs.iter().enumerate() {
        for b in 0..n_batch {
            let r = lengths[b] + k - 1 - j;
            for i in 0..size {
                d_input[(r * n_batch + b) * size + i] += v[(b, i)];
            }
        }
    }
}

/// The gradient of the input sequence: rows `K..` of `d_input: [K + T, B, I]`.
pub fn input_grads<F: Float>(
    d_input: Buffer<F>,
    k: usize,
    n_time: usize,
    n_batch: usize,
    size: usize,
) -> Array3<F> {
    let mut v = d_input.into_vec();
    v.drain(..k * n_batch * size);
    Array3::from_shape_vec((n_time, n_batch, size), v).expect("buffer sized by the compiler")
}

/// Adds the final-state gradients of state `s` into its adjoint buffer, at the rows
/// [`final_states`] read them from.
pub fn inject_final<F: Float>(
    d_buf: &mut [F],
    d_final: Option<&States<F>>,
    s: usize,
    delay: usize,
    size: usize,
    lengths: &[usize],
) {
    let Some(d) = d_final else { return };
    let n_batch = lengths.len();
    let mut add = |v: &Array2<F>, back: usize| {
        for b in 0..n_batch {
            let r = lengths[b] + delay - 1 - back;
            for j in 0..size {
                d_buf[(r * n_batch + b) * size + j] += v[(b, j)];
            }
        }
    };
    add(&d.values[s], 0);
    for (j, h) in d.history[s].iter().enumerate() {
        add(h, j + 1);
    }
}

/// Reads the gradients of the initial states and history out of the adjoint buffers, and those
/// of the input history out of `d_input: [K + T, B, I]`.
pub fn initial_grads<F: Float>(
    spec: &'static CellSpec,
    d_bufs: &[&[F]],
    sizes: &[usize],
    n_batch: usize,
    d_input: &[F],
    input_size: usize,
) -> States<F> {
    let rows = |buf: &[F], r: usize, size: usize| {
        Array2::from_shape_fn((n_batch, size), |(b, j)| buf[(r * n_batch + b) * size + j])
    };
    let values = (0..d_bufs.len())
        .map(|s| rows(d_bufs[s], spec.states[s].delay - 1, sizes[s]))
        .collect();
    let history = (0..d_bufs.len())
        .map(|s| {
            let delay = spec.states[s].delay;
            (0..delay - 1)
                .map(|j| rows(d_bufs[s], delay - 2 - j, sizes[s]))
                .collect()
        })
        .collect();
    let k = spec.input_delay;
    let inputs = (0..k)
        .map(|j| rows(d_input, k - 1 - j, input_size))
        .collect();
    States::from_parts(spec, values, history, inputs)
}

/// Packs blocks of matrix parameters side by side, as `[inner, sum n_i]` in the panel layout of
/// [`crate::gemm`]: block `(i, r)` is rows `r .. r + inner` of `params[i]: [rows_i, n_i]` (all
/// rows for a plain product, a row block for a part of `concat(..) @ W`). Done once per
/// sequence.
pub fn pack_panels<F: Float>(
    params: &ParamSet<F>,
    blocks: &[(usize, usize)],
    inner: usize,
) -> Buffer<F> {
    let width: usize = blocks
        .iter()
        .map(|&(i, _)| params.value(i).shape()[1])
        .sum();
    let mut packed = Buffer::zeroed(crate::kernels::gemm::packed_len(inner, width));
    let mut offset = 0;
    for &(i, row_start) in blocks {
        let n = params.value(i).shape()[1];
        let w = &params.slice(i)[row_start * n..];
        crate::kernels::gemm::pack_into(&mut packed, inner, width, offset, w, n, n);
        offset += n;
    }
    packed
}

/// As [`pack_panels`], with blocks `(param, row_start, transposed)`: a transposed block is
/// rows `row_start..row_start + inner` of `W^T` for a parameter `W: [out, in]` stored as
/// declared (`v @ W^T`), transposed here once per sequence.
pub fn pack_panels_transposed<F: Float>(
    params: &ParamSet<F>,
    blocks: &[(usize, usize, bool)],
    inner: usize,
) -> Buffer<F> {
    let cols = |i: usize, transposed: bool| params.value(i).shape()[usize::from(!transposed)];
    let width: usize = blocks.iter().map(|&(i, _, t)| cols(i, t)).sum();
    let mut packed = Buffer::zeroed(crate::kernels::gemm::packed_len(inner, width));
    let mut offset = 0;
    for &(i, row_start, transposed) in blocks {
        let n = cols(i, transposed);
        if transposed {
            // W: [n, c]; the block is W^T[row_start.., :] = W[:, row_start..]^T: [inner, n].
            let c = params.value(i).shape()[1];
            let w = params.slice(i);
            let mut block = Buffer::for_overwrite(inner * n);
            for r in 0..inner {
                for k in 0..n {
                    block[r * n + k] = w[k * c + row_start + r];
                }
            }
            crate::kernels::gemm::pack_into(&mut packed, inner, width, offset, &block, n, n);
        } else {
            let w = &params.slice(i)[row_start * n..];
            crate::kernels::gemm::pack_into(&mut packed, inner, width, offset, w, n, n);
        }
        offset += n;
    }
    packed
}

/// The transpose of panel-packed `[inner, width]` weights, for the adjoint of a per-step product.
pub fn transpose_panels<F: Float>(packed: &[F], inner: usize, width: usize) -> Buffer<F> {
    let mut out = Buffer::zeroed(crate::kernels::gemm::packed_len(width, inner));
    crate::kernels::gemm::transpose_packed_into(packed, inner, width, &mut out);
    out
}

/// `c = a @ W + beta * c` with `a: [m, k]`, panel-packed `W: [k, n]`, `c: [m, n]`: the per-step
/// products, the hoisted input product and the input gradient (no allocation).
pub fn gemm_step<F: Float>(a: &[F], m: usize, k: usize, w: &[F], n: usize, c: &mut [F], beta: F) {
    crate::kernels::gemm::gemm_packed(a, m, k, w, n, c, beta);
}

/// Adds columns `offset..offset + n` of `packed: [inner, width]` into rows
/// `row_start .. row_start + inner` of matrix parameter `i: [rows, n]`.
pub fn unpack_add<F: Float>(
    grads: &mut ParamSet<F>,
    i: usize,
    row_start: usize,
    packed: &[F],
    inner: usize,
    width: usize,
    offset: usize,
) {
    let n = grads.value(i).shape()[1];
    let g = grads.slice_mut(i);
    for r in 0..inner {
        for c in 0..n {
            g[(row_start + r) * n + c] += packed[r * width + offset + c];
        }
    }
}

/// As [`unpack_add`] for a transposed product `v @ W^T`: columns `offset..offset + n` of
/// `packed: [inner, width]` are the gradient of rows `row_start..row_start + inner` of `W^T`,
/// added into columns `row_start..row_start + inner` of matrix parameter `i: [n, cols]`.
pub fn unpack_add_transposed<F: Float>(
    grads: &mut ParamSet<F>,
    i: usize,
    row_start: usize,
    packed: &[F],
    inner: usize,
    width: usize,
    offset: usize,
) {
    let shape = grads.value(i).shape().to_vec();
    let (n, cols) = (shape[0], shape[1]);
    let g = grads.slice_mut(i);
    for r in 0..inner {
        for k in 0..n {
            g[k * cols + row_start + r] += packed[r * width + offset + k];
        }
    }
}

/// Adds `v` into vector parameter `i`.
pub fn add_vector<F: Float>(grads: &mut ParamSet<F>, i: usize, v: &[F]) {
    grads
        .slice_mut(i)
        .iter_mut()
        .zip(v)
        .for_each(|(g, &x)| *g += x);
}

fn view<F>(a: &[F], rows: usize, cols: usize) -> ArrayView2<'_, F> {
    ArrayView2::from_shape((rows, cols), &a[..rows * cols]).expect("buffer sized by the compiler")
}

fn view_mut<F>(a: &mut [F], rows: usize, cols: usize) -> Mut2<'_, F> {
    Mut2::from_shape((rows, cols), &mut a[..rows * cols]).expect("buffer sized by the compiler")
}

/// `c += a^T @ d` with `a: [m, k]`, `d: [m, n]`, `c: [k, n]`: a weight gradient summed over
/// all `m` rows (every step and example) in one product.
pub fn gemm_tn<F: Float>(a: &[F], m: usize, k: usize, d: &[F], n: usize, c: &mut [F]) {
    if k == 0 || n == 0 {
        return;
    }
    crate::kernels::gemm::gemm_views(
        F::one(),
        &view(a, m, k).t(),
        &view(d, m, n),
        F::one(),
        &mut view_mut(c, k, n),
    );
}

/// The rows of a `[T, B, n]` buffer as an array (the array owns its memory; it is not pooled).
pub fn to_array3<F: Float>(buf: Buffer<F>, n_time: usize, n_batch: usize, n: usize) -> Array3<F> {
    Array3::from_shape_vec((n_time, n_batch, n), buf.into_vec())
        .expect("buffer sized by the compiler")
}

/// Typed view of matrix parameter `i`.
pub fn matrix<F: Float>(params: &ParamSet<F>, i: usize) -> ArrayView2<'_, F> {
    params
        .value(i)
        .into_dimensionality::<Ix2>()
        .expect("matrix parameter has rank 2")
}

/// Typed mutable view of matrix parameter `i`.
pub fn matrix_mut<F: Float>(params: &mut ParamSet<F>, i: usize) -> ArrayViewMut2<'_, F> {
    params
        .value_mut(i)
        .into_dimensionality::<Ix2>()
        .expect("matrix parameter has rank 2")
}

/// Typed view of vector parameter `i`.
pub fn vector<F: Float>(params: &ParamSet<F>, i: usize) -> ArrayView1<'_, F> {
    params
        .value(i)
        .into_dimensionality::<Ix1>()
        .expect("vector parameter has rank 1")
}

/// Typed mutable view of vector parameter `i`.
pub fn vector_mut<F: Float>(params: &mut ParamSet<F>, i: usize) -> ArrayViewMut1<'_, F> {
    params
        .value_mut(i)
        .into_dimensionality::<Ix1>()
        .expect("vector parameter has rank 1")
}
