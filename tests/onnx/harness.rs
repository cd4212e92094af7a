//! The ONNX test harness, shared by the facade's suite and the random cells
//! (`#[path = ".../tests/onnx/harness.rs"]`): exports cells, records what our inference pass
//! computes for inputs of sizes the export never saw, and has onnxruntime run the models
//! (`tests/onnx/check.py`).
//!
//! The interpreter is `RNN_PYTHON` (default `python3`) with the packages `onnx`, `onnxruntime`
//! and `numpy`. Without them the check prints why and is skipped, unless `CI` is `true`, where
//! a skip is a failure.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use recurrent::ndarray::{Array2, Array3};
use recurrent::rand::RngExt;
use recurrent::{seeded_rng, DynCell};

/// `(T, B)` of the runs: lengths and batch sizes that the export never sees (it sees none).
pub const RUNS: [(usize, usize); 2] = [(7, 3), (2, 1)];

fn push_tensor(
    out: &mut String,
    name: &str,
    shape: &[usize],
    data: impl Iterator<Item = f64>,
    int: bool,
) {
    let values: Vec<String> = data
        .map(|v| {
            if int {
                format!("{}", v as i64)
            } else {
                format!("{:?}", v as f32)
            }
        })
        .collect();
    let dtype = if int { "int64" } else { "float32" };
    let _ = write!(
        out,
        "{:?}: {{\"shape\": {shape:?}, \"dtype\": \"{dtype}\", \"data\": [{}]}}",
        name,
        values.join(", ")
    );
}

/// Appends every entry of `states` to `out` as `<prefix><entry>`.
fn push_states(out: &mut String, prefix: &str, states: &recurrent::States<f32>) {
    for entry in states.entry_names() {
        let v = states.get(&entry).expect("entry");
        out.push_str(", ");
        let values = v.iter().map(|&v| f64::from(v));
        push_tensor(out, &format!("{prefix}{entry}"), v.shape(), values, false);
    }
}

/// Writes `dir/<name>.json`: the runs, as a JSON list.
fn write_runs(dir: &Path, name: &str, runs: &[String]) {
    std::fs::write(
        dir.join(format!("{name}.json")),
        format!("[{}]", runs.join(",\n")),
    )
    .expect("write the runs");
}

/// Fills every entry of `states` (values, histories, input history) with random numbers and
/// appends them to `feeds` as `<prefix><entry>`.
fn random_states(
    states: &mut recurrent::States<f32>,
    prefix: &str,
    feeds: &mut String,
    rng: &mut impl recurrent::rand::Rng,
) {
    for entry in states.entry_names() {
        let (rows, cols) = states.get(&entry).expect("entry").dim();
        let v = Array2::<f32>::from_shape_fn((rows, cols), |_| rng.random_range(-1.0..1.0));
        states.set(&entry, v.view()).expect("set");
        feeds.push_str(", ");
        let values = v.iter().map(|&v| f64::from(v));
        push_tensor(
            feeds,
            &format!("{prefix}{entry}"),
            &[rows, cols],
            values,
            false,
        );
    }
}

/// Exports `cell` to `dir/<name>.onnx` and writes `dir/<name>.json`: for each of [`RUNS`], one
/// run with only `x`, and one with lengths (one example of length 0 when `B > 1`) and random
/// initial states (and histories); the outputs are our f32 inference pass's.
pub fn write_cell_case(dir: &Path, name: &str, cell: &dyn DynCell<f32>, seed: u64) {
    recurrent::onnx::save_cell(cell, dir.join(format!("{name}.onnx"))).expect("export");
    let mut rng = seeded_rng(seed);
    let mut runs = vec![];
    for (t, b) in RUNS {
        let x = Array3::<f32>::from_shape_fn((t, b, cell.input_size()), |_| {
            rng.random_range(-1.0..1.0)
        });
        for full in [false, true] {
            let mut init = cell.zero_states(b);
            let lengths: Vec<usize> = (0..b)
                .map(|i| [t, 0, t.saturating_sub(3).max(1)][i % 3])
                .collect();
            let mut feeds = String::new();
            push_tensor(
                &mut feeds,
                "x",
                &[t, b, cell.input_size()],
                x.iter().map(|&v| f64::from(v)),
                false,
            );
            if full {
                random_states(&mut init, "init.", &mut feeds, &mut rng);
                feeds.push_str(", ");
                push_tensor(
                    &mut feeds,
                    "lengths",
                    &[b],
                    lengths.iter().map(|&v| v as f64),
                    true,
                );
            }
            let inference = cell
                .infer(x.view(), Some(&init), full.then_some(&lengths[..]))
                .expect("our inference pass");
            let mut expected = String::new();
            let y = &inference.outputs;
            push_tensor(
                &mut expected,
                "y",
                y.shape(),
                y.iter().map(|&v| f64::from(v)),
                false,
            );
            push_states(&mut expected, "final.", &inference.final_states);
            runs.push(format!(
                "{{\"feeds\": {{{feeds}}}, \"expected\": {{{expected}}}}}"
            ));
        }
    }
    write_runs(dir, name, &runs);
}

