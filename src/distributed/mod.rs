//! Data-parallel training over MPI (feature `mpi`): every process holds the whole model, takes
//! its share of each batch, and the gradients are averaged across processes before each
//! optimizer step, so that N processes train exactly as one process on the same batches.
//!
//! The communication engine is MPI (the [`mpi`] crate, rsmpi, over the system's MPI library:
//! on Debian, `apt install openmpi-bin libopenmpi-dev libclang-dev`). Start the program with
//! `mpirun -np 2 target/release/my-training` on one machine, or `mpirun --hostfile hosts -np 8
//! ...` on several.
//!
//! What [`DataParallel`] does:
//! - at start ([`DataParallel::new`]), checks that every rank holds the same model (parameter
//!   names, sizes, the description of every layer with its cell's spec fingerprint, the float
//!   type) and copies rank 0's parameters to every rank; a mismatch is an
//!   [`Error::Distributed`] on every rank, never a hang;
//! - [`DataParallel::shard`] gives each rank its share of a batch (contiguous, in rank order:
//!   the union is the batch);
//! - [`DataParallel::step`] averages the gradients with one all-reduce of a single flat buffer,
//!   weighted by each rank's share of the loss's normalizer ([`Share`]: its examples, or its
//!   unmasked tokens for a per-token loss), so that unequal shards give the single-process
//!   gradient; then clips and steps the optimizer identically on every rank (the ranks agree
//!   on the step's outcome with a one-byte all-gather, so a step that fails on one rank fails
//!   on all), and every
//!   [`DataParallel::with_check_every`] steps compares a checksum of the parameters across
//!   ranks (a mismatch is an error, not a silent drift);
//! - [`DataParallel::save_checkpoint`] writes from rank 0 (the others wait for its outcome);
//!   [`DataParallel::load_checkpoint`] reads the file on rank 0 and gives every rank its bytes,
//!   so a run resumes on any number of ranks (no shared file system needed).
//!
//! A rank that meets an error the others do not (a file it cannot read, a bad input in its
//! shard) must not return from `main` while the others wait for it in a collective: pass the
//! result to [`abort_on_error`], which aborts the whole job. A panic aborts the job too (see
//! [`DataParallel::new`]).
//!
//! Random masks (dropout, the masks a spec declares) must not depend on how a batch is split:
//! draw them per example with [`crate::ExampleSeeds`] (`ExampleSeeds::new(seed, step,
//! shard)`), not from one RNG.
//!
//! ```no_run
//! # fn main() -> recurrent::Result<()> {
//! use recurrent::cells::{Lstm, LstmDims};
//! use recurrent::distributed::{DataParallel, Share};
//! use recurrent::train::Adam;
//! use recurrent::{data, seeded_rng, ExampleSeeds, Input, Pooling, SequenceModel};
//!
//! let universe = recurrent::distributed::mpi::initialize().expect("MPI initialized once");
//! let mut rng = seeded_rng(1);
//! let mut model = SequenceModel::stack(vec![Box::new(Lstm::<f64>::new(
//!     LstmDims { I: 2, H: 16 },
//!     &mut rng,
//! ))])?
//! .with_head(1, &mut rng)?;
//! // Rank 0's parameters on every rank, after checking that every rank built the same model.
//! let mut dp = DataParallel::new(universe.world(), &mut model)?;
//! let mut adam = Adam::new(1e-3);
//! let (x, y) = (
//!     recurrent::ndarray::Array3::<f64>::zeros((10, 64, 2)),
//!     recurrent::ndarray::Array2::<f64>::zeros((64, 1)),
//! );
//! for (step, batch) in data::batch_indices(64, 16, true, &mut seeded_rng(7)).iter().enumerate() {
//!     let mine = dp.shard(batch); // this rank's examples of the batch
//!     let xs = data::select_examples(&x, mine);
//!     let ys = y.select(recurrent::ndarray::Axis(0), mine);
//!     let mut seeds = ExampleSeeds::new(1, step as u64, mine);
//!     let mut out = model.pooled_regression_step(
//!         Input::Features(xs.view()),
//!         None,
//!         ys.view(),
//!         Pooling::Last,
//!         Some(&mut seeds),
//!     )?;
//!     let share = Share::examples(mine.len(), out.loss);
//!     let global = dp.step(&mut model, &mut adam, &mut out.grads, share, Some(1.0))?;
//!     if dp.is_root() {
//!         println!("step {step}: loss {:.4}", global.loss);
//!     }
//! }
//! # Ok(())
//! # }
//! ```

