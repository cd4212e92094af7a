//! Text -> [`CellAst`] with the pest grammar in `grammar.pest`.

use pest::iterators::Pair;
use pest::pratt_parser::{Assoc, Op, PrattParser};
use pest::Parser;

use crate::ast::*;
use crate::diagnostic::{Diagnostic, Pos};

#[allow(missing_docs)]
mod grammar {
    #[derive(pest_derive::Parser)]
    #[grammar = "grammar.pest"]
    pub struct SpecParser;
}
use grammar::{Rule, SpecParser};

fn pos(pair: &Pair<'_, Rule>) -> Pos {
    let span = pair.as_span();
    Pos::new(span.start(), span.end())
}

fn name(pair: Pair<'_, Rule>) -> Name {
    Name {
        text: pair.as_str().to_string(),
        pos: pos(&pair),
    }
}

/// What a grammar rule means to a user, for "expected ..." messages.
fn describe(rule: &Rule) -> String {
    match rule {
        Rule::name => "a name",
        Rule::number | Rule::signed_number => "a number",
        Rule::integer => "an integer",
        Rule::expr => "an expression",
        Rule::add => "`+`",
        Rule::sub => "`-`",
        Rule::mul => "`*`",
        Rule::div => "`/`",
        Rule::matmul => "`@`",
        Rule::neg => "`-`",
        Rule::semi => "`;`",
        Rule::assign => "`=`",
        Rule::colon => "`:`",
        Rule::cell_kw => "`cell` (after optional doc comments and `pub`)",
        Rule::close_brace => "`}`",
        Rule::shape => "a shape such as `[H]` or `[I, H]`",
        Rule::dim | Rule::dim_term => "a dimension such as `H` or `I + H`",
        Rule::time => "a time index `t` or `t-k`",
        Rule::time_op | Rule::dim_op => "`+` or `-`",
        Rule::input_decl => "`input`",
        Rule::state_decl => "`state`",
        Rule::param_decl => "`param`",
        Rule::mask_decl | Rule::mask_kw => "`mask`",
        Rule::output_decl => "`output`",
        Rule::equation => "an equation",
        Rule::function_def | Rule::fn_kw => "a function `fn name(v) = ...;`",
        Rule::visibility => "`pub`",
        Rule::doc | Rule::doc_line | Rule::doc_attr => "a doc comment",
        Rule::initializer | Rule::init_call => "an initializer",
        Rule::EOI => "the end of the spec",
        Rule::cell => "a cell definition `cell Name { ... }`",
        Rule::paren => "`(`",
        Rule::transposed => "a transposed matrix `W^T`",
        other => return format!("{other:?}"),
    }
    .to_string()
}

/// The deepest nesting of parentheses, brackets and braces the parser accepts. The parser (and
/// every stage after it) recurses once per level, so deeper text is rejected before parsing
/// rather than overflowing the stack.
pub const MAX_NESTING: usize = 256;

/// The deepest expression tree accepted: levels of operators (binary and unary), calls and
/// parentheses, counted along the expression from its start. Every stage walks expressions
/// recursively, so a deeper one (say a sum of thousands of terms) is rejected with a diagnostic
/// instead of overflowing the stack; such a sum can be split into intermediate equations.
pub const MAX_EXPR_DEPTH: usize = 1024;

/// The first opening bracket deeper than [`MAX_NESTING`], outside comments and strings.
fn too_deeply_nested(text: &str) -> Option<Diagnostic> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                i = text[i..].find('\n').map_or(bytes.len(), |n| i + n);
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = text[i + 2..]
                    .find("*/")
                    .map_or(bytes.len(), |n| i + 2 + n + 2);
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'(' | b'[' | b'{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Some(Diagnostic {
                        pos: Pos::new(i, i + 1),
                        message: format!(
                            "nested too deeply: expected at most {MAX_NESTING} levels of \
                             parentheses and brackets (use intermediate equations)"
                        ),
                    });
                }
                i += 1;
            }
            b')' | b']' | b'}' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            _ => i += 1,
        }
    }
    None
}

