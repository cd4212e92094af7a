//! The generated passes have a baseline version and one compiled for AVX2+FMA, chosen at run
//! time; the other tests run the AVX2 version on machines that have it. This one forces the
//! baseline version (`RNN_NO_AVX2`, read once per process) and checks its gradients.

use recurrent::cells::*;
use recurrent::{gradcheck, GradcheckConfig};

#[test]
fn baseline_passes_are_exact() {
    std::env::set_var("RNN_NO_AVX2", "1");
    let rng = &mut recurrent::seeded_rng(77);
    let lstm = Lstm::<f64>::new(LstmDims { I: 3, H: 4 }, rng);
    gradcheck(&lstm, &GradcheckConfig::default())
        .unwrap()
        .assert_ok();
    let gru = Gru::<f64>::new(GruDims { I: 3, H: 4 }, rng);
    gradcheck(&gru, &GradcheckConfig::default())
        .unwrap()
        .assert_ok();
    let ln = LayerNormLstm::<f64>::new(LayerNormLstmDims { I: 3, H: 4 }, rng);
    gradcheck(&ln, &GradcheckConfig::default())
        .unwrap()
        .assert_ok();
    let x = recurrent::ndarray::Array3::<f64>::from_elem((4, 2, 3), 0.3);
    let a = lstm.forward(x.view(), None, None).unwrap().outputs;
    let b = lstm.infer(x.view(), None, None).unwrap().outputs;
    assert_eq!(a, b);
}