mod identity;

pub use mpi;

use std::collections::BTreeMap;
use std::path::Path;

use mpi::collective::SystemOperation;
use mpi::datatype::Equivalence;
use mpi::topology::SimpleCommunicator;
use mpi::traits::{Communicator, CommunicatorCollectives, Root};

use crate::train::{clip_grad_norm, Optimizer};
use crate::CheckpointMetadata;
use crate::{Checkpointable, Error, Float, Parameters, Result};

/// A float type MPI can sum: `f32` or `f64`.
pub trait MpiFloat: Float + Equivalence {}
impl MpiFloat for f32 {}
impl MpiFloat for f64 {}

/// A rank's part of one step's loss: the loss it computed over its shard (a mean over its
/// `normalizer` examples or counted tokens) and that normalizer. The step's loss and gradients
/// are the normalizer-weighted means over ranks: exactly the single-process mean over the
/// whole batch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Share {
    /// The count the rank's loss is a mean over: its examples, or its unmasked tokens for a
    /// per-token loss. A rank whose share of a batch is empty (a batch smaller than the number
    /// of ranks) passes 0 and gradients of any values, e.g. zeros (see
    /// [`zero_gradients`]): they count for nothing.
    pub normalizer: f64,
    /// The rank's loss (its mean over `normalizer`).
    pub loss: f64,
}

impl Share {
    /// A loss that is a mean over `examples` examples.
    pub fn examples<F: Float>(examples: usize, loss: F) -> Self {
        Share {
            normalizer: examples as f64,
            loss: Float::to_f64(loss),
        }
    }

    /// A loss that is a mean over `tokens` counted (unmasked) tokens.
    pub fn tokens<F: Float>(tokens: usize, loss: F) -> Self {
        Share {
            normalizer: tokens as f64,
            loss: Float::to_f64(loss),
        }
    }
}

/// What a data-parallel step did, the same on every rank.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reduced {
    /// The loss over the whole batch (the normalizer-weighted mean of the ranks' losses).
    pub loss: f64,
    /// The whole batch's normalizer (the sum of the ranks').
    pub normalizer: f64,
    /// The norm of the averaged gradient before clipping (`NaN` when not computed: no
    /// clipping asked).
    pub grad_norm: f64,
}

/// Data-parallel training over an MPI communicator (see the [module documentation](self)).
pub struct DataParallel {
    comm: SimpleCommunicator,
    rank: usize,
    size: usize,
    /// The model's scalar count (the gradients' too), the same on every rank.
    scalars: usize,
    /// Every parameter's name and size, in order: what gradients must match.
    layout: Vec<(String, usize)>,
    check_every: usize,
    steps: u64,
}

impl std::fmt::Debug for DataParallel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataParallel")
            .field("rank", &self.rank)
            .field("size", &self.size)
            .field("scalars", &self.scalars)
            .field("check_every", &self.check_every)
            .field("steps", &self.steps)
            .finish()
    }
}

/// Steps between parameter checksums, by default.
const CHECK_EVERY: usize = 100;

impl DataParallel {
    /// Starts data-parallel training of `model` over `comm` (usually `universe.world()`):
    /// checks that every rank holds the same model (its description, parameter names and
    /// sizes, float type), then copies rank 0's parameters to every rank. Every rank must call
    /// it, with its own copy of the model.
    ///
    /// It also installs, once per process, a panic hook that reports the panic as before and
    /// then aborts the MPI job (`MPI_Abort`) when it has more than one process: a panicking rank
    /// would otherwise finalize MPI while unwinding and leave the others waiting in their next
    /// collective.
    ///
    /// Errors, on every rank: a rank's model differs from rank 0's (the message names the
    /// ranks; on a rank that differs, the first difference).
    pub fn new<F: MpiFloat>(
        comm: SimpleCommunicator,
        model: &mut dyn Checkpointable<F>,
    ) -> Result<Self> {
        abort_on_panic();
        let rank = comm.rank() as usize;
        let size = comm.size() as usize;
        let ours = identity::describe(model).join("\n");
        let root = String::from_utf8_lossy(&broadcast_bytes(&comm, ours.as_bytes())).into_owned();
        let difference = (root != ours).then(|| identity::first_difference(&root, &ours));
        let differing = ranks_with(&comm, difference.is_some());
        if !differing.is_empty() {
            let ranks = list(&differing);
            return Err(Error::Distributed(match difference {
                Some(what) => format!(
                    "rank {rank} holds another model than rank 0 (ranks differing: {ranks}): \
                     {what}; expected every rank to build the same model"
                ),
                None => format!(
                    "rank(s) {ranks} hold another model than rank 0 (their errors say what \
                     differs); expected every rank to build the same model"
                ),
            }));
        }
        let layout = model
            .tensors()
            .iter()
            .map(|(name, values)| (name.clone(), values.len()))
            .collect();
        let mut flat = flatten(model);
        for piece in flat.chunks_mut(1 << 28) {
            comm.process_at_rank(0).broadcast_into(piece);
        }
        unflatten(&flat, model);
        Ok(DataParallel {
            comm,
            rank,
            size,
            scalars: flat.len(),
            layout,
            check_every: CHECK_EVERY,
            steps: 0,
        })
    }

