//! Random specs through the real code path: the `rnn_cell!` macro, rustc, and the generated
//! code's forward, inference and backward passes, compared with the compiler's reference
//! evaluator (`rnn_compiler::eval`) on the same spec text.
//!
//! `build.rs` draws `RNN_RANDOM_CELLS` (default 200) specs from the random-spec generator
//! (`rnn-specgen`, the one the differentiator's property test uses) with seed
//! `RNN_RANDOM_CELLS_SEED`, and writes them into `$OUT_DIR/cells.rs` as inline `rnn_cell!`
//! invocations, one module each; `tests/random_cells.rs` includes that file, so every spec is
//! expanded by the macro and compiled by rustc in one crate, in the ordinary build (it honours
//! `CARGO_TARGET_DIR` and runs in `cargo test --workspace`). For each spec, [`check`] requires:
//!
//! - `rnn_compiler::compile_text` (what `rnn-cli check` runs) accepts the spec: together with the
//!   crate compiling, `check` and the macro accept the same specs;
//! - outputs and final states of `forward` and `infer`, every parameter gradient and the
//!   gradients of the inputs and of the initial states and history agree with the evaluator in
//!   f64 to `|a - b| <= 1e-12 (1 + |b|)`, with random parameters, inputs, initial states, output
//!   and final-state adjoints, for full lengths and for variable lengths (including 0).
//!
//! Gradients are not compared for the (rare) data whose pre-activation of `relu`, `softsign` or
//! `hard_sigmoid` is within 1e-9 of a kink without being on it: there, rounding decides the
//! branch, so the two derivatives legitimately differ.
//!
//! The specs have at most 8 generated operations (about 100 KB of generated Rust each), and
//! the crate is compiled at `opt-level = 0` without debuginfo (`[profile.dev.package.
//! rnn-random-cells]` in the workspace's `Cargo.toml`): at the workspace's `opt-level = 1` with
//! debuginfo, 20 specs took 4 minutes to build. Measured on the 2-core development machine
//! (shared, load 3-6), dependencies already built: 200 specs build and run in 1.5-2.5 minutes,
//! 500 specs in 4 minutes; the comparisons themselves take about a second.
//!
//! A longer run with other specs (the number and the seed are read by `build.rs`, so changing
//! them rebuilds the crate):
//! `RNN_RANDOM_CELLS=2000 RNN_RANDOM_CELLS_SEED=7 cargo test -p rnn-random-cells -- --nocapture`.

use facade::ndarray::{Array2, Array3};
use facade::rand::rngs::ChaCha8Rng;
use facade::rand::{RngExt, SeedableRng};
use facade::{Cell, States};
use rnn_compiler::eval::{EvalStates, Evaluator, Params, Seq};
use rnn_compiler::ir::{Func, Op};

/// The tolerance: `|generated - reference| <= TOL * (1 + |reference|)`.
pub const TOL: f64 = 1e-12;

/// Sequence length of every comparison (the delays of the random specs are at most 3).
const T: usize = 6;
/// Lengths of the variable-length comparison (the batch size is their number).
const LENGTHS: [usize; 4] = [6, 3, 0, 1];
/// A pre-activation this close to a kink (but not on it) skips the gradients.
const KINK_MARGIN: f64 = 1e-9;

/// What one successful comparison covered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checked {
    /// Numbers compared.
    pub values: usize,
    /// Whether the gradients were skipped (a pre-activation next to a kink).
    pub near_kink: bool,
}

fn to_seq(a: &Array3<f64>) -> Seq {
    a.outer_iter()
        .map(|m| m.outer_iter().map(|r| r.to_vec()).collect())
        .collect()
}

fn to_rows(a: &Array2<f64>) -> Vec<Vec<f64>> {
    a.outer_iter().map(|r| r.to_vec()).collect()
}

fn to_eval_states(s: &States<f64>) -> EvalStates {
    EvalStates {
        values: s.values.iter().map(to_rows).collect(),
        history: s
            .history
            .iter()
            .map(|h| h.iter().map(to_rows).collect())
            .collect(),
        inputs: s.inputs.iter().map(to_rows).collect(),
    }
}

