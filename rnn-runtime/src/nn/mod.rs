//! **Models**, above `training`: layers and models of any cells, and the application modes.
//!
//! - `embedding` and `linear`: the token embedding and the linear head;
//! - `layer`: `RecurrentLayer`, one cell (or two, bidirectional) over a sequence;
//! - `model`: `SequenceModel`, an embedding, stacked layers with dropout and a head;
//! - `modes`: classification, tagging, regression, generation and truncated BPTT on a
//!   `SequenceModel`, each training step returning a `TrainStep`;
//! - `seq2seq`: `Seq2Seq`, the encoder–decoder.
//!
//! May import: `nn`, `training`, `core` and `kernels`.

pub(crate) mod embedding;
pub mod layer;
pub(crate) mod linear;
pub(crate) mod model;
pub mod modes;
pub(crate) mod seq2seq;
