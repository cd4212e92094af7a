//! Gradient checking: the derived backward pass against finite differences, in `f64`.
//!
//! The loss is `L = sum(dY * Y) + sum(dS * S_final)` with random weights `dY`, `dS`, so every
//! output and every final state (and history entry) contributes. Each entry of every parameter,
//! of the input sequence and of the initial states (and history) is perturbed, and its
//! derivative estimated by central differences; an entry passes when
//! `|analytic - numeric| <= abs_tol + rel_tol * |numeric|`.
//!
//! # The estimate
//!
//! A central difference `D(h) = (L(x + h) - L(x - h)) / 2h` has a truncation error
//! `h^2 L3(x) / 6 + O(h^4)` (`L3` the third derivative): where a cell's functions curve
//! sharply (`log(sqrt(a*a + 1e-3))` near `a = 0`, a quotient such as `a / a`, a state fed back
//! through them) it can exceed the tolerance at any step large enough for the rounding error to
//! stay small, and a correct backward pass fails. So by default
//! ([`GradcheckConfig::extrapolate`]) the checker combines the differences at `h` and `h/2` by
//! Richardson extrapolation, `numeric = (4 D(h/2) - D(h)) / 3`, which cancels the `h^2` term:
//! the truncation error falls to `O(h^4)` while the rounding error grows only threefold. The
//! tolerance is not loosened: a wrong derivative (a backward pass off by a relative 1e-4, a
//! dropped term) still fails. Each difference divides by the step actually taken
//! (`(x + h) - (x - h)` as rounded), not by the nominal one.
//!
//! # Random masks
//!
//! A cell whose spec declares random masks (`mask m: [H] = bernoulli(p);`) is checked with
//! masks drawn once, from the seed, as a training pass draws them, and held fixed for every
//! evaluation of the loss ([`Masks::Given`]): the gradient of a training pass, which treats its
//! masks as constants.

use ndarray::{Array2, Array3};
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};

use crate::core::cell::Cell;
use crate::core::error::Result;
use crate::core::masks::Masks;
use crate::core::states::States;

/// Settings of [`gradcheck`]; the defaults: central differences at step 1e-6, a tolerance of
/// `1e-7 + 1e-6 * |numeric|` per entry, with Richardson
/// extrapolation of the finite differences (see the [module documentation](self)).
#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct GradcheckConfig {
    /// Seed of the random inputs, states and loss weights.
    pub seed: u64,
    /// Sequence length `T`.
    pub n_time: usize,
    /// Batch size `B`; examples get lengths `T, T-2, 1, 0, T, ...` when `variable_lengths`.
    pub n_batch: usize,
    /// Give the examples different lengths (including 0).
    pub variable_lengths: bool,
    /// Finite-difference step `h` (with [`GradcheckConfig::extrapolate`], the larger of the two
    /// steps `h` and `h/2`).
    pub step: f64,
    /// Combine the central differences at `step` and `step / 2` by Richardson extrapolation
    /// (the default), cancelling the truncation error's `h^2` term (see the
    /// [module documentation](self)); `false` gives the plain central difference at `step`.
    pub extrapolate: bool,
    /// Absolute tolerance.
    pub abs_tol: f64,
    /// Relative tolerance.
    pub rel_tol: f64,
}

impl Default for GradcheckConfig {
    fn default() -> Self {
        GradcheckConfig {
            seed: 0x5eed,
            n_time: 5,
            n_batch: 4,
            variable_lengths: true,
            step: 1e-6,
            extrapolate: true,
            abs_tol: 1e-7,
            rel_tol: 1e-6,
        }
    }
}

/// The outcome of a gradient check.
#[derive(Debug, Clone)]
pub struct GradcheckReport {
    /// Number of entries compared.
    pub checked: usize,
    /// Largest `|analytic - numeric|`.
    pub max_abs_error: f64,
    /// Largest `|analytic - numeric| / max(|numeric|, 1e-3)`.
    pub max_rel_error: f64,
    /// The worst entry relative to its tolerance: (what, analytic, numeric, error / tolerance).
    pub worst: Option<(String, f64, f64, f64)>,
    /// Entries outside the tolerance (at most 20 are listed).
    pub failures: Vec<String>,
    /// Number of entries outside the tolerance.
    pub n_failures: usize,
}

