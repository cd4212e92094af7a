//! Checkpoints of whole models: every parameter (each layer, head and embedding) and the
//! optimizer's state in one safetensors file (see [`crate::checkpoint`]: checksum, atomic
//! write), with metadata describing the model, so that loading into another cell, other
//! dimensions or another spec is a clear error naming what differs.

use std::collections::BTreeMap;
use std::path::Path;

use ndarray::{ArrayD, ArrayViewD, IxDyn};

use crate::checkpoint::{load_tensors, save_tensors};
use crate::tensors::{check_finite_array, check_finite_tensors};
use crate::train::Optimizer;
use crate::{Error, Float, NamedTensors, Parameters, Result, Seq2Seq, SequenceModel};

/// A model that can be checkpointed: its parameters and a description of its structure.
pub trait Checkpointable<F: Float>: Parameters<F> {
    /// `(part, description)` pairs: per layer the cell's name, dimensions and spec fingerprint,
    /// the embedding's and head's shapes. Two models with equal descriptions have the same
    /// parameter names and shapes.
    fn describe(&self) -> Vec<(String, String)>;
}

impl<F: Float> Checkpointable<F> for SequenceModel<F> {
    fn describe(&self) -> Vec<(String, String)> {
        SequenceModel::describe(self)
    }
}

impl<F: Float> Checkpointable<F> for Seq2Seq<F> {
    fn describe(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for (k, v) in self.encoder.describe() {
            out.push((format!("encoder.{k}"), v));
        }
        for (k, v) in self.decoder.describe() {
            out.push((format!("decoder.{k}"), v));
        }
        out.push((
            "tokens".into(),
            format!("start {} end {}", self.start, self.end),
        ));
        out
    }
}

const MODEL_PREFIX: &str = "model.";
const PARAM_PREFIX: &str = "param.";
const OPTIMIZER_PREFIX: &str = "optimizer.";
/// Metadata key of the parameter names (informative).
const PARAM_NAMES_KEY: &str = "model.param_names";
/// Metadata key of the optimizer's kind ([`Optimizer::kind`]), present when an optimizer was
/// saved.
const OPTIMIZER_KIND_KEY: &str = "optimizer.kind";

