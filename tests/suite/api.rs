//! The generated API: named parameters, sequence semantics (lengths, initial
//! states, history, truncated BPTT), the single-step API and errors that name shapes.

use recurrent::cells::{Lstm, LstmDims};
use recurrent::ndarray::{s, Array2, Array3, ArrayD, Axis, IxDyn};
use recurrent::rand::RngExt;
use recurrent::{rnn_cell, Cell, Error};

rnn_cell! {
    /// A cell with a delay of two, to test history.
    cell Delay2 {
        input x: [I];
        state h: [H];
        param W: [I, H];
        param U1, U2: [H, H];

        h[t] = tanh(x[t] @ W + h[t-1] @ U1 + h[t-2] @ U2);
    }
}

fn random3(shape: (usize, usize, usize), seed: u64) -> Array3<f64> {
    let mut rng = recurrent::seeded_rng(seed);
    Array3::from_shape_fn(shape, |_| rng.random_range(-1.0..1.0))
}

fn lstm() -> Lstm<f64> {
    Lstm::new(LstmDims { I: 3, H: 4 }, &mut recurrent::seeded_rng(11))
}

fn max_diff<'a>(a: impl IntoIterator<Item = &'a f64>, b: impl IntoIterator<Item = &'a f64>) -> f64 {
    a.into_iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

#[test]
fn parameters_by_name_typed_and_by_string() {
    let mut cell = lstm();
    assert_eq!(cell.W_xi().shape(), &[3, 4]);
    assert_eq!(cell.b_f().to_vec(), vec![1.0; 4], "b_f = 1.0 initializer");
    cell.W_hc_mut()[[1, 2]] = 0.25;
    assert_eq!(cell.param("W_hc").unwrap()[[1, 2]], 0.25);

    let new = ArrayD::from_elem(IxDyn(&[4]), 2.0);
    cell.set_param("b_o", new.view()).unwrap();
    assert_eq!(cell.b_o().to_vec(), vec![2.0; 4]);

    let names: Vec<&str> = cell.params().names().collect();
    assert_eq!(names[..4], ["W_xi", "W_xf", "W_xo", "W_xc"]);
    assert_eq!(cell.params().num_scalars(), 4 * (3 * 4 + 4 * 4 + 4));
}

#[test]
fn unknown_parameter_and_wrong_shape_are_errors() {
    let mut cell = lstm();
    let err = cell.param("W_xq").unwrap_err();
    assert!(matches!(err, Error::UnknownName { .. }));
    let msg = err.to_string();
    assert!(msg.contains("W_xq") && msg.contains("W_xi"), "{msg}");

    let wrong = ArrayD::<f64>::zeros(IxDyn(&[4, 3]));
    let msg = cell
        .set_param("W_xi", wrong.view())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("[3, 4]") && msg.contains("[4, 3]"), "{msg}");
}

#[test]
fn forward_rejects_bad_shapes_with_clear_messages() {
    let cell = lstm();
    let x = random3((5, 2, 7), 1);
    let msg = cell.forward(x.view(), None, None).unwrap_err().to_string();
    assert!(
        msg.contains("[T, B, 3]") && msg.contains("[5, 2, 7]"),
        "{msg}"
    );

    let x = random3((5, 2, 3), 1);
    let msg = cell
        .forward(x.view(), None, Some(&[5]))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("one length per example (2)"), "{msg}");
    let msg = cell
        .forward(x.view(), None, Some(&[5, 6]))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("<= T = 5") && msg.contains("lengths[1] = 6"),
        "{msg}"
    );

    let mut init = cell.zero_states(2);
    init.values[1] = Array2::zeros((2, 5));
    let msg = cell
        .forward(x.view(), Some(&init), None)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("initial state c") && msg.contains("[2, 4]") && msg.contains("[2, 5]"),
        "{msg}"
    );

    let fwd = cell.forward(x.view(), None, None).unwrap();
    let d = Array3::<f64>::zeros((5, 2, 3));
    let msg = cell.backward(&fwd, d.view(), None).unwrap_err().to_string();
    assert!(
        msg.contains("[5, 2, 4]") && msg.contains("[5, 2, 3]"),
        "{msg}"
    );
}

