//! Agreement of the variant cells (LSTM variants of Greff et al. 2017, peephole, no-forget and
//! CIFG LSTMs, residual and NARX RNNs, MGU, MUT1-3, IndRNN, layer-normalized LSTMs, UGRNN, the
//! LSTMs with variational dropout and with zoneout) with independent step-by-step
//! implementations in PyTorch, in f64: outputs, final states (and history) and every gradient
//! (parameters, input sequence, initial states and history) on a batch of variable-length
//! sequences. A cell with random masks runs with the reference's fixed 0/1 masks, given by name
//! (`Masks::Given`).
//!
//! The reference files `tests/reference/variants/<case>.json` were produced by
//! `tests/reference/make_variant_reference.py`, which writes each cell from its published
//! equations in torch ops (not from our specs), by our parameter names and in our `[in, out]`
//! layout. CI only reads them. To regenerate them, from the repository root:
//!
//! ```text
//! python3 tests/reference/make_variant_reference.py
//! ```
//!
//! Each test prints the largest absolute difference per compared quantity; see them with
//! `cargo test --test suite variant_reference -- --nocapture`.

use std::collections::BTreeSet;

use crate::common;
use ndarray::{Array2, Array3, Ix2, Ix3};
use recurrent::cells::*;
use recurrent::{Cell, Masks, NamedTensors};

use common::{array, Report};
use serde_json::{Map, Value};

fn load(case: &str) -> Value {
    let path = format!(
        "{}/tests/reference/variants/{case}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {path}: {e}"))
}

fn array2(v: &Value, what: &str) -> Array2<f64> {
    array(v)
        .into_dimensionality::<Ix2>()
        .unwrap_or_else(|e| panic!("{what}: {e}"))
}

fn array3(v: &Value, what: &str) -> Array3<f64> {
    array(v)
        .into_dimensionality::<Ix3>()
        .unwrap_or_else(|e| panic!("{what}: {e}"))
}

fn field<'a>(doc: &'a Value, key: &str) -> &'a Value {
    doc.get(key)
        .unwrap_or_else(|| panic!("reference file has no field {key:?}"))
}

fn object<'a>(doc: &'a Value, key: &str) -> &'a Map<String, Value> {
    field(doc, key)
        .as_object()
        .unwrap_or_else(|| panic!("{key} is not an object"))
}

fn keys(map: &Map<String, Value>) -> BTreeSet<&str> {
    map.keys().map(String::as_str).collect()
}

/// A state's history in the reference file (`[depth, B, H]`; none when the state has none).
fn history(map: &Map<String, Value>, state: &str) -> Vec<Array2<f64>> {
    match map.get(state) {
        None => Vec::new(),
        Some(list) => list
            .as_array()
            .unwrap_or_else(|| panic!("history of {state} is not a list"))
            .iter()
            .enumerate()
            .map(|(k, a)| array2(a, &format!("history {state}[{k}]")))
            .collect(),
    }
}

