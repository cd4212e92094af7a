//! The differentiator against finite differences, on random specs.
//!
//! The generator (`rnn-specgen`, shared with the test of the generated code in
//! `rnn-random-cells`) writes random well-shaped spec TEXTS (so the whole front end is
//! exercised): 1-3 states read with delays 1-3, the input read with delays 0-2, matrix
//! parameters `[I, H]`, `[H, H]`, `[I + H, H]` (for `concat(x.., h..) @ C`) and `[2*H, H]`,
//! vector parameters `[H]`, and a random DAG of intermediates over every operator, function and
//! reduction of the language, with intermediates reused, left operands of `@` shared between
//! products, chained products (`x[t] @ W0 @ U1`), parameters used several times,
//! layer-normalization-like broadcasts of reductions, and states reading each other's new values
//! (`h0[t]`), and in about a third of the specs one or two random masks (`bernoulli(p)` or
//! `bernoulli_per_step(p)`, `[H]` or `[I]`) used elementwise. Denominators and the arguments of
//! `log` and `sqrt` are kept positive by construction, state updates are squashed (`tanh`,
//! `sigmoid`, gated mixtures) so values stay bounded.
//!
//! Each spec is compiled with [`rnn_compiler::compile_text`]; the reference evaluator's backward
//! pass (the derived partials) must match central finite differences of its forward pass
//! (5-point stencil) of `L = sum(dY * Y) + sum(dS * S_final)` with random weights, for every
//! entry of every parameter, of the input sequence and of the initial states and history, with
//! random lengths per example, and random 0/1 masks held fixed (`forward_masked`; no derivative
//! with respect to a mask): `|analytic - numeric| <= 1e-8 + 1e-6 |numeric|`. Cases where a
//! pre-activation of a function with a kink (`relu`, `hard_sigmoid`, `softsign`, `abs`,
//! `leaky_relu`, `elu`, `clamp`) or the operands of `max`/`min` come within 1e-3 of a kink are
//! rejected.
//!
//! 500 random specs by default; `RNN_PROPTEST_CASES=100000 cargo test -p rnn-compiler --test
//! differentiator --release` (or `PROPTEST_CASES`) runs more.

use std::collections::BTreeSet;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestCaseError;
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use rnn_compiler::ast::BinOp;
use rnn_compiler::eval::{EvalStates, Evaluator, Params, Seq};
use rnn_compiler::ir::{Func, Op};
use rnn_specgen::{spec_text, Case};

fn uniform_seq(rng: &mut ChaCha8Rng, t: usize, b: usize, n: usize) -> Seq {
    (0..t)
        .map(|_| {
            (0..b)
                .map(|_| (0..n).map(|_| rng.random_range(-1.0..1.0)).collect())
                .collect()
        })
        .collect()
}

/// Random 0/1 values for every mask of the cell (each entry 1 with probability 1/2), in the
/// layout of [`Evaluator::forward_masked`]: `[1][B][size]` per sequence, `[T][B][size]` per step.
fn random_masks(eval: &Evaluator<'_>, rng: &mut ChaCha8Rng, t: usize, b: usize) -> Vec<Seq> {
    eval.cell()
        .masks
        .iter()
        .zip(eval.mask_sizes())
        .map(|(m, &size)| {
            let steps = if m.per_step { t } else { 1 };
            (0..steps)
                .map(|_| {
                    (0..b)
                        .map(|_| (0..size).map(|_| f64::from(rng.random::<bool>())).collect())
                        .collect()
                })
                .collect()
        })
        .collect()
}

/// The data of a loss: lengths, output and final-state adjoints, and the (fixed) masks.
struct LossData<'a> {
    lengths: &'a [usize],
    d_out: &'a Seq,
    d_final: &'a EvalStates,
    masks: &'a [Seq],
}

fn loss(
    eval: &Evaluator<'_>,
    params: &Params,
    x: &Seq,
    init: &EvalStates,
    data: &LossData<'_>,
) -> f64 {
    let LossData {
        lengths,
        d_out,
        d_final,
        masks,
    } = *data;
    let fwd = eval
        .forward_masked(params, x, Some(init), Some(lengths), masks)
        .expect("forward");
    let mut l = 0.0;
    for (y, d) in fwd.outputs.iter().flatten().zip(d_out.iter().flatten()) {
        l += y.iter().zip(d).map(|(a, b)| a * b).sum::<f64>();
    }
    for (s, d) in fwd.final_states.arrays().zip(d_final.arrays()) {
        for (a, b) in s.iter().flatten().zip(d.iter().flatten()) {
            l += a * b;
        }
    }
    l
}

