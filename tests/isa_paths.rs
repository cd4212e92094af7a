//! The generated passes have a baseline version, one compiled for AVX2 + FMA and one for
//! AVX-512, chosen at run time; the other tests run the widest one the machine has. This test
//! runs the others: it starts this test binary again with `RNN_NO_AVX2` (the baseline version)
//! and with `RNN_NO_AVX512` (the AVX2 version), variables read once per process, and checks the
//! gradients and the agreement of `forward` and `infer` there.

use std::process::Command;

use recurrent::cells::*;
use recurrent::{gradcheck, GradcheckConfig};

#[test]
fn every_version_of_the_passes_is_exact() {
    let exe = std::env::current_exe().expect("the test binary's path");
    for variable in ["RNN_NO_AVX2", "RNN_NO_AVX512"] {
        let out = Command::new(&exe)
            .args(["--exact", "gradients_on_the_version_the_environment_forces"])
            .args(["--ignored", "--nocapture", "--test-threads=1"])
            .env(variable, "1")
            .output()
            .expect("the test binary starts");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "with {variable}=1:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
#[ignore = "started by every_version_of_the_passes_is_exact, with the version forced"]
fn gradients_on_the_version_the_environment_forces() {
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
    // In f32, where the fast activations differ between versions only by rounding.
    let lstm32 = Lstm::<f32>::new(LstmDims { I: 5, H: 40 }, rng);
    let x = recurrent::ndarray::Array3::<f32>::from_elem((6, 3, 5), 0.3);
    let a = lstm32.forward(x.view(), None, None).unwrap().outputs;
    let b = lstm32.infer(x.view(), None, None).unwrap().outputs;
    assert_eq!(a, b);
}
