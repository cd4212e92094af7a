//! Unaligned sequence labelling with CTC (Graves et al. 2006) on a synthetic speech-like task
//! with a known answer: a random string of 3 to 8 digits is "spoken" as frames of 12 features,
//! each digit as 3 to 6 frames of its own feature pattern (fixed, random) scaled by a random
//! loudness, with Gaussian noise on every frame; silence (noise only) before and after the
//! string and, at random, between digits — always between two equal digits, which could not be
//! told apart otherwise. Nothing says where a digit starts: the network emits, at every frame,
//! a distribution over the 10 digits and the blank, and the CTC loss sums over every alignment
//! of the string.
//!
//! A bidirectional LSTM (one layer each way) with a softmax head learns to transcribe; the
//! label error rate (edit distance / target length) on held-out strings is measured with
//! best-path decoding and with prefix beam search.
//!
//! `cargo run --release --example ctc -- [--iterations N] [--hidden H] [--batch B] [--lr LR]
//! [--noise SIGMA] [--seed S] [--test N] [--beam W]`
#![allow(dead_code)]

mod common;

use std::time::Instant;

use common::flags::{Flags, Settings};
use common::train::{RunningLoss, Trainer};
use recurrent::cells::{Lstm, LstmDims};
use recurrent::ctc::{label_error_rate, CtcDecoder, CtcOptions};
use recurrent::ndarray::Array3;
use recurrent::rand::{Rng, RngExt};
use recurrent::{Input, RecurrentLayer, SequenceModel};

/// Features per frame.
pub const FEATURES: usize = 12;
/// Digits 0..=9 are labels 1..=10; class 0 is the blank.
pub const CLASSES: usize = 11;
/// The blank's class.
pub const BLANK: usize = 0;

/// Training settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Training iterations (one batch of fresh strings each).
    pub iterations: usize,
    /// Strings per batch.
    pub batch: usize,
    /// Hidden units of each direction.
    pub hidden: usize,
    /// Adam's learning rate (cosine-annealed to a tenth).
    pub lr: f64,
    /// Standard deviation of the noise on every feature of every frame (the patterns' entries
    /// have standard deviation 1).
    pub noise: f64,
    /// Held-out strings (from a separate seed).
    pub test: usize,
    /// Beam width of the prefix beam search.
    pub beam: usize,
    /// Seed of the data and of the initialization.
    pub seed: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            iterations: 1500,
            batch: 32,
            hidden: 32,
            lr: 1e-2,
            noise: 0.8,
            test: 500,
            beam: 8,
            seed: 1,
        }
    }
}

impl Settings for Config {
    fn read_flags(&mut self, flags: &Flags) -> recurrent::Result<()> {
        self.iterations = flags.get("iterations", self.iterations)?;
        self.hidden = flags.get("hidden", self.hidden)?;
        self.batch = flags.get("batch", self.batch)?;
        self.lr = flags.get("lr", self.lr)?;
        self.noise = flags.get("noise", self.noise)?;
        self.seed = flags.get("seed", self.seed)?;
        self.test = flags.get("test", self.test)?;
        self.beam = flags.get("beam", self.beam)?;
        Ok(())
    }
}

/// The feature pattern of each digit, `[10][FEATURES]`: fixed (seed 0), whatever the run's seed.
pub fn patterns() -> Vec<Vec<f64>> {
    let rng = &mut recurrent::seeded_rng(0);
    (0..10)
        .map(|_| (0..FEATURES).map(|_| normal(rng)).collect::<Vec<f64>>())
        .collect()
}

/// A standard normal draw (Box–Muller).
fn normal(rng: &mut dyn Rng) -> f64 {
    let u: f64 = rng.random::<f64>().max(1e-300);
    let v: f64 = rng.random();
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

/// One spoken string: its frames `[T][FEATURES]` and its labels (digit + 1).
#[derive(Debug, Clone)]
pub struct Utterance {
    /// The frames.
    pub frames: Vec<Vec<f32>>,
    /// The transcription: labels 1..=10.
    pub labels: Vec<usize>,
}

/// Draws one utterance.
pub fn utterance(rng: &mut dyn Rng, patterns: &[Vec<f64>], noise: f64) -> Utterance {
    let n_digits = 3 + rng.random_range(0..6usize);
    let digits: Vec<usize> = (0..n_digits)
        .map(|_| rng.random_range(0..10usize))
        .collect();
    let mut frames = vec![];
    let mut frame = |rng: &mut dyn Rng, pattern: Option<(&[f64], f64)>| {
        let f: Vec<f32> = (0..FEATURES)
            .map(|j| {
                let signal = pattern.map_or(0.0, |(p, loudness)| p[j] * loudness);
                (signal + noise * normal(rng)) as f32
            })
            .collect();
        frames.push(f);
    };
    for _ in 0..rng.random_range(0..4usize) {
        frame(rng, None);
    }
    for (i, &d) in digits.iter().enumerate() {
        if i > 0 && (digits[i - 1] == d || rng.random::<f64>() < 0.3) {
            for _ in 0..1 + rng.random_range(0..2usize) {
                frame(rng, None);
            }
        }
        let loudness = 0.7 + 0.6 * rng.random::<f64>();
        for _ in 0..3 + rng.random_range(0..4usize) {
            frame(rng, Some((&patterns[d], loudness)));
        }
    }
    for _ in 0..rng.random_range(0..4usize) {
        frame(rng, None);
    }
    Utterance {
        frames,
        labels: digits.iter().map(|d| d + 1).collect(),
    }
}

/// A padded time-major batch `[T, B, FEATURES]` (zeros past each length), its lengths and its
/// transcriptions.
pub fn batch(utterances: &[Utterance]) -> (Array3<f32>, Vec<usize>, Vec<Vec<usize>>) {
    let lengths: Vec<usize> = utterances.iter().map(|u| u.frames.len()).collect();
    let t = lengths.iter().copied().max().unwrap_or(0);
    let mut x = Array3::zeros((t, utterances.len(), FEATURES));
    for (b, u) in utterances.iter().enumerate() {
        for (step, f) in u.frames.iter().enumerate() {
            for (j, &v) in f.iter().enumerate() {
                x[[step, b, j]] = v;
            }
        }
    }
    let labels = utterances.iter().map(|u| u.labels.clone()).collect();
    (x, lengths, labels)
}

/// The outcome of a run.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Label error rate on the held-out strings, best-path decoding.
    pub greedy_ler: f64,
    /// Label error rate on the held-out strings, prefix beam search.
    pub beam_ler: f64,
    /// Fraction of held-out strings transcribed exactly (beam search).
    pub exact: f64,
    /// Mean CTC loss per label on the held-out strings (nats).
    pub test_loss: f64,
    /// (iteration, running training loss) every 50 iterations.
    pub curve: Vec<(f64, f64)>,
    /// Training time in seconds.
    pub seconds: f64,
}

