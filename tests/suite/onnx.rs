//! ONNX export: every built-in cell, and a cell with every function, transposed weights, user
//! functions and masks, exported and run by onnxruntime at sequence lengths and batch sizes the
//! export never saw, with and without lengths and initial states: its outputs and final states
//! match our f32 inference pass to 1e-5 relative (`tests/onnx/check.py`; see the harness for
//! the Python it needs).

#[path = "../onnx/harness.rs"]
mod harness;

use recurrent::cells::*;
use recurrent::{rnn_cell, seeded_rng, DynCell};

rnn_cell! {
    /// Every function of the language, `max`/`min`, reductions, a user function, a transposed
    /// weight, `concat`, delays and both kinds of masks.
    cell OnnxZoo {
        input x: [I];
        state h: [H], c: [H];
        param W: [I, H];
        param U: [H, H];
        param C: [I + H, H];
        param b: [H];
        mask m: [H] = bernoulli(0.75);
        mask z: [H] = bernoulli_per_step(0.2);

        fn norm(v) = (v - mean(v)) / sqrt(mean(square(v - mean(v))) + 0.1);

        a = x[t] @ W + (m * h[t-1]) @ U + b;
        r = h[t-2] @ U^T + concat(x[t-1], c[t-1]) @ C;
        f1 = sigmoid(a) + tanh(r) + relu(a) + softsign(r) + hard_sigmoid(a) + softplus(r)
            + silu(a) + gelu(r) + gelu_tanh(a) + abs(r) + elu(a) + elu(r, 0.5);
        f2 = leaky_relu(a, 0.1) + pow(a * a + 0.5, 1.5) + pow(r, 3) + clamp(a, -0.5, 0.5)
            + max(a, r) - min(a, 0.25 * r) + exp(-square(a)) + log(1 + a * a) + sum(r) / 8;
        h[t] = z * h[t-1] + (1 - z) * tanh(norm(f1 + f2));
        c[t] = 0.5 * c[t-1] - 0.5 * a;
    }
}

macro_rules! cells {
    ($($ty:ident { $($d:ident: $v:expr),* }),* $(,)?) => {
        vec![$((
            stringify!($ty),
            Box::new(<$ty<f32>>::new(
                paste_dims!($ty { $($d: $v),* }),
                &mut seeded_rng(7),
            )) as Box<dyn DynCell<f32>>,
        )),*]
    };
}

/// `LstmDims { I: 3, H: 5 }` from `Lstm { I: 3, H: 5 }`.
macro_rules! paste_dims {
    ($ty:ident { $($d:ident: $v:expr),* }) => {
        <$ty<f32> as recurrent::Cell<f32>>::Dims::from_names(&[$((stringify!($d), $v)),*])
            .expect("dimensions")
    };
}

#[test]
fn every_builtin_cell_runs_in_onnxruntime_as_here() {
    use recurrent::CellDims;
    let cells: Vec<(&str, Box<dyn DynCell<f32>>)> = cells![
        RnnTanh { I: 3, H: 5 },
        RnnRelu { I: 3, H: 5 },
        Lstm { I: 3, H: 5 },
        Gru { I: 3, H: 5 },
        GruTorch { I: 3, H: 5 },
        LstmNoForget { I: 3, H: 5 },
        LstmCifg { I: 3, H: 5 },
        LstmPeephole { I: 3, H: 5 },
        Residual { I: 3, H: 5 },
        Narx { I: 3, H: 5 },
        LstmNig { I: 3, H: 5 },
        LstmNog { I: 3, H: 5 },
        LstmNiaf { I: 3, H: 5 },
        LstmNoaf { I: 3, H: 5 },
        LstmNp { I: 3, H: 5 },
        LstmFgr { I: 3, H: 5 },
        Mgu { I: 3, H: 5 },
        Mut1 { H: 5 },
        Mut2 { H: 5 },
        Mut3 { I: 3, H: 5 },
        IndRnn { I: 3, H: 5 },
        LayerNormLstm { I: 3, H: 5 },
        LayerNormLstmHaste { I: 3, H: 5 },
        Ugrnn { I: 3, H: 5 },
        LstmVariational { I: 3, H: 5 },
        LstmZoneout { I: 3, H: 5 },
        OnnxZoo { I: 3, H: 4 },
    ];
    let dir = harness::fresh_dir("builtin");
    for (k, (name, cell)) in cells.iter().enumerate() {
        harness::write_cell_case(&dir, name, cell.as_ref(), 100 + k as u64);
    }
    harness::check(&dir);
}