#[test]
fn finished_examples_keep_their_state_and_emit_zeros() {
    let cell = lstm();
    let x = random3((6, 3, 3), 2);
    let fwd = cell.forward(x.view(), None, Some(&[6, 2, 0])).unwrap();
    assert!(fwd.outputs.slice(s![2.., 1, ..]).iter().all(|&v| v == 0.0));
    assert!(fwd.outputs.slice(s![.., 2, ..]).iter().all(|&v| v == 0.0));
    assert!(fwd.outputs.slice(s![1, 1, ..]).iter().any(|&v| v != 0.0));
    // Example 1's final state is its state after 2 steps.
    let short = cell
        .forward(x.slice(s![..2, 1..2, ..]), None, None)
        .unwrap();
    let h = fwd.final_states.get("h").unwrap();
    assert!(max_diff(h.row(1), short.final_states.get("h").unwrap().row(0)) < 1e-15);
    // Example 2 (length 0) keeps its initial state.
    assert!(h.row(2).iter().all(|&v| v == 0.0));
}

#[test]
fn single_steps_match_the_sequence() {
    let cell = Delay2::<f64>::new(Delay2Dims { I: 2, H: 3 }, &mut recurrent::seeded_rng(5));
    let x = random3((7, 2, 2), 3);
    let fwd = cell.forward(x.view(), None, None).unwrap();
    let mut states = cell.zero_states(2);
    for t in 0..7 {
        let (y, next) = cell.step(x.index_axis(Axis(0), t), &states).unwrap();
        assert!(
            max_diff(&y, fwd.outputs.index_axis(Axis(0), t)) < 1e-14,
            "step {t}"
        );
        states = next;
    }
    assert!(max_diff(&states.values[0], &fwd.final_states.values[0]) < 1e-14);
    assert!(max_diff(&states.history[0][0], &fwd.final_states.history[0][0]) < 1e-14);
}

#[test]
fn truncated_bptt_chunks_carry_states_and_history() {
    let cell = Delay2::<f64>::new(Delay2Dims { I: 2, H: 3 }, &mut recurrent::seeded_rng(6));
    let x = random3((9, 2, 2), 4);
    let whole = cell.forward(x.view(), None, None).unwrap();
    let first = cell.forward(x.slice(s![..4, .., ..]), None, None).unwrap();
    let second = cell
        .forward(x.slice(s![4.., .., ..]), Some(&first.final_states), None)
        .unwrap();
    assert!(max_diff(whole.outputs.slice(s![4.., .., ..]), &second.outputs) < 1e-14);
    assert_eq!(second.final_states.history("h").unwrap().len(), 1);

    // The gradient of the initial state and history of the second chunk equals the gradient
    // the whole sequence sends through the chunk border.
    let d_out = random3((9, 2, 3), 9);
    let g_whole = cell.backward(&whole, d_out.view(), None).unwrap();
    let d_second = d_out.slice(s![4.., .., ..]).to_owned();
    let g_second = cell.backward(&second, d_second.view(), None).unwrap();
    let d_first = d_out.slice(s![..4, .., ..]).to_owned();
    let g_first = cell
        .backward(&first, d_first.view(), Some(&g_second.initial_states))
        .unwrap();
    assert!(
        max_diff(
            &g_whole.inputs,
            &ndarray_concat(&g_first.inputs, &g_second.inputs)
        ) < 1e-12
    );
    for name in ["W", "U1", "U2"] {
        let whole = g_whole.params.get(name).unwrap();
        let sum = &g_first.params.get(name).unwrap() + &g_second.params.get(name).unwrap();
        assert!(max_diff(&whole, &sum) < 1e-12, "{name}");
    }
}

fn ndarray_concat(a: &Array3<f64>, b: &Array3<f64>) -> Array3<f64> {
    recurrent::ndarray::concatenate(Axis(0), &[a.view(), b.view()]).unwrap()
}

