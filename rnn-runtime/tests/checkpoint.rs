//! Checkpoint files: round trips, corruption and truncation detection, atomic replacement.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use ndarray::{ArrayD, ArrayViewD, IxDyn, ShapeBuilder};
use rnn_runtime::checkpoint::{load_foreign_tensors, CHECKSUM_KEY, FORMAT_KEY};
use rnn_runtime::{load_tensors, save_tensors, Error, Float, TensorFile};

/// A fresh empty directory for one test.
fn temp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rnn-checkpoint-{}-{test}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn sample<F: Float>() -> Vec<(String, ArrayD<F>)> {
    let v = |i: usize| F::from_f64(i as f64 * 0.37 - 1.25);
    vec![
        (
            "W".to_string(),
            ArrayD::from_shape_fn(IxDyn(&[3, 4]), |ix| v(ix[0] * 4 + ix[1])),
        ),
        (
            "b".to_string(),
            ArrayD::from_shape_fn(IxDyn(&[4]), |ix| v(ix[0] + 100)),
        ),
        (
            "scalar".to_string(),
            ArrayD::from_elem(IxDyn(&[]), F::from_f64(2.5)),
        ),
        ("empty".to_string(), ArrayD::zeros(IxDyn(&[0, 3]))),
    ]
}

fn views<F: Float>(t: &[(String, ArrayD<F>)]) -> Vec<(String, ArrayViewD<'_, F>)> {
    t.iter().map(|(n, a)| (n.clone(), a.view())).collect()
}

fn meta() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("cell".to_string(), "Lstm".to_string()),
        ("step".to_string(), "1200".to_string()),
    ])
}

fn sorted<F: Clone>(mut t: Vec<(String, ArrayD<F>)>) -> Vec<(String, ArrayD<F>)> {
    t.sort_by(|a, b| a.0.cmp(&b.0));
    t
}

