use std::sync::atomic::{AtomicU64, Ordering};

use ndarray::{ArrayD, ArrayView, ArrayViewD, ArrayViewMutD, Dimension, IxDyn};
use rand::Rng;

use crate::core::cell::ParamSpec;
use crate::core::error::{Error, Result};
use crate::core::tensors::Parameters;
use crate::kernels::float::Float;

/// The parameters of a cell (or their gradients), by the DSL's names, each in the spec's
/// `[in, out]` layout: a matrix `W: [I, H]` is an `I x H` array, a vector `b: [H]` has length H.
///
/// Every set has an identity ([`ParamSet::id`], new for each set and each clone) and a
/// generation ([`ParamSet::generation`]) that every mutable access advances: a forward pass
/// records both in its trace, so that `backward` can refuse a trace made with other values.
#[derive(Debug)]
pub struct ParamSet<F> {
    specs: &'static [ParamSpec],
    values: Vec<ArrayD<F>>,
    id: u64,
    generation: u64,
    /// `generation + 1` of the last scan that found every entry finite (0: never scanned).
    finite_at: AtomicU64,
}

fn next_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

impl<F: Clone> Clone for ParamSet<F> {
    fn clone(&self) -> Self {
        ParamSet {
            specs: self.specs,
            values: self.values.clone(),
            id: next_id(),
            generation: 0,
            finite_at: AtomicU64::new(0),
        }
    }
}

impl<F: PartialEq> PartialEq for ParamSet<F> {
    /// Equal names and values (identity and generation are not compared).
    fn eq(&self, other: &Self) -> bool {
        self.specs == other.specs && self.values == other.values
    }
}

impl<F: Float> ParamSet<F> {
    /// Parameters of the given concrete `shapes`, initialized by each spec's initializer
    /// (or zeros when `rng` is `None`).
    pub fn new(
        specs: &'static [ParamSpec],
        shapes: &[Vec<usize>],
        rng: Option<&mut dyn Rng>,
    ) -> Self {
        let values = match rng {
            Some(rng) => specs
                .iter()
                .zip(shapes)
                .map(|(spec, shape)| spec.init.sample(shape, rng))
                .collect(),
            None => shapes
                .iter()
                .map(|shape| ArrayD::zeros(IxDyn(shape)))
                .collect(),
        };
        Self::from_values(specs, values)
    }

    fn from_values(specs: &'static [ParamSpec], values: Vec<ArrayD<F>>) -> Self {
        ParamSet {
            specs,
            values,
            id: next_id(),
            generation: 0,
            finite_at: AtomicU64::new(0),
        }
    }