    /// Compares the parameters' checksum across ranks every `steps` optimizer steps of
    /// [`DataParallel::step`] (100 by default; 0: never, 1: every step).
    pub fn with_check_every(mut self, steps: usize) -> Self {
        self.check_every = steps;
        self
    }

    /// This process's rank (0 is the one that writes checkpoints and reports).
    pub fn rank(&self) -> usize {
        self.rank
    }

    /// The number of processes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Whether this is rank 0, the rank that writes checkpoints and reports.
    pub fn is_root(&self) -> bool {
        self.rank == 0
    }

    /// The communicator (for the user's own collectives).
    pub fn communicator(&self) -> &SimpleCommunicator {
        &self.comm
    }

    /// The optimizer steps taken through [`DataParallel::step`].
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// This rank's share of `batch` (e.g. example indices from
    /// [`crate::data::batch_indices`]): contiguous blocks in rank order, the first
    /// `len % size` ranks one more (see [`crate::data::shard_range`]); the shares of all ranks,
    /// in rank order, are the batch.
    pub fn shard<'a, T>(&self, batch: &'a [T]) -> &'a [T] {
        let range = crate::data::shard_range(batch.len(), self.rank, self.size)
            .expect("the rank is below the size");
        &batch[range]
    }

    /// The size in bytes of the buffer [`DataParallel::step`] all-reduces for a model of `F`:
    /// the gradient (every parameter's scalar), the loss's share (two values) and an error
    /// flag. A ring all-reduce sends and receives `2 (N - 1) / N` times this per process.
    pub fn bytes_per_step<F: MpiFloat>(&self) -> usize {
        (self.scalars + 3) * std::mem::size_of::<F>()
    }

    /// Replaces `grads` (this rank's gradients, a mean over its `share.normalizer`) by the
    /// whole batch's on every rank: one all-reduce (in buckets of 2^28 values past that size)
    /// of a single buffer holding every gradient times the rank's normalizer, the normalizer,
    /// the weighted loss and an error flag; divided by the total normalizer. Returns the batch's loss and normalizer (`grad_norm` `NaN`).
    ///
    /// Errors, on every rank: this or another rank's gradients do not have the model's size
    /// (the gradients of another model), or its share is negative or not finite.
    pub fn all_reduce_gradients<F: MpiFloat>(
        &mut self,
        grads: &mut dyn Parameters<F>,
        share: Share,
    ) -> Result<Reduced> {
        let local = self.local_problem(&*grads, share);
        // Every rank sends the same count, whatever went wrong locally (a mismatch would hang
        // or corrupt the reduction): a failed rank sends zeros and raises the error slot.
        let n = self.scalars;
        let mut send = vec![F::zero(); n + 3];
        if local.is_none() && share.normalizer > 0.0 {
            // A rank without examples (normalizer 0) sends zeros: whatever its gradients hold
            // (the NaN of a mean over nothing) counts for nothing.
            let weight = F::from_f64(share.normalizer);
            let mut at = 0;
            for (_, values) in grads.tensors() {
                for (s, &g) in send[at..at + values.len()].iter_mut().zip(values) {
                    *s = g * weight;
                }
                at += values.len();
            }
            send[n] = weight;
            send[n + 1] = F::from_f64(share.loss * share.normalizer);
        } else if local.is_some() {
            send[n + 2] = F::one();
        }
        let mut sum = vec![F::zero(); n + 3];
        // MPI counts are `i32`: a model past 2^28 values goes in a few large buckets.
        for (send, sum) in send.chunks(1 << 28).zip(sum.chunks_mut(1 << 28)) {
            self.comm.all_reduce_into(send, sum, SystemOperation::sum());
        }
        if sum[n + 2] != F::zero() {
            let failed = ranks_with(&self.comm, local.is_some());
            return Err(Error::Distributed(match local {
                Some(what) => format!("rank {}: {what}", self.rank),
                None => format!(
                    "rank(s) {} could not take part in the gradients' all-reduce (their errors \
                     say why)",
                    list(&failed)
                ),
            }));
        }
        let total = sum[n];
        let scale = if total > F::zero() {
            F::one() / total
        } else {
            F::zero()
        };
        let mut at = 0;
        for (_, values) in grads.tensors_mut() {
            for (g, &s) in values.iter_mut().zip(&sum[at..]) {
                *g = s * scale;
            }
            at += values.len();
        }
        let normalizer = Float::to_f64(total);
        Ok(Reduced {
            loss: if normalizer > 0.0 {
                Float::to_f64(sum[n + 1]) / normalizer
            } else {
                0.0
            },
            normalizer,
            grad_norm: f64::NAN,
        })
    }

    /// Why this rank cannot take part in the all-reduce with `grads` and `share`, if it cannot.
    fn local_problem<F: MpiFloat>(
        &self,
        grads: &dyn Parameters<F>,
        share: Share,
    ) -> Option<String> {
        let tensors = grads.tensors();
        let count = grads.scalar_count();
        if count != self.scalars || tensors.len() != self.layout.len() {
            return Some(format!(
                "expected gradients of the model's {} values in {} tensors, found {count} in {}",
                self.scalars,
                self.layout.len(),
                tensors.len()
            ));
        }
        for ((name, values), (expected, size)) in tensors.iter().zip(&self.layout) {
            if name != expected || values.len() != *size {
                return Some(format!(
                    "expected the gradient of `{expected}` ({size} values), found `{name}` ({} \
                     values)",
                    values.len()
                ));
            }
        }
        if !(share.normalizer.is_finite() && share.normalizer >= 0.0) {
            return Some(format!(
                "expected a finite normalizer >= 0 in the share, found {}",
                share.normalizer
            ));
        }
        None
    }

    /// One data-parallel optimizer step: averages `grads` over ranks
    /// ([`DataParallel::all_reduce_gradients`]), clips their norm to `max_norm` when given
    /// ([`clip_grad_norm`]) and steps `optimizer` on `model`: identical on every rank. Every
    /// [`DataParallel::with_check_every`] steps, compares the parameters' checksum across
    /// ranks.
    ///
    /// Errors, on every rank: those of the all-reduce; a clip or optimizer step that failed on
    /// any rank (the ranks agree on the outcome with one small collective); parameters that
    /// differ across ranks at a check.
    pub fn step<F: MpiFloat>(
        &mut self,
        model: &mut dyn Parameters<F>,
        optimizer: &mut dyn Optimizer<F>,
        grads: &mut dyn Parameters<F>,
        share: Share,
        max_norm: Option<F>,
    ) -> Result<Reduced> {
        let mut reduced = self.all_reduce_gradients(grads, share)?;
        // Every rank sees the same gradients, but a rank's own optimizer (another kind, state
        // or model) could fail where the others succeed: they agree on the outcome, so that no
        // rank goes on to a collective the failed one never joins.
        let stepped = (|| {
            if let Some(max_norm) = max_norm {
                reduced.grad_norm = Float::to_f64(clip_grad_norm(grads, max_norm)?);
            }
            optimizer.step(model, grads)
        })();
        let failed = ranks_with(&self.comm, stepped.is_err());
        match stepped {
            Err(e) => {
                return Err(Error::Distributed(format!(
                    "rank {}: the optimizer step failed: {e}",
                    self.rank
                )))
            }
            Ok(()) if !failed.is_empty() => {
                return Err(Error::Distributed(format!(
                    "the optimizer step failed on rank(s) {} (their errors say why); this \
                     rank's step was taken, so its parameters are now ahead",
                    list(&failed)
                )))
            }
            Ok(()) => {}
        }
        self.steps += 1;
        if self.check_every > 0 && self.steps.is_multiple_of(self.check_every as u64) {
            self.check_in_sync(model)?;
        }
        Ok(reduced)
    }

    /// Compares a checksum of `model`'s parameters (every value's bits) across ranks.
    ///
    /// Errors, on every rank: a rank's parameters differ from rank 0's (naming the ranks).
    pub fn check_in_sync<F: MpiFloat>(&self, model: &dyn Parameters<F>) -> Result<()> {
        let ours = checksum(model);
        let mut all = vec![0u64; self.size];
        self.comm.all_gather_into(&ours, &mut all[..]);
        let differing: Vec<usize> = (0..self.size).filter(|&r| all[r] != all[0]).collect();
        if differing.is_empty() {
            return Ok(());
        }
        Err(Error::Distributed(format!(
            "after {} steps, the parameters of rank(s) {} differ from rank 0's (checksums {}); \
             expected identical parameters on every rank (were the gradients, the optimizer or \
             its settings different on a rank?)",
            self.steps,
            list(&differing),
            all.iter()
                .map(|c| format!("{c:016x}"))
                .collect::<Vec<_>>()
                .join(", ")
        )))
    }

    /// Waits until every rank gets here.
    pub fn barrier(&self) {
        self.comm.barrier();
    }

    /// Saves a checkpoint ([`crate::save_checkpoint`]) from rank 0; every rank calls it and
    /// returns once rank 0 has written the file (a barrier), with rank 0's outcome: an error
    /// writing it is an error on every rank.
    pub fn save_checkpoint<F: MpiFloat>(
        &self,
        path: impl AsRef<Path>,
        model: &dyn Checkpointable<F>,
        optimizer: Option<&dyn Optimizer<F>>,
        extra: &BTreeMap<String, String>,
    ) -> Result<()> {
        let outcome = if self.is_root() {
            crate::save_checkpoint(path, model, optimizer, extra).map_err(|e| e.to_string())
        } else {
            Ok(())
        };
        match broadcast_outcome(&self.comm, outcome.map(|()| Vec::new())) {
            Ok(_) => Ok(()),
            Err(message) => Err(Error::Distributed(format!(
                "rank 0 could not save the checkpoint: {message}"
            ))),
        }
    }

    /// Loads a checkpoint ([`crate::load_checkpoint`]) on every rank from the file rank 0
    /// reads (other machines need no copy of it): the run continues on any number of ranks
    /// as it would have on the ranks that saved it. Returns the extra metadata saved with it.
    ///
    /// Errors, on every rank: rank 0 cannot read the file; the checkpoint does not load on a
    /// rank (another model, a corrupt file: nothing is changed there).
    pub fn load_checkpoint<F: MpiFloat>(
        &self,
        path: impl AsRef<Path>,
        model: &mut dyn Checkpointable<F>,
        optimizer: Option<&mut dyn Optimizer<F>>,
    ) -> Result<CheckpointMetadata> {
        let path = path.as_ref();
        let read = if self.is_root() {
            std::fs::read(path).map_err(|e| format!("{}: reading: {e}", path.display()))
        } else {
            Ok(Vec::new())
        };
        let bytes = broadcast_outcome(&self.comm, read).map_err(|message| {
            Error::Distributed(format!("rank 0 could not read the checkpoint: {message}"))
        })?;
        let loaded = load_from_bytes(&bytes, path, self.rank, model, optimizer);
        let failed = ranks_with(&self.comm, loaded.is_err());
        match loaded {
            Err(e) => Err(Error::Distributed(format!(
                "rank {}: the checkpoint {} does not load: {e}",
                self.rank,
                path.display()
            ))),
            Ok(_) if !failed.is_empty() => Err(Error::Distributed(format!(
                "the checkpoint {} does not load on rank(s) {} (their errors say why)",
                path.display(),
                list(&failed)
            ))),
            Ok(metadata) => Ok(metadata),
        }
    }
}

