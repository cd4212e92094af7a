//! ONNX export of the random specs of `build.rs` (each compiled by `rnn_cell!`, this file
//! includes them), of the differential test's corners of the language (`tests/specs/edge.rnn`,
//! `tests/specs/chained.rnn`) and of two cells whose output depends on no example, in `f32`
//! with random parameters: onnxruntime runs every exported
//! model at sequence lengths and batch sizes the export never saw, with and without lengths and
//! initial states, and its outputs and final states must match our inference pass to 1e-5
//! relative (the facade's ONNX harness, `tests/onnx/harness.rs`, which needs a Python with `onnx`
//! and `onnxruntime`: `RNN_PYTHON`; without them the check is skipped, unless `CI=true`).

// The harness names the facade `recurrent`; this crate depends on it as `facade`.
extern crate facade as recurrent;

#[path = "../../tests/onnx/harness.rs"]
#[allow(dead_code)] // `write_model_case`: no models here.
mod harness;

include!(concat!(env!("OUT_DIR"), "/cells.rs"));

use facade::rnn_cell;

rnn_cell!("../tests/specs/edge.rnn");
rnn_cell!("../tests/specs/chained.rnn");

rnn_cell! {
    /// An output that depends on no example: a function of a mask (at its expectation when
    /// exported), the same for every example (found by random spec 252 of seed 7).
    cell MaskOutput {
        input x: [I];
        state h: [H];
        param W: [I, H];
        mask m: [H] = bernoulli_per_step(0.25);

        h[t] = tanh(x[t] @ W);
        output sum(m);
    }
}

rnn_cell! {
    /// An output and a state update that depend on no example: functions of a parameter.
    cell ParamOutput {
        input x: [I];
        state h: [H];
        param b: [H];

        h[t] = tanh(b);
        output sigmoid(b);
    }
}

#[test]
fn random_specs_and_language_corners_run_in_onnxruntime_as_here() {
    let start = std::time::Instant::now();
    let dir = harness::fresh_dir("random-cells");
    let corners: [(&str, Box<dyn facade::DynCell<f32>>); 4] = [
        (
            "edge",
            rnn_random_cells::f32_cell::<Edge<f32>>(EdgeDims { I: 3, H: 4 }, 0xed6e),
        ),
        (
            "chained",
            rnn_random_cells::f32_cell::<Chained<f32>>(ChainedDims { I: 3, H: 4 }, 0xc4a1),
        ),
        (
            "mask_output",
            rnn_random_cells::f32_cell::<MaskOutput<f32>>(MaskOutputDims { I: 3, H: 4 }, 0x3a5c),
        ),
        (
            "param_output",
            rnn_random_cells::f32_cell::<ParamOutput<f32>>(ParamOutputDims { I: 3, H: 4 }, 0xba4a),
        ),
    ];
    for (k, (name, cell)) in corners.iter().enumerate() {
        harness::write_cell_case(&dir, name, cell.as_ref(), 0x0cc5 + k as u64);
    }
    for (k, (name, spec, cell)) in F32_CELLS.iter().enumerate() {
        let cell = cell();
        // An export error names the spec; a disagreement is reported by the check below, with
        // the case's name (`case_<k>`: its spec is in `$OUT_DIR/cells.rs`).
        if let Err(e) = recurrent::onnx::export_cell(cell.as_ref()) {
            panic!("{name} (seed {SEED:#x}): ONNX export fails: {e}\nspec:\n{spec}");
        }
        harness::write_cell_case(&dir, name, cell.as_ref(), 0x0cc5 ^ ((k as u64) << 8));
    }
    let written = start.elapsed();
    assert!(F32_CELLS.len() >= 100 || std::env::var_os("RNN_RANDOM_CELLS").is_some());
    // A disagreement names the case; its spec is added to the report.
    if let Err(panic) = std::panic::catch_unwind(|| harness::check(&dir)) {
        let report = panic
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_else(|| "the check panicked".into());
        let mut specs = String::new();
        for (name, spec, _) in F32_CELLS {
            if report.contains(&format!("FAIL {name}: "))
                || report.contains(&format!("FAIL {name} "))
            {
                specs.push_str(&format!("\n{name} (seed {SEED:#x}):\n{spec}"));
            }
        }
        panic!("{report}{specs}");
    }
    eprintln!(
        "ONNX: {} corners and {} random specs (seed {SEED:#x}) exported and run in {:.1?} \
         ({written:.1?} here, the rest in onnxruntime)",
        corners.len(),
        F32_CELLS.len(),
        start.elapsed()
    );
}
