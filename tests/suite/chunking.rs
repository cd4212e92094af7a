//! A sequence run at once, step by step, or in chunks chained through `final_states` gives the
//! same numbers, forward and backward, for every built-in cell and for cells that read delayed
//! inputs (`x[t-k]`, carried across calls as input history) and delayed states (`h[t-k]`).

use recurrent::cells::*;
use recurrent::ndarray::{s, Array2, Array3, Axis};
use recurrent::rand::{RngExt, SeedableRng};
use recurrent::{rnn_cell, Cell, Gradients, ParamSet, States};

rnn_cell! {
    /// A time-delay cell reading the input three steps back.
    cell Tdnn3 {
        input x: [I];
        state h: [H];
        param W_0, W_3: [I, H];
        param U: [H, H];
        param b: [H];

        h[t] = tanh(x[t] @ W_0 + x[t-3] @ W_3 + h[t-1] @ U + b);
    }
}

rnn_cell! {
    /// A delayed input read elementwise (not only through a hoisted product), feeding a product
    /// computed inside the step, and a state read two steps back.
    cell DelayMix {
        input x: [I];
        state h: [H];
        param W, V: [I, H];
        param v: [I];
        param U, U_2: [H, H];

        a = tanh(x[t-2] * v + x[t-1]);
        h[t] = tanh(x[t] @ W + a @ V + h[t-1] @ U + h[t-2] @ U_2);
    }
}

const T: usize = 7;
const B: usize = 3;

fn random_states<C: Cell<f64>>(cell: &C, rng: &mut impl RngExt) -> States<f64> {
    let mut s = cell.zero_states(B);
    for a in s.arrays_mut() {
        a.mapv_inplace(|_| rng.random_range(-1.0..1.0));
    }
    s
}

fn random_seq(n: usize, width: usize, rng: &mut impl RngExt) -> Array3<f64> {
    Array3::from_shape_fn((n, B, width), |_| rng.random_range(-1.0..1.0))
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * (1.0 + b.abs())
}

fn assert_arrays_close<'a>(
    what: &str,
    a: impl IntoIterator<Item = &'a f64>,
    b: impl IntoIterator<Item = &'a f64>,
    tol: f64,
) {
    let (a, b): (Vec<f64>, Vec<f64>) = (
        a.into_iter().copied().collect(),
        b.into_iter().copied().collect(),
    );
    assert_eq!(a.len(), b.len(), "{what}: lengths differ");
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert!(close(*x, *y, tol), "{what}[{i}]: {x} vs {y}");
    }
}

fn assert_states_close(what: &str, a: &States<f64>, b: &States<f64>, tol: f64) {
    assert_eq!(
        a.arrays().count(),
        b.arrays().count(),
        "{what}: layouts differ"
    );
    for (k, (x, y)) in a.arrays().zip(b.arrays()).enumerate() {
        assert_arrays_close(&format!("{what} array {k}"), x.iter(), y.iter(), tol);
    }
}

/// Lengths of the chunk `[start, end)` for examples of lengths `lengths`.
fn chunk_lengths(lengths: &[usize], start: usize, end: usize) -> Vec<usize> {
    lengths
        .iter()
        .map(|&l| l.clamp(start, end) - start)
        .collect()
}

/// Every split of `0..T` into two or three non-empty chunks.
fn splits() -> Vec<Vec<usize>> {
    let mut v = vec![];
    for a in 1..T {
        v.push(vec![0, a, T]);
        for b in a + 1..T {
            v.push(vec![0, a, b, T]);
        }
    }
    v
}

fn add_params(a: &mut ParamSet<f64>, b: &ParamSet<f64>) {
    a.add_scaled(1.0, b).unwrap();
}