/// Gradients of zero for `model` (by its parameters' names and sizes): what a rank whose share
/// of a batch is empty passes to [`DataParallel::step`] with a [`Share`] of normalizer 0.
pub fn zero_gradients<F: Float>(model: &dyn Parameters<F>) -> crate::NamedTensors<F> {
    let mut grads = crate::NamedTensors::new();
    for (name, values) in model.tensors() {
        grads.tensors.push((
            name,
            crate::ndarray::ArrayD::zeros(crate::ndarray::IxDyn(&[values.len()])),
        ));
    }
    grads
}

/// `result`'s value; on an error, prints it (with this process's rank) to stderr and aborts
/// the whole MPI job (`MPI_Abort`: `mpirun` stops every process and exits non-zero).
///
/// An error that only one rank meets (a file it cannot read, a bad input in its shard) would
/// otherwise leave the other ranks waiting for it in the next collective, and returning from
/// `main` finalizes MPI, which waits for them too. Errors of [`DataParallel`]'s own methods
/// reach every rank, but aborting on them is right as well: the run cannot go on.
pub fn abort_on_error<T>(comm: &SimpleCommunicator, result: Result<T>) -> T {
    match result {
        Ok(value) => value,
        Err(e) => {
            eprintln!("rank {} of {}: error: {e}", comm.rank(), comm.size());
            comm.abort(1)
        }
    }
}

