//! The compiler's diagnostics: for every error class of the language, the exact message and the
//! exact place it points at.
//!
//! Most tests go through the macro's path: the spec is parsed as Rust tokens (as `rnn_cell!`
//! receives it), compiled, and each diagnostic is turned into the `syn::Error` the macro emits;
//! the error's span is read back as a line (1-based) and column (0-based, in characters) of the
//! original string, together with the text it underlines. A few tests use the text path
//! (`compile_text` and `Source::line_col`, 1-based line and column) that tools and `.rnn` files
//! use.
//!
//! Tests marked `#[ignore]` state behaviour the compiler does not have yet (each says why);
//! run them with `cargo test -p rnn-compiler --test diagnostics -- --ignored`.

use rnn_compiler::{compile, compile_text, Source};

/// One error as the user sees it.
#[derive(Debug)]
struct Error {
    /// 1-based line of the start of the underline.
    line: usize,
    /// 0-based column (in characters) of the start of the underline.
    column: usize,
    /// The underlined text of the original source.
    text: String,
    /// The message.
    message: String,
}

impl Error {
    /// `(line, column, underlined text)`, for one-line assertions.
    fn at(&self) -> (usize, usize, &str) {
        (self.line, self.column, self.text.as_str())
    }
}

/// The declarations most tests share. `cell(body)` puts `body` on line 7, at column 0.
const HEAD: &str = "cell Foo {
    input x: [I];
    state h: [H];
    param W: [I, H];
    param U: [H, H];
    param b: [H];
";

/// The standard cell with `body` (equations, on line 7 onwards) after the declarations.
fn cell(body: &str) -> String {
    format!("{HEAD}{body}\n}}")
}

/// The byte offset of a (1-based line, 0-based character column) position in `src`.
fn offset(src: &str, line: usize, column: usize) -> usize {
    let start: usize = src.split_inclusive('\n').take(line - 1).map(str::len).sum();
    let rest = &src[start..];
    start
        + rest
            .char_indices()
            .nth(column)
            .map_or(rest.len(), |(i, _)| i)
}

/// Compiles `src` as the macro's inline tokens; every error, mapped back to `src`.
fn errors(src: &str) -> Vec<Error> {
    let tokens: proc_macro2::TokenStream = src.parse().expect("test input must be valid tokens");
    let source = Source::from_macro_input(tokens).expect("inline input is always accepted");
    let failure = match compile(&source) {
        Ok(_) => panic!("expected errors, but this spec compiled:\n{src}"),
        Err(failure) => failure,
    };
    failure
        .diagnostics
        .iter()
        .map(|d| {
            let span = source.to_error(d).span();
            let (start, end) = (span.start(), span.end());
            let (a, b) = (
                offset(src, start.line, start.column),
                offset(src, end.line, end.column),
            );
            Error {
                line: start.line,
                column: start.column,
                text: src[a..b.max(a)].to_string(),
                message: d.message.clone(),
            }
        })
        .collect()
}

/// The one error of a whole spec given as tokens.
fn only_error(src: &str) -> Error {
    let mut errors = errors(src);
    assert_eq!(errors.len(), 1, "expected exactly one error: {errors:#?}");
    errors.remove(0)
}

/// The one error of the standard cell with `body`.
fn error(body: &str) -> Error {
    only_error(&cell(body))
}

/// The error of `src` whose message starts with `prefix` (for specs that also report others).
fn error_starting(src: &str, prefix: &str) -> Error {
    let errors = errors(src);
    let n = errors
        .iter()
        .filter(|e| e.message.starts_with(prefix))
        .count();
    assert_eq!(
        n, 1,
        "expected one error starting with {prefix:?}: {errors:#?}"
    );
    errors
        .into_iter()
        .find(|e| e.message.starts_with(prefix))
        .unwrap()
}

/// Compiles `src` as text; every error as (1-based line, 1-based column, underlined text, message).
fn text_errors(src: &str) -> Vec<(usize, usize, String, String)> {
    let diagnostics = match compile_text(src) {
        Ok(_) => panic!("expected errors, but this spec compiled:\n{src}"),
        Err(d) => d,
    };
    let source = Source::from_text(src);
    diagnostics
        .iter()
        .map(|d| {
            let (line, column) = source.line_col(d.pos.start);
            let end = d.pos.end.min(src.len());
            (
                line,
                column,
                src[d.pos.start..end].to_string(),
                d.message.clone(),
            )
        })
        .collect()
}

// ----------------------------------------------------------------------------------------------
// Syntax errors

#[test]
fn syntax_missing_semicolon_points_at_the_next_token() {
    let e = error("h[t] = tanh(x[t] @ W + h[t-1] @ U + b)");
    assert_eq!(e.at(), (8, 0, "}"));
    assert_eq!(
        e.message,
        "syntax error: expected `;`, `+`, `-`, `*`, `/`, or `@`, found `}`"
    );
}

#[test]
fn syntax_missing_colon_in_declaration() {
    let e = only_error("cell Foo {\n    input x [I];\n    state h: [H];\n}");
    assert_eq!(e.at(), (2, 12, "["));
    assert_eq!(e.message, "syntax error: expected `:`, found `[`");
}

#[test]
fn syntax_missing_operand() {
    let e = error("h[t] = tanh(x[t] @ W + h[t-1] @ U + );");
    assert_eq!(e.at(), (7, 36, ")"));
    assert_eq!(
        e.message,
        "syntax error: expected `-`, `(`, a name, or a number, found `)`"
    );
}

#[test]
fn syntax_time_index_other_than_t() {
    let e = error("h[t] = tanh(x[s] @ W + h[t-1] @ U + b);");
    assert_eq!(e.at(), (7, 14, "s"));
    assert_eq!(
        e.message,
        "syntax error: expected a time index `t` or `t-k`, found `s`"
    );
}

#[test]
fn syntax_doubled_operator() {
    let e = error("h[t] = tanh(x[t] @@ W + h[t-1] @ U + b);");
    assert_eq!(e.at(), (7, 18, "@"));
    assert_eq!(
        e.message,
        "syntax error: expected `-`, `(`, a name, or a number, found `@`"
    );
}

#[test]
fn syntax_tokens_after_the_cell() {
    let src = format!("{} extra", cell("h[t] = tanh(x[t] @ W + h[t-1] @ U + b);"));
    let e = only_error(&src);
    assert_eq!(e.at(), (8, 2, "extra"));
    assert_eq!(
        e.message,
        "syntax error: expected the end of the spec, found `extra`"
    );
}

#[test]
fn syntax_rust_literal_suffix() {
    let e = error("h[t] = tanh(x[t] @ W + h[t-1] @ U + b) * 1.0f32;");
    assert_eq!(e.at(), (7, 41, "1.0f32"));
    assert_eq!(
        e.message,
        "syntax error: expected `;`, `+`, `-`, `*`, `/`, or `@`, found `f32`"
    );
}

// ----------------------------------------------------------------------------------------------
// Unknown and duplicate names

#[test]
fn unknown_name() {
    let e = error("h[t] = tanh(x[t] @ W + h[t-1] @ U + b * bias);");
    assert_eq!(e.at(), (7, 40, "bias"));
    assert_eq!(
        e.message,
        "unknown name `bias`: expected a declared input, state, parameter or mask, or an intermediate \
         defined by an equation"
    );
}

/// A misspelled parameter (here two letters swapped) gets the declared name as a suggestion,
/// and the parameter is not reported again as unused.
#[test]
fn misspelled_parameter_suggests_the_declared_name() {
    let e = only_error(
        "cell Foo {
    input x: [I];
    state h: [H];
    param W_xf: [I, H];
    param W_hf: [H, H];
    param b_f: [H];
    h[t] = sigmoid(x[t] @ W_xf + h[t-1] @ W_fh + b_f);
}",
    );
    assert_eq!(e.at(), (7, 42, "W_fh"));
    assert_eq!(
        e.message,
        "unknown name `W_fh`: expected a declared input, state, parameter or mask, or an intermediate \
         defined by an equation; did you mean `W_hf`?"
    );
}

/// A misspelled intermediate gets its name as a suggestion, and is not reported again as
/// never used.
#[test]
fn misspelled_intermediate_suggests_the_defined_name() {
    let e = error("c_tilde = tanh(x[t] @ W + b);\nh[t] = c_tild + h[t-1] @ U;");
    assert_eq!(e.at(), (8, 7, "c_tild"));
    assert_eq!(
        e.message,
        "unknown name `c_tild`: expected a declared input, state, parameter or mask, or an \
         intermediate defined by an equation; did you mean `c_tilde`?"
    );
}

