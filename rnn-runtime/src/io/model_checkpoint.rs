//! Checkpoints of whole models: every parameter (each layer, head and embedding) and the
//! optimizer's state in one safetensors file (see [`crate::checkpoint`]: checksum, atomic
//! write), with metadata describing the model, so that loading into another cell, other
//! dimensions or another spec is a clear error naming what differs.

use std::collections::BTreeMap;
use std::path::Path;

use ndarray::{ArrayD, ArrayViewD, IxDyn};

use crate::core::error::{Error, Result};
use crate::core::params::ParamSet;
use crate::core::tensors::{check_finite_array, check_finite_tensors, NamedTensors, Parameters};
use crate::io::checkpoint::{load_tensors, save_tensors};
use crate::kernels::float::Float;
use crate::nn::model::SequenceModel;
use crate::nn::seq2seq::Seq2Seq;
use crate::training::optim::Optimizer;

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

/// A single cell's parameters: each parameter's shape, as allocated and as its spec writes it
/// (`W` → `[3, 8] [I, H]`).
impl<F: Float> Checkpointable<F> for ParamSet<F> {
    fn describe(&self) -> Vec<(String, String)> {
        self.specs()
            .iter()
            .zip(self.iter())
            .map(|(spec, (name, value))| {
                (
                    name.to_string(),
                    format!("{:?} {}", value.shape(), spec.shape),
                )
            })
            .collect()
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
/// Prefix of the metadata keys of the optimizer's hyper-parameters
/// ([`Optimizer::hyper_parameters`]), e.g. `optimizer.hyper.lr`, each value written by `f64`'s
/// `Display` (which reads back exactly). Checkpoints written before they were saved have none.
const HYPER_PREFIX: &str = "optimizer.hyper.";

/// Saves `model`'s parameters (and `optimizer`'s state, when given) to `path`, atomically:
/// tensors `param.<name>` and `optimizer.<name>`, metadata `model.<part>` from
/// [`Checkpointable::describe`], `model.param_names`, `optimizer.kind` (the optimizer's
/// [`Optimizer::kind`], when one is saved) and `optimizer.hyper.<name>` (its
/// [`Optimizer::hyper_parameters`]: learning rate, betas, ...) plus the user's `extra` metadata
/// (e.g. the epoch).
///
/// Whatever this function saves, [`load_checkpoint`] loads (into the same model, and an
/// optimizer of the same kind). Everything else is refused here, before anything is written:
/// an `extra` key starting with `model.` or `optimizer.` (reserved for the checkpoint's own
/// metadata) or reserved by the file format ([`crate::checkpoint::CHECKSUM_KEY`],
/// [`crate::checkpoint::FORMAT_KEY`]); a model description with a part named twice or named
/// `param_names`; a `NaN` or infinite parameter, optimizer value or hyper-parameter (naming
/// it); an optimizer whose state does not fit the model (e.g. it was stepped on another model).
pub fn save_checkpoint<F: Float>(
    path: impl AsRef<Path>,
    model: &dyn Checkpointable<F>,
    optimizer: Option<&dyn Optimizer<F>>,
    extra: &BTreeMap<String, String>,
) -> Result<()> {
    let path = path.as_ref();
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
        for (name, value) in opt.hyper_parameters() {
            if !value.is_finite() {
                return Err(Error::Checkpoint(format!(
                    "{shown}: optimizer hyper-parameter `{name}`: expected a finite value, \
                     found {value}"
                )));
            }
            metadata.insert(format!("{HYPER_PREFIX}{name}"), value.to_string());
        }
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
///
/// The optimizer gets the saved hyper-parameters too ([`Optimizer::set_hyper_parameters`]:
/// learning rate, betas, epsilon, weight decays), as PyTorch's `load_state_dict` does: set them
/// after loading to train on with others. A checkpoint saved before hyper-parameters were
/// recorded leaves the optimizer's own.
pub fn load_checkpoint<F: Float>(
    path: impl AsRef<Path>,
    model: &mut dyn Checkpointable<F>,
    optimizer: Option<&mut dyn Optimizer<F>>,
) -> Result<CheckpointMetadata> {
    let path = path.as_ref();
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
        let mut hyper: Vec<(&str, f64)> = Vec::new();
        for (key, text) in &file.metadata {
            if let Some(name) = key.strip_prefix(HYPER_PREFIX) {
                match text.parse::<f64>() {
                    Ok(v) if v.is_finite() => hyper.push((name, v)),
                    _ => {
                        return Err(Error::Checkpoint(format!(
                            "{shown}: optimizer hyper-parameter `{name}`: expected a finite \
                             number, found `{text}`"
                        )))
                    }
                }
            }
        }
        // Load, check against the model, and put the old state back on any error.
        let old = opt.state();
        let old_hyper = opt.hyper_parameters();
        let loaded = opt
            .set_hyper_parameters(&hyper)
            .and_then(|()| opt.load_state(&state))
            .and_then(|()| opt.check_fits(params_of(&*model)));
        if let Err(e) = loaded {
            opt.set_hyper_parameters(&old_hyper)
                .expect("an optimizer takes back its own hyper-parameters");
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::checkpoint::tests::{temp_path, write_unchecked};
    use crate::training::optim::{Adam, Sgd};

    /// A model of named tensors with a fixed description.
    #[derive(Debug, Clone, PartialEq)]
    struct Toy {
        p: NamedTensors<f64>,
        parts: Vec<(String, String)>,
    }

    impl Parameters<f64> for Toy {
        fn tensors(&self) -> Vec<(String, &[f64])> {
            self.p.tensors()
        }
        fn tensors_mut(&mut self) -> Vec<(String, &mut [f64])> {
            self.p.tensors_mut()
        }
    }

    impl Checkpointable<f64> for Toy {
        fn describe(&self) -> Vec<(String, String)> {
            self.parts.clone()
        }
    }

    fn toy(seed: f64) -> Toy {
        let mut p = NamedTensors::new();
        p.push("w", ndarray::arr1(&[seed, 2.0, -1.0]).into_dyn().view());
        p.push("b", ndarray::arr1(&[0.5 * seed]).into_dyn().view());
        Toy {
            p,
            parts: vec![("layer0".into(), "Toy [3] spec:1".into())],
        }
    }

    fn grads() -> NamedTensors<f64> {
        let mut g = toy(0.0).p;
        g.tensors[0].1.fill(0.25);
        g.tensors[1].1.fill(-0.5);
        g
    }

    fn none() -> BTreeMap<String, String> {
        BTreeMap::new()
    }

    #[test]
    fn save_checkpoint_refuses_reserved_extra_keys_and_every_saved_key_loads() {
        let path = temp_path("ckpt-keys");
        for key in [
            "model.layer0",
            "model.param_names",
            "model.note",
            "optimizer.kind",
            "optimizer.anything",
            crate::io::checkpoint::CHECKSUM_KEY,
            crate::io::checkpoint::FORMAT_KEY,
        ] {
            let extra = BTreeMap::from([(key.to_string(), "x".to_string())]);
            let text = save_checkpoint(&path, &toy(1.0), None, &extra)
                .unwrap_err()
                .to_string();
            assert!(text.contains(key) && text.contains("reserved"), "{text}");
            assert!(!path.exists(), "{key}: nothing written");
        }
        let extra: BTreeMap<String, String> = [
            ("epoch", "3"),
            ("", "empty key"),
            ("model", "no dot"),
            ("models.x", "y"),
            ("optimizer", "z"),
            ("rnn.note", "n"),
            ("__metadata__", "m"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let mut adam = Adam::new(1e-2);
        let mut model = toy(1.0);
        adam.step(&mut model, &grads()).unwrap();
        save_checkpoint(&path, &model, Some(&adam), &extra).unwrap();
        let mut loaded = toy(7.0);
        let mut adam2 = Adam::new(1e-2);
        let meta = load_checkpoint(&path, &mut loaded, Some(&mut adam2)).unwrap();
        assert_eq!(meta, extra);
        assert_eq!(loaded, model);
        // The file sorts the state by name; the next step puts it back in the model's order.
        adam.step(&mut model, &grads()).unwrap();
        adam2.step(&mut loaded, &grads()).unwrap();
        assert_eq!(loaded, model);
        assert_eq!(adam2.state(), adam.state());
    }

    #[test]
    fn checkpoints_restore_the_optimizers_hyper_parameters_and_old_files_load() {
        let path = temp_path("ckpt-hyper");
        let mut adam = Adam::new(3e-3)
            .with_betas(0.8, 0.95)
            .with_epsilon(1e-6)
            .with_weight_decay(1e-4)
            .with_decoupled_weight_decay(0.05);
        let mut model = toy(1.0);
        adam.step(&mut model, &grads()).unwrap();
        save_checkpoint(&path, &model, Some(&adam), &none()).unwrap();
        let mut loaded = toy(7.0);
        let mut fresh = Adam::new(1e-2);
        // A path of any type: a `String` here.
        load_checkpoint(path.display().to_string(), &mut loaded, Some(&mut fresh)).unwrap();
        assert_eq!(fresh.hyper_parameters(), adam.hyper_parameters());
        assert_eq!(fresh.betas(), (0.8, 0.95));
        assert_eq!(fresh.epsilon(), 1e-6);
        assert_eq!(
            (fresh.lr, fresh.weight_decay, fresh.decoupled_weight_decay),
            (3e-3, 1e-4, 0.05)
        );
        // Training goes on as if it had not stopped.
        adam.step(&mut model, &grads()).unwrap();
        fresh.step(&mut loaded, &grads()).unwrap();
        assert_eq!(loaded, model);
        assert_eq!(fresh.state(), adam.state());
        // Sgd's too.
        let sgd = Sgd::new(0.05, 0.5).with_weight_decay(1e-3);
        save_checkpoint(&path, &model, Some(&sgd), &none()).unwrap();
        let mut sgd2 = Sgd::new(0.1, 0.9);
        load_checkpoint(&path, &mut toy(1.0), Some(&mut sgd2)).unwrap();
        assert_eq!(
            (sgd2.lr, sgd2.momentum, sgd2.weight_decay),
            (0.05, 0.5, 1e-3)
        );

        // A checkpoint written before hyper-parameters were saved: the optimizer keeps its own.
        save_checkpoint(&path, &model, Some(&adam), &none()).unwrap();
        let file = load_tensors::<f64>(&path).unwrap();
        let mut old_meta = file.metadata.clone();
        old_meta.retain(|k, _| !k.starts_with(HYPER_PREFIX));
        write_unchecked(&path, &file.tensors, &old_meta);
        let mut mine = Adam::new(5e-4).with_betas(0.5, 0.9);
        load_checkpoint(&path, &mut toy(1.0), Some(&mut mine)).unwrap();
        assert_eq!((mine.lr, mine.betas()), (5e-4, (0.5, 0.9)));
        assert_eq!(mine.steps(), 2);

        // An unknown or unreadable hyper-parameter is an error and changes nothing.
        for (key, value) in [
            ("optimizer.hyper.momentum", "0.9"),
            ("optimizer.hyper.lr", "fast"),
            ("optimizer.hyper.lr", "NaN"),
        ] {
            let mut meta = file.metadata.clone();
            meta.insert(key.into(), value.into());
            write_unchecked(&path, &file.tensors, &meta);
            let mut opt = Adam::new(5e-4);
            let mut m = toy(2.0);
            let text = load_checkpoint(&path, &mut m, Some(&mut opt))
                .unwrap_err()
                .to_string();
            assert!(text.contains(&key[HYPER_PREFIX.len()..]), "{text}");
            assert_eq!((opt.lr, opt.steps()), (5e-4, 0));
            assert_eq!(
                opt.hyper_parameters(),
                Adam::<f64>::new(5e-4).hyper_parameters()
            );
            assert_eq!(m, toy(2.0));
        }
        // A non-finite hyper-parameter is refused at save.
        let mut bad = Adam::new(1e-3);
        bad.eps = f64::INFINITY;
        let text = save_checkpoint(&path, &toy(1.0), Some(&bad), &none())
            .unwrap_err()
            .to_string();
        assert!(text.contains("`eps`"), "{text}");
    }

    #[test]
    fn a_description_part_named_twice_or_param_names_is_refused_at_save() {
        let path = temp_path("ckpt-parts");
        let mut model = toy(1.0);
        model.parts.push(("layer0".into(), "another".into()));
        assert!(save_checkpoint(&path, &model, None, &none()).is_err());
        model.parts = vec![("param_names".into(), "w".into())];
        assert!(save_checkpoint(&path, &model, None, &none()).is_err());
        assert!(!path.exists());
        // An empty description saves and loads.
        model.parts.clear();
        save_checkpoint(&path, &model, None, &none()).unwrap();
        let mut other = toy(5.0);
        other.parts.clear();
        load_checkpoint(&path, &mut other, None).unwrap();
        assert_eq!(other, model);
    }

    #[test]
    fn a_fresh_sgd_saved_with_its_checkpoint_loads() {
        let path = temp_path("ckpt-fresh-sgd");
        let fresh = Sgd::new(0.1, 0.9);
        save_checkpoint(&path, &toy(1.0), Some(&fresh), &none()).unwrap();
        let mut model = toy(2.0);
        let mut sgd = Sgd::new(0.1, 0.9);
        sgd.step(&mut toy(3.0), &grads()).unwrap();
        load_checkpoint(&path, &mut model, Some(&mut sgd)).unwrap();
        assert_eq!(model, toy(1.0));
        assert!(sgd.state().is_empty(), "the fresh state was restored");
        // A fresh Adam too.
        save_checkpoint(&path, &toy(1.0), Some(&Adam::new(1e-3)), &none()).unwrap();
        let mut adam = Adam::new(1e-3);
        load_checkpoint(&path, &mut model, Some(&mut adam)).unwrap();
        assert_eq!(adam.steps(), 0);
    }

    #[test]
    fn an_adam_checkpoint_does_not_load_into_sgd_and_changes_nothing() {
        let path = temp_path("ckpt-kind");
        let mut adam = Adam::new(1e-2);
        let mut saved = toy(1.0);
        adam.step(&mut saved, &grads()).unwrap();
        save_checkpoint(&path, &saved, Some(&adam), &none()).unwrap();
        let mut model = toy(2.0);
        let mut sgd = Sgd::new(0.1, 0.9);
        sgd.step(&mut toy(2.0), &grads()).unwrap();
        let state = sgd.state();
        let text = load_checkpoint(&path, &mut model, Some(&mut sgd))
            .unwrap_err()
            .to_string();
        assert!(text.contains("`adam`") && text.contains("`sgd`"), "{text}");
        assert_eq!(model, toy(2.0));
        assert_eq!(sgd.state(), state);
        // And the other way round, from a fresh Sgd (no optimizer tensors at all).
        save_checkpoint(&path, &saved, Some(&Sgd::new(0.1, 0.0)), &none()).unwrap();
        let mut adam2 = Adam::new(1e-2);
        assert!(load_checkpoint(&path, &mut model, Some(&mut adam2)).is_err());
        assert_eq!(adam2.steps(), 0);
        assert_eq!(model, toy(2.0));
    }

    #[test]
    fn an_optimizer_stepped_on_another_model_is_refused_at_save() {
        let path = temp_path("ckpt-fit");
        let mut other = toy(1.0);
        other.p.tensors[0].0 = "u".into();
        let mut other_grads = grads();
        other_grads.tensors[0].0 = "u".into();
        let mut adam = Adam::new(1e-2);
        adam.step(&mut other, &other_grads).unwrap();
        let text = save_checkpoint(&path, &toy(1.0), Some(&adam), &none())
            .unwrap_err()
            .to_string();
        assert!(text.contains("does not fit the model"), "{text}");
        assert!(!path.exists());
    }

    #[test]
    fn load_checkpoint_restores_the_optimizer_when_the_state_does_not_fit() {
        // A file whose optimizer state belongs to another model (not writable by
        // save_checkpoint, which refuses it).
        let path = temp_path("ckpt-restore");
        save_checkpoint(&path, &toy(1.0), None, &none()).unwrap();
        let file = load_tensors::<f64>(&path).unwrap();
        let mut tensors = file.tensors.clone();
        let mut meta = file.metadata.clone();
        meta.insert(OPTIMIZER_KIND_KEY.into(), "sgd".into());
        tensors.push((
            "optimizer.sgd.velocity.u".into(),
            ArrayD::zeros(IxDyn(&[3])),
        ));
        write_unchecked(&path, &tensors, &meta);
        let mut model = toy(2.0);
        let mut sgd = Sgd::new(0.1, 0.9);
        sgd.step(&mut toy(2.0), &grads()).unwrap();
        let state = sgd.state();
        assert!(load_checkpoint(&path, &mut model, Some(&mut sgd)).is_err());
        assert_eq!(sgd.state(), state);
        assert_eq!(model, toy(2.0));
    }

    #[test]
    fn checkpoints_refuse_non_finite_values_naming_them() {
        let path = temp_path("ckpt-nan");
        let mut bad = toy(1.0);
        bad.p.tensors[0].1[2] = f64::NAN;
        let text = save_checkpoint(&path, &bad, None, &none())
            .unwrap_err()
            .to_string();
        assert!(text.contains("`w`") && text.contains("NaN"), "{text}");
        assert!(!path.exists());
        // A file with a NaN (of an older version, or written by another tool).
        save_checkpoint(&path, &toy(1.0), None, &none()).unwrap();
        let file = load_tensors::<f64>(&path).unwrap();
        let mut tensors = file.tensors.clone();
        let k = tensors.iter().position(|(n, _)| n == "param.w").unwrap();
        tensors[k].1[[2]] = f64::INFINITY;
        write_unchecked(&path, &tensors, &file.metadata);
        let mut model = toy(2.0);
        let text = load_checkpoint(&path, &mut model, None)
            .unwrap_err()
            .to_string();
        assert!(
            text.contains("`param.w`") && text.contains("[2]") && text.contains("inf"),
            "{text}"
        );
        assert_eq!(model, toy(2.0));
        // A non-finite optimizer state is refused at save.
        let mut adam = Adam::new(1e30);
        let mut huge = toy(1.0);
        let mut g = grads();
        g.tensors[0].1.fill(1e300);
        adam.step(&mut huge, &g).unwrap();
        assert!(adam
            .state()
            .tensors
            .iter()
            .any(|(_, v)| v.iter().any(|x| !x.is_finite())));
        let text = save_checkpoint(&path, &toy(1.0), Some(&adam), &none())
            .unwrap_err()
            .to_string();
        assert!(text.contains("optimizer state"), "{text}");
    }
}
