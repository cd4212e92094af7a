//! The derivation made visible: a cell's shapes, parameters, packing plan and the adjoint
//! equations the compiler derived, as text for people (the `rnn-cli explain` command and the
//! rustdoc of every generated type).

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::diff::{DExpr, Partial};
use crate::ir::{CellIr, InitIr, NodeId, Op, Reduction};
use crate::plan::{Lhs, Plan};
use crate::shape::{Dim, Shape};
use crate::{Compiled, Diagnostic, Source};

/// The longest source text of a node shown in a derivation; longer ones keep their start and end
/// around a `…`, so that the derivation of a long expression (every prefix of a chain of
/// thousands of operators is a node) grows linearly with it, not quadratically.
const MAX_TEXT: usize = 120;

/// `text`, or its first and last [`MAX_TEXT`]` / 2` characters around a `…` when it is longer.
fn abbreviate(text: &str) -> String {
    let chars = text.chars().count();
    if chars <= MAX_TEXT {
        return text.to_string();
    }
    let head: String = text.chars().take(MAX_TEXT / 2).collect();
    let tail: String = text.chars().skip(chars - MAX_TEXT / 2).collect();
    format!("{} … {}", head.trim_end(), tail.trim_start())
}

/// How a node is called in the derivation: its intermediate or state name, else its text.
fn name(cell: &CellIr, n: NodeId) -> String {
    if let Some(name) = cell.names.get(&n) {
        return name.clone();
    }
    match cell.graph.nodes[n].op {
        Op::Copy(a) => name(cell, a),
        _ => abbreviate(&cell.graph.nodes[n].text),
    }
}

/// The name, parenthesized when it is a compound expression.
fn operand(cell: &CellIr, n: NodeId) -> String {
    let s = name(cell, n);
    if s.contains(' ') && !(s.starts_with('(') && s.ends_with(')')) {
        format!("({s})")
    } else {
        s
    }
}

fn adjoint(cell: &CellIr, n: NodeId) -> String {
    format!("δ{}", operand(cell, n))
}

fn factor(cell: &CellIr, e: &DExpr) -> String {
    match e {
        DExpr::Lit(v) => format!("{v}"),
        DExpr::Val(n) => operand(cell, *n),
        DExpr::Add(a, b) => format!("({} + {})", factor(cell, a), factor(cell, b)),
        DExpr::Sub(a, b) => format!("({} - {})", factor(cell, a), factor(cell, b)),
        DExpr::Mul(a, b) => format!("{} ⊙ {}", factor(cell, a), factor(cell, b)),
        DExpr::Div(a, b) => format!("{} / {}", factor(cell, a), factor(cell, b)),
        DExpr::Neg(a) => format!("-{}", factor(cell, a)),
        DExpr::Call(f, args) => {
            let a: Vec<String> = args.iter().map(|a| factor(cell, a)).collect();
            match (*f, a.as_slice()) {
                ("relu_grad", [y]) => format!("[{y} > 0]"),
                ("softsign_grad", [x]) => format!("1 / (1 + |{x}|)²"),
                ("hard_sigmoid_grad", [x]) => format!("[-3 < {x} < 3] / 6"),
                ("sign", [x]) => format!("sign({x})"),
                ("tie_step", [d]) => format!("[{d} > 0] (½ at 0)"),
                ("leaky_relu_grad", [x, slope]) => format!("([{x} > 0] + {slope} [{x} ≤ 0])"),
                ("elu_grad", [x, y, alpha]) => {
                    format!("([{x} > 0] + ({y} + {alpha}) [{x} ≤ 0])")
                }
                ("clamp_grad", [x, lo, hi]) => format!("[{lo} ≤ {x} ≤ {hi}]"),
                ("pow", [x, k]) => format!("{x}^{k}"),
                (f, a) => format!("{f}({})", a.join(", ")),
            }
        }
    }
}

/// One term of an adjoint: a seed, or the adjoint of a user of the value times a factor.
enum Term {
    Seed(String),
    /// `δsrc ⊙ factor` (`factor` "1" and "-1" print as `δsrc` and `-δsrc`).
    Scaled(NodeId, String),
    /// `δsrc @ Wᵀ`.
    Transposed(NodeId, String),
    /// `δsrc / D`, broadcast over the features.
    Broadcast(NodeId, Option<String>),
}