/// A name that differs from a declared one only in case is suggested, even with one letter.
#[test]
fn name_differing_in_case_suggests_the_declared_name() {
    let e = error("h[t] = tanh(x[t] @ w + h[t-1] @ U + b);");
    assert_eq!(e.at(), (7, 19, "w"));
    assert!(e.message.ends_with("; did you mean `W`?"), "{}", e.message);
}

#[test]
fn misspelled_state_suggests_the_declared_state() {
    let e = error("h[t] = tanh(x[t] @ W + hh[t-1] @ U + b);");
    assert_eq!(e.at(), (7, 23, "hh"));
    assert_eq!(
        e.message,
        "unknown name `hh`: expected a declared input or state; did you mean `h`?"
    );
}

#[test]
fn unknown_indexed_name() {
    let e = error("h[t] = tanh(y[t] @ W + h[t-1] @ U + b);");
    assert_eq!(e.at(), (7, 12, "y"));
    assert_eq!(
        e.message,
        "unknown name `y`: expected a declared input or state"
    );
}

#[test]
fn unknown_name_in_output() {
    let e = error("h[t] = tanh(x[t] @ W + h[t-1] @ U + b);\noutput y;");
    assert_eq!(e.at(), (8, 7, "y"));
    assert!(e.message.starts_with("unknown name `y`"), "{}", e.message);
}

#[test]
fn duplicate_parameter() {
    let e = only_error(
        "cell Foo {
    input x: [I];
    state h: [H];
    param W: [I, H];
    param U: [H, H];
    param W: [H];
    h[t] = tanh(x[t] @ W + h[t-1] @ U);
}",
    );
    assert_eq!(e.at(), (6, 10, "W"));
    assert_eq!(
        e.message,
        "duplicate name `W`: already declared as a parameter; expected a new name"
    );
}

#[test]
fn duplicate_name_across_kinds() {
    let e = only_error(
        "cell Foo {
    input x: [I];
    state h: [H];
    param W: [I, H], x: [H];
    h[t] = tanh(x[t] @ W);
}",
    );
    assert_eq!(e.at(), (4, 21, "x"));
    assert_eq!(
        e.message,
        "duplicate name `x`: already declared as an input; expected a new name"
    );
}

#[test]
fn duplicate_intermediate() {
    let e = error("a = x[t] @ W;\na = x[t] @ W + b;\nh[t] = tanh(a + h[t-1] @ U + b);");
    assert_eq!(e.at(), (8, 0, "a"));
    assert_eq!(
        e.message,
        "duplicate name `a`: it is already defined by an earlier equation"
    );
}

#[test]
fn state_without_time_index() {
    let e = error("h[t] = tanh(x[t] @ W + h @ U + b);");
    assert_eq!(e.at(), (7, 23, "h"));
    assert_eq!(
        e.message,
        "state `h` needs a time index: expected `h[t]` or `h[t-1]`"
    );
}

#[test]
fn input_without_time_index() {
    let e = error("h[t] = tanh(x @ W + h[t-1] @ U + b);");
    assert_eq!(e.at(), (7, 12, "x"));
    assert_eq!(
        e.message,
        "input `x` needs a time index: expected `x[t]` or `x[t-k]`"
    );
}

#[test]
fn assignment_to_a_parameter() {
    let e = error_starting(
        &cell("h[t] = tanh(x[t] @ W + h[t-1] @ U + b);\nb = h[t];"),
        "`b` is a parameter",
    );
    assert_eq!(e.at(), (8, 0, "b"));
    assert_eq!(
        e.message,
        "`b` is a parameter and cannot be assigned; expected a state update `h[t] = ...` or a new \
         intermediate name"
    );
}

#[test]
fn update_of_an_undeclared_state() {
    let e = error("h[t] = tanh(x[t] @ W + h[t-1] @ U + b);\nc[t] = h[t];");
    assert_eq!(e.at(), (8, 0, "c"));
    assert_eq!(
        e.message,
        "`c[t]` is not a declared state; declare it (`state c: [H];`) or write `c = ...` for an \
         intermediate"
    );
}

// ----------------------------------------------------------------------------------------------
// State updates

#[test]
fn state_without_update() {
    let e = only_error(
        "cell Foo {
    input x: [I];
    state h: [H], c: [H];
    param W: [I, H];
    h[t] = tanh(x[t] @ W);
}",
    );
    assert_eq!(e.at(), (3, 18, "c"));
    assert_eq!(
        e.message,
        "state `c` has no update equation; expected one equation `c[t] = ...`"
    );
}

#[test]
fn state_with_two_updates_points_at_the_second() {
    let e = error("h[t] = tanh(x[t] @ W + h[t-1] @ U + b);\nh[t] = sigmoid(x[t] @ W);");
    assert_eq!(e.at(), (8, 0, "h"));
    assert_eq!(
        e.message,
        "state `h` has two update equations; expected exactly one `h[t] = ...`"
    );
}

#[test]
fn state_update_at_an_earlier_step() {
    let src = "cell Foo {
    input x: [I];
    state h: [H], c: [H];
    param W: [I, H];
    h[t] = tanh(x[t] @ W);
    c[t-1] = h[t];
}";
    let e = error_starting(src, "an update defines");
    assert_eq!(e.at(), (6, 6, "t-1"));
    assert_eq!(
        e.message,
        "an update defines the state at step t: expected `c[t] = ...`, found `c[t-1]`"
    );
    // one mistake, one error: no follow-up "state `c` has no update"
    assert_eq!(errors(src).len(), 1);
}

#[test]
fn state_update_without_time_index() {
    let e = error_starting(
        &cell("h = tanh(x[t] @ W + h[t-1] @ U + b);"),
        "`h` is a state",
    );
    assert_eq!(e.at(), (7, 0, "h"));
    assert_eq!(
        e.message,
        "`h` is a state: its update is written `h[t] = ...`"
    );
}

// ----------------------------------------------------------------------------------------------
// Time indices

#[test]
fn future_input() {
    let e = error("h[t] = tanh(x[t+1] @ W + h[t-1] @ U + b);");
    assert_eq!(e.at(), (7, 14, "t+1"));
    assert_eq!(
        e.message,
        "future reference `x[t+1]`: a cell reads only the current and earlier steps; expected \
         `x[t]` or `x[t-k]`"
    );
}

#[test]
fn future_state() {
    let e = error("h[t] = tanh(x[t] @ W + h[t+1] @ U + b);");
    assert_eq!(e.at(), (7, 25, "t+1"));
    assert_eq!(
        e.message,
        "future reference `h[t+1]`: a cell reads only the current and earlier steps; expected \
         `h[t]` or `h[t-k]`"
    );
}

#[test]
fn future_state_in_output() {
    let e = error("h[t] = tanh(x[t] @ W + h[t-1] @ U + b);\noutput h[t+2];");
    assert_eq!(e.at(), (8, 9, "t+2"));
    assert!(
        e.message.starts_with("future reference `h[t+2]`"),
        "{}",
        e.message
    );
}

#[test]
fn intermediate_read_at_an_earlier_step() {
    let e = error("a = sigmoid(x[t] @ W + b);\nh[t] = a * tanh(h[t-1] @ U) + a[t-1];");
    assert_eq!(e.at(), (8, 32, "t-1"));
    assert_eq!(
        e.message,
        "intermediate `a` holds only the current step; to read `a[t-1]`, declare `a` as a state \
         and update it with `a[t] = ...`"
    );
}

#[test]
fn parameter_indexed_by_time() {
    let e = error_starting(
        &cell("h[t] = tanh(x[t] @ W + h[t-1] @ U + b[t]);"),
        "parameter `b` is not indexed",
    );
    assert_eq!(e.at(), (7, 38, "t"));
    assert_eq!(
        e.message,
        "parameter `b` is not indexed by time: expected `b`"
    );
}

#[test]
fn delay_too_large() {
    let e = error("h[t] = tanh(x[t] @ W + h[t-5000000000] @ U + b);");
    assert_eq!(e.at(), (7, 25, "t-5000000000"));
    assert_eq!(
        e.message,
        "delay 5000000000 in `h[t-5000000000]` is too large: expected at most 65536"
    );
}

// ----------------------------------------------------------------------------------------------
// Cycles

#[test]
fn cycle_between_intermediates_points_at_the_closing_reference() {
    let e = error("f = sigmoid(x[t] @ W + g);\ng = tanh(h[t-1] @ U + f);\nh[t] = f * g + b;");
    assert_eq!(e.at(), (8, 22, "f"));
    assert_eq!(
        e.message,
        "cycle among the equations of one step: `f` depends on itself (f -> g -> f); expected a \
         reference to an earlier step such as `[t-1]`"
    );
}

