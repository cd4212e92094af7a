//! Every public runtime entry point with bad input: a `Result` error naming what was expected
//! and what was found, and nothing changed. Valid edge cases (a batch of zero, T = 0, an example
//! of length 0) have defined behaviour. Activations and losses stay finite at extreme inputs.

use recurrent::cells::{Lstm, LstmDims, Narx, NarxDims};
use recurrent::ndarray::{Array1, Array2, Array3};
use recurrent::train::{mse, softmax_cross_entropy};
use recurrent::{Cell, Input, SequenceModel, States};

fn lstm() -> Lstm<f64> {
    Lstm::new(LstmDims { I: 3, H: 4 }, &mut recurrent::seeded_rng(0))
}

fn x(t: usize, b: usize, i: usize) -> Array3<f64> {
    Array3::from_shape_fn((t, b, i), |(t, b, i)| {
        ((t + 2 * b + 3 * i) % 5) as f64 / 5.0 - 0.4
    })
}

fn err<T: std::fmt::Debug>(r: recurrent::Result<T>) -> String {
    r.expect_err("expected an error").to_string()
}

#[test]
fn forward_infer_and_step_refuse_bad_input() {
    let cell = lstm();
    let e = err(cell.forward(x(5, 2, 4).view(), None, None));
    assert!(
        e.contains("input sequence x: expected shape [T, B, 3]") && e.contains("[5, 2, 4]"),
        "{e}"
    );
    let e = err(cell.infer(x(5, 2, 4).view(), None, None));
    assert!(e.contains("[T, B, 3]"), "{e}");
    let e = err(cell.forward(x(5, 2, 3).view(), None, Some(&[5])));
    assert!(e.contains("one length per example (2), found 1"), "{e}");
    let e = err(cell.forward(x(5, 2, 3).view(), None, Some(&[5, 6])));
    assert!(e.contains("<= T = 5, found lengths[1] = 6"), "{e}");

    let mut bad = x(5, 2, 3);
    bad[[3, 1, 2]] = f64::NAN;
    let e = err(cell.forward(bad.view(), None, None));
    assert!(
        e.contains("expected finite values, found NaN at [t=3, b=1, 2]"),
        "{e}"
    );
    bad[[3, 1, 2]] = f64::INFINITY;
    assert!(err(cell.infer(bad.view(), None, None)).contains("found inf"));

    // Initial states: wrong batch, wrong size, non-finite, wrong number of states.
    let e = err(cell.forward(x(5, 2, 3).view(), Some(&cell.zero_states(3)), None));
    assert!(
        e.contains("initial state h: expected shape [2, 4]") && e.contains("[3, 4]"),
        "{e}"
    );
    let mut s = cell.zero_states(2);
    s.values[1][[1, 3]] = f64::NEG_INFINITY;
    let e = err(cell.forward(x(5, 2, 3).view(), Some(&s), None));
    assert!(
        e.contains("initial state c: expected finite values, found -inf at [b=1, 3]"),
        "{e}"
    );
    let narx = Narx::<f64>::new(NarxDims { I: 3, H: 4 }, &mut recurrent::seeded_rng(1));
    let mut s = narx.zero_states(2);
    s.history[0].clear();
    let e = err(narx.forward(x(5, 2, 3).view(), Some(&s), None));
    assert!(
        e.contains("expected 1 history entries") && e.contains("found 0"),
        "{e}"
    );
    let e = err(cell.step(
        x(1, 2, 3).index_axis(recurrent::ndarray::Axis(0), 0),
        &cell.zero_states(1),
    ));
    assert!(e.contains("initial state h"), "{e}");
}

#[test]
fn backward_refuses_bad_gradients_and_foreign_traces() {
    let cell = lstm();
    let fwd = cell.forward(x(5, 2, 3).view(), None, None).unwrap();
    let e = err(cell.backward(&fwd, Array3::zeros((5, 2, 3)).view(), None));
    assert!(e.contains("[5, 2, 4]") && e.contains("[5, 2, 3]"), "{e}");
    let mut d = Array3::<f64>::zeros((5, 2, 4));
    d[[0, 0, 0]] = f64::NAN;
    assert!(err(cell.backward(&fwd, d.view(), None)).contains("expected finite values, found NaN"));
    let e = err(cell.backward(
        &fwd,
        Array3::zeros((5, 2, 4)).view(),
        Some(&cell.zero_states(1)),
    ));
    assert!(e.contains("final-state gradient h"), "{e}");
    let other = Lstm::<f64>::new(LstmDims { I: 3, H: 5 }, &mut recurrent::seeded_rng(0));
    let e = err(other.backward(&fwd, Array3::zeros((5, 2, 5)).view(), None));
    assert!(e.contains("trace"), "{e}");
    let narx = Narx::<f64>::new(NarxDims { I: 3, H: 4 }, &mut recurrent::seeded_rng(1));
    let e = err(narx.backward(&fwd, Array3::zeros((5, 2, 4)).view(), None));
    assert!(e.contains("trace"), "{e}");
}

