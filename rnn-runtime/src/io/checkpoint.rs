//! Checkpoint files: named tensors in the [safetensors] format, with a checksum, written
//! atomically.
//!
//! A file written by [`save_tensors`] is an ordinary safetensors file (readable by
//! `safetensors.torch.load_file`, `safetensors.numpy.load_file`, ...): every tensor is stored
//! little-endian, row-major, with dtype `F32` (for `f32`) or `F64` (for `f64`), sorted by name.
//! Its `__metadata__` holds the caller's string metadata plus two reserved keys:
//!
//! | key | value |
//! | --- | --- |
//! | [`CHECKSUM_KEY`] (`rnn.checksum`) | `crc32:` and 8 hex digits |
//! | [`FORMAT_KEY`] (`rnn.format`) | [`FORMAT_VERSION`] (`1`) |
//!
//! The CRC-32 (IEEE) covers every tensor's name, dtype, shape and bytes (tensors sorted by name)
//! and every metadata entry but the checksum itself (sorted by key), each field prefixed by its
//! length as a little-endian `u64`. So a flipped byte anywhere in the file (data or JSON header)
//! is either rejected by the safetensors parser or detected by the checksum, except in the
//! header's JSON whitespace, where it changes nothing that is read. It guards against
//! corruption (a bad disk, an interrupted copy), not against deliberate tampering.
//!
//! [`load_tensors`] requires the checksum; [`load_foreign_tensors`] reads safetensors files
//! written by other tools (PyTorch's `safetensors.torch.save_file` writes none) and verifies the
//! checksum only when there is one.
//!
//! # Values
//!
//! Every value is finite: [`save_tensors`] refuses to write a `NaN` or an infinity and the
//! loaders refuse to read one, naming the tensor and the entry (a checkpoint of a diverged
//! model is an error, not a file that poisons whatever loads it).
//!
//! # Dtypes
//!
//! Loading as `f64` accepts `F64` tensors and `F32` tensors (widened exactly); loading as `f32`
//! accepts `F32` tensors, but not `F64`: narrowing `F64` to `f32` would silently lose precision,
//! so it is an error (load as `f64` and convert explicitly if that is what you want).
//!
//! Half-precision tensors, as PyTorch checkpoints often store them, load as either: `F16`
//! (IEEE 754 binary16: 11 significant bits, finite values up to 65504) and `BF16` (bfloat16: 8
//! significant bits, the range of `f32`) convert to `f32` and `f64` exactly, so the values
//! loaded are the file's, to the precision the file kept (a relative 2⁻¹¹ ≈ 4.9e-4 of the
//! original for `F16`, 2⁻⁸ ≈ 3.9e-3 for `BF16`, when they were rounded from `f32`). The
//! [`save_tensors`] writer keeps `F32`/`F64`. Any other dtype (`F8_*`, integers, booleans, ...)
//! is an error naming it.
//!
//! [safetensors]: https://huggingface.co/docs/safetensors

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use ndarray::{ArrayD, ArrayViewD, IxDyn};
use safetensors::tensor::{Metadata, TensorView};
use safetensors::{Dtype, SafeTensors};

use crate::core::error::{Error, Result};
use crate::core::tensors::check_finite_array;
use crate::kernels::float::Float;

/// Metadata key of the checksum: `crc32:` followed by 8 lower-case hex digits.
pub const CHECKSUM_KEY: &str = "rnn.checksum";
/// Metadata key of the format version.
pub const FORMAT_KEY: &str = "rnn.format";
/// The format version this build writes and reads.
pub const FORMAT_VERSION: &str = "1";