/// Runs `cell` (all parameters zero) with the parameters, inputs, initial states and cotangents
/// of `tests/reference/variants/<case>.json` and compares everything with the reference.
fn check<C: Cell<f64>>(case: &str, mut cell: C) {
    let doc = load(case);
    let spec = C::spec();
    assert_eq!(
        field(&doc, "type").as_str(),
        Some(spec.name),
        "{case}: reference file is for another cell"
    );
    let dims = field(&doc, "dims");
    let dim = |k: &str| field(dims, k).as_u64().expect("a dimension") as usize;
    let (t, b, i, h) = (dim("T"), dim("B"), dim("I"), dim("H"));
    assert_eq!(cell.input_size(), i, "{case}: input size");
    assert_eq!(cell.output_size(), h, "{case}: output size");
    let lengths: Vec<usize> = field(&doc, "lengths")
        .as_array()
        .expect("lengths")
        .iter()
        .map(|l| l.as_u64().expect("a length") as usize)
        .collect();
    assert_eq!(lengths.len(), b);

    // The same parameters on both sides, by name.
    let ref_params = object(&doc, "params");
    let ref_grads = field(&doc, "grads");
    let ref_param_grads = object(ref_grads, "params");
    let ours: BTreeSet<&str> = cell.params().names().collect();
    assert_eq!(
        ours,
        keys(ref_params),
        "{case}: our parameter names differ from the reference's"
    );
    assert_eq!(
        ours,
        keys(ref_param_grads),
        "{case}: the reference's gradient names differ from our parameter names"
    );
    for (name, v) in ref_params {
        cell.set_param(name, array(v).view())
            .unwrap_or_else(|e| panic!("{case}: set_param({name}): {e}"));
    }

    // The same states on both sides, by name (our order is the spec's declaration order).
    let state_names: Vec<&str> = spec.states.iter().map(|s| s.name).collect();
    let ref_init = object(&doc, "init");
    assert_eq!(
        state_names.iter().copied().collect::<BTreeSet<_>>(),
        keys(ref_init),
        "{case}: our state names differ from the reference's"
    );
    let ref_init_hist = object(&doc, "init_history");
    let ref_d_final = object(&doc, "d_final");
    let ref_d_final_hist = object(&doc, "d_final_history");
    let ref_final = object(&doc, "final");
    let ref_final_hist = object(&doc, "final_history");
    let ref_grad_init = object(ref_grads, "init");
    let ref_grad_init_hist = object(ref_grads, "init_history");
    for s in keys(ref_init_hist) {
        assert!(
            state_names.contains(&s),
            "{case}: the reference has history for {s}, which is not one of our states"
        );
    }

    let mut init = cell.zero_states(b);
    let mut d_final = cell.zero_states(b);
    for (k, s) in spec.states.iter().enumerate() {
        let name = s.name;
        init.values[k] = array2(&ref_init[name], &format!("init {name}"));
        d_final.values[k] = array2(&ref_d_final[name], &format!("d_final {name}"));
        let hist = history(ref_init_hist, name);
        assert_eq!(
            init.history[k].len(),
            hist.len(),
            "{case}: state {name}: our history depth (delay {} - 1) differs from the reference's",
            s.delay
        );
        init.history[k] = hist;
        d_final.history[k] = history(ref_d_final_hist, name);
    }
    let x = array3(field(&doc, "x"), "x");
    assert_eq!(x.shape(), &[t, b, i]);
    let d_y = array3(field(&doc, "dY"), "dY");

    // The random masks, if the cell has any: the reference's fixed values, by name.
    let mask_names: BTreeSet<&str> = spec.masks.iter().map(|m| m.name).collect();
    let mut masks = NamedTensors::new();
    match doc.get("masks") {
        None => assert!(
            mask_names.is_empty(),
            "{case}: our cell has masks {mask_names:?}, the reference file none"
        ),
        Some(ref_masks) => {
            let ref_masks = ref_masks.as_object().expect("masks is not an object");
            assert_eq!(
                mask_names,
                keys(ref_masks),
                "{case}: our mask names differ from the reference's"
            );
            for m in spec.masks {
                masks.push(m.name, array(&ref_masks[m.name]).view());
            }
        }
    }

    let mut report = Report::new("ref");
    let fwd = if mask_names.is_empty() {
        cell.forward(x.view(), Some(&init), Some(&lengths))
    } else {
        cell.forward_masked(x.view(), Some(&init), Some(&lengths), Masks::Given(&masks))
    }
    .expect("forward");
    report.compare(
        "Y",
        fwd.outputs.view().into_dyn(),
        array(field(&doc, "Y")).view(),
    );
    for (k, name) in state_names.iter().enumerate() {
        report.compare(
            format!("{name}_n"),
            fwd.final_states.values[k].view().into_dyn(),
            array(&ref_final[*name]).view(),
        );
        let hist = history(ref_final_hist, name);
        assert_eq!(fwd.final_states.history[k].len(), hist.len());
        for (j, (ours, theirs)) in fwd.final_states.history[k].iter().zip(&hist).enumerate() {
            report.compare(
                format!("{name}_n history[{j}]"),
                ours.view().into_dyn(),
                theirs.view().into_dyn(),
            );
        }
    }

    let grads = cell
        .backward(&fwd, d_y.view(), Some(&d_final))
        .expect("backward");
    let grad_names: BTreeSet<&str> = grads.params.names().collect();
    assert_eq!(grad_names, ours, "{case}: gradient names");
    for (name, g) in ref_param_grads {
        report.compare(
            format!("d {name}"),
            grads.params.get(name).unwrap(),
            array(g).view(),
        );
    }
    report.compare(
        "d x",
        grads.inputs.view().into_dyn(),
        array(field(ref_grads, "x")).view(),
    );
    for (k, name) in state_names.iter().enumerate() {
        report.compare(
            format!("d {name}0"),
            grads.initial_states.values[k].view().into_dyn(),
            array(&ref_grad_init[*name]).view(),
        );
        let hist = history(ref_grad_init_hist, name);
        assert_eq!(grads.initial_states.history[k].len(), hist.len());
        for (j, (ours, theirs)) in grads.initial_states.history[k]
            .iter()
            .zip(&hist)
            .enumerate()
        {
            report.compare(
                format!("d {name}0 history[{j}]"),
                ours.view().into_dyn(),
                theirs.view().into_dyn(),
            );
        }
    }
    report.finish(case);
}

