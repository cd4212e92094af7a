//! Recurrent cells written as gate equations.
//!
//! Write a cell the way a textbook writes it, inside [`rnn_cell!`]; at compile time the macro
//! checks every shape, derives the backward pass symbolically and emits a fused forward pass and
//! an exact backward pass over `ndarray`. Every generated type implements [`Cell`].
//!
//! ```
//! use recurrent::rnn_cell;
//!
//! rnn_cell! {
//!     /// A simple recurrent network.
//!     pub cell Elman {
//!         input x: [I];
//!         state h: [H];
//!         param W_xh: [I, H];
//!         param W_hh: [H, H];
//!         param b_h: [H];
//!
//!         h[t] = tanh(x[t] @ W_xh + h[t-1] @ W_hh + b_h);
//!     }
//! }
//!
//! let mut rng = recurrent::seeded_rng(0);
//! let cell = Elman::<f64>::new(ElmanDims { I: 3, H: 4 }, &mut rng);
//! let x = recurrent::ndarray::Array3::<f64>::zeros((5, 2, 3)); // [T, B, I]
//! let fwd = cell.forward(x.view(), None, None).unwrap();
//! assert_eq!(fwd.outputs.shape(), &[5, 2, 4]);
//! recurrent::assert_gradcheck::<Elman<f64>>(ElmanDims { I: 3, H: 4 });
//! ```
#![warn(missing_docs)]
#![doc(test(attr(deny(warnings))))]

extern crate self as recurrent;

pub use rnn_macros::rnn_cell;
pub use rnn_runtime::gradcheck::assert_gradcheck;
pub use rnn_runtime::*;

#[cfg(feature = "cells")]
pub mod cells;

#[cfg(feature = "onnx")]
pub mod onnx;

#[cfg(feature = "mpi")]
pub mod distributed;

/// A seeded random number generator for reproducible initialization, data and dropout.
///
/// The algorithm is fixed: ChaCha with 8 rounds (`rand::rngs::ChaCha8Rng`, from the `chacha20`
/// crate, whose output for a seed is stable across releases), seeded by
/// `SeedableRng::seed_from_u64`. The same seed gives the same numbers on every machine and in
/// every release of this crate that keeps `rand`'s major version; a change of either is
/// announced in the changelog, since it changes every seeded result.
pub fn seeded_rng(seed: u64) -> rand::rngs::ChaCha8Rng {
    use rand::SeedableRng;
    rand::rngs::ChaCha8Rng::seed_from_u64(seed)
}

/// The README's examples, compiled as doctests so they cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