fn round_trip<F: Float>(test: &str) {
    let dir = temp_dir(test);
    let path = dir.join("model.safetensors");
    let tensors = sample::<F>();
    save_tensors(&path, &views(&tensors), &meta()).unwrap();
    let file = load_tensors::<F>(&path).unwrap();
    assert_eq!(
        file.metadata,
        meta(),
        "user metadata kept, reserved keys removed"
    );
    assert_eq!(sorted(file.tensors.clone()), sorted(tensors.clone()));
    assert_eq!(file.get("W").unwrap(), tensors[0].1.view());
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn round_trip_f32() {
    round_trip::<f32>("rt32");
}

#[test]
fn round_trip_f64() {
    round_trip::<f64>("rt64");
}

#[test]
fn non_standard_layouts_are_written_row_major() {
    let dir = temp_dir("layout");
    let path = dir.join("t.safetensors");
    let a = ArrayD::from_shape_vec(IxDyn(&[2, 3]).f(), (0..6).map(f64::from).collect()).unwrap();
    let t = a.view().reversed_axes();
    save_tensors(&path, &[("t".to_string(), t.clone())], &BTreeMap::new()).unwrap();
    let file = load_tensors::<f64>(&path).unwrap();
    assert_eq!(file.get("t").unwrap(), t);
    assert!(file.metadata.is_empty());
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn file_is_plain_safetensors_with_checksum_and_version() {
    let dir = temp_dir("plain");
    let path = dir.join("m.safetensors");
    save_tensors(&path, &views(&sample::<f32>()), &meta()).unwrap();
    let bytes = fs::read(&path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(st.tensor("W").unwrap().dtype(), safetensors::Dtype::F32);
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let m = header.metadata().clone().unwrap();
    assert!(m[CHECKSUM_KEY].starts_with("crc32:"), "{m:?}");
    assert_eq!(m[FORMAT_KEY], "1");
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn f32_file_loads_as_f64_but_not_the_reverse() {
    let dir = temp_dir("dtype");
    let p32 = dir.join("a32.safetensors");
    let p64 = dir.join("a64.safetensors");
    let t32 = sample::<f32>();
    save_tensors(&p32, &views(&t32), &meta()).unwrap();
    save_tensors(&p64, &views(&sample::<f64>()), &meta()).unwrap();

    let widened = load_tensors::<f64>(&p32).unwrap();
    for (name, a) in &t32 {
        assert_eq!(widened.get(name).unwrap(), a.mapv(f64::from).view());
    }
    let err = load_tensors::<f32>(&p64).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("a64.safetensors") && text.contains("expected dtype F32, found F64"),
        "{text}"
    );
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn other_dtypes_and_missing_checksum_are_errors() {
    let dir = temp_dir("foreign");
    let path = dir.join("i64.safetensors");
    let data: Vec<u8> = (0..4i64).flat_map(|v| v.to_le_bytes()).collect();
    let view =
        safetensors::tensor::TensorView::new(safetensors::Dtype::I64, vec![4], &data).unwrap();
    let bytes = safetensors::serialize([("ids", view)], None).unwrap();
    fs::write(&path, bytes).unwrap();

    let text = load_tensors::<f64>(&path).unwrap_err().to_string();
    assert!(
        text.contains("i64.safetensors") && text.contains("no format version"),
        "{text}"
    );
    // A foreign file needs no checksum, but its dtype still has to be a float.
    let text = load_foreign_tensors::<f64>(&path).unwrap_err().to_string();
    assert!(
        text.contains("tensor `ids`")
            && text.contains("expected dtype F32, F64, F16 or BF16, found I64"),
        "{text}"
    );

    // A foreign float file without metadata loads with load_foreign_tensors only.
    let data: Vec<u8> = [1.5f32, -2.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let view =
        safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![2], &data).unwrap();
    let meta = [("format".to_string(), "pt".to_string())];
    fs::write(
        &path,
        safetensors::serialize([("w", view)], Some(meta.into_iter().collect())).unwrap(),
    )
    .unwrap();
    let file = load_foreign_tensors::<f32>(&path).unwrap();
    assert_eq!(file.get("w").unwrap().as_slice().unwrap(), &[1.5, -2.0]);
    assert_eq!(file.metadata["format"], "pt");
    assert!(load_tensors::<f32>(&path).is_err());
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn missing_tensor_names_it_and_the_present_ones() {
    let file = TensorFile::new(sample::<f64>());
    let text = file.get("W_hh").unwrap_err().to_string();
    assert_eq!(
        text,
        "no tensor `W_hh`; expected one of: W, b, scalar, empty"
    );
}

#[test]
fn missing_file_is_an_io_error_naming_it() {
    let path = Path::new("/nonexistent-dir-rnn/x.safetensors");
    match load_tensors::<f64>(path).unwrap_err() {
        Error::Io {
            path: p,
            message,
            source,
            ..
        } => {
            assert_eq!(p, path.display().to_string());
            assert!(message.starts_with("reading"), "{message}");
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("expected an I/O error, found {other:?}"),
    }
}

#[test]
fn file_functions_take_any_path_and_io_errors_keep_their_source() {
    use std::error::Error as _;
    let dir = temp_dir("as-ref-path");
    let path: PathBuf = dir.join("x.safetensors");
    let text: String = path.display().to_string();
    // `&str`, `String`, `PathBuf` and `&Path` all name a file.
    save_tensors(text.as_str(), &views(&sample::<f64>()), &meta()).unwrap();
    let by_string = load_tensors::<f64>(text.clone()).unwrap();
    let by_pathbuf = load_foreign_tensors::<f64>(path.clone()).unwrap();
    let by_path = load_tensors::<f64>(path.as_path()).unwrap();
    assert_eq!(by_string, by_pathbuf);
    assert_eq!(by_string, by_path);
    assert_eq!(sorted(by_string.tensors), sorted(sample::<f64>()));

    let err = load_tensors::<f32>(dir.join("missing.safetensors")).unwrap_err();
    let source = err.source().expect("an I/O error has a source");
    let io = source
        .downcast_ref::<std::io::Error>()
        .expect("the source is the system's io::Error");
    assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
    assert_eq!(err.io_kind(), Some(std::io::ErrorKind::NotFound));
    assert!(err.to_string().contains("missing.safetensors"), "{err}");
    // Other errors have no source.
    let corrupt = dir.join("corrupt.safetensors");
    fs::write(&corrupt, b"not a safetensors file").unwrap();
    let err = load_tensors::<f64>(&corrupt).unwrap_err();
    assert!(matches!(err, Error::Checkpoint(_)), "{err:?}");
    assert!(err.source().is_none());
    fs::remove_dir_all(dir).unwrap();
}

/// Small file for the byte-by-byte loops.
fn small_file(dir: &Path) -> (PathBuf, Vec<u8>, TensorFile<f32>) {
    let path = dir.join("small.safetensors");
    let tensors = vec![
        (
            "w".to_string(),
            ArrayD::from_shape_vec(IxDyn(&[2, 2]), vec![1.0f32, -2.0, 0.5, 3.25]).unwrap(),
        ),
        ("b".to_string(), ArrayD::from_elem(IxDyn(&[2]), 0.125f32)),
    ];
    let meta = BTreeMap::from([("k".to_string(), "v".to_string())]);
    save_tensors(&path, &views(&tensors), &meta).unwrap();
    let bytes = fs::read(&path).unwrap();
    let original = load_tensors::<f32>(&path).unwrap();
    (path, bytes, original)
}

#[test]
fn every_flipped_byte_is_detected_or_harmless() {
    let dir = temp_dir("flip");
    let (path, bytes, original) = small_file(&dir);
    let mut detected = 0;
    let mut harmless = 0;
    for pos in 0..bytes.len() {
        for mask in [0x01u8, 0x20, 0x80, 0xff] {
            let mut corrupt = bytes.clone();
            corrupt[pos] ^= mask;
            fs::write(&path, &corrupt).unwrap();
            let result = std::panic::catch_unwind(|| load_tensors::<f32>(&path))
                .unwrap_or_else(|_| panic!("load panicked with byte {pos} ^ {mask:#x}"));
            match result {
                Err(e) => {
                    let text = e.to_string();
                    assert!(text.contains("small.safetensors"), "{text}");
                    detected += 1;
                }
                // Only a change the format ignores (JSON whitespace) may load, and then it must
                // load the very same tensors and metadata.
                Ok(file) => {
                    assert_eq!(
                        file, original,
                        "byte {pos} ^ {mask:#x} changed the data silently"
                    );
                    harmless += 1;
                }
            }
        }
    }
    println!("{detected} flips detected, {harmless} harmless");
    assert!(detected > 4 * bytes.len() * 9 / 10);
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn flipped_data_byte_reports_checksum_mismatch() {
    let dir = temp_dir("flipdata");
    let (path, mut bytes, _) = small_file(&dir);
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    fs::write(&path, &bytes).unwrap();
    let text = load_tensors::<f32>(&path).unwrap_err().to_string();
    assert!(
        text.contains("checksum mismatch") && text.contains("expected crc32:"),
        "{text}"
    );
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn every_truncation_is_an_error() {
    let dir = temp_dir("trunc");
    let (path, bytes, _) = small_file(&dir);
    for len in 0..bytes.len() {
        fs::write(&path, &bytes[..len]).unwrap();
        let result = std::panic::catch_unwind(|| load_tensors::<f32>(&path))
            .unwrap_or_else(|_| panic!("load panicked on {len} of {} bytes", bytes.len()));
        let text = result
            .expect_err("a truncated file must not load")
            .to_string();
        assert!(text.contains("small.safetensors"), "{text}");
    }
    // Extra bytes at the end are rejected too.
    let mut longer = bytes.clone();
    longer.push(0);
    fs::write(&path, &longer).unwrap();
    assert!(load_tensors::<f32>(&path).is_err());
    fs::remove_dir_all(dir).unwrap();
}

fn leftovers(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect()
}

#[test]
fn save_replaces_atomically_and_leaves_no_temporary_file() {
    let dir = temp_dir("atomic");
    let path = dir.join("ckpt.safetensors");
    let first = sample::<f64>();
    save_tensors(&path, &views(&first), &meta()).unwrap();
    assert!(leftovers(&dir).is_empty());

    // Overwriting an existing file on success.
    let second: Vec<_> = first
        .iter()
        .map(|(n, a)| (n.clone(), a.mapv(|v| v * 2.0)))
        .collect();
    save_tensors(&path, &views(&second), &meta()).unwrap();
    assert_eq!(
        sorted(load_tensors::<f64>(&path).unwrap().tensors),
        sorted(second.clone())
    );
    assert!(leftovers(&dir).is_empty());

    // A failing save leaves the existing file byte for byte.
    let before = fs::read(&path).unwrap();
    let dup = vec![
        ("x".to_string(), first[0].1.view()),
        ("x".to_string(), first[1].1.view()),
    ];
    let text = save_tensors(&path, &dup, &meta()).unwrap_err().to_string();
    assert!(text.contains("`x` appears twice"), "{text}");
    let reserved = BTreeMap::from([(CHECKSUM_KEY.to_string(), "crc32:0".to_string())]);
    let text = save_tensors(&path, &views(&first), &reserved)
        .unwrap_err()
        .to_string();
    assert!(text.contains("reserved"), "{text}");
    assert_eq!(fs::read(&path).unwrap(), before);
    assert!(leftovers(&dir).is_empty());

    // A save that fails after writing (the rename over a non-empty directory fails) removes its
    // temporary file and leaves the target as it was.
    let target = dir.join("occupied");
    fs::create_dir(&target).unwrap();
    fs::write(target.join("keep"), b"keep").unwrap();
    let err = save_tensors(&target, &views(&first), &meta()).unwrap_err();
    assert!(
        matches!(&err, Error::Io { path, message, .. } if path.ends_with("occupied") && message.contains("renaming")),
        "{err:?}"
    );
    assert_eq!(fs::read(target.join("keep")).unwrap(), b"keep");
    assert!(leftovers(&dir).is_empty(), "{:?}", leftovers(&dir));

    // A stale temporary file of a crashed writer does not disturb the target or later saves.
    fs::write(dir.join(".ckpt.safetensors.tmp-999999-0"), b"partial").unwrap();
    assert_eq!(
        sorted(load_tensors::<f64>(&path).unwrap().tensors),
        sorted(second)
    );
    save_tensors(&path, &views(&first), &meta()).unwrap();
    assert_eq!(
        sorted(load_tensors::<f64>(&path).unwrap().tensors),
        sorted(first)
    );
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn save_into_missing_directory_is_an_io_error() {
    let dir = temp_dir("nodir");
    let path = dir.join("missing").join("x.safetensors");
    let err = save_tensors(&path, &views(&sample::<f32>()), &meta()).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    fs::remove_dir_all(dir).unwrap();
}
