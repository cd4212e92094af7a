//! Random masks (`mask m: [H] = bernoulli(p);`, `bernoulli_per_step(p)`): drawn from the
//! caller's RNG when training (the same seed, the same masks), their expectation otherwise;
//! kept in the trace so that backward is exact and a pass can be replayed; the mean over many
//! training draws agrees with the inference pass where the cell is linear in its masks.

use recurrent::cells::{
    Lstm, LstmDims, LstmVariational, LstmVariationalDims, LstmZoneout, LstmZoneoutDims,
};
use recurrent::ndarray::{Array3, Axis};
use recurrent::rand::RngExt;
use recurrent::{
    rnn_cell, seeded_rng, Cell, ExampleSeeds, Input, Masks, NamedTensors, RecurrentLayer,
    SequenceModel,
};

rnn_cell! {
    /// Variational dropout on a feed-forward path: the output is linear in the mask.
    cell DroppedOut {
        input x: [I];
        state h: [H];
        param W: [I, H];
        param b: [H];
        mask m: [H] = bernoulli(0.3);

        h[t] = m * tanh(x[t] @ W + b);
    }
}

rnn_cell! {
    /// Zoneout on a state whose candidate does not read the state: linear in the masks, which
    /// are independent from step to step.
    cell ZonedOut {
        input x: [I];
        state h: [H];
        param W: [I, H];
        param b: [H];
        mask z: [H] = bernoulli_per_step(0.6);

        h[t] = z * h[t-1] + (1 - z) * tanh(x[t] @ W + b);
    }
}

rnn_cell! {
    /// A mask alone as the left operand of a product, and a function of masks in one.
    cell MaskProducts {
        input x: [I];
        state h: [H];
        param W: [I, H];
        param U, V, R: [H, H];
        mask m: [H] = bernoulli(0.5);
        mask z: [H] = bernoulli_per_step(0.25);

        h[t] = tanh(x[t] @ W + m @ U + (1 - z) @ V + (z * h[t-1]) @ R);
    }
}

#[test]
fn masks_as_left_operands_of_products_are_gradient_checked() {
    let cell = MaskProducts::<f64>::new(MaskProductsDims { I: 3, H: 4 }, &mut seeded_rng(60));
    recurrent::gradcheck(&cell, &recurrent::GradcheckConfig::default())
        .unwrap()
        .assert_ok();
}

fn random_input(t: usize, b: usize, i: usize, seed: u64) -> Array3<f64> {
    let mut rng = seeded_rng(seed);
    Array3::from_shape_fn((t, b, i), |_| rng.random_range(-1.0..1.0))
}

#[test]
fn the_same_seed_draws_the_same_masks_and_another_seed_others() {
    let cell = LstmZoneout::<f32>::new(LstmZoneoutDims { I: 3, H: 8 }, &mut seeded_rng(1));
    let x = random_input(6, 4, 3, 2).mapv(|v| v as f32);
    let a = cell
        .forward_train(x.view(), None, None, &mut seeded_rng(7))
        .unwrap();
    let b = cell
        .forward_train(x.view(), None, None, &mut seeded_rng(7))
        .unwrap();
    let c = cell
        .forward_train(x.view(), None, None, &mut seeded_rng(8))
        .unwrap();
    assert_eq!(a.outputs, b.outputs);
    assert_eq!(a.masks().unwrap(), b.masks().unwrap());
    assert_ne!(a.masks().unwrap(), c.masks().unwrap());
    assert_ne!(a.outputs, c.outputs);
}