/// (a) one call == step by step == every chunking, outputs and final states; (b) the chunks'
/// backward passes, chained through the initial-state gradients, give the full gradient.
fn check_chunking<C: Cell<f64>>(cell: &C, seed: u64) {
    let name = C::spec().name;
    let mut rng = recurrent::rand::rngs::ChaCha8Rng::seed_from_u64(seed);
    let x = random_seq(T, cell.input_size(), &mut rng);
    let init = random_states(cell, &mut rng);
    let d_out = random_seq(T, cell.output_size(), &mut rng);
    let d_final = random_states(cell, &mut rng);

    // Full lengths: one call, inference, and steps.
    let full = cell.forward(x.view(), Some(&init), None).unwrap();
    let inferred = cell.infer(x.view(), Some(&init), None).unwrap();
    assert_arrays_close(
        &format!("{name} infer outputs"),
        inferred.outputs.iter(),
        full.outputs.iter(),
        1e-12,
    );
    let mut states = init.clone();
    for t in 0..T {
        let (y, next) = cell.step(x.index_axis(Axis(0), t), &states).unwrap();
        assert_arrays_close(
            &format!("{name} step {t} output"),
            y.iter(),
            full.outputs.index_axis(Axis(0), t).iter(),
            1e-12,
        );
        states = next;
    }
    assert_states_close(
        &format!("{name} stepped final states"),
        &states,
        &full.final_states,
        1e-12,
    );

    // Chunks, with full and with varied lengths (an example that ends inside a chunk, and one
    // that ends inside the first).
    for lengths in [vec![T; B], vec![T, T - 3, 2]] {
        let full = cell.forward(x.view(), Some(&init), Some(&lengths)).unwrap();
        let full_grads = cell.backward(&full, d_out.view(), Some(&d_final)).unwrap();
        for cuts in splits() {
            let mut states = init.clone();
            let mut fwds = vec![];
            for w in cuts.windows(2) {
                let (a, b) = (w[0], w[1]);
                let len = chunk_lengths(&lengths, a, b);
                let fwd = cell
                    .forward(x.slice(s![a..b, .., ..]), Some(&states), Some(&len))
                    .unwrap();
                assert_arrays_close(
                    &format!("{name} {cuts:?} {lengths:?} outputs [{a}, {b})"),
                    fwd.outputs.iter(),
                    full.outputs.slice(s![a..b, .., ..]).iter(),
                    1e-12,
                );
                states = fwd.final_states.clone();
                fwds.push(fwd);
            }
            assert_states_close(
                &format!("{name} {cuts:?} {lengths:?} final states"),
                &states,
                &full.final_states,
                1e-12,
            );

            // Backward, last chunk first, each chunk's initial-state gradient the previous
            // chunk's final-state gradient.
            let mut d_next = d_final.clone();
            let mut params: Option<ParamSet<f64>> = None;
            let mut d_inputs: Vec<Array3<f64>> = vec![];
            for (w, fwd) in cuts.windows(2).zip(&fwds).rev() {
                let (a, b) = (w[0], w[1]);
                let g: Gradients<f64> = cell
                    .backward(fwd, d_out.slice(s![a..b, .., ..]), Some(&d_next))
                    .unwrap();
                match &mut params {
                    None => params = Some(g.params.clone()),
                    Some(p) => add_params(p, &g.params),
                }
                d_inputs.push(g.inputs.clone());
                d_next = g.initial_states;
            }
            d_inputs.reverse();
            let what = format!("{name} {cuts:?} {lengths:?}");
            let d_input = recurrent::ndarray::concatenate(
                Axis(0),
                &d_inputs.iter().map(|a| a.view()).collect::<Vec<_>>(),
            )
            .unwrap();
            assert_arrays_close(
                &format!("{what} input gradient"),
                d_input.iter(),
                full_grads.inputs.iter(),
                1e-11,
            );
            assert_states_close(
                &format!("{what} initial-state gradient"),
                &d_next,
                &full_grads.initial_states,
                1e-11,
            );
            let params = params.unwrap();
            for ((n, a), (_, b)) in params.iter().zip(full_grads.params.iter()) {
                assert_arrays_close(&format!("{what} d{n}"), a.iter(), b.iter(), 1e-11);
            }
        }
    }
}

macro_rules! chunking_tests {
    ($($test:ident: $cell:ident $dims:ident { $($d:ident: $v:expr),* };)*) => {$(
        #[test]
        fn $test() {
            let cell = $cell::<f64>::new($dims { $($d: $v),* }, &mut recurrent::seeded_rng(7));
            check_chunking(&cell, 11);
        }
    )*};
}

chunking_tests! {
    rnn_tanh_chunks: RnnTanh RnnTanhDims { I: 3, H: 4 };
    rnn_relu_chunks: RnnRelu RnnReluDims { I: 3, H: 4 };
    lstm_chunks: Lstm LstmDims { I: 3, H: 4 };
    gru_chunks: Gru GruDims { I: 3, H: 4 };
    gru_torch_chunks: GruTorch GruTorchDims { I: 3, H: 4 };
    lstm_no_forget_chunks: LstmNoForget LstmNoForgetDims { I: 3, H: 4 };
    lstm_cifg_chunks: LstmCifg LstmCifgDims { I: 3, H: 4 };
    lstm_peephole_chunks: LstmPeephole LstmPeepholeDims { I: 3, H: 4 };
    residual_chunks: Residual ResidualDims { I: 3, H: 4 };
    narx_chunks: Narx NarxDims { I: 3, H: 4 };
    lstm_nig_chunks: LstmNig LstmNigDims { I: 3, H: 4 };
    lstm_nog_chunks: LstmNog LstmNogDims { I: 3, H: 4 };
    lstm_niaf_chunks: LstmNiaf LstmNiafDims { I: 3, H: 4 };
    lstm_noaf_chunks: LstmNoaf LstmNoafDims { I: 3, H: 4 };
    lstm_np_chunks: LstmNp LstmNpDims { I: 3, H: 4 };
    lstm_fgr_chunks: LstmFgr LstmFgrDims { I: 3, H: 4 };
    mgu_chunks: Mgu MguDims { I: 3, H: 4 };
    mut1_chunks: Mut1 Mut1Dims { H: 4 };
    mut2_chunks: Mut2 Mut2Dims { H: 4 };
    mut3_chunks: Mut3 Mut3Dims { I: 3, H: 4 };
    ind_rnn_chunks: IndRnn IndRnnDims { I: 3, H: 4 };
    layer_norm_lstm_chunks: LayerNormLstm LayerNormLstmDims { I: 3, H: 4 };
    layer_norm_lstm_haste_chunks: LayerNormLstmHaste LayerNormLstmHasteDims { I: 3, H: 4 };
    tdnn3_chunks: Tdnn3 Tdnn3Dims { I: 3, H: 4 };
    delay_mix_chunks: DelayMix DelayMixDims { I: 3, H: 4 };
}

