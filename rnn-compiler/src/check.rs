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
            inner_mismatch(a, w, pos, false, diags);
            Shape::Error
        }
    }
}

/// Whether `a @ W` would fit with `W` transposed: `a` is `[D]` and `W` is `[E, D]`, `E != D`.
pub fn transposed_fits(a: &Shape, w: &Shape) -> bool {
    matches!((a, w), (Shape::Vector(d), Shape::Matrix(r, c)) if d == c && d != r)
}

/// The inner dimensions of `a @ W` differ. With `transposed`, the message adds that parameters
/// are `[in, out]` and that `W` looks transposed (PyTorch stores weights as `[out, in]`); the
/// caller decides when that is likely (see [`transposed_fits`]).
pub fn inner_mismatch(
    a: &Operand<'_>,
    w: &Operand<'_>,
    pos: Pos,
    transposed: bool,
    diags: &mut Diagnostics,
) {
    let Shape::Matrix(rows, cols) = w.shape else {
        return;
    };
    let hint = if transposed {
        format!(
            "; parameters are `[in, out]`: `{a} @ {w}` needs `{w}: [{cols}, {rows}]`; this `{w}` \
             looks transposed (declare it `[{cols}, {rows}]`, or write `{a} @ {w}^T` to use it \
             transposed)",
            a = left_operand(a.text),
            w = w.text,
        )
    } else {
        String::new()
    };
    diags.error(
        pos,
        format!(
            "inner dimensions of `@` do not match: the left operand `{}` is {} but `{}` is {} \
             (expected a left operand of shape [{rows}]){hint}",
            a.text, a.shape, w.text, w.shape
        ),
    );
}

