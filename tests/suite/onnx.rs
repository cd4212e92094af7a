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
