use ndarray::{ArrayD, ArrayViewD, ArrayViewMutD, IxDyn};
use rand::RngCore;

use crate::{Error, Float, ParamSpec, Result};

/// The parameters of a cell (or their gradients), by the DSL's names, each in the spec's
/// `[in, out]` layout: a matrix `W: [I, H]` is an `I x H` array, a vector `b: [H]` has length H.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamSet<F> {
    specs: &'static [ParamSpec],
    values: Vec<ArrayD<F>>,
}

impl<F: Float> ParamSet<F> {
    /// Parameters of the given concrete `shapes`, initialized by each spec's initializer
    /// (or zeros when `rng` is `None`).
    pub fn new(
        specs: &'static [ParamSpec],
        shapes: &[Vec<usize>],
        rng: Option<&mut dyn RngCore>,
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
        ParamSet { specs, values }
    }

    /// Zeros with the names and shapes of `self` (the shape of a gradient).
    pub fn zeros_like(&self) -> Self {
        let values = self
            .values
            .iter()
            .map(|v| ArrayD::zeros(v.raw_dim()))
            .collect();
        ParamSet {
            specs: self.specs,
            values,
        }
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
        Ok(self.values[i].view_mut())
    }

    /// Overwrites the parameter called `name`; the new value must have its shape.
    pub fn set(&mut self, name: &str, value: ArrayViewD<'_, F>) -> Result<()> {
        let i = self.index_of(name)?;
        if value.shape() != self.values[i].shape() {
            return Err(Error::Shape {
                what: format!("parameter {name} {}", self.specs[i].shape),
                expected: format!("{:?}", self.values[i].shape()),
                found: format!("{:?}", value.shape()),
            });
        }
        self.values[i].assign(&value);
        Ok(())
    }

    /// The `i`-th parameter in declaration order.
    pub fn value(&self, i: usize) -> ArrayViewD<'_, F> {
        self.values[i].view()
    }

    /// The `i`-th parameter, mutably.
    pub fn value_mut(&mut self, i: usize) -> ArrayViewMutD<'_, F> {
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
        for ((spec, value), grad) in self.specs.iter().zip(&mut self.values).zip(&grads.values) {
            f(spec.name, value.view_mut(), grad.view());
        }
        Ok(())
    }

    /// `self += alpha * other`, entry by entry.
    pub fn add_scaled(&mut self, alpha: F, other: &ParamSet<F>) -> Result<()> {
        self.check_same_layout(other)?;
        for (a, b) in self.values.iter_mut().zip(&other.values) {
            a.scaled_add(alpha, b);
        }
        Ok(())
    }

    /// Euclidean norm over all entries of all tensors.
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

impl<F: Float> crate::Parameters<F> for ParamSet<F> {
    fn tensors(&self) -> Vec<(String, &[F])> {
        self.specs
            .iter()
            .zip(&self.values)
            .map(|(s, v)| (s.name.to_string(), v.as_slice().expect("standard layout")))
            .collect()
    }

    fn tensors_mut(&mut self) -> Vec<(String, &mut [F])> {
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
