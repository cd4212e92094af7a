//! PyTorch `state_dict` interoperability: the built-in cells loaded from (and exported to) the
//! safetensors files of `torch.nn.RNN`, `torch.nn.LSTM` and `torch.nn.GRU` compute PyTorch's
//! outputs.
//!
//! The fixtures `tests/reference/torch/*.safetensors` and `outputs.json` were written by
//! `tests/reference/make_torch_state_dict.py` (`safetensors.torch.save_file(module.state_dict())`,
//! float32 and a float64 copy of the same values; reference outputs in float64). CI only reads
//! them. To regenerate them, from the repository root:
//!
//! ```text
//! python3 tests/reference/make_torch_state_dict.py
//! ```
//!
//! To check that PyTorch accepts our exported files (needs torch, so not in CI):
//!
//! ```text
//! RNN_TORCH_EXPORT_DIR=/tmp/rnn-export cargo test --test suite torch_export_for_python_check
//! python3 tests/reference/make_torch_state_dict.py --verify /tmp/rnn-export
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;

use ndarray::{concatenate, s, Array3, ArrayD, ArrayView3, ArrayViewD, Axis, Ix3};
use recurrent::cells::*;
use recurrent::torch::{export_torch, import_torch};
use recurrent::{load_foreign_tensors, load_tensors, save_tensors, Cell, Error, Float, TensorFile};
use serde_json::Value;

#[allow(dead_code)]
use crate::common;

const T: usize = 5;
const B: usize = 2;
const I: usize = 3;
const H: usize = 4;

fn fixture(case: &str, dtype: &str) -> PathBuf {
    PathBuf::from(format!(
        "{}/tests/reference/torch/{case}.{dtype}.safetensors",
        env!("CARGO_MANIFEST_DIR")
    ))
}

fn load_fixture<F: Float>(case: &str) -> TensorFile<F> {
    let dtype = if std::mem::size_of::<F>() == 4 {
        "f32"
    } else {
        "f64"
    };
    let path = fixture(case, dtype);
    load_foreign_tensors::<F>(&path).unwrap_or_else(|e| panic!("{e}"))
}

/// The reference record of `case` in outputs.json.
fn reference(case: &str) -> Value {
    let path = format!(
        "{}/tests/reference/torch/outputs.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    let doc: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {path}: {e}"));
    let dims = &doc["dims"];
    for (k, v) in [("T", T), ("B", B), ("I", I), ("H", H)] {
        assert_eq!(dims[k].as_u64(), Some(v as u64), "dimension {k}");
    }
    doc["cases"][case].clone()
}

fn input<F: Float>(doc: &Value) -> Array3<F> {
    common::array(&doc["x"])
        .into_dimensionality::<Ix3>()
        .unwrap()
        .mapv(F::from_f64)
}

/// Runs `cell` over `x` from zero states; in the `reverse` direction over the time-reversed
/// sequence, its outputs reversed back (PyTorch's backward direction). Returns the outputs
/// `[T, B, H]` and the final states.
fn run<F: Float, C: Cell<F>>(
    cell: &C,
    x: ArrayView3<'_, F>,
    reverse: bool,
) -> (Array3<F>, Vec<ndarray::Array2<F>>) {
    let x = if reverse {
        x.slice(s![..;-1, .., ..]).to_owned()
    } else {
        x.to_owned()
    };
    let inference = cell.infer(x.view(), None, None).unwrap();
    let mut outputs = inference.outputs;
    if reverse {
        outputs = outputs.slice(s![..;-1, .., ..]).to_owned();
    }
    (outputs, inference.final_states.values)
}

fn compare<F: Float>(case: &str, what: &str, ours: ArrayViewD<'_, F>, theirs: &Value, tol: f64) {
    let theirs = common::array(theirs);
    assert_eq!(ours.shape(), theirs.shape(), "{case}: {what}: shape");
    let diff = ours
        .iter()
        .zip(theirs.iter())
        .map(|(&a, b)| (Float::to_f64(a) - b).abs())
        .fold(0.0, f64::max);
    println!("{case}: {what}: max |ours - torch| = {diff:.3e} (tolerance {tol:e})");
    assert!(diff <= tol, "{case}: {what}: {diff:e} > {tol:e}");
}

