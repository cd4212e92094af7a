//! Optimization: SGD with momentum and Adam (with L2 weight decay, or decoupled weight decay as
//! in AdamW), gradient clipping by global norm and by value, and learning-rate schedules.
//! Everything works on any [`Parameters`]: a cell's [`ParamSet`](crate::ParamSet) or a whole
//! model's parameters and gradients.

use ndarray::{ArrayD, IxDyn};

use crate::core::error::{Error, Result};
use crate::core::tensors::{
    check_finite_tensors, check_same_layout, first_non_finite, NamedTensors, Parameters,
};
use crate::kernels::float::Float;

pub use crate::training::loss::{mse, sequence_cross_entropy, softmax, softmax_cross_entropy};

/// Clips gradients by their global norm, exactly `g <- min(1, max_norm / ||g||) g`, and returns
/// the norm before clipping. A non-finite norm (an `inf` or `NaN` gradient) zeroes the gradients,
/// so the update is skipped instead of poisoning the parameters; the returned norm is then not
/// finite, so the caller can see (and count) the skipped step.
///
/// Errors (and nothing is changed): `max_norm` is not a positive finite number (a negative one
/// would flip the gradient's sign, a `NaN` one would clip nothing).
pub fn clip_grad_norm<F: Float>(grads: &mut dyn Parameters<F>, max_norm: F) -> Result<F> {
    if !(max_norm.is_finite() && max_norm > F::zero()) {
        return Err(Error::Invalid(format!(
            "clip_grad_norm: expected a positive finite max_norm, found {max_norm}"
        )));
    }
    let norm = grads.global_norm();
    if !norm.is_finite() {
        // Multiplying by zero would leave `inf * 0 = NaN`: overwrite instead.
        for (_, g) in grads.tensors_mut() {
            g.fill(F::zero());
        }
    } else if norm > max_norm {
        grads.scale_all(max_norm / norm);
    }
    Ok(norm)
}

/// Clips every gradient entry to `[-max_value, max_value]`; a `NaN` entry becomes zero.
///
/// Errors (and nothing is changed): `max_value` is not a positive finite number.
pub fn clip_grad_value<F: Float>(grads: &mut dyn Parameters<F>, max_value: F) -> Result<()> {
    if !(max_value.is_finite() && max_value > F::zero()) {
        return Err(Error::Invalid(format!(
            "clip_grad_value: expected a positive finite max_value, found {max_value}"
        )));
    }
    for (_, g) in grads.tensors_mut() {
        for x in g.iter_mut() {
            *x = if x.is_nan() {
                F::zero()
            } else {
                x.max(-max_value).min(max_value)
            };
        }
    }
    Ok(())
}

/// An optimizer: updates parameters from their gradients.
pub trait Optimizer<F: Float> {
    /// One update of `params` from `grads` (the same names and sizes, in the same order).
    ///
    /// Errors, with nothing changed (neither the parameters nor the optimizer's state, so a
    /// later correct step works): the names or sizes differ (the error names the first
    /// difference), or differ from those the optimizer's state was built for; a gradient or
    /// parameter entry is not finite (the error names the tensor and the entry; see
    /// [`clip_grad_norm`] to skip such steps instead); a hyper-parameter is invalid (e.g. a
    /// `NaN` learning rate).
    fn step(&mut self, params: &mut dyn Parameters<F>, grads: &dyn Parameters<F>) -> Result<()>;
    /// The current learning rate.
    fn learning_rate(&self) -> F;
    /// Sets the learning rate (what a [`Schedule`] does between steps). An invalid rate (not
    /// finite, or negative) is refused by the next [`Optimizer::step`].
    fn set_learning_rate(&mut self, lr: F);
    /// The optimizer's state (step count, moments), to save in a checkpoint.
    fn state(&self) -> NamedTensors<F>;
    /// Restores a state saved by [`Optimizer::state`] of the same kind of optimizer over the same
    /// parameters. Errors (and nothing is changed): the state is not one of this kind of
    /// optimizer, is inconsistent, or holds a non-finite value.
    fn load_state(&mut self, state: &NamedTensors<F>) -> Result<()>;
    /// The kind of optimizer (`"sgd"`, `"adam"`), recorded in checkpoints and checked when one
    /// is loaded. Defaults to the type's name.
    fn kind(&self) -> &str {
        std::any::type_name::<Self>()
    }
    /// Whether the optimizer's state fits `params` (same names and sizes), i.e. whether
    /// [`Optimizer::step`] could update them: always true for a fresh state. The default accepts
    /// everything.
    fn check_fits(&self, params: &dyn Parameters<F>) -> Result<()> {
        let _ = params;
        Ok(())
    }
    /// The hyper-parameters as `(name, value)` pairs (`lr`, `beta1`, ...), which
    /// [`crate::save_checkpoint`] saves beside the state and [`crate::load_checkpoint`]
    /// restores with [`Optimizer::set_hyper_parameters`]. The default has none.
    fn hyper_parameters(&self) -> Vec<(&'static str, f64)> {
        Vec::new()
    }
    /// Sets hyper-parameters by the names of [`Optimizer::hyper_parameters`] (any subset: the
    /// others keep their values). As with [`Optimizer::set_learning_rate`], an invalid value is
    /// refused by the next [`Optimizer::step`]. Errors (and nothing is changed): a name the
    /// optimizer does not have. The default has no hyper-parameters to set.
    fn set_hyper_parameters(&mut self, values: &[(&str, f64)]) -> Result<()> {
        assign_hyper::<F>(self.kind(), &mut [], values)
    }
}

