//! How long the compiler takes to expand each spec: `compile_text` plus turning the tokens into
//! a string (no pretty-printing), median of 20 runs, for every `specs/*.rnn` of the workspace
//! and for a generated chain of 500 intermediates. When the chain takes more than a second, the
//! time of each stage (parse, lower, differentiate, simplify, plan, emit, to_string) is shown
//! (also when `EXPANSION_PROFILE` is set).
//!
//! ```sh
//! cargo run --release -p rnn-compiler --example expansion_times
//! ```

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rnn_compiler::{compile_text, diff, emit, lower, parse, plan, simplify};

const RUNS: usize = 20;

/// The median of `runs` timings of `f`, in milliseconds.
fn median_ms(runs: usize, mut f: impl FnMut()) -> f64 {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    let mid = times.len() / 2;
    let median = if times.len().is_multiple_of(2) {
        (times[mid - 1] + times[mid]) / 2
    } else {
        times[mid]
    };
    median.as_secs_f64() * 1e3
}

/// What the macro does for a spec, up to the expansion as a string.
fn expand(text: &str) -> usize {
    let compiled =
        compile_text(text).unwrap_or_else(|d| panic!("the spec does not compile: {d:?}"));
    compiled.tokens.to_string().len()
}

/// A valid spec of `n` chained intermediates: `a1 = tanh(x[t] @ W + h[t-1] @ U)`,
/// `a{k} = sigmoid(a{k-1}) * a{k-1}`, and `h[t] = a{n}` (n + 1 equations).
fn chain_spec(n: usize) -> String {
    let mut s = format!(
        "/// A chain of {n} intermediates.\n\
         pub cell Chain{n} {{\n    input x: [I];\n    state h: [H];\n    param W: [I, H];\n    \
         param U: [H, H];\n\n    a1 = tanh(x[t] @ W + h[t-1] @ U);\n"
    );
    for k in 2..=n {
        s += &format!("    a{k} = sigmoid(a{p}) * a{p};\n", p = k - 1);
    }
    s += &format!("    h[t] = a{n};\n}}\n");
    s
}

/// The median time of every stage of the compiler on `text`, one line each.
fn profile_stages(text: &str, runs: usize) {
    let ast = parse::parse(text).expect("parses");
    let cell = lower::lower(&ast).expect("lowers");
    let partials = diff::differentiate(&cell.graph);
    let simplified = simplify::simplify(&cell.graph, partials.clone());
    let planned = plan::plan(&cell, &simplified);
    let span = proc_macro2::Span::call_site();
    let tokens = emit::emit(
        &cell,
        &planned,
        &simplified,
        span,
        quote::quote!(::recurrent::__private),
    );
    let stages: [(&str, f64); 7] = [
        (
            "parse",
            median_ms(runs, || drop(parse::parse(text).unwrap())),
        ),
        (
            "lower",
            median_ms(runs, || drop(lower::lower(&ast).unwrap())),
        ),
        (
            "differentiate",
            median_ms(runs, || drop(diff::differentiate(&cell.graph))),
        ),
        (
            "simplify",
            median_ms(runs, || {
                drop(simplify::simplify(&cell.graph, partials.clone()))
            }),
        ),
        (
            "plan",
            median_ms(runs, || drop(plan::plan(&cell, &simplified))),
        ),
        (
            "emit",
            median_ms(runs, || {
                drop(emit::emit(
                    &cell,
                    &planned,
                    &simplified,
                    span,
                    quote::quote!(::recurrent::__private),
                ))
            }),
        ),
        ("to_string", median_ms(runs, || drop(tokens.to_string()))),
    ];
    let total: f64 = stages.iter().map(|s| s.1).sum();
    for (name, ms) in stages {
        println!("    {name:<14} {ms:>10.2} ms  {:>5.1}%", 100.0 * ms / total);
    }
    println!(
        "    (simplify includes cloning the partials; {} bytes of tokens)",
        tokens.to_string().len()
    );
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the compiler sits in the workspace")
        .to_path_buf();
    let mut specs: Vec<PathBuf> = std::fs::read_dir(root.join("specs"))
        .expect("specs/ of the workspace")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "rnn"))
        .collect();
    specs.sort();

    println!("compile_text + tokens.to_string(), median of {RUNS} runs");
    let mut slowest = (String::new(), 0.0);
    for path in &specs {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(path).expect("a readable spec");
        let ms = median_ms(RUNS, || {
            std::hint::black_box(expand(&text));
        });
        println!("{name:<24} {ms:>10.3}");
        if ms > slowest.1 {
            slowest = (name, ms);
        }
    }
    println!("slowest spec: {} ({:.3} ms)", slowest.0, slowest.1);

    let n = 500;
    let text = chain_spec(n);
    let name = format!("chain{n} (generated)");
    // Once first, so a failure is reported before timing anything.
    expand(&text);
    let ms = median_ms(RUNS, || {
        std::hint::black_box(expand(&text));
    });
    println!("{name:<24} {ms:>10.3}");

    if ms > 1000.0 || std::env::var_os("EXPANSION_PROFILE").is_some() {
        println!("chain{n} by stage (median of 5 runs):");
        profile_stages(&text, 5);
        println!("scaling of compile_text + to_string with the chain's length (median of 5 runs):");
        for n in [50, 100, 200, 500] {
            let text = chain_spec(n);
            let ms = median_ms(5, || {
                std::hint::black_box(expand(&text));
            });
            println!("    chain{n:<5} {ms:>10.1} ms");
        }
    }
}