/// A one-layer unidirectional module: import, run, compare `output` and `h_n`.
fn check_single<F: Float, C: Cell<F>>(case: &str, mut cell: C, tol: f64) {
    let file = load_fixture::<F>(case);
    import_torch(&mut cell, &file, "", 0, false).unwrap();
    let doc = reference(case);
    let (out, states) = run(&cell, input::<F>(&doc).view(), false);
    compare(case, "output", out.view().into_dyn(), &doc["output"], tol);
    let h_n = states[0].view().insert_axis(Axis(0));
    compare(case, "h_n", h_n.into_dyn(), &doc["h_n"], tol);
}

#[test]
fn rnn_tanh_f64_matches_torch() {
    check_single(
        "rnn_tanh",
        RnnTanh::<f64>::zeros(RnnTanhDims { I, H }),
        1e-6,
    );
}

#[test]
fn rnn_tanh_f32_matches_torch() {
    check_single(
        "rnn_tanh",
        RnnTanh::<f32>::zeros(RnnTanhDims { I, H }),
        1e-5,
    );
}

#[test]
fn rnn_relu_matches_torch() {
    check_single(
        "rnn_relu",
        RnnRelu::<f64>::zeros(RnnReluDims { I, H }),
        1e-6,
    );
    check_single(
        "rnn_relu",
        RnnRelu::<f32>::zeros(RnnReluDims { I, H }),
        1e-5,
    );
}

#[test]
fn rnn_without_bias_loads_zero_biases() {
    let mut rng = recurrent::seeded_rng(1);
    // Random biases beforehand: the import must zero them.
    let cell = RnnTanh::<f64>::new(RnnTanhDims { I, H }, &mut rng);
    assert!(cell.param("b_h").unwrap().iter().any(|&v| v != 0.0));
    check_single("rnn_tanh_nobias", cell.clone(), 1e-6);
    let mut imported = cell;
    import_torch(
        &mut imported,
        &load_fixture::<f64>("rnn_tanh_nobias"),
        "",
        0,
        false,
    )
    .unwrap();
    assert!(imported.param("b_h").unwrap().iter().all(|&v| v == 0.0));
    check_single(
        "rnn_tanh_nobias",
        RnnTanh::<f32>::zeros(RnnTanhDims { I, H }),
        1e-5,
    );
}

#[test]
fn gru_matches_torch() {
    check_single("gru", GruTorch::<f64>::zeros(GruTorchDims { I, H }), 1e-6);
    check_single("gru", GruTorch::<f32>::zeros(GruTorchDims { I, H }), 1e-5);
}

/// The 2-layer bidirectional LSTM: four cells, `[layer][direction]`.
fn lstm_cells<F: Float>(file: &TensorFile<F>) -> Vec<[Lstm<F>; 2]> {
    (0..2)
        .map(|layer| {
            let input = if layer == 0 { I } else { 2 * H };
            let mut pair = [
                Lstm::<F>::zeros(LstmDims { I: input, H }),
                Lstm::<F>::zeros(LstmDims { I: input, H }),
            ];
            for (d, cell) in pair.iter_mut().enumerate() {
                import_torch(cell, file, "", layer, d == 1).unwrap();
            }
            pair
        })
        .collect()
}

