//! The examples, trained small: each module includes one example's source (`examples/*.rs`)
//! and checks that a tiny configuration learns its task. One test binary for all of them, so
//! the examples' shared code and the cells they use are compiled once.

mod adding;
mod char_lm;
mod forecast;
mod reber;
mod seq2seq;
mod temporal_order;
