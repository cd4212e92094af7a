//! Pathological but valid specs compile, in bounded time: hundreds of equations, deeply nested
//! expressions, long operator chains, long delays. Each test asserts only a loose bound (the
//! times are measured precisely by `examples/expansion_times.rs`); the bound is there to catch a
//! blow-up (quadratic or worse), not to benchmark.

use std::time::{Duration, Instant};

/// Generous: a debug build on a loaded machine. Release times are in the README of `fuzz/`.
const BOUND: Duration = Duration::from_secs(5);

/// Compiles `text` (which must compile), turns the tokens into a string and parses them as a
/// Rust file; returns the time of `compile_text` plus `to_string` and the size of the tokens.
fn expand(what: &str, text: &str) -> (Duration, usize) {
    let start = Instant::now();
    let compiled = rnn_compiler::compile_text(text)
        .unwrap_or_else(|d| panic!("{what} does not compile: {:?}", &d[..d.len().min(3)]));
    let s = compiled.tokens.to_string();
    let elapsed = start.elapsed();
    syn::parse2::<syn::File>(compiled.tokens).expect("the tokens are a Rust file");
    eprintln!("{what}: {elapsed:?}, {} bytes of tokens", s.len());
    assert!(elapsed < BOUND, "{what} took {elapsed:?}");
    (elapsed, s.len())
}

/// `n` chained intermediates (n + 1 equations), as in `examples/expansion_times.rs`.
fn chain_spec(n: usize) -> String {
    let mut s = format!(
        "pub cell Chain{n} {{\n    input x: [I];\n    state h: [H];\n    param W: [I, H];\n    \
         param U: [H, H];\n\n    a1 = tanh(x[t] @ W + h[t-1] @ U);\n"
    );
    for k in 2..=n {
        s += &format!("    a{k} = sigmoid(a{p}) * a{p};\n", p = k - 1);
    }
    s += &format!("    h[t] = a{n};\n}}\n");
    s
}

#[test]
fn five_hundred_equations() {
    expand("500 chained equations", &chain_spec(500));
}

/// 500 independent gates, each with its own parameters, summed into the state.
#[test]
fn five_hundred_gates_with_their_own_parameters() {
    let n = 500;
    let mut s = String::from("cell Wide {\n    input x: [I];\n    state h: [H];\n");
    for k in 0..n {
        s += &format!("    param W{k}: [I, H];\n    param b{k}: [H];\n");
    }
    for k in 0..n {
        s += &format!("    g{k} = sigmoid(x[t] @ W{k} + b{k}) * h[t-1];\n");
    }
    s += "    h[t] = tanh(g0";
    for k in 1..n {
        s += &format!(" + g{k}");
    }
    s += ");\n}\n";
    expand("500 gates, 1000 parameters", &s);
}

/// The body of a cell with one state `h` and input `x` of the same size.
fn cell(body: &str) -> String {
    format!(
        "cell Deep {{\n    input x: [H];\n    state h: [H];\n    param U: [H, H];\n{body}\n}}\n"
    )
}

#[test]
fn two_hundred_deep_expressions() {
    let depth = 200;
    let nested = |open: &str, close: &str| {
        format!(
            "    h[t] = {}h[t-1] @ U{};",
            open.repeat(depth),
            close.repeat(depth)
        )
    };
    expand("200 nested tanh(", &cell(&nested("tanh(", ")")));
    expand("200 nested parentheses", &cell(&nested("(", ")")));
    expand("200 nested x[t] * (", &cell(&nested("x[t] * (", ")")));
    expand("200 nested -(", &cell(&nested("-(", ")")));
    expand(
        "200 nested sigmoid(x[t] + ",
        &cell(&nested("sigmoid(x[t] + ", ")")),
    );
}

#[test]
fn long_operator_chains() {
    let chain = |op: &str, n: usize| {
        format!(
            "    h[t] = tanh(h[t-1] @ U{});",
            format!(" {op} x[t]").repeat(n)
        )
    };
    expand("a sum of 1000 terms", &cell(&chain("+", 999)));
    expand("a product of 1000 factors", &cell(&chain("*", 999)));
    expand("1000 divisions", &cell(&chain("/", 999)));
}

#[test]
fn long_delays() {
    expand(
        "delay 50",
        &cell("    h[t] = tanh(x[t-50] + h[t-50] @ U + h[t-1]);"),
    );
    let mut terms = String::from("h[t-1] @ U");
    for k in 2..=50 {
        terms += &format!(" + h[t-{k}] + x[t-{k}]");
    }
    expand(
        "every delay up to 50",
        &cell(&format!("    h[t] = tanh({terms});")),
    );
    expand(
        "delay 65536 (the largest)",
        &cell("    h[t] = tanh(x[t] + h[t-65536] @ U);"),
    );
}

/// Functions that each call the previous one twice, 40 deep: 2^40 expansions if nothing stopped
/// them. The compiler refuses quickly with a message, instead of hanging.
#[test]
fn doubly_nested_user_functions_are_refused_quickly() {
    let mut src = String::from("cell Deep {\n input x: [I];\n state h: [H];\n param W: [I, H];\n");
    src += " fn f0(v) = tanh(v);\n";
    for k in 1..40 {
        src += &format!(" fn f{k}(v) = f{}(v) + f{}(2 * v);\n", k - 1, k - 1);
    }
    src += " h[t] = f39(x[t] @ W + h[t-1]);\n}\n";
    let start = std::time::Instant::now();
    let Err(errors) = rnn_compiler::compile_text(&src) else {
        panic!("expected an error: too many expansions");
    };
    assert!(
        errors
            .iter()
            .any(|e| e.message.contains("more than 20000 calls")),
        "{errors:?}"
    );
    assert!(
        start.elapsed().as_secs_f64() < 10.0,
        "{:?}",
        start.elapsed()
    );
}