#[test]
fn masks_have_the_declared_shapes_values_and_rates() {
    let (t, b) = (5, 400);
    let cell = LstmZoneout::<f64>::new(LstmZoneoutDims { I: 2, H: 16 }, &mut seeded_rng(3));
    let x = random_input(t, b, 2, 4);
    let fwd = cell
        .forward_train(x.view(), None, None, &mut seeded_rng(5))
        .unwrap();
    let masks = fwd.masks().unwrap();
    assert_eq!(masks.names(), vec!["z_c", "z_h"]);
    for (name, p) in [("z_c", 0.5), ("z_h", 0.05)] {
        let m = masks.get(name).unwrap();
        assert_eq!(m.shape(), &[t, b, 16], "a per-step mask is [T, B, H]");
        assert!(m.iter().all(|&v| v == 0.0 || v == 1.0));
        let n = m.len() as f64;
        let mean = m.sum() / n;
        let sd = (p * (1.0 - p) / n).sqrt();
        assert!(
            (mean - p).abs() < 5.0 * sd,
            "{name}: mean {mean}, expected {p} ± {sd}"
        );
        // Drawn at every step: consecutive steps differ.
        assert_ne!(m.index_axis(Axis(0), 0), m.index_axis(Axis(0), 1));
    }

    let cell = LstmVariational::<f64>::new(LstmVariationalDims { I: 6, H: 16 }, &mut seeded_rng(3));
    let x = random_input(t, b, 6, 4);
    let fwd = cell
        .forward_train(x.view(), None, None, &mut seeded_rng(5))
        .unwrap();
    let masks = fwd.masks().unwrap();
    assert_eq!(
        masks.get("m_x").unwrap().shape(),
        &[b, 6],
        "a per-sequence mask is [B, I]"
    );
    assert_eq!(masks.get("m_h").unwrap().shape(), &[b, 16]);
    let m = masks.get("m_h").unwrap();
    let mean = m.sum() / m.len() as f64;
    assert!(
        (mean - 0.75).abs() < 5.0 * (0.75 * 0.25 / m.len() as f64).sqrt(),
        "{mean}"
    );

    // Not training: every mask is its expectation.
    let fwd = cell.forward(x.view(), None, None).unwrap();
    assert!(fwd
        .masks()
        .unwrap()
        .get("m_x")
        .unwrap()
        .iter()
        .all(|&v| v == 0.75));
}

#[test]
fn a_training_pass_replays_exactly_from_its_masks() {
    let cell = LstmVariational::<f64>::new(LstmVariationalDims { I: 3, H: 5 }, &mut seeded_rng(9));
    let x = random_input(7, 3, 3, 10);
    let lengths = [7, 4, 0];
    let train = cell
        .forward_train(x.view(), None, Some(&lengths), &mut seeded_rng(11))
        .unwrap();
    let masks = train.masks().unwrap();
    let replay = cell
        .forward_masked(x.view(), None, Some(&lengths), Masks::Given(&masks))
        .unwrap();
    assert_eq!(train.outputs, replay.outputs);
    let d_out = random_input(7, 3, 5, 12);
    let g1 = cell.backward(&train, d_out.view(), None).unwrap();
    let g2 = cell.backward(&replay, d_out.view(), None).unwrap();
    assert_eq!(g1.params, g2.params);
    assert_eq!(g1.inputs, g2.inputs);
    // A different draw gives a different pass.
    let other = cell
        .forward_train(x.view(), None, Some(&lengths), &mut seeded_rng(12))
        .unwrap();
    assert_ne!(train.outputs, other.outputs);
}

#[test]
fn inference_is_the_expectation_of_training_where_the_cell_is_linear_in_its_masks() {
    // One input repeated over many examples: each example draws its own masks, so the mean over
    // the batch is the mean over independent training draws.
    let (t, n, i, h) = (4, 20_000, 3, 5);
    let one = random_input(t, 1, i, 20);
    let x = one.broadcast((t, n, i)).unwrap().to_owned();

    let dropped = DroppedOut::<f64>::new(DroppedOutDims { I: i, H: h }, &mut seeded_rng(21));
    let zoned = ZonedOut::<f64>::new(ZonedOutDims { I: i, H: h }, &mut seeded_rng(22));
    let cases: [(&str, Array3<f64>, Array3<f64>, f64); 2] = [
        (
            "DroppedOut",
            dropped
                .forward_train(x.view(), None, None, &mut seeded_rng(23))
                .unwrap()
                .outputs,
            dropped.infer(one.view(), None, None).unwrap().outputs,
            0.3,
        ),
        (
            "ZonedOut",
            zoned
                .forward_train(x.view(), None, None, &mut seeded_rng(24))
                .unwrap()
                .outputs,
            zoned.infer(one.view(), None, None).unwrap().outputs,
            0.6,
        ),
    ];
    for (name, trained, inferred, p) in cases {
        let mean = trained.mean_axis(Axis(1)).unwrap();
        for s in 0..t {
            for j in 0..h {
                let expected = inferred[[s, 0, j]];
                // Each output is a mixture of values of magnitude <= 1 with weights from
                // Bernoulli(p) draws: its standard deviation is below 1.
                let sd = (p * (1.0 - p)).sqrt().max(0.5) / (n as f64).sqrt();
                let got = mean[[s, j]];
                assert!(
                    (got - expected).abs() < 5.0 * sd,
                    "{name}: step {s}, unit {j}: mean over draws {got}, inference {expected}"
                );
            }
        }
        // And training is random: the examples differ.
        assert_ne!(
            trained.index_axis(Axis(1), 0),
            trained.index_axis(Axis(1), 1)
        );
    }
}