#[test]
fn lstm_no_forget() {
    check(
        "lstm_no_forget",
        LstmNoForget::<f64>::zeros(LstmNoForgetDims { I: 3, H: 4 }),
    );
}

#[test]
fn lstm_cifg() {
    check(
        "lstm_cifg",
        LstmCifg::<f64>::zeros(LstmCifgDims { I: 3, H: 4 }),
    );
}

#[test]
fn lstm_peephole() {
    check(
        "lstm_peephole",
        LstmPeephole::<f64>::zeros(LstmPeepholeDims { I: 3, H: 4 }),
    );
}

#[test]
fn residual() {
    check(
        "residual",
        Residual::<f64>::zeros(ResidualDims { I: 3, H: 4 }),
    );
}

#[test]
fn narx() {
    check("narx", Narx::<f64>::zeros(NarxDims { I: 3, H: 4 }));
}

#[test]
fn lstm_nig() {
    check(
        "lstm_nig",
        LstmNig::<f64>::zeros(LstmNigDims { I: 3, H: 4 }),
    );
}

#[test]
fn lstm_nog() {
    check(
        "lstm_nog",
        LstmNog::<f64>::zeros(LstmNogDims { I: 3, H: 4 }),
    );
}

#[test]
fn lstm_niaf() {
    check(
        "lstm_niaf",
        LstmNiaf::<f64>::zeros(LstmNiafDims { I: 3, H: 4 }),
    );
}

#[test]
fn lstm_noaf() {
    check(
        "lstm_noaf",
        LstmNoaf::<f64>::zeros(LstmNoafDims { I: 3, H: 4 }),
    );
}

#[test]
fn lstm_np() {
    check("lstm_np", LstmNp::<f64>::zeros(LstmNpDims { I: 3, H: 4 }));
}

#[test]
fn lstm_fgr() {
    check(
        "lstm_fgr",
        LstmFgr::<f64>::zeros(LstmFgrDims { I: 3, H: 4 }),
    );
}

#[test]
fn mgu() {
    check("mgu", Mgu::<f64>::zeros(MguDims { I: 3, H: 4 }));
}

#[test]
fn mut1() {
    check("mut1", Mut1::<f64>::zeros(Mut1Dims { H: 4 }));
}

#[test]
fn mut2() {
    check("mut2", Mut2::<f64>::zeros(Mut2Dims { H: 4 }));
}

#[test]
fn mut3() {
    check("mut3", Mut3::<f64>::zeros(Mut3Dims { I: 3, H: 4 }));
}

#[test]
fn ind_rnn() {
    check("ind_rnn", IndRnn::<f64>::zeros(IndRnnDims { I: 3, H: 4 }));
}

#[test]
fn layer_norm_lstm() {
    check(
        "layer_norm_lstm",
        LayerNormLstm::<f64>::zeros(LayerNormLstmDims { I: 3, H: 4 }),
    );
}

#[test]
fn layer_norm_lstm_haste() {
    check(
        "layer_norm_lstm_haste",
        LayerNormLstmHaste::<f64>::zeros(LayerNormLstmHasteDims { I: 3, H: 4 }),
    );
}

#[test]
fn ugrnn() {
    check("ugrnn", Ugrnn::<f64>::zeros(UgrnnDims { I: 3, H: 4 }));
}

#[test]
fn lstm_variational() {
    check(
        "lstm_variational",
        LstmVariational::<f64>::zeros(LstmVariationalDims { I: 3, H: 4 }),
    );
}

#[test]
fn lstm_zoneout() {
    check(
        "lstm_zoneout",
        LstmZoneout::<f64>::zeros(LstmZoneoutDims { I: 3, H: 4 }),
    );
}
