//! A reference evaluator of the IR in `f64`: a test oracle and a debugging tool, not the
//! production path.
//!
//! [`Evaluator::forward`] runs the step's DAG ([`CellIr::graph`]) over a sequence, node by node,
//! example by example, with plain loops. [`Evaluator::backward`] back-propagates through time
//! using **only** the derived partial derivatives ([`crate::diff`], after [`crate::simplify`])
//! for the elementwise nodes, and the obvious rules for the other nodes:
//!
//! - `v @ W[rows]` (a [`Op::MatMul`], possibly a row block of a `concat(..) @ W`):
//!   `δv += δy @ W[rows]ᵀ` and `δW[rows] += vᵀ δy`;
//! - `mean(v)` / `sum(v)`: `δv += δy / D` / `δv += δy`, broadcast over the `D` features;
//! - a vector parameter read elementwise: its gradient is the adjoint summed over the batch;
//! - an operand of size 1 (a reduction, a `[1]` vector) broadcast against `[D]`: its adjoint is
//!   summed over the features;
//! - `x[t-k]`, `h[t-k]`: the adjoint flows to the input at step `t-k` (the initial input
//!   history for `t-k < 0`) and to the state at step `t-k` (the initial state or its history
//!   for `t-k < 0`).
//!
//! The semantics are the runtime's (`recurrent::Cell`): sequences are time-major `[T][B][n]`; an
//! example `b` runs for `lengths[b] <= T` steps, after which its states stay frozen and its
//! outputs are zero; the final states are each example's states after its last step, with the
//! `delay - 1` earlier values as history (most recent first) and the last `K` inputs as input
//! history; `backward` takes the gradient of a
//! loss with respect to the outputs and the final states (the gradient check's
//! `L = sum(dY * Y) + sum(dS * S_final)`) and returns the gradients of every parameter, of the
//! inputs and of the initial states and history.
//!
//! ```
//! use rnn_compiler::eval::{EvalStates, Evaluator};
//! let compiled = rnn_compiler::compile_text(
//!     "cell Tiny { input x: [I]; state h: [H]; param W: [I, H]; param U: [H, H];
//!      h[t] = tanh(x[t] @ W + h[t-1] @ U); }",
//! ).map_err(|_| ()).unwrap();
//! let eval = Evaluator::from_compiled(&compiled, &[("I", 1), ("H", 1)]).unwrap();
//! let params = [("W".to_string(), vec![0.5]), ("U".to_string(), vec![-0.25])].into();
//! let x = vec![vec![vec![1.0]], vec![vec![2.0]]]; // T = 2, B = 1, I = 1
//! let fwd = eval.forward(&params, &x, None, None).unwrap();
//! let h0 = 0.5f64.tanh();
//! assert_eq!(fwd.outputs[0][0][0], h0);
//! assert_eq!(fwd.outputs[1][0][0], (1.0 - 0.25 * h0).tanh());
//! let d_out = vec![vec![vec![1.0]], vec![vec![0.0]]];
//! let grads = eval.backward(&params, &fwd, &d_out, None).unwrap();
//! let d_w = grads.params["W"][0];
//! let d_u = grads.params["U"][0];
//! assert!((d_w - (1.0 - h0 * h0)).abs() < 1e-15);
//! assert_eq!(d_u, 0.0);
//! let _: &EvalStates = &grads.initial_states;
//! ```

use std::collections::BTreeMap;
use std::fmt;

use crate::ast::BinOp;
use crate::diff::{DExpr, Partial};
use crate::ir::{CellIr, NodeId, Op, Reduction};
use crate::shape::{Dim, Shape};
use crate::Compiled;

/// A sequence, time-major: `[T][B][n]`.
pub type Seq = Vec<Vec<Vec<f64>>>;

/// Parameter values (or gradients) by the spec's names, each row-major: a vector `[D]` has `D`
/// entries, a matrix `[D, E]` has `D * E` entries, row `i` at `i * E .. (i + 1) * E`.
pub type Params = BTreeMap<String, Vec<f64>>;

/// Why the evaluator could not run: a missing dimension, a parameter of the wrong size, a
/// sequence of the wrong shape, ...
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalError(pub String);

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for EvalError {}

fn err<T>(msg: impl Into<String>) -> Result<T, EvalError> {
    Err(EvalError(msg.into()))
}

