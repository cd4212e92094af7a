//! Guards of the training and I/O side (issue 10): loaders refuse non-finite values naming the
//! tensor and entry, optimizers and clipping refuse invalid input without changing anything,
//! checkpoints load whatever they save, and a NaN regression target or sampling temperature is
//! an error that names it.

use std::collections::BTreeMap;

use recurrent::cells::{Lstm, LstmDims};
use recurrent::ndarray::{Array2, Array3};
use recurrent::torch::{export_torch, import_torch};
use recurrent::train::{clip_grad_norm, Adam, Optimizer, Sgd};
use recurrent::{
    load_checkpoint, save_checkpoint, Cell, DynCell, Input, Parameters, Pooling, Seq2Seq,
    SequenceModel, TensorFile,
};

fn lstm(i: usize, h: usize, seed: u64) -> Box<dyn DynCell<f64>> {
    Box::new(Lstm::<f64>::new(
        LstmDims { I: i, H: h },
        &mut recurrent::seeded_rng(seed),
    ))
}

/// A model reading features `[T, B, 3]` with a head of 2 values.
fn regressor(seed: u64) -> SequenceModel<f64> {
    SequenceModel::stack(vec![lstm(3, 4, seed)])
        .unwrap()
        .with_head(2, &mut recurrent::seeded_rng(seed + 100))
        .unwrap()
}

/// A language model over 7 tokens.
fn language_model(seed: u64) -> SequenceModel<f64> {
    let mut rng = recurrent::seeded_rng(seed);
    SequenceModel::stack(vec![lstm(4, 5, seed)])
        .unwrap()
        .with_embedding(7, &mut rng)
        .unwrap()
        .with_head(7, &mut rng)
        .unwrap()
}

fn values(m: &dyn Parameters<f64>) -> Vec<Vec<f64>> {
    m.tensors().into_iter().map(|(_, v)| v.to_vec()).collect()
}

