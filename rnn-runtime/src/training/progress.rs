//! A terminal progress bar for training loops (feature `progress`, built on `indicatif`).
//!
//! ```
//! use rnn_runtime::TrainingProgress;
//!
//! let (epochs, steps_per_epoch, batch) = (2, 5, 32);
//! let mut progress = TrainingProgress::new(epochs * steps_per_epoch).quiet(true);
//! for epoch in 0..epochs {
//!     progress.set_epoch(epoch, epochs);
//!     for step in 0..steps_per_epoch {
//!         let loss = 1.0 / (1 + epoch * steps_per_epoch + step) as f64;
//!         progress.step(loss, batch);
//!     }
//!     progress.println(format!("epoch {epoch}: loss {:.4}", progress.loss().unwrap()));
//! }
//! progress.finish();
//! ```

use std::borrow::Cow;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The bar's layout: epoch, elapsed time, bar, steps, running loss and throughput, ETA.
const TEMPLATE: &str = "{prefix} [{elapsed_precise}] [{wide_bar}] {pos}/{len} {msg} (ETA {eta})";

/// A progress bar over a known number of training steps: running loss (an exponential moving
/// average), throughput in examples (or tokens, see [`unit`](TrainingProgress::unit)) per second,
/// elapsed time and ETA.
///
/// The bar draws to stderr and hides itself when stderr is not a terminal (logs, CI, pipes), so it
/// can stay on unconditionally; [`quiet`](TrainingProgress::quiet) hides it regardless.
/// Lines printed with [`println`](TrainingProgress::println) appear above the bar, or plainly on
/// stderr when the bar is hidden because stderr is not a terminal (never in quiet mode).
#[derive(Debug)]
pub struct TrainingProgress {
    bar: ProgressBar,
    quiet: bool,
    smoothing: f64,
    loss: Option<f64>,
    examples: u64,
    unit: Cow<'static, str>,
}

impl TrainingProgress {
    /// A bar over `total_steps` steps, drawing to stderr (hidden if stderr is not a terminal),
    /// counting examples, with loss smoothing 0.9.
    pub fn new(total_steps: u64) -> Self {
        let bar = ProgressBar::with_draw_target(Some(total_steps), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(TEMPLATE)
                .expect("the progress template is valid")
                .progress_chars("=> "),
        );
        bar.set_prefix("training");
        TrainingProgress {
            bar,
            quiet: false,
            smoothing: 0.9,
            loss: None,
            examples: 0,
            unit: Cow::Borrowed("ex"),
        }
    }

    /// Quiet mode: with `quiet = true` nothing is drawn or printed; the running loss and throughput
    /// are still tracked.
    pub fn quiet(mut self, quiet: bool) -> Self {
        self.quiet = quiet;
        if quiet {
            self.bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        self
    }

    /// The unit counted by [`step`](TrainingProgress::step), shown as `<unit>/s` (default `ex`
    /// for examples; e.g. `tok` for tokens).
    pub fn unit(mut self, unit: impl Into<Cow<'static, str>>) -> Self {
        self.unit = unit.into();
        self
    }

    /// The weight `beta` of the past in the running loss `ema <- beta ema + (1 - beta) loss`
    /// (clamped to `[0, 1)`; 0 shows the last loss). The first step's loss starts the average.
    pub fn smoothing(mut self, beta: f64) -> Self {
        self.smoothing = if beta.is_nan() {
            0.0
        } else {
            beta.clamp(0.0, 1.0 - f64::EPSILON)
        };
        self
    }

    /// Shows `epoch k/n` (1-based) in front of the bar for the 0-based `epoch` of `epochs`.
    pub fn set_epoch(&self, epoch: u64, epochs: u64) {
        self.bar
            .set_prefix(format!("epoch {}/{}", epoch + 1, epochs));
    }

    /// Advances by one step that processed `examples` examples (or tokens) with loss `loss`.
    /// A non-finite loss is shown as such (it makes the running average non-finite too).
    pub fn step(&mut self, loss: f64, examples: u64) {
        let beta = self.smoothing;
        self.loss = Some(match self.loss {
            Some(ema) => beta * ema + (1.0 - beta) * loss,
            None => loss,
        });
        self.examples += examples;
        self.bar.set_message(self.status());
        self.bar.inc(1);
    }

    /// The running (exponentially averaged) loss, `None` before the first step.
    pub fn loss(&self) -> Option<f64> {
        self.loss
    }

    /// Examples (or tokens) counted by [`step`](TrainingProgress::step) so far.
    pub fn examples(&self) -> u64 {
        self.examples
    }

    /// Throughput since the bar was created: examples (or tokens) per second.
    pub fn throughput(&self) -> f64 {
        let seconds = self.elapsed().as_secs_f64();
        if seconds > 0.0 {
            self.examples as f64 / seconds
        } else {
            0.0
        }
    }

    /// Time since the bar was created.
    pub fn elapsed(&self) -> Duration {
        self.bar.elapsed()
    }

    /// Steps done so far.
    pub fn position(&self) -> u64 {
        self.bar.position()
    }

    /// Whether the bar is hidden (quiet mode, or stderr is not a terminal).
    pub fn is_hidden(&self) -> bool {
        self.bar.is_hidden()
    }

    /// Prints `line` above the bar; on plain stderr if the bar is hidden because stderr is not a
    /// terminal; nowhere in quiet mode.
    pub fn println(&self, line: impl AsRef<str>) {
        if self.quiet {
            return;
        }
        if self.bar.is_hidden() {
            eprintln!("{}", line.as_ref());
        } else {
            self.bar.println(line);
        }
    }

    /// Leaves the bar in place with the final running loss, throughput and elapsed time.
    pub fn finish(&self) {
        self.bar.finish_with_message(format!(
            "{}, {:.1}s",
            self.status(),
            self.elapsed().as_secs_f64()
        ));
    }

    /// The underlying `indicatif` bar, e.g. to add it to a `MultiProgress`.
    pub fn bar(&self) -> &ProgressBar {
        &self.bar
    }

    fn status(&self) -> String {
        let loss = match self.loss {
            Some(loss) => crate::training::metrics::format_value(loss),
            None => "-".to_owned(),
        };
        format!(
            "loss {loss}, {} {}/s",
            human_rate(self.throughput()),
            self.unit
        )
    }
}

/// `1234567.0` as `1.23M`, `12345.0` as `12.3k`, `12.345` as `12.3`.
fn human_rate(rate: f64) -> String {
    if rate >= 1e9 {
        format!("{:.2}G", rate / 1e9)
    } else if rate >= 1e6 {
        format!("{:.2}M", rate / 1e6)
    } else if rate >= 1e3 {
        format!("{:.1}k", rate / 1e3)
    } else {
        format!("{rate:.1}")
    }
}