#[test]
fn f32_and_f64_agree() {
    let c64 = lstm();
    let mut c32 = Lstm::<f32>::zeros(LstmDims { I: 3, H: 4 });
    for (name, value) in c64.params().iter() {
        c32.set_param(name, value.mapv(|v| v as f32).view())
            .unwrap();
    }
    let x = random3((5, 2, 3), 8);
    let y64 = c64.forward(x.view(), None, None).unwrap().outputs;
    let y32 = c32
        .forward(x.mapv(|v| v as f32).view(), None, None)
        .unwrap()
        .outputs;
    let diff = y64
        .iter()
        .zip(&y32)
        .map(|(a, &b)| (a - b as f64).abs())
        .fold(0.0, f64::max);
    assert!(diff < 1e-5, "{diff}");
}

#[test]
fn empty_batches_and_sequences_are_valid() {
    let cell = lstm();
    for (t, b) in [(0, 2), (3, 0), (0, 0)] {
        let x = Array3::<f64>::zeros((t, b, 3));
        let fwd = cell.forward(x.view(), None, None).unwrap();
        assert_eq!(fwd.outputs.shape(), &[t, b, 4]);
        assert_eq!(fwd.final_states.values[0].shape(), &[b, 4]);
        let g = cell
            .backward(&fwd, Array3::zeros((t, b, 4)).view(), None)
            .unwrap();
        assert_eq!(g.inputs.shape(), &[t, b, 3]);
        assert!(g.params.norm() == 0.0);
    }
}

#[test]
fn backward_rejects_a_trace_from_another_cell() {
    let a = lstm();
    let b = Lstm::<f64>::new(LstmDims { I: 3, H: 5 }, &mut recurrent::seeded_rng(1));
    let x = random3((2, 1, 3), 1);
    let fwd = a.forward(x.view(), None, None).unwrap();
    let msg = b
        .backward(&fwd, Array3::zeros((2, 1, 5)).view(), None)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("dimensions"), "{msg}");
    let d = Delay2::<f64>::new(Delay2Dims { I: 3, H: 4 }, &mut recurrent::seeded_rng(1));
    let msg = d
        .backward(&fwd, Array3::zeros((2, 1, 4)).view(), None)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("Delay2") && msg.contains("Lstm"), "{msg}");
}

fn infer_matches_forward<C: Cell<f64>>(cell: C) {
    let x = random3((6, 3, cell.input_size()), 12);
    let lengths = [6, 4, 0];
    let fwd = cell.forward(x.view(), None, Some(&lengths)).unwrap();
    let inf = cell.infer(x.view(), None, Some(&lengths)).unwrap();
    assert_eq!(fwd.outputs, inf.outputs, "{}", C::spec().name);
    assert_eq!(fwd.final_states, inf.final_states, "{}", C::spec().name);
}

#[test]
fn inference_gives_the_forward_pass_outputs() {
    use recurrent::cells::*;
    let rng = &mut recurrent::seeded_rng(3);
    infer_matches_forward(Lstm::<f64>::new(LstmDims { I: 3, H: 4 }, rng));
    infer_matches_forward(Gru::<f64>::new(GruDims { I: 3, H: 4 }, rng));
    infer_matches_forward(LayerNormLstm::<f64>::new(
        LayerNormLstmDims { I: 3, H: 4 },
        rng,
    ));
    infer_matches_forward(Narx::<f64>::new(NarxDims { I: 3, H: 4 }, rng));
    infer_matches_forward(LstmFgr::<f64>::new(LstmFgrDims { I: 3, H: 4 }, rng));
    infer_matches_forward(Mut3::<f64>::new(Mut3Dims { I: 3, H: 4 }, rng));
}

rnn_cell! {
    /// Forty nested `tanh`, each saved for the backward pass: one fused loop writes more rows
    /// than the vectorized pass takes as arguments (32), so it runs the unvectorized version.
    cell DeepTanh {
        input x: [I];
        state h: [H];
        param W: [I, H];
        param U: [H, H];

        h[t] = tanh(tanh(tanh(tanh(tanh(tanh(tanh(tanh(tanh(tanh(tanh(tanh(tanh(tanh(tanh(tanh(tanh(tanh(tanh(tanh(tanh(tanh(tanh(tanh(tanh(tanh(tanh(tanh(tanh(tanh(tanh(tanh(tanh(tanh(tanh(tanh(tanh(tanh(tanh(tanh(x[t] @ W + h[t-1] @ U))))))))))))))))))))))))))))))))))))))));
    }
}

