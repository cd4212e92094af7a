//! Data-parallel training over MPI (`recurrent::distributed`, feature `mpi`), under `mpirun`.
//!
//! `cargo test --features mpi --test distributed` runs this file's `main`, which starts the same
//! binary under `mpirun -np N` once per scenario (`RNN_MPI_SCENARIO` names it) and checks that
//! every rank finished well and in time. Each rank checks its own results:
//! - `equivalence` (2 and 3 ranks, f64 and f32): training steps of a two-layer LSTM model with
//!   dropout between layers (masks drawn per example), clipping and Adam, alternating a
//!   per-token loss and a per-example loss over sequences of unequal lengths (every epoch's last
//!   batch of 2 leaves a third rank without examples), give the
//!   parameters of one process on the same global batches;
//! - `cell-and-seq2seq` (3 ranks): the same for a single cell's `ParamSet` (a loss written by
//!   hand over the cell's outputs) and for an encoder–decoder (`Seq2Seq`, dropout in both);
//! - `save` then `resume`: a run checkpointed on 2 ranks continues on 3 as one process would;
//! - `mismatch`: a rank with another model is an error on every rank;
//! - `drift`: parameters that differ, gradients of another model or an optimizer that fails on
//!   one rank are errors on every rank;
//! - `local-error`, `dies`, `panics`: an error met by one rank alone (`abort_on_error`), a
//!   process that exits mid-run, a panic on one rank: `mpirun` stops the whole job in seconds
//!   instead of leaving the other ranks waiting in a collective.
//!
//! Without `mpirun` on the PATH the scenarios are skipped with a message (a failure when `CI`
//! is set).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use recurrent::cells::{Lstm, LstmDims};
use recurrent::distributed::{zero_gradients, DataParallel, MpiFloat, Share};
use recurrent::ndarray::{s, Array3, Axis};
use recurrent::rand::RngExt;
use recurrent::train::{clip_grad_norm, Adam, Optimizer};
use recurrent::{
    data, seeded_rng, Error, ExampleSeeds, Float, Input, Parameters, Pooling, SequenceModel,
    TrainStep,
};

