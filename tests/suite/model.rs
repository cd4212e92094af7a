//! The training library on whole models: every application mode's gradient (embedding,
//! stacked and bidirectional layers, dropout, pooling, head, encoder–decoder) against central
//! finite differences in f64, and the behaviour of the optimizers, losses and data helpers.

use recurrent::cells::{Gru, GruDims, Lstm, LstmDims, RnnTanh, RnnTanhDims};
use recurrent::data::{batch_indices, pad_sequences, pad_tokens, unpad};
use recurrent::modes::{tbptt_windows, window_lengths};
use recurrent::ndarray::{Array2, Array3};
use recurrent::rand::RngExt;
use recurrent::train::{
    clip_grad_norm, clip_grad_value, softmax_cross_entropy, Adam, Optimizer, Schedule, Sgd,
};
use recurrent::{
    DynCell, Input, NamedTensors, Parameters, Pooling, RecurrentLayer, Seq2Seq, SequenceModel,
    Vocab,
};

fn lstm(i: usize, h: usize, seed: u64) -> Box<dyn DynCell<f64>> {
    Box::new(Lstm::<f64>::new(
        LstmDims { I: i, H: h },
        &mut recurrent::seeded_rng(seed),
    ))
}

fn gru(i: usize, h: usize, seed: u64) -> Box<dyn DynCell<f64>> {
    Box::new(Gru::<f64>::new(
        GruDims { I: i, H: h },
        &mut recurrent::seeded_rng(seed),
    ))
}

/// Checks `grads` against central differences of `loss` at every parameter entry.
fn check_gradients<M: Parameters<f64>>(
    model: &mut M,
    grads: &NamedTensors<f64>,
    loss: impl Fn(&M) -> f64,
) {
    let names: Vec<String> = model.tensors().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, grads.names(), "gradient names follow the parameters");
    let mut checked = 0;
    for (k, name) in names.iter().enumerate() {
        let analytic: Vec<f64> = grads.get(name).unwrap().iter().copied().collect();
        for (j, &analytic) in analytic.iter().enumerate() {
            let original = model.tensors()[k].1[j];
            let step = 1e-6;
            model.tensors_mut()[k].1[j] = original + step;
            let plus = loss(model);
            model.tensors_mut()[k].1[j] = original - step;
            let minus = loss(model);
            model.tensors_mut()[k].1[j] = original;
            let numeric = (plus - minus) / (2.0 * step);
            let err = (analytic - numeric).abs();
            assert!(
                err <= 1e-7 + 1e-5 * numeric.abs(),
                "{name}[{j}]: analytic {analytic} vs numeric {numeric}"
            );
            checked += 1;
        }
    }
    assert!(checked > 50, "checked {checked} entries");
}

fn random_tokens(t: usize, b: usize, vocab: usize, seed: u64) -> Array2<usize> {
    let mut rng = recurrent::seeded_rng(seed);
    Array2::from_shape_fn((t, b), |_| rng.random_range(0..vocab))
}

#[test]
fn classification_gradients_with_embedding_stack_bidirectional_and_dropout() {
    let mut rng = recurrent::seeded_rng(1);
    let layers = vec![
        RecurrentLayer::bidirectional(lstm(3, 2, 2), gru(3, 2, 3)).unwrap(),
        RecurrentLayer::unidirectional(lstm(4, 3, 4)),
    ];
    for pooling in [Pooling::Last, Pooling::Mean] {
        let mut model = SequenceModel::new(layers.clone())
            .unwrap()
            .with_embedding(5, &mut rng)
            .unwrap()
            .with_head(3, &mut rng)
            .unwrap()
            .with_dropout(0.3)
            .unwrap();
        let tokens = random_tokens(4, 3, 5, 9);
        let lengths = [4, 2, 0];
        let targets = [2, 0, 1];
        let run = |m: &SequenceModel<f64>| {
            let mut drop_rng = recurrent::seeded_rng(42); // the same dropout masks every time
            m.classify_step(
                Input::Tokens(tokens.view()),
                Some(&lengths),
                &targets,
                pooling,
                Some(&mut drop_rng),
            )
            .unwrap()
        };
        let step = run(&model);
        assert!(step.loss.is_finite());
        check_gradients(&mut model, &step.grads, |m| run(m).loss);
    }
}