#[test]
fn cycle_of_an_intermediate_with_itself() {
    let e = error("a = tanh(a);\nh[t] = tanh(x[t] @ W + h[t-1] @ U + b) * a;");
    assert_eq!(e.at(), (7, 9, "a"));
    assert_eq!(
        e.message,
        "cycle among the equations of one step: `a` depends on itself (a -> a); expected a \
         reference to an earlier step such as `[t-1]`"
    );
}

#[test]
fn cycle_of_a_state_update_with_itself() {
    let e = error("h[t] = tanh(x[t] @ W + h[t] @ U + b);");
    assert_eq!(e.line, 7);
    assert_eq!(
        e.message,
        "cycle among the equations of one step: `h[t]` depends on itself (h[t] -> h[t]); \
         expected a reference to an earlier step such as `[t-1]`"
    );
}

#[test]
fn cycle_between_two_state_updates() {
    let src = "cell Foo {
    input x: [I];
    state h: [H], c: [H];
    param W: [I, H];
    param U: [H, H];
    c[t] = sigmoid(x[t] @ W + h[t] @ U);
    h[t] = tanh(c[t]);
}";
    let e = only_error(src);
    assert!(
        e.message
            .starts_with("cycle among the equations of one step: `"),
        "{}",
        e.message
    );
    assert!(
        e.message.contains("h[t] -> c[t] -> h[t]") || e.message.contains("c[t] -> h[t] -> c[t]"),
        "{}",
        e.message
    );
}

/// The cycle error should underline the reference that closes the cycle, as it does for
/// intermediates, not the first letter of the equation's target.
#[test]
fn cycle_through_state_updates_points_at_the_closing_reference() {
    let e = error("h[t] = tanh(x[t] @ W + h[t] @ U + b);");
    assert_eq!(e.at(), (7, 23, "h[t]"));
    let e = only_error(
        "cell Foo {
    input x: [I];
    state h: [H], c: [H];
    param W: [I, H];
    param U: [H, H];
    c[t] = sigmoid(x[t] @ W + h[t] @ U);
    h[t] = tanh(c[t]);
}",
    );
    assert_eq!(e.at(), (6, 30, "h[t]"));
}

// ----------------------------------------------------------------------------------------------
// Shapes

#[test]
fn elementwise_shape_mismatch_names_both_shapes() {
    let e = only_error(
        "cell Foo {
    input x: [I];
    state h: [H];
    param U: [H, H];
    param b: [H];
    h[t] = tanh(x[t] + h[t-1] @ U + b);
}",
    );
    assert_eq!(e.at(), (6, 16, "x[t] + h[t-1] @ U"));
    assert_eq!(
        e.message,
        "shape mismatch in `+`: the left operand `x[t]` is [I] but the right operand `h[t-1] @ U` \
         is [H] (expected equal shapes, or a scalar or [1] that broadcasts; sizes are compared by name, so a cell that needs them equal must declare them with the same name)"
    );
    assert!(e.message.contains("[H]") && e.message.contains("[I]"));
}

#[test]
fn elementwise_product_mismatch_names_both_shapes() {
    let e = error("h[t] = tanh(x[t] @ W + h[t-1] @ U + b) + x[t] * h[t-1];");
    assert_eq!(e.at(), (7, 41, "x[t] * h[t-1]"));
    assert!(
        e.message.starts_with("shape mismatch in `*`"),
        "{}",
        e.message
    );
    assert!(
        e.message.contains("[I]") && e.message.contains("[H]"),
        "{}",
        e.message
    );
}

#[test]
fn shape_mismatch_with_compound_dimensions() {
    let e = only_error(
        "cell Foo {
    input x: [I + H];
    state h: [H];
    param W: [I + H, H];
    h[t] = tanh(x[t] @ W) * x[t];
}",
    );
    assert_eq!(e.at(), (5, 11, "tanh(x[t] @ W) * x[t]"));
    assert_eq!(
        e.message,
        "shape mismatch in `*`: the left operand `tanh(x[t] @ W)` is [H] but the right operand \
         `x[t]` is [H + I] (expected equal shapes, or a scalar or [1] that broadcasts; sizes are compared by name, so a cell that needs them equal must declare them with the same name)"
    );
}

#[test]
fn state_update_shape_mismatch_names_both_shapes() {
    let e = only_error(
        "cell Foo {
    input x: [I];
    state h: [H];
    param W: [I, I];
    h[t] = tanh(x[t] @ W);
}",
    );
    assert_eq!(e.at(), (5, 11, "tanh(x[t] @ W)"));
    assert_eq!(
        e.message,
        "shape mismatch: state `h` is declared [H] but its update is [I]"
    );
    assert!(e.message.contains("[H]") && e.message.contains("[I]"));
}

#[test]
fn matmul_inner_dimension_mismatch() {
    let e = error("h[t] = tanh(x[t] @ W + h[t-1] @ W + h[t-1] @ U + b);");
    assert_eq!(e.at(), (7, 23, "h[t-1] @ W"));
    assert_eq!(
        e.message,
        "inner dimensions of `@` do not match: the left operand `h[t-1]` is [H] but `W` is [I, H] \
         (expected a left operand of shape [I])"
    );
}

/// A PyTorch-style `[out, in]` matrix: the message recalls the `[in, out]` convention.
#[test]
fn matmul_transposed_matrix_has_a_hint() {
    let e = only_error(
        "cell Foo {
    input x: [I];
    state h: [H];
    param W: [H, I];
    param U: [H, H];
    h[t] = tanh(x[t] @ W + h[t-1] @ U);
}",
    );
    assert_eq!(e.at(), (6, 16, "x[t] @ W"));
    assert_eq!(
        e.message,
        "inner dimensions of `@` do not match: the left operand `x[t]` is [I] but `W` is [H, I] \
         (expected a left operand of shape [H]); parameters are `[in, out]`: `x[t] @ W` needs \
         `W: [I, H]`; this `W` looks transposed (declare it `[I, H]`, or write `x[t] @ W^T` to \
         use it transposed)"
    );
}

/// The hint parenthesizes a compound left operand as the product is written.
#[test]
fn matmul_transposed_projection_has_a_hint() {
    let e = only_error(
        "cell Foo {
    input x: [I];
    state c: [H];
    state r: [P];
    param W: [I, H];
    param W_p: [P, H];
    o = sigmoid(x[t] @ W);
    c[t] = c[t-1] + o;
    r[t] = (o * tanh(c[t])) @ W_p;
}",
    );
    assert_eq!(e.at(), (9, 11, "(o * tanh(c[t])) @ W_p"));
    assert!(
        e.message.ends_with(
            "; parameters are `[in, out]`: `(o * tanh(c[t])) @ W_p` needs `W_p: [H, P]`; this \
             `W_p` looks transposed (declare it `[H, P]`, or write `(o * tanh(c[t])) @ W_p^T` to \
             use it transposed)"
        ),
        "{}",
        e.message
    );
}

/// No transposition hint when the matrix is used as declared by another product (the left
/// operand is the mistake) or when transposing it would make the product the input's size.
#[test]
fn matmul_mismatch_without_transposition_hint() {
    let e = error("h[t] = tanh(x[t] @ W + h[t-1] @ W + h[t-1] @ U + b);");
    assert!(
        e.message
            .ends_with("(expected a left operand of shape [I])"),
        "{}",
        e.message
    );
    let e = only_error(
        "cell Foo {
    input x: [I];
    state h: [H];
    param W: [I, H];
    param U: [I, H];
    h[t] = tanh(x[t] @ W + h[t-1] @ U);
}",
    );
    assert!(
        e.message
            .ends_with("(expected a left operand of shape [I])"),
        "{}",
        e.message
    );
}

#[test]
fn matrix_used_elementwise() {
    let e = error("h[t] = tanh(x[t] @ W + h[t-1] * U + b);");
    assert_eq!(e.at(), (7, 32, "U"));
    assert_eq!(
        e.message,
        "matrix `U` [H, H] used elementwise in `*`: a matrix parameter can only be the right \
         operand of `@` (expected a vector or a scalar here)"
    );
}

#[test]
fn matrix_as_a_function_argument() {
    let e = error("h[t] = tanh(x[t] @ W + h[t-1] @ U + b) * sigmoid(U);");
    assert_eq!(e.at(), (7, 49, "U"));
    assert_eq!(
        e.message,
        "matrix `U` [H, H] used elementwise in `sigmoid`: a matrix parameter can only be the \
         right operand of `@` (expected a vector or a scalar here)"
    );
}

#[test]
fn parameter_on_the_left_of_matmul() {
    let e = error("h[t] = tanh(x[t] @ W + h[t-1] @ U + b @ U);");
    assert_eq!(e.at(), (7, 36, "b"));
    assert_eq!(
        e.message,
        "parameter `b` [H] on the left of `@`: expected a per-example vector such as `x[t]` or \
         `h[t-1]` on the left and a matrix parameter on the right (`h[t-1] @ W`)"
    );
}

