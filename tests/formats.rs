//! File formats: serde round-trips of `Vocab` and the configuration types (feature `serde`,
//! which the facade's tests enable).

use recurrent::cells::LstmDims;
use recurrent::gradcheck::GradcheckConfig;
use recurrent::modes::Pooling;
use recurrent::train::Schedule;
use recurrent::{Curve, Direction, Layout, Vocab};

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
