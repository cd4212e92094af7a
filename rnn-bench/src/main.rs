//! The benchmark runner: `cargo run --release -p rnn-bench -- --json`.
//!
//! For each cell, workload (S, M, L), mode (`infer`: forward only; `train`: forward, then
//! backward to every parameter and the input) and thread count, prints one JSON line
//! `{"cell","workload","mode","threads","median_ms","flop_bound_ms","ratio"}`. The FLOP bound
//! is the workload's GEMM operations (2·m·n·k per product of the fused recipe; `train` counts
//! the forward products and the two adjoint products of each) divided by the 1024x1024x1024
//! sgemm rate measured at the start of the same run. After the cells of each workload, mode and
//! thread count comes the bare-GEMM baseline of the LSTM recipe (its products as separate
//! matrixmultiply calls, nothing else): a line with `"cell":"bare_gemm","recipe":"Lstm"`.
//!
//! Flags: `--json` (machine-readable lines only), `--quick` (tiny workload, one repetition: the
//! CI smoke test), `--cells a,b` (any built-in cell, at the workloads given), `--workloads S,M`,
//! `--threads 1,2`, `--reps N`.
//!
//! The criterion benches (`cargo bench -p rnn-bench`) measure the same closures; both come from
//! this crate's library.

use rnn_bench::{
    bare_gemm_runner, cell_runner, flop_bound_ms, median_ms, sgemm_rate, workload, Mode,
    BENCH_CELLS,
};

/// The recipe whose bare GEMMs the runner reports.
const BARE_RECIPE: &str = "Lstm";

fn list(args: &[String], flag: &str, default: &[&str]) -> Vec<String> {
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.split(',').map(str::to_string).collect())
        .unwrap_or_else(|| default.iter().map(|s| s.to_string()).collect())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json = args.iter().any(|a| a == "--json");
    let quick = args.iter().any(|a| a == "--quick");
    let cells = list(&args, "--cells", &BENCH_CELLS);
    let workloads = list(
        &args,
        "--workloads",
        if quick { &["tiny"] } else { &["S", "M", "L"] },
    );
    let threads = list(&args, "--threads", &["1", "2"]);
    let reps: usize = list(&args, "--reps", &[if quick { "1" } else { "5" }])[0]
        .parse()
        .unwrap_or(5);

    let mut rates = std::collections::BTreeMap::new();
    for t in &threads {
        let n: usize = t.parse().unwrap_or(1);
        recurrent::set_num_threads(n);
        let r = sgemm_rate(if quick { 1 } else { 5 });
        let (ndarray_rate, packed_rate, rate) = (r.ndarray, r.packed, r.best());
        rates.insert(n, rate);
        if json {
            println!("{{\"sgemm_1024_gflops\":{rate:.1},\"ndarray_gflops\":{ndarray_rate:.1},\"packed_gflops\":{packed_rate:.1},\"threads\":{n}}}");
        } else {
            println!("sgemm 1024^3 at {n} thread(s): ndarray {ndarray_rate:.1}, packed kernel {packed_rate:.1} GFLOP/s; bound uses {rate:.1}");
        }
    }
    let report = |cell: &str, extra: &str, w: &str, mode: Mode, n: usize, ms: f64, bound: f64| {
        let ratio = ms / bound;
        if json {
            println!(
                "{{\"cell\":\"{cell}\",{extra}\"workload\":\"{w}\",\"mode\":\"{mode}\",\"threads\":{n},\"median_ms\":{ms:.3},\"flop_bound_ms\":{bound:.3},\"ratio\":{ratio:.3}}}"
            );
        } else {
            println!("{cell:>14} {w:>4} {mode:>5} {n}t  {ms:9.3} ms  bound {bound:8.3} ms  ratio {ratio:6.2}");
        }
    };
    for t in &threads {
        let n: usize = t.parse().unwrap_or(1);
        recurrent::set_num_threads(n);
        for w in workloads.iter().filter_map(|name| {
            let w = workload(name);
            if w.is_none() {
                eprintln!("unknown workload {name}");
            }
            w
        }) {
            for mode in Mode::ALL {
                for cell in &cells {
                    let Some(mut run) = cell_runner(cell, &w, mode) else {
                        eprintln!("unknown cell {cell}");
                        continue;
                    };
                    let ms = median_ms(reps, &mut run);
                    let bound = flop_bound_ms(cell, &w, mode, rates[&n]);
                    report(cell, "", w.name, mode, n, ms, bound);
                }
                let ms = median_ms(reps, bare_gemm_runner(BARE_RECIPE, &w, mode));
                let bound = flop_bound_ms(BARE_RECIPE, &w, mode, rates[&n]);
                let extra = format!("\"recipe\":\"{BARE_RECIPE}\",");
                report("bare_gemm", &extra, w.name, mode, n, ms, bound);
            }
        }
    }
}