/// The adjoint equations of one step, in reverse dependency order, followed by the weight
/// gradients. `δv` is the gradient of the loss with respect to `v`; `⊙` is elementwise. An
/// unnamed subexpression whose adjoint is just its user's (a sum passes its adjoint through)
/// gets no line of its own.
pub fn adjoint_equations(cell: &CellIr, partials: &[Vec<Partial>], plan: &Plan) -> Vec<String> {
    let graph = &cell.graph;
    let live = &plan.live;
    // An unnamed copy is the value it copies: the output when it is a product or a leaf (as
    // `output r[t]` for a state `r[t] = (...) @ W_p`), the left operand of a chained product.
    // Its adjoint is shown as that of the state holding the same value if there is one, else
    // as that of the copied node.
    let named_copy: BTreeMap<NodeId, NodeId> = graph
        .nodes
        .iter()
        .enumerate()
        .filter_map(|(n, node)| match node.op {
            Op::Copy(a) if cell.names.contains_key(&n) => Some((a, n)),
            _ => None,
        })
        .collect();
    let target = |mut n: NodeId| -> NodeId {
        while let Op::Copy(a) = graph.nodes[n].op {
            if cell.names.contains_key(&n) {
                break;
            }
            n = named_copy.get(&a).copied().unwrap_or(a);
        }
        n
    };
    let mut terms: BTreeMap<NodeId, Vec<Term>> = BTreeMap::new();
    for st in &cell.states {
        terms
            .entry(target(st.update))
            .or_default()
            .push(Term::Seed(format!(
                "δ{}[t] (from step t+1, or the final state)",
                st.name
            )));
    }
    terms
        .entry(target(cell.output))
        .or_default()
        .push(Term::Seed(format!("∂L/∂{}", output_name(cell))));
    let mut weights = vec![];
    for (n, node) in graph.nodes.iter().enumerate() {
        if !live[n] || target(n) != n {
            continue;
        }
        match &node.op {
            Op::MatMul {
                lhs,
                param,
                row_start,
                transposed,
            } => {
                let w = block(cell, *param, row_start, graph.dim(*lhs), *transposed);
                terms
                    .entry(target(*lhs))
                    .or_default()
                    .push(Term::Transposed(n, w.clone()));
                weights.push((w, *lhs, n));
            }
            Op::Reduce(kind, a) => {
                let d = match kind {
                    Reduction::Sum => None,
                    Reduction::Mean => graph.dim(*a).map(|d| d.to_string()),
                };
                terms
                    .entry(target(*a))
                    .or_default()
                    .push(Term::Broadcast(n, d));
            }
            _ => {
                for p in &partials[n] {
                    terms
                        .entry(target(p.wrt))
                        .or_default()
                        .push(Term::Scaled(n, factor(cell, &p.factor)));
                }
            }
        }
    }
    // A node is an alias when it is unnamed and its adjoint is exactly one user's adjoint.
    let alias = |n: NodeId| -> Option<NodeId> {
        let named = cell.names.contains_key(&n);
        let computed =
            graph.nodes[n].op.is_elementwise() || matches!(graph.nodes[n].op, Op::MatMul { .. });
        match terms.get(&n).map(Vec::as_slice) {
            Some([Term::Scaled(src, f)]) if !named && computed && f == "1" => Some(*src),
            _ => None,
        }
    };
    let resolve = |mut n: NodeId| {
        while let Some(src) = alias(n) {
            n = src;
        }
        adjoint(cell, n)
    };
    let render = |t: &Term| match t {
        Term::Seed(s) => s.clone(),
        Term::Scaled(src, f) if f == "1" => resolve(*src),
        Term::Scaled(src, f) if f == "-1" => format!("-{}", resolve(*src)),
        Term::Scaled(src, f) => format!("{} ⊙ {f}", resolve(*src)),
        Term::Transposed(src, w) => format!("{} @ {w}ᵀ", resolve(*src)),
        Term::Broadcast(src, None) => resolve(*src),
        Term::Broadcast(src, Some(d)) => format!("{} / {d}", resolve(*src)),
    };
    let mut lines = vec![];
    for n in (0..graph.nodes.len()).rev() {
        let Some(ts) = terms.get(&n) else { continue };
        if !live[n] || matches!(graph.nodes[n].op, Op::Const(_)) || alias(n).is_some() {
            continue;
        }
        let op = match graph.nodes[n].op {
            Op::Param(_) => "+= Σ_t",
            Op::StatePrev { .. } | Op::Input { .. } => "+=",
            Op::Copy(_) if !cell.names.contains_key(&n) => continue,
            _ => "=",
        };
        let mut sum = String::new();
        for (i, t) in ts.iter().enumerate() {
            let r = render(t);
            match (i, r.strip_prefix('-')) {
                (0, _) => sum.push_str(&r),
                (_, Some(neg)) => sum.push_str(&format!(" - {neg}")),
                (_, None) => sum.push_str(&format!(" + {r}")),
            }
        }
        lines.push(format!("{} {op} {sum}", adjoint(cell, n)));
    }
    for (w, lhs, n) in weights {
        lines.push(format!(
            "δ{w} += Σ_t {}ᵀ @ {}",
            operand(cell, lhs),
            resolve(n)
        ));
    }
    lines
}