#[test]
fn without_training_the_variational_lstm_is_the_lstm() {
    let dims = LstmVariationalDims { I: 3, H: 4 };
    let cell = LstmVariational::<f64>::new(dims, &mut seeded_rng(30));
    let mut lstm = Lstm::<f64>::zeros(LstmDims { I: 3, H: 4 });
    for (name, value) in cell.params().iter() {
        lstm.set_param(name, value).unwrap();
    }
    let x = random_input(6, 2, 3, 31);
    let a = cell.infer(x.view(), None, None).unwrap().outputs;
    let b = lstm.infer(x.view(), None, None).unwrap().outputs;
    let diff = (&a - &b).mapv(f64::abs).fold(0.0f64, |m, &v| m.max(v));
    assert!(diff < 1e-14, "{diff}");
}

#[test]
fn given_masks_are_checked() {
    let cell = LstmVariational::<f64>::new(LstmVariationalDims { I: 3, H: 4 }, &mut seeded_rng(40));
    let x = random_input(2, 2, 3, 41);
    let forward = |masks: &NamedTensors<f64>| {
        cell.forward_masked(x.view(), None, None, Masks::Given(masks))
            .map(|_| ())
            .unwrap_err()
            .to_string()
    };
    let good = cell
        .forward_train(x.view(), None, None, &mut seeded_rng(1))
        .unwrap()
        .masks()
        .unwrap();

    let mut missing = good.clone();
    missing.tensors.pop();
    let e = forward(&missing);
    assert!(e.contains("`m_h`") && e.contains("not given"), "{e}");

    let mut unknown = good.clone();
    unknown.push("m_y", recurrent::ndarray::ArrayD::zeros(vec![2, 4]).view());
    let e = forward(&unknown);
    assert!(e.contains("`m_y`") && e.contains("m_x, m_h"), "{e}");

    let mut wrong = NamedTensors::new();
    wrong.push("m_x", recurrent::ndarray::ArrayD::zeros(vec![2, 3]).view());
    wrong.push("m_h", recurrent::ndarray::ArrayD::zeros(vec![3, 4]).view());
    let e = forward(&wrong);
    assert!(
        e.contains("`m_h`") && e.contains("[2, 4]") && e.contains("[3, 4]"),
        "{e}"
    );

    let mut nan = good.clone();
    nan.tensors[0].1[[0, 0]] = f64::NAN;
    let e = forward(&nan);
    assert!(e.contains("finite"), "{e}");

    // A cell without masks takes no given masks.
    let lstm = Lstm::<f64>::zeros(LstmDims { I: 3, H: 4 });
    let e = lstm
        .forward_masked(x.view(), None, None, Masks::Given(&good))
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("`m_x`") && e.contains("Lstm has no such mask"),
        "{e}"
    );
}

