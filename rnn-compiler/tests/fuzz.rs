//! Robustness of the whole front end (parse, lower, shape check, differentiate, simplify, plan,
//! emit): for any input, `compile_text` returns either tokens that parse as a Rust file, or
//! diagnostics that each point inside the text; it never panics, never loops and never takes
//! unbounded memory. The macro's path (`expand` on the input lexed as Rust tokens) is held to
//! the same standard.
//!
//! Inputs: arbitrary strings, strings built from the language's tokens, random cells generated
//! from the grammar, and mutations of every real spec in `specs/*.rnn` (character and token
//! spans deleted, duplicated or swapped; numbers, names, operators, delays and shapes replaced).
//!
//! Each property runs a bounded number of cases so the file takes well under a minute in the
//! debug profile. `RNN_FUZZ_CASES=N` sets the number of cases of each property (the long-run
//! mode, see `fuzz/README.md`):
//!
//! ```sh
//! RNN_FUZZ_CASES=100000 cargo test --release -p rnn-compiler --test fuzz
//! ```
//!
//! Each case runs in its own thread and fails if it takes more than [`TIMEOUT`]. Regression
//! tests for the inputs the fuzzing found are at the end of the file.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError};

/// How long one input may take (all stages, both paths, in the debug profile).
const TIMEOUT: Duration = Duration::from_secs(5);

/// Stack of the thread each case runs in: the default of spawned threads (2 MiB), smaller than
/// the compiler gets inside rustc, so that unbounded recursion shows up here first.
const STACK: usize = 2 << 20;

/// Inputs checked so far by this process (reported by the long run).
static EXECUTIONS: AtomicU64 = AtomicU64::new(0);

/// Cases per property: `RNN_FUZZ_CASES` or `default`.
fn cases(default: u32) -> u32 {
    std::env::var("RNN_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn config(default: u32) -> Config {
    Config {
        cases: cases(default),
        failure_persistence: None,
        // Shrinking re-runs failing inputs; bound it so a failure is reported in time.
        max_shrink_iters: 2048,
        ..Config::default()
    }
}

/// The invariants of one input, on the text path and on the macro's path. `Err` says what was
/// wrong.
fn invariants(text: &str) -> Result<(), String> {
    match rnn_compiler::compile_text(text) {
        Ok(compiled) => {
            if let Err(e) = syn::parse2::<syn::File>(compiled.tokens.clone()) {
                return Err(format!("compiled, but the tokens are not a Rust file: {e}"));
            }
        }
        Err(diagnostics) => {
            if diagnostics.is_empty() {
                return Err("Err with no diagnostic".into());
            }
            for d in &diagnostics {
                let p = d.pos;
                if p.start > p.end
                    || p.end > text.len()
                    || !text.is_char_boundary(p.start)
                    || !text.is_char_boundary(p.end)
                {
                    return Err(format!(
                        "diagnostic at {}..{} is not a range of the text ({} bytes): {}",
                        p.start,
                        p.end,
                        text.len(),
                        d.message
                    ));
                }
                if d.message.is_empty() {
                    return Err(format!("empty message at {}..{}", p.start, p.end));
                }
            }
        }
    }
    // The macro's path: the text lexed as Rust tokens (when it lexes), then `expand`.
    if let Ok(tokens) = text.parse::<proc_macro2::TokenStream>() {
        let out = rnn_compiler::expand(tokens);
        if let Err(e) = syn::parse2::<syn::File>(out) {
            return Err(format!("the expansion is not a Rust file: {e}"));
        }
    }
    Ok(())
}

/// Runs [`invariants`] in a thread with a small stack and a time limit. A panic in the compiler
/// (or a stack overflow, which aborts the process) fails the test.
fn check(text: &str) -> Result<(), String> {
    EXECUTIONS.fetch_add(1, Ordering::Relaxed);
    let (tx, rx) = mpsc::channel();
    let owned = text.to_string();
    let handle = std::thread::Builder::new()
        .stack_size(STACK)
        .spawn(move || {
            let result = invariants(&owned);
            let _ = tx.send(result);
        })
        .expect("spawn a fuzz case");
    match rx.recv_timeout(TIMEOUT) {
        Ok(result) => {
            handle.join().expect("the case's thread ends");
            result
        }
        Err(mpsc::RecvTimeoutError::Timeout) => Err(format!("took more than {TIMEOUT:?}")),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            let payload = handle.join().expect_err("the case's thread panicked");
            let message = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Err(format!("panicked: {message}"))
        }
    }
}