fn check_lstm<F: Float>(tol: f64) {
    let file = load_fixture::<F>("lstm");
    let cells = lstm_cells(&file);
    let doc = reference("lstm");
    let mut x = input::<F>(&doc);
    let (mut h_n, mut c_n) = (vec![], vec![]);
    for pair in &cells {
        let (fwd, fwd_states) = run(&pair[0], x.view(), false);
        let (bwd, bwd_states) = run(&pair[1], x.view(), true);
        // The layer's output, [T, B, 2H], is the next layer's input.
        x = concatenate(Axis(2), &[fwd.view(), bwd.view()]).unwrap();
        for states in [fwd_states, bwd_states] {
            h_n.push(states[0].clone());
            c_n.push(states[1].clone());
        }
    }
    compare("lstm", "output", x.view().into_dyn(), &doc["output"], tol);
    let stack = |v: &[ndarray::Array2<F>]| -> ArrayD<F> {
        let views: Vec<_> = v.iter().map(|a| a.view()).collect();
        ndarray::stack(Axis(0), &views).unwrap().into_dyn()
    };
    compare("lstm", "h_n", stack(&h_n).view(), &doc["h_n"], tol);
    compare("lstm", "c_n", stack(&c_n).view(), &doc["c_n"], tol);
}

#[test]
fn lstm_two_layers_bidirectional_f64_matches_torch() {
    check_lstm::<f64>(1e-6);
}

#[test]
fn lstm_two_layers_bidirectional_f32_matches_torch() {
    check_lstm::<f32>(1e-5);
}

/// export → import gives the same parameters; the exported tensors are PyTorch's up to the
/// merged biases (bias_ih + bias_hh in bias_ih, zeros in bias_hh).
fn check_round_trip<C: Cell<f64>>(case: &str, layer: usize, reverse: bool, mut cell: C) {
    let file = load_fixture::<f64>(case);
    import_torch(&mut cell, &file, "", layer, reverse).unwrap();
    let exported = export_torch(&cell, "rnn.", layer, reverse).unwrap();
    let suffix = if reverse { "_reverse" } else { "" };
    let names: Vec<&str> = exported.iter().map(|(n, _)| n.as_str()).collect();
    let expected: Vec<String> = ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]
        .iter()
        .map(|k| format!("rnn.{k}_l{layer}{suffix}"))
        .collect();
    assert_eq!(names, expected);
    for (name, value) in &exported {
        let theirs = file.get(&name["rnn.".len()..]).unwrap();
        assert_eq!(value.shape(), theirs.shape(), "{name}");
        if name.contains("weight") {
            assert_eq!(value.view(), theirs, "{name}");
        }
    }

    // Through a file, and back into a cell with other values.
    let dir = std::env::temp_dir().join(format!("rnn-torch-interop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{case}-{layer}{suffix}.safetensors"));
    let views: Vec<_> = exported
        .iter()
        .map(|(n, a)| (n.clone(), a.view()))
        .collect();
    save_tensors(&path, &views, &BTreeMap::new()).unwrap();
    let reloaded = load_tensors::<f64>(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let mut other = cell.clone();
    other.params_mut().scale(0.5);
    other.params_mut().add_scaled(1.0, cell.params()).unwrap();
    assert_ne!(other.params(), cell.params());
    import_torch(&mut other, &reloaded, "rnn.", layer, reverse).unwrap();
    assert_eq!(other.params(), cell.params(), "{case}: export then import");
}

#[test]
fn export_then_import_gives_identical_parameters() {
    check_round_trip("rnn_tanh", 0, false, RnnTanh::zeros(RnnTanhDims { I, H }));
    check_round_trip("rnn_relu", 0, false, RnnRelu::zeros(RnnReluDims { I, H }));
    check_round_trip("gru", 0, false, GruTorch::zeros(GruTorchDims { I, H }));
    for layer in 0..2 {
        for reverse in [false, true] {
            let input = if layer == 0 { I } else { 2 * H };
            let cell = Lstm::zeros(LstmDims { I: input, H });
            check_round_trip("lstm", layer, reverse, cell);
        }
    }
}

#[test]
fn exported_merged_biases_compute_the_same_function() {
    // bias_ih + bias_hh of the export equals PyTorch's sum, gate by gate.
    let file = load_fixture::<f64>("lstm");
    let mut cell = Lstm::<f64>::zeros(LstmDims { I, H });
    import_torch(&mut cell, &file, "", 0, false).unwrap();
    let exported = TensorFile::new(export_torch(&cell, "", 0, false).unwrap());
    let sum = |f: &TensorFile<f64>| &f.get("bias_ih_l0").unwrap() + &f.get("bias_hh_l0").unwrap();
    let diff = (&sum(&file) - &sum(&exported))
        .iter()
        .fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(diff < 1e-15, "{diff}");
    assert!(exported
        .get("bias_hh_l0")
        .unwrap()
        .iter()
        .all(|&v| v == 0.0));
}