#[test]
fn whole_models_run_in_onnxruntime_as_here() {
    use recurrent::{RecurrentLayer, SequenceModel};
    let boxed = |c: Box<dyn DynCell<f32>>| c;
    let rng = &mut seeded_rng(70);
    // Tokens, an embedding, a bidirectional LSTM, a reverse GRU and a head.
    let tokens = SequenceModel::new(vec![
        RecurrentLayer::bidirectional(
            boxed(Box::new(Lstm::<f32>::new(LstmDims { I: 4, H: 5 }, rng))),
            boxed(Box::new(LstmZoneout::<f32>::new(
                LstmZoneoutDims { I: 4, H: 3 },
                rng,
            ))),
        )
        .unwrap(),
        RecurrentLayer::reverse(boxed(Box::new(GruTorch::<f32>::new(
            GruTorchDims { I: 8, H: 6 },
            rng,
        )))),
    ])
    .unwrap()
    .with_embedding(11, rng)
    .unwrap()
    .with_head(7, rng)
    .unwrap();
    // Features, delays (input and state history) and no head.
    let features = SequenceModel::new(vec![
        RecurrentLayer::unidirectional(boxed(Box::new(Narx::<f32>::new(
            NarxDims { I: 3, H: 4 },
            rng,
        )))),
        RecurrentLayer::bidirectional(
            boxed(Box::new(OnnxZoo::<f32>::new(
                OnnxZooDims { I: 4, H: 4 },
                rng,
            ))),
            boxed(Box::new(Mut1::<f32>::new(Mut1Dims { H: 4 }, rng))),
        )
        .unwrap(),
    ])
    .unwrap();
    let dir = harness::fresh_dir("models");
    harness::write_model_case(&dir, "tokens_bidirectional_reverse_head", &tokens, 71);
    harness::write_model_case(&dir, "features_delays_bidirectional", &features, 72);
    harness::check(&dir);
}

/// Import: models exported by `torch.onnx.export` from `nn.LSTM`, `nn.GRU` and `nn.RNN`, and
/// hand-built ONNX models of the forms PyTorch never writes (LSTM peepholes, `input_forget`, GRU
/// `linear_before_reset = 0`, `direction = "reverse"`, `layout = 1`)
/// (`tests/reference/onnx_import/`, written by `make_onnx_import_reference.py`), read into
/// built-in cells; the imported model reproduces onnxruntime's outputs and final states, and
/// exported again, runs in onnxruntime as here.
#[cfg(feature = "onnx")]
mod import {
    use super::harness;
    use recurrent::ndarray::{Array3, Axis};
    use recurrent::onnx::load_model;
    use recurrent::Input;
    use serde_json::Value;

    fn array3(v: &Value) -> Array3<f32> {
        let rows: Vec<Vec<Vec<f32>>> =
            serde_json::from_value(v.clone()).expect("[a][b][c] numbers");
        let (a, b, c) = (rows.len(), rows[0].len(), rows[0][0].len());
        Array3::from_shape_vec((a, b, c), rows.into_iter().flatten().flatten().collect())
            .expect("rectangular")
    }

    fn close(what: &str, ours: &Array3<f32>, theirs: &Array3<f32>) -> f64 {
        assert_eq!(ours.shape(), theirs.shape(), "{what}: shapes");
        let mut worst = 0.0f64;
        for (a, b) in ours.iter().zip(theirs) {
            let e = f64::from((a - b).abs()) / (1.0 + f64::from(b.abs()));
            assert!(e <= 1e-5, "{what}: ours {a}, onnxruntime {b}");
            worst = worst.max(e);
        }
        worst
    }

