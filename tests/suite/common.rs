//! What the reference-agreement tests share: reading the reference files and comparing.

use ndarray::{ArrayD, ArrayViewD, IxDyn};
use serde_json::Value;

/// Largest absolute difference allowed between our values and a reference's.
pub const TOL: f64 = 1e-10;

/// A nested JSON list of numbers as an array.
pub fn array(v: &Value) -> ArrayD<f64> {
    let mut shape = Vec::new();
    let mut cur = v;
    while let Value::Array(items) = cur {
        shape.push(items.len());
        match items.first() {
            Some(first) => cur = first,
            None => break,
        }
    }
    fn flatten(v: &Value, out: &mut Vec<f64>) {
        match v {
            Value::Array(items) => items.iter().for_each(|i| flatten(i, out)),
            Value::Number(n) => out.push(n.as_f64().expect("a finite number")),
            other => panic!("expected a number, found {other}"),
        }
    }
    let mut data = Vec::new();
    flatten(v, &mut data);
    ArrayD::from_shape_vec(IxDyn(&shape), data).expect("a rectangular nested list")
}

/// The largest absolute difference of every compared quantity.
/// Compares against the implementation called `reference` (for messages).
pub struct Report {
    reference: &'static str,
    diffs: Vec<(String, f64)>,
}

impl Report {
    /// An empty report against `reference`.
    pub fn new(reference: &'static str) -> Self {
        Report {
            reference,
            diffs: vec![],
        }
    }

    /// Records the largest absolute difference of `what`.
    pub fn compare(
        &mut self,
        what: impl Into<String>,
        ours: ArrayViewD<'_, f64>,
        theirs: ArrayViewD<'_, f64>,
    ) {
        let what = what.into();
        assert_eq!(
            ours.shape(),
            theirs.shape(),
            "{what}: our shape differs from {}'s",
            self.reference
        );
        let diff = ours
            .iter()
            .zip(theirs.iter())
            .map(|(a, b)| {
                assert!(a.is_finite(), "{what}: non-finite value {a}");
                (a - b).abs()
            })
            .fold(0.0, f64::max);
        self.diffs.push((what, diff));
    }

    /// Prints every difference and fails if one exceeds [`TOL`].
    pub fn finish(self, case: &str) {
        // One print per case, so that the tests' reports do not interleave.
        let width = self.diffs.iter().map(|(w, _)| w.len()).max().unwrap_or(0);
        let mut text = String::new();
        for (what, diff) in &self.diffs {
            text += &format!(
                "{case}: {what:width$}  max |ours - {}| = {diff:.3e}\n",
                self.reference
            );
        }
        let (worst, largest) = self
            .diffs
            .iter()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .expect("something was compared");
        text += &format!("{case}: largest difference {largest:.3e} ({worst}), tolerance {TOL:e}");
        println!("{text}");
        let failed: Vec<_> = self
            .diffs
            .iter()
            .filter(|(_, d)| d.is_nan() || *d > TOL)
            .collect();
        assert!(
            failed.is_empty(),
            "{case}: differences above {TOL:e}: {failed:?}"
        );
    }
}