/// A cell with random parameters, to see that a failed import leaves it unchanged.
fn random_lstm(input: usize) -> Lstm<f64> {
    Lstm::new(LstmDims { I: input, H }, &mut recurrent::seeded_rng(7))
}

#[test]
fn missing_key_is_named_and_leaves_the_cell_unchanged() {
    let full = load_fixture::<f64>("lstm");
    let mut cell = random_lstm(I);
    let before = cell.clone();

    let mut file = full.clone();
    file.tensors.retain(|(n, _)| n != "weight_hh_l0_reverse");
    let text = import_torch(&mut cell, &file, "", 0, true)
        .unwrap_err()
        .to_string();
    assert!(
        text.starts_with(
            "importing layer 0 (reverse) of a PyTorch state_dict into Lstm: no tensor \
             `weight_hh_l0_reverse`; expected one of: "
        ) && text.contains("weight_ih_l0_reverse"),
        "{text}"
    );
    assert_eq!(cell.params(), before.params());

    // One bias without the other.
    let mut file = full.clone();
    file.tensors.retain(|(n, _)| n != "bias_hh_l0");
    let text = import_torch(&mut cell, &file, "", 0, false)
        .unwrap_err()
        .to_string();
    assert!(text.contains("no tensor `bias_hh_l0`"), "{text}");
    assert_eq!(cell.params(), before.params());

    // A layer the module does not have; a wrong prefix.
    let text = import_torch(&mut cell, &full, "", 2, false)
        .unwrap_err()
        .to_string();
    assert!(text.contains("no tensor `weight_ih_l2`"), "{text}");
    let text = import_torch(&mut cell, &full, "encoder.", 0, false)
        .unwrap_err()
        .to_string();
    assert!(text.contains("no tensor `encoder.weight_ih_l0`"), "{text}");
    assert_eq!(cell.params(), before.params());
}

#[test]
fn wrong_shape_is_named_with_expected_and_found() {
    let full = load_fixture::<f64>("lstm");

    // Layer 1 takes the bidirectional layer 0's 2H = 8 features, not I = 3.
    let mut cell = random_lstm(I);
    let before = cell.clone();
    let err = import_torch(&mut cell, &full, "", 1, false).unwrap_err();
    assert_eq!(
        err,
        Error::Shape {
            what: "PyTorch tensor `weight_ih_l1` (W_xi, W_xf, W_xc, W_xo)".into(),
            expected: "[4*4, 3] = [16, 3]".into(),
            found: "[16, 8]".into(),
        }
    );
    assert_eq!(
        err.to_string(),
        "PyTorch tensor `weight_ih_l1` (W_xi, W_xf, W_xc, W_xo): expected shape [4*4, 3] = \
         [16, 3], found [16, 8]"
    );
    assert_eq!(cell.params(), before.params());

    // A wrong bias, after valid weights: still nothing written.
    let mut file = full.clone();
    for (name, value) in &mut file.tensors {
        if name == "bias_hh_l0" {
            *value = ArrayD::zeros(vec![12]);
        }
    }
    let text = import_torch(&mut cell, &file, "", 0, false)
        .unwrap_err()
        .to_string();
    assert_eq!(
        text,
        "PyTorch tensor `bias_hh_l0` (b_i, b_f, b_c, b_o): expected shape [4*4] = [16], found [12]"
    );
    assert_eq!(cell.params(), before.params());

    // A hidden size that differs from the module's.
    let mut small = RnnTanh::<f64>::zeros(RnnTanhDims { I, H: 5 });
    let text = import_torch(&mut small, &load_fixture("rnn_tanh"), "", 0, false)
        .unwrap_err()
        .to_string();
    assert_eq!(
        text,
        "PyTorch tensor `weight_ih_l0` (W_xh): expected shape [1*5, 3] = [5, 3], found [4, 3]"
    );
    assert!(small
        .params()
        .iter()
        .all(|(_, v)| v.iter().all(|&x| x == 0.0)));
}

