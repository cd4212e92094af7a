//! Next-value prediction of the Mackey–Glass chaotic series (tau = 17, one sample per time
//! unit) with the delayed NARX-style cell of `specs/narx.rnn` (it reads `x[t]`, `x[t-1]`,
//! `h[t-1]` and `h[t-2]`) and with an LSTM, next to the persistence baseline (predict the last
//! value). Trained with truncated backpropagation through time: the training stretch is cut into
//! parallel streams, each run in chunks whose final states start the next chunk.
//!
//! `cargo run --release --example forecast -- [--epochs N] [--hidden H] [--horizon K] [--seed S]`
//!
//! Prints the normalized RMSE (RMSE / standard deviation of the target) of each model on a
//! held-out stretch and the ratio to the persistence baseline's.
#![allow(dead_code)]

mod common;

use std::time::Instant;

use common::flags::{Flags, Settings};
use common::mackey_glass;
use common::train::Trainer;
use recurrent::cells::{Lstm, LstmDims, Narx, NarxDims};
use recurrent::modes::tbptt_windows;
use recurrent::ndarray::{s, Array3, Axis};
use recurrent::{DynCell, Input, SequenceModel};

/// The models compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The delayed (NARX-style) recurrent cell.
    Narx,
    /// LSTM.
    Lstm,
}

impl Kind {
    /// Display name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Narx => "NARX (delayed)",
            Kind::Lstm => "LSTM",
        }
    }

    fn cell(
        self,
        hidden: usize,
        rng: &mut recurrent::rand::rngs::ChaCha8Rng,
    ) -> Box<dyn DynCell<f32>> {
        match self {
            Kind::Narx => Box::new(Narx::<f32>::new(NarxDims { I: 1, H: hidden }, rng)),
            Kind::Lstm => Box::new(Lstm::<f32>::new(LstmDims { I: 1, H: hidden }, rng)),
        }
    }
}

/// Settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Samples of the training stretch.
    pub train_len: usize,
    /// Samples of the held-out stretch (after the training stretch).
    pub test_len: usize,
    /// Prediction horizon in samples (1: the next value).
    pub horizon: usize,
    /// Parallel streams the training stretch is cut into (the batch).
    pub streams: usize,
    /// Truncated-BPTT chunk length.
    pub chunk: usize,
    /// Passes over the training stretch.
    pub epochs: usize,
    /// Hidden size.
    pub hidden: usize,
    /// Adam's learning rate (cosine-annealed to a tenth).
    pub lr: f64,
    /// Seed of the initialization.
    pub seed: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            train_len: 4000,
            test_len: 1000,
            horizon: 1,
            streams: 16,
            chunk: 50,
            epochs: 600,
            hidden: 32,
            lr: 3e-3,
            seed: 1,
        }
    }
}

impl Settings for Config {
    fn read_flags(&mut self, flags: &Flags) -> recurrent::Result<()> {
        self.epochs = flags.get("epochs", self.epochs)?;
        self.hidden = flags.get("hidden", self.hidden)?;
        self.horizon = flags.get_checked("horizon", self.horizon, "at least 1", |&h| h >= 1)?;
        self.seed = flags.get("seed", self.seed)?;
        Ok(())
    }
}

/// The outcome for one model.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// NRMSE of the model on the held-out stretch.
    pub nrmse: f64,
    /// NRMSE of the persistence baseline on the same stretch.
    pub persistence: f64,
    /// (epoch, training MSE) per epoch.
    pub curve: Vec<(f64, f64)>,
    /// Training time in seconds.
    pub seconds: f64,
}