fn temp_path(test: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("rnn-guards-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("model.safetensors")
}

fn features(t: usize, b: usize) -> Array3<f64> {
    Array3::from_shape_fn((t, b, 3), |(t, b, i)| {
        ((t * 5 + b * 3 + i) % 7) as f64 / 7.0 - 0.4
    })
}

#[test]
fn load_params_refuses_nan_naming_the_tensor_and_entry() {
    let mut model = regressor(1);
    let before = values(&model);
    let mut named = regressor(2).named_params();
    let k = named
        .tensors
        .iter()
        .position(|(n, _)| n == "layer0.W_hf")
        .unwrap();
    named.tensors[k].1[[1, 2]] = f64::NAN;
    let text = model.load_params(&named).unwrap_err().to_string();
    assert!(text.contains("`layer0.W_hf`"), "{text}");
    assert!(text.contains("[1, 2]") && text.contains("NaN"), "{text}");
    assert_eq!(values(&model), before, "nothing was written");
    named.tensors[k].1[[1, 2]] = f64::NEG_INFINITY;
    assert!(model.load_params(&named).is_err());
    named.tensors[k].1[[1, 2]] = 0.5;
    model.load_params(&named).unwrap();
}

#[test]
fn import_torch_refuses_nan_naming_the_key_and_entry() {
    let source = Lstm::<f64>::new(LstmDims { I: 3, H: 4 }, &mut recurrent::seeded_rng(1));
    let mut cell = Lstm::<f64>::new(LstmDims { I: 3, H: 4 }, &mut recurrent::seeded_rng(2));
    let before = Cell::params(&cell).clone();
    for bad in [f64::NAN, f64::INFINITY] {
        let mut state = TensorFile::new(export_torch(&source, "rnn.", 0, false).unwrap());
        let k = state
            .tensors
            .iter()
            .position(|(n, _)| n == "rnn.weight_hh_l0")
            .unwrap();
        state.tensors[k].1[[13, 1]] = bad;
        let text = import_torch(&mut cell, &state, "rnn.", 0, false)
            .unwrap_err()
            .to_string();
        assert!(text.contains("`rnn.weight_hh_l0`"), "{text}");
        assert!(
            text.contains("[13, 1]") && text.contains(&bad.to_string()),
            "{text}"
        );
        assert_eq!(Cell::params(&cell), &before, "the cell is unchanged");
    }
    let state = TensorFile::new(export_torch(&source, "rnn.", 0, false).unwrap());
    import_torch(&mut cell, &state, "rnn.", 0, false).unwrap();
    assert_eq!(Cell::params(&cell), Cell::params(&source));
}

#[test]
fn save_checkpoint_refuses_a_nan_parameter_naming_it() {
    let path = temp_path("nan-param");
    let mut model = regressor(1);
    for (name, v) in model.tensors_mut() {
        if name == "head.bias" {
            v[1] = f64::NAN;
        }
    }
    let text = save_checkpoint(&path, &model, None, &BTreeMap::new())
        .unwrap_err()
        .to_string();
    assert!(
        text.contains("`head.bias`") && text.contains("NaN"),
        "{text}"
    );
    assert!(!path.exists());
}

#[test]
fn a_fresh_sgd_saved_with_a_model_checkpoint_loads() {
    let path = temp_path("fresh-sgd");
    let model = regressor(1);
    save_checkpoint(&path, &model, Some(&Sgd::new(0.1, 0.9)), &BTreeMap::new()).unwrap();
    let mut other = regressor(2);
    let mut sgd = Sgd::new(0.1, 0.9);
    load_checkpoint(&path, &mut other, Some(&mut sgd)).unwrap();
    assert_eq!(values(&other), values(&model));
}

#[test]
fn an_adam_checkpoint_does_not_load_into_sgd() {
    let path = temp_path("adam-into-sgd");
    let mut model = regressor(1);
    let mut adam = Adam::new(1e-2);
    let x = features(5, 2);
    let y = Array3::<f64>::zeros((5, 2, 2));
    let step = model
        .regress_step(Input::Features(x.view()), None, y.view(), None, None)
        .unwrap();
    adam.step(&mut model, &step.grads).unwrap();
    save_checkpoint(&path, &model, Some(&adam), &BTreeMap::new()).unwrap();
    let mut other = regressor(2);
    let before = values(&other);
    let mut sgd = Sgd::new(0.1, 0.9);
    let text = load_checkpoint(&path, &mut other, Some(&mut sgd))
        .unwrap_err()
        .to_string();
    assert!(text.contains("adam") && text.contains("sgd"), "{text}");
    assert_eq!(values(&other), before, "the model is unchanged");
    assert!(sgd.state().is_empty(), "the optimizer is unchanged");
    let mut adam2 = Adam::new(1e-2);
    load_checkpoint(&path, &mut other, Some(&mut adam2)).unwrap();
    assert_eq!(adam2.steps(), 1);
}

#[test]
fn reserved_checkpoint_metadata_keys_are_refused_at_save() {
    let path = temp_path("reserved");
    let model = regressor(1);
    for key in [
        "model.layer0",
        "model.param_names",
        "model.note",
        "optimizer.kind",
    ] {
        let extra = BTreeMap::from([(key.to_string(), "mine".to_string())]);
        let text = save_checkpoint(&path, &model, None, &extra)
            .unwrap_err()
            .to_string();
        assert!(text.contains(key) && text.contains("reserved"), "{text}");
        assert!(!path.exists());
    }
}

#[test]
fn clip_grad_norm_refuses_a_negative_or_nan_threshold() {
    let mut model = regressor(1);
    let x = features(5, 2);
    let y = Array3::<f64>::ones((5, 2, 2));
    let mut step = model
        .regress_step(Input::Features(x.view()), None, y.view(), None, None)
        .unwrap();
    let before = step.grads.clone();
    for bad in [-1.0, 0.0, f64::NAN, f64::INFINITY] {
        assert!(clip_grad_norm(&mut step.grads, bad).is_err(), "{bad}");
        assert_eq!(step.grads, before, "{bad}: the gradient is unchanged");
    }
    let norm = clip_grad_norm(&mut step.grads, 1e-3).unwrap();
    assert!(norm > 1e-3);
    // Clipping never flips the direction of the step.
    for ((_, a), (_, b)) in step.grads.tensors.iter().zip(&before.tensors) {
        assert!(a.iter().zip(b).all(|(x, y)| x * y >= 0.0));
    }
    Adam::new(1e-2).step(&mut model, &step.grads).unwrap();
}

#[test]
fn adam_refuses_nan_gradient_of_a_model_and_keeps_state() {
    let mut model = regressor(1);
    let mut adam = Adam::new(1e-2);
    let x = features(5, 2);
    let y = Array3::<f64>::ones((5, 2, 2));
    let step = model
        .regress_step(Input::Features(x.view()), None, y.view(), None, None)
        .unwrap();
    adam.step(&mut model, &step.grads).unwrap();
    let (state, before) = (adam.state(), values(&model));
    let mut bad = step.grads.clone();
    bad.tensors[3].1[[0, 1]] = f64::NAN;
    let text = adam.step(&mut model, &bad).unwrap_err().to_string();
    assert!(text.contains(&format!("`{}`", bad.tensors[3].0)), "{text}");
    assert_eq!(adam.state(), state);
    assert_eq!(values(&model), before);
    // Another model's gradients: refused, and later correct steps still work.
    let other = language_model(3);
    let tokens = Array2::from_shape_fn((4, 2), |(t, b)| (t + 2 * b) % 7);
    let other_step = other
        .tag_step(
            Input::Tokens(tokens.view()),
            None,
            tokens.view(),
            None,
            None,
        )
        .unwrap();
    assert!(adam.step(&mut model, &other_step.grads).is_err());
    assert_eq!(adam.state(), state);
    adam.step(&mut model, &step.grads).unwrap();
    assert_eq!(adam.steps(), 2);
}

#[test]
fn a_nan_regression_target_is_named_as_the_target() {
    let model = regressor(1);
    let x = features(5, 3);
    let mut y = Array3::<f64>::zeros((5, 3, 2));
    y[[2, 1, 0]] = f64::NAN;
    let text = model
        .regress_step(Input::Features(x.view()), None, y.view(), None, None)
        .unwrap_err()
        .to_string();
    assert!(text.contains("regression targets"), "{text}");
    assert!(text.contains("[2, 1, 0]") && text.contains("NaN"), "{text}");
    assert!(!text.contains("output gradient"), "{text}");
    // Padding after an example's length is never read, whatever it holds.
    let lengths = [5, 2, 5];
    let step = model
        .regress_step(
            Input::Features(x.view()),
            Some(&lengths),
            y.view(),
            None,
            None,
        )
        .unwrap();
    y[[2, 1, 0]] = 123.0;
    let same = model
        .regress_step(
            Input::Features(x.view()),
            Some(&lengths),
            y.view(),
            None,
            None,
        )
        .unwrap();
    assert_eq!(step.loss, same.loss);
    assert_eq!(step.grads, same.grads);
    // Sequence to value, and the loss itself.
    let mut pooled = Array2::<f64>::zeros((3, 2));
    pooled[[1, 1]] = f64::INFINITY;
    let text = model
        .pooled_regression_step(
            Input::Features(x.view()),
            None,
            pooled.view(),
            Pooling::Last,
            None,
        )
        .unwrap_err()
        .to_string();
    assert!(
        text.contains("regression targets") && text.contains("[1, 1]"),
        "{text}"
    );
    let text = recurrent::train::mse(Array2::<f64>::zeros((3, 2)).view(), pooled.view())
        .unwrap_err()
        .to_string();
    assert!(
        text.contains("mse target") && text.contains("[1, 1]"),
        "{text}"
    );
}

#[test]
fn generate_refuses_a_nan_or_negative_temperature() {
    let model = language_model(1);
    for bad in [f64::NAN, -1.0, f64::INFINITY, f64::NEG_INFINITY] {
        let text = model
            .generate(&[1, 2], 5, bad, &mut recurrent::seeded_rng(0))
            .unwrap_err()
            .to_string();
        assert!(text.contains("temperature"), "{bad}: {text}");
        let text =
            recurrent::modes::sample_logits(&[0.5f64, 1.0], bad, &mut recurrent::seeded_rng(0))
                .unwrap_err()
                .to_string();
        assert!(text.contains("temperature"), "{bad}: {text}");
    }
    for ok in [0.0, 0.7, 1e6] {
        assert_eq!(
            model
                .generate(&[1, 2], 5, ok, &mut recurrent::seeded_rng(0))
                .unwrap()
                .len(),
            5
        );
    }
    // The encoder–decoder's decoding too.
    let mut rng = recurrent::seeded_rng(4);
    let encoder = SequenceModel::stack(vec![lstm(3, 2, 1)])
        .unwrap()
        .with_embedding(6, &mut rng)
        .unwrap();
    let decoder = SequenceModel::stack(vec![lstm(3, 2, 3)])
        .unwrap()
        .with_embedding(5, &mut rng)
        .unwrap()
        .with_head(5, &mut rng)
        .unwrap();
    let s2s = Seq2Seq::new(encoder, decoder, 0, 1).unwrap();
    let source = Array2::from_shape_fn((4, 2), |(t, b)| (t + b) % 6);
    let text = s2s
        .decode(
            source.view(),
            None,
            5,
            f64::NAN,
            &mut recurrent::seeded_rng(0),
        )
        .unwrap_err()
        .to_string();
    assert!(text.contains("temperature"), "{text}");
    s2s.decode(source.view(), None, 5, 0.0, &mut recurrent::seeded_rng(0))
        .unwrap();
}
