//! A character-level language model (Graves 2013; Karpathy's "char-rnn"): a stacked LSTM reads
//! a text one character at a time and predicts the next character. Trained with truncated
//! backpropagation through time over long streams: the training text is cut into `B` parallel
//! streams, each stream is read in chunks of `chunk` steps, the states at the end of one chunk
//! start the next (the gradient stops at chunk borders).
//!
//! `cargo run --release --example char_lm -- [path/to/file.txt] [--epochs N] [--hidden H]
//! [--layers L] [--embed E] [--dropout P] [--streams B] [--chunk T] [--lr LR] [--seed S]
//! [--temperature K] [--sample N] [--prompt TEXT]`
//!
//! Without a file, the text is `common::corpus::default_corpus()` (about 64 KB of generated
//! English-like sentences). The last tenth (cut at a paragraph boundary) is held out. Prints
//! the held-out bits per character next to the held-out text's unigram entropy (the best any
//! context-free model can do on it), then a sample generated at temperature 0.8.
#![allow(dead_code)]

mod common;

use std::time::Instant;

use common::corpus;
use common::flags::{Flags, Settings};
use common::train::{parameter_count, Trainer};
use recurrent::cells::{Lstm, LstmDims};
use recurrent::loss::sequence_cross_entropy;
use recurrent::ndarray::Array2;
use recurrent::{DynCell, Input, SequenceModel, Vocab};

/// The default text (re-exported for the test that includes this file).
pub use common::corpus::default_corpus;

/// Training settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Passes over the training text.
    pub epochs: usize,
    /// Parallel streams the training text is cut into (the batch size).
    pub streams: usize,
    /// Steps per truncated-BPTT chunk.
    pub chunk: usize,
    /// Embedding size.
    pub embed: usize,
    /// Hidden size of every LSTM layer.
    pub hidden: usize,
    /// Stacked LSTM layers.
    pub layers: usize,
    /// Dropout between layers (training only).
    pub dropout: f64,
    /// Adam's learning rate (cosine-annealed to a tenth).
    pub lr: f64,
    /// Global gradient-norm clip.
    pub clip: f32,
    /// Fraction of the text used for training (the rest is held out).
    pub train_fraction: f64,
    /// Use at most this many bytes of the text (`None`: all of it).
    pub max_bytes: Option<usize>,
    /// Seed of initialization, dropout and sampling.
    pub seed: u64,
    /// Characters to sample after training.
    pub sample: usize,
    /// Sampling temperature.
    pub temperature: f64,
    /// Prompt of the sample (falls back to the held-out text's first character when it has
    /// characters outside the vocabulary).
    pub prompt: String,
    /// Evaluate the held-out text after every epoch (otherwise only at the end).
    pub eval_every_epoch: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            epochs: 20,
            streams: 16,
            chunk: 64,
            embed: 32,
            hidden: 192,
            layers: 2,
            dropout: 0.1,
            lr: 5e-3,
            clip: 1.0,
            train_fraction: 0.9,
            max_bytes: None,
            seed: 1,
            sample: 300,
            temperature: 0.8,
            prompt: "The ".into(),
            eval_every_epoch: true,
        }
    }
}

impl Settings for Config {
    fn read_flags(&mut self, flags: &Flags) -> recurrent::Result<()> {
        self.epochs = flags.get("epochs", self.epochs)?;
        self.hidden = flags.get("hidden", self.hidden)?;
        self.layers = flags.get_checked("layers", self.layers, "at least 1", |&n| n >= 1)?;
        self.embed = flags.get("embed", self.embed)?;
        self.streams = flags.get("streams", self.streams)?;
        self.chunk = flags.get("chunk", self.chunk)?;
        self.seed = flags.get("seed", self.seed)?;
        self.sample = flags.get("sample", self.sample)?;
        self.dropout = flags.get("dropout", self.dropout)?;
        self.lr = flags.get("lr", self.lr)?;
        self.temperature = flags.get("temperature", self.temperature)?;
        self.prompt = flags.get("prompt", self.prompt.clone())?;
        Ok(())
    }
}

/// What training produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Bits per character on the held-out text.
    pub bpc: f64,
    /// Unigram entropy of the held-out text in bits per character.
    pub unigram_bits: f64,
    /// Mean training bits per character over the last epoch (with dropout).
    pub train_bpc: f64,
    /// (epoch, training bpc, held-out bpc) per evaluated epoch.
    pub curve: Vec<(usize, f64, f64)>,
    /// The prompt followed by the sampled characters.
    pub sample: String,
    /// Vocabulary size.
    pub vocab: usize,
    /// Characters of training and held-out text.
    pub chars: (usize, usize),
    /// Training steps (chunks) taken.
    pub steps: usize,
    /// Trainable parameters.
    pub params: usize,
    /// Training time in seconds (evaluation excluded).
    pub seconds: f64,
}