/// Chains a panic hook (once per process) that aborts the MPI job after the panic's report.
fn abort_on_panic() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let report = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            report(info);
            if mpi::environment::is_initialized() && !mpi::environment::is_finalized() {
                let world = SimpleCommunicator::world();
                if world.size() > 1 {
                    eprintln!(
                        "rank {} of {} panicked: aborting the MPI job",
                        world.rank(),
                        world.size()
                    );
                    world.abort(101);
                }
            }
        }));
    });
}

/// Loads a checkpoint from its file's `bytes` (written to a temporary file: the checkpoint
/// reader takes a path).
fn load_from_bytes<F: MpiFloat>(
    bytes: &[u8],
    path: &Path,
    rank: usize,
    model: &mut dyn Checkpointable<F>,
    optimizer: Option<&mut dyn Optimizer<F>>,
) -> Result<CheckpointMetadata> {
    let name = path
        .file_name()
        .map_or_else(|| "checkpoint".into(), |n| n.to_string_lossy().into_owned());
    let copy = std::env::temp_dir().join(format!(
        "recurrent-{}-rank{rank}-{name}",
        std::process::id()
    ));
    std::fs::write(&copy, bytes)
        .map_err(|e| Error::io(copy.display().to_string(), "writing", e))?;
    let loaded = crate::load_checkpoint(&copy, model, optimizer);
    let _ = std::fs::remove_file(&copy);
    loaded
}

