//! Data-parallel training over MPI (`recurrent::distributed`, feature `mpi`): an LSTM learns
//! the adding problem (Hochreiter & Schmidhuber 1997, see `adding_problem.rs`) with every
//! process taking its share of each batch.
//!
//! ```sh
//! cargo build --release --features mpi --example distributed
//! mpirun -np 2 target/release/examples/distributed                  # two processes, one machine
//! mpirun --hostfile hosts -np 8 target/release/examples/distributed # eight, on the hosts listed
//! ```
//!
//! Every process generates the same training set from `--seed`; the batches follow the seeded
//! order of each epoch, and each rank trains on its share. Rank 0 prints the progress, writes
//! the checkpoint every `--checkpoint-every` iterations and evaluates at the end; `--resume`
//! continues from the checkpoint, on any number of processes, exactly as the run would have
//! gone on.
//!
//! `--bench` measures throughput instead: LSTM training steps at the benchmark runner's M
//! workload (I = H = 256, T = 100; `--bench-batch` global examples per step, default 64), with the
//! time per step split into compute and all-reduce, and the bytes all-reduced per step.
#![allow(dead_code)]

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use common::adding;
use common::cells::{GateBiases, Kind};
use common::flags::{Flags, Settings};
use recurrent::distributed::{abort_on_error, zero_gradients, DataParallel, Share};
use recurrent::ndarray::{Array2, Array3};
use recurrent::rand::RngExt;
use recurrent::train::{Adam, Schedule};
use recurrent::{data, seeded_rng, ExampleSeeds, Input, Pooling, SequenceModel};

const USAGE: &str = "usage: mpirun -np N distributed [--t T] [--examples N] [--iterations N] \
[--batch B] [--hidden H] [--lr LR] [--seed S] [--checkpoint PATH] [--checkpoint-every N] \
[--resume] [--bench] [--bench-batch B] [--steps N]
";

/// Training settings.
#[derive(Debug, Clone)]
struct Config {
    /// Minimal sequence length `T`.
    t: usize,
    /// Training sequences (generated once from the seed, the same on every rank).
    examples: usize,
    /// Training iterations (one global batch each).
    iterations: usize,
    /// Examples per global batch (split over the ranks).
    batch: usize,
    /// Hidden size.
    hidden: usize,
    /// Adam's learning rate (cosine-annealed to a tenth).
    lr: f64,
    /// Seed of data, initialization and masks.
    seed: u64,
    /// Checkpoint file.
    checkpoint: PathBuf,
    /// Iterations between checkpoints.
    checkpoint_every: usize,
    /// Timed steps of `--bench`.
    bench_steps: usize,
    /// Global batch of `--bench`.
    bench_batch: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            t: 100,
            examples: 16384,
            iterations: 4000,
            batch: 32,
            hidden: 32,
            lr: 1e-2,
            seed: 1,
            checkpoint: PathBuf::from("distributed.safetensors"),
            checkpoint_every: 500,
            bench_steps: 10,
            bench_batch: 64,
        }
    }
}

impl Settings for Config {
    fn read_flags(&mut self, flags: &Flags) -> recurrent::Result<()> {
        self.t = flags.get_checked("t", self.t, "at least 22", |&t| t >= 22)?;
        self.examples = flags.get_checked("examples", self.examples, "at least 1", |&n| n > 0)?;
        self.iterations = flags.get("iterations", self.iterations)?;
        self.batch = flags.get_checked("batch", self.batch, "at least 1", |&b| b > 0)?;
        self.hidden = flags.get("hidden", self.hidden)?;
        self.lr = flags.get("lr", self.lr)?;
        self.seed = flags.get("seed", self.seed)?;
        self.checkpoint = flags.get("checkpoint", self.checkpoint.clone())?;
        self.checkpoint_every = flags.get("checkpoint-every", self.checkpoint_every)?;
        self.bench_steps =
            flags.get_checked("steps", self.bench_steps, "at least 1", |&n| n > 0)?;
        self.bench_batch =
            flags.get_checked("bench-batch", self.bench_batch, "at least 1", |&b| b > 0)?;
        Ok(())
    }
}

fn main() -> std::process::ExitCode {
    common::flags::main(USAGE, |cfg: Config, flags: &Flags| {
        let universe = recurrent::distributed::mpi::initialize()
            .ok_or_else(|| recurrent::Error::Invalid("MPI was already initialized".into()))?;
        let result = if flags.switch("bench") {
            bench(&universe, &cfg)
        } else {
            train(&universe, &cfg, flags.switch("resume"))
        };
        // An error on one rank stops the whole job rather than leaving the others waiting.
        abort_on_error(&universe.world(), result);
        Ok(())
    })
}

