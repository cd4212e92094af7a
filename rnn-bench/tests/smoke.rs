//! The benchmark runner's smoke test (part of `cargo test --workspace`, so CI builds it with the
//! rest of the suite): `rnn-bench --quick --json` runs every cell on the tiny workload and
//! prints one JSON line per GEMM rate and per measurement, each with finite times.

use std::process::Command;

#[test]
fn the_quick_run_measures_every_cell_in_both_modes() {
    let output = Command::new(env!("CARGO_BIN_EXE_rnn-bench"))
        .args(["--quick", "--json"])
        .output()
        .expect("rnn-bench runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "rnn-bench failed: {stderr}");
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: not JSON: {l}")))
        .collect();
    let rates = lines.iter().filter(|l| l.get("bound_gflops").is_some());
    for rate in rates {
        let bound = rate["bound_gflops"].as_f64().expect("a number");
        assert!(bound.is_finite() && bound > 0.0, "{rate}");
    }
    let measured: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l.get("median_ms").is_some())
        .collect();
    assert!(!measured.is_empty(), "no measurement in {lines:?}");
    for mode in ["infer", "train"] {
        assert!(
            measured.iter().any(|l| l["mode"] == mode),
            "no {mode} measurement"
        );
    }
    for line in &measured {
        // Times are printed in ms to 3 decimals: the tiny workload's bound rounds to 0.
        for key in ["median_ms", "flop_bound_ms", "ratio"] {
            let v = line[key].as_f64().unwrap_or(f64::NAN);
            assert!(v.is_finite() && v >= 0.0, "{key} of {line}");
        }
        assert!(line["median_ms"].as_f64() > Some(0.0), "{line}");
    }
    let cells: std::collections::BTreeSet<&str> =
        measured.iter().filter_map(|l| l["cell"].as_str()).collect();
    assert!(cells.contains("Lstm") && cells.contains("Gru"), "{cells:?}");
}