/// How a scenario must end.
#[derive(Clone, Copy, PartialEq)]
enum End {
    /// Every rank returns well.
    Success,
    /// `mpirun` stops the job and exits non-zero, with this on its standard error.
    Aborted(&'static str),
}

/// The scenarios: name, number of ranks, the longest they may take, how they end.
const SCENARIOS: &[(&str, usize, u64, End)] = &[
    ("equivalence-f64", 2, 300, End::Success),
    ("equivalence-f64", 3, 300, End::Success),
    ("equivalence-f32", 2, 300, End::Success),
    ("save", 2, 300, End::Success),
    ("resume", 3, 300, End::Success),
    ("cell-and-seq2seq", 3, 300, End::Success),
    ("mismatch", 3, 60, End::Success),
    ("drift", 2, 60, End::Success),
    ("local-error", 2, 60, End::Aborted("rank 1 of 2: error: ")),
    ("dies", 3, 60, End::Aborted("")),
    ("panics", 2, 60, End::Aborted("rank 1 panics")),
];

fn main() {
    match std::env::var("RNN_MPI_SCENARIO") {
        Ok(scenario) => worker(&scenario),
        Err(_) => launch_all(),
    }
}

/// Starts every scenario under `mpirun` and checks its outcome.
fn launch_all() {
    if Command::new("mpirun").arg("--version").output().is_err() {
        let message = "mpirun not found: install Open MPI (openmpi-bin, libopenmpi-dev) to run \
                       the data-parallel tests";
        assert!(std::env::var_os("CI").is_none(), "{message}");
        println!("skipped: {message}");
        return;
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let dir = std::env::temp_dir().join(format!("recurrent-mpi-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    for &(scenario, ranks, limit, end) in SCENARIOS {
        let start = Instant::now();
        let mut child = Command::new("mpirun")
            .args(["-np", &ranks.to_string()])
            // Two cores here, three ranks; CI runs as root.
            .args([
                "--oversubscribe",
                "--allow-run-as-root",
                "--bind-to",
                "none",
            ])
            .args(["-x", &format!("RNN_MPI_SCENARIO={scenario}")])
            .args(["-x", &format!("RNN_MPI_DIR={}", dir.display())])
            .args(["-x", "RNN_NUM_THREADS=1"])
            .arg(&exe)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("mpirun starts");
        let status = loop {
            if let Some(status) = child.try_wait().expect("waiting for mpirun") {
                break status;
            }
            if start.elapsed() > Duration::from_secs(limit) {
                let _ = child.kill();
                panic!("{scenario} on {ranks} ranks: still running after {limit} s (a hang?)");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let output = child.wait_with_output().expect("mpirun's output");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        match end {
            End::Success => assert!(
                status.success(),
                "{scenario} on {ranks} ranks failed ({status}):\n{stdout}\n{stderr}"
            ),
            End::Aborted(message) => assert!(
                !status.success() && stderr.contains(message),
                "{scenario} on {ranks} ranks: expected mpirun to stop the job ({status}) with \
                 `{message}` on stderr:\n{stdout}\n{stderr}"
            ),
        }
        for line in stdout.lines() {
            println!("{line}");
        }
        println!(
            "ok: {scenario} on {ranks} ranks in {:.1} s",
            start.elapsed().as_secs_f64()
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs `scenario` on this rank.
fn worker(scenario: &str) {
    let universe = recurrent::distributed::mpi::initialize().expect("MPI initializes once");
    let world = universe.world();
    let dir = PathBuf::from(std::env::var("RNN_MPI_DIR").expect("RNN_MPI_DIR"));
    match scenario {
        "equivalence-f64" => equivalence::<f64>(world, 1e-12),
        "equivalence-f32" => equivalence::<f32>(world, F32_BOUND),
        "save" => save(world, &dir),
        "resume" => resume(world, &dir),
        "cell-and-seq2seq" => cell_and_seq2seq(world),
        "mismatch" => mismatch(world),
        "drift" => drift(world),
        "local-error" => local_error(world),
        "dies" => dies(world),
        "panics" => panics(world),
        other => panic!("unknown scenario {other}"),
    }
}

/// The f32 bound of the equivalence: summing the batch in another order (per shard, then over
/// ranks) rounds differently, and Adam's steps carry it on.
const F32_BOUND: f64 = 1e-5;

/// The training run of every scenario.
const SEED: u64 = 5;
/// 24 examples in batches of 11: every epoch ends with a batch of 2, of which a third rank gets
/// nothing.
const EXAMPLES: usize = 24;
const BATCH: usize = 11;
const STEPS: usize = 8;
const SAVED_AT: usize = 5;
const I: usize = 3;
const H: usize = 8;
const MAX_T: usize = 9;

/// The dataset: `[T, N, I]` inputs, every example's length (1 to `MAX_T`) and `[T, N, 1]`
/// targets (the running sum of the first input, a task the LSTM can learn).
struct Dataset<F> {
    x: Array3<F>,
    y: Array3<F>,
    lengths: Vec<usize>,
}

fn dataset<F: Float>() -> Dataset<F> {
    let mut rng = seeded_rng(SEED);
    let lengths: Vec<usize> = (0..EXAMPLES).map(|_| rng.random_range(1..=MAX_T)).collect();
    let x = Array3::from_shape_simple_fn((MAX_T, EXAMPLES, I), || {
        F::from_f64(rng.random_range(-1.0..1.0))
    });
    let mut y = Array3::zeros((MAX_T, EXAMPLES, 1));
    for b in 0..EXAMPLES {
        let mut sum = 0.0;
        for t in 0..MAX_T {
            sum += x[[t, b, 0]].to_f64() * 0.5;
            y[[t, b, 0]] = F::from_f64(sum);
        }
    }
    Dataset { x, y, lengths }
}

/// A two-layer LSTM with dropout between the layers and a linear head.
fn build_model<F: Float>(hidden: usize, init_seed: u64) -> SequenceModel<F> {
    let mut rng = seeded_rng(init_seed);
    let cells: Vec<Box<dyn recurrent::DynCell<F>>> = vec![
        Box::new(Lstm::<F>::new(LstmDims { I, H: hidden }, &mut rng)),
        Box::new(Lstm::<F>::new(LstmDims { I: hidden, H }, &mut rng)),
    ];
    SequenceModel::stack(cells)
        .unwrap()
        .with_dropout(0.25)
        .unwrap()
        .with_head(1, &mut rng)
        .unwrap()
}

/// The examples of global batch `step`: the seeded order of its epoch.
fn global_batch(step: usize) -> Vec<usize> {
    let per_epoch = EXAMPLES.div_ceil(BATCH);
    let epoch = step / per_epoch;
    let order = data::batch_indices(EXAMPLES, BATCH, true, &mut seeded_rng(100 + epoch as u64));
    order[step % per_epoch].clone()
}

/// Forward and backward over `examples` at `step` (padded to their own longest length):
/// even steps a per-token loss (mean over counted steps), odd steps a per-example loss (the
/// last step's output). Returns the step and this loss's share.
fn local_step<F: Float>(
    model: &SequenceModel<F>,
    data: &Dataset<F>,
    step: usize,
    examples: &[usize],
) -> (TrainStep<F>, Share) {
    let lengths: Vec<usize> = examples.iter().map(|&e| data.lengths[e]).collect();
    let steps = lengths.iter().copied().max().unwrap_or(0);
    let x = data.x.select(Axis(1), examples);
    let y = data.y.select(Axis(1), examples);
    let (x, y) = (x.slice(s![..steps, .., ..]), y.slice(s![..steps, .., ..]));
    let mut seeds = ExampleSeeds::new(SEED, step as u64, examples);
    if step.is_multiple_of(2) {
        let out = model
            .regress_step(
                Input::Features(x),
                Some(&lengths),
                y,
                None,
                Some(&mut seeds),
            )
            .unwrap();
        let tokens = lengths.iter().sum();
        let share = Share::tokens(tokens, out.loss);
        (out, share)
    } else {
        let last = Array3::from_shape_fn((1, examples.len(), 1), |(_, b, _)| {
            y[[lengths[b] - 1, b, 0]]
        });
        let out = model
            .pooled_regression_step(
                Input::Features(x),
                Some(&lengths),
                last.index_axis(Axis(0), 0),
                Pooling::Last,
                Some(&mut seeds),
            )
            .unwrap();
        let share = Share::examples(examples.len(), out.loss);
        (out, share)
    }
}

fn adam<F: Float>() -> Adam<F> {
    Adam::new(F::from_f64(0.02))
}

/// The gradient norm clipped to.
const MAX_NORM: f64 = 0.5;

/// Steps `from..to` of the run in one process; returns how many steps were clipped.
fn train_alone<F: Float>(
    model: &mut SequenceModel<F>,
    optimizer: &mut Adam<F>,
    steps: std::ops::Range<usize>,
) -> usize {
    let data = dataset::<F>();
    let mut clipped = 0;
    for step in steps {
        let (mut out, _) = local_step(model, &data, step, &global_batch(step));
        let norm = clip_grad_norm(&mut out.grads, F::from_f64(MAX_NORM)).unwrap();
        clipped += usize::from(norm.to_f64() > MAX_NORM);
        optimizer.step(model, &out.grads).unwrap();
    }
    clipped
}

/// Steps `from..to` of the run data-parallel.
fn train_parallel<F: MpiFloat>(
    dp: &mut DataParallel,
    model: &mut SequenceModel<F>,
    optimizer: &mut Adam<F>,
    steps: std::ops::Range<usize>,
) {
    let data = dataset::<F>();
    for step in steps {
        let batch = global_batch(step);
        let mine = dp.shard(&batch);
        let (mut grads, share) = if mine.is_empty() {
            (zero_gradients(model), Share::examples(0, 0.0))
        } else {
            let (out, share) = local_step(model, &data, step, mine);
            (out.grads, share)
        };
        dp.step(
            model,
            optimizer,
            &mut grads,
            share,
            Some(F::from_f64(MAX_NORM)),
        )
        .unwrap();
    }
}

/// Largest `|a - b| / (1 + |b|)` over every parameter.
fn largest_difference<F: Float>(a: &dyn Parameters<F>, b: &dyn Parameters<F>) -> f64 {
    a.tensors()
        .iter()
        .zip(b.tensors())
        .flat_map(|((_, x), (_, y))| {
            x.iter()
                .zip(y)
                .map(|(&p, &q)| (p.to_f64() - q.to_f64()).abs() / (1.0 + q.to_f64().abs()))
                .collect::<Vec<_>>()
        })
        .fold(0.0, f64::max)
}

fn equivalence<F: MpiFloat>(
    world: recurrent::distributed::mpi::topology::SimpleCommunicator,
    bound: f64,
) {
    use recurrent::distributed::mpi::traits::Communicator;
    let (rank, ranks) = (world.rank(), world.size());
    // Ranks other than 0 start from other parameters: DataParallel::new copies rank 0's.
    let mut distributed = build_model::<F>(H, 1 + rank as u64);
    let mut dp = DataParallel::new(world, &mut distributed)
        .unwrap()
        .with_check_every(2);
    let mut optimizer = adam::<F>();
    train_parallel(&mut dp, &mut distributed, &mut optimizer, 0..STEPS);
    dp.check_in_sync(&distributed).unwrap();

    let mut alone = build_model::<F>(H, 1);
    let mut reference_optimizer = adam::<F>();
    let clipped = train_alone(&mut alone, &mut reference_optimizer, 0..STEPS);
    assert!(clipped > 0, "the run should clip some steps");
    assert!(
        largest_difference(&build_model::<F>(H, 1), &alone) > 1e-3,
        "the run should move the parameters"
    );
    let diff = largest_difference(&distributed, &alone);
    assert!(
        diff <= bound,
        "rank {rank}/{ranks}: {} steps on {ranks} ranks differ from one process by {diff:e} \
         (bound {bound:e})",
        STEPS
    );
    if rank == 0 {
        println!(
            "{} steps ({} clipped) on {ranks} ranks, {}: largest |a-b|/(1+|b|) against one \
             process {diff:.1e} (bound {bound:.0e}); {} bytes all-reduced per step",
            STEPS,
            clipped,
            std::any::type_name::<F>(),
            dp.bytes_per_step::<F>()
        );
    }
}

fn checkpoint_path(dir: &std::path::Path) -> PathBuf {
    dir.join("run.safetensors")
}

/// The first `SAVED_AT` steps data-parallel, then a checkpoint from rank 0.
fn save(world: recurrent::distributed::mpi::topology::SimpleCommunicator, dir: &std::path::Path) {
    let mut model = build_model::<f64>(H, 1);
    let mut dp = DataParallel::new(world, &mut model).unwrap();
    let mut optimizer = adam::<f64>();
    train_parallel(&mut dp, &mut model, &mut optimizer, 0..SAVED_AT);
    let extra = BTreeMap::from([("step".to_string(), SAVED_AT.to_string())]);
    dp.save_checkpoint(checkpoint_path(dir), &model, Some(&optimizer), &extra)
        .unwrap();
    assert!(
        checkpoint_path(dir).exists(),
        "rank 0 wrote it before every rank returned"
    );
}

/// Resumes the checkpoint of `save` on another number of ranks and compares the end of the run
/// with one process's uninterrupted run.
fn resume(world: recurrent::distributed::mpi::topology::SimpleCommunicator, dir: &std::path::Path) {
    use recurrent::distributed::mpi::traits::Communicator;
    let (rank, ranks) = (world.rank(), world.size());
    let mut model = build_model::<f64>(H, 50 + rank as u64);
    let mut dp = DataParallel::new(world, &mut model).unwrap();
    let mut optimizer = adam::<f64>();
    let metadata = dp
        .load_checkpoint(checkpoint_path(dir), &mut model, Some(&mut optimizer))
        .unwrap();
    let from: usize = metadata["step"].parse().unwrap();
    assert_eq!(from, SAVED_AT);
    train_parallel(&mut dp, &mut model, &mut optimizer, from..STEPS);

    let alone = model_alone_run();
    let diff = largest_difference(&model, &alone);
    assert!(
        diff <= 1e-12,
        "rank {rank}: resumed run differs by {diff:e}"
    );
    if rank == 0 {
        println!(
            "saved on 2 ranks after {SAVED_AT} steps, resumed on {ranks} to step {STEPS}: \
             largest |a-b|/(1+|b|) against one process {diff:.1e}"
        );
    }
    // A missing checkpoint is an error on every rank.
    let err = dp
        .load_checkpoint(dir.join("missing.safetensors"), &mut model, None)
        .unwrap_err();
    assert!(matches!(err, Error::Distributed(_)), "{err}");
    assert!(err.to_string().contains("missing.safetensors"), "{err}");
}

/// The whole run in one process.
fn model_alone_run() -> SequenceModel<f64> {
    let mut alone = build_model::<f64>(H, 1);
    train_alone(&mut alone, &mut adam::<f64>(), 0..STEPS);
    alone
}

/// Asserts that the `message` of rank `rank` says `on_failing` on rank `failing` and `on_others`
/// on every other rank.
fn said(rank: i32, failing: i32, message: &str, on_failing: &str, on_others: &str) {
    let expected = if rank == failing {
        on_failing
    } else {
        on_others
    };
    assert!(
        message.contains(expected),
        "rank {rank}: expected `{expected}` in: {message}"
    );
}

/// Rank 2 builds a model with another hidden size: every rank gets the error.
fn mismatch(world: recurrent::distributed::mpi::topology::SimpleCommunicator) {
    use recurrent::distributed::mpi::traits::Communicator;
    let rank = world.rank();
    let hidden = if rank == 2 { H + 1 } else { H };
    let mut model = build_model::<f64>(hidden, 1);
    let err = DataParallel::new(world, &mut model).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, Error::Distributed(_)), "{message}");
    said(
        rank,
        2,
        &message,
        &format!("rank 2 holds another model than rank 0 (ranks differing: 2): rank 0 has `model layer0: Lstm LstmDims {{ I: 3, H: {H} }}"),
        "rank(s) 2 hold another model",
    );
    if rank == 2 {
        assert!(message.contains(&format!("H: {}", H + 1)), "{message}");
    }
    if rank == 0 {
        println!("mismatch, rank 0: {message}");
    }
}

/// One rank's parameters drift; one rank passes another model's gradients.
fn drift(world: recurrent::distributed::mpi::topology::SimpleCommunicator) {
    use recurrent::distributed::mpi::traits::Communicator;
    let rank = world.rank();
    let mut model = build_model::<f64>(H, 1);
    let dp = DataParallel::new(world, &mut model).unwrap();
    let mut dp = dp.with_check_every(1);
    dp.check_in_sync(&model).unwrap();
    if rank == 1 {
        model.tensors_mut()[0].1[0] += 1e-12;
    }
    let err = dp.check_in_sync(&model).unwrap_err();
    assert!(err.to_string().contains("rank(s) 1 differ"), "{err}");
    if rank == 1 {
        model.tensors_mut()[0].1[0] -= 1e-12;
    }
    dp.check_in_sync(&model)
        .unwrap_or_else(|e| panic!("rank {rank}: {e}"));

    let data = dataset::<f64>();
    let (mut grads, share) = if rank == 1 {
        let other = build_model::<f64>(H + 2, 1);
        local_step(&other, &data, 0, &[0, 1])
    } else {
        local_step(&model, &data, 0, &[2, 3])
    };
    let err = dp
        .all_reduce_gradients(&mut grads.grads, share)
        .unwrap_err();
    let message = err.to_string();
    said(
        rank,
        1,
        &message,
        "rank 1: expected gradients of the model's",
        "rank(s) 1 could not take part",
    );
    if rank == 0 {
        println!("drift, rank 0: {message}");
    }

    // An optimizer that fails on one rank only (a negative learning rate there).
    let mut optimizer = adam::<f64>();
    if rank == 1 {
        optimizer.set_learning_rate(-1.0);
    }
    let (mut out, share) = local_step(&model, &data, 0, if rank == 0 { &[0, 1] } else { &[2] });
    let err = dp
        .step(&mut model, &mut optimizer, &mut out.grads, share, None)
        .unwrap_err();
    said(
        rank,
        1,
        &err.to_string(),
        "rank 1: the optimizer step failed",
        "failed on rank(s) 1",
    );
}

/// Two steps of training on every rank, then `fail` on rank 1 while the others go on to the
/// next step's all-reduce.
fn fail_on_rank_1(
    world: recurrent::distributed::mpi::topology::SimpleCommunicator,
    fail: impl FnOnce(&recurrent::distributed::mpi::topology::SimpleCommunicator),
) {
    use recurrent::distributed::mpi::traits::Communicator;
    let rank = world.rank();
    let mut model = build_model::<f64>(H, 1);
    let mut dp = DataParallel::new(world.duplicate(), &mut model).unwrap();
    let mut optimizer = adam::<f64>();
    train_parallel(&mut dp, &mut model, &mut optimizer, 0..2);
    if rank == 1 {
        fail(&world);
    }
    train_parallel(&mut dp, &mut model, &mut optimizer, 2..4);
    unreachable!("rank {rank} got past a step rank 1 never joined");
}

/// Rank 1 cannot read a file (an error only it meets) and aborts the job.
fn local_error(world: recurrent::distributed::mpi::topology::SimpleCommunicator) {
    fail_on_rank_1(world, |world| {
        let mut model = build_model::<f64>(H, 1);
        let loaded = recurrent::load_checkpoint(
            "/nonexistent/checkpoint.safetensors",
            &mut model,
            None::<&mut dyn Optimizer<f64>>,
        );
        recurrent::distributed::abort_on_error(world, loaded);
    });
}

/// Rank 1's process exits without a word (as a killed process would).
fn dies(world: recurrent::distributed::mpi::topology::SimpleCommunicator) {
    fail_on_rank_1(world, |_| std::process::exit(3));
}

/// Rank 1 panics.
fn panics(world: recurrent::distributed::mpi::topology::SimpleCommunicator) {
    fail_on_rank_1(world, |_| panic!("rank 1 panics"));
}

/// Trains `steps` steps of `step_fn(columns, step) -> (gradients, share)` on `params` alone and
/// data-parallel, and returns the largest difference of the results.
fn parallel_against_alone<P, G>(
    world: recurrent::distributed::mpi::topology::SimpleCommunicator,
    mut make: impl FnMut() -> P,
    mut step_fn: impl FnMut(&P, &[usize], usize) -> (G, Share),
    params: impl Fn(&mut P) -> &mut dyn recurrent::Checkpointable<f64>,
) -> f64
where
    G: Parameters<f64> + 'static,
{
    let (mut alone, mut distributed) = (make(), make());
    let mut optimizer = adam::<f64>();
    for step in 0..STEPS {
        let (mut grads, _) = step_fn(&alone, &global_batch(step), step);
        clip_grad_norm(&mut grads, MAX_NORM).unwrap();
        optimizer.step(params(&mut alone), &grads).unwrap();
    }
    let mut dp = DataParallel::new(world, params(&mut distributed)).unwrap();
    let mut optimizer = adam::<f64>();
    for step in 0..STEPS {
        let batch = global_batch(step);
        let mine = dp.shard(&batch);
        let (mut grads, share): (Box<dyn Parameters<f64>>, Share) = if mine.is_empty() {
            let zeros = zero_gradients(params(&mut distributed));
            (Box::new(zeros), Share::examples(0, 0.0))
        } else {
            let (grads, share) = step_fn(&distributed, mine, step);
            (Box::new(grads), share)
        };
        dp.step(
            params(&mut distributed),
            &mut optimizer,
            &mut *grads,
            share,
            Some(MAX_NORM),
        )
        .unwrap();
    }
    largest_difference(params(&mut distributed), params(&mut alone))
}

/// A single GRU cell's parameters, and an encoder–decoder, trained data-parallel.
fn cell_and_seq2seq(world: recurrent::distributed::mpi::topology::SimpleCommunicator) {
    use recurrent::cells::{Gru, GruDims};
    use recurrent::distributed::mpi::traits::Communicator;
    use recurrent::Seq2Seq;
    let rank = world.rank();
    let data = dataset::<f64>();
    // The cell: L = (1/n) sum over examples and their steps of c[t, e] . h[t, e], fixed random
    // coefficients per step and example.
    let coefficients = {
        let mut rng = seeded_rng(SEED + 1);
        Array3::from_shape_simple_fn((MAX_T, EXAMPLES, H), || rng.random_range(-1.0..1.0))
    };
    let cell_diff = parallel_against_alone(
        world.duplicate(),
        || Gru::<f64>::new(GruDims { I, H }, &mut seeded_rng(3)),
        |cell, examples, _| {
            let lengths: Vec<usize> = examples.iter().map(|&e| data.lengths[e]).collect();
            let steps = lengths.iter().copied().max().unwrap_or(0);
            let x = data.x.select(Axis(1), examples);
            let fwd = cell
                .forward(x.slice(s![..steps, .., ..]), None, Some(&lengths))
                .unwrap();
            let n = examples.len() as f64;
            let c = coefficients.select(Axis(1), examples);
            let mut d_out = Array3::zeros(fwd.outputs.raw_dim());
            let mut loss = 0.0;
            for (b, &len) in lengths.iter().enumerate() {
                for t in 0..len {
                    for j in 0..H {
                        d_out[[t, b, j]] = c[[t, b, j]] / n;
                        loss += c[[t, b, j]] * fwd.outputs[[t, b, j]] / n;
                    }
                }
            }
            let grads = cell.backward(&fwd, d_out.view(), None).unwrap();
            (grads.params, Share::examples(examples.len(), loss))
        },
        |cell| cell.params_mut(),
    );
    assert!(
        cell_diff <= 1e-12,
        "rank {rank}: a GRU cell's parameters differ by {cell_diff:e}"
    );

    // The encoder–decoder: token sequences from the dataset's signs, targets ending with 1.
    let (vocab, end) = (6, 1);
    let tokens = |e: usize, len: usize, offset: usize| -> Vec<usize> {
        (0..len)
            .map(|t| 2 + ((data.x[[t, e, offset]] + 1.0) * 2.0).floor() as usize % 4)
            .collect()
    };
    let seq2seq_diff = parallel_against_alone(
        world,
        || {
            let rng = &mut seeded_rng(4);
            let gru = |i, rng: &mut recurrent::rand::rngs::ChaCha8Rng| {
                Box::new(Gru::<f64>::new(GruDims { I: i, H }, rng))
                    as Box<dyn recurrent::DynCell<f64>>
            };
            let encoder = SequenceModel::stack(vec![gru(4, rng), gru(H, rng)])
                .unwrap()
                .with_embedding(vocab, rng)
                .unwrap()
                .with_dropout(0.3)
                .unwrap();
            let decoder = SequenceModel::stack(vec![gru(4, rng), gru(H, rng)])
                .unwrap()
                .with_embedding(vocab, rng)
                .unwrap()
                .with_dropout(0.3)
                .unwrap()
                .with_head(vocab, rng)
                .unwrap();
            Seq2Seq::new(encoder, decoder, 0, end).unwrap()
        },
        |model, examples, step| {
            let sources: Vec<Vec<usize>> = examples
                .iter()
                .map(|&e| tokens(e, data.lengths[e], 1))
                .collect();
            let targets: Vec<Vec<usize>> = examples
                .iter()
                .map(|&e| {
                    let mut t = tokens(e, data.lengths[e].div_ceil(2), 2);
                    t.push(end);
                    t
                })
                .collect();
            let (source, source_lengths) = data::pad_tokens(&sources, 0);
            let (target, target_lengths) = data::pad_tokens(&targets, 0);
            let out = model
                .train_step(
                    source.view(),
                    Some(&source_lengths),
                    target.view(),
                    Some(&target_lengths),
                    Some(&mut ExampleSeeds::new(SEED, step as u64, examples)),
                )
                .unwrap();
            let counted = target_lengths.iter().sum();
            let share = Share::tokens(counted, out.loss);
            (out.grads, share)
        },
        |model| model,
    );
    assert!(
        seq2seq_diff <= 1e-12,
        "rank {rank}: the encoder–decoder differs by {seq2seq_diff:e}"
    );
    if rank == 0 {
        println!(
            "{STEPS} steps on 3 ranks against one process: a GRU cell's ParamSet {cell_diff:.1e}, \
             an encoder-decoder with dropout {seq2seq_diff:.1e}"
        );
    }
}