/// A fresh directory for one test's models.
pub fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("recurrent-onnx-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temporary directory");
    dir
}

/// Runs `tests/onnx/check.py` on `dir`; panics with its report if a model is refused or an
/// output disagrees. Without Python's `onnx`/`onnxruntime` it prints why and returns, unless
/// `CI=true`.
pub fn check(dir: &Path) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|p| p.join("tests/onnx/check.py"))
        .find(|p| p.exists())
        .expect("tests/onnx/check.py in the repository");
    let python = std::env::var("RNN_PYTHON").unwrap_or_else(|_| "python3".into());
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let output = match std::process::Command::new(&python)
        .arg(&script)
        .arg(dir)
        .output()
    {
        Ok(o) => o,
        Err(e) => {
            assert!(!ci, "CI=true: cannot run `{python}`: {e}");
            println!("skipped: cannot run `{python}` ({e}); set RNN_PYTHON to a Python with onnx and onnxruntime");
            return;
        }
    };
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    match output.status.code() {
        Some(0) => println!("{report}"),
        Some(2) if !ci => println!(
            "skipped: {report}; install them with `python3 -m pip install onnx onnxruntime numpy`"
        ),
        _ => panic!(
            "onnxruntime disagrees or refuses ({}):\n{report}",
            dir.display()
        ),
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// [`write_cell_case`] for a whole model: `dir/<name>.onnx` and its runs, the inputs being
/// token ids below `vocab` when the model has an embedding, feature vectors otherwise.
pub fn write_model_case(dir: &Path, name: &str, model: &recurrent::SequenceModel<f32>, seed: u64) {
    use recurrent::Input;
    recurrent::onnx::save_model(model, dir.join(format!("{name}.onnx"))).expect("export");
    let mut rng = seeded_rng(seed);
    let mut runs = vec![];
    for (t, b) in RUNS {
        let (vocab, input_size) = match &model.embedding {
            Some(e) => (Some(e.weight().nrows()), 0),
            None => (None, model.layers[0].input_size()),
        };
        let tokens = recurrent::ndarray::Array2::<usize>::from_shape_fn((t, b), |_| {
            rng.random_range(0..vocab.unwrap_or(1))
        });
        let x = Array3::<f32>::from_shape_fn((t, b, input_size), |_| rng.random_range(-1.0..1.0));
        for full in [false, true] {
            let mut feeds = String::new();
            match vocab {
                Some(_) => push_tensor(
                    &mut feeds,
                    "tokens",
                    &[t, b],
                    tokens.iter().map(|&v| v as f64),
                    true,
                ),
                None => push_tensor(
                    &mut feeds,
                    "x",
                    &[t, b, input_size],
                    x.iter().map(|&v| f64::from(v)),
                    false,
                ),
            }
            let lengths: Vec<usize> = (0..b)
                .map(|i| [t, 0, t.saturating_sub(3).max(1)][i % 3])
                .collect();
            let mut init: Vec<recurrent::LayerStates<f32>> =
                model.layers.iter().map(|l| l.zero_states(b)).collect();
            if full {
                for (l, states) in init.iter_mut().enumerate() {
                    let mut parts = vec![(format!("{l}."), &mut states.forward)];
                    if let Some(r) = states.reverse.as_mut() {
                        parts.push((format!("{l}.reverse."), r));
                    }
                    for (scope, s) in parts {
                        random_states(s, &format!("init.{scope}"), &mut feeds, &mut rng);
                    }
                }
                feeds.push_str(", ");
                push_tensor(
                    &mut feeds,
                    "lengths",
                    &[b],
                    lengths.iter().map(|&v| v as f64),
                    true,
                );
            }
            let input = match vocab {
                Some(_) => Input::Tokens(tokens.view()),
                None => Input::Features(x.view()),
            };
            let (hidden, finals) = model
                .infer(
                    input,
                    full.then_some(&lengths[..]),
                    full.then_some(&init[..]),
                )
                .expect("our inference pass");
            let y = match &model.head {
                Some(head) => {
                    let (tt, bb, hh) = hidden.dim();
                    let flat = hidden.to_shape((tt * bb, hh)).expect("rows").to_owned();
                    let out = head.forward(flat.view()).expect("head");
                    let o = out.ncols();
                    out.into_shape_with_order((tt, bb, o)).expect("[T, B, C]")
                }
                None => hidden,
            };
            let mut expected = String::new();
            push_tensor(
                &mut expected,
                "y",
                y.shape(),
                y.iter().map(|&v| f64::from(v)),
                false,
            );
            for (l, states) in finals.iter().enumerate() {
                let mut parts = vec![(format!("{l}."), &states.forward)];
                if let Some(r) = states.reverse.as_ref() {
                    parts.push((format!("{l}.reverse."), r));
                }
                for (scope, s) in parts {
                    push_states(&mut expected, &format!("final.{scope}"), s);
                }
            }
            runs.push(format!(
                "{{\"feeds\": {{{feeds}}}, \"expected\": {{{expected}}}}}"
            ));
        }
    }
    write_runs(dir, name, &runs);
}