/// The tensors and metadata of a checkpoint file, as read by [`load_tensors`] (or built by hand,
/// e.g. from [`crate::torch::export_torch`], to pass to [`crate::torch::import_torch`]).
#[derive(Debug, Clone, PartialEq)]
pub struct TensorFile<F> {
    /// The file's string metadata, without the reserved keys [`CHECKSUM_KEY`] and
    /// [`FORMAT_KEY`] (which [`load_tensors`] checks and removes).
    pub metadata: BTreeMap<String, String>,
    /// The tensors, by name, in the file's order (safetensors stores them sorted by name), each
    /// in standard (row-major) layout with the file's shape.
    pub tensors: Vec<(String, ArrayD<F>)>,
}

impl<F: Float> TensorFile<F> {
    /// A tensor file of `tensors` without metadata.
    pub fn new(tensors: Vec<(String, ArrayD<F>)>) -> Self {
        TensorFile {
            metadata: BTreeMap::new(),
            tensors,
        }
    }

    /// Whether there is a tensor called `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.tensors.iter().any(|(n, _)| n == name)
    }

    /// The tensor called `name`; the error names it and lists the tensors there are.
    pub fn get(&self, name: &str) -> Result<ArrayViewD<'_, F>> {
        self.tensors
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.view())
            .ok_or_else(|| {
                let names: Vec<&str> = self.tensors.iter().map(|(n, _)| n.as_str()).collect();
                Error::Checkpoint(format!(
                    "no tensor `{name}`; expected one of: {}",
                    if names.is_empty() {
                        "(no tensors)".to_string()
                    } else {
                        names.join(", ")
                    }
                ))
            })
    }

    /// The tensor names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> + '_ {
        self.tensors.iter().map(|(n, _)| n.as_str())
    }
}