#[test]
fn matrix_parameter_on_the_left_of_matmul() {
    let e = error("h[t] = tanh(x[t] @ W + h[t-1] @ U + b) + U @ U;");
    assert_eq!(e.at(), (7, 41, "U"));
    assert!(
        e.message
            .starts_with("parameter `U` [H, H] on the left of `@`"),
        "{}",
        e.message
    );
}

#[test]
fn number_on_the_left_of_matmul() {
    let e = error("h[t] = tanh(x[t] @ W + 2 @ U + b) * h[t-1];");
    assert_eq!(e.at(), (7, 23, "2"));
    assert_eq!(
        e.message,
        "the left operand of `@` must be a per-example vector such as `x[t]` or `h[t-1]`, found \
         `2` (a scalar)"
    );
}

#[test]
fn vector_on_the_right_of_matmul() {
    let e = error("h[t] = tanh(x[t] @ W + h[t-1] @ U + b) + x[t] @ h[t-1];");
    assert_eq!(e.at(), (7, 48, "h[t-1]"));
    assert_eq!(
        e.message,
        "the right operand of `@` must be a matrix parameter `[in, out]`, found `h[t-1]` ([H])"
    );
}

#[test]
fn output_must_be_a_vector() {
    let e = error("h[t] = tanh(x[t] @ W + h[t-1] @ U + b);\noutput U;");
    assert_eq!(e.at(), (8, 7, "U"));
    assert_eq!(
        e.message,
        "the output must be a per-example vector, found `U` ([H, H])"
    );
}

#[test]
fn shape_with_three_dimensions() {
    let e = only_error(
        "cell Foo {
    input x: [I];
    state h: [H];
    param W: [I, H, H];
    h[t] = x[t] @ W;
}",
    );
    assert_eq!(e.at(), (4, 13, "[I, H, H]"));
    assert_eq!(
        e.message,
        "shape [I, H, H] has 3 dimensions: expected [D] or [D, E]"
    );
}

#[test]
fn dimension_with_a_subtraction() {
    let e = only_error(
        "cell Foo {
    input x: [I];
    state h: [H];
    param W: [I, H - I];
    h[t] = x[t] @ W;
}",
    );
    assert_eq!(e.at(), (4, 17, "H - I"));
    assert_eq!(
        e.message,
        "dimension expressions add positive terms (`I + H`, `2*H`); found a subtraction or a zero"
    );
}

// ----------------------------------------------------------------------------------------------
// Parameters and initializers

#[test]
fn unused_parameter() {
    let e = only_error(
        "cell Foo {
    input x: [I];
    state h: [H];
    param W: [I, H];
    param b, c: [H];
    h[t] = tanh(x[t] @ W + b);
}",
    );
    assert_eq!(e.at(), (5, 13, "c"));
    assert_eq!(
        e.message,
        "unused parameter `c`: it appears in no equation; remove it or use it"
    );
}

#[test]
fn unknown_initializer() {
    let e = only_error(
        "cell Foo {
    input x: [I];
    state h: [H];
    param W: [I, H] = gaussian;
    h[t] = tanh(x[t] @ W);
}",
    );
    assert_eq!(e.at(), (4, 22, "gaussian"));
    assert_eq!(
        e.message,
        "unknown initializer `gaussian`: expected a number, `zeros`, `ones`, `uniform(a)`, \
         `xavier` or `orthogonal`"
    );
}

#[test]
fn uniform_without_bound() {
    let e = only_error(
        "cell Foo {
    input x: [I];
    state h: [H];
    param W: [I, H] = uniform;
    h[t] = tanh(x[t] @ W);
}",
    );
    assert_eq!(e.at(), (4, 22, "uniform"));
    assert_eq!(
        e.message,
        "`uniform` needs its bound: expected `uniform(a)` for uniform on [-a, a]"
    );
}

#[test]
fn orthogonal_vector() {
    let e = only_error(
        "cell Foo {
    input x: [I];
    state h: [H];
    param W: [I, H];
    param b: [H] = orthogonal;
    h[t] = tanh(x[t] @ W + b);
}",
    );
    assert_eq!(e.at(), (5, 19, "orthogonal"));
    assert_eq!(
        e.message,
        "`orthogonal` initializes a matrix: expected a parameter of shape [D, E]"
    );
}

// ----------------------------------------------------------------------------------------------
// Functions

const FUNCTIONS: &str = "sigmoid, tanh, relu, exp, log, sqrt, softsign, hard_sigmoid, softplus, \
     silu, gelu, gelu_tanh, abs, square, elu(v) or elu(v, alpha), leaky_relu(v, slope), pow(v, k), \
     clamp(v, lo, hi), max(a, b), min(a, b), mean, sum, concat(...) @ W, v @ W^T (or transpose(W))";

#[test]
fn unknown_function() {
    let e = error("h[t] = tanhh(x[t] @ W + h[t-1] @ U + b);");
    assert_eq!(e.at(), (7, 7, "tanhh"));
    assert_eq!(
        e.message,
        format!("unknown function `tanhh`: expected one of {FUNCTIONS}; did you mean `tanh`?")
    );
}

#[test]
fn unknown_function_far_from_every_function_gets_no_suggestion() {
    let e = error("h[t] = tanh(x[t] @ W + h[t-1] @ U + b) * frobnicate(b);");
    assert_eq!(e.at(), (7, 41, "frobnicate"));
    assert_eq!(
        e.message,
        format!("unknown function `frobnicate`: expected one of {FUNCTIONS}")
    );
}

#[test]
fn another_name_of_a_function_points_to_it() {
    let e = error("h[t] = swish(x[t] @ W + h[t-1] @ U + b);");
    assert_eq!(
        e.message,
        format!("unknown function `swish`: expected one of {FUNCTIONS}; `swish` is `silu` here")
    );
}

#[test]
fn a_literal_argument_must_be_a_number() {
    let e = error("h[t] = leaky_relu(x[t] @ W + h[t-1] @ U + b, b);");
    assert_eq!(e.at(), (7, 45, "b"));
    assert_eq!(
        e.message,
        "`leaky_relu` takes its value and then number literals, as `leaky_relu(v, slope)`: \
         expected a number such as `0.1` or `-1` here, found `b`"
    );
    let e = error("h[t] = pow(x[t] @ W + h[t-1] @ U + b);");
    assert_eq!(
        e.message,
        "`pow` takes 2 arguments, as `pow(v, k)`; found 1"
    );
    let e = error("h[t] = elu(x[t] @ W + h[t-1] @ U + b, 1, 2);");
    assert_eq!(
        e.message,
        "`elu` takes 1 or 2 arguments, as `elu(v)` or `elu(v, alpha)`; found 3"
    );
}

#[test]
fn clamp_bounds_must_be_ordered() {
    let e = error("h[t] = clamp(x[t] @ W + h[t-1] @ U + b, 1, -1);");
    assert_eq!(e.at(), (7, 40, "1"));
    assert_eq!(
        e.message,
        "the bounds of `clamp(v, lo, hi)` must satisfy lo <= hi; found lo = 1 > hi = -1"
    );
}

#[test]
fn max_takes_two_values_of_the_same_shape() {
    let e = error("h[t] = max(x[t] @ W + h[t-1] @ U + b);");
    assert_eq!(
        e.message,
        "`max` takes 2 arguments, as `max(a, b)`; found 1"
    );
    let e = error("h[t] = tanh(x[t] @ W + h[t-1] @ U + b) + max(x[t], b);");
    assert!(e.message.contains("`max`"), "{}", e.message);
}

#[test]
fn misspelled_reduction_suggests_it() {
    let e = error("h[t] = tanh(x[t] @ W + h[t-1] @ U + b) * maen(b);");
    assert_eq!(e.at(), (7, 41, "maen"));
    assert!(
        e.message.ends_with("; did you mean `mean`?"),
        "{}",
        e.message
    );
}

#[test]
fn unknown_function_still_checks_its_arguments() {
    let errors = errors(&cell("h[t] = tanh(x[t] @ W + h[t-1] @ U + b) * foo(zz);"));
    let found: Vec<_> = errors.iter().map(|e| e.at()).collect();
    assert_eq!(found, [(7, 41, "foo"), (7, 45, "zz")], "{errors:#?}");
}

#[test]
fn wrong_arity_two_arguments() {
    let e = error("h[t] = tanh(x[t] @ W + h[t-1] @ U, b);");
    assert_eq!(e.at(), (7, 7, "tanh(x[t] @ W + h[t-1] @ U, b)"));
    assert_eq!(e.message, "`tanh` takes 1 argument, as `tanh(v)`; found 2");
}

