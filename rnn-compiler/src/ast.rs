//! The syntax tree of a spec, as written (before names are resolved).

use crate::diagnostic::Pos;

/// A name and where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Name {
    /// The identifier.
    pub text: String,
    /// Where.
    pub pos: Pos,
}

/// Visibility of the generated items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vis {
    /// No `pub`.
    Private,
    /// `pub`.
    Pub,
    /// `pub(crate)`.
    PubCrate,
    /// `pub(super)`.
    PubSuper,
}

/// A whole `cell Name { ... }`.
#[derive(Debug, Clone, PartialEq)]
pub struct CellAst {
    /// Doc comment lines.
    pub docs: Vec<String>,
    /// Visibility.
    pub vis: Vis,
    /// The cell's name.
    pub name: Name,
    /// `input`, `state` and `param` declarations, one entry per declared name.
    pub decls: Vec<Decl>,
    /// Equations, in the order written.
    pub equations: Vec<Equation>,
    /// User functions (`fn name(v) = ...;`), in the order written.
    pub functions: Vec<FunctionDef>,
    /// `output ...;` statements (more than one is an error).
    pub outputs: Vec<Expr>,
    /// Position of the closing brace (for errors about something missing).
    pub end: Pos,
}

/// A user function, `fn layer_norm(v) = (v - mean(v)) / ...;`: expanded where it is called,
/// its arguments bound to the values passed.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionDef {
    /// Doc comment lines.
    pub docs: Vec<String>,
    /// Its name.
    pub name: Name,
    /// Its arguments' names.
    pub params: Vec<Name>,
    /// The expression it stands for.
    pub body: Expr,
    /// The whole definition.
    pub pos: Pos,
}

impl FunctionDef {
    /// The definition as written: `fn layer_norm(v) = ...;`.
    pub fn text(&self) -> String {
        let params: Vec<&str> = self.params.iter().map(|p| p.text.as_str()).collect();
        format!(
            "fn {}({}) = {};",
            self.name.text,
            params.join(", "),
            self.body
        )
    }
}

/// What a declaration declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeclKind {
    /// `input x: [I];`
    Input,
    /// `state h: [H];`
    State,
    /// `param W: [I, H];`
    Param,
    /// `mask m: [H] = bernoulli(0.75);` (its distribution is held as the initializer)
    Mask,
}

/// One declared name.
#[derive(Debug, Clone, PartialEq)]
pub struct Decl {
    /// Input, state or parameter.
    pub kind: DeclKind,
    /// The name.
    pub name: Name,
    /// Its shape.
    pub shape: ShapeAst,
    /// Its initializer (parameters), or its distribution (masks: `bernoulli(p)`).
    pub init: Option<InitAst>,
    /// Doc comment lines.
    pub docs: Vec<String>,
}

/// A shape `[d1, d2, ...]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ShapeAst {
    /// The dimensions.
    pub dims: Vec<DimAst>,
    /// Where.
    pub pos: Pos,
}

/// A dimension: a sum of terms `k * N`, `N` or `k`.
#[derive(Debug, Clone, PartialEq)]
pub struct DimAst {
    /// (coefficient, dimension name or `None` for a constant), with the sign applied
    /// (saturated when the coefficient does not fit an `i64`).
    pub terms: Vec<(i64, Option<String>)>,
    /// The coefficient of each term as written (empty when there is none: `H`), for messages.
    pub literals: Vec<String>,
    /// Where.
    pub pos: Pos,
}

/// A parameter initializer.
#[derive(Debug, Clone, PartialEq)]
pub enum InitAst {
    /// `= 1.0`
    Constant(f64, Pos),
    /// `= zeros`, `= uniform(0.1)`, ... (the argument with its position).
    Named(Name, Option<(f64, Pos)>),
}

/// A time index `t`, `t-k` or `t+k`, as the offset from `t`.
#[derive(Debug, Clone, PartialEq)]
pub struct Time {
    /// `0` for `t`, `-k` for `t-k`, `k` for `t+k` (saturated when `k` does not fit an `i64`).
    pub offset: i64,
    /// The offset as written after `t`, with its sign (`-1`, `+2`; empty for `t`).
    pub written: String,
    /// Where.
    pub pos: Pos,
}

/// `target = expr;`
#[derive(Debug, Clone, PartialEq)]
pub struct Equation {
    /// The name being defined.
    pub target: Name,
    /// `Some` for a state update `h[t] = ...`.
    pub time: Option<Time>,
    /// The right-hand side.
    pub expr: Expr,
    /// The whole equation.
    pub pos: Pos,
}

/// A binary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BinOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*` (elementwise)
    Mul,
    /// `/` (elementwise)
    Div,
    /// `@` (vector-matrix product)
    MatMul,
    /// `max(a, b)`, elementwise (written as a call; the IR holds it as a binary operation)
    Max,
    /// `min(a, b)`, elementwise (written as a call)
    Min,
}

impl BinOp {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::MatMul => "@",
            BinOp::Max => "max",
            BinOp::Min => "min",
        }
    }
}

/// An expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// What it is.
    pub kind: ExprKind,
    /// Where.
    pub pos: Pos,
}

/// The kinds of expression.
#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// A numeric literal.
    Number(f64),
    /// A bare name: a parameter or an intermediate.
    Name(Name),
    /// `x[t-k]`, `h[t-1]`, `h[t]`.
    Indexed(Name, Time),
    /// `f(args)`.
    Call(Name, Vec<Expr>),
    /// `-e`
    Neg(Box<Expr>),
    /// `a op b`
    Binary(BinOp, Box<Expr>, Box<Expr>),
}

impl Time {
    /// `t`, `t-1`, `t+1`, as written.
    pub fn text(&self) -> String {
        format!("t{}", self.written)
    }
}

fn precedence(e: &Expr) -> u8 {
    match &e.kind {
        ExprKind::Binary(BinOp::Add | BinOp::Sub, ..) => 1,
        ExprKind::Binary(BinOp::Max | BinOp::Min, ..) => 4,
        ExprKind::Binary(..) => 2,
        ExprKind::Neg(_) => 3,
        _ => 4,
    }
}

impl std::fmt::Display for Expr {
    /// The expression in the language's syntax, with the parentheses its structure needs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let wrap = |e: &Expr, min: u8, f: &mut std::fmt::Formatter<'_>| {
            if precedence(e) < min {
                write!(f, "({e})")
            } else {
                write!(f, "{e}")
            }
        };
        match &self.kind {
            ExprKind::Number(v) => write!(f, "{v}"),
            ExprKind::Name(n) => f.write_str(&n.text),
            ExprKind::Indexed(n, t) => write!(f, "{}[{}]", n.text, t.text()),
            ExprKind::Call(n, args) => {
                write!(f, "{}(", n.text)?;
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{a}")?;
                }
                f.write_str(")")
            }
            ExprKind::Neg(a) => {
                f.write_str("-")?;
                wrap(a, 3, f)
            }
            ExprKind::Binary(op @ (BinOp::Max | BinOp::Min), a, b) => {
                write!(f, "{}({a}, {b})", op.symbol())
            }
            ExprKind::Binary(op, a, b) => {
                let p = precedence(self);
                // The left operand of `@` is parenthesized whenever it is an operation, as
                // papers write `(r * h[t-1]) @ W`, even where precedence would not need it.
                let left_min = if *op == BinOp::MatMul && precedence(a) < 4 {
                    5
                } else {
                    p
                };
                wrap(a, left_min, f)?;
                write!(f, " {} ", op.symbol())?;
                wrap(b, p + 1, f)
            }
        }
    }
}