/// The [`Optimizer`] methods `kind`, `learning_rate`, `set_learning_rate`, `hyper_parameters`
/// and `set_hyper_parameters` of an optimizer whose hyper-parameters are the listed fields (each
/// of type `F`, named as the field; the learning rate is the field `lr`): `named_hyper_parameters!("kind", "TypeName", [field, ...])`.
macro_rules! named_hyper_parameters {
    ($kind:literal, $type_name:literal, [$($field:ident),+ $(,)?]) => {
        fn kind(&self) -> &str {
            $kind
        }

        fn learning_rate(&self) -> F {
            self.lr
        }

        fn set_learning_rate(&mut self, lr: F) {
            self.lr = lr;
        }

        #[doc = concat!($("`", stringify!($field), "` "),+)]
        fn hyper_parameters(&self) -> Vec<(&'static str, f64)> {
            vec![$((stringify!($field), self.$field.to_f64())),+]
        }

        fn set_hyper_parameters(&mut self, values: &[(&str, f64)]) -> Result<()> {
            let mut slots = [$((stringify!($field), &mut self.$field)),+];
            assign_hyper($type_name, &mut slots, values)
        }
    };
}

/// Sets the named `slots` from `values`; an unknown name is an error and changes nothing.
fn assign_hyper<F: Float>(
    optimizer: &str,
    slots: &mut [(&'static str, &mut F)],
    values: &[(&str, f64)],
) -> Result<()> {
    if let Some((name, _)) = values
        .iter()
        .find(|(name, _)| !slots.iter().any(|(n, _)| n == name))
    {
        let known: Vec<&str> = slots.iter().map(|(n, _)| *n).collect();
        return Err(Error::Invalid(format!(
            "{optimizer}: unknown hyper-parameter `{name}`; expected one of: {}",
            if known.is_empty() {
                "(none)".to_string()
            } else {
                known.join(", ")
            }
        )));
    }
    for (name, value) in values {
        for (n, slot) in slots.iter_mut() {
            if *n == *name {
                **slot = F::from_f64(*value);
            }
        }
    }
    Ok(())
}

/// How [`Slots`] line up with a list of gradients, as found by [`Slots::plan`].
enum Plan {
    /// No state yet: create zeros with the gradients' names and sizes.
    Fresh,
    /// The same names and sizes, in the same order.
    InOrder,
    /// The same names and sizes in another order (a restored state: checkpoint files sort
    /// tensors by name): entry `i` is the slot of the gradients' `i`-th tensor.
    Reorder(Vec<usize>),
}

/// Per-parameter buffers of an optimizer (momentum, moments), created on the first step with
/// the gradients' names and sizes.
#[derive(Debug, Clone, Default)]
struct Slots<F> {
    names: Vec<String>,
    values: Vec<Vec<F>>,
}

impl<F: Float> Slots<F> {
    /// How the slots line up with `tensors`, without changing anything; an error names the
    /// first difference.
    fn plan(&self, tensors: &[(String, &[F])]) -> Result<Plan> {
        if self.values.is_empty() {
            return Ok(Plan::Fresh);
        }
        if tensors.len() != self.values.len() {
            return Err(Error::Invalid(format!(
                "optimizer state holds {} tensors, the gradients {}: an optimizer serves one model",
                self.values.len(),
                tensors.len()
            )));
        }
        let in_order = tensors
            .iter()
            .zip(self.names.iter().zip(&self.values))
            .all(|((name, g), (own, v))| name == own && g.len() == v.len());
        if in_order {
            return Ok(Plan::InOrder);
        }
        let mut order = Vec::with_capacity(tensors.len());
        for (i, (name, g)) in tensors.iter().enumerate() {
            match self.names.iter().position(|own| own == name) {
                Some(k) if self.values[k].len() == g.len() => order.push(k),
                Some(k) => {
                    return Err(Error::Invalid(format!(
                        "optimizer state: expected `{name}` with {} entries, found {} entries \
                         in the gradients",
                        self.values[k].len(),
                        g.len()
                    )))
                }
                None => {
                    return Err(Error::Invalid(format!(
                        "optimizer state: expected `{}` with {} entries, found `{name}` with {}: \
                         an optimizer serves one model",
                        self.names[i],
                        self.values[i].len(),
                        g.len()
                    )))
                }
            }
        }
        Ok(Plan::Reorder(order))
    }

    /// Makes the slots line up with `tensors` as `plan` (from [`Slots::plan`]) says.
    fn apply(&mut self, plan: &Plan, tensors: &[(String, &[F])]) {
        match plan {
            Plan::InOrder => {}
            Plan::Fresh => {
                self.names = tensors.iter().map(|(n, _)| n.clone()).collect();
                self.values = tensors
                    .iter()
                    .map(|(_, g)| vec![F::zero(); g.len()])
                    .collect();
            }
            Plan::Reorder(order) => {
                let mut old: Vec<Option<Vec<F>>> = self.values.drain(..).map(Some).collect();
                self.values = order
                    .iter()
                    .map(|&k| old[k].take().expect("a permutation"))
                    .collect();
                self.names = tensors.iter().map(|(n, _)| n.clone()).collect();
            }
        }
    }

    fn export(&self, prefix: &str, out: &mut NamedTensors<F>) {
        for (name, v) in self.names.iter().zip(&self.values) {
            let array = ArrayD::from_shape_vec(IxDyn(&[v.len()]), v.clone()).expect("1-D");
            out.tensors.push((format!("{prefix}{name}"), array));
        }
    }

    /// The tensors of `state` whose names start with `prefix` (the prefix removed), checked:
    /// unique names and finite values.
    fn read(kind: &str, prefix: &str, state: &NamedTensors<F>) -> Result<Self> {
        let mut slots = Slots::default();
        for (name, v) in &state.tensors {
            if let Some(own) = name.strip_prefix(prefix) {
                if slots.names.iter().any(|n| n == own) {
                    return Err(Error::Invalid(format!(
                        "{kind} state: tensor `{name}` appears twice; expected unique names"
                    )));
                }
                let values: Vec<F> = v.iter().copied().collect();
                if let Some((k, x)) = first_non_finite(&values) {
                    return Err(Error::Invalid(format!(
                        "{kind} state: tensor `{name}`: expected finite values, found {x} at \
                         flat index {k}"
                    )));
                }
                slots.names.push(own.to_string());
                slots.values.push(values);
            }
        }
        Ok(slots)
    }
}

/// Refuses a hyper-parameter outside `[low, high)` (or `[low, high]`, or `(low, high)`) or not
/// finite.
fn check_hyper<F: Float>(
    optimizer: &str,
    name: &str,
    value: F,
    low: f64,
    low_open: bool,
    high: Option<f64>,
) -> Result<()> {
    let v = value.to_f64();
    let above = if low_open { v > low } else { v >= low };
    let below = high.is_none_or(|h| v < h);
    if v.is_finite() && above && below {
        return Ok(());
    }
    let range = format!(
        "{}{low}, {}",
        if low_open { "(" } else { "[" },
        high.map_or("inf)".to_string(), |h| format!("{h})"))
    );
    Err(Error::Invalid(format!(
        "{optimizer}: expected {name} in {range}, found {value}; nothing was updated"
    )))
}

/// Checks `params` and `grads` for a step: the same names and sizes, finite values. Returns
/// the gradients' tensors.
fn check_step<'g, F: Float>(
    params: &dyn Parameters<F>,
    grads: &'g dyn Parameters<F>,
) -> Result<Vec<(String, &'g [F])>> {
    check_same_layout(params, grads)?;
    check_finite_tensors("gradient", grads).map_err(|e| {
        Error::Invalid(format!(
            "{e}; nothing was updated (clip_grad_norm zeroes a non-finite step instead)"
        ))
    })?;
    check_finite_tensors("parameter", params)?;
    Ok(grads.tensors())
}

/// Adds `weight_decay * p` to each gradient entry (L2 regularization) and applies `update`
/// to every (parameter, gradient, slot index) entry. The layouts were checked by the caller.
fn for_each_entry<F: Float>(
    params: &mut dyn Parameters<F>,
    grads: &[(String, &[F])],
    weight_decay: F,
    mut update: impl FnMut(usize, usize, &mut F, F),
) {
    for (k, ((_, p), (_, g))) in params.tensors_mut().into_iter().zip(grads).enumerate() {
        for (j, (p, &g)) in p.iter_mut().zip(g.iter()).enumerate() {
            let g = g + weight_decay * *p;
            update(k, j, p, g);
        }
    }
}

/// Stochastic gradient descent with momentum and L2 weight decay:
/// `g <- g + wd p; v <- mu v + g; p <- p - lr v`.
///
/// Valid hyper-parameters: `lr >= 0`, `0 <= momentum < 1`, `weight_decay >= 0`, all finite;
/// [`Sgd::try_new`] checks them at construction, [`Optimizer::step`] at every step.
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
    /// SGD with learning rate `lr` and momentum `momentum`, no weight decay. Invalid values
    /// are refused by the first [`Optimizer::step`]; [`Sgd::try_new`] refuses them here.
    pub fn new(lr: F, momentum: F) -> Self {
        Sgd {
            lr,
            momentum,
            weight_decay: F::zero(),
            velocity: Slots::default(),
        }
    }

    /// [`Sgd::new`], refusing invalid hyper-parameters (see [`Sgd::validate`]).
    pub fn try_new(lr: F, momentum: F) -> Result<Self> {
        let sgd = Self::new(lr, momentum);
        sgd.validate()?;
        Ok(sgd)
    }

    /// The same optimizer with L2 weight decay `wd`.
    #[must_use = "returns the optimizer with weight decay; it does not change `self`"]
    pub fn with_weight_decay(mut self, wd: F) -> Self {
        self.weight_decay = wd;
        self
    }

    /// Checks the hyper-parameters: `lr >= 0`, `0 <= momentum < 1`, `weight_decay >= 0`, all
    /// finite.
    pub fn validate(&self) -> Result<()> {
        check_hyper("Sgd", "learning rate", self.lr, 0.0, false, None)?;
        check_hyper("Sgd", "momentum", self.momentum, 0.0, false, Some(1.0))?;
        check_hyper("Sgd", "weight decay", self.weight_decay, 0.0, false, None)
    }
}