#[test]
fn wrong_arity_no_argument() {
    let e = error("h[t] = tanh(x[t] @ W + h[t-1] @ U + b) * sigmoid();");
    assert_eq!(e.at(), (7, 41, "sigmoid()"));
    assert_eq!(
        e.message,
        "`sigmoid` takes 1 argument, as `sigmoid(v)`; found 0"
    );
}

// ----------------------------------------------------------------------------------------------
// Declarations

#[test]
fn missing_input() {
    let e = only_error(
        "cell Foo {
    state h: [H];
    param U: [H, H];
    h[t] = tanh(h[t-1] @ U);
}",
    );
    assert_eq!(e.at(), (1, 5, "Foo"));
    assert_eq!(
        e.message,
        "cell `Foo` has no input; expected a declaration `input x: [I];`"
    );
}

#[test]
fn second_input() {
    let e = only_error(
        "cell Foo {
    input x: [I];
    input y: [I];
    state h: [H];
    h[t] = h[t-1];
}",
    );
    assert_eq!(e.at(), (3, 10, "y"));
    assert_eq!(
        e.message,
        "a second input `y`: a cell has one input; concatenate the inputs into one, \
         `input x: [2*I];` (each row the features of `x`, then those of `y`), whose product \
         `x[t] @ W` with `W: [2*I, out]` is the sum of the two inputs' products"
    );
}

/// The uses of a refused second input are not reported again as unknown names.
#[test]
fn second_input_used_in_equations_is_one_error() {
    let e = only_error(
        "cell Foo {
    input x: [I];
    input y: [J];
    state h: [H];
    param W: [I, H];
    param V: [J, H];
    h[t] = tanh(x[t] @ W + y[t] @ V + y[t-1] @ V);
}",
    );
    assert_eq!(e.at(), (3, 10, "y"));
    assert_eq!(
        e.message,
        "a second input `y`: a cell has one input; concatenate the inputs into one, \
         `input x: [I + J];` (each row the features of `x`, then those of `y`), whose product \
         `x[t] @ W` with `W: [I + J, out]` is the sum of the two inputs' products"
    );
}

#[test]
fn matrix_input() {
    let e = only_error(
        "cell Foo {
    input x: [I, H];
    state h: [H];
    h[t] = h[t-1];
}",
    );
    assert_eq!(e.at(), (2, 13, "[I, H]"));
    assert_eq!(
        e.message,
        "an input is a vector per example: expected a shape like [H], found [I, H]"
    );
}

#[test]
fn no_state() {
    let e = only_error("cell Foo {\n    input x: [I];\n}");
    assert_eq!(e.at(), (1, 5, "Foo"));
    assert_eq!(
        e.message,
        "a cell needs at least one state; expected a declaration `state h: [H];`"
    );
}

#[test]
fn second_output() {
    let e = error("h[t] = tanh(x[t] @ W + h[t-1] @ U + b);\noutput h[t];\noutput h[t];");
    assert_eq!(e.at(), (9, 7, "h[t]"));
    assert_eq!(
        e.message,
        "a second `output`: a cell emits one value per step; expected one `output` statement"
    );
}

#[test]
fn unused_intermediate() {
    let e = error("h[t] = tanh(x[t] @ W + h[t-1] @ U + b);\ngate = sigmoid(h[t]);");
    assert_eq!(e.at(), (8, 0, "gate"));
    assert_eq!(
        e.message,
        "intermediate `gate` is never used by a state update, another equation or the output"
    );
}

// ----------------------------------------------------------------------------------------------
// Several errors at once

#[test]
fn three_mistakes_give_three_diagnostics_in_source_order() {
    let errors = errors(&cell(
        "a = sigmoid(x[t+1] @ W + b);\nh[t] = tanh(a + h[t-1] @ U) * bias + tanhh(h[t-1]);",
    ));
    let found: Vec<_> = errors.iter().map(|e| e.at()).collect();
    assert_eq!(
        found,
        [(7, 14, "t+1"), (8, 30, "bias"), (8, 37, "tanhh")],
        "{errors:#?}"
    );
    assert!(errors[0].message.starts_with("future reference `x[t+1]`"));
    assert!(errors[1].message.starts_with("unknown name `bias`"));
    assert!(errors[2].message.starts_with("unknown function `tanhh`"));
}

#[test]
fn errors_in_declarations_and_equations_are_reported_together() {
    let errors = errors(
        "cell Foo {
    input x: [I];
    state h: [H], c: [H];
    param W: [I, H];
    param W: [H];
    h[t] = tanh(x[t] @ W + h[t+1]);
}",
    );
    let found: Vec<_> = errors.iter().map(|e| (e.line, e.column)).collect();
    assert_eq!(found, [(3, 18), (5, 10), (6, 29)], "{errors:#?}");
    assert!(errors[0].message.starts_with("state `c` has no update"));
    assert!(errors[1].message.starts_with("duplicate name `W`"));
    assert!(errors[2].message.starts_with("future reference `h[t+1]`"));
}

// ----------------------------------------------------------------------------------------------
// The text form: byte offsets and 1-based line and column

#[test]
fn text_syntax_error() {
    let src = "cell Foo {\n  input x: [I]\n  state h: [H];\n}\n";
    let errors = text_errors(src);
    assert_eq!(errors.len(), 1, "{errors:?}");
    let (line, column, text, message) = &errors[0];
    assert_eq!((*line, *column), (3, 3));
    assert!(text.starts_with('s'), "{text:?}");
    assert_eq!(message, "syntax error: expected `;`, found `state`");
}

#[test]
fn text_future_reference_after_comments() {
    let src = "/// Doc.\ncell Foo {\n  input x: [I]; // the input\n  state h: [H];\n  \
               param W: [I, H];\n  /* é */ h[t] = x[t+1] @ W;\n}\n";
    let errors = text_errors(src);
    assert_eq!(errors.len(), 1, "{errors:?}");
    let (line, column, text, message) = &errors[0];
    assert_eq!((*line, *column, text.as_str()), (6, 20, "t+1"));
    assert_eq!(
        message,
        "future reference `x[t+1]`: a cell reads only the current and earlier steps; expected \
         `x[t]` or `x[t-k]`"
    );
}

#[test]
fn text_unknown_name_and_shape_mismatch() {
    let src = "cell Foo {
  input x: [I];
  state h: [H];
  param W: [I, H];
  h[t] = tanh(x[t] @ W + x[t]) * gate;
}";
    let errors = text_errors(src);
    let found: Vec<_> = errors
        .iter()
        .map(|(l, c, t, _)| (*l, *c, t.as_str()))
        .collect();
    assert_eq!(
        found,
        [(5, 15, "x[t] @ W + x[t]"), (5, 34, "gate")],
        "{errors:?}"
    );
    assert!(errors[0].3.contains("[H]") && errors[0].3.contains("[I]"));
    assert!(errors[1].3.starts_with("unknown name `gate`"));
}

#[test]
fn text_errors_have_the_same_messages_as_tokens() {
    let src = cell("h[t] = tanh(x[t] @ W + h[t-1] @ W + h[t-1] @ U + b);");
    let from_text = text_errors(&src);
    let from_tokens = errors(&src);
    assert_eq!(from_text.len(), 1);
    assert_eq!(from_text[0].3, from_tokens[0].message);
    assert_eq!((from_text[0].0, from_text[0].1), (7, 24));
}