/// A padded time-major batch `[T, B, 2]`, lengths and targets `[B, 1]` of `examples`.
fn to_batch(
    seqs: &[adding::Sequence],
    examples: &[usize],
) -> (Array3<f32>, Vec<usize>, Array2<f32>) {
    let lengths: Vec<usize> = examples.iter().map(|&e| seqs[e].pairs.len()).collect();
    let steps = lengths.iter().copied().max().unwrap_or(0);
    let mut x = Array3::zeros((steps, examples.len(), 2));
    let mut y = Array2::zeros((examples.len(), 1));
    for (b, &e) in examples.iter().enumerate() {
        for (t, &(value, marker)) in seqs[e].pairs.iter().enumerate() {
            x[[t, b, 0]] = value as f32;
            x[[t, b, 1]] = marker as f32;
        }
        y[[b, 0]] = seqs[e].target as f32;
    }
    (x, lengths, y)
}

/// The examples of global batch `iteration`: the seeded shuffle of its epoch.
fn global_batch(cfg: &Config, iteration: usize) -> Vec<usize> {
    let per_epoch = cfg.examples.div_ceil(cfg.batch);
    let epoch = (iteration / per_epoch) as u64;
    let mut order = data::batch_indices(
        cfg.examples,
        cfg.batch,
        true,
        &mut seeded_rng(cfg.seed + 1 + epoch),
    );
    order.swap_remove(iteration % per_epoch)
}

/// Trains, checkpoints and evaluates (see the file's documentation).
fn train(
    universe: &recurrent::distributed::mpi::environment::Universe,
    cfg: &Config,
    resume: bool,
) -> recurrent::Result<()> {
    let mut rng = seeded_rng(cfg.seed);
    let biases = GateBiases {
        keep: Some(5.0),
        lstm_input: None,
    };
    let mut model = SequenceModel::stack(vec![Kind::Lstm.cell(2, cfg.hidden, biases, &mut rng)?])?
        .with_head(1, &mut rng)?;
    let mut dp = DataParallel::new(universe.world(), &mut model)?;
    let mut adam = Adam::new(cfg.lr as f32);
    let schedule = Schedule::Cosine {
        total: cfg.iterations,
        min_lr: cfg.lr / 10.0,
    };
    let mut start = 0;
    if resume {
        let metadata = dp.load_checkpoint(&cfg.checkpoint, &mut model, Some(&mut adam))?;
        start = metadata
            .get("iteration")
            .and_then(|i| i.parse().ok())
            .ok_or_else(|| {
                recurrent::Error::Invalid(format!(
                    "{}: no iteration in its metadata",
                    cfg.checkpoint.display()
                ))
            })?;
    }
    let root = dp.is_root();
    if root {
        println!(
            "adding problem, T = {}: {} iterations of {} sequences over {} processes, LSTM hidden {}{}",
            cfg.t,
            cfg.iterations,
            cfg.batch,
            dp.size(),
            cfg.hidden,
            if resume { format!(", resumed at iteration {start}") } else { String::new() }
        );
    }
    let train_set = adding::batch(&mut seeded_rng(cfg.seed + 1000), cfg.t, cfg.examples);
    let clock = Instant::now();
    let (mut running, mut seen) = (None::<f64>, 0usize);
    for it in start..cfg.iterations {
        let batch = global_batch(cfg, it);
        let mine = dp.shard(&batch);
        // A batch smaller than the number of ranks leaves some without examples.
        let (mut grads, share) = if mine.is_empty() {
            (zero_gradients(&model), Share::examples(0, 0.0))
        } else {
            let (x, lengths, y) = to_batch(&train_set, mine);
            let step = model.pooled_regression_step(
                Input::Features(x.view()),
                Some(&lengths),
                y.view(),
                Pooling::Last,
                Some(&mut ExampleSeeds::new(cfg.seed, it as u64, mine)),
            )?;
            (step.grads, Share::examples(mine.len(), step.loss))
        };
        schedule.apply(&mut adam, cfg.lr, it);
        let reduced = dp.step(&mut model, &mut adam, &mut grads, share, Some(1.0))?;
        running = Some(running.map_or(reduced.loss, |m| 0.95 * m + 0.05 * reduced.loss));
        seen += batch.len();
        if root && (it + 1) % 100 == 0 {
            println!(
                "iteration {:>5}: loss {:.5} (running mean), {:.0} sequences/s",
                it + 1,
                running.unwrap_or(f64::NAN),
                seen as f64 / clock.elapsed().as_secs_f64()
            );
        }
        if cfg.checkpoint_every > 0 && (it + 1) % cfg.checkpoint_every == 0 {
            let extra = BTreeMap::from([("iteration".to_string(), (it + 1).to_string())]);
            dp.save_checkpoint(&cfg.checkpoint, &model, Some(&adam), &extra)?;
        }
    }
    dp.check_in_sync(&model)?;
    if root {
        let test = adding::batch(&mut seeded_rng(cfg.seed + 2000), cfg.t, 2560);
        let (mut predictions, mut targets) = (Vec::new(), Vec::new());
        for chunk in data::batch_indices(test.len(), 256, false, &mut rng) {
            let (x, lengths, y) = to_batch(&test, &chunk);
            let out = model.classify(Input::Features(x.view()), Some(&lengths), Pooling::Last)?;
            predictions.extend(out.column(0).iter().map(|&p| f64::from(p)));
            targets.extend(y.column(0).iter().map(|&t| f64::from(t)));
        }
        println!(
            "solved {:.1}% of {} test sequences (|error| < {})",
            100.0 * adding::accuracy(&predictions, &targets),
            targets.len(),
            adding::TOLERANCE
        );
    }
    Ok(())
}