const SGD_VELOCITY: &str = "sgd.velocity.";
const ADAM_T: &str = "adam.t";
const ADAM_M: &str = "adam.m.";
const ADAM_V: &str = "adam.v.";

impl<F: Float> Optimizer<F> for Sgd<F> {
    fn step(&mut self, params: &mut dyn Parameters<F>, grads: &dyn Parameters<F>) -> Result<()> {
        // Validate everything, then change anything.
        self.validate()?;
        let grads = check_step(params, grads)?;
        let plan = self.velocity.plan(&grads)?;
        self.velocity.apply(&plan, &grads);
        let (lr, mu) = (self.lr, self.momentum);
        let velocity = &mut self.velocity.values;
        for_each_entry(params, &grads, self.weight_decay, |k, j, p, g| {
            let v = &mut velocity[k][j];
            *v = mu * *v + g;
            *p -= lr * *v;
        });
        Ok(())
    }

    fn state(&self) -> NamedTensors<F> {
        let mut out = NamedTensors::new();
        self.velocity.export(SGD_VELOCITY, &mut out);
        out
    }

    fn load_state(&mut self, state: &NamedTensors<F>) -> Result<()> {
        if let Some((name, _)) = state
            .tensors
            .iter()
            .find(|(n, _)| !n.starts_with(SGD_VELOCITY))
        {
            return Err(Error::Invalid(format!(
                "Sgd state: expected tensors `{SGD_VELOCITY}<parameter>` only, found `{name}`{}",
                if name.starts_with("adam.") {
                    " (an Adam state)"
                } else {
                    ""
                }
            )));
        }
        // An empty state is that of a fresh optimizer.
        self.velocity = Slots::read("Sgd", SGD_VELOCITY, state)?;
        Ok(())
    }

    fn check_fits(&self, params: &dyn Parameters<F>) -> Result<()> {
        self.velocity.plan(&params.tensors()).map(|_| ())
    }

    named_hyper_parameters!("sgd", "Sgd", [lr, momentum, weight_decay]);
}