#[test]
fn unsupported_cell_lists_the_supported_ones() {
    let file = load_fixture::<f64>("gru");
    // The textbook GRU (reset gate before the product) is not PyTorch's GRU.
    let mut cell = Gru::<f64>::new(GruDims { I, H }, &mut recurrent::seeded_rng(3));
    let before = cell.clone();
    let expected = "cell Gru has no PyTorch layout; expected one of: RnnTanh, RnnRelu, Lstm, \
                    GruTorch";
    let err = import_torch(&mut cell, &file, "", 0, false).unwrap_err();
    assert_eq!(err.to_string(), expected);
    assert_eq!(cell.params(), before.params());
    let err = export_torch(&cell, "", 0, false).unwrap_err();
    assert_eq!(err.to_string(), expected);
}

#[test]
fn lstm_with_projection_is_refused() {
    let mut file = load_fixture::<f64>("lstm");
    file.tensors
        .push(("weight_hr_l0".to_string(), ArrayD::zeros(vec![2, 4])));
    let mut cell = random_lstm(I);
    let text = import_torch(&mut cell, &file, "", 0, false)
        .unwrap_err()
        .to_string();
    assert!(
        text.contains("`weight_hr_l0` (an LSTM with proj_size)"),
        "{text}"
    );
}

/// A named tensor, as `export_torch` returns them.
type Named = (String, ArrayD<f64>);

/// Writes, for each fixture, our export of the imported cells (every layer and direction) to
/// `$RNN_TORCH_EXPORT_DIR/<case>.safetensors`, for `make_torch_state_dict.py --verify`. Does
/// nothing without the variable (as in CI).
#[test]
fn torch_export_for_python_check() {
    let Some(dir) = std::env::var_os("RNN_TORCH_EXPORT_DIR") else {
        return;
    };
    let dir = PathBuf::from(dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut files: Vec<(&str, Vec<Named>)> = vec![];
    let one = |case: &str, mut cell: RnnTanh<f64>| {
        import_torch(&mut cell, &load_fixture(case), "", 0, false).unwrap();
        export_torch(&cell, "", 0, false).unwrap()
    };
    files.push((
        "rnn_tanh",
        one("rnn_tanh", RnnTanh::zeros(RnnTanhDims { I, H })),
    ));
    // A bias=False module has no bias keys: drop the (zero) exported biases.
    let mut nobias = one("rnn_tanh_nobias", RnnTanh::zeros(RnnTanhDims { I, H }));
    nobias.retain(|(n, _)| !n.starts_with("bias"));
    files.push(("rnn_tanh_nobias", nobias));
    let mut relu = RnnRelu::<f64>::zeros(RnnReluDims { I, H });
    import_torch(&mut relu, &load_fixture("rnn_relu"), "", 0, false).unwrap();
    files.push(("rnn_relu", export_torch(&relu, "", 0, false).unwrap()));
    let mut gru = GruTorch::<f64>::zeros(GruTorchDims { I, H });
    import_torch(&mut gru, &load_fixture("gru"), "", 0, false).unwrap();
    files.push(("gru", export_torch(&gru, "", 0, false).unwrap()));
    let mut lstm = vec![];
    for (layer, pair) in lstm_cells(&load_fixture::<f64>("lstm")).iter().enumerate() {
        for (d, cell) in pair.iter().enumerate() {
            lstm.extend(export_torch(cell, "", layer, d == 1).unwrap());
        }
    }
    files.push(("lstm", lstm));
    for (case, tensors) in files {
        let path = dir.join(format!("{case}.safetensors"));
        let views: Vec<_> = tensors.iter().map(|(n, a)| (n.clone(), a.view())).collect();
        let meta = BTreeMap::from([("exported_by".to_string(), "rnn torch_interop".to_string())]);
        save_tensors(&path, &views, &meta).unwrap();
        println!("wrote {}", path.display());
    }
}