#[test]
fn built_in_specs_compile() {
    for spec in ["gru", "gru_torch", "lstm", "rnn_relu", "rnn_tanh"] {
        let path = format!("{}/../specs/{spec}.rnn", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap();
        if let Err(errors) = compile_text(&text) {
            panic!("{spec}: {errors:?}");
        }
    }
}

// ----------------------------------------------------------------------------------------------
// The file form: every error names the file, line and column

#[test]
fn file_errors_name_file_line_and_column() {
    let tokens: proc_macro2::TokenStream = r#""../tests/ui/file/bad.rnn""#.parse().unwrap();
    let source = Source::from_macro_input(tokens).expect("the file exists");
    let failure = compile(&source).err().expect("the file has a mistake");
    assert_eq!(failure.diagnostics.len(), 1);
    let err = source.to_error(&failure.diagnostics[0]);
    assert_eq!(
        err.to_string(),
        "../tests/ui/file/bad.rnn:9:30: future reference `h[t+1]`: a cell reads only the current \
         and earlier steps; expected `h[t]` or `h[t-k]`\n  \
         |\n\
         9 |     h[t] = tanh(x[t] @ W + h[t+1] @ U + b);\n  \
         |                              ^^^"
    );
}

#[test]
fn missing_file_is_an_error_at_the_path() {
    let src = r#""no/such/spec.rnn""#;
    let tokens: proc_macro2::TokenStream = src.parse().unwrap();
    let Err(err) = Source::from_macro_input(tokens) else {
        panic!("a missing file must be an error");
    };
    let start = err.span().start();
    assert_eq!((start.line, start.column), (1, 0));
    assert!(
        err.to_string().starts_with("cannot read spec file `"),
        "{err}"
    );
    assert!(err.to_string().contains("no/such/spec.rnn"), "{err}");
}

// ----------------------------------------------------------------------------------------------
// Known problems (see the doc comment of each)

/// A non-finite constant (`1e999`, `1/0`, `log(-1)`) must be a compile error; today the emitter
/// panics in `proc_macro2::Literal::f64_unsuffixed`, i.e. the macro panics on user input.
#[test]
fn non_finite_constant_is_an_error_not_a_panic() {
    for expr in ["1e999 * b", "1 / 0 * b", "log(-1) * b"] {
        let src = cell(&format!("h[t] = tanh(x[t] @ W + h[t-1] @ U + {expr});"));
        let result = std::panic::catch_unwind(|| compile_text(&src).is_err());
        assert!(matches!(result, Ok(true)), "{expr}: panicked or accepted");
    }
    let src = "cell Foo { input x: [I]; state h: [H]; param W: [I, H] = 1e999; h[t] = x[t] @ W; }";
    let result = std::panic::catch_unwind(|| compile_text(src).is_err());
    assert!(
        matches!(result, Ok(true)),
        "initializer 1e999: panicked or accepted"
    );
}

/// The language has `mean(v)` and `sum(v)` (layer normalization): they are not reported as
/// unknown functions.
#[test]
fn mean_and_sum_are_functions() {
    let src = cell(
        "a = x[t] @ W + h[t-1] @ U;\nm = mean(a);\nv = mean((a - m) * (a - m));\n\
         h[t] = tanh((a - m) / sqrt(v + 0.00001) + b) + sum(a) * 0;",
    );
    if let Err(errors) = compile_text(&src) {
        panic!("{errors:?}");
    }
}

/// An equation dropped because of its own error (a second definition, a second update, an
/// assignment to a parameter) is not looked at further, so a parameter used only there is
/// reported as "unused ... appears in no equation" (false), and mistakes inside it are not
/// reported at all.
#[test]
fn rejected_equation_yields_no_follow_up_errors() {
    let src = "cell Foo {
    input x: [I];
    state h: [H];
    param W: [I, H];
    param U: [H, H];
    a = x[t] @ W;
    a = h[t-1] @ U;
    h[t] = tanh(a);
}";
    let found = errors(src);
    assert_eq!(found.len(), 1, "{found:#?}");
    let found = errors(&cell(
        "h[t] = tanh(x[t] @ W + h[t-1] @ U + b);\nh[t] = sigmoid(zz);",
    ));
    assert!(
        found
            .iter()
            .any(|e| e.message.starts_with("unknown name `zz`")),
        "{found:#?}"
    );
}

/// `b[t]` is reported, and then `b` again as an unused parameter.
#[test]
fn parameter_indexed_by_time_is_one_error() {
    let errors = errors(&cell("h[t] = tanh(x[t] @ W + h[t-1] @ U + b[t]);"));
    assert_eq!(errors.len(), 1, "{errors:#?}");
}

/// `a[t+1]` on an intermediate is a future reference; the message suggests declaring `a` as a
/// state, which would not make `a[t+1]` valid either.
#[test]
fn future_reference_to_an_intermediate() {
    let e = error("a = x[t] @ W;\nh[t] = tanh(a[t+1] + h[t-1] @ U + b);");
    assert_eq!(e.at(), (8, 14, "t+1"));
    assert!(
        e.message.starts_with("future reference `a[t+1]`"),
        "{}",
        e.message
    );
}

/// A parenthesized operand should be underlined with its parentheses; today the underline
/// starts inside them (`x[t] @ W) @ U`).
#[test]
fn parenthesized_operand_is_underlined_whole() {
    let e = only_error(
        "cell Foo {
    input x: [I];
    state h: [H];
    param W: [I, H];
    param U: [H, I];
    h[t] = (x[t] @ W) @ U;
}",
    );
    assert_eq!(e.at(), (6, 11, "(x[t] @ W) @ U"));
}

/// An intermediate used only inside the argument of an unknown function (or of a call with the
/// wrong number of arguments) is reported as "never used": the bad call drops its arguments
/// from the graph, so one typo gives a second, false error.
#[test]
fn intermediate_used_in_a_rejected_call_is_not_unused() {
    let e = error("a = sigmoid(x[t] @ W + b);\nh[t] = tanhh(a + h[t-1] @ U);");
    assert_eq!(e.at(), (8, 7, "tanhh"));
    let e = error("a = sigmoid(x[t] @ W + b);\nh[t] = tanh(a + h[t-1] @ U, b);");
    assert_eq!(e.message, "`tanh` takes 1 argument, as `tanh(v)`; found 2");
}

// ----------------------------------------------------------------------------------------------
// Names that would collide with the generated Rust

/// The type's float parameter `F` and the names the generated code uses unqualified cannot
/// name the cell: the error is at the name and says why.
#[test]
fn cell_named_like_a_name_the_generated_code_uses_is_refused_at_the_name() {
    for name in [
        "F", "Option", "Vec", "Result", "Box", "String", "Some", "None", "Ok", "Err", "f32",
        "usize",
    ] {
        let src = format!(
            "cell {name} {{\n    input x: [I];\n    state h: [H];\n    param W: [I, H];\n    \
             h[t] = tanh(x[t] @ W);\n}}"
        );
        let e = only_error(&src);
        assert_eq!(e.at(), (1, 5, name), "{name}");
        assert!(
            e.message
                .starts_with(&format!("`{name}` cannot name a cell: ")),
            "{name}: {}",
            e.message
        );
    }
    let e = only_error("cell F { input x: [I]; state h: [H]; param W: [I, H]; h[t] = x[t] @ W; }");
    assert_eq!(
        e.message,
        "`F` cannot name a cell: the generated type is generic over its float type `F` \
         (`F = f32` or `f64`); expected another name"
    );
    let e =
        only_error("cell Option { input x: [I]; state h: [H]; param W: [I, H]; h[t] = x[t] @ W; }");
    assert_eq!(
        e.message,
        "`Option` cannot name a cell: the generated code uses `Option` unqualified, and the \
         cell's type would shadow it; expected another name"
    );
}

/// `param W` with `param W_mut`: both would have an accessor `W_mut()`. Refused at `W_mut`,
/// whichever comes first.
#[test]
fn parameter_named_like_another_parameters_accessor_is_refused() {
    for decls in [
        "param W: [I, H];\n    param W_mut: [H];",
        "param W_mut: [H];\n    param W: [I, H];",
    ] {
        let src = format!(
            "cell Foo {{\n    input x: [I];\n    state h: [H];\n    {decls}\n    \
             h[t] = tanh(x[t] @ W + W_mut);\n}}"
        );
        let e = only_error(&src);
        assert_eq!(e.text, "W_mut", "{decls}");
        assert_eq!(
            e.message,
            "parameter `W_mut` clashes with the accessor `W_mut()` of parameter `W` (a parameter \
             `P` gets accessors `P()` and `P_mut()`); expected another name"
        );
    }
}

/// A parameter whose accessor `P()` or `P_mut()` would replace or shadow a method of the
/// generated type (`dims()`, `forward()`, `params_mut()`, ..., `clone()`) or a private item
/// (`__...`).
#[test]
fn parameter_named_like_a_generated_method_is_refused() {
    for name in [
        "new",
        "zeros",
        "dims",
        "spec",
        "params",
        "forward",
        "infer",
        "backward",
        "step",
        "input_size",
        "output_size",
        "state_sizes",
        "zero_states",
        "set_param",
        "clone",
        "__forward",
        "__x",
    ] {
        let src = format!(
            "cell Foo {{\n    input x: [I];\n    state h: [H];\n    param W: [I, H];\n    \
             param {name}: [H];\n    h[t] = tanh(x[t] @ W + {name});\n}}"
        );
        let e = only_error(&src);
        assert_eq!(e.at(), (5, 10, name), "{name}");
        assert!(
            e.message
                .starts_with(&format!("`{name}` cannot name a parameter: its accessor `")),
            "{name}: {}",
            e.message
        );
    }
    let e = error_starting(
        &cell("h[t] = tanh(x[t] @ W + h[t-1] @ U + b);\n")
            .replace("param b: [H];", "param b: [H];\n    param dims: [H];"),
        "`dims`",
    );
    assert_eq!(
        e.message,
        "`dims` cannot name a parameter: its accessor `dims()` would clash with a method of the \
         generated cell type (a parameter `P` gets accessors `P()` and `P_mut()`); expected \
         another name"
    );
}