/// Adam (Kingma & Ba 2015) with bias correction, optional L2 weight decay `wd` and optional
/// decoupled weight decay `dwd` (AdamW, Loshchilov & Hutter 2019):
/// `g <- g + wd p; m <- b1 m + (1-b1) g; v <- b2 v + (1-b2) g^2;
/// p <- p - lr ((m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps) + dwd p)`.
///
/// The two weight decays differ. **L2** ([`Adam::with_weight_decay`], field `weight_decay`)
/// adds `wd p` to the gradient, so the decay goes through the moments and is rescaled by
/// `1 / sqrt(v)` like the gradient: parameters with large gradients are decayed less.
/// **Decoupled** ([`Adam::with_decoupled_weight_decay`], field `decoupled_weight_decay`: AdamW,
/// PyTorch's `torch.optim.AdamW(weight_decay=..)`) shrinks every parameter by `lr dwd p`
/// outside the moments, the same for all. Both may be set; each is 0 by default.
///
/// Valid hyper-parameters: `lr >= 0`, `0 <= beta1, beta2 < 1`, `eps > 0`, `weight_decay >= 0`,
/// `decoupled_weight_decay >= 0`, all finite; [`Adam::try_new`] and [`Adam::validate`] check
/// them, and [`Optimizer::step`] refuses to step with invalid ones (changing nothing).
/// Checkpoints ([`crate::save_checkpoint`]) save them with the state.
#[derive(Debug, Clone)]
pub struct Adam<F> {
    /// Learning rate.
    pub lr: F,
    /// Decay of the first moment ([`Adam::with_betas`]).
    pub beta1: F,
    /// Decay of the second moment ([`Adam::with_betas`]).
    pub beta2: F,
    /// Added to the denominator ([`Adam::with_epsilon`]).
    pub eps: F,
    /// L2 weight decay, added to the gradient (0 for none; [`Adam::with_weight_decay`]).
    pub weight_decay: F,
    /// Decoupled weight decay, AdamW (0 for none; [`Adam::with_decoupled_weight_decay`]).
    pub decoupled_weight_decay: F,
    t: i32,
    // Invariant: `m.names == v.names`.
    m: Slots<F>,
    v: Slots<F>,
}

impl<F: Float> Adam<F> {
    /// Adam with learning rate `lr` and the usual `beta1 = 0.9, beta2 = 0.999, eps = 1e-8`.
    /// An invalid rate is refused by the first [`Optimizer::step`]; [`Adam::try_new`] refuses
    /// it here.
    pub fn new(lr: F) -> Self {
        Adam {
            lr,
            beta1: F::from_f64(0.9),
            beta2: F::from_f64(0.999),
            eps: F::from_f64(1e-8),
            weight_decay: F::zero(),
            decoupled_weight_decay: F::zero(),
            t: 0,
            m: Slots::default(),
            v: Slots::default(),
        }
    }

    /// [`Adam::new`], refusing an invalid learning rate (see [`Adam::validate`]).
    pub fn try_new(lr: F) -> Result<Self> {
        let adam = Self::new(lr);
        adam.validate()?;
        Ok(adam)
    }

    /// The same optimizer with L2 weight decay `wd`: `wd p` is added to each gradient before
    /// the moments (see the [type's documentation](Adam) for how it differs from
    /// [`Adam::with_decoupled_weight_decay`]).
    #[must_use = "returns the optimizer with weight decay; it does not change `self`"]
    pub fn with_weight_decay(mut self, wd: F) -> Self {
        self.weight_decay = wd;
        self
    }

    /// The same optimizer with decoupled weight decay `wd` (AdamW): each step also subtracts
    /// `lr wd p` from each parameter, outside the moments. AdamW with PyTorch's defaults is
    /// `Adam::new(1e-3).with_decoupled_weight_decay(1e-2)`.
    #[must_use = "returns the optimizer with weight decay; it does not change `self`"]
    pub fn with_decoupled_weight_decay(mut self, wd: F) -> Self {
        self.decoupled_weight_decay = wd;
        self
    }

    /// The same optimizer with the moments' decay rates `beta1` (first moment, default 0.9)
    /// and `beta2` (second moment, default 0.999), each in `[0, 1)`; checked by
    /// [`Adam::validate`] and at every step.
    #[must_use = "returns the optimizer with the betas; it does not change `self`"]
    pub fn with_betas(mut self, beta1: F, beta2: F) -> Self {
        self.beta1 = beta1;
        self.beta2 = beta2;
        self
    }

    /// The same optimizer with `eps` (default `1e-8`, must be positive) added to the
    /// denominator `sqrt(v) + eps`.
    #[must_use = "returns the optimizer with the epsilon; it does not change `self`"]
    pub fn with_epsilon(mut self, eps: F) -> Self {
        self.eps = eps;
        self
    }

    /// The decay rates `(beta1, beta2)`.
    pub fn betas(&self) -> (F, F) {
        (self.beta1, self.beta2)
    }

    /// The `eps` added to the denominator.
    pub fn epsilon(&self) -> F {
        self.eps
    }

    /// Number of steps taken.
    pub fn steps(&self) -> i32 {
        self.t
    }

    /// Checks the hyper-parameters: `lr >= 0`, `0 <= beta1, beta2 < 1`, `eps > 0`,
    /// `weight_decay >= 0`, `decoupled_weight_decay >= 0`, all finite.
    pub fn validate(&self) -> Result<()> {
        check_hyper("Adam", "learning rate", self.lr, 0.0, false, None)?;
        check_hyper("Adam", "beta1", self.beta1, 0.0, false, Some(1.0))?;
        check_hyper("Adam", "beta2", self.beta2, 0.0, false, Some(1.0))?;
        check_hyper("Adam", "eps", self.eps, 0.0, true, None)?;
        check_hyper("Adam", "weight decay", self.weight_decay, 0.0, false, None)?;
        check_hyper(
            "Adam",
            "decoupled weight decay",
            self.decoupled_weight_decay,
            0.0,
            false,
            None,
        )
    }
}