#[test]
fn bidirectional_reverse_direction_respects_lengths() {
    // The reverse cell of example b must see x[len-1], ..., x[0]: padding after the length
    // cannot change any output or the pooled state.
    let layer = RecurrentLayer::bidirectional(lstm(2, 3, 1), lstm(2, 3, 2)).unwrap();
    let model = SequenceModel::new(vec![layer]).unwrap();
    let mut rng = recurrent::seeded_rng(5);
    let mut x = Array3::from_shape_fn((6, 2, 2), |_| rng.random_range(-1.0..1.0));
    let lengths = [6, 3];
    let (a, _) = model
        .infer(Input::Features(x.view()), Some(&lengths), None)
        .unwrap();
    for t in 3..6 {
        x[[t, 1, 0]] = 100.0;
    }
    let (b, _) = model
        .infer(Input::Features(x.view()), Some(&lengths), None)
        .unwrap();
    assert_eq!(a, b, "padding changed the outputs");
    // Example 1 alone, cut to its length, gives the same outputs.
    let alone = x.slice(recurrent::ndarray::s![..3, 1..2, ..]).to_owned();
    let (c, _) = model
        .infer(Input::Features(alone.view()), None, None)
        .unwrap();
    let diff = (&c.slice(recurrent::ndarray::s![.., 0, ..])
        - &a.slice(recurrent::ndarray::s![..3, 1, ..]))
        .iter()
        .fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(diff < 1e-12, "{diff}");
}

#[test]
fn tagging_and_regression_gradients_from_initial_states() {
    let mut rng = recurrent::seeded_rng(3);
    let mut model = SequenceModel::stack(vec![gru(2, 3, 1), lstm(3, 2, 2)])
        .unwrap()
        .with_head(4, &mut rng)
        .unwrap();
    let x = Array3::from_shape_fn((5, 2, 2), |(t, b, i)| {
        ((t * 3 + b * 5 + i) % 7) as f64 / 7.0 - 0.4
    });
    let lengths = [5, 3];
    // States carried in from a previous chunk (truncated BPTT).
    let init = model
        .infer(Input::Features(x.view()), None, None)
        .unwrap()
        .1;
    let targets = random_tokens(5, 2, 4, 3);
    let run = |m: &SequenceModel<f64>| {
        m.tag_step(
            Input::Features(x.view()),
            Some(&lengths),
            targets.view(),
            Some(&init),
            None,
        )
        .unwrap()
    };
    let step = run(&model);
    check_gradients(&mut model, &step.grads, |m| run(m).loss);

    let y = Array3::from_shape_fn((5, 2, 4), |(t, b, o)| (t + b + o) as f64 / 10.0);
    let run = |m: &SequenceModel<f64>| {
        m.regress_step(
            Input::Features(x.view()),
            Some(&lengths),
            y.view(),
            Some(&init),
            None,
        )
        .unwrap()
    };
    let step = run(&model);
    check_gradients(&mut model, &step.grads, |m| run(m).loss);
}

#[test]
fn pooled_regression_gradients() {
    let mut rng = recurrent::seeded_rng(8);
    let mut model = SequenceModel::new(vec![RecurrentLayer::bidirectional(
        gru(2, 3, 1),
        lstm(2, 2, 2),
    )
    .unwrap()])
    .unwrap()
    .with_head(2, &mut rng)
    .unwrap();
    let x = Array3::from_shape_fn((4, 3, 2), |(t, b, i)| {
        ((t * 5 + b * 3 + i) % 7) as f64 / 7.0 - 0.4
    });
    let y = Array2::from_shape_fn((3, 2), |(b, o)| (b + o) as f64 / 4.0);
    for pooling in [Pooling::Last, Pooling::Mean] {
        let run = |m: &SequenceModel<f64>| {
            m.pooled_regression_step(
                Input::Features(x.view()),
                Some(&[4, 1, 3]),
                y.view(),
                pooling,
                None,
            )
            .unwrap()
        };
        let step = run(&model);
        check_gradients(&mut model, &step.grads, |m| run(m).loss);
    }
}