/// Rust keywords cannot name a cell, a parameter or a dimension (they become identifiers).
#[test]
fn rust_keyword_as_a_name_is_refused_at_the_name() {
    let e = only_error(
        "cell Foo { input x: [I]; state h: [H]; param type: [I, H]; h[t] = x[t] @ type; }",
    );
    assert_eq!(e.text, "type");
    assert_eq!(
        e.message,
        "`type` cannot name a parameter: it is a Rust keyword; expected another name"
    );
    let e =
        only_error("cell match { input x: [I]; state h: [H]; param W: [I, H]; h[t] = x[t] @ W; }");
    assert_eq!(e.at(), (1, 5, "match"));
    let e = error_starting(
        "cell Foo { input x: [I]; state h: [fn]; param W: [I, H]; h[t] = x[t] @ W; }",
        "`fn` cannot name a dimension",
    );
    assert_eq!(e.text, "fn");
}

// ----------------------------------------------------------------------------------------------
// Literals: delays, dimensions, zero denominators, the range of f32

/// A delay too large for any integer type is reported as written, not as a saturated number.
#[test]
fn delay_too_large_to_represent_is_reported_as_written() {
    let e = error("h[t] = tanh(x[t] @ W + h[t-99999999999999999999999] @ U + b);");
    assert_eq!(e.at(), (7, 25, "t-99999999999999999999999"));
    assert_eq!(
        e.message,
        "delay 99999999999999999999999 in `h[t-99999999999999999999999]` is too large: expected \
         at most 65536"
    );
}

/// Likewise for a dimension coefficient.
#[test]
fn dimension_coefficient_too_large_to_represent_is_reported_as_written() {
    let src = "cell Foo { input x: [I]; state h: [H]; param W: [I, 99999999999999999999999*H]; \
               h[t] = x[t] @ W; }";
    let e = error_starting(src, "dimension coefficient");
    assert_eq!(e.text, "99999999999999999999999*H");
    assert_eq!(
        e.message,
        "dimension coefficient 99999999999999999999999 is too large: expected at most 2147483648"
    );
}

/// `[H*2]` means `[2*H]`, on either side and in sums.
#[test]
fn dimension_coefficient_after_the_name_is_accepted() {
    let a = compile_text(
        "cell Foo { input x: [I]; state h: [H*2]; param W: [I, 2*H]; param U: [H*2 + I, H*2];
         h[t] = tanh(x[t] @ W + concat(h[t-1], x[t]) @ U); }",
    );
    let a = match a {
        Ok(a) => a,
        Err(e) => panic!("{e:?}"),
    };
    assert_eq!(a.cell.states[0].dim.to_string(), "2*H");
    assert_eq!(a.cell.params[1].shape.to_string(), "[2*H + I, 2*H]");
}

/// Division by the constant zero, however written, is refused at the denominator.
#[test]
fn division_by_a_literal_zero_is_refused_at_the_denominator() {
    for (denominator, text) in [
        ("0", "0"),
        ("0.0", "0.0"),
        ("(0)", "(0)"),
        ("(1 - 1)", "(1 - 1)"),
        ("-0", "-0"),
    ] {
        let e = error(&format!(
            "h[t] = tanh(x[t] @ W + h[t-1] @ U + b / {denominator});"
        ));
        assert_eq!(e.text, text, "{denominator}");
        assert!(
            e.message.starts_with("division by zero: the denominator `"),
            "{denominator}: {}",
            e.message
        );
    }
    let e = error("h[t] = tanh(x[t] @ W + h[t-1] @ U + b / 0);");
    assert_eq!(
        e.message,
        "division by zero: the denominator `0` is the constant 0; expected a non-zero denominator"
    );
    // A constant numerator too: `1 / 0` is a division by zero, not an infinite constant.
    let e = error("h[t] = tanh(x[t] @ W + h[t-1] @ U + b * (1 / 0));");
    assert!(e.message.starts_with("division by zero"), "{}", e.message);
}

/// Every cell is generic over f32 and f64: a literal, a folded constant or an initializer that
/// overflows f32 is refused at its token; one that rounds to zero in f32 is accepted.
#[test]
fn literal_outside_the_range_of_f32_is_refused_at_the_token() {
    let e = error("h[t] = tanh(x[t] @ W + h[t-1] @ U + 1e39 * b);");
    assert_eq!(e.at(), (7, 36, "1e39"));
    assert_eq!(
        e.message,
        "constant 1e39 is outside the range of f32 (largest finite magnitude 3.4028235e38): \
         every cell is generic over f32 and f64, and it would be infinite in f32; expected a \
         smaller magnitude"
    );
    let e = error("h[t] = tanh(x[t] @ W + h[t-1] @ U + 1e20 * 1e20 * b);");
    assert_eq!(e.text, "1e20 * 1e20");
    let src = "cell Foo { input x: [I]; state h: [H]; param W: [I, H] = uniform(1e39); \
               h[t] = x[t] @ W; }";
    let e = only_error(src);
    assert_eq!(e.text, "1e39");
    assert!(
        e.message
            .starts_with("the bound of `uniform` 1e39 is outside the range of f32"),
        "{}",
        e.message
    );
    let src = "cell Foo { input x: [I]; state h: [H]; param W: [I, H] = -1e39; h[t] = x[t] @ W; }";
    let e = only_error(src);
    assert_eq!(e.text, "-1e39");
    assert!(
        e.message
            .starts_with("initial value -1e39 is outside the range of f32"),
        "{}",
        e.message
    );
    // The largest f32 and values that are subnormal or zero in f32 are fine.
    for ok in ["3.4028234e38 * b", "1e-40 * b", "1e-50 * b"] {
        let src = cell(&format!("h[t] = tanh(x[t] @ W + h[t-1] @ U + {ok});"));
        if let Err(e) = compile_text(&src) {
            panic!("{ok}: {e:?}");
        }
    }
    let src = "cell Foo { input x: [I]; state h: [H]; param W: [I, H] = uniform(1e-45); \
               h[t] = x[t] @ W; }";
    assert!(compile_text(src).is_ok());
}

/// The failure type is an ordinary error: `Debug`, `Display` with every message, `Error`.
#[test]
fn a_failure_is_a_std_error_listing_every_message() {
    let failure = match compile(&Source::from_text(
        "cell X { input x: [H]; state h: [H]; h[t] = q + r; }",
    )) {
        Err(failure) => failure,
        Ok(_) => panic!("the spec has unknown names"),
    };
    let error: &dyn std::error::Error = &failure;
    let text = error.to_string();
    assert!(text.starts_with("the spec has 2 errors"), "{text}");
    assert!(text.contains("`q`") && text.contains("`r`"), "{text}");
    assert!(format!("{failure:?}").contains("diagnostics"));
    let first: &dyn std::error::Error = &failure.diagnostics[0];
    assert!(first.to_string().contains("bytes"), "{first}");
}

// ----------------------------------------------------------------------------------------------
// User functions

#[test]
fn a_user_function_compiles_and_is_expanded_where_called() {
    let src = format!(
        "{HEAD}fn squash(v, k) = k * tanh(v);\nh[t] = squash(x[t] @ W + h[t-1] @ U + b, 0.5);\n}}"
    );
    let tokens: proc_macro2::TokenStream = src.parse().unwrap();
    let source = Source::from_macro_input(tokens).unwrap();
    let compiled = compile(&source).expect("compiles");
    assert!(compiled
        .cell
        .equations
        .iter()
        .any(|e| e == "fn squash(v, k) = k * tanh(v);"));
}

#[test]
fn errors_in_a_function_body_point_at_the_body_and_at_the_call() {
    let errors = errors(&cell(
        "fn squash(v) = tanh(v) + u;\nh[t] = squash(x[t] @ W + h[t-1] @ U + b);",
    ));
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert_eq!(errors[0].text, "u");
    assert!(
        errors[0].message.starts_with("unknown name `u`"),
        "{errors:#?}"
    );
    assert_eq!(errors[1].text, "squash");
    assert_eq!(
        errors[1].message,
        "in this call of `squash`: its body has the errors reported at its definition"
    );
}

#[test]
fn a_function_named_like_a_builtin_is_refused() {
    let e = error_starting(
        &cell("fn tanh(v) = v;\nh[t] = tanh(x[t] @ W + h[t-1] @ U + b);"),
        "`tanh` is a built-in",
    );
    assert_eq!(e.text, "tanh");
    assert_eq!(
        e.message,
        "`tanh` is a built-in function: give your function another name"
    );
}

#[test]
fn recursive_functions_are_refused() {
    let e = error_starting(
        &cell("fn f(v) = g(v);\nfn g(v) = tanh(f(v));\nh[t] = f(x[t] @ W + h[t-1] @ U + b);"),
        "`f` calls itself",
    );
    assert_eq!(e.text, "f");
    assert!(e.message.contains("(f -> g -> f)"), "{}", e.message);
}