impl<F: Float> Optimizer<F> for Adam<F> {
    fn step(&mut self, params: &mut dyn Parameters<F>, grads: &dyn Parameters<F>) -> Result<()> {
        // Validate everything, then change anything.
        self.validate()?;
        let grads = check_step(params, grads)?;
        let plan = self.m.plan(&grads)?;
        let t = self.t.checked_add(1).ok_or_else(|| {
            Error::Invalid(format!("Adam: the step count would exceed {}", i32::MAX))
        })?;
        self.m.apply(&plan, &grads);
        self.v.apply(&plan, &grads);
        self.t = t;
        let (b1, b2, lr, eps) = (self.beta1, self.beta2, self.lr, self.eps);
        let decay = self.decoupled_weight_decay;
        let c1 = F::one() - b1.powi(t);
        let c2 = F::one() - b2.powi(t);
        let (m, v) = (&mut self.m.values, &mut self.v.values);
        for_each_entry(params, &grads, self.weight_decay, |k, j, p, g| {
            let (m, v) = (&mut m[k][j], &mut v[k][j]);
            *m = b1 * *m + (F::one() - b1) * g;
            *v = b2 * *v + (F::one() - b2) * g * g;
            let adam = (*m / c1) / ((*v / c2).sqrt() + eps);
            // Without decoupled decay, exactly the update of before (no `+ 0 * p` rounding).
            if decay == F::zero() {
                *p -= lr * adam;
            } else {
                *p -= lr * (adam + decay * *p);
            }
        });
        Ok(())
    }

    fn state(&self) -> NamedTensors<F> {
        let mut out = NamedTensors::new();
        let t = ArrayD::from_elem(IxDyn(&[1]), F::from_f64(self.t as f64));
        out.tensors.push((ADAM_T.to_string(), t));
        self.m.export(ADAM_M, &mut out);
        self.v.export(ADAM_V, &mut out);
        out
    }

    fn load_state(&mut self, state: &NamedTensors<F>) -> Result<()> {
        // Validate everything, then change anything.
        if let Some((name, _)) = state
            .tensors
            .iter()
            .find(|(n, _)| n != ADAM_T && !n.starts_with(ADAM_M) && !n.starts_with(ADAM_V))
        {
            return Err(Error::Invalid(format!(
                "Adam state: expected tensors `{ADAM_T}`, `{ADAM_M}<parameter>` and \
                 `{ADAM_V}<parameter>` only, found `{name}`{}",
                if name.starts_with("sgd.") {
                    " (an Sgd state)"
                } else {
                    ""
                }
            )));
        }
        let t = state
            .get(ADAM_T)
            .map_err(|_| Error::Invalid(format!("Adam state: no step count `{ADAM_T}`")))?;
        let t = match t.iter().collect::<Vec<_>>().as_slice() {
            [&t] if t.is_finite()
                && t >= F::zero()
                && t.to_f64() <= i32::MAX as f64
                && t.to_f64().fract() == 0.0 =>
            {
                t.to_f64() as i32
            }
            other => {
                return Err(Error::Invalid(format!(
                    "Adam state: expected `{ADAM_T}` to hold one non-negative integer, found \
                     {other:?}"
                )))
            }
        };
        let m = Slots::read("Adam", ADAM_M, state)?;
        let v = Slots::read("Adam", ADAM_V, state)?;
        let same = m.names == v.names
            && m.values
                .iter()
                .zip(&v.values)
                .all(|(a, b)| a.len() == b.len());
        if !same {
            return Err(Error::Invalid(
                "Adam state: the first and second moments name different tensors (or sizes)".into(),
            ));
        }
        if let Some((name, x)) = v
            .names
            .iter()
            .zip(&v.values)
            .find_map(|(n, vals)| vals.iter().find(|x| **x < F::zero()).map(|x| (n, *x)))
        {
            return Err(Error::Invalid(format!(
                "Adam state: second moment `{ADAM_V}{name}`: expected non-negative values, \
                 found {x}"
            )));
        }
        self.t = t;
        self.m = m;
        self.v = v;
        Ok(())
    }

    fn check_fits(&self, params: &dyn Parameters<F>) -> Result<()> {
        self.m.plan(&params.tensors()).map(|_| ())
    }

    named_hyper_parameters!(
        "adam",
        "Adam",
        [lr, beta1, beta2, eps, weight_decay, decoupled_weight_decay]
    );
}

/// A learning-rate schedule: the rate for step (or epoch) `k` from the base rate.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
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
    #[must_use]
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

#[cfg(test)]
mod tests {
    use super::*;

    fn tensors(entries: &[(&str, &[f64])]) -> NamedTensors<f64> {
        let mut out = NamedTensors::new();
        for (name, values) in entries {
            out.push(*name, ndarray::arr1(values).into_dyn().view());
        }
        out
    }

    fn model() -> NamedTensors<f64> {
        tensors(&[("w", &[1.0, -2.0, 0.5]), ("b", &[0.25])])
    }

    fn grads() -> NamedTensors<f64> {
        tensors(&[("w", &[0.1, 0.2, -0.3]), ("b", &[0.4])])
    }

    /// Gradients of another model: other names and sizes.
    fn other_grads() -> NamedTensors<f64> {
        tensors(&[("u", &[0.1, 0.2]), ("c", &[0.4, 1.0])])
    }

    fn nan_grads() -> NamedTensors<f64> {
        tensors(&[("w", &[0.1, f64::NAN, -0.3]), ("b", &[0.4])])
    }

    /// Runs `bad` (which must fail) between two good steps and checks that it changed nothing:
    /// the parameters, the optimizer's state and every later step equal those of an optimizer
    /// that never saw it.
    fn failed_step_changes_nothing<O: Optimizer<f64> + Clone>(
        mut opt: O,
        bad: &dyn Fn(&mut O, &mut NamedTensors<f64>) -> Result<()>,
    ) {
        let mut params = model();
        let mut reference = opt.clone();
        let mut ref_params = model();
        // One good step first, so the state is not fresh (and once from a fresh state).
        for first in [false, true] {
            if first {
                opt.step(&mut params, &grads()).unwrap();
                reference.step(&mut ref_params, &grads()).unwrap();
            }
            let (state, before) = (opt.state(), params.clone());
            let err = bad(&mut opt, &mut params);
            assert!(err.is_err(), "the bad step must fail");
            assert_eq!(params, before, "parameters unchanged");
            assert_eq!(opt.state(), state, "optimizer state unchanged");
        }
        for _ in 0..3 {
            opt.step(&mut params, &grads()).unwrap();
            reference.step(&mut ref_params, &grads()).unwrap();
        }
        assert_eq!(params, ref_params);
        assert_eq!(opt.state(), reference.state());
    }

