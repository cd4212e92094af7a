//! Optimization: SGD with momentum and Adam (with L2 weight decay), gradient clipping by global
//! norm and by value, and learning-rate schedules. Everything works on any [`Parameters`]: a
//! cell's [`ParamSet`](crate::ParamSet) or a whole model's parameters and gradients.

use ndarray::{ArrayD, IxDyn};

use crate::tensors::check_same_layout;
use crate::{Error, Float, NamedTensors, Parameters, Result};

pub use crate::loss::{mse, sequence_cross_entropy, softmax, softmax_cross_entropy};

/// Clips gradients by their global norm, exactly `g <- min(1, max_norm / ||g||) g`, and returns
/// the norm before clipping. A non-finite norm (an `inf` or `NaN` gradient) zeroes the gradients,
/// so the update is skipped instead of poisoning the parameters.
pub fn clip_grad_norm<F: Float>(grads: &mut dyn Parameters<F>, max_norm: F) -> F {
    let norm = grads.global_norm();
    if !norm.is_finite() {
        // Multiplying by zero would leave `inf * 0 = NaN`: overwrite instead.
        for (_, g) in grads.tensors_mut() {
            g.fill(F::zero());
        }
    } else if norm > max_norm {
        grads.scale_all(max_norm / norm);
    }
    norm
}

/// Clips every gradient entry to `[-max_value, max_value]`; a `NaN` entry becomes zero.
pub fn clip_grad_value<F: Float>(grads: &mut dyn Parameters<F>, max_value: F) {
    for (_, g) in grads.tensors_mut() {
        for x in g.iter_mut() {
            *x = if x.is_nan() {
                F::zero()
            } else {
                x.max(-max_value).min(max_value)
            };
        }
    }
}

/// An optimizer: updates parameters from their gradients.
pub trait Optimizer<F: Float> {
    /// One update of `params` from `grads` (the same names and sizes, in the same order).
    /// On a mismatch nothing is changed and the error names the first difference.
    fn step(&mut self, params: &mut dyn Parameters<F>, grads: &dyn Parameters<F>) -> Result<()>;
    /// The current learning rate.
    fn learning_rate(&self) -> F;
    /// Sets the learning rate (what a [`Schedule`] does between steps).
    fn set_learning_rate(&mut self, lr: F);
    /// The optimizer's state (step count, moments), to save in a checkpoint.
    fn state(&self) -> NamedTensors<F>;
    /// Restores a state saved by [`Optimizer::state`] of the same kind of optimizer over the same
    /// parameters.
    fn load_state(&mut self, state: &NamedTensors<F>) -> Result<()>;
}

/// Per-parameter buffers of an optimizer (momentum, moments), created on the first step with
/// the gradients' names and sizes.
#[derive(Debug, Clone, Default)]
struct Slots<F> {
    names: Vec<String>,
    values: Vec<Vec<F>>,
}

impl<F: Float> Slots<F> {
    fn ensure(&mut self, grads: &dyn Parameters<F>) {
        let tensors = grads.tensors();
        if self.values.is_empty() {
            for (name, g) in tensors {
                self.names.push(name);
                self.values.push(vec![F::zero(); g.len()]);
            }
            return;
        }
        // A restored state may list the tensors in another order (checkpoint files sort them
        // by name): put them in the gradients' order when the names match.
        let in_order = self.names.iter().eq(tensors.iter().map(|(n, _)| n));
        if !in_order && self.names.len() == tensors.len() {
            let mut by_name: std::collections::HashMap<String, Vec<F>> =
                self.names.drain(..).zip(self.values.drain(..)).collect();
            let mut names = Vec::new();
            let mut values = Vec::new();
            for (name, _) in &tensors {
                match by_name.remove(name) {
                    Some(v) => {
                        names.push(name.clone());
                        values.push(v);
                    }
                    None => break,
                }
            }
            // Names that did not match stay at the end, for `check` to report.
            for (name, v) in by_name {
                names.push(name);
                values.push(v);
            }
            self.names = names;
            self.values = values;
        }
    }