fn prop_check(text: &str) -> Result<(), TestCaseError> {
    check(text).map_err(|e| TestCaseError::fail(format!("{e}\ninput: {text:?}")))
}

// ---------------------------------------------------------------------------------------------
// Inputs.

/// Every spec of the workspace: (file name, text).
fn specs() -> &'static [(String, String)] {
    static SPECS: OnceLock<Vec<(String, String)>> = OnceLock::new();
    SPECS.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../specs");
        let mut specs: Vec<(String, String)> = std::fs::read_dir(&dir)
            .expect("specs/ of the workspace")
            .map(|e| e.expect("a directory entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "rnn"))
            .map(|p| {
                let text = std::fs::read_to_string(&p).expect("a readable spec");
                (p.file_name().unwrap().to_string_lossy().into_owned(), text)
            })
            .collect();
        specs.sort();
        assert!(specs.len() >= 10, "the specs of the workspace are found");
        specs
    })
}

/// Tokens of the language (and a few that are not), for token soups and replacements.
const TOKENS: &[&str] = &[
    "cell",
    "input",
    "state",
    "param",
    "output",
    "pub",
    "pub(crate)",
    "t",
    "x",
    "h",
    "c",
    "W",
    "U",
    "b",
    "H",
    "I",
    "a",
    "_",
    "Foo",
    "sigmoid",
    "tanh",
    "relu",
    "exp",
    "log",
    "sqrt",
    "mean",
    "sum",
    "concat",
    "softsign",
    "hard_sigmoid",
    "zeros",
    "ones",
    "xavier",
    "orthogonal",
    "uniform",
    "[",
    "]",
    "(",
    ")",
    "{",
    "}",
    ";",
    ",",
    ":",
    "=",
    "@",
    "+",
    "-",
    "*",
    "/",
    "0",
    "1",
    "2",
    "1.0",
    "1e-5",
    "1e999",
    "99999999999999999999",
    "0.5",
    "t-1",
    "t+1",
    "t-99",
    "[t]",
    "[t-1]",
    "// a comment\n",
    "/// a doc\n",
    "#[doc = \"d\"]",
    "/* c */",
    "\n",
    " ",
    "é",
    "\"",
    "#",
    "'",
    "\\",
    "!",
];

const OPERATORS: &[&str] = &[
    "+", "-", "*", "/", "@", "=", ";", ",", ":", "(", ")", "[", "]",
];

const NAMES: &[&str] = &[
    "x", "h", "c", "W", "U", "b", "H", "I", "t", "cell", "input", "state", "param", "output",
    "pub", "sigmoid", "tanh", "mean", "sum", "concat", "zeros", "uniform", "fn", "self", "r#x",
    "_", "__", "a1", "Self", "crate", "x_t", "Dims", "F", "rng", "dims",
];

const NUMBERS: &[&str] = &[
    "0",
    "1",
    "2",
    "0.0",
    "1.0",
    "-1",
    "1e-5",
    "1e999",
    "1e-999",
    "99999999999999999999",
    "4294967296",
    "2147483648",
    "65536",
    "65537",
    "9223372036854775807",
    "0.",
    "00",
    "1e",
];

const DELAYS: &[&str] = &[
    "t",
    "t-0",
    "t+1",
    "t-1",
    "t-2",
    "t-50",
    "t-99",
    "t-65536",
    "t-65537",
    "t-99999999999999999999",
    "t+0",
    "t-",
    "t1",
    "t - 1",
];

const SHAPES: &[&str] = &[
    "[H]",
    "[I]",
    "[I, H]",
    "[H, H]",
    "[]",
    "[H, H, H]",
    "[0]",
    "[H - H]",
    "[2*H]",
    "[I + H]",
    "[1]",
    "[4294967296]",
    "[H - 99999999999999999999]",
    "[0*H]",
    "[-1]",
    "[H,]",
    "[x]",
];

/// The spec split into tokens: names, numbers, comments, whitespace, and single characters.
fn lex(text: &str) -> Vec<&str> {
    let mut out = vec![];
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        let len = if c.is_ascii_alphabetic() || c == '_' {
            rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len())
        } else if c.is_ascii_digit() {
            rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(rest.len())
        } else if rest.starts_with("//") {
            rest.find('\n').unwrap_or(rest.len())
        } else if c.is_whitespace() {
            rest.find(|c: char| !c.is_whitespace())
                .unwrap_or(rest.len())
        } else {
            c.len_utf8()
        };
        out.push(&rest[..len]);
        rest = &rest[len..];
    }
    out
}