    #[test]
    fn clip_grad_norm_refuses_non_positive_and_non_finite_thresholds() {
        for bad in [-1.0, 0.0, -0.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let mut g = grads();
            let err = clip_grad_norm(&mut g, bad).unwrap_err().to_string();
            assert!(err.contains("max_norm"), "{err}");
            assert_eq!(g, grads(), "threshold {bad}: nothing changed");
            assert!(clip_grad_value(&mut g, bad).is_err());
            assert_eq!(g, grads(), "threshold {bad}: nothing changed");
        }
        // A valid threshold keeps the sign.
        let mut g = grads();
        let norm = clip_grad_norm(&mut g, 0.1).unwrap();
        assert!((norm - grads().global_norm()).abs() < 1e-15);
        assert!((g.global_norm() - 0.1).abs() < 1e-15);
        for ((_, a), (_, b)) in g.tensors.iter().zip(&grads().tensors) {
            assert!(a.iter().zip(b).all(|(x, y)| x * y >= 0.0));
        }
    }

    #[test]
    fn clip_grad_norm_zeroes_a_non_finite_step_and_returns_the_norm() {
        let mut g = nan_grads();
        assert!(clip_grad_norm(&mut g, 1.0).unwrap().is_nan());
        assert!(g.tensors.iter().all(|(_, v)| v.iter().all(|&x| x == 0.0)));
    }

    #[test]
    fn adam_refuses_nan_gradient_and_keeps_state() {
        failed_step_changes_nothing(Adam::new(1e-2), &|o, p| {
            let err = o.step(p, &nan_grads());
            let text = err.as_ref().unwrap_err().to_string();
            assert!(
                text.contains("gradient `w`") && text.contains("NaN"),
                "{text}"
            );
            assert!(text.contains("index 1"), "{text}");
            err
        });
    }

    #[test]
    fn sgd_refuses_nan_gradient_and_keeps_state() {
        failed_step_changes_nothing(Sgd::new(1e-2, 0.9), &|o, p| o.step(p, &nan_grads()));
        let mut inf = grads();
        inf.tensors[1].1[0] = f64::NEG_INFINITY;
        failed_step_changes_nothing(Sgd::new(1e-2, 0.9), &|o, p| o.step(p, &inf));
    }

    #[test]
    fn optimizers_refuse_non_finite_parameters() {
        let mut params = model();
        params.tensors[0].1[2] = f64::INFINITY;
        let before = params.clone();
        let text = Adam::new(1e-2)
            .step(&mut params, &grads())
            .unwrap_err()
            .to_string();
        assert!(
            text.contains("parameter `w`") && text.contains("inf"),
            "{text}"
        );
        assert!(Sgd::new(1e-2, 0.0).step(&mut params, &grads()).is_err());
        assert_eq!(params, before);
    }

    #[test]
    fn adam_refuses_invalid_hyper_parameters_and_keeps_state() {
        let text = Adam::<f64>::try_new(f64::NAN).unwrap_err().to_string();
        assert!(
            text.contains("learning rate") && text.contains("NaN"),
            "{text}"
        );
        assert!(Adam::<f64>::try_new(-1e-3).is_err());
        assert!(Adam::<f64>::try_new(f64::INFINITY).is_err());
        assert!(Adam::<f64>::try_new(0.0).is_ok());
        assert!(Adam::<f32>::try_new(1e-3).is_ok());
        let text = Adam::<f64>::new(f64::NAN)
            .step(&mut model(), &grads())
            .unwrap_err()
            .to_string();
        assert!(text.contains("learning rate"), "{text}");
        type Setter = fn(&mut Adam<f64>);
        let setters: [Setter; 8] = [
            |a| a.lr = f64::NAN,
            |a| a.lr = -1.0,
            |a| a.beta1 = 1.0,
            |a| a.beta1 = f64::NAN,
            |a| a.beta2 = -0.1,
            |a| a.eps = 0.0,
            |a| a.eps = f64::NAN,
            |a| a.weight_decay = f64::INFINITY,
        ];
        for set in setters {
            failed_step_changes_nothing(Adam::new(1e-2), &|o: &mut Adam<f64>, p| {
                let mut bad = o.clone();
                set(&mut bad);
                let result = bad.step(p, &grads());
                // `bad` is a copy: the original is stepped again below, so check the copy too.
                assert_eq!(bad.state(), o.state());
                result
            });
        }
        // Through the trait, as a schedule would set it.
        failed_step_changes_nothing(Adam::new(1e-2), &|o: &mut Adam<f64>, p| {
            let lr = o.learning_rate();
            o.set_learning_rate(f64::NAN);
            let result = o.step(p, &grads());
            o.set_learning_rate(lr);
            result
        });
    }