#[test]
fn a_model_draws_its_cells_masks_with_the_dropout_rng_and_expects_them_without() {
    let (t, b, i, h) = (5, 3, 3, 4);
    let model = masked_model(i, h, 51, 0.0);
    let x = random_input(t, b, i, 54);
    let run = |rng: Option<&mut dyn recurrent::DropoutRng>| {
        model
            .forward(Input::Features(x.view()), None, None, rng)
            .unwrap()
            .hidden
    };
    let a = run(Some(&mut seeded_rng(1)));
    let b1 = run(Some(&mut seeded_rng(1)));
    let c = run(Some(&mut seeded_rng(2)));
    assert_eq!(a, b1, "the same seed draws the same masks");
    assert_ne!(a, c, "another seed draws other masks");
    // Without an RNG every mask is its expectation: the inference pass.
    let expected = run(None);
    let (inferred, _) = model.infer(Input::Features(x.view()), None, None).unwrap();
    let diff = (&expected - &inferred)
        .mapv(f64::abs)
        .fold(0.0f64, |m, &v| m.max(v));
    assert!(diff < 1e-14, "{diff}");
    assert_ne!(a, expected);
}

/// A bidirectional layer of variational LSTMs (per-sequence masks) under a zoneout LSTM
/// (per-step masks), with `dropout` between them, the cells initialized from `seed`, `seed + 1`
/// and `seed + 2`.
fn masked_model(i: usize, h: usize, seed: u64, dropout: f64) -> SequenceModel<f64> {
    let variational = |s| {
        Box::new(LstmVariational::<f64>::new(
            LstmVariationalDims { I: i, H: h },
            &mut seeded_rng(s),
        ))
    };
    let bidirectional =
        RecurrentLayer::bidirectional(variational(seed), variational(seed + 1)).unwrap();
    let top = RecurrentLayer::unidirectional(Box::new(LstmZoneout::<f64>::new(
        LstmZoneoutDims { I: 2 * h, H: h },
        &mut seeded_rng(seed + 2),
    )));
    SequenceModel::new(vec![bidirectional, top])
        .unwrap()
        .with_dropout(dropout)
        .unwrap()
}

#[test]
fn per_example_masks_do_not_depend_on_the_rest_of_the_batch() {
    let (i, h) = (3, 4);
    let model = masked_model(i, h, 60, 0.4);
    let lengths = [5, 2, 7, 4];
    let x = random_input(7, lengths.len(), i, 63);
    let examples = [40, 3, 17, 8];
    let seeds = ExampleSeeds::new(9, 2, &examples);
    let whole = model
        .forward(
            Input::Features(x.view()),
            Some(&lengths),
            None,
            Some(&mut seeds.clone()),
        )
        .unwrap();
    // Each shard is padded to its own length; its examples' outputs are the whole batch's.
    for shard in [vec![1, 3], vec![2], vec![3, 0, 1]] {
        let own: Vec<usize> = shard.iter().map(|&c| lengths[c]).collect();
        let steps = own.iter().copied().max().unwrap();
        let xs = x.select(Axis(1), &shard);
        let xs = xs.slice(recurrent::ndarray::s![..steps, .., ..]);
        let part = model
            .forward(
                Input::Features(xs),
                Some(&own),
                None,
                Some(&mut seeds.select(&shard).unwrap()),
            )
            .unwrap();
        for (k, &c) in shard.iter().enumerate() {
            let a = part.hidden.index_axis(Axis(1), k);
            let b = whole.hidden.index_axis(Axis(1), c);
            let diff = (&a - &b.slice(recurrent::ndarray::s![..steps, ..]))
                .mapv(f64::abs)
                .fold(0.0f64, |m, &v| m.max(v));
            assert!(diff < 1e-13, "column {c} in shard {shard:?}: {diff}");
        }
    }
    // The masks are random: another step or another example index draws others.
    let other_step = model
        .forward(
            Input::Features(x.view()),
            Some(&lengths),
            None,
            Some(&mut ExampleSeeds::new(9, 3, &examples)),
        )
        .unwrap();
    assert_ne!(whole.hidden, other_step.hidden);
    let expected = model
        .forward(Input::Features(x.view()), Some(&lengths), None, None)
        .unwrap();
    assert_ne!(whole.hidden, expected.hidden);
    // One index per column.
    let err = model
        .forward(
            Input::Features(x.view()),
            Some(&lengths),
            None,
            Some(&mut ExampleSeeds::new(9, 2, &examples[..3])),
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("B=4") && err.contains("[3]"), "{err}");
}
