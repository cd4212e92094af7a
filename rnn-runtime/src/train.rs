//! Training essentials: losses with their gradients, gradient clipping and optimizers that work
//! on any cell's [`ParamSet`].

use ndarray::{Array3, ArrayView3, ArrayViewD, ArrayViewMutD};

use crate::{Error, Float, ParamSet, Result};

/// Mean squared error over every entry: `L = mean((y - target)^2)`, and `dL/dy`.
pub fn mse<F: Float>(y: ArrayView3<'_, F>, target: ArrayView3<'_, F>) -> Result<(F, Array3<F>)> {
    if y.shape() != target.shape() {
        return Err(Error::shape(
            "mse target",
            format!("{:?} (the prediction's shape)", y.shape()),
            target.shape(),
        ));
    }
    let n = F::from_f64(y.len().max(1) as f64);
    let diff = &y - &target;
    let loss = diff.iter().map(|&d| d * d).sum::<F>() / n;
    let grad = diff.mapv(|d| d * F::from_f64(2.0) / n);
    Ok((loss, grad))
}

/// Clips gradients by their global norm: `g <- min(1, max_norm / ||g||) g`. Returns the norm
/// before clipping. A non-finite norm zeroes the gradients (the step is skipped) rather than
/// poisoning the parameters.
pub fn clip_grad_norm<F: Float>(grads: &mut ParamSet<F>, max_norm: F) -> F {
    let norm = grads.norm();
    if !norm.is_finite() {
        grads.scale(F::zero());
    } else if norm > max_norm {
        grads.scale(max_norm / norm);
    }
    norm
}

/// An optimizer: updates parameters from their gradients.
pub trait Optimizer<F: Float> {
    /// One update of `params` from `grads` (same names and shapes).
    fn step(&mut self, params: &mut ParamSet<F>, grads: &ParamSet<F>) -> Result<()>;
}

/// Stochastic gradient descent with momentum: `v <- mu v + g; p <- p - lr v`.
#[derive(Debug, Clone)]
pub struct Sgd<F> {
    /// Learning rate.
    pub lr: F,
    /// Momentum `mu` (0 for plain SGD).
    pub momentum: F,
    velocity: Option<ParamSet<F>>,
}

impl<F: Float> Sgd<F> {
    /// SGD with learning rate `lr` and momentum `momentum`.
    pub fn new(lr: F, momentum: F) -> Self {
        Sgd {
            lr,
            momentum,
            velocity: None,
        }
    }
}

impl<F: Float> Optimizer<F> for Sgd<F> {
    fn step(&mut self, params: &mut ParamSet<F>, grads: &ParamSet<F>) -> Result<()> {
        let v = self.velocity.get_or_insert_with(|| grads.zeros_like());
        v.scale(self.momentum);
        v.add_scaled(F::one(), grads)?;
        params.add_scaled(-self.lr, v)
    }
}

/// Adam (Kingma & Ba 2015) with bias correction.
#[derive(Debug, Clone)]
pub struct Adam<F> {
    /// Learning rate.
    pub lr: F,
    /// Decay of the first moment.
    pub beta1: F,
    /// Decay of the second moment.
    pub beta2: F,
    /// Added to the denominator.
    pub eps: F,
    t: i32,
    moments: Option<(ParamSet<F>, ParamSet<F>)>,
}

impl<F: Float> Adam<F> {
    /// Adam with learning rate `lr` and the usual `beta1 = 0.9, beta2 = 0.999, eps = 1e-8`.
    pub fn new(lr: F) -> Self {
        Adam {
            lr,
            beta1: F::from_f64(0.9),
            beta2: F::from_f64(0.999),
            eps: F::from_f64(1e-8),
            t: 0,
            moments: None,
        }
    }
}

impl<F: Float> Optimizer<F> for Adam<F> {
    fn step(&mut self, params: &mut ParamSet<F>, grads: &ParamSet<F>) -> Result<()> {
        let (m, v) = self
            .moments
            .get_or_insert_with(|| (grads.zeros_like(), grads.zeros_like()));
        self.t += 1;
        let (b1, b2, lr, eps) = (self.beta1, self.beta2, self.lr, self.eps);
        let c1 = F::one() - b1.powi(self.t);
        let c2 = F::one() - b2.powi(self.t);
        m.visit_mut(grads, |_, mut m, g: ArrayViewD<'_, F>| {
            m.zip_mut_with(&g, |m, &g| *m = b1 * *m + (F::one() - b1) * g)
        })?;
        v.visit_mut(grads, |_, mut v, g: ArrayViewD<'_, F>| {
            v.zip_mut_with(&g, |v, &g| *v = b2 * *v + (F::one() - b2) * g * g)
        })?;
        let (m, v) = (&*m, &*v);
        let mut i = 0;
        params.visit_mut(grads, |_, mut p: ArrayViewMutD<'_, F>, _| {
            let (mi, vi) = (m.value(i), v.value(i));
            ndarray::Zip::from(&mut p)
                .and(&mi)
                .and(&vi)
                .for_each(|p, &m, &v| {
                    *p -= lr * (m / c1) / ((v / c2).sqrt() + eps);
                });
            i += 1;
        })
    }
}
