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
//!   and final-state adjoints, for full lengths and for variable lengths (including 0), the
//!   random masks of the spec (if any) at their expectation;
//! - for a spec with random masks (about a third of the random specs), the same with the same
//!   random 0/1 masks given to both (`forward_masked(.., Masks::Given(..))` and `backward`
//!   against the evaluator's `forward_masked` and `backward`; `Forward::masks` returns the masks
//!   given), and with the masks `forward_train` draws (0/1), replayed by the evaluator.
//!
//! Gradients are not compared for the (rare) data whose pre-activation of `relu`, `softsign` or
//! `hard_sigmoid` is within 1e-9 of a kink without being on it: there, rounding decides the
//! branch, so the two derivatives legitimately differ.
//!
//! `tests/onnx.rs` includes the same specs and exports each, as an `f32` cell with random
//! parameters ([`f32_cell`]), to ONNX (the facade's `onnx` feature, a dev-dependency), with the
//! differential test's `Edge` and `Chained`: onnxruntime must reproduce our inference pass to
//! 1e-5 relative (the facade's harness `tests/onnx/harness.rs`; it needs a Python with `onnx`
//! and `onnxruntime`, `RNN_PYTHON`, and skips without them unless `CI=true`).
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

use facade::ndarray::{Array2, Array3, ArrayD, IxDyn};
use facade::rand::rngs::ChaCha8Rng;
use facade::rand::{RngExt, SeedableRng};
use facade::{Cell, DynCell, Float, Forward, Masks, NamedTensors, States};
use rnn_compiler::eval::{EvalForward, EvalStates, Evaluator, Params, Seq};
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
    /// Whether the gradients of some pass were skipped (a pre-activation next to a kink).
    pub near_kink: bool,
    /// The number of random masks of the cell (compared also with given and drawn masks).
    pub masks: usize,
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
fn near_kink(eval: &Evaluator<'_>, fwd: &EvalForward, lengths: &[usize]) -> bool {
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

/// Random 0/1 values for every mask of the cell (each entry 1 with probability 1/2), in the
/// evaluator's layout: `[1][B][size]` per sequence, `[T][B][size]` per step.
fn random_masks(
    eval: &Evaluator<'_>,
    rng: &mut ChaCha8Rng,
    n_time: usize,
    n_batch: usize,
) -> Vec<Seq> {
    eval.cell()
        .masks
        .iter()
        .zip(eval.mask_sizes())
        .map(|(m, &size)| {
            let steps = if m.per_step { n_time } else { 1 };
            (0..steps)
                .map(|_| {
                    (0..n_batch)
                        .map(|_| (0..size).map(|_| f64::from(rng.random::<bool>())).collect())
                        .collect()
                })
                .collect()
        })
        .collect()
}

/// Masks in the evaluator's layout as the runtime's [`Masks::Given`] values, by name: `[B, size]`
/// per sequence, `[T, B, size]` per step.
fn to_named(eval: &Evaluator<'_>, masks: &[Seq]) -> NamedTensors<f64> {
    let mut out = NamedTensors::new();
    for ((m, values), &size) in eval.cell().masks.iter().zip(masks).zip(eval.mask_sizes()) {
        let n_batch = values.first().map_or(0, Vec::len);
        let shape = if m.per_step {
            vec![values.len(), n_batch, size]
        } else {
            vec![n_batch, size]
        };
        let array = ArrayD::from_shape_vec(IxDyn(&shape), flat3(values)).expect("mask layout");
        out.push(m.name.as_str(), array.view());
    }
    out
}

/// The runtime's masks ([`Forward::masks`]) in the evaluator's layout, checking their names and
/// shapes against the spec's.
fn to_eval_masks(
    eval: &Evaluator<'_>,
    named: &NamedTensors<f64>,
    n_time: usize,
    n_batch: usize,
) -> Result<Vec<Seq>, String> {
    let names: Vec<&str> = eval.cell().masks.iter().map(|m| m.name.as_str()).collect();
    if named.names() != names {
        return Err(format!(
            "masks: the forward pass returns {:?}, the spec declares {names:?}",
            named.names()
        ));
    }
    let mut out = vec![];
    for (m, &size) in eval.cell().masks.iter().zip(eval.mask_sizes()) {
        let value = named.get(&m.name).map_err(|e| e.to_string())?;
        let steps = if m.per_step { n_time } else { 1 };
        let expected = if m.per_step {
            vec![n_time, n_batch, size]
        } else {
            vec![n_batch, size]
        };
        if value.shape() != expected.as_slice() {
            return Err(format!(
                "mask `{}`: the forward pass returns shape {:?}, expected {expected:?}",
                m.name,
                value.shape()
            ));
        }
        let flat: Vec<f64> = value.iter().copied().collect();
        let rows: Vec<Vec<f64>> = flat.chunks(size.max(1)).map(<[f64]>::to_vec).collect();
        let seq: Seq = if size == 0 {
            vec![vec![vec![]; n_batch]; steps]
        } else {
            rows.chunks(n_batch.max(1))
                .map(<[Vec<f64>]>::to_vec)
                .collect()
        };
        out.push(seq);
    }
    Ok(out)
}

/// A cell `C` with every parameter drawn uniformly from `[-0.7, 0.7)` (after `C::new`, which
/// draws from `rng` too): larger than the usual initialization, so that every path of the step
/// matters.
pub fn random_cell<F: Float, C: Cell<F>>(dims: C::Dims, rng: &mut ChaCha8Rng) -> C {
    let mut cell = C::new(dims, rng);
    for p in 0..cell.params().len() {
        for v in cell.params_mut().slice_mut(p) {
            *v = F::from_f64(rng.random_range(-0.7..0.7));
        }
    }
    cell
}

/// The `f32` cell `C` with parameters drawn from `seed` as [`check`] draws its `f64` cell's
/// (for the ONNX export test, `tests/onnx.rs`).
pub fn f32_cell<C: Cell<f32> + Send + Sync + 'static>(
    dims: C::Dims,
    seed: u64,
) -> Box<dyn DynCell<f32>> {
    Box::new(random_cell::<f32, C>(
        dims,
        &mut ChaCha8Rng::seed_from_u64(seed),
    ))
}

