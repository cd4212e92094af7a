use ndarray::{Array2, ArrayView2, ArrayViewMut2};

use crate::core::cell::CellSpec;
use crate::core::dyn_cell::DynCell;
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

    /// The state called `name`, `[B, size]`; or any entry by the names of
    /// [`States::entry_names`] (`h[t-2]` of a state's history, `x[t-1]` of the input history).
    pub fn get(&self, name: &str) -> Result<ArrayView2<'_, F>> {
        let slot = self.locate(name)?;
        Ok(self.slot(slot, name)?.view())
    }

    /// The state (or entry) called `name`, mutably.
    pub fn get_mut(&mut self, name: &str) -> Result<ArrayViewMut2<'_, F>> {
        let slot = self.locate(name)?;
        Ok(self.slot_mut(slot, name)?.view_mut())
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

/// Where an entry of [`States`] lives: a state's value, an entry of its history, an entry of
/// the input history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Value(usize),
    History(usize, usize),
    Input(usize),
}

/// One state of a cell, typed: its value `[B, size]` and its history (each `[B, size]`, most
/// recent first; empty for a state read only as `h[t-1]`). A field of the `<Name>States` view
/// that `rnn_cell!` generates per cell (`LstmStates::of(&states)?.c`); it dereferences to the
/// value.
#[derive(Debug, Clone)]
pub struct StateView<'a, F> {
    /// The value `[B, size]`: in initial states what the first step reads as `h[t-1]`, in
    /// final states the value after each example's last step.
    pub value: ArrayView2<'a, F>,
    /// The `D - 1` earlier values `h[t-2], h[t-3], ...` of a state read with delays up to `D`,
    /// each `[B, size]`, most recent first.
    pub history: &'a [Array2<F>],
}

impl<'a, F> std::ops::Deref for StateView<'a, F> {
    type Target = ArrayView2<'a, F>;
    fn deref(&self) -> &Self::Target {
        &self.value
    }
}

/// [`StateView`], mutably: a field of the `<Name>StatesMut` view that `rnn_cell!` generates per
/// cell (`LstmStatesMut::of(&mut states)?.c.fill(0.5)`); it dereferences to the value.
#[derive(Debug)]
pub struct StateViewMut<'a, F> {
    /// The value `[B, size]`.
    pub value: ArrayViewMut2<'a, F>,
    /// The earlier values `h[t-2], h[t-3], ...`, each `[B, size]`, most recent first. Their
    /// shapes are checked when a cell reads them.
    pub history: &'a mut [Array2<F>],
}

impl<'a, F> std::ops::Deref for StateViewMut<'a, F> {
    type Target = ArrayViewMut2<'a, F>;
    fn deref(&self) -> &Self::Target {
        &self.value
    }
}

impl<F> std::ops::DerefMut for StateViewMut<'_, F> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.value
    }
}

impl<F: Float> States<F> {
    /// Every entry's name, in the order of [`States::arrays`], as the cell's equations read
    /// them at the next step: each state's value (`h`, which is `h[t-1]` for that step), then
    /// each state's history (`h[t-2]`, `h[t-3]`, ...), then the input history (`x[t-1]`,
    /// `x[t-2]`, ...). The names [`States::set`], [`States::get`] and [`States::from_named`]
    /// take.
    pub fn entry_names(&self) -> Vec<String> {
        let spec = self.spec;
        let mut names: Vec<String> = spec.states.iter().map(|s| s.name.to_string()).collect();
        for s in spec.states {
            names.extend((2..=s.delay).map(|k| format!("{}[t-{k}]", s.name)));
        }
        let x = spec.input.0;
        names.extend((1..=spec.input_delay).map(|k| format!("{x}[t-{k}]")));
        names
    }

