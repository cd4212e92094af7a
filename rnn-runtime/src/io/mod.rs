//! **Files and interop**, the top layer.
//!
//! - `checkpoint`: named tensors in safetensors files with a checksum, written atomically, and
//!   files written by other tools;
//! - `model_checkpoint`: a model's parameters with its optimizer's state in one file
//!   (`save_checkpoint`, `load_checkpoint`, `Checkpointable`);
//! - `torch`: the PyTorch `state_dict` layout of the built-in cells.
//!
//! May import: every room (`io`, `nn`, `training`, `core`, `kernels`).
//!
//! It is the top because `model_checkpoint` saves the models of `nn` together with the state of
//! the optimizers of `training`; `checkpoint` and `torch` need only `core`.

pub mod checkpoint;
pub(crate) mod model_checkpoint;
#[cfg(feature = "onnx")]
pub mod onnx;
pub mod torch;
