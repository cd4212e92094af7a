//! File formats: serde round-trips of `Vocab` and the configuration types (feature `serde`,
//! which the facade's tests enable), and safetensors files in half precision (`F16`, `BF16`,
//! as PyTorch checkpoints often are) loaded into cells.

use std::collections::HashMap;
use std::path::PathBuf;

use half::{bf16, f16};
use recurrent::cells::{GruTorch, GruTorchDims, Lstm, LstmDims};
use recurrent::gradcheck::GradcheckConfig;
use recurrent::modes::Pooling;
use recurrent::ndarray::ArrayD;
use recurrent::torch::{export_torch, import_torch};
use recurrent::train::Schedule;
use recurrent::{load_foreign_tensors, load_tensors, Cell, Curve, Direction, Layout, Vocab};
use safetensors::tensor::TensorView;
use safetensors::Dtype;

fn roundtrip<T: serde::Serialize + serde::de::DeserializeOwned>(value: &T) -> T {
    let text = serde_json::to_string(value).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn vocab_round_trips_through_serde_and_keeps_its_ids() {
    let vocab = Vocab::new(&["<pad>", "<unk>"], ["b", "a", "b", "c"], Some("<unk>"));
    let text = serde_json::to_string(&vocab).unwrap();
    assert_eq!(
        text,
        r#"{"tokens":["<pad>","<unk>","b","a","c"],"unknown":1}"#
    );
    let back: Vocab = serde_json::from_str(&text).unwrap();
    assert_eq!(back, vocab);
    assert_eq!(back.id("a").unwrap(), 3);
    assert_eq!(
        back.id("never seen").unwrap(),
        1,
        "the unknown token survives"
    );
    assert_eq!(
        back.encode_chars("cab").unwrap(),
        vocab.encode_chars("cab").unwrap()
    );
    let chars = Vocab::from_chars("hello, world", &[], None);
    let back = roundtrip(&chars);
    assert_eq!(back, chars);
    assert!(back.id("z").is_err(), "no unknown token: still an error");

    // A file that would break the ids is refused, naming what is wrong.
    let err = serde_json::from_str::<Vocab>(r#"{"tokens":["a","b","a"],"unknown":null}"#)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unique tokens") && err.contains("\"a\""),
        "{err}"
    );
    let err = serde_json::from_str::<Vocab>(r#"{"tokens":["a","b"],"unknown":2}"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("below 2") && err.contains("found 2"), "{err}");
    assert!(serde_json::from_str::<Vocab>(r#"{"tokens":"ab"}"#).is_err());
}

#[test]
fn configuration_types_round_trip_through_serde() {
    for s in [
        Schedule::Constant,
        Schedule::Step {
            every: 10,
            gamma: 0.5,
        },
        Schedule::Cosine {
            total: 100,
            min_lr: 1e-5,
        },
    ] {
        assert_eq!(roundtrip(&s), s);
    }
    for p in [Pooling::Last, Pooling::Mean] {
        assert_eq!(roundtrip(&p), p);
    }
    for l in [Layout::TimeMajor, Layout::BatchFirst] {
        assert_eq!(roundtrip(&l), l);
    }
    for d in [
        Direction::Forward,
        Direction::Reverse,
        Direction::Bidirectional,
    ] {
        assert_eq!(roundtrip(&d), d);
    }
    let config = GradcheckConfig {
        n_time: 7,
        step: 1e-5,
        ..GradcheckConfig::default()
    };
    let back = roundtrip(&config);
    assert_eq!(format!("{back:?}"), format!("{config:?}"));
    let curve = Curve::from_values("loss", [1.0, 0.5, 0.25]);
    assert_eq!(roundtrip(&curve), curve);

    // A user's configuration, saved with the model: vocabulary, dimensions by name (see
    // `CellDims`), layout and schedule.
    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct Config {
        vocab: Vocab,
        dims: Vec<(String, usize)>,
        layout: Layout,
        schedule: Schedule,
    }
    use recurrent::CellDims;
    let config = Config {
        vocab: Vocab::from_chars("abc", &["<s>"], None),
        dims: LstmDims { I: 8, H: 16 }
            .sizes()
            .into_iter()
            .map(|(n, s)| (n.to_string(), s))
            .collect(),
        layout: Layout::BatchFirst,
        schedule: Schedule::Step {
            every: 2,
            gamma: 0.9,
        },
    };
    let back = roundtrip(&config);
    assert_eq!(back, config);
    let named: Vec<(&str, usize)> = back.dims.iter().map(|(n, s)| (n.as_str(), *s)).collect();
    assert_eq!(
        LstmDims::from_names(&named).unwrap(),
        LstmDims { I: 8, H: 16 }
    );
}

fn temp_file(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rnn-formats-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Writes `tensors` to a safetensors file in `dtype` (F16 or BF16), as
/// `safetensors.torch.save_file(module.half().state_dict())` would (no checksum).
fn write_half(path: &PathBuf, tensors: &[(String, ArrayD<f64>)], dtype: Dtype) {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, t)| {
            t.iter()
                .flat_map(|&v| match dtype {
                    Dtype::F16 => f16::from_f64(v).to_le_bytes(),
                    Dtype::BF16 => bf16::from_f64(v).to_le_bytes(),
                    other => panic!("not a half dtype: {other:?}"),
                })
                .collect()
        })
        .collect();
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .zip(&bytes)
        .map(|((name, t), b)| {
            (
                name.clone(),
                TensorView::new(dtype, t.shape().to_vec(), b).unwrap(),
            )
        })
        .collect();
    let metadata = HashMap::from([("format".to_string(), "pt".to_string())]);
    let file = safetensors::serialize(views, Some(metadata)).unwrap();
    std::fs::write(path, file).unwrap();
}

/// A value rounded to the format, as a PyTorch `.half()` / `.bfloat16()` would store it.
fn rounded(v: f64, dtype: Dtype) -> f64 {
    match dtype {
        Dtype::F16 => f16::from_f64(v).to_f64(),
        _ => bf16::from_f64(v).to_f64(),
    }
}

/// The largest relative error of rounding to the format: half an ulp, 2^-11 for F16 (11
/// significant bits), 2^-8 for BF16 (8).
fn precision(dtype: Dtype) -> f64 {
    match dtype {
        Dtype::F16 => 2f64.powi(-11),
        _ => 2f64.powi(-8),
    }
}

#[test]
fn half_precision_state_dicts_load_into_cells() {
    let dims = LstmDims { I: 3, H: 4 };
    let lstm = Lstm::<f64>::new(dims, &mut recurrent::seeded_rng(1));
    // One cell type serves f32 and f64: `Lstm<f64>` is the original, `Lstm<f32>` loads.
    fn load_both<C64, C32>(original: &C64, fresh: C32, case: &str)
    where
        C64: Cell<f64>,
        C32: Cell<f32> + Clone,
    {
        let exported = export_torch::<f64, C64>(original, "rnn.", 0, false).unwrap();
        for dtype in [Dtype::F16, Dtype::BF16] {
            let path = temp_file(&format!("{case}-{dtype:?}.safetensors"));
            write_half(&path, &exported, dtype);
            let file32 = load_foreign_tensors::<f32>(&path).unwrap();
            let file64 = load_foreign_tensors::<f64>(&path).unwrap();
            for (name, value) in &exported {
                let (a, b) = (file32.get(name).unwrap(), file64.get(name).unwrap());
                assert_eq!(a.shape(), value.shape(), "{name}");
                for ((&x, &y), &v) in a.iter().zip(b.iter()).zip(value.iter()) {
                    assert_eq!(y, rounded(v, dtype), "{dtype:?} {name}: exact conversion");
                    assert_eq!(x as f64, y, "{dtype:?} {name}: f32 and f64 agree");
                    assert!(
                        (y - v).abs() <= precision(dtype) * v.abs(),
                        "{dtype:?} {name}: {y} vs {v}"
                    );
                }
            }
            let mut cell = fresh.clone();
            import_torch(&mut cell, &file32, "rnn.", 0, false).unwrap();
            let mut compared = 0;
            for (name, loaded) in cell.params().iter() {
                let want = original.params().get(name).unwrap();
                for (&x, &v) in loaded.iter().zip(want.iter()) {
                    let x = x as f64;
                    assert!(
                        (x - v).abs() <= precision(dtype) * v.abs(),
                        "{dtype:?} {case} {name}: loaded {x}, original {v}"
                    );
                    compared += 1;
                }
            }
            assert_eq!(compared, original.params().num_scalars(), "{case}");
            // The file has no checksum: a foreign file, not a checkpoint.
            assert!(load_tensors::<f32>(&path).is_err());
        }
    }
    load_both(&lstm, Lstm::<f32>::zeros(dims), "lstm");
    let gdims = GruTorchDims { I: 2, H: 3 };
    let gru = GruTorch::<f64>::new(gdims, &mut recurrent::seeded_rng(2));
    load_both(&gru, GruTorch::<f32>::zeros(gdims), "gru_torch");
}

#[test]
fn half_precision_files_refuse_non_finite_values_and_other_dtypes() {
    let path = temp_file("inf.safetensors");
    let mut w = ArrayD::from_elem(vec![2, 3], 0.5);
    w[[1, 2]] = 1e6; // beyond f16's largest finite value, 65504: infinite in F16
    write_half(&path, &[("W".to_string(), w.clone())], Dtype::F16);
    let err = load_foreign_tensors::<f32>(&path).unwrap_err().to_string();
    assert!(
        err.contains("tensor `W`") && err.contains("[1, 2]") && err.contains("inf"),
        "{err}"
    );
    // BF16 has f32's range.
    write_half(&path, &[("W".to_string(), w)], Dtype::BF16);
    let file = load_foreign_tensors::<f64>(&path).unwrap();
    assert_eq!(file.get("W").unwrap()[[1, 2]], bf16::from_f64(1e6).to_f64());

    // An integer tensor is still refused, naming the dtypes that load.
    let data = [1u8, 0, 0, 0, 2, 0, 0, 0];
    let view = TensorView::new(Dtype::I32, vec![2], &data).unwrap();
    let bytes = safetensors::serialize(vec![("n".to_string(), view)], None).unwrap();
    std::fs::write(&path, bytes).unwrap();
    let err = load_foreign_tensors::<f32>(&path).unwrap_err().to_string();
    assert!(
        err.contains("tensor `n`") && err.contains("F16 or BF16") && err.contains("I32"),
        "{err}"
    );
}
