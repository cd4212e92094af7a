//! The typed IR: one step of the cell as a DAG of operations with shapes and source positions.
//! Node ids are topological: every operand has a smaller id than its user.

use crate::ast::{BinOp, Vis};
use crate::diagnostic::Pos;
use crate::shape::{Dim, Shape};

/// Index of a node in [`Graph::nodes`].
pub type NodeId = usize;

/// A number literal of the spec held by a function (a slope, a bound, an exponent), compared
/// and hashed by its bits so that functions stay `Eq`, `Ord` and `Hash`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Literal(u64);

impl Literal {
    /// The literal `v`.
    pub fn new(v: f64) -> Self {
        Literal(v.to_bits())
    }

    /// Its value.
    pub fn value(self) -> f64 {
        f64::from_bits(self.0)
    }
}

/// An elementwise function of the language. Derivatives at kinks are PyTorch's (see
/// `diff`): the subgradient its autograd returns there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Func {
    /// `1 / (1 + exp(-x))`
    Sigmoid,
    /// `tanh(x)`
    Tanh,
    /// `max(x, 0)`
    Relu,
    /// `exp(x)`
    Exp,
    /// `ln(x)`
    Log,
    /// `sqrt(x)`
    Sqrt,
    /// `x / (1 + |x|)`
    Softsign,
    /// `clamp(x / 6 + 1/2, 0, 1)`
    HardSigmoid,
    /// `ln(1 + exp(x))`
    Softplus,
    /// `x * sigmoid(x)` (SiLU, swish)
    Silu,
    /// `x/2 * (1 + erf(x / sqrt 2))` (GELU, exact)
    Gelu,
    /// `x/2 * (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))` (GELU, tanh approximation)
    GeluTanh,
    /// `|x|`
    Abs,
    /// `x * x`
    Square,
    /// `x` if `x > 0`, else `alpha (exp(x) - 1)`
    Elu(Literal),
    /// `x` if `x > 0`, else `slope * x`
    LeakyRelu(Literal),
    /// `x^k` for a literal `k`
    Pow(Literal),
    /// `min(max(x, lo), hi)` for literals `lo <= hi`
    Clamp(Literal, Literal),
}

impl Func {
    /// The functions of one argument, with their names in the language.
    pub const UNARY: [(&'static str, Func); 14] = [
        ("sigmoid", Func::Sigmoid),
        ("tanh", Func::Tanh),
        ("relu", Func::Relu),
        ("exp", Func::Exp),
        ("log", Func::Log),
        ("sqrt", Func::Sqrt),
        ("softsign", Func::Softsign),
        ("hard_sigmoid", Func::HardSigmoid),
        ("softplus", Func::Softplus),
        ("silu", Func::Silu),
        ("gelu", Func::Gelu),
        ("gelu_tanh", Func::GeluTanh),
        ("abs", Func::Abs),
        ("square", Func::Square),
    ];

    /// The functions that take number literals after their argument, as written in the
    /// language (`elu`'s `alpha` may be left out: 1).
    pub const WITH_LITERALS: [&'static str; 4] = [
        "elu(v) or elu(v, alpha)",
        "leaky_relu(v, slope)",
        "pow(v, k)",
        "clamp(v, lo, hi)",
    ];

    /// The function's name in the language and in the runtime's `activation` module.
    pub fn name(self) -> &'static str {
        match self {
            Func::Elu(_) => "elu",
            Func::LeakyRelu(_) => "leaky_relu",
            Func::Pow(_) => "pow",
            Func::Clamp(..) => "clamp",
            f => Func::UNARY
                .iter()
                .find(|(_, g)| *g == f)
                .map_or("?", |(n, _)| n),
        }
    }

    /// The literal arguments after the value, in order (empty for most functions).
    pub fn literals(self) -> Vec<f64> {
        match self {
            Func::Elu(a) | Func::LeakyRelu(a) | Func::Pow(a) => vec![a.value()],
            Func::Clamp(lo, hi) => vec![lo.value(), hi.value()],
            _ => vec![],
        }
    }

    /// The call as written, with `arg` as its argument: `tanh(v)`, `leaky_relu(v, 0.01)`.
    pub fn call_text(self, arg: &str) -> String {
        let mut out = format!("{}({arg}", self.name());
        for v in self.literals() {
            out += &format!(", {v:?}");
        }
        out + ")"
    }