/// Writes `tensors` (name, array of any shape and layout) and the string `metadata` to a
/// safetensors file at `path`, with dtype `F32` or `F64` after `F`, a checksum and the format
/// version (see the [module documentation](self)).
///
/// The write is atomic: the bytes go to a temporary file in the same directory
/// (`.<file name>.tmp-<pid>-<n>`), which is flushed, `sync_all`ed and renamed over `path`; then
/// the directory is synced (on Unix). A crash or an error at any point leaves either the old
/// file or the new one at `path`, never a partial one; on error the temporary file is removed.
///
/// Errors, before anything is written: duplicate tensor names, a tensor named `__metadata__`
/// (the safetensors header's own key), a `NaN` or infinite value (naming the tensor and the
/// entry: [`load_tensors`] refuses them, so they are not saved either), a metadata key that is
/// reserved ([`CHECKSUM_KEY`], [`FORMAT_KEY`]); and any I/O failure ([`Error::Io`], naming the
/// path, with the system's error as its source). Whatever this function saves, [`load_tensors`]
/// loads. `path` is anything that names a file (`&str`, `String`, `&Path`, `PathBuf`).
pub fn save_tensors<F: Float>(
    path: impl AsRef<Path>,
    tensors: &[(String, ArrayViewD<'_, F>)],
    metadata: &BTreeMap<String, String>,
) -> Result<()> {
    let path = path.as_ref();
    dtype_of::<F>()?;
    let shown = path.display();
    for key in [CHECKSUM_KEY, FORMAT_KEY] {
        if metadata.contains_key(key) {
            return Err(Error::Checkpoint(format!(
                "{shown}: metadata key `{key}` is reserved for the file format; expected user \
                 keys only"
            )));
        }
    }
    let mut seen = BTreeSet::new();
    for (name, t) in tensors {
        if !seen.insert(name.as_str()) {
            return Err(Error::Checkpoint(format!(
                "{shown}: tensor name `{name}` appears twice; expected unique names"
            )));
        }
        if name == HEADER_METADATA {
            return Err(Error::Checkpoint(format!(
                "{shown}: tensor name `{HEADER_METADATA}` is reserved by the safetensors format \
                 for the metadata; expected another name"
            )));
        }
        check_finite(&shown, name, t.view())?;
    }
    write_tensors(path, tensors, metadata)
}

/// The file that [`save_tensors`] writes, without its checks of names and values.
fn write_tensors<F: Float>(
    path: &Path,
    tensors: &[(String, ArrayViewD<'_, F>)],
    metadata: &BTreeMap<String, String>,
) -> Result<()> {
    let dtype = dtype_of::<F>()?;
    let shown = path.display();

    // Little-endian bytes of every tensor, row-major whatever the view's layout.
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, t)| {
            let mut out = Vec::with_capacity(t.len() * std::mem::size_of::<F>());
            t.iter().for_each(|&v| push_le(v, &mut out));
            out
        })
        .collect();
    let entries: Vec<Entry<'_>> = tensors
        .iter()
        .zip(&bytes)
        .map(|((name, t), b)| Entry {
            name,
            dtype,
            shape: t.shape(),
            data: b,
        })
        .collect();

    let mut meta = metadata.clone();
    meta.insert(FORMAT_KEY.to_string(), FORMAT_VERSION.to_string());
    meta.insert(
        CHECKSUM_KEY.to_string(),
        format_checksum(checksum(&entries, &meta)),
    );

    let views = entries
        .iter()
        .map(|e| {
            TensorView::new(e.dtype, e.shape.to_vec(), e.data)
                .map(|v| (e.name.to_string(), v))
                .map_err(|err| Error::Checkpoint(format!("{shown}: tensor `{}`: {err}", e.name)))
        })
        .collect::<Result<Vec<_>>>()?;
    // safetensors' own map type (hashbrown's without its `std` feature).
    let file_bytes = safetensors::serialize(views, Some(meta.into_iter().collect()))
        .map_err(|err| Error::Checkpoint(format!("{shown}: serializing: {err}")))?;
    write_atomic(path, &file_bytes)
}

/// Reads a file written by [`save_tensors`] as `F`, verifying its format version and checksum.
///
/// Errors ([`Error::Io`] or [`Error::Checkpoint`], never a panic), each naming the path: the file
/// cannot be read; it is not a valid safetensors file (truncated, or a corrupted header); it has
/// no checksum (e.g. written by another tool: see [`load_foreign_tensors`]) or an unknown format
/// version; the checksum does not match (corrupted bytes); a tensor's dtype cannot be loaded as
/// `F` (see the [module documentation](self): `F32`, `F16` and `BF16` load as `f32` and `f64`,
/// `F64` does not load as `f32`); a value is `NaN` or infinite (the error names the tensor and the entry).
pub fn load_tensors<F: Float>(path: impl AsRef<Path>) -> Result<TensorFile<F>> {
    load(path.as_ref(), true)
}

/// Reads any safetensors file as `F`, e.g. a PyTorch `state_dict` written by
/// `safetensors.torch.save_file`: as [`load_tensors`], but a file without a checksum is accepted
/// (a file with one is still verified). Half-precision `F16` and `BF16` tensors (a
/// `model.half()` or `model.bfloat16()` state dict) convert to `F` exactly. `NaN` and infinite values are refused as by
/// [`load_tensors`].
pub fn load_foreign_tensors<F: Float>(path: impl AsRef<Path>) -> Result<TensorFile<F>> {
    load(path.as_ref(), false)
}

/// The CRC-32 (IEEE) that [`save_tensors`] stores under [`CHECKSUM_KEY`], over the tensors
/// `(name, dtype, shape, little-endian bytes)` sorted by name and then the metadata entries
/// (sorted by key, the checksum entry itself left out), each field length-prefixed.
fn checksum(entries: &[Entry<'_>], metadata: &BTreeMap<String, String>) -> u32 {
    fn field(h: &mut crc32fast::Hasher, bytes: &[u8]) {
        h.update(&(bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    }
    let mut sorted: Vec<&Entry<'_>> = entries.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(b.name));
    let mut h = crc32fast::Hasher::new();
    h.update(&(sorted.len() as u64).to_le_bytes());
    for e in sorted {
        field(&mut h, e.name.as_bytes());
        field(&mut h, format!("{:?}", e.dtype).as_bytes());
        h.update(&(e.shape.len() as u64).to_le_bytes());
        for &d in e.shape {
            h.update(&(d as u64).to_le_bytes());
        }
        field(&mut h, e.data);
    }
    for (k, v) in metadata.iter().filter(|(k, _)| *k != CHECKSUM_KEY) {
        field(&mut h, k.as_bytes());
        field(&mut h, v.as_bytes());
    }
    h.finalize()
}

fn format_checksum(c: u32) -> String {
    format!("crc32:{c:08x}")
}

/// One tensor as stored: name, dtype, shape, little-endian bytes.
struct Entry<'a> {
    name: &'a str,
    dtype: Dtype,
    shape: &'a [usize],
    data: &'a [u8],
}

fn dtype_of<F: Float>() -> Result<Dtype> {
    match std::mem::size_of::<F>() {
        4 => Ok(Dtype::F32),
        8 => Ok(Dtype::F64),
        n => Err(Error::Checkpoint(format!(
            "unsupported float type of {n} bytes; expected f32 (4) or f64 (8)"
        ))),
    }
}

fn push_le<F: Float>(v: F, out: &mut Vec<u8>) {
    // `F` is f32 or f64 (checked by `dtype_of`): both conversions are exact.
    if std::mem::size_of::<F>() == 4 {
        out.extend_from_slice(&(v.to_f64() as f32).to_le_bytes());
    } else {
        out.extend_from_slice(&v.to_f64().to_le_bytes());
    }
}

fn load<F: Float>(path: &Path, require_checksum: bool) -> Result<TensorFile<F>> {
    let want = dtype_of::<F>()?;
    let shown = path.display();
    let bytes = fs::read(path).map_err(|e| io_error(path, "reading", e))?;
    let (header_len, header): (usize, Metadata) =
        SafeTensors::read_metadata(&bytes).map_err(|e| {
            Error::Checkpoint(format!(
                "{shown}: expected a safetensors file, found an invalid one (truncated or \
                 corrupted; {} bytes): {e}",
                bytes.len()
            ))
        })?;
    let data_start = 8 + header_len;
    let mut metadata: BTreeMap<String, String> = header
        .metadata()
        .as_ref()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();

    let mut entries = Vec::new();
    for name in header.offset_keys() {
        let info = header.info(&name).ok_or_else(|| {
            Error::Checkpoint(format!("{shown}: tensor `{name}` listed but not described"))
        })?;
        let (s, e) = info.data_offsets;
        // `read_metadata` validated the offsets against the file length.
        let data = bytes.get(data_start + s..data_start + e).ok_or_else(|| {
            Error::Checkpoint(format!(
                "{shown}: tensor `{name}`: data offsets {s}..{e} outside the file"
            ))
        })?;
        entries.push((name, info.dtype, info.shape.clone(), data));
    }

    match metadata.get(FORMAT_KEY) {
        Some(v) if v == FORMAT_VERSION => {}
        Some(v) => {
            return Err(Error::Checkpoint(format!(
                "{shown}: unsupported format version: expected {FORMAT_KEY} = \
                 {FORMAT_VERSION}, found {v}"
            )))
        }
        None if require_checksum => {
            return Err(Error::Checkpoint(format!(
                "{shown}: no format version: expected metadata key {FORMAT_KEY} (a file written \
                 by save_tensors; use load_foreign_tensors for files of other tools)"
            )))
        }
        None => {}
    }
    match metadata.get(CHECKSUM_KEY) {
        Some(stored) => {
            let views: Vec<Entry<'_>> = entries
                .iter()
                .map(|(name, dtype, shape, data)| Entry {
                    name,
                    dtype: *dtype,
                    shape,
                    data,
                })
                .collect();
            let computed = format_checksum(checksum(&views, &metadata));
            if *stored != computed {
                return Err(Error::Checkpoint(format!(
                    "{shown}: checksum mismatch, the file is corrupted: expected {stored} (stored \
                     in the file), found {computed} (computed from its contents)"
                )));
            }
        }
        None if require_checksum => {
            return Err(Error::Checkpoint(format!(
                "{shown}: no checksum: expected metadata key {CHECKSUM_KEY} (a file written by \
                 save_tensors; use load_foreign_tensors for files of other tools)"
            )))
        }
        None => {}
    }
    metadata.remove(CHECKSUM_KEY);
    metadata.remove(FORMAT_KEY);

    let tensors = entries
        .into_iter()
        .map(|(name, dtype, shape, data)| {
            let values: Vec<F> = match (dtype, want) {
                (Dtype::F32, _) => data
                    .chunks_exact(4)
                    .map(|c| F::from_f64(f32::from_le_bytes(c.try_into().unwrap()) as f64))
                    .collect(),
                (Dtype::F64, Dtype::F64) => data
                    .chunks_exact(8)
                    .map(|c| F::from_f64(f64::from_le_bytes(c.try_into().unwrap())))
                    .collect(),
                (Dtype::F16, _) => data
                    .chunks_exact(2)
                    .map(|c| F::from_f64(half::f16::from_le_bytes([c[0], c[1]]).to_f64()))
                    .collect(),
                (Dtype::BF16, _) => data
                    .chunks_exact(2)
                    .map(|c| F::from_f64(half::bf16::from_le_bytes([c[0], c[1]]).to_f64()))
                    .collect(),
                (Dtype::F64, _) => {
                    return Err(Error::Checkpoint(format!(
                        "{shown}: tensor `{name}`: expected dtype {want:?}, found F64 (narrowing \
                         to f32 would lose precision; load the file as f64)"
                    )))
                }
                (other, _) => {
                    return Err(Error::Checkpoint(format!(
                        "{shown}: tensor `{name}`: expected dtype F32, F64, F16 or BF16, found \
                         {other:?}"
                    )))
                }
            };
            let array = ArrayD::from_shape_vec(IxDyn(&shape), values).map_err(|e| {
                Error::Checkpoint(format!(
                    "{shown}: tensor `{name}`: shape {shape:?} does not match its data: {e}"
                ))
            })?;
            check_finite(&shown, &name, array.view())?;
            Ok((name, array))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(TensorFile { metadata, tensors })
}

/// The key of the safetensors header that holds the metadata: no tensor may be called so.
const HEADER_METADATA: &str = "__metadata__";

/// Refuses a tensor with a `NaN` or infinite value, naming the file, the tensor and the entry.
fn check_finite<F: Float>(
    shown: &dyn std::fmt::Display,
    name: &str,
    t: ArrayViewD<'_, F>,
) -> Result<()> {
    check_finite_array("tensor", name, t).map_err(|e| Error::Checkpoint(format!("{shown}: {e}")))
}

fn io_error(path: &Path, doing: &str, e: std::io::Error) -> Error {
    Error::io(path.display().to_string(), doing, e)
}

/// Writes `bytes` to a temporary file next to `path`, syncs it and renames it over `path`.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let file_name = path.file_name().ok_or_else(|| Error::Io {
        path: path.display().to_string(),
        message: "expected a file path, found no file name".to_string(),
        source: std::sync::Arc::new(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "no file name",
        )),
    })?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = dir.join(format!(
        ".{}.tmp-{}-{}",
        file_name.to_string_lossy(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| io_error(&tmp, "creating temporary file", e))?;
        file.write_all(bytes)
            .map_err(|e| io_error(&tmp, "writing", e))?;
        file.flush().map_err(|e| io_error(&tmp, "flushing", e))?;
        file.sync_all().map_err(|e| io_error(&tmp, "syncing", e))?;
        drop(file);
        fs::rename(&tmp, path).map_err(|e| {
            io_error(
                path,
                &format!("renaming temporary file {} over it", tmp.display()),
                e,
            )
        })
    })();
    if result.is_err() {
        // Best effort: the temporary file may not exist.
        let _ = fs::remove_file(&tmp);
        return result;
    }
    // Make the rename itself durable. Not every platform or file system can sync a directory;
    // the file is in place either way.
    #[cfg(unix)]
    if let Ok(d) = fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Writes a file as [`save_tensors`] would, without refusing non-finite values: a file of
    /// an older version, or of another tool that computed the checksum.
    pub(crate) fn write_unchecked(
        path: &Path,
        tensors: &[(String, ArrayD<f64>)],
        metadata: &BTreeMap<String, String>,
    ) {
        let views: Vec<(String, ArrayViewD<'_, f64>)> =
            tensors.iter().map(|(n, t)| (n.clone(), t.view())).collect();
        write_tensors(path, &views, metadata).unwrap();
    }

    pub(crate) fn temp_path(test: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("rnn-unit-{}-{test}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir.join("file.safetensors")
    }

    fn with(value: f64) -> Vec<(String, ArrayD<f64>)> {
        let mut w = ArrayD::from_shape_fn(IxDyn(&[2, 3]), |ix| (ix[0] * 3 + ix[1]) as f64);
        w[[1, 2]] = value;
        vec![
            ("b".to_string(), ArrayD::zeros(IxDyn(&[3]))),
            ("W".to_string(), w),
        ]
    }

    #[test]
    fn loaders_refuse_non_finite_values_naming_tensor_and_entry() {
        let path = temp_path("nan-load");
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            write_unchecked(&path, &with(bad), &BTreeMap::new());
            for result in [
                load_tensors::<f64>(&path),
                load_foreign_tensors::<f64>(&path),
            ] {
                let text = result.unwrap_err().to_string();
                assert!(text.contains("tensor `W`"), "{text}");
                assert!(text.contains("[1, 2]"), "{text}");
                assert!(text.contains(&format!("{bad}")), "{text}");
            }
        }
        write_unchecked(&path, &with(7.0), &BTreeMap::new());
        assert_eq!(load_tensors::<f64>(&path).unwrap().tensors, {
            let mut t = with(7.0);
            t.sort_by(|a, b| a.0.cmp(&b.0));
            t
        });
    }

    #[test]
    fn save_tensors_refuses_non_finite_values_and_the_metadata_name() {
        let path = temp_path("nan-save");
        fn views(t: &[(String, ArrayD<f64>)]) -> Vec<(String, ArrayViewD<'_, f64>)> {
            t.iter().map(|(n, a)| (n.clone(), a.view())).collect()
        }
        let bad = with(f64::NAN);
        let text = save_tensors(&path, &views(&bad), &BTreeMap::new())
            .unwrap_err()
            .to_string();
        assert!(
            text.contains("tensor `W`") && text.contains("[1, 2]"),
            "{text}"
        );
        assert!(!path.exists(), "nothing written");
        let named = vec![("__metadata__".to_string(), ArrayD::zeros(IxDyn(&[2])))];
        let text = save_tensors(&path, &views(&named), &BTreeMap::new())
            .unwrap_err()
            .to_string();
        assert!(
            text.contains("__metadata__") && text.contains("reserved"),
            "{text}"
        );
        assert!(!path.exists(), "nothing written");
        // Names next to it, and odd ones, round-trip.
        let odd: Vec<(String, ArrayD<f64>)> = ["__metadata", "_", "a b", "é\"\\", "x.y.z"]
            .iter()
            .enumerate()
            .map(|(k, n)| (n.to_string(), ArrayD::from_elem(IxDyn(&[1]), k as f64)))
            .collect();
        save_tensors(&path, &views(&odd), &BTreeMap::new()).unwrap();
        let mut expected = odd.clone();
        expected.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(load_tensors::<f64>(&path).unwrap().tensors, expected);
    }
}