/// The states of a batch, laid out as the runtime's `States`: per state its value `[B][size]`,
/// and its `delay - 1` earlier values, most recent first (`history[s][j]` is `h[t-2-j]`).
#[derive(Debug, Clone, PartialEq)]
pub struct EvalStates {
    /// Per state, `[B][size]`.
    pub values: Vec<Vec<Vec<f64>>>,
    /// Per state, `delay - 1` arrays `[B][size]`, most recent first.
    pub history: Vec<Vec<Vec<Vec<f64>>>>,
    /// The input history: `K` arrays `[B][I]`, most recent first (`inputs[j]` is `x[t-1-j]`),
    /// `K` the largest delay of `x[t-k]`.
    pub inputs: Vec<Vec<Vec<f64>>>,
}

impl EvalStates {
    /// Every array (values, then each state's history), in the order of the runtime's
    /// `States::arrays`.
    pub fn arrays(&self) -> impl Iterator<Item = &Vec<Vec<f64>>> {
        self.values
            .iter()
            .chain(self.history.iter().flatten())
            .chain(self.inputs.iter())
    }

    /// Every array, mutably, in the order of [`EvalStates::arrays`].
    pub fn arrays_mut(&mut self) -> impl Iterator<Item = &mut Vec<Vec<f64>>> {
        self.values
            .iter_mut()
            .chain(self.history.iter_mut().flatten())
            .chain(self.inputs.iter_mut())
    }
}

/// The result of [`Evaluator::forward`].
#[derive(Debug, Clone)]
pub struct EvalForward {
    /// The output at every step, `[T][B][O]`; zero after an example's length.
    pub outputs: Seq,
    /// The states after each example's last step, with their history.
    pub final_states: EvalStates,
    /// The input sequence.
    x: Seq,
    /// The lengths used.
    lengths: Vec<usize>,
    /// `values[b][t][n]`: the value of node `n` at step `t < lengths[b]` of example `b`
    /// (empty for matrix parameters).
    values: Vec<Vec<Vec<Vec<f64>>>>,
}

impl EvalForward {
    /// The value of node `n` at step `t` of example `b` (`None` past the example's length):
    /// `size` entries for a `[size]` vector, one for a literal or a `[1]` value, none for a
    /// matrix parameter.
    pub fn value(&self, t: usize, b: usize, n: NodeId) -> Option<&[f64]> {
        self.values.get(b)?.get(t)?.get(n).map(|v| v.as_slice())
    }

    /// The lengths the forward pass ran with.
    pub fn lengths(&self) -> &[usize] {
        &self.lengths
    }
}

/// The result of [`Evaluator::backward`].
#[derive(Debug, Clone)]
pub struct EvalGradients {
    /// The gradient of every parameter, by name, in the layout of [`Params`].
    pub params: Params,
    /// The gradient of the input sequence, `[T][B][I]`.
    pub inputs: Seq,
    /// The gradient of the initial states and their history.
    pub initial_states: EvalStates,
}

/// The reference evaluator of one cell at concrete dimensions. See the [module](self) docs.
#[derive(Debug, Clone)]
pub struct Evaluator<'a> {
    cell: &'a CellIr,
    partials: &'a [Vec<Partial>],
    /// Per node, its number of entries per example (1 for a literal, 0 for a matrix).
    sizes: Vec<usize>,
    /// Per `MatMul` node, the first row of its block of `W` (0 elsewhere).
    row_starts: Vec<usize>,
    /// Per parameter, its concrete shape.
    param_shapes: Vec<Vec<usize>>,
    input_size: usize,
    state_sizes: Vec<usize>,
    mask_sizes: Vec<usize>,
}

/// The functions a [`DExpr::Call`] may name (the runtime's `activation` module), with their
/// number of arguments.
const HELPERS: [(&str, usize); 14] = [
    ("relu_grad", 1),
    ("softsign_grad", 1),
    ("hard_sigmoid_grad", 1),
    ("sigmoid", 1),
    ("silu_grad", 1),
    ("gelu_grad", 1),
    ("gelu_tanh_grad", 1),
    ("sign", 1),
    ("tie_step", 1),
    ("elu_grad", 3),
    ("leaky_relu_grad", 2),
    ("clamp_grad", 3),
    ("pow", 2),
    ("square", 1),
];