/// A bidirectional LSTM of `hidden` units each way and a head over the 11 classes.
pub fn model(hidden: usize, rng: &mut dyn Rng) -> recurrent::Result<SequenceModel<f32>> {
    let dims = LstmDims {
        I: FEATURES,
        H: hidden,
    };
    let layer = RecurrentLayer::bidirectional(
        Box::new(Lstm::<f32>::new(dims, rng)),
        Box::new(Lstm::<f32>::new(dims, rng)),
    )?;
    SequenceModel::new(vec![layer])?.with_head(CLASSES, rng)
}

/// Trains on fresh strings and evaluates on held-out ones.
pub fn run(cfg: &Config) -> recurrent::Result<Outcome> {
    let patterns = patterns();
    let rng = &mut recurrent::seeded_rng(cfg.seed);
    let mut model = model(cfg.hidden, rng)?;
    let options = CtcOptions {
        blank: BLANK,
        ..CtcOptions::default()
    };
    let mut trainer = Trainer::cosine(cfg.lr, cfg.lr / 10.0, cfg.iterations, 1.0);
    let mut running = RunningLoss::new(50);
    let start = Instant::now();
    for it in 0..cfg.iterations {
        let utterances: Vec<Utterance> = (0..cfg.batch)
            .map(|_| utterance(rng, &patterns, cfg.noise))
            .collect();
        let (x, lengths, labels) = batch(&utterances);
        let mut step = model.ctc_step(
            Input::Features(x.view()),
            Some(&lengths),
            &labels,
            &options,
            None,
        )?;
        trainer.step(&mut model, &mut step.grads)?;
        if let Some(r) = running.add(it + 1, f64::from(step.loss)) {
            if std::env::var_os("CTC_VERBOSE").is_some() {
                eprintln!("iteration {}: loss {r:.4}", it + 1);
            }
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let test_rng = &mut recurrent::seeded_rng(cfg.seed + 1000);
    let test: Vec<Utterance> = (0..cfg.test)
        .map(|_| utterance(test_rng, &patterns, cfg.noise))
        .collect();
    let (mut greedy, mut beam, mut truth) = (vec![], vec![], vec![]);
    let mut loss = 0.0;
    for chunk in test.chunks(100) {
        let (x, lengths, labels) = batch(chunk);
        let input = Input::Features(x.view());
        greedy.extend(model.ctc_decode(input, Some(&lengths), BLANK, CtcDecoder::Greedy)?);
        let width = CtcDecoder::Beam { width: cfg.beam };
        beam.extend(model.ctc_decode(input, Some(&lengths), BLANK, width)?);
        let step = model.ctc_step(input, Some(&lengths), &labels, &options, None)?;
        loss += f64::from(step.loss) * chunk.len() as f64;
        truth.extend(labels);
    }
    let n = test.len().max(1) as f64;
    let exact = beam.iter().zip(&truth).filter(|(a, b)| a == b).count() as f64 / n;
    Ok(Outcome {
        greedy_ler: label_error_rate(&greedy, &truth),
        beam_ler: label_error_rate(&beam, &truth),
        exact,
        test_loss: loss / n,
        curve: running.curve(),
        seconds,
    })
}

const USAGE: &str = "usage: ctc [--iterations N] [--hidden N] [--batch N] [--lr X] [--noise X] \
[--seed N] [--test N] [--beam N]\n";

fn main() -> std::process::ExitCode {
    common::flags::main(USAGE, cli)
}

/// The example proper: trains with the command line's settings and prints the error rates.
fn cli(cfg: Config, _flags: &Flags) -> recurrent::Result<()> {
    println!(
        "CTC: spoken digit strings (3-8 digits, 3-6 frames each, noise {}), bidirectional LSTM \
         {} units each way, {} iterations of {} strings",
        cfg.noise, cfg.hidden, cfg.iterations, cfg.batch
    );
    let o = run(&cfg)?;
    println!(
        "label error rate on {} held-out strings: best path {:.2}%, beam search (width {}) \
         {:.2}%; exactly right {:.1}%; test loss {:.4} nats per label; training {:.1} s",
        cfg.test,
        100.0 * o.greedy_ler,
        cfg.beam,
        100.0 * o.beam_ler,
        100.0 * o.exact,
        o.test_loss,
        o.seconds
    );
    Ok(())
}