    fn check(&self, grads: &dyn Parameters<F>) -> Result<()> {
        let tensors = grads.tensors();
        if tensors.len() != self.values.len() {
            return Err(Error::Invalid(format!(
                "optimizer state holds {} tensors, the gradients {}: an optimizer serves one model",
                self.values.len(),
                tensors.len()
            )));
        }
        for ((name, g), (own, v)) in tensors.iter().zip(self.names.iter().zip(&self.values)) {
            if name != own || g.len() != v.len() {
                return Err(Error::Invalid(format!(
                    "optimizer state: expected `{own}` with {} entries, found `{name}` with {}",
                    v.len(),
                    g.len()
                )));
            }
        }
        Ok(())
    }

    fn export(&self, prefix: &str, out: &mut NamedTensors<F>) {
        for (name, v) in self.names.iter().zip(&self.values) {
            let array = ArrayD::from_shape_vec(IxDyn(&[v.len()]), v.clone()).expect("1-D");
            out.tensors.push((format!("{prefix}{name}"), array));
        }
    }

    fn import(&mut self, prefix: &str, state: &NamedTensors<F>) {
        self.names.clear();
        self.values.clear();
        for (name, v) in &state.tensors {
            if let Some(own) = name.strip_prefix(prefix) {
                self.names.push(own.to_string());
                self.values.push(v.iter().copied().collect());
            }
        }
    }
}

/// Adds `weight_decay * p` to each gradient entry (L2 regularization) and applies `update`
/// to every (parameter, gradient, slot index) entry.
fn for_each_entry<F: Float>(
    params: &mut dyn Parameters<F>,
    grads: &dyn Parameters<F>,
    weight_decay: F,
    mut update: impl FnMut(usize, usize, &mut F, F),
) -> Result<()> {
    check_same_layout(params, grads)?;
    let grads = grads.tensors();
    for (k, ((_, p), (_, g))) in params.tensors_mut().into_iter().zip(&grads).enumerate() {
        for (j, (p, &g)) in p.iter_mut().zip(g.iter()).enumerate() {
            let g = g + weight_decay * *p;
            update(k, j, p, g);
        }
    }
    Ok(())
}

/// Stochastic gradient descent with momentum and L2 weight decay:
/// `g <- g + wd p; v <- mu v + g; p <- p - lr v`.
#[derive(Debug, Clone)]
pub struct Sgd<F> {
    /// Learning rate.
    pub lr: F,
    /// Momentum `mu` (0 for plain SGD).
    pub momentum: F,
    /// L2 weight decay `wd` (0 for none).
    pub weight_decay: F,
    velocity: Slots<F>,
}

impl<F: Float> Sgd<F> {
    /// SGD with learning rate `lr` and momentum `momentum`, no weight decay.
    pub fn new(lr: F, momentum: F) -> Self {
        Sgd {
            lr,
            momentum,
            weight_decay: F::zero(),
            velocity: Slots::default(),
        }
    }

    /// The same optimizer with L2 weight decay `wd`.
    pub fn with_weight_decay(mut self, wd: F) -> Self {
        self.weight_decay = wd;
        self
    }
}

impl<F: Float> Optimizer<F> for Sgd<F> {
    fn step(&mut self, params: &mut dyn Parameters<F>, grads: &dyn Parameters<F>) -> Result<()> {
        self.velocity.ensure(grads);
        self.velocity.check(grads)?;
        let (lr, mu) = (self.lr, self.momentum);
        let velocity = &mut self.velocity.values;
        for_each_entry(params, grads, self.weight_decay, |k, j, p, g| {
            let v = &mut velocity[k][j];
            *v = mu * *v + g;
            *p -= lr * *v;
        })
    }

    fn learning_rate(&self) -> F {
        self.lr
    }

    fn set_learning_rate(&mut self, lr: F) {
        self.lr = lr;
    }

    fn state(&self) -> NamedTensors<F> {
        let mut out = NamedTensors::new();
        self.velocity.export("sgd.velocity.", &mut out);
        out
    }

    fn load_state(&mut self, state: &NamedTensors<F>) -> Result<()> {
        self.velocity.import("sgd.velocity.", state);
        Ok(())
    }
}

/// Adam (Kingma & Ba 2015) with bias correction and L2 weight decay:
/// `g <- g + wd p; m <- b1 m + (1-b1) g; v <- b2 v + (1-b2) g^2;
/// p <- p - lr (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)`.
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
    /// L2 weight decay (0 for none).
    pub weight_decay: F,
    t: i32,
    m: Slots<F>,
    v: Slots<F>,
}

