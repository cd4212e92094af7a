//! The embedded Reber grammar (Hochreiter & Schmidhuber 1997, Experiment 1): next-symbol
//! prediction on strings such as `BTBPVVETE`, where the penultimate symbol repeats the second
//! one across a whole embedded Reber string (the long-range dependency), and every other
//! symbol is predictable only up to the grammar's branching.
//!
//! Each cell reads the symbols through a learned embedding and is trained as a tagger
//! ([`SequenceModel::tag_step`]) with softmax cross-entropy on the *actual* next symbol; where
//! the grammar branches, the softmax then learns the branching probabilities. A string is
//! solved when, at every step before its final `E`, the `k` most active outputs are exactly the
//! `k` symbols the grammar allows next (the paper's criterion, "possible next symbols above 0.5,
//! all others below", needs independent sigmoid outputs; this is its analogue for a softmax).
//! After training, strings are sampled from the model (start symbol `B`, temperature 1, cut at
//! the second `E`: the inner Reber string's `E` is not the end) and checked against the grammar.
//!
//! `cargo run --release --example reber -- [--epochs N] [--hidden H] [--batch B] [--lr LR]
//! [--seed S] [--generate N] [--cells rnn,lstm,gru]`
//!
//! Prints, per cell, the fraction of 256 test strings solved (overall and among those absent
//! from the training set: short strings are frequent, so about three quarters of the test
//! strings also occur among the training strings), the fraction of prediction steps correct,
//! the fraction whose penultimate symbol is predicted correctly, and the fraction of 1000
//! generated strings the grammar accepts.
//!
//! With Adam and a learned embedding, the simple RNN learns most of this task too (the paper's
//! gradient-descent baselines did not); the difference shows in the strings with long loops.
//! A little L2 weight decay keeps the models from memorizing the 256 training strings, which
//! otherwise costs a few percent of the unseen test strings.
#![allow(dead_code)]

mod common;

use std::time::Instant;

use common::cells::GateBiases;
use common::flags::{Flags, Settings};
use common::reber;
use common::train::Trainer;
use recurrent::data::{batch_indices, pad_tokens};
use recurrent::ndarray::Array2;
use recurrent::{Input, SequenceModel};

/// The cells compared.
pub use common::cells::Kind;

/// Training settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Training strings (a fixed set, as in the paper's experiments).
    pub train: usize,
    /// Test strings (drawn from a separate seed).
    pub test: usize,
    /// Passes over the training strings.
    pub epochs: usize,
    /// Strings per batch.
    pub batch: usize,
    /// Embedding width.
    pub embed: usize,
    /// Hidden size.
    pub hidden: usize,
    /// Adam's learning rate (cosine-annealed to a tenth over all steps).
    pub lr: f64,
    /// Adam's L2 weight decay: with a fixed set of 256 strings the model otherwise starts to
    /// memorize their continuations and stops generalizing to longer runs of a loop.
    pub weight_decay: f64,
    /// Strings sampled from the trained model.
    pub generate: usize,
    /// Longest sampled string (symbols after the start `B`); longer samples count as rejected.
    pub max_len: usize,
    /// Seed of data, initialization and sampling.
    pub seed: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            train: 256,
            test: 256,
            epochs: 300,
            batch: 16,
            embed: 8,
            hidden: 32,
            lr: 1e-2,
            weight_decay: 3e-4,
            generate: 1000,
            max_len: 60,
            seed: 1,
        }
    }
}

impl Settings for Config {
    fn read_flags(&mut self, flags: &Flags) -> recurrent::Result<()> {
        self.epochs = flags.get("epochs", self.epochs)?;
        self.hidden = flags.get("hidden", self.hidden)?;
        self.batch = flags.get("batch", self.batch)?;
        self.seed = flags.get("seed", self.seed)?;
        self.generate = flags.get("generate", self.generate)?;
        self.lr = flags.get("lr", self.lr)?;
        self.weight_decay = flags.get("weight-decay", self.weight_decay)?;
        Ok(())
    }
}

/// The outcome of training one cell.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Fraction of test strings solved (every step's top-k outputs are the allowed set).
    pub solved: f64,
    /// Fraction of test steps whose top-k outputs are the allowed set.
    pub steps: f64,
    /// Fraction of test strings whose penultimate symbol (the long-range dependency) is the
    /// arg-max prediction after the inner `E`.
    pub penultimate: f64,
    /// Fraction of the test strings absent from the training set that are solved.
    pub solved_unseen: f64,
    /// Fraction of test strings that also occur in the training set (the grammar's short
    /// strings are frequent, so the sets overlap).
    pub test_in_train: f64,
    /// Fraction of generated strings the embedded grammar accepts.
    pub accepted: f64,
    /// Mean length of the generated strings (including `B` and `E`).
    pub mean_generated_len: f64,
    /// Up to five generated strings, for display.
    pub samples: Vec<String>,
    /// (epoch, mean training loss) per epoch.
    pub curve: Vec<(f64, f64)>,
    /// Training time in seconds.
    pub seconds: f64,
}

