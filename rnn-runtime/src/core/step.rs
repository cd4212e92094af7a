//! The step of a cell as data: the operations of one time step, in the order the compiler
//! computes them, emitted into every cell's [`CellSpec`](crate::CellSpec) so that tools (the
//! ONNX exporter) walk a cell's equations without parsing text.
//!
//! Node `n`'s operands are nodes with smaller indices. Vector nodes hold `[size]` values per
//! example (a `[1]` value broadcasts against any size); a [`StepOp::Const`] is a scalar; a
//! matrix parameter's node has no per-example value (products name the parameter directly).

/// A size written with the cell's named dimensions: `sum(coefficient * dimension) + constant`
/// (`I + H`, `4*H`, `1`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DimSpec {
    /// `(coefficient, dimension name)` terms.
    pub terms: &'static [(i64, &'static str)],
    /// The constant part.
    pub constant: i64,
}

impl DimSpec {
    /// The size at the dimensions `dims` (`(name, size)` pairs, as
    /// [`CellDims::sizes`](crate::CellDims::sizes) gives them); `None` if a name is missing or
    /// the size is negative.
    pub fn eval(&self, dims: &[(&str, usize)]) -> Option<usize> {
        let mut n = self.constant;
        for (coefficient, name) in self.terms {
            let (_, size) = dims.iter().find(|(d, _)| d == name)?;
            n += coefficient * i64::try_from(*size).ok()?;
        }
        usize::try_from(n).ok()
    }
}

/// An elementwise binary operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    /// `a + b`
    Add,
    /// `a - b`
    Sub,
    /// `a * b`
    Mul,
    /// `a / b`
    Div,
    /// `max(a, b)` (NaN if either is)
    Max,
    /// `min(a, b)` (NaN if either is)
    Min,
}

/// One operation of the step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StepOp {
    /// The input at `t - delay`.
    Input {
        /// `k` in `x[t-k]`.
        delay: usize,
    },
    /// State `state` at `t - delay` (`delay >= 1`).
    State {
        /// Index into [`crate::CellSpec::states`].
        state: usize,
        /// `k` in `h[t-k]`.
        delay: usize,
    },
    /// Parameter `p` (index into [`crate::CellSpec::params`]).
    Param(usize),
    /// Random mask `m` (index into [`crate::CellSpec::masks`]).
    Mask(usize),
    /// A literal.
    Const(f64),
    /// `lhs @ M[row_start .. row_start + size(lhs), :]`, with `M` the matrix parameter `param`
    /// (`[in, out]`), or its transpose when `transposed` (`v @ W^T`).
    MatMul {
        /// The per-example row vector.
        lhs: usize,
        /// Index into [`crate::CellSpec::params`].
        param: usize,
        /// The first row of `M` used (non-zero for the parts of `concat(a, b) @ W`).
        row_start: DimSpec,
        /// `M = W^T`.
        transposed: bool,
    },
    /// The mean of the features of `arg` (`mean(v)`): one value per example.
    Mean(usize),
    /// The sum of the features of `arg` (`sum(v)`): one value per example.
    Sum(usize),
    /// `-a`
    Neg(usize),
    /// `a op b`, elementwise with broadcasting of `[1]` values and literals.
    Binary(BinaryOp, usize, usize),
    /// `f(a, literals...)`: a function of the language by name (`sigmoid`, `leaky_relu`, ...)
    /// with its literal arguments after the value (`leaky_relu(v, 0.01)`: `[0.01]`).
    Func(&'static str, &'static [f64], usize),
    /// The value of another node.
    Copy(usize),
}

impl StepOp {
    /// [`StepOp::Input`] (a constructor that generated code writes on one line).
    pub const fn input(delay: usize) -> Self {
        StepOp::Input { delay }
    }

    /// [`StepOp::State`].
    pub const fn state(state: usize, delay: usize) -> Self {
        StepOp::State { state, delay }
    }

    /// [`StepOp::MatMul`].
    pub const fn product(lhs: usize, param: usize, row_start: DimSpec, transposed: bool) -> Self {
        StepOp::MatMul {
            lhs,
            param,
            row_start,
            transposed,
        }
    }

    /// The nodes it reads.
    pub fn operands(&self) -> Vec<usize> {
        match *self {
            StepOp::MatMul { lhs, .. } => vec![lhs],
            StepOp::Mean(a) | StepOp::Sum(a) | StepOp::Neg(a) | StepOp::Copy(a) => vec![a],
            StepOp::Func(_, _, a) => vec![a],
            StepOp::Binary(_, a, b) => vec![a, b],
            _ => vec![],
        }
    }
}

/// One node of the step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepNode {
    /// What it computes.
    pub op: StepOp,
    /// Its size per example (`[size]`; 1 for a literal or a reduction; 0 for a matrix
    /// parameter).
    pub size: DimSpec,
}

impl StepNode {
    /// A node (a constructor that generated code writes on one line).
    pub const fn new(op: StepOp, size: DimSpec) -> Self {
        StepNode { op, size }
    }
}

impl DimSpec {
    /// `sum(terms) + constant` (a constructor that generated code writes on one line).
    pub const fn new(terms: &'static [(i64, &'static str)], constant: i64) -> Self {
        DimSpec { terms, constant }
    }
}

/// The operations of one step of a cell, as the compiler computes them: node `n`'s operands
/// are nodes with smaller indices; vector nodes hold `[size]` values per example (a `[1]` value
/// broadcasts), a literal is a scalar, and a matrix parameter's node has no value (products
/// name the parameter).
#[derive(Debug, PartialEq)]
pub struct StepSpec {
    /// The nodes, operands first.
    pub nodes: &'static [StepNode],
    /// The node computing each state's new value `h[t]`, in the order of
    /// [`crate::CellSpec::states`].
    pub updates: &'static [usize],
    /// The node the cell emits each step.
    pub output: usize,
}