    #[test]
    fn adam_builders_set_betas_and_epsilon_and_invalid_ones_are_refused() {
        let adam = Adam::<f64>::new(1e-2)
            .with_betas(0.8, 0.99)
            .with_epsilon(1e-6);
        assert_eq!((adam.betas(), adam.epsilon()), ((0.8, 0.99), 1e-6));
        adam.validate().unwrap();
        // The update uses them: one step by hand (m = (1-b1) g, v = (1-b2) g^2).
        let mut params = model();
        let mut a = adam.clone();
        a.step(&mut params, &grads()).unwrap();
        for ((_, p), ((_, p0), (_, g))) in params
            .tensors
            .iter()
            .zip(model().tensors.iter().zip(&grads().tensors))
        {
            for ((&p, &p0), &g) in p.iter().zip(p0).zip(g) {
                let m_hat = 0.2 * g / (1.0 - 0.8);
                let v_hat = 0.01 * g * g / (1.0 - 0.99);
                let expected = p0 - 1e-2 * m_hat / (v_hat.sqrt() + 1e-6);
                assert!((p - expected).abs() < 1e-15, "{p} vs {expected}");
            }
        }
        type Build = fn(Adam<f64>) -> Adam<f64>;
        let bad: [(Build, &str); 7] = [
            (|a| a.with_betas(1.0, 0.999), "beta1"),
            (|a| a.with_betas(-0.1, 0.999), "beta1"),
            (|a| a.with_betas(0.9, f64::NAN), "beta2"),
            (|a| a.with_epsilon(0.0), "eps"),
            (|a| a.with_epsilon(-1e-8), "eps"),
            (
                |a| a.with_decoupled_weight_decay(-1e-2),
                "decoupled weight decay",
            ),
            (
                |a| a.with_decoupled_weight_decay(f64::INFINITY),
                "decoupled",
            ),
        ];
        for (build, name) in bad {
            let text = build(Adam::new(1e-2)).validate().unwrap_err().to_string();
            assert!(text.contains(name), "{text}");
            failed_step_changes_nothing(Adam::new(1e-2), &|o: &mut Adam<f64>, p| {
                let mut bad = build(o.clone());
                let result = bad.step(p, &grads());
                assert_eq!(bad.state(), o.state());
                result
            });
        }
    }

    #[test]
    fn adamw_decays_the_parameters_outside_the_moments() {
        // With zero gradients, decoupled decay shrinks every parameter by exactly `lr * wd * p`
        // (the moments stay zero); L2 decay goes through the moments and moves each parameter
        // by about `lr`, whatever its size.
        let zero = tensors(&[("w", &[0.0, 0.0, 0.0]), ("b", &[0.0])]);
        let (lr, wd) = (1e-2, 0.1);
        let mut decoupled = model();
        let mut adamw = Adam::new(lr).with_decoupled_weight_decay(wd);
        adamw.step(&mut decoupled, &zero).unwrap();
        let mut l2 = model();
        Adam::new(lr)
            .with_weight_decay(wd)
            .step(&mut l2, &zero)
            .unwrap();
        for (((_, w), (_, l)), (_, p0)) in decoupled
            .tensors
            .iter()
            .zip(&l2.tensors)
            .zip(&model().tensors)
        {
            for ((&w, &l), &p0) in w.iter().zip(l).zip(p0) {
                assert_eq!(w, p0 - lr * (0.0 + wd * p0));
                assert!((l - (p0 - lr * p0.signum())).abs() < 1e-6, "{l} {p0}");
            }
        }
        assert!(adamw.state().tensors[1..]
            .iter()
            .all(|(_, v)| v.iter().all(|&x| x == 0.0)));

        // Three steps against the formula `p -= lr (m_hat / (sqrt(v_hat) + eps) + wd p)`.
        let (b1, b2, eps) = (0.9, 0.999, 1e-8);
        let mut adamw = Adam::new(lr).with_decoupled_weight_decay(wd);
        let mut params = model();
        let mut reference: Vec<Vec<f64>> = model()
            .tensors
            .iter()
            .map(|(_, v)| v.iter().copied().collect())
            .collect();
        let g: Vec<Vec<f64>> = grads()
            .tensors
            .iter()
            .map(|(_, v)| v.iter().copied().collect())
            .collect();
        let mut m: Vec<Vec<f64>> = g.iter().map(|v| vec![0.0; v.len()]).collect();
        let mut v = m.clone();
        for t in 1..=3 {
            adamw.step(&mut params, &grads()).unwrap();
            for k in 0..g.len() {
                for j in 0..g[k].len() {
                    m[k][j] = b1 * m[k][j] + (1.0 - b1) * g[k][j];
                    v[k][j] = b2 * v[k][j] + (1.0 - b2) * g[k][j] * g[k][j];
                    let m_hat = m[k][j] / (1.0 - f64::powi(b1, t));
                    let v_hat = v[k][j] / (1.0 - f64::powi(b2, t));
                    let p = reference[k][j];
                    reference[k][j] = p - lr * (m_hat / (v_hat.sqrt() + eps) + wd * p);
                }
            }
        }
        for ((_, p), r) in params.tensors.iter().zip(&reference) {
            for (&p, &r) in p.iter().zip(r) {
                assert!((p - r).abs() < 1e-14, "{p} vs {r}");
            }
        }
        // Without weight decay, AdamW is Adam, bit for bit.
        let (mut a, mut b) = (model(), model());
        let mut plain = Adam::new(lr);
        let mut no_decay = Adam::new(lr).with_decoupled_weight_decay(0.0);
        for _ in 0..3 {
            plain.step(&mut a, &grads()).unwrap();
            no_decay.step(&mut b, &grads()).unwrap();
        }
        assert_eq!(a, b);
    }

