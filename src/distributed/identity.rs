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

/// Where `ours` differs from `root`'s (two different descriptions), said for a message: the
/// first line that differs.
pub(crate) fn first_difference(root: &str, ours: &str) -> String {
    let (mut a, mut b) = (root.split('\n'), ours.split('\n'));
    loop {
        match (a.next(), b.next()) {
            (Some(x), Some(y)) if x == y => continue,
            (x, y) => {
                return format!(
                    "rank 0 has `{}`, this rank has `{}`",
                    x.unwrap_or("(nothing)"),
                    y.unwrap_or("(nothing)")
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_differing_line_is_named() {
        assert_eq!(
            first_difference("a\nb", "a\nc"),
            "rank 0 has `b`, this rank has `c`"
        );
        assert_eq!(
            first_difference("a", "a\nc"),
            "rank 0 has `(nothing)`, this rank has `c`"
        );
    }
}
