//! **Training**, above `core`: the training toolkit. It works on plain arrays and on anything that
//! implements `Parameters`, and knows nothing of models.
//!
//! - `optim`: optimizers (SGD with momentum, Adam, AdamW), gradient clipping and learning-rate
//!   schedules; public as the module `train`;
//! - `loss`: losses with their gradients (MSE, softmax cross-entropy with masking);
//! - `ctc`: the CTC loss (forward–backward in log space) and its decoders;
//! - `data`: padded time-major batches, length checks, seeded shuffled batching, `Vocab`;
//! - `metrics`: `TrainingLog` and `Curve`, per-epoch metrics;
//! - `progress` (feature `progress`): a terminal progress bar;
//! - `plot` (feature `plot`): PNG plots of curves.
//!
//! May import: `training`, `core` and `kernels`.
//!
//! It sits below `nn`, not above, because of the imports: the models' application modes compute
//! their losses with `loss` and check sequence lengths with `data`, while nothing here needs a
//! model. The room is called `training` and the optimizers' file `optim.rs` so that neither
//! collides with the public module `train`, which `lib.rs` re-exports `optim` as.

pub mod ctc;
pub mod data;
pub mod loss;
pub mod metrics;
pub mod optim;
#[cfg(feature = "plot")]
pub mod plot;
#[cfg(feature = "progress")]
pub mod progress;