impl GradcheckReport {
    /// Whether every entry was within tolerance.
    pub fn passed(&self) -> bool {
        self.n_failures == 0 && self.checked > 0
    }

    /// Panics with the report unless every entry passed (for tests).
    #[track_caller]
    pub fn assert_ok(&self) {
        assert!(self.passed(), "gradient check failed:\n{self}");
    }
}

impl std::fmt::Display for GradcheckReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{} entries checked, {} outside tolerance; max abs error {:.3e}, max rel error {:.3e}",
            self.checked, self.n_failures, self.max_abs_error, self.max_rel_error
        )?;
        if let Some((what, a, n, ratio)) = &self.worst {
            writeln!(
                f,
                "worst: {what}: analytic {a:.12e}, numeric {n:.12e} ({ratio:.3} x tolerance)"
            )?;
        }
        for line in &self.failures {
            writeln!(f, "  {line}")?;
        }
        Ok(())
    }
}

/// Checks `cell`'s backward pass against finite differences. See the [module](self) docs.
pub fn gradcheck<C: Cell<f64>>(cell: &C, config: &GradcheckConfig) -> Result<GradcheckReport> {
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let (t, b) = (config.n_time, config.n_batch);
    let mut normal = |shape: (usize, usize, usize)| {
        Array3::from_shape_fn(shape, |_| rng.random_range(-1.0..1.0))
    };
    let x = normal((t, b, cell.input_size()));
    let d_out = normal((t, b, cell.output_size()));
    let mut init = cell.zero_states(b);
    let mut d_final = cell.zero_states(b);
    let mut rng2 = ChaCha8Rng::seed_from_u64(config.seed ^ 0xabcdef);
    for a in init.arrays_mut().chain(d_final.arrays_mut()) {
        a.mapv_inplace(|_| rng2.random_range(-1.0..1.0));
    }
    let lengths: Vec<usize> = (0..b)
        .map(|i| {
            if config.variable_lengths {
                [t, t.saturating_sub(2), 1.min(t), 0][i % 4]
            } else {
                t
            }
        })
        .collect();

    // Random masks drawn once, then fixed.
    let mut mask_rng = ChaCha8Rng::seed_from_u64(config.seed ^ 0x6d61_736b);
    let masks = cell
        .forward_train(x.view(), Some(&init), Some(&lengths), &mut mask_rng)?
        .masks()?;

    let loss = |cell: &C, x: &Array3<f64>, init: &States<f64>| -> Result<f64> {
        let fwd =
            cell.forward_masked(x.view(), Some(init), Some(&lengths), Masks::Given(&masks))?;
        let mut l = (&fwd.outputs * &d_out).sum();
        for (s, d) in fwd.final_states.arrays().zip(d_final.arrays()) {
            l += (s * d).sum();
        }
        Ok(l)
    };

    let fwd = cell.forward_masked(x.view(), Some(&init), Some(&lengths), Masks::Given(&masks))?;
    let grads = cell.backward(&fwd, d_out.view(), Some(&d_final))?;

    let mut report = GradcheckReport {
        checked: 0,
        max_abs_error: 0.0,
        max_rel_error: 0.0,
        worst: None,
        failures: vec![],
        n_failures: 0,
    };
    let mut compare = |what: String, analytic: f64, numeric: f64| {
        let err = (analytic - numeric).abs();
        let tol = config.abs_tol + config.rel_tol * numeric.abs();
        report.checked += 1;
        report.max_abs_error = report.max_abs_error.max(err);
        report.max_rel_error = report.max_rel_error.max(err / numeric.abs().max(1e-3));
        let ratio = err / tol;
        if report.worst.as_ref().is_none_or(|w| ratio > w.3) || !ratio.is_finite() {
            report.worst = Some((what.clone(), analytic, numeric, ratio));
        }
        let passed = err <= tol; // false for NaN, which must fail
        if !passed {
            report.n_failures += 1;
            if report.failures.len() < 20 {
                report.failures.push(format!(
                    "{what}: analytic {analytic:.10e}, numeric {numeric:.10e}"
                ));
            }
        }
    };

    // Parameters.
    let mut probe = cell.clone();
    for (p, name) in cell.params().names().enumerate() {
        let n = cell.params().value(p).len();
        for k in 0..n {
            let orig = probe.params().slice(p)[k];
            let numeric = derivative(config, orig, |v| {
                probe.params_mut().slice_mut(p)[k] = v;
                let l = loss(&probe, &x, &init);
                probe.params_mut().slice_mut(p)[k] = orig;
                l
            })?;
            let idx = multi_index(cell.params().value(p).shape(), k);
            compare(format!("d{name}{idx:?}"), grads.params.slice(p)[k], numeric);
        }
    }
    // Inputs.
    let mut xp = x.clone();
    for (idx, &analytic) in grads.inputs.indexed_iter() {
        let orig = xp[idx];
        let numeric = derivative(config, orig, |v| {
            xp[idx] = v;
            let l = loss(cell, &xp, &init);
            xp[idx] = orig;
            l
        })?;
        compare(format!("dx{idx:?}"), analytic, numeric);
    }
    // Initial states, their history and the input history.
    let names: Vec<String> = C::spec()
        .states
        .iter()
        .map(|s| s.name.to_string())
        .chain(
            C::spec()
                .states
                .iter()
                .flat_map(|s| (1..s.delay).map(move |j| format!("{}_history[{}]", s.name, j - 1))),
        )
        .chain((0..C::spec().input_delay).map(|j| format!("{}_history[{j}]", C::spec().input.0)))
        .collect();
    let analytic: Vec<Array2<f64>> = grads.initial_states.arrays().cloned().collect();
    let mut init_p = init.clone();
    for (a_idx, a) in analytic.iter().enumerate() {
        for (idx, &g) in a.indexed_iter() {
            let orig = entry_mut(&mut init_p, a_idx)[idx];
            let numeric = derivative(config, orig, |v| {
                entry_mut(&mut init_p, a_idx)[idx] = v;
                let l = loss(cell, &x, &init_p);
                entry_mut(&mut init_p, a_idx)[idx] = orig;
                l
            })?;
            compare(format!("d{}_0{idx:?}", names[a_idx]), g, numeric);
        }
    }
    Ok(report)
}

