use ndarray::{Array2, ArrayView2, ArrayViewMut2};

use crate::core::cell::CellSpec;
use crate::core::error::{Error, Result};
use crate::kernels::float::Float;

/// The recurrent states of a batch, by the DSL's state names: for each state `h: [H]` its value
/// `[B, H]`, and, for a state read with delays up to `D > 1` (`h[t-D]`), its history: the `D - 1`
/// earlier values, most recent first. A cell that reads its input with a delay (`x[t-k]`, up to
/// `K = spec.input_delay`) also carries its last `K` inputs, most recent first, so that a
/// sequence run at once, step by step, or in chained chunks gives the same numbers.
///
/// Used for initial states (forward input), final states (forward output) and their gradients.
#[derive(Debug, Clone, PartialEq)]
pub struct States<F> {
    spec: &'static CellSpec,
    /// One `[B, size]` array per state, in declaration order.
    pub values: Vec<Array2<F>>,
    /// Per state, its `delay - 1` earlier values `[B, size]`, most recent first.
    pub history: Vec<Vec<Array2<F>>>,
    /// The input history: the `K` inputs before the current step, `x[t-1], x[t-2], ...`, each
    /// `[B, I]` (empty when the cell reads no delayed input). Zeros before a sequence starts.
    pub inputs: Vec<Array2<F>>,
}

impl<F: Float> States<F> {
    /// Zero states (and history) for `batch` examples; `sizes` are the states' feature sizes and
    /// `input_size` the input's (for the input history).
    pub fn zeros(
        spec: &'static CellSpec,
        input_size: usize,
        sizes: &[usize],
        batch: usize,
    ) -> Self {
        let values = sizes.iter().map(|&n| Array2::zeros((batch, n))).collect();
        let history = spec
            .states
            .iter()
            .zip(sizes)
            .map(|(s, &n)| (1..s.delay).map(|_| Array2::zeros((batch, n))).collect())
            .collect();
        let inputs = (0..spec.input_delay)
            .map(|_| Array2::zeros((batch, input_size)))
            .collect();
        States {
            spec,
            values,
            history,
            inputs,
        }
    }

    /// Builds states from arrays (values, state histories, input history); shapes are checked
    /// when a cell uses them.
    pub fn from_parts(
        spec: &'static CellSpec,
        values: Vec<Array2<F>>,
        history: Vec<Vec<Array2<F>>>,
        inputs: Vec<Array2<F>>,
    ) -> Self {
        States {
            spec,
            values,
            history,
            inputs,
        }
    }

    /// The cell these states belong to.
    pub fn spec(&self) -> &'static CellSpec {
        self.spec
    }

    fn index_of(&self, name: &str) -> Result<usize> {
        self.spec
            .states
            .iter()
            .position(|s| s.name == name)
            .ok_or_else(|| Error::UnknownName {
                kind: "state",
                name: name.to_string(),
                known: self.spec.states.iter().map(|s| s.name).collect(),
            })
    }

    /// The state called `name`, `[B, size]`.
    pub fn get(&self, name: &str) -> Result<ArrayView2<'_, F>> {
        Ok(self.values[self.index_of(name)?].view())
    }

    /// The state called `name`, mutably.
    pub fn get_mut(&mut self, name: &str) -> Result<ArrayViewMut2<'_, F>> {
        let i = self.index_of(name)?;
        Ok(self.values[i].view_mut())
    }

    /// The history of the state called `name` (`h[t-2], h[t-3], ...`), each `[B, size]`.
    pub fn history(&self, name: &str) -> Result<&[Array2<F>]> {
        Ok(&self.history[self.index_of(name)?])
    }

    /// The input history (`x[t-1], x[t-2], ...`), each `[B, I]`.
    pub fn input_history(&self) -> &[Array2<F>] {
        &self.inputs
    }

    /// Every array (values, then each state's history, then the input history), for generic
    /// code such as gradient checks.
    pub fn arrays_mut(&mut self) -> impl Iterator<Item = &mut Array2<F>> {
        self.values
            .iter_mut()
            .chain(self.history.iter_mut().flatten())
            .chain(self.inputs.iter_mut())
    }

    /// Every array, in the order of [`States::arrays_mut`].
    pub fn arrays(&self) -> impl Iterator<Item = &Array2<F>> {
        self.values
            .iter()
            .chain(self.history.iter().flatten())
            .chain(self.inputs.iter())
    }

    /// Number of examples.
    pub fn batch(&self) -> usize {
        self.values
            .first()
            .or(self.inputs.first())
            .map_or(0, |v| v.nrows())
    }
}
