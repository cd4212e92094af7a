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
    /// A derivative helper of the runtime's `activation` module (`relu_grad`, ...).
    Call(&'static str, Box<DExpr>),
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
            DExpr::Neg(a) | DExpr::Call(_, a) => a.values(out),
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
        Op::Func(f, a) => {
            let factor = match f {
                Func::Sigmoid => Mul(b(y()), b(Sub(b(Lit(1.0)), b(y())))),
                Func::Tanh => Sub(b(Lit(1.0)), b(Mul(b(y()), b(y())))),
                Func::Relu => Call("relu_grad", b(y())),
                Func::Exp => y(),
                Func::Log => Div(b(Lit(1.0)), b(Val(a))),
                Func::Sqrt => Div(b(Lit(0.5)), b(y())),
                Func::Softsign => Call("softsign_grad", b(Val(a))),
                Func::HardSigmoid => Call("hard_sigmoid_grad", b(Val(a))),
            };
            vec![p(a, factor)]
        }
        Op::Input { .. }
        | Op::StatePrev { .. }
        | Op::Param(_)
        | Op::Const(_)
        | Op::MatMul { .. }
        | Op::Reduce(..) => {
            vec![]
        }
    }
}