impl<F: Float> Adam<F> {
    /// Adam with learning rate `lr` and the usual `beta1 = 0.9, beta2 = 0.999, eps = 1e-8`.
    pub fn new(lr: F) -> Self {
        Adam {
            lr,
            beta1: F::from_f64(0.9),
            beta2: F::from_f64(0.999),
            eps: F::from_f64(1e-8),
            weight_decay: F::zero(),
            t: 0,
            m: Slots::default(),
            v: Slots::default(),
        }
    }

    /// The same optimizer with L2 weight decay `wd`.
    pub fn with_weight_decay(mut self, wd: F) -> Self {
        self.weight_decay = wd;
        self
    }

    /// Number of steps taken.
    pub fn steps(&self) -> i32 {
        self.t
    }
}

impl<F: Float> Optimizer<F> for Adam<F> {
    fn step(&mut self, params: &mut dyn Parameters<F>, grads: &dyn Parameters<F>) -> Result<()> {
        self.m.ensure(grads);
        self.v.ensure(grads);
        self.m.check(grads)?;
        check_same_layout(params, grads)?;
        self.t += 1;
        let (b1, b2, lr, eps) = (self.beta1, self.beta2, self.lr, self.eps);
        let c1 = F::one() - b1.powi(self.t);
        let c2 = F::one() - b2.powi(self.t);
        let (m, v) = (&mut self.m.values, &mut self.v.values);
        for_each_entry(params, grads, self.weight_decay, |k, j, p, g| {
            let (m, v) = (&mut m[k][j], &mut v[k][j]);
            *m = b1 * *m + (F::one() - b1) * g;
            *v = b2 * *v + (F::one() - b2) * g * g;
            *p -= lr * (*m / c1) / ((*v / c2).sqrt() + eps);
        })
    }

    fn learning_rate(&self) -> F {
        self.lr
    }

    fn set_learning_rate(&mut self, lr: F) {
        self.lr = lr;
    }

    fn state(&self) -> NamedTensors<F> {
        let mut out = NamedTensors::new();
        let t = ArrayD::from_elem(IxDyn(&[1]), F::from_f64(self.t as f64));
        out.tensors.push(("adam.t".to_string(), t));
        self.m.export("adam.m.", &mut out);
        self.v.export("adam.v.", &mut out);
        out
    }

    fn load_state(&mut self, state: &NamedTensors<F>) -> Result<()> {
        let t = state.get("adam.t")?;
        self.t = t
            .iter()
            .next()
            .map(|&t| Float::to_f64(t) as i32)
            .unwrap_or(0);
        self.m.import("adam.m.", state);
        self.v.import("adam.v.", state);
        if self.m.names != self.v.names {
            return Err(Error::Invalid(
                "Adam state: the first and second moments name different tensors".into(),
            ));
        }
        Ok(())
    }
}

/// A learning-rate schedule: the rate for step (or epoch) `k` from the base rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Schedule {
    /// The base rate throughout.
    Constant,
    /// Step decay: `lr_k = lr_0 * gamma^floor(k / every)`.
    Step {
        /// Steps between decays.
        every: usize,
        /// Factor of each decay.
        gamma: f64,
    },
    /// Cosine annealing over `total` steps: `lr_k = min + (lr_0 - min) (1 + cos(pi k / total)) / 2`,
    /// then `min`.
    Cosine {
        /// Steps to anneal over.
        total: usize,
        /// The final rate.
        min_lr: f64,
    },
}

impl Schedule {
    /// The learning rate at step `k` for base rate `base`.
    pub fn rate(&self, base: f64, k: usize) -> f64 {
        match *self {
            Schedule::Constant => base,
            Schedule::Step { every, gamma } => base * gamma.powi((k / every.max(1)) as i32),
            Schedule::Cosine { total, min_lr } => {
                let progress = (k.min(total) as f64) / total.max(1) as f64;
                min_lr + (base - min_lr) * (1.0 + (std::f64::consts::PI * progress).cos()) / 2.0
            }
        }
    }

    /// Sets `optimizer`'s learning rate for step `k` from the base rate `base`.
    pub fn apply<F: Float>(&self, optimizer: &mut dyn Optimizer<F>, base: f64, k: usize) {
        optimizer.set_learning_rate(F::from_f64(self.rate(base, k)));
    }
}