#[test]
fn a_pass_wider_than_the_vectorized_limit_is_exact() {
    let rng = &mut recurrent::seeded_rng(5);
    let cell = DeepTanh::<f64>::new(DeepTanhDims { I: 3, H: 4 }, rng);
    let report = recurrent::gradcheck(&cell, &recurrent::GradcheckConfig::default()).unwrap();
    report.assert_ok();
    threads_agree(DeepTanh::<f64>::new(DeepTanhDims { I: 8, H: 600 }, rng));
}

fn threads_agree<C: Cell<f64>>(cell: C) {
    // Large enough that products and fused loops split between threads.
    let (t, b) = (3, 32);
    let x = random3((t, b, cell.input_size()), 21);
    let d_out = random3((t, b, cell.output_size()), 22);
    let lengths: Vec<usize> = (0..b).map(|i| [3, 2, 0, 1][i % 4]).collect();
    let _lock = crate::thread_count_lock();
    let before = recurrent::num_threads();
    let run = |threads: usize| {
        recurrent::set_num_threads(threads);
        let fwd = cell.forward(x.view(), None, Some(&lengths)).unwrap();
        let inf = cell.infer(x.view(), None, Some(&lengths)).unwrap();
        let g = cell.backward(&fwd, d_out.view(), None).unwrap();
        (fwd.outputs.clone(), inf.outputs, g)
    };
    let (y1, i1, g1) = run(1);
    let (y2, i2, g2) = run(2);
    recurrent::set_num_threads(before);
    let name = C::spec().name;
    assert!(
        max_diff(&y1, &y2) < 1e-12 && max_diff(&i1, &i2) < 1e-12,
        "{name} outputs"
    );
    assert!(
        max_diff(&g1.inputs, &g2.inputs) < 1e-12,
        "{name} input gradient"
    );
    for (pname, v) in g1.params.iter() {
        let w = g2.params.get(pname).unwrap();
        assert!(max_diff(&v, &w) < 1e-10, "{name} d{pname}");
    }
}

#[test]
fn two_threads_give_the_one_thread_results() {
    use recurrent::cells::*;
    let rng = &mut recurrent::seeded_rng(8);
    threads_agree(Lstm::<f64>::new(LstmDims { I: 8, H: 600 }, rng));
    threads_agree(Gru::<f64>::new(GruDims { I: 8, H: 600 }, rng));
    threads_agree(LayerNormLstm::<f64>::new(
        LayerNormLstmDims { I: 8, H: 600 },
        rng,
    ));
}

/// Every cell implements both `Cell` and `DynCell`, whose methods share names: importing both
/// must not make a call ambiguous (the generated type has the methods as inherent ones).
mod both_traits_in_scope {
    use recurrent::cells::{Lstm, LstmDims};
    use recurrent::ndarray::Array3;
    #[allow(unused_imports)]
    use recurrent::{Cell, DynCell};

    #[test]
    fn cell_and_dyn_cell_can_be_imported_together() {
        let mut cell = Lstm::<f64>::new(LstmDims { I: 2, H: 3 }, &mut recurrent::seeded_rng(0));
        let x = Array3::<f64>::ones((4, 2, 2));
        let fwd = cell.forward(x.view(), None, None).unwrap();
        let g = cell
            .backward(&fwd, Array3::ones((4, 2, 3)).view(), None)
            .unwrap();
        let inferred = cell
            .infer(x.view(), Some(&cell.zero_states(2)), None)
            .unwrap();
        assert_eq!(inferred.outputs, fwd.outputs);
        assert_eq!(g.params.len(), cell.params().len());
        assert_eq!((cell.input_size(), cell.output_size()), (2, 3));
        cell.params_mut().scale(0.5);
        let (y, _) = cell
            .step(
                x.index_axis(recurrent::ndarray::Axis(0), 0),
                &cell.zero_states(2),
            )
            .unwrap();
        assert_eq!(y.dim(), (2, 3));
    }
}

