//! What every rank must hold alike: the model's description (layers, cells, dimensions, spec
//! fingerprints), its parameters' names and sizes, and the float type; compared with rank 0's
//! before anything else is exchanged.

use crate::{Checkpointable, Float};

/// The identity of `model` as lines of text, one per description part and parameter.
pub(crate) fn describe<F: Float>(model: &dyn Checkpointable<F>) -> Vec<String> {
    let mut lines = vec![format!("float: {}", std::any::type_name::<F>())];
    for (part, description) in model.describe() {
        lines.push(format!("model {part}: {description}"));
    }
    for (name, values) in model.tensors() {
        lines.push(format!("parameter {name}: {} values", values.len()));
    }
    lines
}

/// The first line where `ours` differs from `root`'s, said for a message: `None` when equal.
pub(crate) fn first_difference(root: &[String], ours: &[String]) -> Option<String> {
    let missing = "(nothing)".to_string();
    (0..root.len().max(ours.len())).find_map(|i| {
        let (a, b) = (
            root.get(i).unwrap_or(&missing),
            ours.get(i).unwrap_or(&missing),
        );
        (a != b).then(|| format!("rank 0 has `{a}`, this rank has `{b}`"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_differing_line_is_named() {
        let l = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(first_difference(&l(&["a", "b"]), &l(&["a", "b"])), None);
        assert_eq!(
            first_difference(&l(&["a", "b"]), &l(&["a", "c"])).unwrap(),
            "rank 0 has `b`, this rank has `c`"
        );
        assert_eq!(
            first_difference(&l(&["a"]), &l(&["a", "c"])).unwrap(),
            "rank 0 has `(nothing)`, this rank has `c`"
        );
    }
}
