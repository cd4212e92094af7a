//! **Core**, above `kernels`: what a cell is, and everything the code `rnn_cell!` generates needs.
//!
//! - `cell`: the `Cell` trait and its spec types (`CellSpec`, `ParamSpec`, `StateSpec`), and
//!   what a pass returns (`Forward`, `Trace`, `Gradients`, `Inference`);
//! - `params`: `ParamSet`, a cell's named parameters;
//! - `states`: `States`, a cell's named states (and their history);
//! - `tensors`: `NamedTensors` and the `Parameters` trait through which optimizers, clipping and
//!   checkpoints see a cell's parameters and a model's alike;
//! - `error`: `Error` and `Result`;
//! - `init`: `Init`, the parameter initializers;
//! - `step`: `StepSpec`, the operations of a cell's step as data (for the ONNX exporter);
//! - `masks`: `Masks` and `MaskSpec`, the random masks of stochastic regularization (drawn when
//!   training, expected otherwise);
//! - `dropout`: `DropoutRng` and `ExampleSeeds`, where a training pass draws its masks (one RNG
//!   for the batch, or a stream per example);
//! - `activation`: the activation functions and their derivatives;
//! - `dyn_cell`: `DynCell`, any cell behind a trait object (what layers hold);
//! - `gradcheck`: the backward pass of any `Cell` against finite differences;
//! - `__private`: the only surface generated code uses (it re-exports from here and `kernels`).
//!
//! May import: `core` and `kernels`.
//!
//! `tensors` is here rather than with the file formats in `io` because `ParamSet` implements its
//! `Parameters` trait; models, optimizers and checkpoints all build on it.

pub mod activation;
pub(crate) mod cell;
pub(crate) mod dropout;
pub(crate) mod dyn_cell;
pub(crate) mod error;
pub mod gradcheck;
pub(crate) mod init;
pub(crate) mod masks;
pub(crate) mod params;
pub(crate) mod states;
pub(crate) mod step;
pub(crate) mod tensors;

#[doc(hidden)]
pub mod __private;