/// Saves `model`'s parameters (and `optimizer`'s state, when given) to `path`, atomically:
/// tensors `param.<name>` and `optimizer.<name>`, metadata `model.<part>` from
/// [`Checkpointable::describe`], `model.param_names`, `optimizer.kind` (the optimizer's
/// [`Optimizer::kind`], when one is saved) plus the user's `extra` metadata (e.g. the epoch).
///
/// Whatever this function saves, [`load_checkpoint`] loads (into the same model, and an
/// optimizer of the same kind). Everything else is refused here, before anything is written:
/// an `extra` key starting with `model.` or `optimizer.` (reserved for the checkpoint's own
/// metadata) or reserved by the file format ([`crate::checkpoint::CHECKSUM_KEY`],
/// [`crate::checkpoint::FORMAT_KEY`]); a model description with a part named twice or named
/// `param_names`; a `NaN` or infinite parameter or optimizer value (naming it); an optimizer
/// whose state does not fit the model (e.g. it was stepped on another model).
pub fn save_checkpoint<F: Float>(
    path: &Path,
    model: &dyn Checkpointable<F>,
    optimizer: Option<&dyn Optimizer<F>>,
    extra: &BTreeMap<String, String>,
) -> Result<()> {
    let shown = path.display();
    if let Some(key) = extra
        .keys()
        .find(|k| k.starts_with(MODEL_PREFIX) || k.starts_with(OPTIMIZER_PREFIX))
    {
        return Err(Error::Checkpoint(format!(
            "{shown}: extra metadata key `{key}`: keys starting with `{MODEL_PREFIX}` or \
             `{OPTIMIZER_PREFIX}` are reserved for the checkpoint's description of the model and \
             optimizer; expected another key"
        )));
    }
    let mut metadata = extra.clone();
    for (part, description) in model.describe() {
        let key = format!("{MODEL_PREFIX}{part}");
        if key == PARAM_NAMES_KEY || metadata.contains_key(&key) {
            return Err(Error::Checkpoint(format!(
                "{shown}: the model's description has part `{part}` {}; expected unique parts \
                 other than `param_names`",
                if key == PARAM_NAMES_KEY {
                    "(a reserved name)"
                } else {
                    "twice"
                }
            )));
        }
        metadata.insert(key, description);
    }
    metadata.insert(
        PARAM_NAMES_KEY.into(),
        model
            .tensors()
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(","),
    );
    check_finite_tensors("parameter", model)
        .map_err(|e| Error::Checkpoint(format!("{shown}: {e}")))?;
    let mut tensors: Vec<(String, ArrayD<F>)> = model
        .tensors()
        .into_iter()
        .map(|(name, v)| {
            let array = ArrayD::from_shape_vec(IxDyn(&[v.len()]), v.to_vec()).expect("1-D");
            (format!("{PARAM_PREFIX}{name}"), array)
        })
        .collect();
    if let Some(opt) = optimizer {
        opt.check_fits(params_of(model)).map_err(|e| {
            Error::Checkpoint(format!(
                "{shown}: the optimizer's state does not fit the model: {e}"
            ))
        })?;
        let state = opt.state();
        check_finite_tensors("optimizer state", &state)
            .map_err(|e| Error::Checkpoint(format!("{shown}: {e}")))?;
        metadata.insert(OPTIMIZER_KIND_KEY.into(), opt.kind().to_string());
        for (name, v) in state.tensors {
            tensors.push((format!("{OPTIMIZER_PREFIX}{name}"), v));
        }
    }
    let views: Vec<(String, ArrayViewD<'_, F>)> =
        tensors.iter().map(|(n, v)| (n.clone(), v.view())).collect();
    save_tensors(path, &views, &metadata)
}

/// What [`load_checkpoint`] returns besides filling the model: the user's extra metadata.
pub type CheckpointMetadata = BTreeMap<String, String>;

/// Loads a checkpoint written by [`save_checkpoint`] into `model` (and `optimizer`, when given).
/// The file's model description must equal `model`'s (same layers, cells, dimensions, spec
/// fingerprints, embedding and head), otherwise the error names the first part that differs;
/// the optimizer must be of the kind saved (an Adam state does not load into an `Sgd`) and its
/// state must fit the model; a corrupted or truncated file fails its checksum; a `NaN` or
/// infinite value is refused, naming the tensor and the entry. Nothing is changed (neither the
/// model nor the optimizer) unless everything loads. Returns the extra metadata saved with it.
pub fn load_checkpoint<F: Float>(
    path: &Path,
    model: &mut dyn Checkpointable<F>,
    optimizer: Option<&mut dyn Optimizer<F>>,
) -> Result<CheckpointMetadata> {
    let file = load_tensors::<F>(path)?;
    let shown = path.display();
    let theirs: BTreeMap<&str, &str> = file
        .metadata
        .iter()
        .filter(|(k, _)| *k != PARAM_NAMES_KEY)
        .filter_map(|(k, v)| k.strip_prefix(MODEL_PREFIX).map(|k| (k, v.as_str())))
        .collect();
    if theirs.is_empty() && !file.metadata.contains_key(PARAM_NAMES_KEY) {
        return Err(Error::Checkpoint(format!(
            "{shown}: not a model checkpoint (no model description in its metadata)"
        )));
    }
    let ours = model.describe();
    for (part, description) in &ours {
        match theirs.get(part.as_str()) {
            Some(t) if t == description => {}
            Some(t) => {
                return Err(Error::Checkpoint(format!(
                    "{shown}: {part} differs: the model has `{description}`, the checkpoint `{t}`"
                )))
            }
            None => {
                return Err(Error::Checkpoint(format!(
                    "{shown}: the model has {part} (`{description}`), the checkpoint has none"
                )))
            }
        }
    }
    if let Some(extra) = theirs.keys().find(|k| !ours.iter().any(|(p, _)| p == *k)) {
        return Err(Error::Checkpoint(format!(
            "{shown}: the checkpoint has {extra} (`{}`), the model has none",
            theirs[extra]
        )));
    }
    // Parameters: validate every one, then write.
    let mut values = Vec::new();
    for (name, slot) in model.tensors() {
        let tensor = file.get(&format!("{PARAM_PREFIX}{name}"))?;
        if tensor.len() != slot.len() {
            return Err(Error::Checkpoint(format!(
                "{shown}: parameter {name}: expected {} values, found {}",
                slot.len(),
                tensor.len()
            )));
        }
        check_finite_array("parameter", &name, tensor.view())
            .map_err(|e| Error::Checkpoint(format!("{shown}: {e}")))?;
        values.push(tensor.iter().copied().collect::<Vec<F>>());
    }
    if let Some(opt) = optimizer {
        let mut state = NamedTensors::new();
        for (name, v) in &file.tensors {
            if let Some(n) = name.strip_prefix(OPTIMIZER_PREFIX) {
                state.tensors.push((n.to_string(), v.clone()));
            }
        }
        match file.metadata.get(OPTIMIZER_KIND_KEY) {
            Some(kind) if kind != opt.kind() => {
                return Err(Error::Checkpoint(format!(
                    "{shown}: the checkpoint holds the state of a `{kind}` optimizer; the \
                     optimizer given is `{}`",
                    opt.kind()
                )))
            }
            Some(_) => {}
            // Checkpoints written before the kind was recorded: only non-empty states.
            None if state.is_empty() => {
                return Err(Error::Checkpoint(format!(
                    "{shown}: an optimizer state was asked for, the checkpoint has none"
                )))
            }
            None => {}
        }
        // Load, check against the model, and put the old state back on any error.
        let old = opt.state();
        let loaded = opt
            .load_state(&state)
            .and_then(|()| opt.check_fits(params_of(&*model)));
        if let Err(e) = loaded {
            opt.load_state(&old)
                .expect("an optimizer reloads its own state");
            return Err(Error::Checkpoint(format!(
                "{shown}: optimizer state ({}): {e}",
                opt.kind()
            )));
        }
    }
    for ((_, slot), v) in model.tensors_mut().into_iter().zip(values) {
        slot.copy_from_slice(&v);
    }
    Ok(file
        .metadata
        .into_iter()
        .filter(|(k, _)| !k.starts_with(MODEL_PREFIX) && !k.starts_with(OPTIMIZER_PREFIX))
        .collect())
}

/// A model as its parameters.
fn params_of<F: Float>(model: &dyn Checkpointable<F>) -> &dyn Parameters<F> {
    model
}