    /// This set's identity: unique among the sets of the process (a clone gets a new one).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// How many mutable accesses this set has seen: any change of a value advances it.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    fn touch(&mut self) {
        self.generation += 1;
    }

    /// Refuses `NaN` and infinite entries, naming the parameter and the position of the first
    /// one. Scans only when the values changed since the last scan that passed, so calling it
    /// before every forward pass costs nothing in steady state.
    pub fn check_finite(&self) -> Result<()> {
        if self.finite_at.load(Ordering::Relaxed) == self.generation + 1 {
            return Ok(());
        }
        for (spec, v) in self.specs.iter().zip(&self.values) {
            check_finite_tensor(spec.name, v.view())?;
        }
        self.finite_at.store(self.generation + 1, Ordering::Relaxed);
        Ok(())
    }

    /// Zeros with the names and shapes of `self` (the shape of a gradient).
    #[must_use]
    pub fn zeros_like(&self) -> Self {
        let values = self
            .values
            .iter()
            .map(|v| ArrayD::zeros(v.raw_dim()))
            .collect();
        Self::from_values(self.specs, values)
    }

    /// The parameter names, in declaration order.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.specs.iter().map(|s| s.name)
    }

    /// The declarations (name, shape text, initializer).
    pub fn specs(&self) -> &'static [ParamSpec] {
        self.specs
    }

    /// Number of parameters (tensors).
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Total number of scalars over all tensors.
    pub fn num_scalars(&self) -> usize {
        self.values.iter().map(|v| v.len()).sum()
    }

    /// Index of the parameter called `name`.
    pub fn index_of(&self, name: &str) -> Result<usize> {
        self.specs
            .iter()
            .position(|s| s.name == name)
            .ok_or_else(|| Error::UnknownName {
                kind: "parameter",
                name: name.to_string(),
                known: self.specs.iter().map(|s| s.name).collect(),
            })
    }

    /// The parameter called `name`.
    pub fn get(&self, name: &str) -> Result<ArrayViewD<'_, F>> {
        Ok(self.values[self.index_of(name)?].view())
    }

    /// The parameter called `name`, mutably (its shape cannot change).
    pub fn get_mut(&mut self, name: &str) -> Result<ArrayViewMutD<'_, F>> {
        let i = self.index_of(name)?;
        self.touch();
        Ok(self.values[i].view_mut())
    }

    /// Overwrites the parameter called `name`; the new value must have its shape and finite
    /// entries (nothing changes otherwise). The view may have any dimensionality
    /// (`ArrayView1`, `ArrayView2`, `ArrayViewD`, ...): only its shape is compared.
    pub fn set<D: Dimension>(&mut self, name: &str, value: ArrayView<'_, F, D>) -> Result<()> {
        let value = value.into_dyn();
        let i = self.index_of(name)?;
        if value.shape() != self.values[i].shape() {
            return Err(Error::Shape {
                what: format!("parameter {name} {}", self.specs[i].shape),
                expected: format!("{:?}", self.values[i].shape()),
                found: format!("{:?}", value.shape()),
            });
        }
        check_finite_tensor(name, value.view())?;
        self.touch();
        self.values[i].assign(&value);
        Ok(())
    }

    /// The `i`-th parameter in declaration order.
    pub fn value(&self, i: usize) -> ArrayViewD<'_, F> {
        self.values[i].view()
    }

    /// The `i`-th parameter, mutably.
    pub fn value_mut(&mut self, i: usize) -> ArrayViewMutD<'_, F> {
        self.touch();
        self.values[i].view_mut()
    }

    /// The `i`-th parameter as a row-major slice.
    pub fn slice(&self, i: usize) -> &[F] {
        self.values[i]
            .as_slice()
            .expect("parameters are stored in standard layout")
    }

    /// The `i`-th parameter as a mutable row-major slice.
    pub fn slice_mut(&mut self, i: usize) -> &mut [F] {
        self.touch();
        self.values[i]
            .as_slice_mut()
            .expect("parameters are stored in standard layout")
    }

    /// Visits every (name, value).
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, ArrayViewD<'_, F>)> + '_ {
        self.specs
            .iter()
            .zip(&self.values)
            .map(|(s, v)| (s.name, v.view()))
    }

    /// Visits every (name, value, gradient), the value mutably: what an optimizer needs.
    /// `grads` must come from the same cell (same names and shapes).
    pub fn visit_mut(
        &mut self,
        grads: &ParamSet<F>,
        mut f: impl FnMut(&'static str, ArrayViewMutD<'_, F>, ArrayViewD<'_, F>),
    ) -> Result<()> {
        self.check_same_layout(grads)?;
        self.touch();
        for ((spec, value), grad) in self.specs.iter().zip(&mut self.values).zip(&grads.values) {
            f(spec.name, value.view_mut(), grad.view());
        }
        Ok(())
    }

    /// `self += alpha * other`, entry by entry.
    pub fn add_scaled(&mut self, alpha: F, other: &ParamSet<F>) -> Result<()> {
        self.check_same_layout(other)?;
        self.touch();
        for (a, b) in self.values.iter_mut().zip(&other.values) {
            a.scaled_add(alpha, b);
        }
        Ok(())
    }

    /// Euclidean norm over all entries of all tensors.
    #[must_use]
    pub fn norm(&self) -> F {
        self.values
            .iter()
            .flat_map(|v| v.iter())
            .map(|&x| x * x)
            .sum::<F>()
            .sqrt()
    }

    /// Multiplies every entry by `alpha`.
    pub fn scale(&mut self, alpha: F) {
        self.touch();
        self.values
            .iter_mut()
            .for_each(|v| v.mapv_inplace(|x| x * alpha));
    }

    fn check_same_layout(&self, other: &ParamSet<F>) -> Result<()> {
        for (i, spec) in self.specs.iter().enumerate() {
            let theirs = other
                .values
                .get(i)
                .map(|v| v.shape().to_vec())
                .unwrap_or_default();
            if other.specs.get(i).map(|s| s.name) != Some(spec.name)
                || theirs != self.values[i].shape()
            {
                return Err(Error::Shape {
                    what: format!("parameter set entry {i} ({})", spec.name),
                    expected: format!("{} {:?}", spec.name, self.values[i].shape()),
                    found: format!(
                        "{} {:?}",
                        other.specs.get(i).map(|s| s.name).unwrap_or("<missing>"),
                        theirs
                    ),
                });
            }
        }
        if other.values.len() != self.values.len() {
            return Err(Error::Invalid(format!(
                "parameter sets differ: expected {} tensors, found {}",
                self.values.len(),
                other.values.len()
            )));
        }
        Ok(())
    }
}