#[test]
fn encoder_decoder_gradients_reach_the_encoder() {
    let mut rng = recurrent::seeded_rng(4);
    let encoder = SequenceModel::new(vec![RecurrentLayer::bidirectional(
        lstm(3, 2, 1),
        lstm(3, 2, 2),
    )
    .unwrap()])
    .unwrap()
    .with_embedding(6, &mut rng)
    .unwrap();
    let decoder = SequenceModel::stack(vec![lstm(3, 2, 3)])
        .unwrap()
        .with_embedding(5, &mut rng)
        .unwrap()
        .with_head(5, &mut rng)
        .unwrap();
    let mut model = Seq2Seq::new(encoder, decoder, 0, 1).unwrap();
    let source = random_tokens(4, 2, 6, 1);
    let target = random_tokens(3, 2, 5, 2);
    let run = |m: &Seq2Seq<f64>| {
        m.train_step(
            source.view(),
            Some(&[4, 2]),
            target.view(),
            Some(&[3, 2]),
            None,
        )
        .unwrap()
    };
    let step = run(&model);
    let enc_norm: f64 = step
        .grads
        .tensors
        .iter()
        .filter(|(n, _)| n.starts_with("encoder.layer0.W"))
        .map(|(_, v)| v.iter().map(|x| x * x).sum::<f64>())
        .sum();
    assert!(
        enc_norm > 0.0,
        "the encoder gets a gradient through the decoder's initial states"
    );
    check_gradients(&mut model, &step.grads, |m| run(m).loss);
    let decoded = model.decode(source.view(), None, 5, 0.0, &mut rng).unwrap();
    assert_eq!(decoded.len(), 2);
    assert!(decoded.iter().all(|d| d.len() <= 5 && !d.contains(&1)));
}