/// A char-boundary-safe range of `text` from two random numbers.
fn char_range(text: &str, a: usize, len: usize) -> std::ops::Range<usize> {
    let chars: Vec<usize> = text
        .char_indices()
        .map(|(i, _)| i)
        .chain([text.len()])
        .collect();
    let n = chars.len();
    let s = a % n;
    let e = (s + len % 24).min(n - 1);
    chars[s]..chars[e]
}

/// One mutation: what to do, and random numbers saying where and with what.
#[derive(Debug, Clone)]
struct Mutation {
    kind: u8,
    a: usize,
    b: usize,
    c: usize,
}

fn mutation() -> impl Strategy<Value = Mutation> {
    (0u8..14, any::<usize>(), any::<usize>(), any::<usize>()).prop_map(|(kind, a, b, c)| Mutation {
        kind,
        a,
        b,
        c,
    })
}

/// Replaces the `a`-th token satisfying `pred` (modulo their number) by `with`.
fn replace_token(text: &str, a: usize, pred: impl Fn(&str) -> bool, with: &str) -> String {
    let tokens = lex(text);
    let hits: Vec<usize> = (0..tokens.len()).filter(|&i| pred(tokens[i])).collect();
    if hits.is_empty() {
        return text.to_string();
    }
    let k = hits[a % hits.len()];
    let mut out = String::new();
    for (i, t) in tokens.iter().enumerate() {
        out.push_str(if i == k { with } else { t });
    }
    out
}

/// Replaces the `a`-th match of the pattern `find` (a literal substring) by `with`.
fn replace_match(text: &str, a: usize, find: &[&str], with: &str) -> String {
    let mut hits = vec![];
    for f in find {
        hits.extend(text.match_indices(f).map(|(i, m)| (i, m.len())));
    }
    if hits.is_empty() {
        return text.to_string();
    }
    hits.sort();
    let (i, len) = hits[a % hits.len()];
    format!("{}{with}{}", &text[..i], &text[i + len..])
}