    /// The entries' names with their shapes (`h [2, 4], h[t-2] [2, 4], x[t-1] [2, 3]`), for
    /// error messages.
    fn expected_entries(&self) -> String {
        self.entry_names()
            .iter()
            .map(|n| match self.locate(n).and_then(|s| self.slot(s, n)) {
                Ok(a) => format!("{n} {:?}", a.shape()),
                Err(_) => n.clone(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Where the entry called `name` lives: `h` or `h[t-1]` (a state's value), `h[t-k]` for
    /// `k >= 2` (its history), `x[t-k]` for `k >= 1` (the input history). Spaces are ignored.
    fn locate(&self, name: &str) -> Result<Slot> {
        let spec = self.spec;
        let compact: String = name.chars().filter(|c| !c.is_whitespace()).collect();
        let (base, delay) = match compact.split_once('[') {
            None => (compact.as_str(), None),
            Some((base, rest)) => {
                let k = rest
                    .strip_suffix(']')
                    .and_then(|r| r.strip_prefix("t-"))
                    .and_then(|k| k.parse::<usize>().ok())
                    .filter(|&k| k >= 1);
                match k {
                    Some(k) => (base, Some(k)),
                    None => {
                        return Err(Error::Invalid(format!(
                            "state entry `{name}`: expected a name such as `h` or `h[t-2]`; the \
                             entries of these `{}` states are {}",
                            spec.name,
                            self.entry_names().join(", ")
                        )))
                    }
                }
            }
        };
        let unknown = || {
            Error::Invalid(format!(
                "state entry `{name}`: the `{}` states have no such entry; expected one of {}",
                spec.name,
                self.entry_names().join(", ")
            ))
        };
        if let Some(i) = spec.states.iter().position(|s| s.name == base) {
            return match delay {
                None | Some(1) => Ok(Slot::Value(i)),
                Some(k) if k <= spec.states[i].delay => Ok(Slot::History(i, k - 2)),
                Some(_) => Err(unknown()),
            };
        }
        if base == spec.input.0 {
            return match delay {
                Some(k) if k <= spec.input_delay => Ok(Slot::Input(k - 1)),
                _ => Err(unknown()),
            };
        }
        match delay {
            // A plain unknown name: as `get` has always answered.
            None => Err(Error::UnknownName {
                kind: "state",
                name: name.to_string(),
                known: spec.states.iter().map(|s| s.name).collect(),
            }),
            Some(_) => Err(unknown()),
        }
    }

    /// The array at `slot`; an error (not a panic) when the states were built with fewer arrays
    /// than their cell's spec declares (e.g. by [`States::from_parts`]).
    fn slot(&self, slot: Slot, name: &str) -> Result<&Array2<F>> {
        let found = match slot {
            Slot::Value(i) => self.values.get(i),
            Slot::History(i, j) => self.history.get(i).and_then(|h| h.get(j)),
            Slot::Input(k) => self.inputs.get(k),
        };
        found.ok_or_else(|| self.missing_array(name))
    }

    fn slot_mut(&mut self, slot: Slot, name: &str) -> Result<&mut Array2<F>> {
        if self.slot(slot, name).is_err() {
            return Err(self.missing_array(name));
        }
        Ok(match slot {
            Slot::Value(i) => &mut self.values[i],
            Slot::History(i, j) => &mut self.history[i][j],
            Slot::Input(k) => &mut self.inputs[k],
        })
    }

    fn missing_array(&self, name: &str) -> Error {
        Error::Invalid(format!(
            "state entry `{name}`: these `{}` states hold {} values, {:?} history entries and {} \
             inputs; expected {} values, {:?} history entries and {} inputs (as the cell's \
             spec declares)",
            self.spec.name,
            self.values.len(),
            self.history.iter().map(Vec::len).collect::<Vec<_>>(),
            self.inputs.len(),
            self.spec.states.len(),
            self.spec
                .states
                .iter()
                .map(|s| s.delay - 1)
                .collect::<Vec<_>>(),
            self.spec.input_delay
        ))
    }

    /// Overwrites the entry called `name` (see [`States::entry_names`]: `h`, `h[t-2]`,
    /// `x[t-1]`, ...) with `value`, which must have the entry's shape `[B, size]`.
    ///
    /// Errors: an unknown entry (the message lists the entries there are), or a shape other
    /// than the entry's ([`Error::Shape`], naming both).
    ///
    /// ```
    /// # use rnn_runtime::{Cell, Result};
    /// # use rnn_runtime::ndarray::Array2;
    /// # fn demo<C: Cell<f64>>(cell: &C) -> Result<()> {
    /// // A cell with states `h: [H]` read as h[t-2] and an input read as x[t-1], H = 4, I = 3.
    /// let mut init = cell.zero_states(2);
    /// init.set("h", Array2::from_elem((2, 4), 0.5).view())?; // what the first step reads as h[t-1]
    /// init.set("h[t-2]", Array2::from_elem((2, 4), 0.25).view())?;
    /// init.set("x[t-1]", Array2::from_elem((2, 3), 1.0).view())?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn set(&mut self, name: &str, value: ArrayView2<'_, F>) -> Result<()> {
        let slot = self.locate(name)?;
        let target = self.slot_mut(slot, name)?;
        if target.shape() != value.shape() {
            let (b, n) = target.dim();
            return Err(Error::shape(
                format!("state entry `{name}`"),
                format!("[{b}, {n}] (batch, size)"),
                value.shape(),
            ));
        }
        target.assign(&value);
        Ok(())
    }

    /// States of `cell` from named arrays, e.g. `[("h", h0), ("c", c0)]` for an LSTM: every
    /// entry of [`States::entry_names`] exactly once (each state's value, its history
    /// `h[t-2], ...` when the cell reads `h[t-k]` with `k > 1`, the input history `x[t-1], ...`
    /// when it reads `x[t-k]`), each `[B, size]` with the same `B` (taken from the first
    /// array). For partial states, start from [`crate::Cell::zero_states`] and [`States::set`]
    /// the entries you have.
    ///
    /// Errors: no arrays, an unknown entry or one given twice, a missing entry (the message
    /// lists the missing and the expected entries with their shapes), a shape other than the
    /// entry's ([`Error::Shape`], naming both).
    ///
    /// ```
    /// # use rnn_runtime::{Cell, DynCell, Result, States};
    /// # use rnn_runtime::ndarray::Array2;
    /// # fn demo<C: Cell<f32> + DynCell<f32>>(lstm: &C) -> Result<()> {
    /// // An LSTM with H = 4, two examples.
    /// let (h0, c0) = (Array2::<f32>::zeros((2, 4)), Array2::<f32>::ones((2, 4)));
    /// let init = States::from_named(lstm, &[("h", h0.view()), ("c", c0.view())])?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_named<C: DynCell<F> + ?Sized>(
        cell: &C,
        named: &[(&str, ArrayView2<'_, F>)],
    ) -> Result<Self> {
        let Some((_, first)) = named.first() else {
            let zero = cell.zero_states(0);
            return Err(Error::Invalid(format!(
                "States::from_named: expected the entries of a `{}`: {}, each [B, size]; found \
                 none",
                zero.spec.name,
                zero.expected_entries()
            )));
        };
        let mut states = cell.zero_states(first.nrows());
        let mut given: Vec<Slot> = Vec::with_capacity(named.len());
        for (name, value) in named {
            let slot = states.locate(name)?;
            if given.contains(&slot) {
                return Err(Error::Invalid(format!(
                    "States::from_named: entry `{name}` given twice; expected each of {} once",
                    states.entry_names().join(", ")
                )));
            }
            states.set(name, value.view())?;
            given.push(slot);
        }
        let missing: Vec<String> = states
            .entry_names()
            .into_iter()
            .filter(|n| states.locate(n).map_or(true, |s| !given.contains(&s)))
            .collect();
        if !missing.is_empty() {
            return Err(Error::Invalid(format!(
                "States::from_named: missing {} (for `Cell::zero_states` plus `States::set` \
                 instead, the entries not set stay zero); expected every entry of a `{}`: {}",
                missing.join(", "),
                states.spec.name,
                states.expected_entries()
            )));
        }
        Ok(states)
    }
}

/// Whether `a` and `b` describe the same cell (the same static, or equal name and
/// fingerprint).
pub(crate) fn same_cell(a: &CellSpec, b: &CellSpec) -> bool {
    std::ptr::eq(a, b) || (a.name == b.name && a.fingerprint() == b.fingerprint())
}

/// Checks that `states` belong to the cell of `spec` and hold one array per state, and
/// returns each state's typed view, in declaration order (for the generated `<Name>States`;
/// reached through `__private`).
pub fn state_views<'a, F: Float>(
    states: &'a States<F>,
    spec: &'static CellSpec,
) -> Result<Vec<StateView<'a, F>>> {
    check_views(states.spec, states.values.len(), states.history.len(), spec)?;
    Ok(states
        .values
        .iter()
        .zip(&states.history)
        .map(|(v, h)| StateView {
            value: v.view(),
            history: &h[..],
        })
        .collect())
}

/// [`state_views`], mutably.
pub fn state_views_mut<'a, F: Float>(
    states: &'a mut States<F>,
    spec: &'static CellSpec,
) -> Result<Vec<StateViewMut<'a, F>>> {
    check_views(states.spec, states.values.len(), states.history.len(), spec)?;
    Ok(states
        .values
        .iter_mut()
        .zip(&mut states.history)
        .map(|(v, h)| StateViewMut {
            value: v.view_mut(),
            history: &mut h[..],
        })
        .collect())
}

fn check_views(
    have: &'static CellSpec,
    values: usize,
    history: usize,
    spec: &'static CellSpec,
) -> Result<()> {
    if !same_cell(have, spec) {
        return Err(Error::Invalid(format!(
            "{}States::of: expected the states of a `{}`, found those of a `{}`",
            spec.name, spec.name, have.name
        )));
    }
    let n = spec.states.len();
    if values != n || history != n {
        return Err(Error::Invalid(format!(
            "{}States::of: expected {n} state values and {n} histories (one per state: {}), \
             found {values} values and {history} histories",
            spec.name,
            spec.states
                .iter()
                .map(|s| s.name)
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(())
}
