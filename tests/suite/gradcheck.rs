//! Every built-in cell's backward pass against finite differences, in f64.

use recurrent::cells::*;
use recurrent::{gradcheck, Cell, GradcheckConfig};

fn check<C: Cell<f64>>(cell: C) {
    let report = gradcheck(&cell, &GradcheckConfig::default()).expect("gradcheck runs");
    println!("{}: {report}", C::spec().name);
    report.assert_ok();
}

#[test]
fn rnn_tanh() {
    check(RnnTanh::<f64>::new(
        RnnTanhDims { I: 3, H: 4 },
        &mut recurrent::seeded_rng(1),
    ));
}

#[test]
fn rnn_relu() {
    check(RnnRelu::<f64>::new(
        RnnReluDims { I: 3, H: 4 },
        &mut recurrent::seeded_rng(2),
    ));
}

#[test]
fn lstm() {
    check(Lstm::<f64>::new(
        LstmDims { I: 3, H: 4 },
        &mut recurrent::seeded_rng(3),
    ));
}

#[test]
fn gru() {
    check(Gru::<f64>::new(
        GruDims { I: 3, H: 4 },
        &mut recurrent::seeded_rng(4),
    ));
}

#[test]
fn gru_torch() {
    check(GruTorch::<f64>::new(
        GruTorchDims { I: 3, H: 4 },
        &mut recurrent::seeded_rng(5),
    ));
}

#[test]
fn lstm_no_forget() {
    check(LstmNoForget::<f64>::new(
        LstmNoForgetDims { I: 3, H: 4 },
        &mut recurrent::seeded_rng(6),
    ));
}

#[test]
fn lstm_cifg() {
    check(LstmCifg::<f64>::new(
        LstmCifgDims { I: 3, H: 4 },
        &mut recurrent::seeded_rng(7),
    ));
}

#[test]
fn lstm_peephole() {
    check(LstmPeephole::<f64>::new(
        LstmPeepholeDims { I: 3, H: 4 },
        &mut recurrent::seeded_rng(8),
    ));
}

#[test]
fn residual() {
    check(Residual::<f64>::new(
        ResidualDims { I: 3, H: 4 },
        &mut recurrent::seeded_rng(9),
    ));
}

#[test]
fn narx() {
    check(Narx::<f64>::new(
        NarxDims { I: 3, H: 4 },
        &mut recurrent::seeded_rng(10),
    ));
}

#[test]
fn lstm_nig() {
    check(LstmNig::<f64>::new(
        LstmNigDims { I: 3, H: 4 },
        &mut recurrent::seeded_rng(11),
    ));
}

#[test]
fn lstm_nog() {
    check(LstmNog::<f64>::new(
        LstmNogDims { I: 3, H: 4 },
        &mut recurrent::seeded_rng(12),
    ));
}

#[test]
fn lstm_niaf() {
    check(LstmNiaf::<f64>::new(
        LstmNiafDims { I: 3, H: 4 },
        &mut recurrent::seeded_rng(13),
    ));
}

#[test]
fn lstm_noaf() {
    check(LstmNoaf::<f64>::new(
        LstmNoafDims { I: 3, H: 4 },
        &mut recurrent::seeded_rng(14),
    ));
}

#[test]
fn lstm_np() {
    check(LstmNp::<f64>::new(
        LstmNpDims { I: 3, H: 4 },
        &mut recurrent::seeded_rng(15),
    ));
}

#[test]
fn lstm_fgr() {
    check(LstmFgr::<f64>::new(
        LstmFgrDims { I: 3, H: 4 },
        &mut recurrent::seeded_rng(16),
    ));
}

#[test]
fn mgu() {
    check(Mgu::<f64>::new(
        MguDims { I: 3, H: 4 },
        &mut recurrent::seeded_rng(17),
    ));
}

#[test]
fn mut1() {
    check(Mut1::<f64>::new(
        Mut1Dims { H: 4 },
        &mut recurrent::seeded_rng(18),
    ));
}

#[test]
fn mut2() {
    check(Mut2::<f64>::new(
        Mut2Dims { H: 4 },
        &mut recurrent::seeded_rng(19),
    ));
}

#[test]
fn mut3() {
    check(Mut3::<f64>::new(
        Mut3Dims { I: 3, H: 4 },
        &mut recurrent::seeded_rng(20),
    ));
}

#[test]
fn ind_rnn() {
    check(IndRnn::<f64>::new(
        IndRnnDims { I: 3, H: 4 },
        &mut recurrent::seeded_rng(21),
    ));
}

#[test]
fn layer_norm_lstm() {
    check(LayerNormLstm::<f64>::new(
        LayerNormLstmDims { I: 3, H: 4 },
        &mut recurrent::seeded_rng(30),
    ));
}

#[test]
fn layer_norm_lstm_haste() {
    check(LayerNormLstmHaste::<f64>::new(
        LayerNormLstmHasteDims { I: 3, H: 4 },
        &mut recurrent::seeded_rng(31),
    ));
}

#[test]
fn ugrnn() {
    check(Ugrnn::<f64>::new(
        UgrnnDims { I: 3, H: 4 },
        &mut recurrent::seeded_rng(32),
    ));
}

/// Checked with masks drawn once from the seed and held fixed (see `gradcheck`).
#[test]
fn lstm_variational() {
    check(LstmVariational::<f64>::new(
        LstmVariationalDims { I: 3, H: 4 },
        &mut recurrent::seeded_rng(33),
    ));
}

/// Checked with per-step masks drawn once from the seed and held fixed.
#[test]
fn lstm_zoneout() {
    check(LstmZoneout::<f64>::new(
        LstmZoneoutDims { I: 3, H: 4 },
        &mut recurrent::seeded_rng(34),
    ));
}