/// Inputs (every symbol but the last, `[T, B]`), next-symbol targets `[T, B]` and lengths.
fn to_batch(strings: &[&Vec<u8>]) -> (Array2<usize>, Array2<usize>, Vec<usize>) {
    let inputs: Vec<Vec<usize>> = strings
        .iter()
        .map(|s| s[..s.len() - 1].iter().map(|&c| c as usize).collect())
        .collect();
    let targets: Vec<Vec<usize>> = strings
        .iter()
        .map(|s| s[1..].iter().map(|&c| c as usize).collect())
        .collect();
    let (x, lengths) = pad_tokens(&inputs, 0);
    let (y, _) = pad_tokens(&targets, 0);
    (x, y, lengths)
}

/// Whether the `k` largest `scores` are exactly the `k` allowed symbols (strictly: every
/// allowed score above every other one).
pub fn top_k_is_allowed(scores: &[f32], allowed: &reber::SymbolSet) -> bool {
    let lowest_allowed = scores
        .iter()
        .zip(allowed)
        .filter(|(_, &a)| a)
        .map(|(&s, _)| s)
        .fold(f32::INFINITY, f32::min);
    let highest_other = scores
        .iter()
        .zip(allowed)
        .filter(|(_, &a)| !a)
        .map(|(&s, _)| s)
        .fold(f32::NEG_INFINITY, f32::max);
    allowed.iter().any(|&a| a) && lowest_allowed > highest_other
}

/// Trains `kind` on next-symbol prediction and evaluates it.
pub fn run(kind: Kind, cfg: &Config) -> recurrent::Result<Outcome> {
    let mut rng = recurrent::seeded_rng(cfg.seed);
    let train = reber::batch(&mut rng, cfg.train);
    let test = reber::batch(&mut recurrent::seeded_rng(cfg.seed + 1000), cfg.test);
    let cell = kind.cell(cfg.embed, cfg.hidden, GateBiases::default(), &mut rng)?;
    let mut model = SequenceModel::stack(vec![cell])?
        .with_embedding(reber::NUM_SYMBOLS, &mut rng)?
        .with_head(reber::NUM_SYMBOLS, &mut rng)?;
    let per_epoch = cfg.train.div_ceil(cfg.batch.max(1));
    let mut trainer = Trainer::cosine(cfg.lr, cfg.lr / 10.0, cfg.epochs * per_epoch, 1.0)
        .with_weight_decay(cfg.weight_decay);
    let start = Instant::now();
    let mut curve = Vec::new();
    for epoch in 0..cfg.epochs {
        let mut total = 0.0;
        let batches = batch_indices(train.len(), cfg.batch, true, &mut rng);
        for chunk in &batches {
            let strings: Vec<&Vec<u8>> = chunk.iter().map(|&i| &train[i]).collect();
            let (x, y, lengths) = to_batch(&strings);
            let mut step = model.tag_step(
                Input::Tokens(x.view()),
                Some(&lengths),
                y.view(),
                None,
                None,
            )?;
            trainer.step(&mut model, &mut step.grads)?;
            total += f64::from(step.loss);
        }
        let mean = total / batches.len().max(1) as f64;
        curve.push(((epoch + 1) as f64, mean));
        if std::env::var_os("REBER_VERBOSE").is_some() {
            eprintln!("{} epoch {}: loss {mean:.4}", kind.name(), epoch + 1);
        }
    }
    let seconds = start.elapsed().as_secs_f64();

    // Prediction on the test strings.
    let (mut solved, mut penultimate, mut good_steps, mut all_steps) = (0, 0, 0, 0);
    let (mut unseen, mut solved_unseen) = (0, 0);
    for chunk in batch_indices(test.len(), 256, false, &mut rng) {
        let strings: Vec<&Vec<u8>> = chunk.iter().map(|&i| &test[i]).collect();
        let (x, _, lengths) = to_batch(&strings);
        let (logits, _) = model.outputs(Input::Tokens(x.view()), Some(&lengths), None)?;
        for (b, string) in strings.iter().enumerate() {
            let targets = reber::next_symbol_targets(string);
            let mut ok = true;
            for (t, allowed) in targets.iter().enumerate().take(lengths[b]) {
                let scores = logits.slice(recurrent::ndarray::s![t, b, ..]).to_vec();
                let good = top_k_is_allowed(&scores, allowed);
                ok &= good;
                good_steps += good as usize;
                all_steps += 1;
            }
            solved += ok as usize;
            if !train.contains(string) {
                unseen += 1;
                solved_unseen += ok as usize;
            }
            if !ok && std::env::var_os("REBER_VERBOSE").is_some() {
                eprintln!("{} not solved: {}", kind.name(), reber::to_string(string));
            }
            // After the inner E (index len - 3), the branch symbol must come next.
            let t = string.len() - 3;
            let scores = logits.slice(recurrent::ndarray::s![t, b, ..]).to_vec();
            let best = (0..scores.len())
                .fold(0, |best, j| if scores[j] > scores[best] { j } else { best });
            penultimate += (best == string[string.len() - 2] as usize) as usize;
        }
    }

    // Generation from the start symbol.
    let mut sample_rng = recurrent::seeded_rng(cfg.seed + 2000);
    let (mut accepted, mut total_len, mut samples) = (0, 0, Vec::new());
    for _ in 0..cfg.generate {
        // An embedded Reber string holds two `E`s (the inner string's and the final one):
        // the sample ends at the second.
        let e = reber::E as usize;
        let mut second_e = |so_far: &[usize]| so_far.iter().filter(|&&t| t == e).count() == 2;
        let tokens = model.generate_until(
            &[reber::B as usize],
            cfg.max_len,
            1.0,
            &mut sample_rng,
            &mut second_e,
        )?;
        let mut string = vec![reber::B];
        string.extend(tokens.iter().map(|&t| t as u8));
        let ok = reber::accepts(&string);
        accepted += ok as usize;
        if !ok && std::env::var_os("REBER_VERBOSE").is_some() {
            eprintln!("{} rejected: {}", kind.name(), reber::to_string(&string));
        }
        total_len += string.len();
        if samples.len() < 5 {
            samples.push(reber::to_string(&string));
        }
    }
    let n_test = cfg.test.max(1) as f64;
    Ok(Outcome {
        solved: solved as f64 / n_test,
        steps: good_steps as f64 / all_steps.max(1) as f64,
        penultimate: penultimate as f64 / n_test,
        solved_unseen: solved_unseen as f64 / unseen.max(1) as f64,
        test_in_train: 1.0 - unseen as f64 / n_test,
        accepted: accepted as f64 / cfg.generate.max(1) as f64,
        mean_generated_len: total_len as f64 / cfg.generate.max(1) as f64,
        samples,
        curve,
        seconds,
    })
}

