//! Profiling target: one cell, workload and mode, run many times on one thread.
//!
//! `perf record ./target/release/examples/profile_infer [CELL] [S|M|L] [infer|train] [CALLS]`
//! (default: `Lstm M infer 20`).
use rnn_bench::{cell_runner, workload, Mode};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or(default.to_string());
    let (cell, w, mode) = (arg(0, "Lstm"), arg(1, "M"), arg(2, "infer"));
    let calls: usize = arg(3, "20").parse().expect("CALLS: a count");
    let w = workload(&w).expect("a workload: S, M, L or tiny");
    let mode = if mode == "train" {
        Mode::Train
    } else {
        Mode::Infer
    };
    recurrent::set_num_threads(1);
    let mut run = cell_runner(&cell, &w, mode).expect("a built-in cell");
    for _ in 0..calls {
        run();
    }
}
