//! The Mackey–Glass time series, a standard chaotic benchmark for one-step and multi-step
//! forecasting.
//!
//! Source: Mackey & Glass (1977), "Oscillation and chaos in physiological control systems",
//! Science 197; the benchmark settings (beta 0.2, gamma 0.1, n 10, tau 17, one sample per time
//! unit) follow e.g. Jaeger & Haas (2004), Science 304, and Gers, Eck & Schmidhuber (2001),
//! "Applying LSTM to time series predictable through time-window approaches".
//!
//! Definition: the delay differential equation
//! `dx/dt = beta * x(t - tau) / (1 + x(t - tau)^n) - gamma * x(t)`
//! with constant initial history `x(t) = 1.2` for `t <= 0`, integrated by classic fourth-order
//! Runge–Kutta with step `dt = 0.1` (`tau / dt` must be an integer); the delayed value at the
//! half step is the linear interpolation of the two stored neighbours. The series is sampled
//! every `1.0` time unit after discarding `transient` time units. With tau 17 the attractor is
//! chaotic and the samples stay in roughly `[0.2, 1.4]`.

use recurrent::rand::RngExt;

/// Parameters of the equation and of its integration.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Params {
    /// Production rate `beta`.
    pub beta: f64,
    /// Decay rate `gamma`.
    pub gamma: f64,
    /// Exponent `n`.
    pub n: f64,
    /// Delay `tau`.
    pub tau: f64,
    /// Integration step; `tau / dt` and `1 / dt` must be integers.
    pub dt: f64,
    /// Constant initial history `x(t)` for `t <= 0`.
    pub x0: f64,
}

impl Default for Params {
    /// beta 0.2, gamma 0.1, n 10, tau 17, dt 0.1, x0 1.2.
    fn default() -> Self {
        Params {
            beta: 0.2,
            gamma: 0.1,
            n: 10.0,
            tau: 17.0,
            dt: 0.1,
            x0: 1.2,
        }
    }
}

/// Default transient discarded before sampling, in time units.
pub const DEFAULT_TRANSIENT: usize = 1000;

/// `len` samples (one per time unit) of the default Mackey–Glass series after discarding
/// `transient` time units. Deterministic.
pub fn series(len: usize, transient: usize) -> Vec<f64> {
    series_with(&Params::default(), len, transient)
}

/// `len` samples (one per time unit) after `transient` time units, for the given parameters.
pub fn series_with(p: &Params, len: usize, transient: usize) -> Vec<f64> {
    let per_unit = (1.0 / p.dt).round() as usize;
    let lag = (p.tau / p.dt).round() as usize;
    assert!(
        ((per_unit as f64) * p.dt - 1.0).abs() < 1e-9 && ((lag as f64) * p.dt - p.tau).abs() < 1e-9,
        "1/dt and tau/dt must be integers"
    );
    let f = |x: f64, delayed: f64| p.beta * delayed / (1.0 + delayed.powf(p.n)) - p.gamma * x;
    let steps = (transient + len) * per_unit;
    // history[i] = x(i * dt - tau); the first `lag + 1` entries are the initial history.
    let mut history = vec![p.x0; lag + 1];
    history.reserve(steps);
    let mut out = Vec::with_capacity(len);
    for k in 0..steps {
        if k % per_unit == 0 && k >= transient * per_unit {
            out.push(history[history.len() - 1]);
        }
        let i = history.len() - 1; // index of x(t)
        let x = history[i];
        let d0 = history[i - lag];
        let d1 = history[i - lag + 1];
        let dh = 0.5 * (d0 + d1);
        let h = p.dt;
        let k1 = f(x, d0);
        let k2 = f(x + 0.5 * h * k1, dh);
        let k3 = f(x + 0.5 * h * k2, dh);
        let k4 = f(x + h * k3, d1);
        history.push(x + h / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4));
    }
    out
}

/// Inputs and targets for `horizon`-step-ahead prediction along a series:
/// `inputs[t] = series[t]`, `targets[t] = series[t + horizon]`.
pub fn forecasting_pairs(series: &[f64], horizon: usize) -> (Vec<f64>, Vec<f64>) {
    assert!(horizon < series.len());
    let n = series.len() - horizon;
    (series[..n].to_vec(), series[horizon..].to_vec())
}

/// `count` random windows of `window` consecutive samples with their targets shifted by
/// `horizon`: `(series[s..s + window], series[s + horizon..s + horizon + window])` for a start
/// `s` drawn uniformly.
pub fn sample_windows(
    rng: &mut impl RngExt,
    series: &[f64],
    window: usize,
    horizon: usize,
    count: usize,
) -> Vec<(Vec<f64>, Vec<f64>)> {
    assert!(window + horizon <= series.len());
    let last_start = series.len() - window - horizon;
    (0..count)
        .map(|_| {
            let s = rng.random_range(0..=last_start);
            (
                series[s..s + window].to_vec(),
                series[s + horizon..s + horizon + window].to_vec(),
            )
        })
        .collect()
}

/// Mean of a slice.
pub fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// Population standard deviation of a slice.
pub fn std_dev(xs: &[f64]) -> f64 {
    let m = mean(xs);
    (xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / xs.len() as f64).sqrt()
}

/// Root mean squared error.
pub fn rmse(pred: &[f64], target: &[f64]) -> f64 {
    assert_eq!(pred.len(), target.len());
    assert!(!target.is_empty());
    let mse = pred
        .iter()
        .zip(target)
        .map(|(p, t)| (p - t) * (p - t))
        .sum::<f64>()
        / target.len() as f64;
    mse.sqrt()
}

/// Normalized RMSE: RMSE divided by the (population) standard deviation of `target`.
/// Predicting the target's mean scores 1.0.
pub fn nrmse(pred: &[f64], target: &[f64]) -> f64 {
    rmse(pred, target) / std_dev(target)
}

/// The persistence baseline for `horizon`-step-ahead prediction: predict `x(t + horizon) =
/// x(t)`. Returns `(predictions, targets)`, i.e. [`forecasting_pairs`].
pub fn persistence_baseline(series: &[f64], horizon: usize) -> (Vec<f64>, Vec<f64>) {
    forecasting_pairs(series, horizon)
}

/// NRMSE of the persistence baseline; a model should beat it.
pub fn persistence_nrmse(series: &[f64], horizon: usize) -> f64 {
    let (pred, target) = persistence_baseline(series, horizon);
    nrmse(&pred, &target)
}

/// Sample autocorrelation at `lag` (normalized by the lag-0 autocovariance).
pub fn autocorrelation(xs: &[f64], lag: usize) -> f64 {
    let m = mean(xs);
    let var: f64 = xs.iter().map(|x| (x - m) * (x - m)).sum();
    let cov: f64 = xs
        .iter()
        .zip(&xs[lag..])
        .map(|(a, b)| (a - m) * (b - m))
        .sum();
    cov / var
}