#[test]
fn mismatched_layers_are_clear_errors() {
    let err = SequenceModel::stack(vec![lstm(3, 4, 1), lstm(5, 2, 2)])
        .unwrap_err()
        .to_string();
    assert!(err.contains("layer 1: expected input size 4"), "{err}");
    let model = SequenceModel::stack(vec![lstm(3, 4, 1)]).unwrap();
    let x = Array3::<f64>::zeros((2, 1, 3));
    let err = model
        .infer(Input::Features(x.view()), Some(&[3]), None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("expected at most T = 2, found 3"), "{err}");
    let tokens = Array2::zeros((2, 1));
    let err = model
        .infer(Input::Tokens(tokens.view()), None, None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no embedding"), "{err}");
    let enc = SequenceModel::stack(vec![lstm(3, 4, 1)])
        .unwrap()
        .with_embedding(3, &mut recurrent::seeded_rng(0))
        .unwrap();
    let dec = SequenceModel::stack(vec![gru(3, 4, 1)])
        .unwrap()
        .with_embedding(3, &mut recurrent::seeded_rng(0))
        .unwrap()
        .with_head(3, &mut recurrent::seeded_rng(0))
        .unwrap();
    let err = Seq2Seq::new(enc, dec, 0, 1).unwrap_err().to_string();
    assert!(err.contains("expected a Lstm"), "{err}");
}

#[test]
fn generation_is_reproducible_and_greedy_at_zero_temperature() {
    let mut rng = recurrent::seeded_rng(0);
    let model = SequenceModel::<f64>::stack(vec![lstm(4, 5, 1)])
        .unwrap()
        .with_embedding(7, &mut rng)
        .unwrap()
        .with_head(7, &mut rng)
        .unwrap();
    let a = model
        .generate(&[1, 2], 10, 1.0, &mut recurrent::seeded_rng(3))
        .unwrap();
    let b = model
        .generate(&[1, 2], 10, 1.0, &mut recurrent::seeded_rng(3))
        .unwrap();
    assert_eq!(a, b);
    assert!(a.iter().all(|&t| t < 7));
    let g1 = model
        .generate(&[1], 6, 0.0, &mut recurrent::seeded_rng(1))
        .unwrap();
    let g2 = model
        .generate(&[1], 6, 0.0, &mut recurrent::seeded_rng(2))
        .unwrap();
    assert_eq!(g1, g2, "greedy decoding does not depend on the RNG");
    // Greedy generation continues exactly as running the whole sequence at once.
    let mut seq = vec![1];
    seq.extend(&g1[..5]);
    let tokens = Array2::from_shape_vec((6, 1), seq).unwrap();
    let (logits, _) = model
        .outputs(Input::Tokens(tokens.view()), None, None)
        .unwrap();
    for (t, &token) in g1.iter().enumerate() {
        let row = logits.slice(recurrent::ndarray::s![t, 0, ..]).to_vec();
        let best = (0..7).fold(0, |b, j| if row[j] > row[b] { j } else { b });
        assert_eq!(best, token);
    }
}

#[test]
fn training_a_stacked_model_reduces_the_loss_and_is_reproducible() {
    let train = |seed: u64| {
        let mut rng = recurrent::seeded_rng(seed);
        let mut model = SequenceModel::<f64>::stack(vec![Box::new(RnnTanh::<f64>::new(
            RnnTanhDims { I: 4, H: 8 },
            &mut rng,
        )) as Box<dyn DynCell<f64>>])
        .unwrap()
        .with_embedding(4, &mut rng)
        .unwrap()
        .with_head(4, &mut rng)
        .unwrap();
        // Echo the previous token.
        let mut adam = Adam::new(0.05);
        let mut losses = Vec::new();
        for _ in 0..60 {
            let tokens = Array2::from_shape_fn((8, 6), |_| rng.random_range(0..4));
            let mut targets = tokens.clone();
            for t in 1..8 {
                for b in 0..6 {
                    targets[[t, b]] = tokens[[t - 1, b]];
                }
            }
            let mut step = model
                .tag_step(
                    Input::Tokens(tokens.view()),
                    None,
                    targets.view(),
                    None,
                    None,
                )
                .unwrap();
            clip_grad_norm(&mut step.grads, 5.0).unwrap();
            adam.step(&mut model, &step.grads).unwrap();
            losses.push(step.loss);
        }
        losses
    };
    let a = train(11);
    assert_eq!(a, train(11), "same seed, same numbers");
    assert!(a[59] < 0.5 * a[0], "loss {} -> {}", a[0], a[59]);
}

#[test]
fn clipping_is_exact_and_survives_non_finite_gradients() {
    let mut g = NamedTensors::<f64>::new();
    g.push("a", recurrent::ndarray::arr1(&[3.0, 0.0]).into_dyn().view());
    g.push("b", recurrent::ndarray::arr1(&[4.0]).into_dyn().view());
    let norm = clip_grad_norm(&mut g, 1.0).unwrap();
    assert_eq!(norm, 5.0);
    let clipped: Vec<f64> = g
        .tensors
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .collect();
    for (c, e) in clipped.iter().zip([0.6, 0.0, 0.8]) {
        assert!((c - e).abs() < 1e-15, "{clipped:?}");
    }
    let before = g.clone();
    assert_eq!(clip_grad_norm(&mut g, 10.0).unwrap(), 1.0);
    assert_eq!(g, before, "below the threshold nothing changes");
    g.tensors[0].1[0] = f64::INFINITY;
    assert!(clip_grad_norm(&mut g, 1.0).unwrap().is_infinite());
    assert!(g.tensors.iter().all(|(_, v)| v.iter().all(|&x| x == 0.0)));
    g.tensors[0].1[0] = f64::NAN;
    g.tensors[1].1[0] = -7.0;
    clip_grad_value(&mut g, 2.0).unwrap();
    assert_eq!(g.get("a").unwrap()[0], 0.0);
    assert_eq!(g.get("b").unwrap()[0], -2.0);
}

#[test]
fn optimizers_follow_their_formulas_and_restore_state() {
    let mut p = NamedTensors::<f64>::new();
    p.push(
        "w",
        recurrent::ndarray::arr1(&[1.0, -2.0]).into_dyn().view(),
    );
    let mut g = p.zeros_like();
    g.tensors[0].1[0] = 0.5;
    g.tensors[0].1[1] = -1.0;
    let mut sgd = Sgd::new(0.1, 0.9).with_weight_decay(0.01);
    let mut q = p.clone();
    sgd.step(&mut q, &g).unwrap();
    sgd.step(&mut q, &g).unwrap();
    // v1 = g + wd p0; p1 = p0 - lr v1; v2 = 0.9 v1 + g + wd p1; p2 = p1 - lr v2
    let (p0, gg) = (1.0, 0.5);
    let v1 = gg + 0.01 * p0;
    let p1 = p0 - 0.1 * v1;
    let v2 = 0.9 * v1 + gg + 0.01 * p1;
    assert!((q.get("w").unwrap()[0] - (p1 - 0.1 * v2)).abs() < 1e-15);

    let mut adam = Adam::new(0.01);
    let mut a = p.clone();
    adam.step(&mut a, &g).unwrap();
    // The first Adam step moves every entry by lr * sign(g) (up to eps).
    assert!((a.get("w").unwrap()[0] - (1.0 - 0.01)).abs() < 1e-9);
    assert!((a.get("w").unwrap()[1] - (-2.0 + 0.01)).abs() < 1e-9);
    let saved = adam.state();
    let mut resumed = Adam::new(0.01);
    resumed.load_state(&saved).unwrap();
    let (mut x, mut y) = (a.clone(), a.clone());
    adam.step(&mut x, &g).unwrap();
    resumed.step(&mut y, &g).unwrap();
    assert_eq!(x, y, "a restored optimizer continues identically");
    let mut other = NamedTensors::<f64>::new();
    other.push("v", recurrent::ndarray::arr1(&[1.0]).into_dyn().view());
    let err = adam
        .step(&mut other.clone(), &other)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("expected `w` with 2 entries, found `v` with 1"),
        "{err}"
    );
}