/// Throughput of LSTM training at the M workload (see the file's documentation).
fn bench(
    universe: &recurrent::distributed::mpi::environment::Universe,
    cfg: &Config,
) -> recurrent::Result<()> {
    let (t, i, h) = (100, 256, 256);
    let batch = cfg.bench_batch;
    let mut rng = seeded_rng(cfg.seed);
    let cell =
        recurrent::cells::Lstm::<f32>::new(recurrent::cells::LstmDims { I: i, H: h }, &mut rng);
    let mut model = SequenceModel::stack(vec![Box::new(cell)])?.with_head(1, &mut rng)?;
    let mut dp = DataParallel::new(universe.world(), &mut model)?;
    if batch < dp.size() {
        return Err(recurrent::Error::Invalid(format!(
            "--bench-batch: expected at least one example per process ({}), found {batch}",
            dp.size()
        )));
    }
    let mut adam = Adam::new(1e-3f32);
    let x = Array3::from_shape_simple_fn((t, batch, i), || rng.random_range(-1.0f32..1.0));
    let y = Array3::from_shape_simple_fn((t, batch, 1), || rng.random_range(-1.0f32..1.0));
    let columns: Vec<usize> = (0..batch).collect();
    let mine = dp.shard(&columns).to_vec();
    let xs = data::select_examples(&x, &mine);
    let ys = data::select_examples(&y, &mine);
    let (mut compute, mut reduce, mut total) = (Vec::new(), Vec::new(), Vec::new());
    for step in 0..cfg.bench_steps + 2 {
        dp.barrier();
        let start = Instant::now();
        let mut out =
            model.regress_step(Input::Features(xs.view()), None, ys.view(), None, None)?;
        let computed = start.elapsed().as_secs_f64();
        let share = Share::tokens(t * mine.len(), out.loss);
        let reduced_at = Instant::now();
        dp.all_reduce_gradients(&mut out.grads, share)?;
        let reduced = reduced_at.elapsed().as_secs_f64();
        recurrent::train::Optimizer::step(&mut adam, &mut model, &out.grads)?;
        // The first two steps warm the caches and the memory pool.
        if step >= 2 {
            compute.push(computed);
            reduce.push(reduced);
            total.push(start.elapsed().as_secs_f64());
        }
    }
    // Every rank's medians; rank 0 reports the slowest rank's.
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let mine_stats = [
        median(&mut compute),
        median(&mut reduce),
        median(&mut total),
    ];
    let mut all = vec![0.0f64; 3 * dp.size()];
    use recurrent::distributed::mpi::traits::CommunicatorCollectives;
    dp.communicator()
        .all_gather_into(&mine_stats[..], &mut all[..]);
    if dp.is_root() {
        let worst = |k: usize| (0..dp.size()).map(|r| all[3 * r + k]).fold(0.0, f64::max);
        let step_s = worst(2);
        println!(
            "LSTM I={i} H={h} T={t}, global batch {batch} over {} process(es) x {} thread(s): \
             {:.1} examples/s; per step {:.1} ms (compute {:.1} ms, all-reduce {:.2} ms, \
             slowest rank's medians over {} steps); {} bytes all-reduced per step",
            dp.size(),
            recurrent::num_threads(),
            batch as f64 / step_s,
            1e3 * step_s,
            1e3 * worst(0),
            1e3 * worst(1),
            cfg.bench_steps,
            dp.bytes_per_step::<f32>()
        );
    }
    Ok(())
}