fn check_helpers(e: &DExpr) -> Result<(), EvalError> {
    match e {
        DExpr::Lit(_) | DExpr::Val(_) => Ok(()),
        DExpr::Add(a, b) | DExpr::Sub(a, b) | DExpr::Mul(a, b) | DExpr::Div(a, b) => {
            check_helpers(a)?;
            check_helpers(b)
        }
        DExpr::Neg(a) => check_helpers(a),
        DExpr::Call(f, args) => {
            if !HELPERS.contains(&(*f, args.len())) {
                return err(format!(
                    "unknown derivative helper `{f}` with {} arguments",
                    args.len()
                ));
            }
            args.iter().try_for_each(check_helpers)
        }
    }
}

/// A helper of [`HELPERS`] on its arguments, in f64, written from its definition.
fn helper(f: &str, x: &[f64]) -> f64 {
    let step = |c: bool| if c { 1.0 } else { 0.0 };
    let sigmoid = |v: f64| 1.0 / (1.0 + (-v).exp());
    // The standard normal density and distribution function.
    let phi = |v: f64| (-0.5 * v * v).exp() / (2.0 * std::f64::consts::PI).sqrt();
    let big_phi = |v: f64| 0.5 * libm::erfc(-v / std::f64::consts::SQRT_2);
    match f {
        // From the output: 1 where `y > 0`.
        "relu_grad" => step(x[0] > 0.0),
        // From the input: `1 / (1 + |x|)^2`.
        "softsign_grad" => 1.0 / ((1.0 + x[0].abs()) * (1.0 + x[0].abs())),
        // From the input: `1/6` on `(-3, 3)`.
        "hard_sigmoid_grad" => step(x[0] > -3.0 && x[0] < 3.0) / 6.0,
        "sigmoid" => sigmoid(x[0]),
        // d/dx x s(x) = s + x s (1 - s).
        "silu_grad" => sigmoid(x[0]) * (1.0 + x[0] * (1.0 - sigmoid(x[0]))),
        // d/dx x Phi(x) = Phi + x phi.
        "gelu_grad" => big_phi(x[0]) + x[0] * phi(x[0]),
        "gelu_tanh_grad" => {
            let (c, k) = ((2.0 / std::f64::consts::PI).sqrt(), 0.044715);
            let v = x[0];
            let t = (c * (v + k * v * v * v)).tanh();
            0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * c * (1.0 + 3.0 * k * v * v)
        }
        "sign" => {
            if x[0] > 0.0 {
                1.0
            } else if x[0] < 0.0 {
                -1.0
            } else {
                0.0 * x[0] // 0, or NaN for NaN
            }
        }
        "tie_step" => {
            if x[0] == 0.0 {
                0.5
            } else {
                step(x[0] > 0.0)
            }
        }
        // (x, y, alpha): 1 for x > 0, else y + alpha.
        "elu_grad" => {
            if x[0] > 0.0 {
                1.0
            } else {
                x[1] + x[2]
            }
        }
        // (x, slope)
        "leaky_relu_grad" => {
            if x[0] > 0.0 {
                1.0
            } else {
                x[1]
            }
        }
        // (x, lo, hi): bounds included.
        "clamp_grad" => step(x[1] <= x[0] && x[0] <= x[2]),
        "pow" => x[0].powf(x[1]),
        "square" => x[0] * x[0],
        other => unreachable!("helper `{other}` was rejected by Evaluator::new"),
    }
}

/// Entry `j` of a value that may broadcast (a literal or a `[1]` value has one entry).
fn at(v: &[f64], j: usize) -> f64 {
    if v.len() == 1 {
        v[0]
    } else {
        v[j]
    }
}

/// Index `j` into a value of `len` entries that may have been broadcast.
fn idx(len: usize, j: usize) -> usize {
    if len == 1 {
        0
    } else {
        j
    }
}

