//! The built-in cells, each generated from a spec in `specs/` (feature `cells`, on by default).

#![allow(non_snake_case)]

use crate::rnn_cell;

rnn_cell!("specs/rnn_tanh.rnn");
rnn_cell!("specs/rnn_relu.rnn");
rnn_cell!("specs/lstm.rnn");
rnn_cell!("specs/gru.rnn");
rnn_cell!("specs/gru_torch.rnn");
rnn_cell!("specs/lstm_no_forget.rnn");
rnn_cell!("specs/lstm_cifg.rnn");
rnn_cell!("specs/lstm_peephole.rnn");
rnn_cell!("specs/residual.rnn");
rnn_cell!("specs/narx.rnn");
rnn_cell!("specs/lstm_nig.rnn");
rnn_cell!("specs/lstm_nog.rnn");
rnn_cell!("specs/lstm_niaf.rnn");
rnn_cell!("specs/lstm_noaf.rnn");
rnn_cell!("specs/lstm_np.rnn");
rnn_cell!("specs/lstm_fgr.rnn");
rnn_cell!("specs/mgu.rnn");
rnn_cell!("specs/mut1.rnn");
rnn_cell!("specs/mut2.rnn");
rnn_cell!("specs/mut3.rnn");
rnn_cell!("specs/ind_rnn.rnn");
rnn_cell!("specs/layer_norm_lstm.rnn");
rnn_cell!("specs/layer_norm_lstm_haste.rnn");
rnn_cell!("specs/ugrnn.rnn");
rnn_cell!("specs/lstm_variational.rnn");
rnn_cell!("specs/lstm_zoneout.rnn");
