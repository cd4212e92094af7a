//! The built-in cells, each generated from a spec in `specs/`.

#![allow(non_snake_case)]

use crate::rnn_cell;

rnn_cell!("specs/rnn_tanh.rnn");
rnn_cell!("specs/rnn_relu.rnn");
rnn_cell!("specs/lstm.rnn");
rnn_cell!("specs/gru.rnn");
rnn_cell!("specs/gru_torch.rnn");
