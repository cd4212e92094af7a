//! Agreement of the built-in cells with PyTorch, in f64: outputs, final states and every gradient
//! (parameters, input sequence, initial states) on a batch of variable-length sequences.
//!
//! The reference files `tests/reference/<case>.json` were produced by
//! `tests/reference/make_reference.py` (PyTorch, float64, fixed seed: `nn.RNN`, `nn.LSTM` and
//! `nn.GRU` on packed sequences, and the textbook GRU of `specs/gru.rnn` written by hand in torch
//! ops). CI only reads them. To regenerate them, from the repository root:
//!
//! ```text
//! python3 tests/reference/make_reference.py
//! ```
//!
//! Each test prints the largest absolute difference per compared quantity; see them with
//! `cargo test --test suite pytorch_reference -- --nocapture`.

use std::collections::{BTreeMap, BTreeSet};

use crate::common;
use ndarray::{concatenate, Array2, Array3, ArrayD, Axis, Ix2, Ix3};
use recurrent::cells::*;
use recurrent::Cell;

use common::{array, Report};
use serde_json::Value;

/// One block of a PyTorch parameter: PyTorch stacks the gates' weights (or biases) along its
/// first axis; block `k` of tensor `torch` holds (the transpose of, for weights) our `ours[k]`.
/// An our-parameter named by several blocks (a merged bias) is the sum of those blocks, and its
/// gradient is the gradient of each of them.
struct Mapping {
    torch: &'static str,
    ours: &'static [&'static str],
    transpose: bool,
}

const fn map(torch: &'static str, ours: &'static [&'static str], transpose: bool) -> Mapping {
    Mapping {
        torch,
        ours,
        transpose,
    }
}

fn load(case: &str) -> Value {
    let path = format!("{}/tests/reference/{case}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {path}: {e}"))
}

fn field<'a>(doc: &'a Value, key: &str) -> &'a Value {
    doc.get(key)
        .unwrap_or_else(|| panic!("reference file has no field {key:?}"))
}

fn array2(doc: &Value, key: &str) -> Array2<f64> {
    array(field(doc, key))
        .into_dimensionality::<Ix2>()
        .unwrap_or_else(|e| panic!("{key}: {e}"))
}

fn array3(doc: &Value, key: &str) -> Array3<f64> {
    array(field(doc, key))
        .into_dimensionality::<Ix3>()
        .unwrap_or_else(|e| panic!("{key}: {e}"))
}

/// Runs `cell` (all parameters zero) with the parameters, inputs and cotangents of
/// `tests/reference/<case>.json` and compares everything with PyTorch's results.
fn check<C: Cell<f64>>(case: &str, mut cell: C, mappings: &[Mapping]) {
    let doc = load(case);
    let dims = field(&doc, "dims");
    let dim = |k: &str| field(dims, k).as_u64().expect("a dimension") as usize;
    let (t, b, i) = (dim("T"), dim("B"), dim("I"));
    let lengths: Vec<usize> = field(&doc, "lengths")
        .as_array()
        .expect("lengths")
        .iter()
        .map(|l| l.as_u64().expect("a length") as usize)
        .collect();
    assert_eq!(lengths.len(), b);
    let torch_params = field(&doc, "params").as_object().expect("params");
    let torch_grads = field(&doc, "grads").as_object().expect("grads");

    // Every parameter on both sides is covered by the mapping.
    let ours: BTreeSet<&str> = cell.params().names().collect();
    let mapped: BTreeSet<&str> = mappings
        .iter()
        .flat_map(|m| m.ours.iter().copied())
        .collect();
    assert_eq!(
        ours, mapped,
        "{case}: mapping does not cover our parameters"
    );
    let theirs: BTreeSet<&str> = torch_params.keys().map(String::as_str).collect();
    let mapped: BTreeSet<&str> = mappings.iter().map(|m| m.torch).collect();
    assert_eq!(
        theirs, mapped,
        "{case}: mapping does not cover PyTorch's parameters"
    );

    // Our parameters from PyTorch's: transposed gate blocks, merged biases summed.
    let mut values: BTreeMap<&str, ArrayD<f64>> = cell
        .params()
        .iter()
        .map(|(name, v)| (name, ArrayD::zeros(v.raw_dim())))
        .collect();
    for m in mappings {
        let full = array(&torch_params[m.torch]);
        let rows = full.shape()[0] / m.ours.len();
        assert_eq!(
            rows * m.ours.len(),
            full.shape()[0],
            "{}: block size",
            m.torch
        );
        for (k, name) in m.ours.iter().enumerate() {
            let block = full.slice_axis(Axis(0), (k * rows..(k + 1) * rows).into());
            let block = if m.transpose {
                block.reversed_axes()
            } else {
                block
            };
            *values.get_mut(name).unwrap() += &block;
        }
    }
    for (name, v) in &values {
        cell.set_param(name, v.view()).unwrap();
    }

    // States by name: `h` reads h0, h_n, dH and the gradient "h0"; `c` reads c0, c_n, dC, "c0".
    let state_names: Vec<&str> = C::spec().states.iter().map(|s| s.name).collect();
    let mut init = cell.zero_states(b);
    let mut d_final = cell.zero_states(b);
    for (k, s) in state_names.iter().enumerate() {
        assert!(init.history[k].is_empty(), "state {s} has history");
        init.values[k] = array2(&doc, &format!("{s}0"));
        d_final.values[k] = array2(&doc, &format!("d{}", s.to_uppercase()));
    }
    let x = array3(&doc, "x");
    assert_eq!(x.shape(), &[t, b, i]);
    let d_y = array3(&doc, "dY");

    let mut report = Report::new("torch");
    let fwd = cell
        .forward(x.view(), Some(&init), Some(&lengths))
        .expect("forward");
    report.compare(
        "Y",
        fwd.outputs.view().into_dyn(),
        array(field(&doc, "Y")).view(),
    );
    for (k, s) in state_names.iter().enumerate() {
        let key = format!("{s}_n");
        report.compare(
            key.clone(),
            fwd.final_states.values[k].view().into_dyn(),
            array(field(&doc, &key)).view(),
        );
    }

    let grads = cell
        .backward(&fwd, d_y.view(), Some(&d_final))
        .expect("backward");
    // Parameter gradients, back in PyTorch's layout.
    for m in mappings {
        let blocks: Vec<ArrayD<f64>> = m
            .ours
            .iter()
            .map(|name| {
                let g = grads.params.get(name).unwrap();
                let g = if m.transpose { g.reversed_axes() } else { g };
                g.to_owned()
            })
            .collect();
        let views: Vec<_> = blocks.iter().map(|g| g.view()).collect();
        let ours = concatenate(Axis(0), &views).unwrap();
        report.compare(
            format!("d {} ({})", m.torch, m.ours.join(", ")),
            ours.view(),
            array(&torch_grads[m.torch]).view(),
        );
    }
    report.compare(
        "d x",
        grads.inputs.view().into_dyn(),
        array(&torch_grads["x"]).view(),
    );
    for (k, s) in state_names.iter().enumerate() {
        let key = format!("{s}0");
        report.compare(
            format!("d {key}"),
            grads.initial_states.values[k].view().into_dyn(),
            array(&torch_grads[&key]).view(),
        );
    }
    report.finish(case);
}

