//! Every built-in cell's backward pass against finite differences, in f64 (DESIGN.md §6).

use rnn::cells::*;
use rnn::{gradcheck, Cell, GradcheckConfig};

fn check<C: Cell<f64>>(cell: C) {
    let report = gradcheck(&cell, &GradcheckConfig::default()).expect("gradcheck runs");
    println!("{}: {report}", C::spec().name);
    report.assert_ok();
}

#[test]
fn rnn_tanh() {
    check(RnnTanh::<f64>::new(
        RnnTanhDims { I: 3, H: 4 },
        &mut rnn::seeded_rng(1),
    ));
}

#[test]
fn rnn_relu() {
    check(RnnRelu::<f64>::new(
        RnnReluDims { I: 3, H: 4 },
        &mut rnn::seeded_rng(2),
    ));
}

#[test]
fn lstm() {
    check(Lstm::<f64>::new(
        LstmDims { I: 3, H: 4 },
        &mut rnn::seeded_rng(3),
    ));
}

#[test]
fn gru() {
    check(Gru::<f64>::new(
        GruDims { I: 3, H: 4 },
        &mut rnn::seeded_rng(4),
    ));
}

#[test]
fn gru_torch() {
    check(GruTorch::<f64>::new(
        GruTorchDims { I: 3, H: 4 },
        &mut rnn::seeded_rng(5),
    ));
}