#[test]
fn input_history_is_carried_in_the_states() {
    let cell = Tdnn3::<f64>::new(Tdnn3Dims { I: 2, H: 3 }, &mut recurrent::seeded_rng(0));
    assert_eq!(Tdnn3::<f64>::spec().input_delay, 3);
    let x = Array3::from_shape_fn((5, B, 2), |(t, b, i)| (t * 100 + b * 10 + i) as f64);
    let fwd = cell.infer(x.view(), None, Some(&[5, 2, 0])).unwrap();
    let inputs = fwd.final_states.input_history();
    assert_eq!(inputs.len(), 3);
    // Most recent first: example 0 ran 5 steps (x[4], x[3], x[2]); example 1 ran 2 steps
    // (x[1], x[0], then the zero history); example 2 none (its history unchanged: zeros).
    assert_eq!(inputs[0].row(0).to_vec(), vec![400.0, 401.0]);
    assert_eq!(inputs[2].row(0).to_vec(), vec![200.0, 201.0]);
    assert_eq!(inputs[0].row(1).to_vec(), vec![110.0, 111.0]);
    assert_eq!(inputs[1].row(1).to_vec(), vec![10.0, 11.0]);
    assert_eq!(inputs[2].row(1).to_vec(), vec![0.0, 0.0]);
    assert!(inputs.iter().all(|a| a.row(2).iter().all(|&v| v == 0.0)));
}

#[test]
fn input_history_of_the_wrong_shape_is_refused() {
    let cell = Tdnn3::<f64>::new(Tdnn3Dims { I: 2, H: 3 }, &mut recurrent::seeded_rng(0));
    let x = Array3::<f64>::zeros((4, B, 2));
    let mut init = cell.zero_states(B);
    init.inputs.pop();
    let e = cell
        .forward(x.view(), Some(&init), None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("expected 3 input history entries") && e.contains("found 2"),
        "{e}"
    );
    let mut init = cell.zero_states(B);
    init.inputs[1] = Array2::zeros((B, 5));
    let e = cell
        .forward(x.view(), Some(&init), None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("input history[1]") && e.contains("[3, 2]"),
        "{e}"
    );
    let mut init = cell.zero_states(B);
    init.inputs[2][(1, 1)] = f64::NAN;
    let e = cell
        .forward(x.view(), Some(&init), None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("input history[2]") && e.contains("NaN"), "{e}");
}

/// (c) Greedy generation with a delayed-input layer continues exactly as the whole sequence run
/// at once: each generated token is the argmax of the outputs at the previous position.
#[test]
fn generation_with_delayed_inputs_equals_the_argmax_of_outputs() {
    use recurrent::{DynCell, Input, SequenceModel};
    let mut rng = recurrent::seeded_rng(5);
    let layers: Vec<Box<dyn DynCell<f64>>> = vec![
        Box::new(Narx::<f64>::new(NarxDims { I: 4, H: 6 }, &mut rng)),
        Box::new(Tdnn3::<f64>::new(Tdnn3Dims { I: 6, H: 5 }, &mut rng)),
    ];
    let model = SequenceModel::<f64>::stack(layers)
        .unwrap()
        .with_embedding(7, &mut rng)
        .unwrap()
        .with_head(7, &mut rng)
        .unwrap();
    let prompt = [1, 4, 2];
    let generated = model
        .generate(&prompt, 12, 0.0, &mut recurrent::seeded_rng(0))
        .unwrap();
    let mut seq = prompt.to_vec();
    seq.extend(&generated[..generated.len() - 1]);
    let tokens = Array2::from_shape_vec((seq.len(), 1), seq.clone()).unwrap();
    let (logits, _) = model
        .outputs(Input::Tokens(tokens.view()), None, None)
        .unwrap();
    for (k, &token) in generated.iter().enumerate() {
        let t = prompt.len() - 1 + k;
        let row = logits.slice(s![t, 0, ..]).to_vec();
        let best = (0..row.len()).fold(0, |b, j| if row[j] > row[b] { j } else { b });
        assert_eq!(best, token, "token {k} of {generated:?}");
    }
}
