//! Per-epoch training metrics: record them as training goes, print a summary table at the end and
//! hand the curves to a plot.
//!
//! ```
//! use rnn_runtime::TrainingLog;
//!
//! let mut log = TrainingLog::new();
//! for epoch in 0..3 {
//!     let loss = 1.0 / (epoch as f64 + 1.0);
//!     log.log(epoch, "loss", loss);
//!     log.log(epoch, "accuracy", 0.5 + 0.1 * epoch as f64);
//! }
//! assert_eq!(log.last("loss"), Some(1.0 / 3.0));
//! assert_eq!(log.min("loss"), Some((2, 1.0 / 3.0)));
//! println!("{log}"); // one row per metric: epochs, first, last, min and max with their epoch
//! ```

use std::fmt;

/// A named curve of `(x, y)` points, e.g. one metric per epoch; what `plot_curves` draws (with
/// the `plot` feature).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Curve {
    /// The curve's name, shown in the legend.
    pub name: String,
    /// The points `(x, y)`, drawn in this order.
    pub points: Vec<(f64, f64)>,
}

impl Curve {
    /// A curve named `name` through `points`.
    pub fn new(name: impl Into<String>, points: impl IntoIterator<Item = (f64, f64)>) -> Self {
        Curve {
            name: name.into(),
            points: points.into_iter().collect(),
        }
    }

    /// A curve named `name` through `values` at `x = 0, 1, 2, ...` (e.g. a loss per step).
    pub fn from_values(name: impl Into<String>, values: impl IntoIterator<Item = f64>) -> Self {
        Curve::new(
            name,
            values
                .into_iter()
                .enumerate()
                .map(|(i, value)| (i as f64, value)),
        )
    }
}

/// One metric's values, sorted by epoch, at most one per epoch.
#[derive(Debug, Clone, PartialEq)]
struct Metric {
    name: String,
    points: Vec<(usize, f64)>,
}

/// Named metrics per epoch (loss, accuracy, learning rate, whatever a training loop logs).
///
/// Metrics keep the order in which they were first logged. [`Display`](fmt::Display) renders the
/// final summary table: per metric the number of epochs logged, the first and last values and the
/// minimum and maximum with the epoch where they occurred (NaN values are ignored for those two).
/// [`curves`](TrainingLog::curves) exposes the series for a plot, and with the `plot` feature
/// `TrainingLog::plot` draws them to a PNG.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrainingLog {
    metrics: Vec<Metric>,
}

impl TrainingLog {
    /// An empty log.
    pub fn new() -> Self {
        TrainingLog::default()
    }

    /// Records `value` for the metric `name` at `epoch`. Logging the same metric twice for one
    /// epoch keeps the later value; epochs may be logged in any order.
    pub fn log(&mut self, epoch: usize, name: &str, value: f64) {
        let metric = match self.metrics.iter().position(|m| m.name == name) {
            Some(i) => &mut self.metrics[i],
            None => {
                self.metrics.push(Metric {
                    name: name.to_owned(),
                    points: Vec::new(),
                });
                self.metrics.last_mut().expect("just pushed")
            }
        };
        match metric.points.binary_search_by_key(&epoch, |&(e, _)| e) {
            Ok(i) => metric.points[i].1 = value,
            Err(i) => metric.points.insert(i, (epoch, value)),
        }
    }

    /// Whether nothing has been logged.
    pub fn is_empty(&self) -> bool {
        self.metrics.is_empty()
    }

    /// The metrics' names, in the order they were first logged.
    pub fn names(&self) -> impl Iterator<Item = &str> + '_ {
        self.metrics.iter().map(|m| m.name.as_str())
    }

    /// The metric `name` as `(epoch, value)` pairs sorted by epoch, or `None` if it was never
    /// logged.
    pub fn get(&self, name: &str) -> Option<&[(usize, f64)]> {
        self.metric(name).map(|m| m.points.as_slice())
    }

    /// The value of `name` at its latest epoch.
    pub fn last(&self, name: &str) -> Option<f64> {
        self.get(name)?.last().map(|&(_, v)| v)
    }

    /// The smallest value of `name` and its epoch (the earliest on ties), ignoring NaN.
    pub fn min(&self, name: &str) -> Option<(usize, f64)> {
        extreme(self.get(name)?, |candidate, best| candidate < best)
    }

    /// The largest value of `name` and its epoch (the earliest on ties), ignoring NaN.
    pub fn max(&self, name: &str) -> Option<(usize, f64)> {
        extreme(self.get(name)?, |candidate, best| candidate > best)
    }

    /// The metric `name` as a curve with `x = epoch`.
    pub fn curve(&self, name: &str) -> Option<Curve> {
        self.metric(name).map(metric_curve)
    }

    /// Every metric as a curve with `x = epoch`, in the order they were first logged.
    pub fn curves(&self) -> Vec<Curve> {
        self.metrics.iter().map(metric_curve).collect()
    }

    fn metric(&self, name: &str) -> Option<&Metric> {
        self.metrics.iter().find(|m| m.name == name)
    }
}

fn metric_curve(metric: &Metric) -> Curve {
    Curve::new(
        metric.name.clone(),
        metric.points.iter().map(|&(e, v)| (e as f64, v)),
    )
}

fn extreme(points: &[(usize, f64)], better: impl Fn(f64, f64) -> bool) -> Option<(usize, f64)> {
    points
        .iter()
        .copied()
        .filter(|(_, v)| !v.is_nan())
        .fold(None, |best, (e, v)| match best {
            Some((_, b)) if !better(v, b) => best,
            _ => Some((e, v)),
        })
}

/// A value for a table or an axis tick: fixed point in `[0.01, 1e5)`, scientific outside.
pub(crate) fn format_value(v: f64) -> String {
    let a = v.abs();
    if !v.is_finite() || v == 0.0 {
        format!("{v}")
    } else if (1e-2..1e5).contains(&a) {
        format!("{v:.4}")
    } else {
        format!("{v:.4e}")
    }
}

impl fmt::Display for TrainingLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.metrics.is_empty() {
            return writeln!(f, "no metrics logged");
        }
        let at = |extreme: Option<(usize, f64)>| match extreme {
            Some((epoch, v)) => format!("{} ({epoch})", format_value(v)),
            None => "-".to_owned(),
        };
        let header = [
            "metric",
            "epochs",
            "first",
            "last",
            "min (epoch)",
            "max (epoch)",
        ]
        .map(str::to_owned);
        let mut rows = vec![header];
        for m in &self.metrics {
            let first = m.points.first().map(|&(_, v)| v);
            let last = m.points.last().map(|&(_, v)| v);
            let value = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), format_value);
            rows.push([
                m.name.clone(),
                m.points.len().to_string(),
                value(first),
                value(last),
                at(self.min(&m.name)),
                at(self.max(&m.name)),
            ]);
        }
        let mut widths = [0usize; 6];
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        for row in &rows {
            let mut line = String::new();
            for (i, (cell, &w)) in row.iter().zip(&widths).enumerate() {
                if i == 0 {
                    line.push_str(&format!("{cell:<w$}"));
                } else {
                    line.push_str(&format!("  {cell:>w$}"));
                }
            }
            writeln!(f, "{}", line.trim_end())?;
        }
        Ok(())
    }
}
