//! Simplifies the derivative expressions: constant operands become literals, and the
//! arithmetic identities `1 * e`, `e * 1`, `0 * e`, `e + 0`, `--e` are folded, so that the
//! emitted backward pass does no work the equations do not need.

use crate::diff::{DExpr, Partial};
use crate::ir::{Graph, Op};

/// Simplifies every partial; partials with respect to constants are dropped: literals, random
/// masks (constants of the pass that drew them) and whatever is computed from those alone
/// (`1 - z`), which have no adjoint.
pub fn simplify(graph: &Graph, partials: Vec<Vec<Partial>>) -> Vec<Vec<Partial>> {
    let constant = constants(graph);
    partials
        .into_iter()
        .map(|ps| {
            ps.into_iter()
                .filter(|p| !constant[p.wrt])
                .map(|p| Partial {
                    wrt: p.wrt,
                    factor: fold(graph, p.factor),
                })
                .filter(|p| p.factor != DExpr::Lit(0.0))
                .collect()
        })
        .collect()
}

/// Per node, whether it is a constant of the pass: a literal, a random mask, or an elementwise
/// function of constants.
pub fn constants(graph: &Graph) -> Vec<bool> {
    let mut constant = vec![false; graph.nodes.len()];
    for (n, node) in graph.nodes.iter().enumerate() {
        constant[n] = match &node.op {
            Op::Const(_) | Op::Mask(_) => true,
            op if op.is_elementwise() => op.operands().iter().all(|&a| constant[a]),
            _ => false,
        };
    }
    constant
}

fn fold(graph: &Graph, e: DExpr) -> DExpr {
    use DExpr::*;
    match e {
        Val(n) => match graph.nodes[n].op {
            Op::Const(v) => Lit(v),
            _ => Val(n),
        },
        Lit(v) => Lit(v),
        Neg(a) => match fold(graph, *a) {
            Lit(v) => Lit(-v),
            Neg(x) => *x,
            x => Neg(Box::new(x)),
        },
        Call(f, args) => Call(f, args.into_iter().map(|a| fold(graph, a)).collect()),
        Add(a, c) => match (fold(graph, *a), fold(graph, *c)) {
            (Lit(x), Lit(y)) => Lit(x + y),
            (Lit(0.0), x) | (x, Lit(0.0)) => x,
            (x, y) => Add(Box::new(x), Box::new(y)),
        },
        Sub(a, c) => match (fold(graph, *a), fold(graph, *c)) {
            (Lit(x), Lit(y)) => Lit(x - y),
            (x, Lit(0.0)) => x,
            (x, y) => Sub(Box::new(x), Box::new(y)),
        },
        Mul(a, c) => match (fold(graph, *a), fold(graph, *c)) {
            (Lit(x), Lit(y)) => Lit(x * y),
            (Lit(0.0), _) | (_, Lit(0.0)) => Lit(0.0),
            (Lit(1.0), x) | (x, Lit(1.0)) => x,
            (x, y) => Mul(Box::new(x), Box::new(y)),
        },
        Div(a, c) => match (fold(graph, *a), fold(graph, *c)) {
            (Lit(x), Lit(y)) => Lit(x / y),
            (x, Lit(1.0)) => x,
            (x, y) => Div(Box::new(x), Box::new(y)),
        },
    }
}