/// Every parameter's values in one buffer, in the model's order.
fn flatten<F: Float>(model: &dyn Parameters<F>) -> Vec<F> {
    model
        .tensors()
        .into_iter()
        .flat_map(|(_, v)| v.iter().copied())
        .collect()
}

/// Writes `flat` (from [`flatten`] of a model of the same layout) into `model`.
fn unflatten<F: Float>(flat: &[F], model: &mut dyn Parameters<F>) {
    let mut at = 0;
    for (_, values) in model.tensors_mut() {
        values.copy_from_slice(&flat[at..at + values.len()]);
        at += values.len();
    }
}

/// FNV-1a over the bits of every parameter value (as `f64`, exact for `f32`).
fn checksum<F: Float>(model: &dyn Parameters<F>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (_, values) in model.tensors() {
        for v in values {
            for byte in Float::to_f64(*v).to_bits().to_le_bytes() {
                h = (h ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
    }
    h
}

/// Rank 0's `bytes` on every rank (the others' are ignored).
fn broadcast_bytes(comm: &SimpleCommunicator, bytes: &[u8]) -> Vec<u8> {
    let root = comm.process_at_rank(0);
    let mut len = bytes.len() as u64;
    root.broadcast_into(&mut len);
    let mut out = if comm.rank() == 0 {
        bytes.to_vec()
    } else {
        vec![0u8; len as usize]
    };
    // MPI counts are `i32`: send large buffers in pieces.
    for piece in out.chunks_mut(1 << 30) {
        root.broadcast_into(piece);
    }
    out
}

/// Rank 0's outcome on every rank: its bytes when it succeeded, its message when it failed.
fn broadcast_outcome(
    comm: &SimpleCommunicator,
    outcome: std::result::Result<Vec<u8>, String>,
) -> std::result::Result<Vec<u8>, String> {
    let (mut ok, payload) = match outcome {
        Ok(bytes) => (1u8, bytes),
        Err(message) => (0u8, message.into_bytes()),
    };
    comm.process_at_rank(0).broadcast_into(&mut ok);
    let payload = broadcast_bytes(comm, &payload);
    if ok == 1 {
        Ok(payload)
    } else {
        Err(String::from_utf8_lossy(&payload).into_owned())
    }
}

/// The ranks for which `flag` is set (every rank calls it).
fn ranks_with(comm: &SimpleCommunicator, flag: bool) -> Vec<usize> {
    let mut all = vec![0u8; comm.size() as usize];
    comm.all_gather_into(&u8::from(flag), &mut all[..]);
    (0..all.len()).filter(|&r| all[r] != 0).collect()
}

/// `1, 3` for a message.
fn list(ranks: &[usize]) -> String {
    ranks
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