/// The first token of an expression at which the expression tree gets deeper than
/// [`MAX_EXPR_DEPTH`] (`level` is the depth the expression `pair` starts at). Recursion here
/// follows the parentheses and calls, which [`too_deeply_nested`] bounded.
fn too_deep_expr(pair: Pair<'_, Rule>, mut level: usize) -> Option<Diagnostic> {
    for p in pair.into_inner() {
        if matches!(p.as_rule(), Rule::number | Rule::name | Rule::indexed) {
            continue;
        }
        level += 1;
        if level > MAX_EXPR_DEPTH {
            return Some(Diagnostic {
                pos: pos(&p),
                message: format!(
                    "expression too deep: expected at most {MAX_EXPR_DEPTH} nested operators, \
                     calls and parentheses (split it into intermediate equations)"
                ),
            });
        }
        if matches!(p.as_rule(), Rule::paren | Rule::call) {
            for e in p.into_inner().filter(|q| q.as_rule() == Rule::expr) {
                if let Some(d) = too_deep_expr(e, level) {
                    return Some(d);
                }
            }
        }
    }
    None
}

/// Every expression of the spec checked against [`MAX_EXPR_DEPTH`].
fn too_deep(pair: Pair<'_, Rule>) -> Option<Diagnostic> {
    if pair.as_rule() == Rule::expr {
        return too_deep_expr(pair, 0);
    }
    pair.into_inner().find_map(too_deep)
}

/// Parses a spec's text.
pub fn parse(text: &str) -> Result<CellAst, Vec<Diagnostic>> {
    if let Some(d) = too_deeply_nested(text) {
        return Err(vec![d]);
    }
    let mut pairs = SpecParser::parse(Rule::spec, text).map_err(|e| {
        let e = e.renamed_rules(describe);
        let p = match e.location {
            // The character at `p` (a whole UTF-8 character), or nothing at the end of the text.
            pest::error::InputLocation::Pos(p) => {
                let len = text
                    .get(p..)
                    .and_then(|r| r.chars().next())
                    .map_or(0, char::len_utf8);
                Pos::new(p, p + len)
            }
            pest::error::InputLocation::Span((s, t)) => Pos::new(s, t),
        };
        let found = text[p.start.min(text.len())..]
            .split_whitespace()
            .next()
            .map_or("the end of the spec".to_string(), |w| format!("`{w}`"));
        let mut message = format!("syntax error: {}, found {found}", e.variant.message());
        if e.variant.message() == "expected `=`" {
            message.push_str(
                " (a statement is a declaration starting with `input`, `state` or `param`, \
                 an equation `name = ...;` or `h[t] = ...;`, or `output ...;`)",
            );
        }
        vec![Diagnostic { pos: p, message }]
    })?;
    let spec = pairs.next().expect("grammar: spec");
    if let Some(d) = too_deep(spec.clone()) {
        return Err(vec![d]);
    }
    let cell = spec.into_inner().next().expect("grammar: cell");
    Ok(cell_ast(cell))
}

fn cell_ast(pair: Pair<'_, Rule>) -> CellAst {
    let mut cell = CellAst {
        docs: vec![],
        vis: Vis::Private,
        name: Name {
            text: String::new(),
            pos: Pos::default(),
        },
        decls: vec![],
        equations: vec![],
        functions: vec![],
        outputs: vec![],
        end: Pos::default(),
    };
    for p in pair.into_inner() {
        match p.as_rule() {
            Rule::doc => cell.docs.push(doc(p)),
            Rule::visibility => {
                cell.vis = match p.as_str().split_whitespace().collect::<String>().as_str() {
                    "pub(crate)" => Vis::PubCrate,
                    "pub(super)" => Vis::PubSuper,
                    "pub(self)" => Vis::Private,
                    _ => Vis::Pub,
                }
            }
            Rule::name => cell.name = name(p),
            Rule::input_decl => decls(p, DeclKind::Input, &mut cell.decls),
            Rule::state_decl => decls(p, DeclKind::State, &mut cell.decls),
            Rule::param_decl => decls(p, DeclKind::Param, &mut cell.decls),
            Rule::mask_decl => decls(p, DeclKind::Mask, &mut cell.decls),
            Rule::output_decl => {
                let e = p
                    .into_inner()
                    .find(|q| q.as_rule() == Rule::expr)
                    .expect("grammar: output");
                cell.outputs.push(expr(e));
            }
            Rule::equation => cell.equations.push(equation(p)),
            Rule::function_def => cell.functions.push(function_def(p)),
            Rule::close_brace => cell.end = pos(&p),
            _ => {}
        }
    }
    cell
}

