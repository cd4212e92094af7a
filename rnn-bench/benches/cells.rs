//! Every default cell (`RnnTanh`, `Lstm`, `Gru`, `GruTorch`, `LstmPeephole`, `LayerNormLstm`) at
//! every workload (S, M, L), mode (`infer`, `train`) and thread count (1, 2):
//! `cargo bench -p rnn-bench --bench cells`, IDs like `Lstm/M/train/2t`
//! (filter: `cargo bench -p rnn-bench --bench cells -- '^Lstm/S/'`).
//!
//! The throughput criterion prints is GFLOP/s of the fused recipe's products (`Gelem/s`): the
//! sgemm 1024³ rate printed first (or `--bench gemm`) divided by it is the ratio to the FLOP
//! bound that the runner reports.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rnn_bench::{cell_runner, flops, sgemm_rate, Mode, Runner, BENCH_CELLS, THREADS, WORKLOADS};

mod common;

fn cells(c: &mut Criterion) {
    for n in THREADS {
        recurrent::set_num_threads(n);
        let r = sgemm_rate(5);
        eprintln!(
            "sgemm 1024^3 at {n} thread(s): ndarray {:.1}, packed kernel {:.1} GFLOP/s",
            r.ndarray, r.packed
        );
    }
    for cell in BENCH_CELLS {
        let mut g = common::group(c, cell);
        for w in &WORKLOADS {
            for mode in Mode::ALL {
                g.throughput(Throughput::Elements(flops(cell, w, mode) as u64));
                // Built at the first benchmark that passes the filter, shared by both thread
                // counts.
                let mut runner: Option<Runner> = None;
                for n in THREADS {
                    g.bench_function(format!("{}/{mode}/{n}t", w.name), |b| {
                        recurrent::set_num_threads(n);
                        let run = runner.get_or_insert_with(|| {
                            cell_runner(cell, w, mode).expect("a built-in cell")
                        });
                        b.iter(run);
                    });
                }
            }
        }
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = cells
}
criterion_main!(benches);