/// The derivative at `x` of `loss` (the loss with the entry set to its argument, the entry
/// restored afterwards) by central differences: at `config.step`, or (with
/// `config.extrapolate`) Richardson-extrapolated from `step` and `step / 2`. Each difference
/// divides by the step actually taken (the perturbed values as rounded).
fn derivative(
    config: &GradcheckConfig,
    x: f64,
    mut loss: impl FnMut(f64) -> Result<f64>,
) -> Result<f64> {
    let mut central = |h: f64| -> Result<f64> {
        let (up, down) = (x + h, x - h);
        Ok((loss(up)? - loss(down)?) / (up - down))
    };
    let coarse = central(config.step)?;
    if !config.extrapolate {
        return Ok(coarse);
    }
    let fine = central(config.step / 2.0)?;
    Ok((4.0 * fine - coarse) / 3.0)
}

fn entry_mut(states: &mut States<f64>, k: usize) -> &mut Array2<f64> {
    states
        .arrays_mut()
        .nth(k)
        .expect("gradients and states have the same layout")
}

fn multi_index(shape: &[usize], mut k: usize) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for (i, &n) in shape.iter().enumerate().rev() {
        idx[i] = k % n.max(1);
        k /= n.max(1);
    }
    idx
}

/// The one-line gradient check for tests: builds a seeded `C<f64>` of `dims`, runs
/// [`gradcheck`] with the default settings and panics with the report on failure.
///
/// ```ignore
/// #[test]
/// fn my_cell_gradients() {
///     recurrent::assert_gradcheck::<MyCell<f64>>(MyCellDims { I: 3, H: 4 });
/// }
/// ```
#[track_caller]
pub fn assert_gradcheck<C: Cell<f64>>(dims: C::Dims) -> GradcheckReport {
    let mut rng = ChaCha8Rng::seed_from_u64(42);
    let cell = C::new(dims, &mut rng);
    let report = match gradcheck(&cell, &GradcheckConfig::default()) {
        Ok(r) => r,
        Err(e) => panic!("gradient check could not run: {e}"),
    };
    report.assert_ok();
    report
}
