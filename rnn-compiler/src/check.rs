//! The shape rules of the language, one function per rule. Each returns the shape of the
//! result, or [`Shape::Error`] after recording a diagnostic (an operand already in error yields
//! `Shape::Error` silently, so one mistake gives one message).

use crate::ast::BinOp;
use crate::diagnostic::{Diagnostics, Pos};
use crate::shape::Shape;

/// What the checker knows of an operand: its shape, its text, and whether it is a parameter.
pub struct Operand<'a> {
    /// Shape.
    pub shape: &'a Shape,
    /// The operand as written.
    pub text: &'a str,
    /// Where.
    pub pos: Pos,
    /// `Some(name)` when the operand is a parameter.
    pub param: Option<&'a str>,
}

/// Elementwise operators and functions work on per-example vectors and scalars. A matrix
/// parameter only makes sense as the right operand of `@`: using it elementwise is always a
/// mistake (usually a missing `@`).
pub fn no_matrix_elementwise(a: &Operand<'_>, context: &str, diags: &mut Diagnostics) -> bool {
    if let Shape::Matrix(..) = a.shape {
        diags.error(
            a.pos,
            format!(
                "matrix `{}` {} used elementwise in {context}: a matrix parameter can only be the \
                 right operand of `@` (expected a vector or a scalar here)",
                a.text, a.shape
            ),
        );
        return false;
    }
    true
}

/// `a op b` for `+ - * /`: both vectors of the same size, or one of them a scalar. Sizes are
/// compared symbolically, so `[H]` and `[I]` differ even if they happen to be equal at run time:
/// a cell that only works when `I == H` must say so in its declarations.
pub fn elementwise(
    op: BinOp,
    a: &Operand<'_>,
    b: &Operand<'_>,
    pos: Pos,
    diags: &mut Diagnostics,
) -> Shape {
    if *a.shape == Shape::Error || *b.shape == Shape::Error {
        return Shape::Error;
    }
    let context = format!("`{}`", op.symbol());
    let ok_a = no_matrix_elementwise(a, &context, diags);
    let ok_b = no_matrix_elementwise(b, &context, diags);
    if !(ok_a && ok_b) {
        return Shape::Error;
    }
    match (a.shape, b.shape) {
        (Shape::Scalar, s) | (s, Shape::Scalar) => s.clone(),
        (Shape::Vector(x), Shape::Vector(y)) if x == y => a.shape.clone(),
        // A per-example scalar (`mean(v)`, `sum(v)`, a `[1]` vector) broadcasts over features.
        (Shape::Vector(x), Shape::Vector(y)) if x.is_one() => Shape::Vector(y.clone()),
        (Shape::Vector(x), Shape::Vector(y)) if y.is_one() => Shape::Vector(x.clone()),
        _ => {
            diags.error(
                pos,
                format!(
                    "shape mismatch in `{}`: the left operand `{}` is {} but the right operand `{}` \
                     is {} (expected equal shapes, or a scalar or [1] that broadcasts; sizes are \
                     compared by name, so a cell that needs them equal must declare them with the \
                     same name)",
                    op.symbol(),
                    a.text,
                    a.shape,
                    b.text,
                    b.shape
                ),
            );
            Shape::Error
        }
    }
}

/// `a @ W`: the left operand is a per-example row vector computed from inputs and states
/// (`x[t]`, `h[t-1]`, `r * h[t-1]`), the right operand a matrix parameter `[in, out]` whose
/// `in` equals the vector's size. A parameter on the left is rejected because the row-vector
/// convention puts weights on the right; swapping them is the most common transcription error.
pub fn matmul(a: &Operand<'_>, w: &Operand<'_>, pos: Pos, diags: &mut Diagnostics) -> Shape {
    if *a.shape == Shape::Error || *w.shape == Shape::Error {
        return Shape::Error;
    }
    let mut ok = true;
    if let Some(p) = a.param {
        diags.error(
            a.pos,
            format!(
                "parameter `{p}` {} on the left of `@`: expected a per-example vector such as \
                 `x[t]` or `h[t-1]` on the left and a matrix parameter on the right (`h[t-1] @ W`)",
                a.shape
            ),
        );
        ok = false;
    } else if !matches!(a.shape, Shape::Vector(_)) {
        diags.error(
            a.pos,
            format!(
                "the left operand of `@` must be a per-example vector such as `x[t]` or `h[t-1]`, \
                 found `{}` ({})",
                a.text, a.shape
            ),
        );
        ok = false;
    }
    let (rows, cols) = match (w.param, w.shape) {
        (Some(_), Shape::Matrix(r, c)) => (r, c),
        _ => {
            diags.error(
                w.pos,
                format!(
                    "the right operand of `@` must be a matrix parameter `[in, out]`, found `{}` ({})",
                    w.text, w.shape
                ),
            );
            return Shape::Error;
        }
    };
    if !ok {
        return Shape::Error;
    }
    match a.shape {
        Shape::Vector(d) if d == rows => Shape::Vector(cols.clone()),
        _ => {
            diags.error(
                pos,
                format!(
                    "inner dimensions of `@` do not match: the left operand `{}` is {} but `{}` is {} \
                     (expected a left operand of shape [{rows}])",
                    a.text, a.shape, w.text, w.shape
                ),
            );
            Shape::Error
        }
    }
}

/// The update of a state must have exactly the state's shape: the value is stored as the
/// state and read back as `h[t-1]` at the next step.
pub fn state_update(
    state: &str,
    declared: &Shape,
    found: &Shape,
    pos: Pos,
    diags: &mut Diagnostics,
) {
    if *found != Shape::Error && found != declared {
        diags.error(
            pos,
            format!(
                "shape mismatch: state `{state}` is declared {declared} but its update is {found}"
            ),
        );
    }
}

const RUST_KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub",
    "ref", "return", "self", "Self", "static", "struct", "super", "trait", "true", "type",
    "unsafe", "use", "where", "while", "abstract", "become", "box", "do", "final", "gen", "macro",
    "override", "priv", "try", "typeof", "unsized", "virtual", "yield", "_",
];

/// Names of parameters, dimensions and the cell become Rust identifiers (accessor methods,
/// fields of the dimensions struct, the type): a Rust keyword, or a parameter named like one of
/// the generated constructors, would make the expansion fail far from the user's token.
pub fn rust_identifier(name: &str, what: &str, pos: Pos, diags: &mut Diagnostics) -> bool {
    let reserved =
        what == "parameter" && (matches!(name, "new" | "zeros") || name.starts_with("__"));
    if RUST_KEYWORDS.contains(&name) || reserved {
        diags.error(pos, format!("`{name}` cannot name a {what}: it is a Rust keyword or a name the generated code uses; expected another name"));
        return false;
    }
    true
}