fn flat3(s: &Seq) -> Vec<f64> {
    s.iter().flatten().flatten().copied().collect()
}

fn flat_states(s: &EvalStates) -> Vec<Vec<f64>> {
    s.arrays()
        .map(|a| a.iter().flatten().copied().collect())
        .collect()
}

/// Compares two lists of numbers, naming the first entry that differs most.
fn compare(
    what: &str,
    generated: &[f64],
    reference: &[f64],
    values: &mut usize,
    failures: &mut Vec<String>,
) {
    if generated.len() != reference.len() {
        failures.push(format!(
            "{what}: {} entries generated, {} in the reference",
            generated.len(),
            reference.len()
        ));
        return;
    }
    *values += generated.len();
    let mut worst: Option<(usize, f64)> = None;
    for (k, (&g, &r)) in generated.iter().zip(reference).enumerate() {
        let excess = (g - r).abs() / (TOL * (1.0 + r.abs()));
        let within = excess <= 1.0; // false for NaN
        if !within && worst.is_none_or(|(_, e)| excess > e || excess.is_nan()) {
            worst = Some((k, excess));
        }
    }
    if let Some((k, e)) = worst {
        failures.push(format!(
            "{what}[{k}]: generated {:.17e}, reference {:.17e} ({e:.3e} x tolerance)",
            generated[k], reference[k]
        ));
    }
}

/// Whether a pre-activation of a function with a kink comes within [`KINK_MARGIN`] of it.
fn near_kink(
    eval: &Evaluator<'_>,
    fwd: &rnn_compiler::eval::EvalForward,
    lengths: &[usize],
) -> bool {
    let cell = eval.cell();
    for (bi, &len) in lengths.iter().enumerate() {
        for ti in 0..len {
            for node in &cell.graph.nodes {
                let kinks: &[f64] = match node.op {
                    Op::Func(Func::Relu | Func::Softsign, _) => &[0.0],
                    Op::Func(Func::HardSigmoid, _) => &[-3.0, 3.0],
                    _ => continue,
                };
                let Op::Func(_, a) = node.op else { continue };
                let Some(values) = fwd.value(ti, bi, a) else {
                    continue;
                };
                for &z in values {
                    for &k in kinks {
                        let d = (z - k).abs();
                        if d != 0.0 && d <= KINK_MARGIN {
                            return true;
                        }
                    }
                }
            }
        }
    }
    false
}