fn doc(pair: Pair<'_, Rule>) -> String {
    let inner = pair.into_inner().next().expect("grammar: doc");
    match inner.as_rule() {
        Rule::doc_line => inner.as_str().trim_start_matches("///").to_string(),
        _ => {
            let lit = inner.into_inner().next().expect("grammar: doc string");
            syn::parse_str::<syn::LitStr>(lit.as_str())
                .map(|l| l.value())
                .unwrap_or_default()
        }
    }
}

fn decls(pair: Pair<'_, Rule>, kind: DeclKind, out: &mut Vec<Decl>) {
    let mut docs = vec![];
    for p in pair.into_inner() {
        match p.as_rule() {
            Rule::doc => docs.push(doc(p)),
            Rule::typed_names => typed_names(p, kind, None, &docs, out),
            Rule::param_group => {
                let mut inner = p.into_inner();
                let names = inner.next().expect("grammar: typed_names");
                let init = inner.next().map(initializer);
                typed_names(names, kind, init, &docs, out);
            }
            _ => {}
        }
    }
}

fn typed_names(
    pair: Pair<'_, Rule>,
    kind: DeclKind,
    init: Option<InitAst>,
    docs: &[String],
    out: &mut Vec<Decl>,
) {
    let mut names = vec![];
    let mut shape_ast = None;
    for p in pair.into_inner() {
        match p.as_rule() {
            Rule::name => names.push(name(p)),
            Rule::shape => shape_ast = Some(shape(p)),
            _ => {}
        }
    }
    let shape = shape_ast.expect("grammar: shape");
    for n in names {
        out.push(Decl {
            kind,
            name: n,
            shape: shape.clone(),
            init: init.clone(),
            docs: docs.to_vec(),
        });
    }
}

fn shape(pair: Pair<'_, Rule>) -> ShapeAst {
    let p = pos(&pair);
    let dims = pair.into_inner().map(dim).collect();
    ShapeAst { dims, pos: p }
}

fn dim(pair: Pair<'_, Rule>) -> DimAst {
    let p = pos(&pair);
    let mut terms = vec![];
    let mut literals = vec![];
    let mut sign = 1;
    for q in pair.into_inner() {
        match q.as_rule() {
            Rule::dim_op => sign = if q.as_str() == "-" { -1 } else { 1 },
            Rule::dim_term => {
                // `k*N`, `N*k`, `N` or `k`.
                let mut coef = 1i64;
                let mut sym = None;
                let mut literal = String::new();
                for r in q.into_inner() {
                    match r.as_rule() {
                        Rule::integer => {
                            coef = r.as_str().parse().unwrap_or(i64::MAX);
                            literal = r.as_str().to_string();
                        }
                        Rule::name => sym = Some(r.as_str().to_string()),
                        _ => {}
                    }
                }
                terms.push((sign * coef, sym));
                literals.push(literal);
            }
            _ => {}
        }
    }
    DimAst {
        terms,
        literals,
        pos: p,
    }
}

fn number(text: &str) -> f64 {
    text.split_whitespace()
        .collect::<String>()
        .parse()
        .unwrap_or(f64::NAN)
}

fn initializer(pair: Pair<'_, Rule>) -> InitAst {
    let inner = pair.into_inner().next().expect("grammar: initializer");
    match inner.as_rule() {
        Rule::signed_number => InitAst::Constant(number(inner.as_str()), pos(&inner)),
        _ => {
            let mut it = inner.into_inner();
            let n = name(it.next().expect("grammar: init name"));
            InitAst::Named(n, it.next().map(|a| (number(a.as_str()), pos(&a))))
        }
    }
}

fn time(pair: Pair<'_, Rule>) -> Time {
    let p = pos(&pair);
    let mut sign = 1;
    let mut offset = 0;
    let mut written = String::new();
    for q in pair.into_inner() {
        match q.as_rule() {
            Rule::time_op => sign = if q.as_str() == "-" { -1 } else { 1 },
            Rule::integer => {
                offset = sign * q.as_str().parse::<i64>().unwrap_or(i64::MAX / 2);
                written = format!("{}{}", if sign < 0 { "-" } else { "+" }, q.as_str());
            }
            _ => {}
        }
    }
    Time {
        offset,
        written,
        pos: p,
    }
}