fn apply(text: &str, m: &Mutation) -> String {
    let pick = |list: &[&'static str]| list[m.b % list.len()];
    match m.kind {
        // Character spans.
        0 => {
            let r = char_range(text, m.a, m.b);
            format!("{}{}", &text[..r.start], &text[r.end..])
        }
        1 => {
            let r = char_range(text, m.a, m.b);
            format!("{}{}{}", &text[..r.end], &text[r.clone()], &text[r.end..])
        }
        2 => {
            let r1 = char_range(text, m.a, m.c);
            let r2 = char_range(text, m.b, m.c);
            let (r1, r2) = if r1.start <= r2.start {
                (r1, r2)
            } else {
                (r2, r1)
            };
            if r1.end > r2.start {
                return text.to_string();
            }
            format!(
                "{}{}{}{}{}",
                &text[..r1.start],
                &text[r2.clone()],
                &text[r1.end..r2.start],
                &text[r1],
                &text[r2.end..]
            )
        }
        // Token spans.
        3..=5 => {
            let mut tokens: Vec<&str> = lex(text);
            if tokens.is_empty() {
                return text.to_string();
            }
            let n = tokens.len();
            let s = m.a % n;
            let e = (s + 1 + m.c % 8).min(n);
            match m.kind {
                3 => {
                    tokens.drain(s..e);
                }
                4 => {
                    let span: Vec<&str> = tokens[s..e].to_vec();
                    tokens.splice(e..e, span);
                }
                _ => {
                    let j = m.b % n;
                    tokens.swap(s, j);
                }
            }
            tokens.concat()
        }
        // A token inserted anywhere.
        6 => {
            let tokens = lex(text);
            let at = m.a % (tokens.len() + 1);
            let mut out: Vec<&str> = tokens;
            out.insert(at, pick(TOKENS));
            out.concat()
        }
        // Replacements.
        7 => replace_token(
            text,
            m.a,
            |t| t.starts_with(|c: char| c.is_ascii_digit()),
            pick(NUMBERS),
        ),
        8 => replace_token(
            text,
            m.a,
            |t| t.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_'),
            pick(NAMES),
        ),
        9 => {
            // A name replaced by another name of the same spec.
            let tokens = lex(text);
            let names: Vec<&str> = tokens
                .iter()
                .copied()
                .filter(|t| t.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_'))
                .collect();
            if names.is_empty() {
                return text.to_string();
            }
            let with = names[m.b % names.len()].to_string();
            replace_token(
                text,
                m.a,
                |t| t.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_'),
                &with,
            )
        }
        10 => replace_token(
            text,
            m.a,
            |t| OPERATORS.contains(&t) || t == "{" || t == "}",
            pick(OPERATORS),
        ),
        11 => replace_match(
            text,
            m.a,
            &["t-1]", "t-2]", "t]"],
            &format!("{}]", pick(DELAYS)),
        ),
        12 => {
            // A shape: the `[...]` after a `:`.
            let mut hits = vec![];
            for (i, _) in text.match_indices(':') {
                let rest = &text[i + 1..];
                let Some(open) = rest.find('[') else { continue };
                if !rest[..open].trim().is_empty() {
                    continue;
                }
                let Some(close) = rest.find(']') else {
                    continue;
                };
                hits.push((i + 1 + open, i + 1 + close + 1));
            }
            if hits.is_empty() {
                return text.to_string();
            }
            let (s, e) = hits[m.a % hits.len()];
            format!("{}{}{}", &text[..s], pick(SHAPES), &text[e..])
        }
        // A whole line deleted or duplicated.
        _ => {
            let lines: Vec<&str> = text.split_inclusive('\n').collect();
            if lines.is_empty() {
                return text.to_string();
            }
            let k = m.a % lines.len();
            let mut out: Vec<&str> = lines.clone();
            if m.c.is_multiple_of(2) {
                out.remove(k);
            } else {
                out.insert(k, lines[k]);
            }
            out.concat()
        }
    }
}

/// A random expression of the language over the names of [`generated_cell`], depth-bounded.
fn expr() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("x[t]".to_string()),
        Just("x[t-1]".to_string()),
        Just("h[t-1]".to_string()),
        Just("h[t-2]".to_string()),
        Just("c[t-1]".to_string()),
        Just("h[t]".to_string()),
        Just("b".to_string()),
        Just("g".to_string()),
        Just("a".to_string()),
        Just("W".to_string()),
        Just("U".to_string()),
        Just("s".to_string()),
        Just("x".to_string()),
        (0u32..4).prop_map(|n| n.to_string()),
        Just("0.5".to_string()),
        Just("1e-5".to_string()),
    ];
    leaf.prop_recursive(6, 48, 3, |inner| {
        prop_oneof![
            (
                inner.clone(),
                prop::sample::select(vec!["+", "-", "*", "/", "@"]),
                inner.clone()
            )
                .prop_map(|(l, op, r)| format!("{l} {op} {r}")),
            inner.clone().prop_map(|e| format!("({e})")),
            inner.clone().prop_map(|e| format!("-{e}")),
            (
                prop::sample::select(vec![
                    "sigmoid",
                    "tanh",
                    "relu",
                    "exp",
                    "log",
                    "sqrt",
                    "softsign",
                    "hard_sigmoid",
                    "mean",
                    "sum",
                    "foo",
                ]),
                inner.clone()
            )
                .prop_map(|(f, e)| format!("{f}({e})")),
            (inner.clone(), inner.clone()).prop_map(|(l, r)| format!("concat({l}, {r}) @ W")),
            (inner.clone(), inner).prop_map(|(l, r)| format!("tanh({l}, {r})")),
        ]
    })
}

/// A random cell: fixed declarations, random equations (some valid, most not).
fn generated_cell() -> impl Strategy<Value = String> {
    let target = prop::sample::select(vec!["h[t]", "c[t]", "a", "h", "x[t]", "h[t-1]", "b", "a"]);
    (
        prop::collection::vec((target, expr()), 1..6),
        prop::option::of(expr()),
        prop::sample::select(vec!["[H]", "[I]", "[I, H]", "[H, H]", "[]", "[2*H]"]),
    )
        .prop_map(|(eqs, output, shape)| {
            let mut s = String::from(
                "pub cell Gen {\n    input x: [I];\n    state h: [H], c: [H];\n    \
                 param W: [I, H];\n    param U: [H, H];\n    param b: [H] = 1.0;\n    \
                 param g: [H] = ones;\n    param s: [];\n",
            );
            s += &format!("    param V: {shape};\n");
            for (t, e) in eqs {
                s += &format!("    {t} = {e};\n");
            }
            if let Some(o) = output {
                s += &format!("    output {o};\n");
            }
            s += "}\n";
            s
        })
}

