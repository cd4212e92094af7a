//! The adding problem (Hochreiter & Schmidhuber 1997, Experiment 4): sequences of
//! (value, marker) pairs; the target, read at the end, is `0.5 + (X1 + X2) / 4` where `X1`, `X2`
//! are the two marked values, the first among the first ten pairs and the second before `T/2`.
//! A long minimal time lag: the simple RNN, trained with the same budget as the gated cells,
//! does not solve it (vanishing gradients); the LSTM and the GRU do.
//!
//! `cargo run --release --example adding_problem -- [--t 100] [--iterations N] [--hidden H]
//! [--batch B] [--lr LR] [--seed S] [--cells rnn,lstm,gru]`
//!
//! Prints, per cell, the fraction of 2560 test sequences solved (absolute error below 0.04) and
//! writes `adding_problem.png` with the three training curves.
#![allow(dead_code)]

mod common;

use std::time::Instant;

use common::adding;
use common::cells::GateBiases;
use common::flags::{Flags, Settings};
use common::train::{RunningLoss, Trainer};
use recurrent::data::batch_indices;
use recurrent::ndarray::{Array2, Array3};
use recurrent::{Input, Pooling, SequenceModel};

/// The three cells compared.
pub use common::cells::Kind;

/// Training settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Minimal sequence length `T` (lengths are drawn from `T..=T + T/10`).
    pub t: usize,
    /// Training iterations (one batch each), the same budget for every cell.
    pub iterations: usize,
    /// Examples per batch.
    pub batch: usize,
    /// Hidden size.
    pub hidden: usize,
    /// Adam's learning rate (cosine-annealed to a tenth).
    pub lr: f64,
    /// Test sequences.
    pub test: usize,
    /// Seed of data and initialization.
    pub seed: u64,
    /// Initial bias of the gate that keeps memory (LSTM forget gate, GRU update gate).
    pub gate_bias: f32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            t: 100,
            iterations: 4000,
            batch: 32,
            hidden: 32,
            lr: 1e-2,
            test: 2560,
            seed: 1,
            gate_bias: 5.0,
        }
    }
}

impl Settings for Config {
    fn read_flags(&mut self, flags: &Flags) -> recurrent::Result<()> {
        self.t = flags.get_checked("t", self.t, "at least 22", |&t| t >= 22)?;
        self.iterations = flags.get("iterations", self.iterations)?;
        self.hidden = flags.get("hidden", self.hidden)?;
        self.seed = flags.get("seed", self.seed)?;
        self.lr = flags.get("lr", self.lr)?;
        self.batch = flags.get("batch", self.batch)?;
        self.gate_bias = flags.get("gate-bias", self.gate_bias)?;
        Ok(())
    }
}

/// The outcome of training one cell.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Fraction of test sequences solved.
    pub solved: f64,
    /// Mean absolute error on the test set.
    pub mean_abs_error: f64,
    /// (iteration, running training loss) every 50 iterations.
    pub curve: Vec<(f64, f64)>,
    /// Training time in seconds.
    pub seconds: f64,
}

/// A padded time-major batch `[T, B, 2]`, lengths and targets `[B, 1]`.
fn to_batch(seqs: &[adding::Sequence]) -> (Array3<f32>, Vec<usize>, Array2<f32>) {
    let lengths: Vec<usize> = seqs.iter().map(|s| s.pairs.len()).collect();
    let steps = lengths.iter().copied().max().unwrap_or(0);
    let mut x = Array3::zeros((steps, seqs.len(), 2));
    let mut y = Array2::zeros((seqs.len(), 1));
    for (b, s) in seqs.iter().enumerate() {
        for (t, &(value, marker)) in s.pairs.iter().enumerate() {
            x[[t, b, 0]] = value as f32;
            x[[t, b, 1]] = marker as f32;
        }
        y[[b, 0]] = s.target as f32;
    }
    (x, lengths, y)
}