#[test]
fn schedules() {
    let step = Schedule::Step {
        every: 10,
        gamma: 0.5,
    };
    assert_eq!(step.rate(1.0, 9), 1.0);
    assert_eq!(step.rate(1.0, 10), 0.5);
    assert_eq!(step.rate(1.0, 25), 0.25);
    let cos = Schedule::Cosine {
        total: 100,
        min_lr: 0.1,
    };
    assert!((cos.rate(1.0, 0) - 1.0).abs() < 1e-12);
    assert!((cos.rate(1.0, 50) - 0.55).abs() < 1e-12);
    assert!((cos.rate(1.0, 100) - 0.1).abs() < 1e-12);
    assert!((cos.rate(1.0, 1000) - 0.1).abs() < 1e-12);
}

#[test]
fn cross_entropy_is_stable_at_extreme_logits() {
    let logits = recurrent::ndarray::arr2::<f64, 3>(&[[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]]);
    let (loss, grad) = softmax_cross_entropy(logits.view(), &[1, 2], None).unwrap();
    assert!(
        loss.is_finite() && (loss - (2e4 + 3f64.ln()) / 2.0).abs() < 1e-9,
        "{loss}"
    );
    assert!(grad.iter().all(|g| g.is_finite()));
    let (masked, grad) =
        softmax_cross_entropy(logits.view(), &[1, 2], Some(&[false, true])).unwrap();
    assert!((masked - 3f64.ln()).abs() < 1e-12);
    assert!(grad.row(0).iter().all(|&g| g == 0.0));
    let err = softmax_cross_entropy(logits.view(), &[1, 3], None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("expected a class below 3, found 3"), "{err}");
}