impl<'a> Evaluator<'a> {
    /// An evaluator of `cell` with its simplified partials, at the dimensions `dims` (every
    /// dimension name of the cell with its size).
    pub fn new(
        cell: &'a CellIr,
        partials: &'a [Vec<Partial>],
        dims: &[(&str, usize)],
    ) -> Result<Self, EvalError> {
        let dims: BTreeMap<&str, usize> = dims.iter().copied().collect();
        let size = |d: &Dim| -> Result<usize, EvalError> {
            let mut n = d.constant;
            for (name, coef) in &d.terms {
                match dims.get(name.as_str()) {
                    Some(&v) => n += coef * v as i64,
                    None => return err(format!("no size given for dimension `{name}`")),
                }
            }
            usize::try_from(n).or_else(|_| err(format!("dimension {d} is negative")))
        };
        if partials.len() != cell.graph.nodes.len() {
            return err(format!(
                "{} lists of partials for {} nodes",
                partials.len(),
                cell.graph.nodes.len()
            ));
        }
        for p in partials.iter().flatten() {
            check_helpers(&p.factor)?;
        }
        let mut sizes = vec![];
        let mut row_starts = vec![];
        for node in &cell.graph.nodes {
            sizes.push(match &node.shape {
                Shape::Vector(d) => size(d)?,
                Shape::Scalar => 1,
                Shape::Matrix(..) => 0,
                Shape::Error => return err("the cell has errors"),
            });
            row_starts.push(match &node.op {
                Op::MatMul { row_start, .. } => size(row_start)?,
                _ => 0,
            });
        }
        let param_shapes = cell
            .params
            .iter()
            .map(|p| match &p.shape {
                Shape::Vector(d) => Ok(vec![size(d)?]),
                Shape::Matrix(a, b) => Ok(vec![size(a)?, size(b)?]),
                _ => err(format!("parameter `{}` has no shape", p.name)),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let input_size = size(&cell.input.dim)?;
        let state_sizes = cell
            .states
            .iter()
            .map(|s| size(&s.dim))
            .collect::<Result<Vec<_>, _>>()?;
        for (s, st) in cell.states.iter().enumerate() {
            if sizes[st.update] != state_sizes[s] {
                return err(format!(
                    "the update of state `{}` has {} entries, the state {}",
                    st.name, sizes[st.update], state_sizes[s]
                ));
            }
        }
        let mask_sizes = cell
            .masks
            .iter()
            .map(|m| size(&m.dim))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Evaluator {
            cell,
            partials,
            sizes,
            row_starts,
            param_shapes,
            input_size,
            state_sizes,
            mask_sizes,
        })
    }

    /// An evaluator of a compiled cell (its IR and simplified partials).
    pub fn from_compiled(
        compiled: &'a Compiled,
        dims: &[(&str, usize)],
    ) -> Result<Self, EvalError> {
        Evaluator::new(&compiled.cell, &compiled.partials, dims)
    }

    /// The cell.
    pub fn cell(&self) -> &CellIr {
        self.cell
    }

    /// Input size `I`.
    pub fn input_size(&self) -> usize {
        self.input_size
    }

    /// The size of each state.
    pub fn state_sizes(&self) -> &[usize] {
        &self.state_sizes
    }

    /// The largest delay of each state (it keeps `delay - 1` entries of history).
    pub fn state_delays(&self) -> Vec<usize> {
        self.cell.states.iter().map(|s| s.delay).collect()
    }

    /// Output size `O`.
    pub fn output_size(&self) -> usize {
        self.sizes[self.cell.output]
    }

    /// The number of entries of node `n` per example.
    pub fn node_size(&self, n: NodeId) -> usize {
        self.sizes[n]
    }

    /// The concrete shape of each parameter, by name, in declaration order.
    pub fn param_shapes(&self) -> Vec<(String, Vec<usize>)> {
        self.cell
            .params
            .iter()
            .zip(&self.param_shapes)
            .map(|(p, s)| (p.name.clone(), s.clone()))
            .collect()
    }

    /// Zero states (and history) for `batch` examples.
    pub fn zero_states(&self, batch: usize) -> EvalStates {
        EvalStates {
            values: self
                .state_sizes
                .iter()
                .map(|&n| vec![vec![0.0; n]; batch])
                .collect(),
            history: self
                .cell
                .states
                .iter()
                .zip(&self.state_sizes)
                .map(|(s, &n)| vec![vec![vec![0.0; n]; batch]; s.delay - 1])
                .collect(),
            inputs: vec![vec![vec![0.0; self.input_size]; batch]; self.cell.input_delay()],
        }
    }

    /// Zero gradients, one per parameter.
    pub fn zero_params(&self) -> Params {
        self.param_shapes()
            .into_iter()
            .map(|(name, shape)| (name, vec![0.0; shape.iter().product()]))
            .collect()
    }

    fn check_params<'p>(&self, params: &'p Params) -> Result<Vec<&'p [f64]>, EvalError> {
        self.cell
            .params
            .iter()
            .zip(&self.param_shapes)
            .map(|(p, shape)| {
                let n: usize = shape.iter().product();
                match params.get(&p.name) {
                    Some(v) if v.len() == n => Ok(v.as_slice()),
                    Some(v) => err(format!(
                        "parameter `{}`: expected {n} entries ({shape:?}), found {}",
                        p.name,
                        v.len()
                    )),
                    None => err(format!("parameter `{}` is missing", p.name)),
                }
            })
            .collect()
    }

    fn check_seq(
        &self,
        what: &str,
        seq: &Seq,
        t: usize,
        b: usize,
        n: usize,
    ) -> Result<(), EvalError> {
        if seq.len() != t
            || seq
                .iter()
                .any(|s| s.len() != b || s.iter().any(|v| v.len() != n))
        {
            return err(format!("{what}: expected shape [{t}][{b}][{n}]"));
        }
        Ok(())
    }

    fn check_states(&self, what: &str, s: &EvalStates, batch: usize) -> Result<(), EvalError> {
        let zeros = self.zero_states(batch);
        let shape = |s: &EvalStates| -> Vec<Vec<usize>> {
            s.arrays()
                .map(|a| a.iter().map(Vec::len).collect())
                .collect()
        };
        if s.values.len() != zeros.values.len()
            || s.history.len() != zeros.history.len()
            || s.inputs.len() != zeros.inputs.len()
            || s.history
                .iter()
                .zip(&zeros.history)
                .any(|(a, b)| a.len() != b.len())
            || shape(s) != shape(&zeros)
        {
            return err(format!(
                "{what}: expected {} states of sizes {:?} with delays {:?} for {batch} examples",
                self.state_sizes.len(),
                self.state_sizes,
                self.state_delays()
            ));
        }
        Ok(())
    }

    /// The index into matrix parameter `param`'s values of entry `(row, col)` of the matrix a
    /// product multiplies by: `W` itself, or `W^T` when `transposed`.
    fn entry(&self, param: usize, transposed: bool) -> impl Fn(usize, usize) -> usize {
        let cols = self.param_shapes[param][1];
        move |row, col| {
            if transposed {
                col * cols + row
            } else {
                row * cols + col
            }
        }
    }

    /// The size of each mask, in declaration order.
    pub fn mask_sizes(&self) -> &[usize] {
        &self.mask_sizes
    }

    /// Every mask at its expectation `p` for `n_time` steps and `n_batch` examples, in the
    /// layout of [`Evaluator::forward_masked`].
    pub fn expected_masks(&self, n_time: usize, n_batch: usize) -> Vec<Seq> {
        self.cell
            .masks
            .iter()
            .zip(&self.mask_sizes)
            .map(|(m, &size)| {
                let steps = if m.per_step { n_time } else { 1 };
                vec![vec![vec![m.p; size]; n_batch]; steps]
            })
            .collect()
    }

    /// Runs the cell over `x: [T][B][I]` from `init` (zeros when `None`), example `b` for
    /// `lengths[b] <= T` steps (all `T` when `None`), with every mask at its expectation (as
    /// the runtime's inference).
    pub fn forward(
        &self,
        params: &Params,
        x: &Seq,
        init: Option<&EvalStates>,
        lengths: Option<&[usize]>,
    ) -> Result<EvalForward, EvalError> {
        let n_batch = x.first().map_or(0, Vec::len);
        let masks = self.expected_masks(x.len(), n_batch);
        self.forward_masked(params, x, init, lengths, &masks)
    }

    /// [`Evaluator::forward`] with given mask values: per mask, `[1][B][size]` for a mask drawn
    /// once per sequence, `[T][B][size]` for a per-step one.
    pub fn forward_masked(
        &self,
        params: &Params,
        x: &Seq,
        init: Option<&EvalStates>,
        lengths: Option<&[usize]>,
        masks: &[Seq],
    ) -> Result<EvalForward, EvalError> {
        let w = self.check_params(params)?;
        let n_time = x.len();
        let n_batch = x.first().map_or(0, Vec::len);
        self.check_seq("input", x, n_time, n_batch, self.input_size)?;
        if masks.len() != self.mask_sizes.len() {
            return err(format!(
                "masks: expected {}, found {}",
                self.mask_sizes.len(),
                masks.len()
            ));
        }
        for ((m, mask), &size) in self.cell.masks.iter().zip(masks).zip(&self.mask_sizes) {
            let steps = if m.per_step { n_time } else { 1 };
            self.check_seq(&format!("mask `{}`", m.name), mask, steps, n_batch, size)?;
        }
        let lengths = match lengths {
            None => vec![n_time; n_batch],
            Some(l) if l.len() == n_batch && l.iter().all(|&n| n <= n_time) => l.to_vec(),
            Some(l) => {
                return err(format!(
                    "lengths {l:?}: expected {n_batch} lengths <= {n_time}"
                ))
            }
        };
        let zeros = self.zero_states(n_batch);
        let init = init.unwrap_or(&zeros);
        self.check_states("initial states", init, n_batch)?;

        let cell = self.cell;
        let o = self.output_size();
        let mut outputs = vec![vec![vec![0.0; o]; n_batch]; n_time];
        let mut final_states = zeros.clone();
        let mut values = vec![];
        for b in 0..n_batch {
            let len = lengths[b];
            // Per state, rows `0..delay` hold the initial value and history (row `delay - 1` is
            // the initial value, row `delay - 2 - j` is history entry `j`); row `t + delay` is
            // the state at step `t`.
            let mut bufs: Vec<Vec<Vec<f64>>> = cell
                .states
                .iter()
                .enumerate()
                .map(|(s, st)| {
                    let mut rows = vec![vec![]; st.delay];
                    rows[st.delay - 1] = init.values[s][b].clone();
                    for (j, h) in init.history[s].iter().enumerate() {
                        rows[st.delay - 2 - j] = h[b].clone();
                    }
                    rows
                })
                .collect();
            let mut steps = vec![];
            for (t, out) in outputs.iter_mut().enumerate().take(len) {
                let v = self.step(&w, (x, &init.inputs), (&bufs, masks), t, b);
                for (s, st) in cell.states.iter().enumerate() {
                    bufs[s].push(v[st.update].clone());
                }
                out[b] = v[cell.output].clone();
                steps.push(v);
            }
            for (s, st) in cell.states.iter().enumerate() {
                final_states.values[s][b] = bufs[s][len + st.delay - 1].clone();
                for j in 0..st.delay - 1 {
                    final_states.history[s][j][b] = bufs[s][len + st.delay - 2 - j].clone();
                }
            }
            // The last inputs: `x[len - 1 - j]`, or the initial history before the sequence.
            for (j, dst) in final_states.inputs.iter_mut().enumerate() {
                dst[b] = match (len).checked_sub(1 + j) {
                    Some(t) => x[t][b].clone(),
                    None => init.inputs[j - len][b].clone(),
                };
            }
            values.push(steps);
        }
        Ok(EvalForward {
            outputs,
            final_states,
            x: x.clone(),
            lengths,
            values,
        })
    }

    /// The value of every node at step `t` of example `b`.
    fn step(
        &self,
        w: &[&[f64]],
        (x, history): (&Seq, &[Vec<Vec<f64>>]),
        (bufs, masks): (&[Vec<Vec<f64>>], &[Seq]),
        t: usize,
        b: usize,
    ) -> Vec<Vec<f64>> {
        let cell = self.cell;
        let mut v: Vec<Vec<f64>> = Vec::with_capacity(cell.graph.nodes.len());
        for (n, node) in cell.graph.nodes.iter().enumerate() {
            let size = self.sizes[n];
            let value = match node.op {
                Op::Input { delay } => {
                    if t >= delay {
                        x[t - delay][b].clone()
                    } else {
                        history[delay - t - 1][b].clone()
                    }
                }
                Op::StatePrev { state, delay } => {
                    bufs[state][t + cell.states[state].delay - delay].clone()
                }
                Op::Param(p) => {
                    if self.param_shapes[p].len() == 1 {
                        w[p].to_vec()
                    } else {
                        vec![]
                    }
                }
                Op::Const(c) => vec![c],
                Op::Mask(m) => {
                    let step = if cell.masks[m].per_step { t } else { 0 };
                    masks[m][step][b].clone()
                }
                Op::MatMul {
                    lhs,
                    param,
                    transposed,
                    ..
                } => {
                    let at = self.entry(param, transposed);
                    let r0 = self.row_starts[n];
                    (0..size)
                        .map(|j| {
                            (0..self.sizes[lhs])
                                .map(|i| v[lhs][i] * w[param][at(r0 + i, j)])
                                .sum()
                        })
                        .collect()
                }
                Op::Reduce(kind, a) => {
                    let sum: f64 = v[a].iter().sum();
                    match kind {
                        Reduction::Sum => vec![sum],
                        Reduction::Mean => vec![sum / self.sizes[a] as f64],
                    }
                }
                Op::Neg(a) => v[a].iter().map(|&e| -e).collect(),
                Op::Copy(a) => v[a].clone(),
                Op::Func(f, a) => v[a].iter().map(|&e| f.eval(e)).collect(),
                Op::Binary(op, a, c) => (0..size)
                    .map(|j| {
                        let (l, r) = (at(&v[a], j), at(&v[c], j));
                        match op {
                            BinOp::Add => l + r,
                            BinOp::Sub => l - r,
                            BinOp::Mul => l * r,
                            BinOp::Div => l / r,
                            // NaN if either is NaN (`f64::max` would drop it).
                            BinOp::Max if l.is_nan() || r.is_nan() => f64::NAN,
                            BinOp::Min if l.is_nan() || r.is_nan() => f64::NAN,
                            BinOp::Max => l.max(r),
                            BinOp::Min => l.min(r),
                            BinOp::MatMul => unreachable!("`@` is lowered to MatMul"),
                        }
                    })
                    .collect(),
            };
            v.push(value);
        }
        v
    }

    /// Back-propagates through time from `d_outputs: [T][B][O]` and `d_final` (zeros when
    /// `None`), using the derived partials for the elementwise nodes.
    pub fn backward(
        &self,
        params: &Params,
        fwd: &EvalForward,
        d_outputs: &Seq,
        d_final: Option<&EvalStates>,
    ) -> Result<EvalGradients, EvalError> {
        let w = self.check_params(params)?;
        let n_time = fwd.x.len();
        let n_batch = fwd.lengths.len();
        self.check_seq(
            "output gradient",
            d_outputs,
            n_time,
            n_batch,
            self.output_size(),
        )?;
        let zeros = self.zero_states(n_batch);
        let d_final = d_final.unwrap_or(&zeros);
        self.check_states("final-state gradient", d_final, n_batch)?;

        let cell = self.cell;
        let mut d_params: Vec<Vec<f64>> = self
            .param_shapes
            .iter()
            .map(|s| vec![0.0; s.iter().product()])
            .collect();
        let mut d_x = vec![vec![vec![0.0; self.input_size]; n_batch]; n_time];
        let mut d_init = zeros.clone();
        for b in 0..n_batch {
            let len = fwd.lengths[b];
            // The adjoints of the states, rows as in the forward buffers.
            let mut d_bufs: Vec<Vec<Vec<f64>>> = cell
                .states
                .iter()
                .zip(&self.state_sizes)
                .map(|(st, &n)| vec![vec![0.0; n]; len + st.delay])
                .collect();
            for (s, st) in cell.states.iter().enumerate() {
                let add = |row: &mut Vec<f64>, g: &[f64]| {
                    row.iter_mut().zip(g).for_each(|(r, g)| *r += g);
                };
                add(&mut d_bufs[s][len + st.delay - 1], &d_final.values[s][b]);
                for j in 0..st.delay - 1 {
                    add(
                        &mut d_bufs[s][len + st.delay - 2 - j],
                        &d_final.history[s][j][b],
                    );
                }
            }
            for (j, g) in d_final.inputs.iter().enumerate() {
                let dst = match len.checked_sub(1 + j) {
                    Some(t) => &mut d_x[t][b],
                    None => &mut d_init.inputs[j - len][b],
                };
                dst.iter_mut().zip(&g[b]).for_each(|(d, g)| *d += g);
            }
            for t in (0..len).rev() {
                let v = &fwd.values[b][t];
                let mut adj: Vec<Vec<f64>> = self.sizes.iter().map(|&n| vec![0.0; n]).collect();
                for (a, g) in adj[cell.output].iter_mut().zip(&d_outputs[t][b]) {
                    *a += g;
                }
                for (s, st) in cell.states.iter().enumerate() {
                    let row = &d_bufs[s][t + st.delay];
                    for (a, g) in adj[st.update].iter_mut().zip(row) {
                        *a += g;
                    }
                }
                for n in (0..cell.graph.nodes.len()).rev() {
                    let g = std::mem::take(&mut adj[n]);
                    let size = self.sizes[n];
                    match cell.graph.nodes[n].op {
                        Op::Neg(_) | Op::Binary(..) | Op::Func(..) | Op::Copy(_) => {
                            for p in &self.partials[n] {
                                let wrt_len = adj[p.wrt].len();
                                for (j, &gj) in g.iter().enumerate() {
                                    let factor = eval_dexpr(&p.factor, v, j);
                                    if wrt_len > 0 {
                                        adj[p.wrt][idx(wrt_len, j)] += gj * factor;
                                    }
                                }
                            }
                        }
                        Op::MatMul {
                            lhs,
                            param,
                            transposed,
                            ..
                        } => {
                            let at = self.entry(param, transposed);
                            let r0 = self.row_starts[n];
                            for i in 0..self.sizes[lhs] {
                                for (j, &gj) in g.iter().enumerate().take(size) {
                                    let e = at(r0 + i, j);
                                    adj[lhs][i] += gj * w[param][e];
                                    d_params[param][e] += v[lhs][i] * gj;
                                }
                            }
                        }
                        Op::Reduce(kind, a) => {
                            let scale = match kind {
                                Reduction::Sum => 1.0,
                                Reduction::Mean => 1.0 / self.sizes[a] as f64,
                            };
                            for e in adj[a].iter_mut() {
                                *e += g[0] * scale;
                            }
                        }
                        Op::Param(p) => {
                            if self.param_shapes[p].len() == 1 {
                                for (d, gj) in d_params[p].iter_mut().zip(&g) {
                                    *d += gj;
                                }
                            }
                        }
                        Op::Input { delay } => {
                            let dst = if t >= delay {
                                &mut d_x[t - delay][b]
                            } else {
                                &mut d_init.inputs[delay - t - 1][b]
                            };
                            for (d, gj) in dst.iter_mut().zip(&g) {
                                *d += gj;
                            }
                        }
                        Op::StatePrev { state, delay } => {
                            let row = t + cell.states[state].delay - delay;
                            for (d, gj) in d_bufs[state][row].iter_mut().zip(&g) {
                                *d += gj;
                            }
                        }
                        Op::Const(_) | Op::Mask(_) => {}
                    }
                    adj[n] = g;
                }
            }
            for (s, st) in cell.states.iter().enumerate() {
                d_init.values[s][b] = d_bufs[s][st.delay - 1].clone();
                for j in 0..st.delay - 1 {
                    d_init.history[s][j][b] = d_bufs[s][st.delay - 2 - j].clone();
                }
            }
        }
        Ok(EvalGradients {
            params: cell
                .params
                .iter()
                .map(|p| p.name.clone())
                .zip(d_params)
                .collect(),
            inputs: d_x,
            initial_states: d_init,
        })
    }
}

/// Evaluates a derivative factor at feature `j` from the step's forward values.
fn eval_dexpr(e: &DExpr, v: &[Vec<f64>], j: usize) -> f64 {
    match e {
        DExpr::Lit(c) => *c,
        DExpr::Val(n) => at(&v[*n], j),
        DExpr::Add(a, b) => eval_dexpr(a, v, j) + eval_dexpr(b, v, j),
        DExpr::Sub(a, b) => eval_dexpr(a, v, j) - eval_dexpr(b, v, j),
        DExpr::Mul(a, b) => eval_dexpr(a, v, j) * eval_dexpr(b, v, j),
        DExpr::Div(a, b) => eval_dexpr(a, v, j) / eval_dexpr(b, v, j),
        DExpr::Neg(a) => -eval_dexpr(a, v, j),
        DExpr::Call(f, args) => {
            let x: Vec<f64> = args.iter().map(|a| eval_dexpr(a, v, j)).collect();
            helper(f, &x)
        }
    }
}