impl<F: Float> Parameters<F> for ParamSet<F> {
    fn tensors(&self) -> Vec<(String, &[F])> {
        self.specs
            .iter()
            .zip(&self.values)
            .map(|(s, v)| (s.name.to_string(), v.as_slice().expect("standard layout")))
            .collect()
    }

    fn tensors_mut(&mut self) -> Vec<(String, &mut [F])> {
        self.touch();
        self.specs
            .iter()
            .zip(&mut self.values)
            .map(|(s, v)| {
                let slice = v.as_slice_mut().expect("standard layout");
                (s.name.to_string(), slice)
            })
            .collect()
    }
}

/// `Err` naming `name` and the position of the first non-finite entry of `v`.
pub(crate) fn check_finite_tensor<F: Float>(name: &str, v: ArrayViewD<'_, F>) -> Result<()> {
    // `x * 0` is 0 for finite values and NaN otherwise: one branch-free pass in the common case.
    let clean = match v.as_slice() {
        Some(s) => s.iter().fold(F::zero(), |a, &x| a + x * F::zero()) == F::zero(),
        None => v.iter().all(|x| x.is_finite()),
    };
    if clean {
        return Ok(());
    }
    match v.indexed_iter().find(|(_, x)| !x.is_finite()) {
        Some((at, x)) => Err(Error::Invalid(format!(
            "parameter {name}: expected finite values, found {x} at {:?}",
            at.slice()
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::init::Init;

    static SPECS: [ParamSpec; 2] = [
        ParamSpec {
            name: "W",
            shape: "[I, H]",
            init: Init::Default,
        },
        ParamSpec {
            name: "b",
            shape: "[H]",
            init: Init::Default,
        },
    ];

    fn set() -> ParamSet<f64> {
        ParamSet::new(&SPECS, &[vec![2, 3], vec![3]], None)
    }

    #[test]
    fn every_mutable_access_advances_the_generation_and_clones_get_new_ids() {
        let mut p = set();
        let g0 = p.generation();
        let _ = p.value_mut(0);
        let g1 = p.generation();
        assert!(g1 > g0);
        let _ = p.slice_mut(1);
        assert!(p.generation() > g1);
        let q = p.clone();
        assert_ne!(p.id(), q.id());
        assert_eq!(p, q, "equality compares names and values only");
    }

    #[test]
    fn set_refuses_non_finite_values_and_keeps_the_old_ones() {
        let mut p = set();
        let mut v = ndarray::ArrayD::<f64>::zeros(IxDyn(&[2, 3]));
        v[[1, 2]] = f64::NAN;
        let e = p.set("W", v.view()).unwrap_err().to_string();
        assert!(
            e.contains("W") && e.contains("NaN") && e.contains("[1, 2]"),
            "{e}"
        );
        assert!(p.value(0).iter().all(|x| *x == 0.0));
    }

    #[test]
    fn set_takes_views_of_any_dimensionality() {
        let mut p = set();
        let w = ndarray::Array2::from_shape_fn((2, 3), |(i, j)| (i * 3 + j) as f64);
        p.set("W", w.view()).unwrap();
        assert_eq!(p.value(0), w.view().into_dyn());
        p.set("b", ndarray::arr1(&[1.0, 2.0, 3.0]).view()).unwrap();
        assert_eq!(p.slice(1), &[1.0, 2.0, 3.0]);
        // Transposed (not in standard layout) and dynamic views too.
        let wt = ndarray::Array2::from_elem((3, 2), 0.5);
        p.set("W", wt.t()).unwrap();
        assert!(p.slice(0).iter().all(|&x| x == 0.5));
        p.set("b", ndarray::ArrayD::zeros(IxDyn(&[3])).view())
            .unwrap();
        // The shape is checked whatever the view's type; nothing changes on an error.
        let e = p.set("W", wt.view()).unwrap_err().to_string();
        assert!(e.contains("[2, 3]") && e.contains("[3, 2]"), "{e}");
        assert!(p.slice(0).iter().all(|&x| x == 0.5));
    }

    #[test]
    fn check_finite_names_the_tensor_and_rescans_after_a_change() {
        let mut p = set();
        p.check_finite().unwrap();
        p.slice_mut(1)[2] = f64::INFINITY;
        let e = p.check_finite().unwrap_err().to_string();
        assert!(
            e.contains("parameter b") && e.contains("inf") && e.contains("[2]"),
            "{e}"
        );
        p.slice_mut(1)[2] = 0.0;
        p.check_finite().unwrap();
    }
}