/// The model: embedding, `layers` LSTMs with dropout between them, a head over the vocabulary.
fn build(
    cfg: &Config,
    vocab: usize,
    rng: &mut recurrent::rand::rngs::ChaCha8Rng,
) -> recurrent::Result<SequenceModel<f32>> {
    let mut cells: Vec<Box<dyn DynCell<f32>>> = Vec::new();
    for l in 0..cfg.layers.max(1) {
        let input = if l == 0 { cfg.embed } else { cfg.hidden };
        cells.push(Box::new(Lstm::<f32>::new(
            LstmDims {
                I: input,
                H: cfg.hidden,
            },
            rng,
        )));
    }
    SequenceModel::stack(cells)?
        .with_embedding(vocab, rng)?
        .with_head(vocab, rng)?
        .with_dropout(cfg.dropout)
}

/// Bits per character of `model` on `ids` read as one stream from zero states: the mean
/// cross-entropy of predicting `ids[t + 1]` from `ids[..=t]`, in bits.
pub fn bits_per_char(model: &SequenceModel<f32>, ids: &[usize]) -> recurrent::Result<f64> {
    if ids.len() < 2 {
        return Ok(0.0);
    }
    let n = ids.len() - 1;
    let x = Array2::from_shape_vec((n, 1), ids[..n].to_vec()).expect("[T, 1]");
    let y = Array2::from_shape_vec((n, 1), ids[1..].to_vec()).expect("[T, 1]");
    let (logits, _) = model.outputs(Input::Tokens(x.view()), None, None)?;
    let (nats, _) = sequence_cross_entropy(logits.view(), y.view(), None)?;
    Ok(f64::from(nats) / std::f64::consts::LN_2)
}

/// Trains a character-level LSTM language model on `text` and evaluates it on its held-out
/// part.
pub fn run(text: &str, cfg: &Config) -> recurrent::Result<Outcome> {
    let text = match cfg.max_bytes {
        Some(max) if max < text.len() => {
            let cut = (0..=max)
                .rev()
                .find(|&i| text.is_char_boundary(i))
                .unwrap_or(0);
            &text[..cut]
        }
        _ => text,
    };
    let (train, valid) = corpus::split(text, cfg.train_fraction);
    // The vocabulary covers the whole text, so held-out characters always have an id.
    let vocab = Vocab::from_chars(text, &[], None);
    let train_ids = vocab.encode_chars(train)?;
    let valid_ids = vocab.encode_chars(valid)?;
    let streams = cfg.streams.max(1);
    let stream_len = train_ids.len().saturating_sub(1) / streams;
    if stream_len < 2 {
        return Err(recurrent::Error::Invalid(format!(
            "char_lm: {} training characters are too few for {streams} streams",
            train_ids.len()
        )));
    }
    // Stream `b` reads train_ids[b * L .. (b + 1) * L] and predicts the next character each.
    let mut inputs = Array2::zeros((stream_len, streams));
    let mut targets = Array2::zeros((stream_len, streams));
    for b in 0..streams {
        for t in 0..stream_len {
            inputs[[t, b]] = train_ids[b * stream_len + t];
            targets[[t, b]] = train_ids[b * stream_len + t + 1];
        }
    }
    let windows = recurrent::modes::tbptt_windows(stream_len, cfg.chunk);

    let mut rng = recurrent::seeded_rng(cfg.seed);
    let mut model = build(cfg, vocab.len(), &mut rng)?;
    let params = parameter_count(&model);
    let total = cfg.epochs * windows.len();
    let mut trainer = Trainer::cosine(cfg.lr, cfg.lr / 10.0, total, cfg.clip);
    let verbose = std::env::var_os("CHAR_LM_VERBOSE").is_some();
    let mut seconds = 0.0;
    let mut curve = Vec::new();
    let mut train_bpc = f64::NAN;
    for epoch in 0..cfg.epochs {
        let start = Instant::now();
        let mut state = None;
        let mut sum = 0.0;
        for window in &windows {
            let x = inputs.slice(recurrent::ndarray::s![window.clone(), ..]);
            let y = targets.slice(recurrent::ndarray::s![window.clone(), ..]);
            let mut out =
                model.tag_step(Input::Tokens(x), None, y, state.as_deref(), Some(&mut rng))?;
            trainer.step(&mut model, &mut out.grads)?;
            // The states carry into the next chunk; the gradient stops here.
            state = Some(out.final_states);
            sum += f64::from(out.loss) / std::f64::consts::LN_2;
            let step = trainer.updates();
            if verbose && step.is_multiple_of(10) {
                eprintln!(
                    "step {step}/{total}: {:.3} bpc",
                    f64::from(out.loss) / std::f64::consts::LN_2
                );
            }
        }
        seconds += start.elapsed().as_secs_f64();
        train_bpc = sum / windows.len().max(1) as f64;
        if cfg.eval_every_epoch || epoch + 1 == cfg.epochs {
            let bpc = bits_per_char(&model, &valid_ids)?;
            curve.push((epoch + 1, train_bpc, bpc));
            if verbose || cfg.eval_every_epoch {
                println!(
                    "epoch {:>2}: training {train_bpc:.3} bpc, held-out {bpc:.3} bpc ({seconds:.1} s)",
                    epoch + 1
                );
            }
        }
    }
    let bpc = match curve.last() {
        Some(&(_, _, bpc)) => bpc,
        None => bits_per_char(&model, &valid_ids)?,
    };
    let prompt = match vocab.encode_chars(&cfg.prompt) {
        Ok(ids) if !ids.is_empty() => (cfg.prompt.clone(), ids),
        _ => {
            let first: String = valid.chars().chain(train.chars()).take(1).collect();
            let ids = vocab.encode_chars(&first)?;
            (first, ids)
        }
    };
    let mut sample_rng = recurrent::seeded_rng(cfg.seed + 1000);
    let sampled = model.generate(&prompt.1, cfg.sample, cfg.temperature, &mut sample_rng)?;
    let sample = prompt.0 + &vocab.decode(&sampled)?;
    Ok(Outcome {
        bpc,
        unigram_bits: corpus::unigram_entropy_bits(valid),
        train_bpc,
        curve,
        sample,
        vocab: vocab.len(),
        chars: (train.chars().count(), valid.chars().count()),
        steps: trainer.updates(),
        params,
        seconds,
    })
}

