//! Whole-model checkpoints: a saved model and optimizer resume training exactly; another cell,
//! other dimensions, a flipped byte or a truncated file are clear errors that leave the model
//! unchanged.

use std::collections::BTreeMap;

use recurrent::cells::{Gru, GruDims, Lstm, LstmDims};
use recurrent::ndarray::Array2;
use recurrent::train::{Adam, Optimizer};
use recurrent::{
    load_checkpoint, save_checkpoint, DynCell, Input, Parameters, RecurrentLayer, SequenceModel,
};

fn model(hidden: usize, gru: bool, seed: u64) -> SequenceModel<f32> {
    let mut rng = recurrent::seeded_rng(seed);
    let cell: Box<dyn DynCell<f32>> = if gru {
        Box::new(Gru::<f32>::new(GruDims { I: 4, H: hidden }, &mut rng))
    } else {
        Box::new(Lstm::<f32>::new(LstmDims { I: 4, H: hidden }, &mut rng))
    };
    let reverse = Box::new(Lstm::<f32>::new(LstmDims { I: 4, H: 3 }, &mut rng));
    SequenceModel::new(vec![RecurrentLayer::bidirectional(cell, reverse).unwrap()])
        .unwrap()
        .with_embedding(6, &mut rng)
        .unwrap()
        .with_head(6, &mut rng)
        .unwrap()
}

fn train_step(m: &mut SequenceModel<f32>, adam: &mut Adam<f32>, seed: u64) -> f32 {
    let tokens = Array2::from_shape_fn((5, 3), |(t, b)| {
        ((t * 7 + b * 3) as u64 + seed) as usize % 6
    });
    let step = m
        .tag_step(
            Input::Tokens(tokens.view()),
            None,
            tokens.view(),
            None,
            None,
        )
        .unwrap();
    adam.step(m, &step.grads).unwrap();
    step.loss
}

fn params(m: &SequenceModel<f32>) -> Vec<Vec<f32>> {
    m.tensors().into_iter().map(|(_, v)| v.to_vec()).collect()
}

#[test]
fn a_checkpoint_resumes_training_exactly() {
    let dir = std::env::temp_dir().join(format!("rnn-model-ckpt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("model.safetensors");
    let mut a = model(5, false, 1);
    let mut adam = Adam::new(0.01);
    for s in 0..3 {
        train_step(&mut a, &mut adam, s);
    }
    let extra = BTreeMap::from([("epoch".to_string(), "3".to_string())]);
    save_checkpoint(&path, &a, Some(&adam), &extra).unwrap();

    let mut b = model(5, false, 99); // other initial weights, same structure
    let mut adam_b = Adam::new(0.01);
    let meta = load_checkpoint(&path, &mut b, Some(&mut adam_b)).unwrap();
    assert_eq!(meta.get("epoch").map(String::as_str), Some("3"));
    assert_eq!(params(&a), params(&b));
    let (la, lb) = (
        train_step(&mut a, &mut adam, 7),
        train_step(&mut b, &mut adam_b, 7),
    );
    assert_eq!(la, lb);
    assert_eq!(
        params(&a),
        params(&b),
        "the resumed run continues identically"
    );

    // Another cell, other dimensions: errors naming what differs; the model is unchanged.
    let mut gru = model(5, true, 2);
    let before = params(&gru);
    let err = load_checkpoint(&path, &mut gru, None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("layer0 differs") && err.contains("Gru") && err.contains("Lstm"),
        "{err}"
    );
    assert_eq!(params(&gru), before);
    let mut wider = model(6, false, 2);
    let err = load_checkpoint(&path, &mut wider, None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("H: 6") && err.contains("H: 5"), "{err}");

    // A flipped byte and a truncated file are detected.
    let bytes = std::fs::read(&path).unwrap();
    let mut c = model(5, false, 3);
    let before = params(&c);
    for pos in [bytes.len() / 2, bytes.len() - 1] {
        let mut bad = bytes.clone();
        bad[pos] ^= 0x10;
        let p = dir.join("bad.safetensors");
        std::fs::write(&p, &bad).unwrap();
        assert!(load_checkpoint(&p, &mut c, None).is_err());
        std::fs::write(&p, &bytes[..bytes.len() - 7]).unwrap();
        assert!(load_checkpoint(&p, &mut c, None).is_err());
    }
    assert_eq!(params(&c), before);
    std::fs::remove_dir_all(&dir).ok();
}

/// A model whose first layer is `direction`: forward, reverse (one LSTM run backward in time)
/// or bidirectional.
fn directed(direction: recurrent::Direction, seed: u64) -> SequenceModel<f32> {
    let mut rng = recurrent::seeded_rng(seed);
    let mut cell = || -> Box<dyn DynCell<f32>> {
        Box::new(Lstm::<f32>::new(LstmDims { I: 4, H: 3 }, &mut rng))
    };
    let layer = match direction {
        recurrent::Direction::Forward => RecurrentLayer::unidirectional(cell()),
        recurrent::Direction::Reverse => RecurrentLayer::reverse(cell()),
        recurrent::Direction::Bidirectional => {
            RecurrentLayer::bidirectional(cell(), cell()).unwrap()
        }
    };
    let mut rng = recurrent::seeded_rng(seed + 100);
    SequenceModel::new(vec![layer])
        .unwrap()
        .with_embedding(6, &mut rng)
        .unwrap()
        .with_head(6, &mut rng)
        .unwrap()
}

#[test]
fn reverse_layers_checkpoint_and_are_told_from_forward_ones() {
    use recurrent::Direction::{Bidirectional, Forward, Reverse};
    let dir = std::env::temp_dir().join(format!("rnn-reverse-ckpt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("reverse.safetensors");
    let mut a = directed(Reverse, 1);
    let mut adam = Adam::new(0.01);
    train_step(&mut a, &mut adam, 0);
    let described = a.describe();
    assert!(
        described
            .iter()
            .any(|(p, d)| p == "layer0.reverse" && d.starts_with("Lstm")),
        "{described:?}"
    );
    assert!(
        !described.iter().any(|(p, _)| p == "layer0"),
        "{described:?}"
    );
    save_checkpoint(&path, &a, Some(&adam), &BTreeMap::new()).unwrap();

    let mut b = directed(Reverse, 2);
    let mut adam_b = Adam::new(0.01);
    load_checkpoint(&path, &mut b, Some(&mut adam_b)).unwrap();
    assert_eq!(params(&a), params(&b));
    assert_eq!(
        train_step(&mut a, &mut adam, 3),
        train_step(&mut b, &mut adam_b, 3)
    );
    assert_eq!(params(&a), params(&b), "training resumes identically");

    // Same parameter shapes, other direction: refused, naming the part, nothing changed.
    for other in [Forward, Bidirectional] {
        let mut m = directed(other, 3);
        let before = params(&m);
        let err = load_checkpoint(&path, &mut m, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("layer0"), "{other:?}: {err}");
        assert_eq!(params(&m), before);
    }
    let forward_path = dir.join("forward.safetensors");
    save_checkpoint(&forward_path, &directed(Forward, 4), None, &BTreeMap::new()).unwrap();
    let mut r = directed(Reverse, 5);
    let err = load_checkpoint(&forward_path, &mut r, None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("the model has layer0.reverse") && err.contains("the checkpoint has none"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).ok();
}
