//! The examples, trained small: each module includes one example's source (`examples/*.rs`)
//! and checks that a tiny configuration learns its task. One test binary for all of them, so
//! the cells they use are compiled and linked once.

// Each example is a crate of its own that declares the shared `examples/common` module; included
// here side by side, each example module carries its own copy of it.
#![allow(clippy::duplicate_mod)]

mod adding;
mod char_lm;
mod ctc;
mod forecast;
mod reber;
mod seq2seq;
mod temporal_order;