fn output_name(cell: &CellIr) -> String {
    if cell.output_text.contains(' ') {
        format!("({})", cell.output_text)
    } else if cell.output_text.contains('[') {
        cell.output_text.clone()
    } else {
        format!("{}[t]", cell.output_text)
    }
}

/// `W`, or `W[I..I + H]` for a block of rows of a `concat` product.
fn block(
    cell: &CellIr,
    param: usize,
    row_start: &Dim,
    rows: Option<&Dim>,
    transposed: bool,
) -> String {
    let p = &cell.params[param];
    let name = if transposed {
        format!("{}^T", p.name)
    } else {
        p.name.clone()
    };
    let full_rows = match (&p.shape, transposed) {
        (Shape::Matrix(r, _), false) => Some(r),
        (Shape::Matrix(_, c), true) => Some(c),
        _ => None,
    };
    match rows {
        Some(rows) if Some(rows) != full_rows || *row_start != Dim::default() => {
            format!("{name}[{row_start}..{}]", row_start.plus(rows))
        }
        _ => name,
    }
}

/// A parameter's number of scalars as a polynomial in the dimensions (`I·H`, `4·H`).
fn count(shape: &Shape) -> BTreeMap<Vec<String>, i64> {
    let terms = |d: &Dim| -> Vec<(Vec<String>, i64)> {
        let mut v: Vec<(Vec<String>, i64)> =
            d.terms.iter().map(|(k, &c)| (vec![k.clone()], c)).collect();
        if d.constant != 0 {
            v.push((vec![], d.constant));
        }
        v
    };
    let mut poly = BTreeMap::new();
    match shape {
        Shape::Vector(d) => {
            for (m, c) in terms(d) {
                *poly.entry(m).or_insert(0) += c;
            }
        }
        Shape::Matrix(a, b) => {
            for (ma, ca) in terms(a) {
                for (mb, cb) in terms(b) {
                    let mut m = [ma.clone(), mb].concat();
                    m.sort();
                    *poly.entry(m).or_insert(0) += ca * cb;
                }
            }
        }
        _ => {}
    }
    poly
}

fn poly_text(poly: &BTreeMap<Vec<String>, i64>) -> String {
    let mut parts: Vec<(usize, String)> = poly
        .iter()
        .filter(|(_, &c)| c != 0)
        .map(|(m, &c)| {
            let mono = m.join("·");
            let text = match (c, mono.is_empty()) {
                (c, true) => c.to_string(),
                (1, false) => mono,
                (c, false) => format!("{c}·{mono}"),
            };
            (usize::MAX - m.len(), text)
        })
        .collect();
    parts.sort();
    if parts.is_empty() {
        return "0".into();
    }
    parts
        .into_iter()
        .map(|(_, t)| t)
        .collect::<Vec<_>>()
        .join(" + ")
}

fn init_text(init: InitIr) -> String {
    match init {
        InitIr::Default => "U(±1/√n), n = last dim".into(),
        InitIr::Constant(v) => format!("{v}"),
        InitIr::Zeros => "zeros".into(),
        InitIr::Ones => "ones".into(),
        InitIr::Uniform(a) => format!("U(±{a})"),
        InitIr::Xavier => "xavier".into(),
        InitIr::Orthogonal => "orthogonal".into(),
    }
}