/// Finite-difference step of the 5-point central stencil.
const STEP: f64 = 1e-5;
/// A pre-activation this close to a kink rejects the case.
const KINK_MARGIN: f64 = 1e-3;
/// Forward values beyond this reject the case (finite differences lose precision).
const MAX_VALUE: f64 = 50.0;

/// Checks the evaluator's backward pass on `text` against finite differences of its forward
/// pass; the numbers are drawn from `seed`.
fn check_spec(
    text: &str,
    (i, h, t, b): (usize, usize, usize, usize),
    seed: u64,
) -> Result<usize, TestCaseError> {
    let compiled = rnn_compiler::compile_text(text).map_err(|d| {
        TestCaseError::fail(format!(
            "the generated spec does not compile: {:?}\n{text}",
            d.iter().map(|d| &d.message).collect::<Vec<_>>()
        ))
    })?;
    let eval = Evaluator::from_compiled(&compiled, &[("I", i), ("H", h)])
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut params = eval.zero_params();
    for v in params.values_mut().flatten() {
        *v = rng.random_range(-0.7..0.7);
    }
    let x = uniform_seq(&mut rng, t, b, eval.input_size());
    let d_out = uniform_seq(&mut rng, t, b, eval.output_size());
    let mut init = eval.zero_states(b);
    let mut d_final = eval.zero_states(b);
    for a in init.arrays_mut().chain(d_final.arrays_mut()) {
        for v in a.iter_mut().flatten() {
            *v = rng.random_range(-1.0..1.0);
        }
    }
    let lengths: Vec<usize> = (0..b).map(|_| rng.random_range(0..=t)).collect();
    // Drawn last, so that a spec without masks gets the numbers it got before masks existed.
    let masks = random_masks(&eval, &mut rng, t, b);

    let fwd = eval
        .forward_masked(&params, &x, Some(&init), Some(&lengths), &masks)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    // Reject values too large for finite differences, and pre-activations near a kink.
    let cell = eval.cell();
    for (bi, &len) in lengths.iter().enumerate() {
        for ti in 0..len {
            for (n, node) in cell.graph.nodes.iter().enumerate() {
                let v = fwd.value(ti, bi, n).expect("within the length");
                prop_assume!(v.iter().all(|v| v.abs() <= MAX_VALUE), "large values");
                let kinks: Vec<f64> = match node.op {
                    Op::Func(
                        Func::Relu | Func::Softsign | Func::Abs | Func::LeakyRelu(_) | Func::Elu(_),
                        _,
                    ) => vec![0.0],
                    Op::Func(Func::HardSigmoid, _) => vec![-3.0, 3.0],
                    Op::Func(Func::Clamp(lo, hi), _) => vec![lo.value(), hi.value()],
                    _ => vec![],
                };
                if let Op::Func(_, a) = node.op {
                    for &z in fwd.value(ti, bi, a).expect("within the length") {
                        for &k in &kinks {
                            // Exactly at the kink is a constant (an input before the sequence).
                            let d = (z - k).abs();
                            prop_assume!(d == 0.0 || d > KINK_MARGIN, "near a kink");
                        }
                    }
                }
                // `max(a, b)` and `min(a, b)` have their kink where a = b.
                if let Op::Binary(BinOp::Max | BinOp::Min, a, c) = node.op {
                    let (va, vc) = (
                        fwd.value(ti, bi, a).expect("within the length"),
                        fwd.value(ti, bi, c).expect("within the length"),
                    );
                    let at = |v: &[f64], j: usize| if v.len() == 1 { v[0] } else { v[j] };
                    for j in 0..va.len().max(vc.len()) {
                        let d = (at(va, j) - at(vc, j)).abs();
                        prop_assume!(d == 0.0 || d > KINK_MARGIN, "near a kink");
                    }
                }
            }
        }
    }
    let grads = eval
        .backward(&params, &fwd, &d_out, Some(&d_final))
        .map_err(|e| TestCaseError::fail(e.to_string()))?;

    let mut failures = vec![];
    let mut checked = 0;
    let mut compare = |what: String, analytic: f64, f: &mut dyn FnMut(f64) -> f64| {
        let numeric =
            (f(-2.0 * STEP) - 8.0 * f(-STEP) + 8.0 * f(STEP) - f(2.0 * STEP)) / (12.0 * STEP);
        checked += 1;
        let err = (analytic - numeric).abs();
        let passed = err <= 1e-8 + 1e-6 * numeric.abs(); // false for NaN
        if !passed && failures.len() < 10 {
            failures.push(format!(
                "{what}: analytic {analytic:.12e}, numeric {numeric:.12e}"
            ));
        }
    };
    let data = LossData {
        lengths: &lengths,
        d_out: &d_out,
        d_final: &d_final,
        masks: &masks,
    };
    let l = |p: &Params, x: &Seq, s: &EvalStates| loss(&eval, p, x, s, &data);
    for (name, g) in &grads.params {
        for (k, &analytic) in g.iter().enumerate() {
            let mut p = params.clone();
            let orig = p[name][k];
            compare(format!("d{name}[{k}]"), analytic, &mut |e| {
                p.get_mut(name).expect("a parameter")[k] = orig + e;
                l(&p, &x, &init)
            });
        }
    }
    for (ti, step) in grads.inputs.iter().enumerate() {
        for (bi, row) in step.iter().enumerate() {
            for (j, &analytic) in row.iter().enumerate() {
                let mut xp = x.clone();
                let orig = x[ti][bi][j];
                compare(format!("dx[{ti}][{bi}][{j}]"), analytic, &mut |e| {
                    xp[ti][bi][j] = orig + e;
                    l(&params, &xp, &init)
                });
            }
        }
    }
    let analytic: Vec<Vec<Vec<f64>>> = grads.initial_states.arrays().cloned().collect();
    for (k, a) in analytic.iter().enumerate() {
        for (bi, row) in a.iter().enumerate() {
            for (j, &g) in row.iter().enumerate() {
                let mut sp = init.clone();
                let orig = init.arrays().nth(k).expect("same layout")[bi][j];
                compare(format!("d initial array {k}[{bi}][{j}]"), g, &mut |e| {
                    sp.arrays_mut().nth(k).expect("same layout")[bi][j] = orig + e;
                    l(&params, &x, &sp)
                });
            }
        }
    }
    if !failures.is_empty() {
        return Err(TestCaseError::fail(format!(
            "derived gradients disagree with finite differences (I={i}, H={h}, T={t}, B={b}, \
             lengths {lengths:?}, seed {seed}{}):\n{}\nspec:\n{text}",
            if masks.is_empty() {
                String::new()
            } else {
                format!(", masks {masks:?}")
            },
            failures.join("\n")
        )));
    }
    Ok(checked)
}