#[test]
fn parameters_by_name_refuse_unknown_names_and_wrong_shapes_without_change() {
    let mut cell = lstm();
    let before = cell.params().clone();
    let e = err(cell.param("W_xq"));
    assert!(
        e.contains("unknown parameter `W_xq`") && e.contains("W_xi"),
        "{e}"
    );
    let e = err(cell.set_param("b_i", Array1::<f64>::zeros(5).into_dyn().view()));
    assert!(e.contains("expected shape [4]") && e.contains("[5]"), "{e}");
    assert_eq!(cell.params(), &before);
    let s = cell.zero_states(1);
    assert!(err(s.get("q")).contains("unknown state `q`"));
}

#[test]
fn empty_batches_empty_sequences_and_empty_examples_are_defined() {
    let cell = lstm();
    // A batch of zero examples.
    let fwd = cell.forward(x(5, 0, 3).view(), None, None).unwrap();
    assert_eq!(fwd.outputs.shape(), &[5, 0, 4]);
    let g = cell
        .backward(&fwd, Array3::zeros((5, 0, 4)).view(), None)
        .unwrap();
    assert!(g.params.iter().all(|(_, v)| v.iter().all(|&x| x == 0.0)));
    // T = 0: the final states are the initial ones, every gradient zero.
    let mut init = cell.zero_states(2);
    init.values[0].fill(0.25);
    let fwd = cell.forward(x(0, 2, 3).view(), Some(&init), None).unwrap();
    assert_eq!(fwd.outputs.shape(), &[0, 2, 4]);
    assert_eq!(fwd.final_states, init);
    let inf = cell.infer(x(0, 2, 3).view(), Some(&init), None).unwrap();
    assert_eq!(inf.final_states, init);
    let g = cell
        .backward(&fwd, Array3::zeros((0, 2, 4)).view(), None)
        .unwrap();
    assert_eq!(g.inputs.shape(), &[0, 2, 3]);
    // An example of length 0 keeps its initial state and emits zeros.
    let fwd = cell
        .forward(x(5, 2, 3).view(), Some(&init), Some(&[5, 0]))
        .unwrap();
    assert_eq!(fwd.final_states.values[0].row(1), init.values[0].row(1));
    assert!(fwd
        .outputs
        .slice(recurrent::ndarray::s![.., 1, ..])
        .iter()
        .all(|&v| v == 0.0));
}

#[test]
fn models_refuse_bad_input_and_keep_their_parameters() {
    let mut rng = recurrent::seeded_rng(2);
    let model = SequenceModel::<f64>::stack(vec![Box::new(lstm())])
        .unwrap()
        .with_embedding(5, &mut rng)
        .unwrap()
        .with_head(3, &mut rng)
        .unwrap();
    let tokens = Array2::from_elem((4, 2), 7usize);
    let e = err(model.infer(Input::Tokens(tokens.view()), None, None));
    assert!(e.contains("expected an id below V = 5, found 7"), "{e}");
    let e = err(model.classify_step(
        Input::Tokens(Array2::zeros((4, 2)).view()),
        None,
        &[0],
        recurrent::Pooling::Last,
        None,
    ));
    assert!(e.contains("expected 2"), "{e}");
    let e = err(model.classify_step(
        Input::Tokens(Array2::zeros((4, 2)).view()),
        None,
        &[0, 3],
        recurrent::Pooling::Last,
        None,
    ));
    assert!(e.contains("expected a class below 3, found 3"), "{e}");
    let e = err(model.infer(Input::Features(x(4, 2, 2).view()), None, None));
    assert!(e.contains("[T, B, 3]"), "{e}");
    let states: Vec<recurrent::LayerStates<f64>> = vec![];
    let e = err(model.infer(
        Input::Tokens(Array2::zeros((4, 2)).view()),
        None,
        Some(&states),
    ));
    assert!(e.contains("expected one per layer (1), found 0"), "{e}");
    let e = err(model.generate(&[], 3, 1.0, &mut rng));
    assert!(e.contains("prompt"), "{e}");
    let _ = States::<f64>::zeros(Lstm::<f64>::spec(), 3, &[4, 4], 1);
}