/// Trains `kind` and evaluates it on the held-out stretch.
pub fn run(kind: Kind, cfg: &Config) -> recurrent::Result<Outcome> {
    let h = cfg.horizon;
    let series = mackey_glass::series(
        cfg.train_len + cfg.test_len + h,
        mackey_glass::DEFAULT_TRANSIENT,
    );
    let mean = mackey_glass::mean(&series[..cfg.train_len]);
    let scale = mackey_glass::std_dev(&series[..cfg.train_len]);
    let norm: Vec<f32> = series.iter().map(|v| ((v - mean) / scale) as f32).collect();

    // The training stretch as `streams` parallel streams: x[t, b] = norm[b * per + t].
    let per = (cfg.train_len - h) / cfg.streams;
    let x = Array3::from_shape_fn((per, cfg.streams, 1), |(t, b, _)| norm[b * per + t]);
    let y = Array3::from_shape_fn((per, cfg.streams, 1), |(t, b, _)| norm[b * per + t + h]);

    let mut rng = recurrent::seeded_rng(cfg.seed);
    let mut model =
        SequenceModel::stack(vec![kind.cell(cfg.hidden, &mut rng)])?.with_head(1, &mut rng)?;
    let windows = tbptt_windows(per, cfg.chunk);
    let total = cfg.epochs * windows.len();
    let mut trainer = Trainer::cosine(cfg.lr, cfg.lr / 10.0, total, 1.0);
    let start = Instant::now();
    let mut curve = Vec::new();
    for epoch in 0..cfg.epochs {
        let mut states = None;
        let mut sum = 0.0;
        for w in &windows {
            let xs = x.slice(s![w.clone(), .., ..]);
            let ys = y.slice(s![w.clone(), .., ..]);
            let mut step =
                model.regress_step(Input::Features(xs), None, ys, states.as_deref(), None)?;
            trainer.step(&mut model, &mut step.grads)?;
            states = Some(step.final_states);
            sum += f64::from(step.loss);
        }
        curve.push(((epoch + 1) as f64, sum / windows.len() as f64));
    }
    let seconds = start.elapsed().as_secs_f64();

    // Run over the whole series (the training stretch warms the state up), score the held-out
    // stretch: predictions of series[t + h] for t in train_len..train_len + test_len.
    let all = Array3::from_shape_fn((cfg.train_len + cfg.test_len, 1, 1), |(t, _, _)| norm[t]);
    let (out, _) = model.outputs(Input::Features(all.view()), None, None)?;
    let pred: Vec<f64> = out
        .index_axis(Axis(1), 0)
        .slice(s![cfg.train_len.., 0])
        .iter()
        .map(|&v| f64::from(v) * scale + mean)
        .collect();
    let target = &series[cfg.train_len + h..cfg.train_len + cfg.test_len + h];
    let held_out = &series[cfg.train_len..cfg.train_len + cfg.test_len + h];
    Ok(Outcome {
        nrmse: mackey_glass::nrmse(&pred, target),
        persistence: mackey_glass::persistence_nrmse(held_out, h),
        curve,
        seconds,
    })
}

const USAGE: &str = "usage: forecast [--epochs N] [--hidden N] [--horizon N (>= 1)] [--seed N]\n";

fn main() -> std::process::ExitCode {
    common::flags::main(USAGE, cli)
}

/// The example proper: runs with the settings the command line gives and prints the results.
fn cli(cfg: Config, _flags: &Flags) -> recurrent::Result<()> {
    println!(
        "Mackey-Glass (tau 17), {}-step-ahead prediction: {} training samples in {} streams, chunks of {}, {} epochs, hidden {}",
        cfg.horizon, cfg.train_len, cfg.streams, cfg.chunk, cfg.epochs, cfg.hidden
    );
    common::table::header(&format!(
        "model | NRMSE on {} held-out samples | persistence NRMSE | persistence / model | training time",
        cfg.test_len
    ));
    for kind in [Kind::Narx, Kind::Lstm] {
        let o = run(kind, &cfg)?;
        common::table::row(&format!(
            "{} | {:.4} | {:.4} | {:.1}x | {:.0} s",
            kind.name(),
            o.nrmse,
            o.persistence,
            o.persistence / o.nrmse,
            o.seconds
        ));
    }
    Ok(())
}