/// The comparisons of one cell: what the generated code and the evaluator are given, and what
/// disagreed.
struct Comparison<'a, C> {
    cell: &'a C,
    eval: &'a Evaluator<'a>,
    params: &'a Params,
    d_out: &'a Array3<f64>,
    d_final: &'a States<f64>,
    checked: Checked,
    failures: Vec<String>,
}

impl<C: Cell<f64>> Comparison<'_, C> {
    /// Outputs and final states of a generated pass against the evaluator's.
    fn outputs(
        &mut self,
        tag: &str,
        outputs: &Array3<f64>,
        final_states: &States<f64>,
        reference: &EvalForward,
    ) {
        let values = &mut self.checked.values;
        let generated: Vec<f64> = outputs.iter().copied().collect();
        let out_ref = flat3(&reference.outputs);
        compare(
            &format!("{tag}: outputs"),
            &generated,
            &out_ref,
            values,
            &mut self.failures,
        );
        let final_ref = flat_states(&reference.final_states);
        let final_gen = flat_states(&to_eval_states(final_states));
        if final_gen.len() != final_ref.len() {
            self.failures
                .push(format!("{tag}: final states have another layout"));
            return;
        }
        for (k, (generated, reference)) in final_gen.iter().zip(&final_ref).enumerate() {
            let what = format!("{tag}: final state array {k}");
            compare(&what, generated, reference, values, &mut self.failures);
        }
    }

    /// The generated backward pass of `fwd` against the evaluator's of `reference` (skipped, and
    /// noted, next to a kink).
    fn gradients(
        &mut self,
        tag: &str,
        fwd: &Forward<f64>,
        reference: &EvalForward,
    ) -> Result<(), String> {
        if near_kink(self.eval, reference, reference.lengths()) {
            self.checked.near_kink = true;
            return Ok(());
        }
        let grads = self
            .cell
            .backward(fwd, self.d_out.view(), Some(self.d_final))
            .map_err(|e| format!("{tag}: backward: {e}"))?;
        let e_grads = self
            .eval
            .backward(
                self.params,
                reference,
                &to_seq(self.d_out),
                Some(&to_eval_states(self.d_final)),
            )
            .map_err(|e| format!("{tag}: reference backward: {e}"))?;
        let values = &mut self.checked.values;
        for (name, g) in grads.params.iter() {
            let generated: Vec<f64> = g.iter().copied().collect();
            let reference = e_grads.params.get(name).map_or(&[][..], Vec::as_slice);
            compare(
                &format!("{tag}: d{name}"),
                &generated,
                reference,
                values,
                &mut self.failures,
            );
        }
        let generated: Vec<f64> = grads.inputs.iter().copied().collect();
        compare(
            &format!("{tag}: dx"),
            &generated,
            &flat3(&e_grads.inputs),
            values,
            &mut self.failures,
        );
        let init_ref = flat_states(&e_grads.initial_states);
        let init_gen = flat_states(&to_eval_states(&grads.initial_states));
        if init_gen.len() != init_ref.len() {
            self.failures.push(format!(
                "{tag}: initial-state gradients have another layout"
            ));
            return Ok(());
        }
        for (k, (generated, reference)) in init_gen.iter().zip(&init_ref).enumerate() {
            let what = format!("{tag}: d initial state array {k}");
            compare(&what, generated, reference, values, &mut self.failures);
        }
        Ok(())
    }
}