const USAGE: &str = "usage: char_lm [TEXT_FILE] [--epochs N] [--hidden N] [--layers N (>= 1)] \
[--embed N] [--streams N] [--chunk N] [--seed N] [--sample N] [--dropout X] [--lr X] \
[--temperature X] [--prompt TEXT]\n";

fn main() -> std::process::ExitCode {
    common::flags::main(USAGE, cli)
}

/// The example proper: runs with the settings the command line gives and prints the results.
fn cli(cfg: Config, flags: &Flags) -> recurrent::Result<()> {
    let (source, text) = match flags.positional() {
        [] => ("the default corpus".to_string(), corpus::default_corpus()),
        [path] => {
            let shown = path.to_string_lossy().into_owned();
            let text = std::fs::read_to_string(path)
                .map_err(|e| recurrent::Error::Invalid(format!("{shown}: {e}")))?;
            (shown, text)
        }
        more => {
            return Err(recurrent::Error::Invalid(format!(
                "expected at most one text file, found {}\n\n{USAGE}",
                more.len()
            )))
        }
    };
    println!(
        "character-level language model on {source} ({} bytes): {} x LSTM({}), embedding {}, dropout {}, \
         {} streams, chunks of {} steps, {} epochs",
        text.len(),
        cfg.layers,
        cfg.hidden,
        cfg.embed,
        cfg.dropout,
        cfg.streams,
        cfg.chunk,
        cfg.epochs
    );
    let o = run(&text, &cfg)?;
    let ratio = o.bpc / o.unigram_bits;
    println!();
    println!(
        "held-out: {:.3} bits per character, unigram entropy {:.3} bits ({:.1}% of it; target <= 75%) — {}",
        o.bpc,
        o.unigram_bits,
        100.0 * ratio,
        if ratio <= 0.75 { "passed" } else { "FAILED" }
    );
    println!();
    common::table::print(
        "model | parameters | vocabulary | train / held-out chars | held-out bpc | unigram entropy | training time",
        [format!(
            "{} x LSTM({}) | {} | {} | {} / {} | {:.3} | {:.3} | {:.0} s ({} steps)",
            cfg.layers,
            cfg.hidden,
            o.params,
            o.vocab,
            o.chars.0,
            o.chars.1,
            o.bpc,
            o.unigram_bits,
            o.seconds,
            o.steps
        )],
    );
    println!();
    println!(
        "sample ({} characters at temperature {}):",
        cfg.sample, cfg.temperature
    );
    println!("{}", o.sample);
    Ok(())
}