#[test]
fn padding_batching_vocab_and_windows() {
    let seqs = vec![
        Array2::from_elem((3, 2), 1.0f64),
        Array2::from_elem((1, 2), 2.0),
    ];
    let (x, lengths) = pad_sequences(&seqs).unwrap();
    assert_eq!(x.shape(), &[3, 2, 2]);
    assert_eq!(lengths, vec![3, 1]);
    assert_eq!(x[[1, 1, 0]], 0.0);
    assert_eq!(unpad(x.view(), &lengths).unwrap(), seqs);
    let (tokens, lengths) = pad_tokens(&[vec![4, 5], vec![6]], 0);
    assert_eq!(tokens, recurrent::ndarray::arr2(&[[4, 6], [5, 0]]));
    assert_eq!(lengths, vec![2, 1]);
    let a = batch_indices(10, 4, true, &mut recurrent::seeded_rng(1));
    assert_eq!(a, batch_indices(10, 4, true, &mut recurrent::seeded_rng(1)));
    assert_eq!(a.iter().map(Vec::len).collect::<Vec<_>>(), vec![4, 4, 2]);
    let mut all: Vec<usize> = a.concat();
    all.sort();
    assert_eq!(all, (0..10).collect::<Vec<_>>());
    let vocab = Vocab::from_chars("hello", &["<pad>"], None);
    assert_eq!(vocab.len(), 5);
    let ids = vocab.encode_chars("hole").unwrap();
    assert_eq!(vocab.decode(&ids).unwrap(), "hole");
    assert!(vocab
        .encode_chars("x")
        .unwrap_err()
        .to_string()
        .contains("\"x\" is not in the vocabulary"));
    assert_eq!(tbptt_windows(10, 4), vec![0..4, 4..8, 8..10]);
    assert_eq!(window_lengths(&[10, 5, 0], &(4..8)), vec![4, 1, 0]);
}

fn features(t: usize, b: usize, i: usize, seed: u64) -> Array3<f64> {
    let mut rng = recurrent::seeded_rng(seed);
    Array3::from_shape_fn((t, b, i), |_| rng.random_range(-1.0..1.0))
}

#[test]
fn reverse_layer_gradients_through_the_model() {
    let mut rng = recurrent::seeded_rng(21);
    let mut model = SequenceModel::new(vec![
        RecurrentLayer::reverse(lstm(2, 3, 1)),
        RecurrentLayer::unidirectional(gru(3, 2, 2)),
    ])
    .unwrap()
    .with_head(3, &mut rng)
    .unwrap()
    .with_dropout(0.25)
    .unwrap();
    let names: Vec<String> = model.tensors().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names[0], "layer0.reverse.W_xi");
    assert!(
        names.iter().all(|n| !n.starts_with("layer0.W")),
        "{names:?}"
    );
    assert_eq!(model.layers[0].direction(), recurrent::Direction::Reverse);
    let x = features(5, 3, 2, 3);
    let lengths = [5, 2, 0];
    // Initial states carried in (for the reverse layer: the state its first step, at
    // `len - 1`, reads).
    let init = model
        .infer(Input::Features(x.view()), Some(&lengths), None)
        .unwrap()
        .1;
    let targets = random_tokens(5, 3, 3, 4);
    let run = |m: &SequenceModel<f64>| {
        let mut drop_rng = recurrent::seeded_rng(7);
        m.tag_step(
            Input::Features(x.view()),
            Some(&lengths),
            targets.view(),
            Some(&init),
            Some(&mut drop_rng),
        )
        .unwrap()
    };
    let step = run(&model);
    check_gradients(&mut model, &step.grads, |m| run(m).loss);

    // Pooled classification from the reverse layer on top, with token inputs.
    let mut model = SequenceModel::new(vec![
        RecurrentLayer::unidirectional(lstm(2, 3, 5)),
        RecurrentLayer::reverse(gru(3, 3, 6)),
    ])
    .unwrap()
    .with_embedding(4, &mut rng)
    .unwrap()
    .with_head(2, &mut rng)
    .unwrap();
    let tokens = random_tokens(4, 3, 4, 8);
    // `Pooling::Last` of a reverse top layer is where its cell ends, at t = 0.
    let (hidden, _) = model
        .infer(Input::Tokens(tokens.view()), Some(&[4, 3, 1]), None)
        .unwrap();
    let logits = model
        .classify(
            Input::Tokens(tokens.view()),
            Some(&[4, 3, 1]),
            Pooling::Last,
        )
        .unwrap();
    let head = model.head.as_ref().unwrap();
    let at_zero = head
        .forward(hidden.slice(recurrent::ndarray::s![0, .., ..]))
        .unwrap();
    assert_eq!(logits, at_zero);
    for pooling in [Pooling::Last, Pooling::Mean] {
        let run = |m: &SequenceModel<f64>| {
            m.classify_step(
                Input::Tokens(tokens.view()),
                Some(&[4, 3, 1]),
                &[1, 0, 1],
                pooling,
                None,
            )
            .unwrap()
        };
        let step = run(&model);
        check_gradients(&mut model, &step.grads, |m| run(m).loss);
    }
}