    /// Evaluates the function (in f64, exactly: constant folding and the reference evaluator).
    pub fn eval(self, x: f64) -> f64 {
        match self {
            Func::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            Func::Tanh => x.tanh(),
            // Compares, so that NaN stays NaN (`max` would give 0).
            Func::Relu => {
                if x <= 0.0 {
                    0.0
                } else {
                    x
                }
            }
            Func::Exp => x.exp(),
            Func::Log => x.ln(),
            Func::Sqrt => x.sqrt(),
            Func::Softsign => x / (1.0 + x.abs()),
            Func::HardSigmoid => (x / 6.0 + 0.5).clamp(0.0, 1.0),
            Func::Softplus => x.max(0.0) + (-x.abs()).exp().ln_1p(),
            Func::Silu => x / (1.0 + (-x).exp()),
            Func::Gelu => 0.5 * x * libm::erfc(-x / std::f64::consts::SQRT_2),
            Func::GeluTanh => {
                let u = (2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x * x * x);
                0.5 * x * (1.0 + u.tanh())
            }
            Func::Abs => x.abs(),
            Func::Square => x * x,
            Func::Elu(alpha) => {
                if x > 0.0 {
                    x
                } else {
                    alpha.value() * x.exp_m1()
                }
            }
            Func::LeakyRelu(slope) => {
                if x > 0.0 {
                    x
                } else {
                    slope.value() * x
                }
            }
            Func::Pow(k) => x.powf(k.value()),
            Func::Clamp(lo, hi) => {
                if x < lo.value() {
                    lo.value()
                } else if x > hi.value() {
                    hi.value()
                } else {
                    x
                }
            }
        }
    }
}

/// A reduction over the feature axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reduction {
    /// `mean(v)`: the average of the `D` features.
    Mean,
    /// `sum(v)`: the sum of the `D` features.
    Sum,
}

impl Reduction {
    /// The name in the language.
    pub fn name(self) -> &'static str {
        match self {
            Reduction::Mean => "mean",
            Reduction::Sum => "sum",
        }
    }
}

/// An operation of the step.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// The input at `t - delay`.
    Input {
        /// `k` in `x[t-k]`.
        delay: usize,
    },
    /// A state at `t - delay`, `delay >= 1`.
    StatePrev {
        /// Index of the state.
        state: usize,
        /// `k` in `h[t-k]`.
        delay: usize,
    },
    /// A parameter.
    Param(usize),
    /// A random mask ([`MaskIr`]): drawn when training, its expectation otherwise; no gradient.
    Mask(usize),
    /// A literal.
    Const(f64),
    /// `lhs @ M[row_start .. row_start + len(lhs), :]` where `M` is a matrix parameter `W`, or
    /// its transpose `W^T` when `transposed`: the whole matrix for `v @ W`, a block of its rows
    /// for each part of `concat(a, b) @ W`.
    MatMul {
        /// The per-example row vector.
        lhs: NodeId,
        /// The matrix parameter.
        param: usize,
        /// The first row of `M` that multiplies `lhs`.
        row_start: Dim,
        /// `M = W^T` (`v @ W^T`): `W` is stored `[out, in]`.
        transposed: bool,
    },
    /// A reduction over the feature axis: one value per example (shape `[1]`), which
    /// broadcasts against any vector.
    Reduce(Reduction, NodeId),
    /// `-a`
    Neg(NodeId),
    /// `a op b`, elementwise (`op` is never `@`).
    Binary(BinOp, NodeId, NodeId),
    /// `f(a)`
    Func(Func, NodeId),
    /// The value of another node, materialized (a state updated to a leaf or a product).
    Copy(NodeId),
}

impl Op {
    /// The operands.
    pub fn operands(&self) -> Vec<NodeId> {
        match *self {
            Op::MatMul { lhs, .. } => vec![lhs],
            Op::Reduce(_, a) => vec![a],
            Op::Neg(a) | Op::Func(_, a) | Op::Copy(a) => vec![a],
            Op::Binary(_, a, b) => vec![a, b],
            _ => vec![],
        }
    }

    /// Whether the node is computed by an elementwise pass (not a leaf, not a product).
    pub fn is_elementwise(&self) -> bool {
        matches!(
            self,
            Op::Neg(_) | Op::Binary(..) | Op::Func(..) | Op::Copy(_)
        )
    }
}

/// A node: an operation, its shape and the source text it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// What it computes.
    pub op: Op,
    /// Its shape.
    pub shape: Shape,
    /// The user's text it came from.
    pub pos: Pos,
    /// The expression as written (for messages and the derivation shown to users).
    pub text: String,
}

/// The DAG of one step.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Graph {
    /// The nodes, in topological order.
    pub nodes: Vec<Node>,
}

impl Graph {
    /// The dimension of a vector node (`None` for scalars).
    pub fn dim(&self, n: NodeId) -> Option<&Dim> {
        match &self.nodes[n].shape {
            Shape::Vector(d) => Some(d),
            _ => None,
        }
    }
}