/// A soup of the language's tokens.
fn token_soup() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(prop::sample::select(TOKENS.to_vec()), 0..64),
        any::<bool>(),
    )
        .prop_map(|(tokens, spaced)| tokens.join(if spaced { " " } else { "" }))
}

/// A soup after a valid prefix, so the parser gets past the cell's header.
fn prefixed_soup() -> impl Strategy<Value = String> {
    token_soup().prop_map(|s| format!("cell Foo {{ input x: [I]; state h: [H]; {s}"))
}

// ---------------------------------------------------------------------------------------------
// Properties.

proptest! {
    #![proptest_config(config(1000))]

    /// Arbitrary Unicode strings.
    #[test]
    fn arbitrary_strings(text in "\\PC{0,200}") {
        prop_check(&text)?;
    }

    /// Arbitrary bytes read as (lossy) UTF-8, as the cargo-fuzz target does.
    #[test]
    fn arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        prop_check(&String::from_utf8_lossy(&bytes))?;
    }

    /// Strings of the language's tokens.
    #[test]
    fn token_soups(text in token_soup()) {
        prop_check(&text)?;
    }

    /// Token soups after a cell header.
    #[test]
    fn prefixed_token_soups(text in prefixed_soup()) {
        prop_check(&text)?;
    }

    /// Cells generated from the grammar: declarations and random expressions.
    #[test]
    fn generated_cells(text in generated_cell()) {
        prop_check(&text)?;
    }
}

/// Deeply nested expressions: parentheses, negations, calls, long operator chains and long
/// delays, up to thousands deep (the compiler rejects what is too deep with a diagnostic).
fn deep_cell() -> impl Strategy<Value = String> {
    let wrapper = prop::sample::select(vec!["(", "-", "tanh(", "mean(", "- (", "x[t] * ("]);
    (
        prop::collection::vec(wrapper, 0..3000),
        0usize..3000,
        prop::sample::select(vec!["+", "*", "-", "/", "@"]),
        0i64..70000,
    )
        .prop_map(|(wrappers, chain, op, delay)| {
            let mut e = String::new();
            for w in &wrappers {
                e += w;
            }
            e += &format!("h[t-{delay}]");
            for _ in 0..chain {
                e += &format!(" {op} h[t-1]");
            }
            for w in wrappers.iter().rev() {
                if w.ends_with('(') {
                    e += ")";
                }
            }
            format!("cell Deep {{ input x: [H]; state h: [H]; h[t] = {e}; }}")
        })
}

proptest! {
    #![proptest_config(config(60))]

    /// Deep and long expressions.
    #[test]
    fn deep_cells(text in deep_cell()) {
        prop_check(&text)?;
    }
}

proptest! {
    #![proptest_config(config(2000))]

    /// One to four mutations of a real spec.
    #[test]
    fn mutated_specs(
        which in any::<usize>(),
        mutations in prop::collection::vec(mutation(), 1..5),
    ) {
        let (_, original) = &specs()[which % specs().len()];
        let mut text = original.clone();
        for m in &mutations {
            text = apply(&text, m);
        }
        prop_check(&text)?;
    }
}

/// Every real spec compiles, and every single mutation of each kind at a few places keeps the
/// invariants (deterministic, so it is a smoke test of the mutators too).
#[test]
fn specs_and_their_mutations() {
    for (name, text) in specs() {
        assert!(
            rnn_compiler::compile_text(text).is_ok(),
            "{name} compiles as it is"
        );
        for kind in 0..14 {
            for a in [0, 7, 31, 1000] {
                let m = Mutation {
                    kind,
                    a,
                    b: a * 3 + kind as usize,
                    c: a + 5,
                };
                let mutated = apply(text, &m);
                if let Err(e) = check(&mutated) {
                    panic!("{name} with {m:?}: {e}\ninput: {mutated:?}");
                }
            }
        }
    }
}