#[test]
fn activations_and_losses_are_finite_at_extreme_inputs() {
    use recurrent::activation as act;
    for &v in &[1e4f64, -1e4, 1e30, -1e30] {
        for y in [
            act::sigmoid(v),
            act::tanh(v),
            act::softsign(v),
            act::hard_sigmoid(v),
        ] {
            assert!(y.is_finite(), "{v}");
        }
        for y in [
            act::sigmoid(v as f32),
            act::tanh(v as f32),
            recurrent::fastmath::sigmoid(v as f32),
            recurrent::fastmath::tanh(v as f32),
        ] {
            assert!(y.is_finite(), "{v}");
        }
    }
    // Through a whole cell: saturated gates give finite outputs and finite gradients.
    let cell = Lstm::<f32>::new(LstmDims { I: 3, H: 4 }, &mut recurrent::seeded_rng(0));
    let big = Array3::from_shape_fn(
        (6, 2, 3),
        |(t, b, i)| if (t + b + i) % 2 == 0 { 1e4f32 } else { -1e4 },
    );
    let fwd = cell.forward(big.view(), None, None).unwrap();
    assert!(fwd.outputs.iter().all(|v| v.is_finite()));
    let g = cell
        .backward(&fwd, Array3::from_elem((6, 2, 4), 1.0).view(), None)
        .unwrap();
    assert!(g
        .params
        .iter()
        .all(|(_, v)| v.iter().all(|x| x.is_finite())));
    assert!(g.inputs.iter().all(|v| v.is_finite()));
    // Losses.
    let logits = recurrent::ndarray::arr2(&[[1e4f32, -1e4, 0.0]]);
    let (loss, d) = softmax_cross_entropy(logits.view(), &[1], None).unwrap();
    assert!(loss.is_finite() && d.iter().all(|v| v.is_finite()));
    let (loss, d) = mse(
        Array1::from_elem(3, 1e4f32).view(),
        Array1::from_elem(3, -1e4f32).view(),
    )
    .unwrap();
    assert!(loss.is_finite() && d.iter().all(|v| v.is_finite()));
}

#[test]
fn data_helpers_layers_and_losses_refuse_bad_input() {
    use recurrent::data::{one_hot, pad_sequences, unpad};
    let e = err(pad_sequences(&[
        Array2::<f64>::zeros((3, 2)),
        Array2::zeros((2, 5)),
    ]));
    assert!(e.contains("sequence 1") && e.contains("[2, 5]"), "{e}");
    let e = err(unpad(x(3, 2, 1).view(), &[3, 4]));
    assert!(e.contains("at most T = 3, found 4"), "{e}");
    let e = err(unpad(x(3, 2, 1).view(), &[3]));
    assert!(e.contains("expected 2"), "{e}");
    let e = err(one_hot::<f64>(Array2::from_elem((2, 2), 9).view(), 4));
    assert!(e.contains("expected an id below 4, found 9"), "{e}");
    let vocab = recurrent::Vocab::from_chars("ab", &[], None);
    assert!(err(vocab.token(5)).contains("expected below 2, found 5"));
    let lenient = recurrent::Vocab::from_chars("ab", &["<unk>"], Some("<unk>"));
    assert_eq!(lenient.encode_chars("az").unwrap(), vec![1, 0]);

    let mut rng = recurrent::seeded_rng(0);
    let linear = recurrent::Linear::<f64>::new(3, 2, &mut rng);
    let e = err(linear.forward(Array2::zeros((4, 5)).view()));
    assert!(e.contains("[N, I=3]") && e.contains("[4, 5]"), "{e}");
    let e = err(linear.backward(Array2::zeros((4, 3)).view(), Array2::zeros((4, 3)).view()));
    assert!(e.contains("[N=4, O=2]"), "{e}");
    let e = err(recurrent::Linear::from_parts(
        Array2::<f64>::zeros((3, 2)),
        Array1::zeros(3),
    ));
    assert!(e.contains("[O=2]"), "{e}");
    let emb = recurrent::Embedding::<f64>::new(4, 2, &mut rng);
    let e = err(emb.backward(
        Array2::from_elem((1, 1), 0).view(),
        Array3::zeros((1, 1, 3)).view(),
    ));
    assert!(e.contains("[T=1, B=1, D=2]"), "{e}");

    let e = err(mse(Array1::<f64>::zeros(3).view(), Array1::zeros(4).view()));
    assert!(e.contains("[3]") && e.contains("[4]"), "{e}");
    let e = err(softmax_cross_entropy(
        Array2::<f64>::zeros((2, 3)).view(),
        &[0],
        None,
    ));
    assert!(e.contains("expected 2"), "{e}");
    let e = err(recurrent::loss::sequence_cross_entropy(
        Array3::<f64>::zeros((2, 2, 3)).view(),
        Array2::zeros((2, 3)).view(),
        None,
    ));
    assert!(e.contains("[T=2, B=2]"), "{e}");
    let e = err(SequenceModel::<f64>::new(vec![]));
    assert!(e.contains("at least one recurrent layer"), "{e}");
    let e = err(SequenceModel::<f64>::stack(vec![Box::new(lstm())])
        .unwrap()
        .with_dropout(1.0));
    assert!(
        e.contains("expected a probability in [0, 1), found 1"),
        "{e}"
    );
}