/// A parameter initializer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum InitIr {
    /// PyTorch's default.
    Default,
    /// A constant.
    Constant(f64),
    /// Zeros.
    Zeros,
    /// Ones.
    Ones,
    /// Uniform on `[-a, a]`.
    Uniform(f64),
    /// Glorot uniform.
    Xavier,
    /// Orthogonal.
    Orthogonal,
}

impl InitIr {
    /// The initializer in the language's syntax, as in `param b_f: [H] = 1.0;` (`1.0`, `zeros`,
    /// `uniform(0.1)`); `None` for the default, which is written as no initializer. A number
    /// is shown with its shortest exact decimal form and a point or an exponent (`1.0`,
    /// `0.5`, `1e-5`), so `1` shows as `1.0`.
    pub fn source_text(self) -> Option<String> {
        match self {
            InitIr::Default => None,
            InitIr::Constant(v) => Some(format!("{v:?}")),
            InitIr::Zeros => Some("zeros".into()),
            InitIr::Ones => Some("ones".into()),
            InitIr::Uniform(a) => Some(format!("uniform({a:?})")),
            InitIr::Xavier => Some("xavier".into()),
            InitIr::Orthogonal => Some("orthogonal".into()),
        }
    }
}

/// The input declaration.
#[derive(Debug, Clone, PartialEq)]
pub struct InputIr {
    /// Name (`x`).
    pub name: String,
    /// Size per example.
    pub dim: Dim,
}

/// A state.
#[derive(Debug, Clone, PartialEq)]
pub struct StateIr {
    /// Name (`h`).
    pub name: String,
    /// Size per example.
    pub dim: Dim,
    /// Largest delay read (at least 1).
    pub delay: usize,
    /// The node computing `h[t]`.
    pub update: NodeId,
    /// Doc comment lines.
    pub docs: Vec<String>,
}

/// A parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamIr {
    /// Name (`W_xi`).
    pub name: String,
    /// `Vector` or `Matrix`.
    pub shape: Shape,
    /// Initializer.
    pub init: InitIr,
    /// Doc comment lines.
    pub docs: Vec<String>,
}

/// A random mask, `mask m: [H] = bernoulli(p);`: each entry 1 with probability `p`, else 0,
/// drawn once per sequence and example (or at every step, `bernoulli_per_step(p)`) when
/// training, and `p` (its expectation) otherwise.
#[derive(Debug, Clone, PartialEq)]
pub struct MaskIr {
    /// Name (`m_h`).
    pub name: String,
    /// Size per example.
    pub dim: Dim,
    /// The probability of a 1.
    pub p: f64,
    /// Drawn at every step (`bernoulli_per_step`) rather than once per sequence.
    pub per_step: bool,
    /// Doc comment lines.
    pub docs: Vec<String>,
}

impl MaskIr {
    /// The distribution as written: `bernoulli(0.75)`, `bernoulli_per_step(0.1)`.
    pub fn distribution(&self) -> String {
        let f = if self.per_step {
            "bernoulli_per_step"
        } else {
            "bernoulli"
        };
        format!("{f}({:?})", self.p)
    }
}

/// A checked cell: declarations and the step's graph.
#[derive(Debug, Clone, PartialEq)]
pub struct CellIr {
    /// Name.
    pub name: String,
    /// Visibility.
    pub vis: Vis,
    /// Doc comment lines.
    pub docs: Vec<String>,
    /// Dimension names, in order of first appearance.
    pub dims: Vec<String>,
    /// The input.
    pub input: InputIr,
    /// The states.
    pub states: Vec<StateIr>,
    /// The parameters.
    pub params: Vec<ParamIr>,
    /// The random masks.
    pub masks: Vec<MaskIr>,
    /// The node emitted each step.
    pub output: NodeId,
    /// The output as written (`h[t]`).
    pub output_text: String,
    /// The equations as written, one per line.
    pub equations: Vec<String>,
    /// The name each named value goes by: intermediates (`i`) and state updates (`c[t]`).
    pub names: std::collections::BTreeMap<NodeId, String>,
    /// The step.
    pub graph: Graph,
}

impl CellIr {
    /// The largest `k` of the `x[t-k]` the step reads (0 when it reads only `x[t]`): how many
    /// past inputs the cell carries from one call to the next as input history.
    pub fn input_delay(&self) -> usize {
        self.graph
            .nodes
            .iter()
            .filter_map(|node| match node.op {
                Op::Input { delay } => Some(delay),
                _ => None,
            })
            .max()
            .unwrap_or(0)
    }
}