/// The full explanation of a compiled cell.
pub fn explain(c: &Compiled) -> String {
    let cell = &c.cell;
    let plan = &c.plan;
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(w, "cell {}", cell.name);
    let _ = writeln!(w);
    let _ = writeln!(w, "Shapes (per example; sequences are [T, B, ...])");
    let _ = writeln!(w, "  input  {}: [{}]", cell.input.name, cell.input.dim);
    for s in &cell.states {
        let history = if s.delay > 1 {
            format!(", keeps {} earlier steps", s.delay - 1)
        } else {
            String::new()
        };
        let _ = writeln!(
            w,
            "  state  {}: [{}] (read up to {}[t-{}]{history})",
            s.name, s.dim, s.name, s.delay
        );
    }
    let out_dim = cell
        .graph
        .dim(cell.output)
        .map_or("?".into(), |d| d.to_string());
    let _ = writeln!(w, "  output {}: [{out_dim}]", cell.output_text);
    for m in &cell.masks {
        let when = if m.per_step {
            "drawn at every step"
        } else {
            "drawn once per sequence"
        };
        let _ = writeln!(
            w,
            "  mask   {}: [{}] = {} ({when} when training, {:?} otherwise)",
            m.name,
            m.dim,
            m.distribution(),
            m.p
        );
    }
    let _ = writeln!(w);

    let _ = writeln!(w, "Parameters");
    let rows: Vec<[String; 4]> = cell
        .params
        .iter()
        .map(|p| {
            [
                p.name.clone(),
                p.shape.to_string(),
                init_text(p.init),
                poly_text(&count(&p.shape)),
            ]
        })
        .collect();
    let widths: Vec<usize> = (0..3)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for r in &rows {
        let _ = writeln!(
            w,
            "  {:w0$}  {:w1$}  {:w2$}  {}",
            r[0],
            r[1],
            r[2],
            r[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        );
    }
    let mut total = BTreeMap::new();
    for p in &cell.params {
        for (m, c) in count(&p.shape) {
            *total.entry(m).or_insert(0) += c;
        }
    }
    let _ = writeln!(w, "  total: {}", poly_text(&total));
    let _ = writeln!(w);

    let _ = writeln!(w, "Forward (as written; evaluated in dependency order)");
    for e in &cell.equations {
        let _ = writeln!(w, "  {e}");
    }
    let _ = writeln!(w, "  output {};", cell.output_text);
    let _ = writeln!(w);

    let _ = writeln!(w, "Plan");
    for g in &plan.groups {
        let weights: Vec<String> = g
            .products
            .iter()
            .map(|p| {
                let w = block(cell, p.param, &p.row_start, Some(&g.inner), p.transposed);
                if p.delay > 0 {
                    format!("{w} (x[t-{}])", p.delay)
                } else {
                    w
                }
            })
            .collect();
        let packed = format!("[{}]", weights.join(" | "));
        let line = match (&g.lhs, g.stage) {
            (Lhs::Input, _) => format!(
                "hoisted out of the time loop: {}[t] @ {packed}, one GEMM over all T·B rows",
                cell.input.name
            ),
            (Lhs::State { state, delay }, Some(s)) => format!(
                "stage {s}, one GEMM per step: {}[t-{delay}] @ {packed}, weights packed once per sequence",
                cell.states[*state].name
            ),
            (Lhs::Node(n), Some(s)) => format!(
                "stage {s}, one GEMM per step after pass {}: {} @ {packed}",
                s.saturating_sub(1),
                operand(cell, *n)
            ),
            _ => String::new(),
        };
        let _ = writeln!(w, "  {line}");
    }
    for r in &plan.reductions {
        let _ = writeln!(w, "  stage {}, reduction: {}", r.stage, name(cell, r.node));
    }
    for l in &plan.loops {
        let names: Vec<String> = l
            .nodes
            .iter()
            .filter(|n| cell.names.contains_key(n))
            .map(|&n| name(cell, n))
            .collect();
        let _ = writeln!(
            w,
            "  pass {} over [{}]: one fused loop, {} operation{}{}",
            l.stage,
            l.dim,
            l.nodes.len(),
            if l.nodes.len() == 1 { "" } else { "s" },
            if names.is_empty() {
                String::new()
            } else {
                format!(" computing {}", names.join(", "))
            }
        );
    }
    let saved: Vec<String> = plan.saved.iter().map(|&n| name(cell, n)).collect();
    let _ = writeln!(
        w,
        "  kept for the backward pass: the states, the products{}",
        if saved.is_empty() {
            String::new()
        } else {
            format!(", {}", saved.join(", "))
        }
    );
    let _ = writeln!(w);

    let _ = writeln!(
        w,
        "Backward (derived; per step from t = T-1 down to 0; δv = ∂L/∂v, ⊙ elementwise)"
    );
    for line in adjoint_equations(&c.cell, &c.partials, &c.plan) {
        let _ = writeln!(w, "  {line}");
    }
    out
}

/// A diagnostic as a compiler prints it: `path:line:col: error: message`, the line, and a
/// caret under the offending text.
pub fn render_diagnostic(source: &Source, path: &str, d: &Diagnostic) -> String {
    let (line, col) = source.line_col(d.pos.start);
    format!(
        "{path}:{line}:{col}: error: {}\n{}",
        d.message,
        source.excerpt(d.pos)
    )
}

#[cfg(test)]
mod tests {
    use super::explain;
    use crate::compile_text;

    /// The lines of the backward section of `explain`.
    fn backward(src: &str) -> Vec<String> {
        let compiled = compile_text(src).unwrap_or_else(|e| panic!("{e:?}"));
        explain(&compiled)
            .lines()
            .skip_while(|l| !l.starts_with("Backward"))
            .skip(1)
            .map(|l| l.trim().to_string())
            .collect()
    }

    /// A state that is a product (an LSTM's projection `r[t] = (...) @ W_p`), read as the
    /// output explicitly or by default: its adjoint has both seeds, the next step's and the
    /// loss's, and the product is not listed as a value of its own.
    #[test]
    fn projected_state_has_the_loss_term() {
        let explicit = "cell Proj {
            input x: [I];
            state c: [H];
            state r: [P];
            param W: [I, H];
            param U: [P, H];
            param W_p: [H, P];
            o = sigmoid(x[t] @ W + r[t-1] @ U);
            c[t] = c[t-1] + o;
            r[t] = (o * tanh(c[t])) @ W_p;
            output r[t];
        }";
        let by_default = "cell Proj {
            input x: [I];
            state r: [P];
            state c: [H];
            param W: [I, H];
            param U: [P, H];
            param W_p: [H, P];
            o = sigmoid(x[t] @ W + r[t-1] @ U);
            c[t] = c[t-1] + o;
            r[t] = (o * tanh(c[t])) @ W_p;
        }";
        for src in [explicit, by_default] {
            let lines = backward(src);
            assert!(
                lines.contains(
                    &"δr[t] = δr[t] (from step t+1, or the final state) + ∂L/∂r[t]".to_string()
                ),
                "{lines:#?}"
            );
            assert!(
                lines.contains(&"δ(o * tanh(c[t])) = δr[t] @ W_pᵀ".to_string()),
                "{lines:#?}"
            );
            assert!(
                lines.contains(&"δW_p += Σ_t (o * tanh(c[t]))ᵀ @ δr[t]".to_string()),
                "{lines:#?}"
            );
            assert!(!lines.iter().any(|l| l.contains("@ W_p) =")), "{lines:#?}");
        }
    }

    /// In a chained product `x[t] @ W @ V`, the inner product's adjoint has a line of its own.
    #[test]
    fn chained_product_lists_the_inner_adjoint() {
        let lines = backward(
            "cell Chain {
                input x: [I];
                state h: [H];
                param W: [I, K];
                param V: [K, H];
                param U: [H, H];
                h[t] = tanh(x[t] @ W @ V + h[t-1] @ U);
            }",
        );
        assert!(
            lines.iter().any(|l| l.starts_with("δ(x[t] @ W) = ")),
            "{lines:#?}"
        );
    }

    /// `1 operation`, `2 operations`.
    #[test]
    fn operation_counts_are_pluralized() {
        let compiled = compile_text(
            "cell One {
                input x: [I];
                state h: [H];
                param W: [I, H];
                param U: [H, H];
                h[t] = x[t] @ W + h[t-1] @ U;
            }",
        )
        .unwrap_or_else(|e| panic!("{e:?}"));
        let text = explain(&compiled);
        assert!(text.contains(" 1 operation computing"), "{text}");
        assert!(!text.contains(" 1 operations"), "{text}");
    }
}