#[test]
fn reverse_layer_runs_backward_within_each_length() {
    let cell = lstm(2, 3, 1);
    let reverse = SequenceModel::new(vec![RecurrentLayer::reverse(cell.clone())]).unwrap();
    let mut x = features(6, 2, 2, 5);
    let lengths = [6, 3];
    let (out, states) = reverse
        .infer(Input::Features(x.view()), Some(&lengths), None)
        .unwrap();
    assert_eq!(out.dim(), (6, 2, 3));
    // Padding changes nothing.
    for t in 3..6 {
        x[[t, 1, 0]] = 100.0;
    }
    let (again, _) = reverse
        .infer(Input::Features(x.view()), Some(&lengths), None)
        .unwrap();
    assert_eq!(out, again);
    // Example 1 equals the cell run forward over its steps reversed, the outputs put back.
    let mut rev = Array3::zeros((3, 1, 2));
    for t in 0..3 {
        for i in 0..2 {
            rev[[t, 0, i]] = x[[2 - t, 1, i]];
        }
    }
    let fwd = cell.infer(rev.view(), None, None).unwrap();
    for t in 0..3 {
        for j in 0..3 {
            assert_eq!(out[[t, 1, j]], fwd.outputs[[2 - t, 0, j]], "t = {t}");
        }
    }
    assert!(out
        .slice(recurrent::ndarray::s![3.., 1, ..])
        .iter()
        .all(|&v| v == 0.0));
    // Its final state is the cell's after reading x[0].
    assert_eq!(
        states[0].forward.get("h").unwrap().row(1),
        fwd.final_states.get("h").unwrap().row(0)
    );
    // The same numbers as the reverse half of a bidirectional layer with the same cell.
    let bi = SequenceModel::new(vec![RecurrentLayer::bidirectional(
        lstm(2, 4, 9),
        cell.clone(),
    )
    .unwrap()])
    .unwrap();
    let (both, _) = bi
        .infer(Input::Features(x.view()), Some(&lengths), None)
        .unwrap();
    assert_eq!(both.slice(recurrent::ndarray::s![.., .., 4..]), out);

    // Generation and decoders need layers that run forward.
    let mut rng = recurrent::seeded_rng(1);
    let lm = SequenceModel::new(vec![RecurrentLayer::reverse(lstm(2, 3, 1))])
        .unwrap()
        .with_embedding(3, &mut rng)
        .unwrap()
        .with_head(3, &mut rng)
        .unwrap();
    let err = lm.generate(&[0], 3, 0.0, &mut rng).unwrap_err().to_string();
    assert!(err.contains("layer 0 is Reverse"), "{err}");
    let enc = SequenceModel::new(vec![RecurrentLayer::reverse(lstm(3, 4, 1))])
        .unwrap()
        .with_embedding(3, &mut rng)
        .unwrap();
    let dec = SequenceModel::new(vec![RecurrentLayer::reverse(lstm(3, 4, 2))])
        .unwrap()
        .with_embedding(3, &mut rng)
        .unwrap()
        .with_head(3, &mut rng)
        .unwrap();
    let err = Seq2Seq::new(enc.clone(), dec, 0, 1)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("decoder layer 0") && err.contains("Reverse"),
        "{err}"
    );
    // A reverse encoder is fine (it reads the source backwards, as Sutskever et al.).
    let dec = SequenceModel::stack(vec![lstm(3, 4, 2)])
        .unwrap()
        .with_embedding(3, &mut rng)
        .unwrap()
        .with_head(3, &mut rng)
        .unwrap();
    assert!(Seq2Seq::new(enc, dec, 0, 1).is_ok());
    // A layer set to both a reverse layer and a bidirectional one is refused.
    let mut both = RecurrentLayer::bidirectional(lstm(2, 3, 1), lstm(2, 3, 2)).unwrap();
    both.reversed = true;
    let err = SequenceModel::new(vec![both]).unwrap_err().to_string();
    assert!(
        err.contains("layer 0") && err.contains("found both"),
        "{err}"
    );
}

