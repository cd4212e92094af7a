//! Differential test: for every built-in cell (one per file in `specs/`), the generated Rust code
//! and the compiler's reference evaluator (`rnn_compiler::eval`, run on the same spec text) agree
//! on outputs, final states and every gradient to 1e-12 in f64, with random parameters, inputs,
//! initial states and history, and variable lengths (including 0). Any disagreement is a codegen
//! bug (or an evaluator bug: the evaluator is itself checked against finite differences by
//! `rnn-compiler/tests/differentiator.rs`).

use rnn::cells::*;
use rnn::ndarray::{Array2, Array3};
use rnn::rand::rngs::StdRng;
use rnn::rand::{Rng, SeedableRng};
use rnn::rnn_cell;
use rnn::{Cell, States};
use rnn_compiler::eval::{EvalStates, Evaluator, Params, Seq};

const TOL: f64 = 1e-12;

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

/// Compares two lists of numbers, naming the first entry that differs by more than
/// `TOL * (1 + |expected|)`.
fn compare(what: &str, generated: &[f64], reference: &[f64], failures: &mut Vec<String>) {
    if generated.len() != reference.len() {
        failures.push(format!(
            "{what}: {} entries generated, {} in the reference",
            generated.len(),
            reference.len()
        ));
        return;
    }
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

fn flat3(s: &Seq) -> Vec<f64> {
    s.iter().flatten().flatten().copied().collect()
}

fn flat_states(s: &EvalStates) -> Vec<Vec<f64>> {
    s.arrays()
        .map(|a| a.iter().flatten().copied().collect())
        .collect()
}

/// Runs cell `C` (built from `spec_file`) and the evaluator on the same random data, with all
/// lengths `T` and with variable lengths, and panics with every disagreement.
fn check<C: Cell<f64>>(dims: C::Dims, spec_file: &str, eval_dims: &[(&str, usize)], seed: u64) {
    let text = std::fs::read_to_string(spec_file).expect("the spec file is readable");
    let compiled = rnn_compiler::compile_text(&text)
        .unwrap_or_else(|d| panic!("{spec_file} does not compile: {d:?}"));
    let eval = Evaluator::from_compiled(&compiled, eval_dims).expect("the evaluator accepts it");

    let mut rng = StdRng::seed_from_u64(seed);
    let mut cell = C::new(dims, &mut rng);
    // Every parameter random (not the spec's constant initializers), large enough that the
    // gates are not all near 1/2.
    for p in 0..cell.params().len() {
        for v in cell.params_mut().slice_mut(p) {
            *v = rng.gen_range(-0.8..0.8);
        }
    }
    let params: Params = cell
        .params()
        .iter()
        .map(|(name, value)| (name.to_string(), value.iter().copied().collect()))
        .collect();
    // Same parameters, same declaration order, same shapes.
    assert_eq!(
        eval.param_shapes(),
        cell.params()
            .iter()
            .map(|(name, value)| (name.to_string(), value.shape().to_vec()))
            .collect::<Vec<_>>(),
        "parameters"
    );

    let (t, b) = (6, 5);
    let mut uniform =
        |shape: (usize, usize, usize)| Array3::from_shape_fn(shape, |_| rng.gen_range(-1.0..1.0));
    let x = uniform((t, b, cell.input_size()));
    let d_out = uniform((t, b, cell.output_size()));
    let mut init = cell.zero_states(b);
    let mut d_final = cell.zero_states(b);
    for a in init.arrays_mut().chain(d_final.arrays_mut()) {
        a.mapv_inplace(|_| rng.gen_range(-1.0..1.0));
    }

    let mut failures = vec![];
    for lengths in [None, Some(vec![6, 4, 1, 0, 5])] {
        let tag = if lengths.is_some() {
            "variable lengths"
        } else {
            "full lengths"
        };
        let fwd = cell
            .forward(x.view(), Some(&init), lengths.as_deref())
            .expect("forward");
        let inf = cell
            .infer(x.view(), Some(&init), lengths.as_deref())
            .expect("infer");
        let grads = cell
            .backward(&fwd, d_out.view(), Some(&d_final))
            .expect("backward");

        let e_fwd = eval
            .forward(
                &params,
                &to_seq(&x),
                Some(&to_eval_states(&init)),
                lengths.as_deref(),
            )
            .expect("reference forward");
        let e_grads = eval
            .backward(
                &params,
                &e_fwd,
                &to_seq(&d_out),
                Some(&to_eval_states(&d_final)),
            )
            .expect("reference backward");

        let out_ref = flat3(&e_fwd.outputs);
        compare(
            &format!("{tag}: outputs"),
            &fwd.outputs.iter().copied().collect::<Vec<_>>(),
            &out_ref,
            &mut failures,
        );
        compare(
            &format!("{tag}: infer outputs"),
            &inf.outputs.iter().copied().collect::<Vec<_>>(),
            &out_ref,
            &mut failures,
        );
        let final_ref = flat_states(&e_fwd.final_states);
        for (k, (f, i)) in flat_states(&to_eval_states(&fwd.final_states))
            .iter()
            .zip(flat_states(&to_eval_states(&inf.final_states)))
            .enumerate()
        {
            compare(
                &format!("{tag}: final state array {k}"),
                f,
                &final_ref[k],
                &mut failures,
            );
            compare(
                &format!("{tag}: infer final state array {k}"),
                &i,
                &final_ref[k],
                &mut failures,
            );
        }
        for (name, g) in grads.params.iter() {
            compare(
                &format!("{tag}: d{name}"),
                &g.iter().copied().collect::<Vec<_>>(),
                &e_grads.params[name],
                &mut failures,
            );
        }
        compare(
            &format!("{tag}: dx"),
            &grads.inputs.iter().copied().collect::<Vec<_>>(),
            &flat3(&e_grads.inputs),
            &mut failures,
        );
        let init_ref = flat_states(&e_grads.initial_states);
        for (k, g) in flat_states(&to_eval_states(&grads.initial_states))
            .iter()
            .enumerate()
        {
            compare(
                &format!("{tag}: d initial state array {k}"),
                g,
                &init_ref[k],
                &mut failures,
            );
        }
    }
    assert!(
        failures.is_empty(),
        "{}: generated code and reference evaluator disagree:\n{}",
        C::spec().name,
        failures.join("\n")
    );
}

macro_rules! differential {
    ($($test:ident: $cell:ident, $dims:ident { $($d:ident: $n:expr),* }, $file:literal;)*) => {
        $(
            #[test]
            fn $test() {
                check::<$cell<f64>>(
                    $dims { $($d: $n),* },
                    $file,
                    &[$((stringify!($d), $n)),*],
                    0xd1ff ^ line!() as u64,
                );
            }
        )*

        /// Every spec file has a test above (`tests/specs/*.rnn` are extra corners of the
        /// language, `specs/*.rnn` the built-in cells, which must all be covered).
        #[test]
        fn every_spec_is_covered() {
            let covered = [$($file),*];
            assert!(covered.contains(&"tests/specs/edge.rnn"));
            let mut files: Vec<String> = std::fs::read_dir("specs")
                .expect("specs/ is readable")
                .map(|e| format!("specs/{}", e.expect("entry").file_name().to_string_lossy()))
                .filter(|f| f.ends_with(".rnn"))
                .collect();
            files.sort();
            for f in &files {
                assert!(covered.contains(&f.as_str()), "{f} has no differential test");
            }
        }
    };
}

rnn_cell!("tests/specs/edge.rnn");
rnn_cell!("tests/specs/chained.rnn");

differential! {
    edge: Edge, EdgeDims { I: 3, H: 4 }, "tests/specs/edge.rnn";
    chained_products: Chained, ChainedDims { I: 3, H: 4 }, "tests/specs/chained.rnn";
    rnn_tanh: RnnTanh, RnnTanhDims { I: 3, H: 4 }, "specs/rnn_tanh.rnn";
    rnn_relu: RnnRelu, RnnReluDims { I: 3, H: 4 }, "specs/rnn_relu.rnn";
    lstm: Lstm, LstmDims { I: 3, H: 4 }, "specs/lstm.rnn";
    gru: Gru, GruDims { I: 3, H: 4 }, "specs/gru.rnn";
    gru_torch: GruTorch, GruTorchDims { I: 3, H: 4 }, "specs/gru_torch.rnn";
    lstm_no_forget: LstmNoForget, LstmNoForgetDims { I: 3, H: 4 }, "specs/lstm_no_forget.rnn";
    lstm_cifg: LstmCifg, LstmCifgDims { I: 3, H: 4 }, "specs/lstm_cifg.rnn";
    lstm_peephole: LstmPeephole, LstmPeepholeDims { I: 3, H: 4 }, "specs/lstm_peephole.rnn";
    residual: Residual, ResidualDims { I: 3, H: 4 }, "specs/residual.rnn";
    narx: Narx, NarxDims { I: 3, H: 4 }, "specs/narx.rnn";
    lstm_nig: LstmNig, LstmNigDims { I: 3, H: 4 }, "specs/lstm_nig.rnn";
    lstm_nog: LstmNog, LstmNogDims { I: 3, H: 4 }, "specs/lstm_nog.rnn";
    lstm_niaf: LstmNiaf, LstmNiafDims { I: 3, H: 4 }, "specs/lstm_niaf.rnn";
    lstm_noaf: LstmNoaf, LstmNoafDims { I: 3, H: 4 }, "specs/lstm_noaf.rnn";
    lstm_np: LstmNp, LstmNpDims { I: 3, H: 4 }, "specs/lstm_np.rnn";
    lstm_fgr: LstmFgr, LstmFgrDims { I: 3, H: 4 }, "specs/lstm_fgr.rnn";
    mgu: Mgu, MguDims { I: 3, H: 4 }, "specs/mgu.rnn";
    mut1: Mut1, Mut1Dims { H: 4 }, "specs/mut1.rnn";
    mut2: Mut2, Mut2Dims { H: 4 }, "specs/mut2.rnn";
    mut3: Mut3, Mut3Dims { I: 3, H: 4 }, "specs/mut3.rnn";
    ind_rnn: IndRnn, IndRnnDims { I: 3, H: 4 }, "specs/ind_rnn.rnn";
    layer_norm_lstm: LayerNormLstm, LayerNormLstmDims { I: 3, H: 4 }, "specs/layer_norm_lstm.rnn";
    layer_norm_lstm_haste: LayerNormLstmHaste, LayerNormLstmHasteDims { I: 3, H: 4 }, "specs/layer_norm_lstm_haste.rnn";
}