#[test]
fn set_param_takes_typed_views() {
    use recurrent::ndarray::{Array1, Array2};
    let mut cell = lstm();
    let w = Array2::from_shape_fn((3, 4), |(i, j)| (i * 4 + j) as f64 * 0.1);
    cell.set_param("W_xi", w.view()).unwrap();
    assert_eq!(cell.W_xi(), w.view());
    let b = Array1::from_elem(4, 0.5);
    cell.set_param("b_o", b.view()).unwrap();
    assert_eq!(cell.b_o(), b.view());
    // Any layout, and the dynamic views of before.
    cell.set_param("W_hc", Array2::from_elem((4, 4), 0.25).t())
        .unwrap();
    cell.set_param("b_f", ArrayD::from_elem(IxDyn(&[4]), 1.5).view())
        .unwrap();
    assert_eq!(cell.b_f().to_vec(), vec![1.5; 4]);
    cell.params_mut().set("b_i", b.view()).unwrap();
    assert_eq!(cell.b_i(), b.view());
    // Shapes are still checked, whatever the view's type.
    let err = cell.set_param("W_xi", w.t()).unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err:?}");
    let err = cell.set_param("b_o", w.view()).unwrap_err();
    assert!(err.to_string().contains("b_o"), "{err}");
    assert_eq!(cell.W_xi(), w.view(), "unchanged");
}

/// `Forward::states` against `step`: every state after every step, from random initial states
/// (and history), frozen after each example's length.
fn states_match_steps<C: Cell<f64>>(cell: &C, seed: u64) {
    let (n_time, lengths) = (6, [6usize, 2, 0, 5]);
    let n_batch = lengths.len();
    let x = random3((n_time, n_batch, cell.input_size()), seed);
    let mut init = cell.zero_states(n_batch);
    let mut rng = recurrent::seeded_rng(seed + 1);
    for a in init.arrays_mut() {
        a.mapv_inplace(|_| rng.random_range(-1.0..1.0));
    }
    let fwd = cell.forward(x.view(), Some(&init), Some(&lengths)).unwrap();
    // Stepping every example through all steps; an example past its length keeps the state
    // of its last step.
    let mut stepped = vec![init.clone()];
    for t in 0..n_time {
        let (_, next) = cell
            .step(x.index_axis(Axis(0), t), stepped.last().unwrap())
            .unwrap();
        stepped.push(next);
    }
    let spec = C::spec();
    for (s, state) in spec.states.iter().enumerate() {
        let all = fwd.states(state.name).unwrap();
        let size = cell.state_sizes()[s];
        assert_eq!(all.shape(), &[n_time, n_batch, size], "{}", spec.name);
        for t in 0..n_time {
            for (b, &len) in lengths.iter().enumerate() {
                let expected = stepped[(t + 1).min(len)].values[s].row(b).to_owned();
                let found = all.slice(s![t, b, ..]);
                assert!(
                    max_diff(&expected, found) < 1e-13,
                    "{} state {} at t={t}, b={b}: {found} vs {expected}",
                    spec.name,
                    state.name
                );
            }
        }
        assert_eq!(
            all.index_axis(Axis(0), n_time - 1),
            fwd.final_states.values[s],
            "the last row is the final state"
        );
    }
    let err = fwd.states("no_such_state").unwrap_err();
    assert!(matches!(err, Error::UnknownName { .. }), "{err:?}");
}

#[test]
fn forward_gives_every_state_at_every_step() {
    use recurrent::cells::{LstmFgr, LstmFgrDims, Narx, NarxDims};
    let rng = &mut recurrent::seeded_rng(21);
    states_match_steps(&lstm(), 1);
    // `x[t-1]` and `h[t-2]`: the state buffer holds history rows before the first step.
    states_match_steps(&Narx::<f64>::new(NarxDims { I: 2, H: 3 }, rng), 2);
    states_match_steps(&Delay2::<f64>::new(Delay2Dims { I: 2, H: 3 }, rng), 3);
    // Five states.
    states_match_steps(&LstmFgr::<f64>::new(LstmFgrDims { I: 3, H: 2 }, rng), 4);
    // Empty sequences and batches.
    let cell = lstm();
    for (t, b) in [(0, 2), (3, 0), (0, 0)] {
        let fwd = cell
            .forward(Array3::<f64>::zeros((t, b, 3)).view(), None, None)
            .unwrap();
        assert_eq!(fwd.states("c").unwrap().shape(), &[t, b, 4]);
    }
}