#[test]
fn function_arity_unused_functions_and_arguments() {
    let e = error("fn squash(v, k) = k * tanh(v);\nh[t] = squash(x[t] @ W + h[t-1] @ U + b);");
    assert_eq!(
        e.message,
        "`squash` takes 2 arguments, as `squash(v, k)`; found 1"
    );
    let e = error("fn squash(v) = tanh(v);\nh[t] = tanh(x[t] @ W + h[t-1] @ U + b);");
    assert_eq!(e.text, "squash");
    assert_eq!(
        e.message,
        "function `squash` is never called: remove it or use it"
    );
    let e = error("fn squash(v, k) = tanh(v);\nh[t] = squash(x[t] @ W + h[t-1] @ U + b, 2);");
    assert_eq!(e.text, "k");
    assert_eq!(
        e.message,
        "argument `k` of `squash` is not used in its body"
    );
    let e = error_starting(
        &cell("fn f(v, v) = tanh(v);\nh[t] = f(x[t] @ W + h[t-1] @ U + b, b);"),
        "argument `v` of `f` is named twice",
    );
    assert_eq!(e.text, "v");
    let e = error_starting(
        &cell("fn f(v) = tanh(v);\nfn f(v) = v;\nh[t] = f(x[t] @ W + h[t-1] @ U + b);"),
        "function `f` is defined twice",
    );
    assert_eq!(e.text, "f");
}

#[test]
fn a_function_argument_is_a_value_not_a_sequence() {
    let e = error_starting(
        &cell("fn f(v) = tanh(v[t-1]);\nh[t] = f(x[t] @ W + h[t-1] @ U + b);"),
        "`v` is an argument of `f`",
    );
    assert_eq!(e.text, "v[t-1]");
    assert_eq!(
        e.message,
        "`v` is an argument of `f`, a value of the current step: write `v`, not `v[t-1]`"
    );
}

#[test]
fn function_arguments_are_lowered_in_the_callers_scope() {
    // `f(g(v))`: the argument `g(v)` of `f` reads the `v` of `g`'s caller, not `f`'s own.
    let src =
        cell("fn g(v) = 2 * v;\nfn f(v) = tanh(v) + v;\nh[t] = f(g(x[t] @ W + h[t-1] @ U + b));");
    let tokens: proc_macro2::TokenStream = src.parse().unwrap();
    let source = Source::from_macro_input(tokens).unwrap();
    compile(&source).expect("compiles");
}

// ----------------------------------------------------------------------------------------------
// Transposed weights

#[test]
fn a_transposed_matrix_is_only_the_right_operand_of_a_product() {
    let e = error("h[t] = tanh(x[t] @ W + h[t-1] @ U + b) * sum(U^T);");
    assert_eq!(e.text, "U^T");
    assert_eq!(
        e.message,
        "a transposed matrix `W^T` (or `transpose(W)`) can only be the right operand of `@`, as in `h[t-1] @ W^T`"
    );
    let e = error_starting(
        &cell("h[t] = tanh(x[t] @ W + h[t-1] @ b^T);"),
        "`^T` transposes",
    );
    assert_eq!(e.text, "b");
    assert_eq!(e.message, "`^T` transposes a matrix parameter; `b` is [H]");
}

#[test]
fn a_transposed_product_checks_the_transposed_shape() {
    // W: [I, H], so W^T: [H, I] cannot multiply x[t]: [I].
    let e = error_starting(&cell("h[t] = tanh(x[t] @ W^T + h[t-1] @ U + b);"), "");
    assert!(e.message.contains("W^T"), "{}", e.message);
}

#[test]
fn a_call_goes_by_its_text_unless_its_body_is_an_argument() {
    let src = cell(
        "fn id(v) = v;\nfn half(v) = 0.5 * v;\nh[t] = tanh(id(x[t] @ W) + half(h[t-1] @ U) + b);",
    );
    let tokens: proc_macro2::TokenStream = src.parse().unwrap();
    let source = Source::from_macro_input(tokens).unwrap();
    let compiled = compile(&source).expect("compiles");
    let texts: Vec<&str> = compiled
        .cell
        .graph
        .nodes
        .iter()
        .map(|n| n.text.as_str())
        .collect();
    assert!(texts.contains(&"x[t] @ W"), "{texts:?}");
    assert!(!texts.contains(&"id(x[t] @ W)"), "{texts:?}");
    assert!(texts.contains(&"half(h[t-1] @ U)"), "{texts:?}");
}

#[test]
fn a_mask_needs_a_known_distribution_with_a_probability() {
    let e = error("mask m: [H];\nh[t] = tanh(x[t] @ W + (m * h[t-1]) @ U + b);");
    assert_eq!(e.at(), (7, 5, "m"));
    assert!(
        e.message
            .starts_with("mask `m` needs its distribution: expected `mask m: [H] = bernoulli(p);`"),
        "{}",
        e.message
    );
    let e = error("mask m: [H] = dropout(0.5);\nh[t] = tanh(x[t] @ W + (m * h[t-1]) @ U + b);");
    assert_eq!(e.at(), (7, 14, "dropout"));
    assert!(
        e.message
            .starts_with("unknown distribution `dropout`: expected `bernoulli(p)`"),
        "{}",
        e.message
    );
    assert!(
        e.message
            .contains("`bernoulli_per_step(p)` (drawn at every step)"),
        "{}",
        e.message
    );
    let e = error("mask m: [H] = bernoulli(1.5);\nh[t] = tanh(x[t] @ W + (m * h[t-1]) @ U + b);");
    assert_eq!(e.at(), (7, 24, "1.5"));
    assert_eq!(
        e.message,
        "`bernoulli(1.5)`: expected a probability 0 <= p <= 1"
    );
    let e = error("mask m: [H] = bernoulli;\nh[t] = tanh(x[t] @ W + (m * h[t-1]) @ U + b);");
    assert_eq!(e.at(), (7, 14, "bernoulli"));
    assert!(
        e.message.starts_with("`bernoulli` needs its probability"),
        "{}",
        e.message
    );
    let e = error("mask m: [H] = 0.5;\nh[t] = tanh(x[t] @ W + (m * h[t-1]) @ U + b);");
    assert_eq!(e.at(), (7, 14, "0.5"));
    assert!(
        e.message
            .starts_with("a mask is random: expected `bernoulli(p)`"),
        "{}",
        e.message
    );
}

#[test]
fn a_mask_is_a_vector_used_by_name_and_used() {
    let e =
        error("mask m: [H, H] = bernoulli(0.5);\nh[t] = tanh(x[t] @ W + h[t-1] @ U + b) * sum(m);");
    assert_eq!(e.text, "[H, H]");
    assert!(e.message.contains("a mask"), "{}", e.message);
    let e = error(
        "mask m: [H] = bernoulli_per_step(0.5);\nh[t] = tanh(x[t] @ W + h[t-1] @ U + b) * m[t];",
    );
    assert_eq!(e.at(), (8, 43, "t"));
    assert_eq!(
        e.message,
        "mask `m` is not indexed by time (a per-step mask is drawn anew at every step): expected `m`"
    );
    let e = error("mask m: [H] = bernoulli(0.5);\nh[t] = tanh(x[t] @ W + h[t-1] @ U + b);");
    assert_eq!(e.at(), (7, 5, "m"));
    assert_eq!(
        e.message,
        "unused mask `m`: it appears in no equation; remove it or multiply a value by it"
    );
    // A mask of the wrong size is an ordinary shape error at the operation.
    let e = error_starting(
        &cell("mask m: [I] = bernoulli(0.5);\nh[t] = tanh(x[t] @ W + (m * h[t-1]) @ U + b);"),
        "",
    );
    assert!(
        e.message.contains("[I]") && e.message.contains("[H]"),
        "{}",
        e.message
    );
    // The name is a keyword now, and a mask is not a parameter.
    let e = error_starting(
        &cell("param m: [H] = bernoulli(0.5);\nh[t] = tanh(x[t] @ W + (m * h[t-1]) @ U + b);"),
        "`bernoulli` is the distribution",
    );
    assert_eq!(e.text, "bernoulli");
    assert!(
        e.message.contains("declare `mask m: [H] = bernoulli(p);`"),
        "{}",
        e.message
    );
}

#[test]
fn a_misspelled_mask_is_suggested() {
    let e =
        error("mask m_h: [H] = bernoulli(0.5);\nh[t] = tanh(x[t] @ W + (m_j * h[t-1]) @ U + b);");
    assert_eq!(e.text, "m_j");
    assert!(e.message.ends_with("did you mean `m_h`?"), "{}", e.message);
}