    #[test]
    fn torch_exported_models_import_and_round_trip() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/onnx_import");
        let round_trip = harness::fresh_dir("round-trip");
        let cases = [
            ("lstm_1l", "Lstm"),
            ("lstm_2l_bidir", "Lstm"),
            ("lstm_1l_batch_first", "Lstm"),
            ("gru_1l", "GruTorch"),
            ("gru_2l_bidir_batch_first", "GruTorch"),
            ("rnn_tanh_1l", "RnnTanh"),
            ("rnn_relu_1l_bidir", "RnnRelu"),
            // Hand-built with onnx.helper: forms PyTorch never writes.
            ("onnx_lstm_peephole", "LstmPeephole"),
            ("onnx_lstm_input_forget", "LstmCifg"),
            ("onnx_gru_lbr0_reverse", "Gru"),
            ("onnx_lstm_layout1", "Lstm"),
        ];
        for (k, (case, cell)) in cases.iter().enumerate() {
            let doc: Value = serde_json::from_str(
                &std::fs::read_to_string(dir.join(format!("{case}.json"))).expect("reference"),
            )
            .expect("JSON");
            let imported = load_model::<f32>(dir.join(format!("{case}.onnx"))).expect("import");
            assert!(
                imported.layers.iter().all(|(_, c)| c == cell),
                "{case}: {:?}",
                imported.layers
            );
            assert_eq!(
                imported.batch_first,
                doc["batch_first"].as_bool().unwrap(),
                "{case}"
            );
            let x = array3(&doc["inputs"]["x"]);
            let x = if imported.batch_first {
                x.permuted_axes([1, 0, 2]).as_standard_layout().to_owned()
            } else {
                x
            };
            let h0 = array3(&doc["inputs"]["h0"]);
            let c0 = doc["inputs"].get("c0").map(array3);
            let init = imported
                .initial_states(h0.view(), c0.as_ref().map(|c| c.view()))
                .expect("states");
            let (y, finals) = imported
                .model
                .infer(Input::Features(x.view()), None, Some(&init))
                .expect("our inference");
            let y = if imported.batch_first {
                y.permuted_axes([1, 0, 2]).as_standard_layout().to_owned()
            } else {
                y
            };
            let mut worst = close(
                &format!("{case} output"),
                &y,
                &array3(&doc["outputs"]["output"]),
            );
            for (state, output) in [("h", "h_n"), ("c", "c_n")] {
                let Some(expected) = doc["outputs"].get(output) else {
                    continue;
                };
                let mut rows = vec![];
                for layer in &finals {
                    rows.push(layer.forward.get(state).unwrap().to_owned());
                    if let Some(r) = &layer.reverse {
                        rows.push(r.get(state).unwrap().to_owned());
                    }
                }
                let views: Vec<_> = rows.iter().map(|r| r.view()).collect();
                let ours = recurrent::ndarray::stack(Axis(0), &views).unwrap();
                worst = worst.max(close(&format!("{case} {output}"), &ours, &array3(expected)));
            }
            println!(
                "{case}: {:?}, largest |a - b| / (1 + |b|) = {worst:.2e}",
                imported.layers
            );
            harness::write_model_case(&round_trip, case, &imported.model, 300 + k as u64);
        }
        harness::check(&round_trip);
    }

    #[test]
    fn unsupported_graphs_are_refused_naming_the_operator_or_attribute() {
        // An exported Scan model has no LSTM/GRU/RNN node and a Scan operator.
        let cell = recurrent::cells::Lstm::<f32>::new(
            recurrent::cells::LstmDims { I: 2, H: 3 },
            &mut recurrent::seeded_rng(1),
        );
        let bytes = recurrent::onnx::export_cell(&cell).unwrap();
        let e = recurrent::onnx::import_model::<f32>(&bytes)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unsupported operator `Scan`"), "{e}");
        let e = recurrent::onnx::import_model::<f32>(b"not a model")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not an ONNX model"), "{e}");
        // A second LSTM that reads the graph's input again, not the first one's output, is
        // not a stack.
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/onnx_import");
        let bytes = std::fs::read(dir.join("lstm_2l_bidir.onnx")).unwrap();
        let mut model = recurrent::onnx::decode(&bytes).unwrap();
        let graph = model.graph.as_mut().unwrap();
        let second = graph
            .node
            .iter()
            .filter(|n| n.op_type == "LSTM")
            .nth(1)
            .unwrap()
            .name
            .clone();
        let node = graph.node.iter_mut().find(|n| n.name == second).unwrap();
        node.input[0] = "x".into();
        let e = import_error(&model);
        assert!(
            e.contains("comes from `x`") && e.contains("only a stack"),
            "{e}"
        );
        // An attribute the cells do not have is named.
        let mut model =
            recurrent::onnx::decode(&std::fs::read(dir.join("gru_1l.onnx")).unwrap()).unwrap();
        let gru = model
            .graph
            .as_mut()
            .unwrap()
            .node
            .iter_mut()
            .find(|n| n.op_type == "GRU")
            .unwrap();
        gru.attribute.push(recurrent::onnx::proto::AttributeProto {
            name: "clip".into(),
            r#type: 1,
            f: 3.0,
            ..Default::default()
        });
        let e = import_error(&model);
        assert!(e.contains("unsupported attribute `clip`"), "{e}");
    }

    fn import_error(model: &recurrent::onnx::proto::ModelProto) -> String {
        recurrent::onnx::import_model::<f32>(&recurrent::onnx::encode(model))
            .map(|_| ())
            .unwrap_err()
            .to_string()
    }
}