/// Runs cell `C` (the macro's expansion of `spec`) and the evaluator (on `spec` as text, with
/// dimensions `eval_dims`, equal to `dims`) on the same random data drawn from `seed`; an
/// `Err` lists every disagreement.
pub fn check<C: Cell<f64>>(
    dims: C::Dims,
    spec: &str,
    eval_dims: &[(&str, usize)],
    seed: u64,
) -> Result<Checked, String> {
    let compiled = rnn_compiler::compile_text(spec).map_err(|d| {
        format!(
            "the macro compiled this spec but `compile_text` (rnn-cli check) refuses it: {:?}",
            d.iter().map(|d| &d.message).collect::<Vec<_>>()
        )
    })?;
    let eval = Evaluator::from_compiled(&compiled, eval_dims).map_err(|e| e.to_string())?;

    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut cell = C::new(dims, &mut rng);
    for p in 0..cell.params().len() {
        for v in cell.params_mut().slice_mut(p) {
            *v = rng.random_range(-0.7..0.7);
        }
    }
    let params: Params = cell
        .params()
        .iter()
        .map(|(name, value)| (name.to_string(), value.iter().copied().collect()))
        .collect();
    let shapes: Vec<(String, Vec<usize>)> = cell
        .params()
        .iter()
        .map(|(name, value)| (name.to_string(), value.shape().to_vec()))
        .collect();
    if eval.param_shapes() != shapes {
        return Err(format!(
            "parameters: generated {shapes:?}, reference {:?}",
            eval.param_shapes()
        ));
    }

    let b = LENGTHS.len();
    let mut uniform = |shape: (usize, usize, usize)| {
        Array3::from_shape_fn(shape, |_| rng.random_range(-1.0..1.0))
    };
    let x = uniform((T, b, cell.input_size()));
    let d_out = uniform((T, b, cell.output_size()));
    let mut init = cell.zero_states(b);
    let mut d_final = cell.zero_states(b);
    for a in init.arrays_mut().chain(d_final.arrays_mut()) {
        a.mapv_inplace(|_| rng.random_range(-1.0..1.0));
    }

    let mut failures = vec![];
    let mut checked = Checked::default();
    let values = &mut checked.values;
    for lengths in [None, Some(LENGTHS.to_vec())] {
        let tag = if lengths.is_some() {
            "variable lengths"
        } else {
            "full lengths"
        };
        let fwd = cell
            .forward(x.view(), Some(&init), lengths.as_deref())
            .map_err(|e| format!("{tag}: forward: {e}"))?;
        let inf = cell
            .infer(x.view(), Some(&init), lengths.as_deref())
            .map_err(|e| format!("{tag}: infer: {e}"))?;
        let grads = cell
            .backward(&fwd, d_out.view(), Some(&d_final))
            .map_err(|e| format!("{tag}: backward: {e}"))?;
        let e_fwd = eval
            .forward(
                &params,
                &to_seq(&x),
                Some(&to_eval_states(&init)),
                lengths.as_deref(),
            )
            .map_err(|e| format!("{tag}: reference forward: {e}"))?;

        let out_ref = flat3(&e_fwd.outputs);
        let generated: Vec<f64> = fwd.outputs.iter().copied().collect();
        compare(
            &format!("{tag}: outputs"),
            &generated,
            &out_ref,
            values,
            &mut failures,
        );
        let generated: Vec<f64> = inf.outputs.iter().copied().collect();
        compare(
            &format!("{tag}: infer outputs"),
            &generated,
            &out_ref,
            values,
            &mut failures,
        );
        let final_ref = flat_states(&e_fwd.final_states);
        let final_fwd = flat_states(&to_eval_states(&fwd.final_states));
        let final_inf = flat_states(&to_eval_states(&inf.final_states));
        if final_fwd.len() != final_ref.len() || final_inf.len() != final_ref.len() {
            failures.push(format!("{tag}: final states have another layout"));
            continue;
        }
        for (k, reference) in final_ref.iter().enumerate() {
            let what = format!("{tag}: final state array {k}");
            compare(&what, &final_fwd[k], reference, values, &mut failures);
            let what = format!("{tag}: infer final state array {k}");
            compare(&what, &final_inf[k], reference, values, &mut failures);
        }

        let all = vec![T; b];
        if near_kink(&eval, &e_fwd, lengths.as_deref().unwrap_or(&all)) {
            checked.near_kink = true;
            continue;
        }
        let e_grads = eval
            .backward(
                &params,
                &e_fwd,
                &to_seq(&d_out),
                Some(&to_eval_states(&d_final)),
            )
            .map_err(|e| format!("{tag}: reference backward: {e}"))?;
        for (name, g) in grads.params.iter() {
            let generated: Vec<f64> = g.iter().copied().collect();
            let reference = e_grads.params.get(name).map_or(&[][..], Vec::as_slice);
            compare(
                &format!("{tag}: d{name}"),
                &generated,
                reference,
                values,
                &mut failures,
            );
        }
        let generated: Vec<f64> = grads.inputs.iter().copied().collect();
        compare(
            &format!("{tag}: dx"),
            &generated,
            &flat3(&e_grads.inputs),
            values,
            &mut failures,
        );
        let init_ref = flat_states(&e_grads.initial_states);
        let init_gen = flat_states(&to_eval_states(&grads.initial_states));
        if init_gen.len() != init_ref.len() {
            failures.push(format!(
                "{tag}: initial-state gradients have another layout"
            ));
            continue;
        }
        for (k, reference) in init_ref.iter().enumerate() {
            let what = format!("{tag}: d initial state array {k}");
            compare(&what, &init_gen[k], reference, values, &mut failures);
        }
    }
    if failures.is_empty() {
        Ok(checked)
    } else {
        Err(format!(
            "generated code and reference evaluator disagree:\n{}",
            failures.join("\n")
        ))
    }
}
