//! The CTC loss against PyTorch's `nn.CTCLoss` (`tests/reference/ctc.json`, written by
//! `tests/reference/make_ctc_reference.py`), against central differences, and through the
//! model API.

use recurrent::ctc::{ctc_loss, CtcDecoder, CtcOptions, CtcReduction};
use recurrent::ndarray::Array3;
use recurrent::rand::RngExt;
use recurrent::{Input, SequenceModel};
use serde_json::Value;

fn number(v: &Value) -> f64 {
    match v {
        Value::String(s) if s == "inf" => f64::INFINITY,
        Value::String(s) if s == "-inf" => f64::NEG_INFINITY,
        Value::String(s) if s == "nan" => f64::NAN,
        v => v.as_f64().unwrap_or_else(|| panic!("not a number: {v}")),
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-10 * (1.0 + b.abs()) || (a.is_infinite() && a == b)
}

#[test]
fn loss_and_gradient_agree_with_pytorch() {
    let path = format!("{}/tests/reference/ctc.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    let root: Value = serde_json::from_str(&text).unwrap();
    let mut checked = 0;
    for case in root["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let dim = |k: &str| case[k].as_u64().unwrap() as usize;
        let (t, b, c) = (dim("T"), dim("B"), dim("C"));
        let values: Vec<f64> = case["logits"]
            .as_array()
            .unwrap()
            .iter()
            .map(number)
            .collect();
        let logits = Array3::from_shape_vec((t, b, c), values).unwrap();
        let lengths: Vec<usize> = case["input_lengths"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        let targets: Vec<Vec<usize>> = case["targets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                t.as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_u64().unwrap() as usize)
                    .collect()
            })
            .collect();
        for config in case["configs"].as_array().unwrap() {
            let reduction = match config["reduction"].as_str().unwrap() {
                "mean" => CtcReduction::Mean,
                "sum" => CtcReduction::Sum,
                _ => CtcReduction::None,
            };
            let options = CtcOptions {
                blank: dim("blank"),
                reduction,
                zero_infinity: config["zero_infinity"].as_bool().unwrap(),
            };
            let what = format!("{name} {options:?}");
            let ours = ctc_loss(logits.view(), &targets, &lengths, &options).unwrap();
            match &config["loss"] {
                Value::Array(per_example) => {
                    for (e, (a, v)) in ours.losses.iter().zip(per_example).enumerate() {
                        assert!(
                            close(*a, number(v)),
                            "{what}: loss of example {e}: {a} vs {v}"
                        );
                    }
                }
                v => assert!(
                    close(ours.loss, number(v)),
                    "{what}: loss {} vs {v}",
                    ours.loss
                ),
            }
            // PyTorch's gradient of an example whose loss is infinite is NaN (undefined); ours
            // is zero there. Every other entry must agree.
            let theirs: Vec<f64> = config["grad"]
                .as_array()
                .unwrap()
                .iter()
                .map(number)
                .collect();
            for (i, (a, g)) in ours.grad.iter().zip(&theirs).enumerate() {
                let example = (i / c) % b;
                if g.is_nan() {
                    assert!(ours.losses[example].is_infinite(), "{what}: NaN at {i}");
                    assert_eq!(*a, 0.0);
                    continue;
                }
                assert!(
                    close(*a, *g),
                    "{what}: grad[{i}] (example {example}) {a} vs {g}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 10_000, "only {checked} gradient entries compared");
}

#[test]
fn gradient_matches_central_differences() {
    let rng = &mut recurrent::seeded_rng(3);
    let (t, b, c) = (9, 3, 5);
    let logits = Array3::from_shape_fn((t, b, c), |_| rng.random::<f64>() * 4.0 - 2.0);
    let targets = vec![vec![1, 1, 2], vec![4], vec![]];
    let lengths = [9, 6, 4];
    for reduction in [CtcReduction::Mean, CtcReduction::Sum, CtcReduction::None] {
        let options = CtcOptions {
            blank: 0,
            reduction,
            zero_infinity: false,
        };
        let loss = |z: &Array3<f64>| {
            ctc_loss(z.view(), &targets, &lengths, &options)
                .unwrap()
                .loss
        };
        let grad = ctc_loss(logits.view(), &targets, &lengths, &options)
            .unwrap()
            .grad;
        let h = 1e-6;
        for (idx, &g) in grad.indexed_iter() {
            let mut plus = logits.clone();
            plus[idx] += h;
            let mut minus = logits.clone();
            minus[idx] -= h;
            let numeric = (loss(&plus) - loss(&minus)) / (2.0 * h);
            assert!(
                (numeric - g).abs() <= 1e-7 * (1.0 + g.abs()),
                "{reduction:?} {idx:?}: analytic {g}, numeric {numeric}"
            );
        }
    }
}

/// One training step through the model API, and decoding: the gradient the model returns is the
/// CTC gradient pushed through head and layers (checked against central differences of the
/// model's loss on one parameter entry), and decoding returns one transcription per example.
#[test]
fn a_model_trains_and_decodes_with_ctc() {
    use recurrent::cells::{Lstm, LstmDims};
    let rng = &mut recurrent::seeded_rng(4);
    let model = SequenceModel::<f64>::stack(vec![Box::new(Lstm::<f64>::new(
        LstmDims { I: 3, H: 5 },
        rng,
    ))])
    .unwrap()
    .with_head(4, rng)
    .unwrap();
    let x = Array3::from_shape_fn((7, 2, 3), |_| rng.random::<f64>() - 0.5);
    let lengths = [7, 5];
    let targets = vec![vec![1, 2, 2], vec![3]];
    let options = CtcOptions::default();
    let step = model
        .ctc_step(
            Input::Features(x.view()),
            Some(&lengths),
            &targets,
            &options,
            None,
        )
        .unwrap();
    assert!(step.loss.is_finite() && step.loss > 0.0);
    let loss_of = |m: &SequenceModel<f64>| {
        m.ctc_step(
            Input::Features(x.view()),
            Some(&lengths),
            &targets,
            &options,
            None,
        )
        .unwrap()
        .loss
    };
    for (i, (name, g)) in step.grads.tensors.iter().enumerate() {
        let analytic = g.iter().next().copied().unwrap();
        let h = 1e-6;
        let shifted = |delta: f64| {
            let mut m = model.clone();
            let mut params = m.named_params();
            *params.tensors[i].1.iter_mut().next().unwrap() += delta;
            m.load_params(&params).unwrap();
            loss_of(&m)
        };
        let numeric = (shifted(h) - shifted(-h)) / (2.0 * h);
        assert!(
            (numeric - analytic).abs() <= 1e-6 * (1.0 + analytic.abs()),
            "{name}: analytic {analytic}, numeric {numeric}"
        );
    }
    for decoder in [CtcDecoder::Greedy, CtcDecoder::Beam { width: 4 }] {
        let out = model
            .ctc_decode(Input::Features(x.view()), Some(&lengths), 0, decoder)
            .unwrap();
        assert_eq!(out.len(), 2);
        assert!(out.iter().flatten().all(|&k| (1..4).contains(&k)));
    }
    let bad = model.ctc_step(
        Input::Features(x.view()),
        Some(&lengths),
        &[vec![1, 4], vec![3]],
        &options,
        None,
    );
    let msg = bad.unwrap_err().to_string();
    assert!(
        msg.contains("example 0") && msg.contains("found 4"),
        "{msg}"
    );
}