#[test]
fn rnn_tanh_matches_torch_rnn_tanh() {
    check(
        "rnn_tanh",
        RnnTanh::<f64>::zeros(RnnTanhDims { I: 3, H: 4 }),
        &[
            map("weight_ih_l0", &["W_xh"], true),
            map("weight_hh_l0", &["W_hh"], true),
            map("bias_ih_l0", &["b_h"], false),
            map("bias_hh_l0", &["b_h"], false),
        ],
    );
}

#[test]
fn rnn_relu_matches_torch_rnn_relu() {
    check(
        "rnn_relu",
        RnnRelu::<f64>::zeros(RnnReluDims { I: 3, H: 4 }),
        &[
            map("weight_ih_l0", &["W_xh"], true),
            map("weight_hh_l0", &["W_hh"], true),
            map("bias_ih_l0", &["b_h"], false),
            map("bias_hh_l0", &["b_h"], false),
        ],
    );
}

#[test]
fn lstm_matches_torch_lstm() {
    // PyTorch's gate order is i, f, g (the candidate, our c), o.
    check(
        "lstm",
        Lstm::<f64>::zeros(LstmDims { I: 3, H: 4 }),
        &[
            map("weight_ih_l0", &["W_xi", "W_xf", "W_xc", "W_xo"], true),
            map("weight_hh_l0", &["W_hi", "W_hf", "W_hc", "W_ho"], true),
            map("bias_ih_l0", &["b_i", "b_f", "b_c", "b_o"], false),
            map("bias_hh_l0", &["b_i", "b_f", "b_c", "b_o"], false),
        ],
    );
}

#[test]
fn gru_torch_matches_torch_gru() {
    // PyTorch's gate order is r, z, n; the input and recurrent biases stay separate.
    check(
        "gru_torch",
        GruTorch::<f64>::zeros(GruTorchDims { I: 3, H: 4 }),
        &[
            map("weight_ih_l0", &["W_ir", "W_iz", "W_in"], true),
            map("weight_hh_l0", &["W_hr", "W_hz", "W_hn"], true),
            map("bias_ih_l0", &["b_ir", "b_iz", "b_in"], false),
            map("bias_hh_l0", &["b_hr", "b_hz", "b_hn"], false),
        ],
    );
}

#[test]
fn gru_matches_textbook_gru_in_torch_ops() {
    // Written by hand in the script, by our names and in our [in, out] layout.
    let same = |name: &'static [&'static str]| map(name[0], name, false);
    check(
        "gru",
        Gru::<f64>::zeros(GruDims { I: 3, H: 4 }),
        &[
            same(&["W_xr"]),
            same(&["W_xz"]),
            same(&["W_xh"]),
            same(&["W_hr"]),
            same(&["W_hz"]),
            same(&["W_hh"]),
            same(&["b_r"]),
            same(&["b_z"]),
            same(&["b_h"]),
        ],
    );
}