const USAGE: &str = "usage: reber [--epochs N] [--hidden N] [--batch N] [--seed N] [--generate N] \
[--lr X] [--weight-decay X] [--cells rnn,lstm,gru]\n";

fn main() -> std::process::ExitCode {
    common::flags::main(USAGE, cli)
}

/// The example proper: runs with the settings the command line gives and prints the results.
fn cli(cfg: Config, flags: &Flags) -> recurrent::Result<()> {
    println!(
        "embedded Reber grammar, {} training and {} test strings, {} epochs of batches of {}, hidden {}",
        cfg.train, cfg.test, cfg.epochs, cfg.batch, cfg.hidden
    );
    let rows = common::cells::train_each(
        flags,
        |kind| run(kind, &cfg),
        |o| {
            format!(
                "solved {:>6.2}%  (unseen {:.2}%, steps {:.2}%, penultimate {:.2}%), generated accepted {:.1}% (mean length {:.1}), {:.1} s\nsamples: {}",
                100.0 * o.solved,
                100.0 * o.solved_unseen,
                100.0 * o.steps,
                100.0 * o.penultimate,
                100.0 * o.accepted,
                o.mean_generated_len,
                o.seconds,
                o.samples.join(" ")
            )
        },
    )?;
    // The same test and training strings for every cell.
    let seen = rows.last().map_or(0.0, |(_, o)| o.test_in_train);
    println!(
        "({:.1}% of the test strings also occur among the training strings)",
        100.0 * seen
    );
    common::cells::print_table(
        &rows,
        &format!(
            "test strings solved (of {}) | unseen test strings solved | steps correct | penultimate symbol | generated strings accepted (of {}) | training time",
            cfg.test, cfg.generate
        ),
        |o| {
            format!(
                "{:.1}% | {:.1}% | {:.2}% | {:.1}% | {:.1}% | {:.0} s",
                100.0 * o.solved,
                100.0 * o.solved_unseen,
                100.0 * o.steps,
                100.0 * o.penultimate,
                100.0 * o.accepted,
                o.seconds
            )
        },
    );
    Ok(())
}