fn transposed(x: &Array3<f64>) -> Array3<f64> {
    x.view()
        .permuted_axes([1, 0, 2])
        .as_standard_layout()
        .into_owned()
}

#[test]
fn batch_first_models_give_the_time_major_numbers_exactly() {
    let mut rng = recurrent::seeded_rng(31);
    let model = SequenceModel::new(vec![
        RecurrentLayer::bidirectional(lstm(3, 2, 1), gru(3, 2, 2)).unwrap(),
        RecurrentLayer::reverse(gru(4, 3, 3)),
        RecurrentLayer::unidirectional(lstm(3, 2, 4)),
    ])
    .unwrap()
    .with_dropout(0.3)
    .unwrap()
    .with_head(2, &mut rng)
    .unwrap();
    let x = features(5, 3, 3, 1); // [T, B, I]
    let xb = transposed(&x); // [B, T, I]
    let lengths = [5, 1, 3];
    let init = model
        .infer(Input::Features(x.view()), Some(&lengths), None)
        .unwrap()
        .1;

    let (h_tm, s_tm) = model
        .infer(Input::Features(x.view()), Some(&lengths), Some(&init))
        .unwrap();
    let (h_bf, s_bf) = model
        .infer_batch_first(xb.view(), Some(&lengths), Some(&init))
        .unwrap();
    assert_eq!(h_bf, transposed(&h_tm));
    assert_eq!(s_bf, s_tm);

    let tm = model
        .forward(
            Input::Features(x.view()),
            Some(&lengths),
            Some(&init),
            Some(&mut recurrent::seeded_rng(5)),
        )
        .unwrap();
    let bf = model
        .forward_batch_first(
            xb.view(),
            Some(&lengths),
            Some(&init),
            Some(&mut recurrent::seeded_rng(5)),
        )
        .unwrap();
    assert_eq!(tm.layout(), recurrent::Layout::TimeMajor);
    assert_eq!(bf.layout(), recurrent::Layout::BatchFirst);
    assert_eq!(bf.hidden, transposed(&tm.hidden), "[B, T, H]");
    assert_eq!(bf.final_states, tm.final_states);
    let d = features(5, 3, 2, 2);
    let g_tm = model.backward(&tm, d.view(), None, None).unwrap();
    let g_bf = model
        .backward(&bf, transposed(&d).view(), None, None)
        .unwrap();
    assert_eq!(
        g_bf.inputs.as_ref().map(transposed),
        g_tm.inputs,
        "the input gradient comes back [B, T, I]"
    );
    assert_eq!(g_bf.params, g_tm.params);
    assert_eq!(g_bf.initial_states, g_tm.initial_states);
    // A time-major gradient for a batch-first pass is an error naming both shapes.
    let err = model
        .backward(&bf, d.view(), None, None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("[3, 5, 2]") && err.contains("[5, 3, 2]"),
        "{err}"
    );
    // Bad input is an error, not a panic.
    let bad = Array3::<f64>::zeros((3, 5, 4));
    let err = model
        .forward_batch_first(bad.view(), Some(&lengths), None, None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("[B, T, 3]") && err.contains("[3, 5, 4]"),
        "{err}"
    );
    let err = model
        .infer_batch_first(xb.view(), Some(&[6, 1, 1]), None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("expected at most T = 5, found 6"), "{err}");
}