/// The left operand of `@` as written in a product: parenthesized unless it is a name, an
/// indexed name or a call (`x[t]`, `concat(x[t], h[t-1])`, `(r * h[t-1])`).
fn left_operand(text: &str) -> String {
    let simple = match text.find(['(', '[']) {
        None => !text.contains(' '),
        Some(open) => {
            let head = &text[..open];
            let ident = head.chars().all(|c| c.is_alphanumeric() || c == '_');
            // The bracket opened after the name closes at the end of the text.
            let mut depth = 0usize;
            let mut closes_at_end = false;
            for (i, c) in text.char_indices().skip_while(|&(i, _)| i < open) {
                match c {
                    '(' | '[' => depth += 1,
                    ')' | ']' => {
                        depth = depth.saturating_sub(1);
                        if depth == 0 {
                            closes_at_end = i + c.len_utf8() == text.len();
                            break;
                        }
                    }
                    _ => {}
                }
            }
            ident && !head.is_empty() && closes_at_end
        }
    };
    if simple {
        text.to_string()
    } else {
        format!("({text})")
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

/// Names of parameters, states, dimensions and the cell become Rust identifiers (accessor
/// methods, fields of the state views and of the dimensions struct, the type): a Rust keyword
/// would make the expansion fail far from the user's token.
pub fn rust_identifier(name: &str, what: &str, pos: Pos, diags: &mut Diagnostics) -> bool {
    if RUST_KEYWORDS.contains(&name) {
        diags.error(
            pos,
            format!("`{name}` cannot name a {what}: it is a Rust keyword; expected another name"),
        );
        return false;
    }
    true
}

/// Type and value names that the generated code uses unqualified, and its float type
/// parameter `F`: a cell (or its `<Name>Dims` struct) named like one of them would shadow it
/// in the code generated beside it.
pub const RESERVED_TYPE_NAMES: &[&str] = &[
    "F", "Self", "Option", "Vec", "Result", "Box", "String", "Some", "None", "Ok", "Err", "bool",
    "char", "str", "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64", "i128",
    "isize", "f32", "f64",
];

/// Why `name` cannot name a cell, if it cannot (a keyword is reported by [`rust_identifier`]).
pub fn reserved_cell_name(name: &str) -> Option<String> {
    let dims = format!("{name}Dims");
    if name == "F" {
        Some(
            "the generated type is generic over its float type `F` (`F = f32` or `f64`)"
                .to_string(),
        )
    } else if RESERVED_TYPE_NAMES.contains(&name) {
        Some(format!(
            "the generated code uses `{name}` unqualified, and the cell's type would shadow it"
        ))
    } else if RESERVED_TYPE_NAMES.contains(&dims.as_str()) {
        Some(format!(
            "its dimensions struct `{dims}` would shadow a name the generated code uses"
        ))
    } else {
        None
    }
}

/// The cell's name becomes a type (and `<Name>Dims` another) in the user's module, beside code
/// that uses the names of [`RESERVED_TYPE_NAMES`] unqualified.
pub fn cell_name(name: &str, pos: Pos, diags: &mut Diagnostics) -> bool {
    match reserved_cell_name(name) {
        Some(why) => {
            diags.error(
                pos,
                format!("`{name}` cannot name a cell: {why}; expected another name"),
            );
            false
        }
        None => true,
    }
}

/// Methods of the generated cell type: its inherent methods, and the methods of the traits it
/// implements (`Cell`, `DynCell`, `Clone`). A parameter `P` gets the inherent accessors `P()`
/// and `P_mut()`, which must not replace (or shadow) any of them.
pub const GENERATED_METHODS: &[&str] = &[
    "new",
    "zeros",
    "dims",
    "spec",
    "params",
    "params_mut",
    "forward",
    "forward_train",
    "forward_masked",
    "infer",
    "backward",
    "forward_batch_first",
    "infer_batch_first",
    "backward_batch_first",
    "step",
    "input_size",
    "output_size",
    "state_sizes",
    "zero_states",
    "param",
    "set_param",
    "cell_spec",
    "dims_text",
    "clone_box",
    "clone",
    "clone_from",
];

/// A parameter's accessors `P()` and `P_mut()` must not clash with a generated method (nor
/// with the generated code's private items, whose names start with `__`).
pub fn parameter_accessors(name: &str, pos: Pos, diags: &mut Diagnostics) -> bool {
    let setter = format!("{name}_mut");
    let clash = [name, setter.as_str()]
        .into_iter()
        .find(|m| GENERATED_METHODS.contains(m) || m.starts_with("__"));
    match clash {
        Some(m) => {
            diags.error(
                pos,
                format!(
                    "`{name}` cannot name a parameter: its accessor `{m}()` would clash with a \
                     method of the generated cell type (a parameter `P` gets accessors `P()` and \
                     `P_mut()`); expected another name"
                ),
            );
            false
        }
        None => true,
    }
}

/// A parameter named `P_mut` next to a parameter `P`: both would have an accessor `P_mut()`.
/// Reported at the `P_mut` parameter; `params` are every parameter's name and position.
pub fn parameter_accessor_clash(params: &[(&str, Pos)], diags: &mut Diagnostics) {
    for &(name, pos) in params {
        let Some(base) = name.strip_suffix("_mut") else {
            continue;
        };
        if params.iter().any(|&(other, _)| other == base) {
            diags.error(
                pos,
                format!(
                    "parameter `{name}` clashes with the accessor `{name}()` of parameter \
                     `{base}` (a parameter `P` gets accessors `P()` and `P_mut()`); expected \
                     another name"
                ),
            );
        }
    }
}

/// Every cell is generic over `f32` and `f64`: a literal, a folded constant or an initializer
/// whose magnitude overflows `f32` would be infinite in an `f32` cell. (A magnitude below
/// `f32`'s smallest subnormal rounds to zero, like any rounding, and is accepted.)
pub fn f32_range(v: f64, what: &str, pos: Pos, diags: &mut Diagnostics) -> bool {
    if v.is_finite() && (v as f32).is_infinite() {
        diags.error(
            pos,
            format!(
                "{what} {v:e} is outside the range of f32 (largest finite magnitude {:e}): \
                 every cell is generic over f32 and f64, and it would be infinite in f32; \
                 expected a smaller magnitude",
                f32::MAX
            ),
        );
        return false;
    }
    true
}

/// `a / 0`: a denominator that is the constant zero (`0`, `0.0`, `(0)`, `1 - 1`) divides by
/// zero at every step.
pub fn nonzero_denominator(is_zero: bool, text: &str, pos: Pos, diags: &mut Diagnostics) -> bool {
    if is_zero {
        diags.error(
            pos,
            format!(
                "division by zero: the denominator `{text}` is the constant 0; expected a \
                 non-zero denominator"
            ),
        );
        return false;
    }
    true
}

/// The edit distance of two names: insertions, deletions, substitutions and swaps of two
/// adjacent characters each count 1 (optimal string alignment distance), so `W_fh` is 1 from
/// `W_hf` and `tanhh` is 1 from `tanh`.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // d[i][j]: the distance of the first i characters of a and the first j of b.
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// The longest name [`similar_name`] looks for a suggestion for.
pub const MAX_SUGGESTED: usize = 64;

/// The candidate a mistyped `name` most likely meant: one that differs only in case, or, for a
/// name of two or more characters, the nearest within one edit per three characters (at least
/// one). Ties go to the earliest candidate. A one-character name gets no suggestion by edit
/// distance: every other one-character name is one edit away. Names longer than
/// [`MAX_SUGGESTED`] characters get no suggestion (the distance takes quadratic time).
pub fn similar_name<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let len = name.chars().count();
    if len > MAX_SUGGESTED {
        return None;
    }
    let limit = len.max(3) / 3;
    let mut best: Option<(usize, &'a str)> = None;
    for c in candidates {
        if c == name {
            continue;
        }
        let d = if c.eq_ignore_ascii_case(name) {
            0
        } else if len >= 2 && c.chars().count().abs_diff(len) <= limit {
            edit_distance(name, c)
        } else {
            continue;
        };
        if d <= limit && best.is_none_or(|(b, _)| d < b) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

/// The tail of an "unknown ..." message: `; did you mean` and the candidate near `name` (see
/// [`similar_name`]) with a question mark, or nothing when no candidate is near.
pub fn did_you_mean<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    similar_name(name, candidates).map_or_else(String::new, |c| format!("; did you mean `{c}`?"))
}
