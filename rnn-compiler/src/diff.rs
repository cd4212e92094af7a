//! Symbolic differentiation: for every elementwise node `c` and each operand `a`, the partial
//! derivative `dc/da` as an expression over forward values. The backward pass then accumulates
//! `adjoint(a) += adjoint(c) * dc/da` (reverse-mode chain rule). Wherever the derivative can be
//! written through the node's own output (sigmoid, tanh, exp, sqrt, relu) it is, so the backward
//! pass reuses saved activations instead of recomputing them.

use crate::ast::BinOp;
use crate::ir::{Func, Graph, NodeId, Op};

/// An expression over forward values: a factor of a partial derivative.
#[derive(Debug, Clone, PartialEq)]
pub enum DExpr {
    /// A constant.
    Lit(f64),
    /// The forward value of a node.
    Val(NodeId),
    /// `a + b`
    Add(Box<DExpr>, Box<DExpr>),
    /// `a - b`
    Sub(Box<DExpr>, Box<DExpr>),
    /// `a * b`
    Mul(Box<DExpr>, Box<DExpr>),
    /// `a / b`
    Div(Box<DExpr>, Box<DExpr>),
    /// `-a`
    Neg(Box<DExpr>),
    /// A function of the runtime's `activation` module (`relu_grad`, `pow`, ...) applied to
    /// its arguments.
    Call(&'static str, Vec<DExpr>),
}

impl DExpr {
    /// The nodes whose forward values the expression reads.
    pub fn values(&self, out: &mut Vec<NodeId>) {
        match self {
            DExpr::Lit(_) => {}
            DExpr::Val(n) => out.push(*n),
            DExpr::Add(a, b) | DExpr::Sub(a, b) | DExpr::Mul(a, b) | DExpr::Div(a, b) => {
                a.values(out);
                b.values(out);
            }
            DExpr::Neg(a) => a.values(out),
            DExpr::Call(_, args) => args.iter().for_each(|a| a.values(out)),
        }
    }
}

fn b(e: DExpr) -> Box<DExpr> {
    Box::new(e)
}

/// A partial derivative `d node / d operand`.
#[derive(Debug, Clone, PartialEq)]
pub struct Partial {
    /// The operand the derivative is taken with respect to.
    pub wrt: NodeId,
    /// The derivative, over forward values.
    pub factor: DExpr,
}

/// The partial derivatives of every node with respect to its operands (empty for leaves and
/// for products, whose adjoints are matrix products planned separately).
pub fn differentiate(graph: &Graph) -> Vec<Vec<Partial>> {
    graph
        .nodes
        .iter()
        .enumerate()
        .map(|(c, node)| partials(c, &node.op))
        .collect()
}

fn partials(c: NodeId, op: &Op) -> Vec<Partial> {
    use DExpr::*;
    let p = |wrt: NodeId, factor: DExpr| Partial { wrt, factor };
    let y = || Val(c);
    match *op {
        Op::Neg(a) => vec![p(a, Lit(-1.0))],
        Op::Copy(a) => vec![p(a, Lit(1.0))],
        Op::Binary(BinOp::Add, a, x) => vec![p(a, Lit(1.0)), p(x, Lit(1.0))],
        Op::Binary(BinOp::Sub, a, x) => vec![p(a, Lit(1.0)), p(x, Lit(-1.0))],
        Op::Binary(BinOp::Mul, a, x) => vec![p(a, Val(x)), p(x, Val(a))],
        // y = a / x: dy/da = 1 / x, dy/dx = -a / x^2 = -y / x.
        Op::Binary(BinOp::Div, a, x) => {
            vec![
                p(a, Div(b(Lit(1.0)), b(Val(x)))),
                p(x, Neg(b(Div(b(y()), b(Val(x)))))),
            ]
        }
        Op::Binary(BinOp::MatMul, ..) => vec![],
        // PyTorch's `maximum`/`minimum`: the gradient goes to the larger (smaller) operand,
        // half to each on a tie. `tie_step(d)` is 1, 1/2, 0 for d > 0, = 0, < 0.
        Op::Binary(BinOp::Max, a, x) => vec![
            p(a, Call("tie_step", vec![Sub(b(Val(a)), b(Val(x)))])),
            p(x, Call("tie_step", vec![Sub(b(Val(x)), b(Val(a)))])),
        ],
        Op::Binary(BinOp::Min, a, x) => vec![
            p(a, Call("tie_step", vec![Sub(b(Val(x)), b(Val(a)))])),
            p(x, Call("tie_step", vec![Sub(b(Val(a)), b(Val(x)))])),
        ],
        Op::Func(f, a) => {
            let factor = match f {
                Func::Sigmoid => Mul(b(y()), b(Sub(b(Lit(1.0)), b(y())))),
                Func::Tanh => Sub(b(Lit(1.0)), b(Mul(b(y()), b(y())))),
                Func::Relu => Call("relu_grad", vec![y()]),
                Func::Exp => y(),
                Func::Log => Div(b(Lit(1.0)), b(Val(a))),
                Func::Sqrt => Div(b(Lit(0.5)), b(y())),
                Func::Softsign => Call("softsign_grad", vec![Val(a)]),
                Func::HardSigmoid => Call("hard_sigmoid_grad", vec![Val(a)]),
                Func::Softplus => Call("sigmoid", vec![Val(a)]),
                Func::Silu => Call("silu_grad", vec![Val(a)]),
                Func::Gelu => Call("gelu_grad", vec![Val(a)]),
                Func::GeluTanh => Call("gelu_tanh_grad", vec![Val(a)]),
                // PyTorch: `sgn(x)`, 0 at 0.
                Func::Abs => Call("sign", vec![Val(a)]),
                Func::Square => Mul(b(Lit(2.0)), b(Val(a))),
                // 1 for x > 0, else y + alpha (alpha at 0, as PyTorch).
                Func::Elu(alpha) => Call("elu_grad", vec![Val(a), y(), Lit(alpha.value())]),
                // 1 for x > 0, else the slope (the slope at 0, as PyTorch).
                Func::LeakyRelu(slope) => Call("leaky_relu_grad", vec![Val(a), Lit(slope.value())]),
                // k x^(k-1); 0 for k = 0 (PyTorch's `pow_backward`).
                Func::Pow(k) if k.value() == 0.0 => Lit(0.0),
                Func::Pow(k) if k.value() == 1.0 => Lit(1.0),
                Func::Pow(k) if k.value() == 2.0 => Mul(b(Lit(2.0)), b(Val(a))),
                Func::Pow(k) => Mul(
                    b(Lit(k.value())),
                    b(Call("pow", vec![Val(a), Lit(k.value() - 1.0)])),
                ),
                // 1 on [lo, hi], bounds included (PyTorch's `clamp` backward).
                Func::Clamp(lo, hi) => {
                    Call("clamp_grad", vec![Val(a), Lit(lo.value()), Lit(hi.value())])
                }
            };
            vec![p(a, factor)]
        }
        Op::Input { .. }
        | Op::StatePrev { .. }
        | Op::Param(_)
        | Op::Mask(_)
        | Op::Const(_)
        | Op::MatMul { .. }
        | Op::Reduce(..) => {
            vec![]
        }
    }
}