fn function_def(pair: Pair<'_, Rule>) -> FunctionDef {
    let p = pos(&pair);
    let (mut docs, mut names, mut body) = (vec![], vec![], None);
    for q in pair.into_inner() {
        match q.as_rule() {
            Rule::doc => docs.push(doc(q)),
            Rule::name => names.push(name(q)),
            Rule::expr => body = Some(expr(q)),
            _ => {}
        }
    }
    let name = names.remove(0);
    FunctionDef {
        docs,
        name,
        params: names,
        body: body.expect("grammar: function body"),
        pos: p,
    }
}

fn equation(pair: Pair<'_, Rule>) -> Equation {
    let p = pos(&pair);
    let mut inner = pair.into_inner();
    let target = inner.next().expect("grammar: target");
    let mut t = target.into_inner();
    let target_name = name(t.next().expect("grammar: target name"));
    let target_time = t.next().map(time);
    let e = inner
        .find(|q| q.as_rule() == Rule::expr)
        .expect("grammar: rhs");
    Equation {
        target: target_name,
        time: target_time,
        expr: expr(e),
        pos: p,
    }
}

fn pratt() -> PrattParser<Rule> {
    PrattParser::new()
        .op(Op::infix(Rule::add, Assoc::Left) | Op::infix(Rule::sub, Assoc::Left))
        .op(Op::infix(Rule::mul, Assoc::Left)
            | Op::infix(Rule::div, Assoc::Left)
            | Op::infix(Rule::matmul, Assoc::Left))
        .op(Op::prefix(Rule::neg))
}

fn expr(pair: Pair<'_, Rule>) -> Expr {
    let pratt = pratt();
    parse_expr(pair, &pratt)
}

fn parse_expr(pair: Pair<'_, Rule>, pratt: &PrattParser<Rule>) -> Expr {
    pratt
        .map_primary(|p| primary(p, pratt))
        .map_prefix(|op, e| Expr {
            pos: pos(&op).to(e.pos),
            kind: ExprKind::Neg(Box::new(e)),
        })
        .map_infix(|l, op, r| {
            let bin = match op.as_rule() {
                Rule::add => BinOp::Add,
                Rule::sub => BinOp::Sub,
                Rule::mul => BinOp::Mul,
                Rule::div => BinOp::Div,
                _ => BinOp::MatMul,
            };
            Expr {
                pos: l.pos.to(r.pos),
                kind: ExprKind::Binary(bin, Box::new(l), Box::new(r)),
            }
        })
        .parse(pair.into_inner())
}

fn primary(pair: Pair<'_, Rule>, pratt: &PrattParser<Rule>) -> Expr {
    let p = pos(&pair);
    match pair.as_rule() {
        Rule::number => Expr {
            kind: ExprKind::Number(number(pair.as_str())),
            pos: p,
        },
        Rule::name => Expr {
            kind: ExprKind::Name(name(pair)),
            pos: p,
        },
        // `W^T` is `transpose(W)`.
        Rule::transposed => {
            let n = name(pair.into_inner().next().expect("grammar: transposed name"));
            let arg = Expr {
                pos: n.pos,
                kind: ExprKind::Name(n),
            };
            Expr {
                kind: ExprKind::Call(
                    Name {
                        text: "transpose".into(),
                        pos: p,
                    },
                    vec![arg],
                ),
                pos: p,
            }
        }
        Rule::indexed => {
            let mut it = pair.into_inner();
            let n = name(it.next().expect("grammar: indexed name"));
            let t = time(it.next().expect("grammar: time"));
            Expr {
                kind: ExprKind::Indexed(n, t),
                pos: p,
            }
        }
        Rule::call => {
            let mut it = pair.into_inner();
            let n = name(it.next().expect("grammar: call name"));
            let args = it.map(|a| parse_expr(a, pratt)).collect();
            Expr {
                kind: ExprKind::Call(n, args),
                pos: p,
            }
        }
        _ => {
            // A parenthesized expression: its position includes the parentheses.
            let inner = pair.into_inner().next().expect("grammar: paren");
            let mut e = parse_expr(inner, pratt);
            e.pos = p;
            e
        }
    }
}