/// Runs cell `C` (the macro's expansion of `spec`) and the evaluator (on `spec` as text, with
/// dimensions `eval_dims`, equal to `dims`) on the same random data drawn from `seed`; an
/// `Err` lists every disagreement.
///
/// Every cell is compared with its masks (if any) at their expectation: `forward`, `infer` and
/// `backward` against the evaluator's `forward` and `backward`. A cell with random masks is also
/// compared with the same random 0/1 masks given to both (`forward_masked(..,
/// Masks::Given(..))`, then `backward`, against the evaluator's `forward_masked` and
/// `backward`; `Forward::masks` must return the masks given), and with the masks its
/// `forward_train` draws (which must be 0/1), replayed by the evaluator.
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
    let cell: C = random_cell(dims, &mut rng);
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
    let mask_names: Vec<&str> = C::spec().masks.iter().map(|m| m.name).collect();
    let eval_mask_names: Vec<&str> = eval.cell().masks.iter().map(|m| m.name.as_str()).collect();
    if mask_names != eval_mask_names {
        return Err(format!(
            "masks: generated {mask_names:?}, reference {eval_mask_names:?}"
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
    // Drawn last, so that a cell without masks gets the numbers it got before masks existed.
    let masks = random_masks(&eval, &mut rng, T, b);
    let given = to_named(&eval, &masks);
    let mut train_rng = ChaCha8Rng::seed_from_u64(seed ^ 0x7a1e_d7a1);

    let mut c = Comparison {
        cell: &cell,
        eval: &eval,
        params: &params,
        d_out: &d_out,
        d_final: &d_final,
        checked: Checked {
            masks: mask_names.len(),
            ..Checked::default()
        },
        failures: vec![],
    };
    let (x_seq, init_eval) = (to_seq(&x), to_eval_states(&init));
    for lengths in [None, Some(LENGTHS.to_vec())] {
        let tag = if lengths.is_some() {
            "variable lengths"
        } else {
            "full lengths"
        };
        let lengths = lengths.as_deref();
        // Masks (if any) at their expectation.
        let fwd = cell
            .forward(x.view(), Some(&init), lengths)
            .map_err(|e| format!("{tag}: forward: {e}"))?;
        let inf = cell
            .infer(x.view(), Some(&init), lengths)
            .map_err(|e| format!("{tag}: infer: {e}"))?;
        let e_fwd = eval
            .forward(&params, &x_seq, Some(&init_eval), lengths)
            .map_err(|e| format!("{tag}: reference forward: {e}"))?;
        c.outputs(tag, &fwd.outputs, &fwd.final_states, &e_fwd);
        c.outputs(
            &format!("{tag}: infer"),
            &inf.outputs,
            &inf.final_states,
            &e_fwd,
        );
        c.gradients(tag, &fwd, &e_fwd)?;
        if masks.is_empty() {
            continue;
        }

        // The same random 0/1 masks given to both.
        let tag_given = format!("{tag}, given 0/1 masks");
        let fwd = cell
            .forward_masked(x.view(), Some(&init), lengths, Masks::Given(&given))
            .map_err(|e| format!("{tag_given}: forward_masked: {e}"))?;
        let e_fwd = eval
            .forward_masked(&params, &x_seq, Some(&init_eval), lengths, &masks)
            .map_err(|e| format!("{tag_given}: reference forward_masked: {e}"))?;
        let returned = fwd
            .masks()
            .map_err(|e| format!("{tag_given}: Forward::masks: {e}"))?;
        let returned = to_eval_masks(&eval, &returned, T, b)
            .map_err(|e| format!("{tag_given}: Forward::masks: {e}"))?;
        for ((m, r), g) in eval.cell().masks.iter().zip(&returned).zip(&masks) {
            let what = format!("{tag_given}: Forward::masks `{}`", m.name);
            compare(
                &what,
                &flat3(r),
                &flat3(g),
                &mut c.checked.values,
                &mut c.failures,
            );
        }
        c.outputs(&tag_given, &fwd.outputs, &fwd.final_states, &e_fwd);
        c.gradients(&tag_given, &fwd, &e_fwd)?;

        // The masks `forward_train` draws, replayed by the evaluator.
        let tag_drawn = format!("{tag}, masks drawn by forward_train");
        let fwd = cell
            .forward_train(x.view(), Some(&init), lengths, &mut train_rng)
            .map_err(|e| format!("{tag_drawn}: forward_train: {e}"))?;
        let drawn = fwd
            .masks()
            .map_err(|e| format!("{tag_drawn}: Forward::masks: {e}"))?;
        let drawn = to_eval_masks(&eval, &drawn, T, b)
            .map_err(|e| format!("{tag_drawn}: Forward::masks: {e}"))?;
        if drawn
            .iter()
            .any(|m| flat3(m).iter().any(|&v| v != 0.0 && v != 1.0))
        {
            c.failures.push(format!(
                "{tag_drawn}: a drawn mask entry is neither 0 nor 1"
            ));
        }
        let e_fwd = eval
            .forward_masked(&params, &x_seq, Some(&init_eval), lengths, &drawn)
            .map_err(|e| format!("{tag_drawn}: reference forward_masked: {e}"))?;
        c.outputs(&tag_drawn, &fwd.outputs, &fwd.final_states, &e_fwd);
        c.gradients(&tag_drawn, &fwd, &e_fwd)?;
    }
    if c.failures.is_empty() {
        Ok(c.checked)
    } else {
        Err(format!(
            "generated code and reference evaluator disagree:\n{}",
            c.failures.join("\n")
        ))
    }
}