    #[test]
    fn hyper_parameters_are_named_and_set_by_name() {
        let mut adam = Adam::<f64>::new(1e-3);
        adam.set_hyper_parameters(&[("beta2", 0.98), ("decoupled_weight_decay", 0.01)])
            .unwrap();
        assert_eq!(adam.betas(), (0.9, 0.98));
        assert_eq!(adam.decoupled_weight_decay, 0.01);
        let names: Vec<&str> = adam.hyper_parameters().iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            [
                "lr",
                "beta1",
                "beta2",
                "eps",
                "weight_decay",
                "decoupled_weight_decay"
            ]
        );
        let before = adam.hyper_parameters();
        let text = adam
            .set_hyper_parameters(&[("lr", 1.0), ("momentum", 0.9)])
            .unwrap_err()
            .to_string();
        assert!(
            text.contains("`momentum`") && text.contains("beta1"),
            "{text}"
        );
        assert_eq!(adam.hyper_parameters(), before, "nothing changed");
        let mut sgd = Sgd::<f32>::new(0.1, 0.9);
        sgd.set_hyper_parameters(&[("momentum", 0.5)]).unwrap();
        assert_eq!(sgd.momentum, 0.5);
        assert!(sgd.set_hyper_parameters(&[("eps", 1e-8)]).is_err());
    }

    #[test]
    fn sgd_refuses_invalid_hyper_parameters_and_keeps_state() {
        assert!(Sgd::<f64>::try_new(f64::NAN, 0.0).is_err());
        assert!(Sgd::<f64>::try_new(1e-2, 1.0).is_err());
        assert!(Sgd::<f64>::try_new(1e-2, -0.5).is_err());
        assert!(Sgd::<f64>::try_new(1e-2, 0.9).is_ok());
        for (lr, mu, wd) in [
            (f64::NAN, 0.9, 0.0),
            (-1.0, 0.9, 0.0),
            (1e-2, f64::NAN, 0.0),
            (1e-2, 0.9, f64::NAN),
            (1e-2, 0.9, -1e-4),
        ] {
            failed_step_changes_nothing(Sgd::new(1e-2, 0.9), &|o: &mut Sgd<f64>, p| {
                let saved = (o.lr, o.momentum, o.weight_decay);
                (o.lr, o.momentum, o.weight_decay) = (lr, mu, wd);
                let result = o.step(p, &grads());
                (o.lr, o.momentum, o.weight_decay) = saved;
                result
            });
        }
    }

    #[test]
    fn adam_step_with_another_models_gradients_leaves_state_unchanged() {
        // The report of issue 10: after one step with another model's gradients, every later
        // correct step failed.
        failed_step_changes_nothing(Adam::new(1e-2), &|o, p| o.step(p, &other_grads()));
        // Gradients that fit the parameters but not the optimizer's state.
        let mut adam = Adam::new(1e-2);
        let mut other = tensors(&[("u", &[0.0, 0.0]), ("c", &[0.0, 0.0])]);
        adam.step(&mut other, &other_grads()).unwrap();
        let state = adam.state();
        assert!(adam.step(&mut model(), &grads()).is_err());
        assert_eq!(adam.state(), state);
        assert_eq!(adam.steps(), 1);
        assert!(adam.check_fits(&model()).is_err());
        assert!(adam.check_fits(&other).is_ok());
        adam.step(&mut other, &other_grads()).unwrap();
    }

    #[test]
    fn sgd_step_with_another_models_gradients_leaves_state_unchanged() {
        failed_step_changes_nothing(Sgd::new(1e-2, 0.9), &|o, p| o.step(p, &other_grads()));
    }

    #[test]
    fn a_restored_state_in_another_order_lines_up_by_name() {
        let mut adam = Adam::new(1e-2);
        let mut params = model();
        adam.step(&mut params, &grads()).unwrap();
        let mut state = adam.state();
        state.tensors.reverse();
        let mut restored = Adam::new(1e-2);
        restored.load_state(&state).unwrap();
        let mut p2 = params.clone();
        adam.step(&mut params, &grads()).unwrap();
        restored.step(&mut p2, &grads()).unwrap();
        assert_eq!(params, p2);
        assert_eq!(adam.state(), restored.state());
    }

    #[test]
    fn optimizers_refuse_the_state_of_another_kind_and_keep_their_own() {
        let mut params = model();
        let mut adam = Adam::new(1e-2);
        let mut sgd = Sgd::new(1e-2, 0.9);
        adam.step(&mut params, &grads()).unwrap();
        sgd.step(&mut params, &grads()).unwrap();
        let (adam_state, sgd_state) = (adam.state(), sgd.state());
        let text = sgd.load_state(&adam_state).unwrap_err().to_string();
        assert!(
            text.contains("adam.t") && text.contains("Adam state"),
            "{text}"
        );
        assert_eq!(sgd.state(), sgd_state);
        let text = adam.load_state(&sgd_state).unwrap_err().to_string();
        assert!(text.contains("Sgd state"), "{text}");
        assert_eq!(adam.state(), adam_state);
        // A fresh state loads (and is fresh).
        let mut fresh = Sgd::new(1e-2, 0.9);
        fresh.load_state(&Sgd::new(1e-2, 0.9).state()).unwrap();
        assert!(fresh.state().is_empty());
        Adam::new(1e-2)
            .load_state(&Adam::<f64>::new(1e-2).state())
            .unwrap();
        assert_eq!(Optimizer::<f64>::kind(&adam), "adam");
        assert_eq!(Optimizer::<f64>::kind(&sgd), "sgd");
    }

    #[test]
    fn optimizers_refuse_an_invalid_state_and_keep_their_own() {
        let mut params = model();
        let mut adam = Adam::new(1e-2);
        adam.step(&mut params, &grads()).unwrap();
        let good = adam.state();
        let mut broken: Vec<NamedTensors<f64>> = Vec::new();
        // NaN moment, negative second moment, fractional or negative step count, a missing
        // second moment, no step count.
        for (name, value) in [("adam.m.w", f64::NAN), ("adam.v.b", -1.0)] {
            let mut s = good.clone();
            let k = s.tensors.iter().position(|(n, _)| n == name).unwrap();
            s.tensors[k].1[0] = value;
            broken.push(s);
        }
        for t in [1.5, -1.0, f64::INFINITY] {
            let mut s = good.clone();
            s.tensors[0].1[0] = t;
            broken.push(s);
        }
        let mut s = good.clone();
        s.tensors.retain(|(n, _)| n != "adam.v.w");
        broken.push(s);
        let mut s = good.clone();
        s.tensors.retain(|(n, _)| n != "adam.t");
        broken.push(s);
        for s in &broken {
            assert!(adam.load_state(s).is_err(), "{:?}", s.names());
            assert_eq!(adam.state(), good);
        }
        let mut sgd = Sgd::new(1e-2, 0.9);
        sgd.step(&mut params, &grads()).unwrap();
        let good = sgd.state();
        let mut s = good.clone();
        s.tensors[0].1[0] = f64::INFINITY;
        assert!(sgd.load_state(&s).is_err());
        assert_eq!(sgd.state(), good);
    }
}