fn cases() -> u32 {
    ["RNN_PROPTEST_CASES", "PROPTEST_CASES"]
        .iter()
        .find_map(|v| std::env::var(v).ok()?.parse().ok())
        .unwrap_or(500)
}

fn case() -> impl Strategy<Value = Case> {
    rnn_specgen::strategy()
}

/// The property: for random specs, the derived gradients match finite differences. Prints how
/// many specs and gradient entries were checked; a failure shows the shrunk case and its spec.
#[test]
fn derived_gradients_match_finite_differences() {
    use std::cell::Cell;
    let config = ProptestConfig {
        cases: cases(),
        max_global_rejects: 100_000,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let mut runner = proptest::test_runner::TestRunner::new(config);
    let (specs, masked, entries) = (Cell::new(0usize), Cell::new(0usize), Cell::new(0usize));
    let start = std::time::Instant::now();
    let result = runner.run(&case(), |case| {
        let text = spec_text(&case);
        let n = check_spec(&text, (case.i, case.h, case.t, case.b), case.seed)?;
        specs.set(specs.get() + 1);
        masked.set(masked.get() + usize::from(!case.masks.is_empty()));
        entries.set(entries.get() + n);
        Ok(())
    });
    eprintln!(
        "{} random specs passed ({} with random masks, held fixed at random 0/1 values), {} \
         gradient entries checked against finite differences, in {:.1?}",
        specs.get(),
        masked.get(),
        entries.get(),
        start.elapsed()
    );
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// The generator covers what it claims: over many cases, every function, both reductions,
/// `concat`, chained products, delays, several states and both kinds of masks (`[H]` and `[I]`,
/// one a masked left operand of a product) appear, and every generated spec compiles.
#[test]
fn generator_covers_the_language() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut seen = BTreeSet::new();
    for _ in 0..300 {
        let case = case().new_tree(&mut runner).expect("a case").current();
        let text = spec_text(&case);
        let compiled =
            rnn_compiler::compile_text(&text).unwrap_or_else(|d| panic!("{d:?}\n{text}"));
        for node in &compiled.cell.graph.nodes {
            seen.insert(match node.op {
                Op::Func(f, _) => f.name().to_string(),
                Op::Reduce(r, _) => r.name().to_string(),
                Op::Binary(op, ..) => op.symbol().to_string(),
                Op::Neg(_) => "neg".into(),
                Op::MatMul {
                    transposed: true,
                    ref row_start,
                    ..
                } => {
                    if *row_start != Default::default() {
                        "concat @ W^T".into()
                    } else {
                        "@ W^T".into()
                    }
                }
                Op::MatMul { ref row_start, .. } if *row_start != Default::default() => {
                    "concat".into()
                }
                Op::MatMul { lhs, .. } => match compiled.cell.graph.nodes[lhs].op {
                    Op::Copy(inner)
                        if matches!(compiled.cell.graph.nodes[inner].op, Op::MatMul { .. }) =>
                    {
                        "chained product".into()
                    }
                    _ => continue,
                },
                Op::StatePrev { delay, .. } => format!("h[t-{delay}]"),
                Op::Input { delay } => format!("x[t-{delay}]"),
                _ => continue,
            });
        }
        if compiled.cell.states.len() == 3 {
            seen.insert("3 states".into());
        }
        assert_eq!(compiled.cell.masks.len(), case.masks.len(), "{text}");
        let nodes = &compiled.cell.graph.nodes;
        for mask in &compiled.cell.masks {
            seen.insert(
                mask.distribution()
                    .split('(')
                    .next()
                    .expect("a name")
                    .into(),
            );
            seen.insert(format!("mask [{}]", mask.dim));
        }
        // A product whose left operand is a mask times a value (`(m * h[t-1]) @ U`).
        let masked = |n: usize| {
            let n = match nodes[n].op {
                Op::Copy(inner) => inner,
                _ => n,
            };
            match nodes[n].op {
                Op::Binary(BinOp::Mul, a, b) => {
                    matches!(nodes[a].op, Op::Mask(_)) || matches!(nodes[b].op, Op::Mask(_))
                }
                _ => false,
            }
        };
        for node in nodes {
            if let Op::MatMul { lhs, .. } = node.op {
                if masked(lhs) {
                    seen.insert("(mask * value) @ W".into());
                }
            }
        }
        for f in ["fn uf_mix", "fn uf_norm"] {
            if text.contains(f) {
                seen.insert(f.into());
            }
        }
    }
    for want in [
        "sigmoid",
        "tanh",
        "relu",
        "exp",
        "log",
        "sqrt",
        "softsign",
        "hard_sigmoid",
        "softplus",
        "silu",
        "gelu",
        "gelu_tanh",
        "abs",
        "square",
        "elu",
        "leaky_relu",
        "pow",
        "clamp",
        "max",
        "min",
        "mean",
        "sum",
        "+",
        "-",
        "*",
        "/",
        "neg",
        "concat",
        "h[t-3]",
        "x[t-2]",
        "3 states",
        "chained product",
        "@ W^T",
        "concat @ W^T",
        "fn uf_mix",
        "fn uf_norm",
        "bernoulli",
        "bernoulli_per_step",
        "mask [H]",
        "mask [I]",
        "(mask * value) @ W",
    ] {
        assert!(
            seen.contains(want),
            "the generator never produced {want}: {seen:?}"
        );
    }
}

/// The built-in specs (`specs/*.rnn`) against finite differences, as a fixed baseline.
#[test]
fn builtin_specs_match_finite_differences() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../specs");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("specs/")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("readable");
        let ok = (0..20).any(|seed| match check_spec(&text, (2, 3, 4, 3), seed) {
            Ok(_) => true,
            Err(TestCaseError::Reject(_)) => false,
            Err(e) => panic!("{}: {e}", f.display()),
        });
        assert!(ok, "{}: every seed came near a kink", f.display());
    }
}