/// Trains `kind` on the adding problem and evaluates it.
pub fn run(kind: Kind, cfg: &Config) -> recurrent::Result<Outcome> {
    let mut rng = recurrent::seeded_rng(cfg.seed);
    // The gate that keeps memory starts biased to keep it over long lags.
    let biases = GateBiases {
        keep: Some(cfg.gate_bias),
        lstm_input: None,
    };
    let mut model = SequenceModel::stack(vec![kind.cell(2, cfg.hidden, biases, &mut rng)?])?
        .with_head(1, &mut rng)?;
    let mut trainer = Trainer::cosine(cfg.lr, cfg.lr / 10.0, cfg.iterations, 1.0);
    let start = Instant::now();
    let mut progress = recurrent::TrainingProgress::new(cfg.iterations as u64).unit("seq");
    progress.println(format!("training the {}", kind.name()));
    let mut running = RunningLoss::new(50);
    for it in 0..cfg.iterations {
        let seqs = adding::batch(&mut rng, cfg.t, cfg.batch);
        let (x, lengths, y) = to_batch(&seqs);
        let mut step = model.pooled_regression_step(
            Input::Features(x.view()),
            Some(&lengths),
            y.view(),
            Pooling::Last,
            None,
        )?;
        trainer.step(&mut model, &mut step.grads)?;
        let loss = f64::from(step.loss);
        progress.step(loss, cfg.batch as u64);
        running.add(it + 1, loss);
    }
    progress.finish();
    let seconds = start.elapsed().as_secs_f64();
    let test = adding::batch(&mut recurrent::seeded_rng(cfg.seed + 1000), cfg.t, cfg.test);
    let (mut predictions, mut targets) = (Vec::new(), Vec::new());
    for chunk in batch_indices(test.len(), 256, false, &mut rng) {
        let seqs: Vec<_> = chunk.iter().map(|&i| test[i].clone()).collect();
        let (x, lengths, y) = to_batch(&seqs);
        let out = model.classify(Input::Features(x.view()), Some(&lengths), Pooling::Last)?;
        predictions.extend(out.column(0).iter().map(|&p| f64::from(p)));
        targets.extend(y.column(0).iter().map(|&t| f64::from(t)));
    }
    let mean_abs_error = predictions
        .iter()
        .zip(&targets)
        .map(|(p, t)| (p - t).abs())
        .sum::<f64>()
        / targets.len().max(1) as f64;
    Ok(Outcome {
        solved: adding::accuracy(&predictions, &targets),
        mean_abs_error,
        curve: running.curve(),
        seconds,
    })
}

const USAGE: &str =
    "usage: adding_problem [--t N (>= 22)] [--iterations N] [--hidden N] [--seed N] \
[--lr X] [--batch N] [--gate-bias X] [--cells rnn,lstm,gru]\n";

fn main() -> std::process::ExitCode {
    common::flags::main(USAGE, cli)
}

/// The example proper: runs with the settings the command line gives and prints the results.
fn cli(cfg: Config, flags: &Flags) -> recurrent::Result<()> {
    println!(
        "adding problem, T = {} (lengths {}..={}), {} iterations of {} sequences, hidden {}",
        cfg.t,
        cfg.t,
        cfg.t + cfg.t / 10,
        cfg.iterations,
        cfg.batch,
        cfg.hidden
    );
    let rows = common::cells::train_each(
        flags,
        |kind| run(kind, &cfg),
        |o| {
            format!(
                "solved {:>6.2}%  (mean |error| {:.4}, {:.1} s)",
                100.0 * o.solved,
                o.mean_abs_error,
                o.seconds
            )
        },
    )?;
    common::cells::print_table(
        &rows,
        &format!(
            "solved (of {} test sequences) | mean abs error | training time",
            cfg.test
        ),
        |o| {
            format!(
                "{:.1}% | {:.4} | {:.0} s",
                100.0 * o.solved,
                o.mean_abs_error,
                o.seconds
            )
        },
    );
    let curves: Vec<recurrent::Curve> = rows
        .iter()
        .map(|(kind, o)| recurrent::Curve::new(kind.name(), o.curve.iter().copied()))
        .collect();
    let path = "adding_problem.png";
    recurrent::plot_curves(
        path,
        &format!("Adding problem, T = {}", cfg.t),
        "iteration",
        "training MSE (running mean)",
        &curves,
        &recurrent::PlotOptions {
            log_y: true,
            ..Default::default()
        },
    )?;
    println!("\ntraining curves written to {path}");
    Ok(())
}