/// The long run's count, printed when `RNN_FUZZ_CASES` is set (run with `--nocapture` or
/// `--test-threads=1` to see it at the end).
#[test]
fn zz_report_executions() {
    if std::env::var_os("RNN_FUZZ_CASES").is_some() {
        eprintln!(
            "fuzz: {} inputs checked by the tests that finished before this one",
            EXECUTIONS.load(Ordering::Relaxed)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Regression tests: inputs the fuzzing found, shrunk.

fn regression(text: &str) {
    if let Err(e) = check(text) {
        panic!("{e}\ninput: {text:?}");
    }
}

/// A parse error at the end of the text pointed one byte past it.
#[test]
fn syntax_error_at_the_end_points_inside_the_text() {
    regression("");
    regression("cell Foo { input x: [I]; state h: [H]; ");
    let d = rnn_compiler::compile_text("cell Foo {").err().unwrap();
    assert_eq!((d[0].pos.start, d[0].pos.end), (10, 10));
}

/// A parse error at a multi-byte character pointed inside it.
#[test]
fn syntax_error_at_a_multibyte_character_covers_it() {
    regression("⼀");
    regression("cell Foo { é }");
    let d = rnn_compiler::compile_text("cell é").err().unwrap();
    assert_eq!((d[0].pos.start, d[0].pos.end), (5, 7));
}

/// The body of a cell whose one equation is `h[t] = {e};`.
fn deep(e: &str) -> String {
    format!("cell Deep {{ input x: [H]; state h: [H]; h[t] = {e}; }}")
}

/// The first diagnostic of a spec that must not compile: (its text, its message).
fn first_error(text: &str) -> (String, String) {
    regression(text);
    let d = rnn_compiler::compile_text(text).err().expect("an error");
    (
        text[d[0].pos.start..d[0].pos.end].to_string(),
        d[0].message.clone(),
    )
}

/// 3000 nested parentheses overflowed the parser's stack (abort); nested calls too.
#[test]
fn deeply_nested_parentheses_are_an_error() {
    for open in ["(", "tanh(", "x[t] * ("] {
        let text = deep(&format!("{}h[t-1]{}", open.repeat(3000), ")".repeat(3000)));
        let (at, message) = first_error(&text);
        assert!(at == "(" || at == "[", "{open}: {at}");
        assert!(
            message.starts_with("nested too deeply: expected at most 256 levels"),
            "{message}"
        );
    }
    // Brackets in comments and doc strings do not count.
    let comment = format!("// {}\n", "(".repeat(1000));
    let doc = format!("#[doc = \"{}\"]\n", "[".repeat(1000));
    regression(&format!(
        "{doc}{comment}cell A {{ input x: [H]; state h: [H]; {comment} h[t] = x[t]; }}"
    ));
    assert!(rnn_compiler::compile_text(&format!(
        "{doc}{comment}cell A {{ input x: [H]; state h: [H]; {comment} h[t] = x[t]; }}"
    ))
    .is_ok());
}

/// 3000 negations, or a sum of 3000 terms, overflowed the stack while lowering (abort); a sum of
/// 100 000 terms overflowed it while dropping the expression.
#[test]
fn too_deep_expressions_are_an_error() {
    for e in [
        format!("{}h[t-1]", "-".repeat(3000)),
        format!("h[t-1]{}", " + x[t]".repeat(3000)),
        format!("h[t-1]{}", " * x[t]".repeat(100_000)),
    ] {
        let (at, message) = first_error(&deep(&e));
        assert!(["-", "+", "*", "("].contains(&at.as_str()), "{at}");
        assert!(
            message.starts_with("expression too deep: expected at most 1024"),
            "{message}"
        );
    }
    // Up to the limit it compiles.
    regression(&deep(&format!("{}h[t-1]", "-".repeat(1024))));
    regression(&deep(&format!(
        "tanh({}h[t-1]{})",
        "- (".repeat(200),
        ")".repeat(200)
    )));
    assert!(
        rnn_compiler::compile_text(&deep(&format!("h[t-1]{}", " + x[t]".repeat(1024)))).is_ok()
    );
}

/// A chain of 1000 divisions took more than 5 s through both paths: the rustdoc derivation of
/// the generated type spelled out every prefix of the chain in every adjoint term (20 MB of
/// tokens for a 9 KB spec). Long node texts are now abbreviated there.
#[test]
fn long_chains_expand_to_linear_size() {
    let text = deep(&format!(
        "x[t] * tanh(-mean(h[t-2]{}))",
        " / h[t-1]".repeat(1000)
    ));
    regression(&text);
    let tokens = match rnn_compiler::compile_text(&text) {
        Ok(c) => c.tokens,
        Err(d) => panic!("{:?}", d[0]),
    };
    let len = tokens.to_string().len();
    assert!(len < 8_000_000, "{len} bytes of tokens");
}
