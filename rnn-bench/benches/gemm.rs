//! The GEMM references of the cell benches, at 1 and 2 threads:
//! `cargo bench -p rnn-bench --bench gemm`.
//!
//! - `sgemm_1024/{ndarray,packed}/{n}t`: the 1024³ f32 product with ndarray's GEMM
//!   (matrixmultiply, one thread whatever `n`) and the runtime's blocked GEMM (weights packed
//!   outside the timing), two of the rates the runner's FLOP bound takes the best of.
//! - `bare_gemm/{S,M,L}/{infer,train}/{n}t`: the products of the LSTM recipe as separate
//!   general GEMM calls (`rnn_bench::bare_gemm_runner`).
//!
//! Throughput (`Gelem/s`) is GFLOP/s.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rnn_bench::{bare_gemm_runner, flops, Mode, Runner, Sgemm, SGEMM_FLOPS, THREADS, WORKLOADS};

mod common;

fn sgemm(c: &mut Criterion) {
    let mut g = common::group(c, "sgemm_1024");
    g.throughput(Throughput::Elements(SGEMM_FLOPS as u64));
    let mut s: Option<Sgemm> = None;
    for n in THREADS {
        g.bench_function(format!("ndarray/{n}t"), |b| {
            recurrent::set_num_threads(n);
            let s = s.get_or_insert_with(Sgemm::new);
            b.iter(|| s.ndarray());
        });
        g.bench_function(format!("packed/{n}t"), |b| {
            recurrent::set_num_threads(n);
            let s = s.get_or_insert_with(Sgemm::new);
            b.iter(|| s.packed());
        });
    }
    g.finish();
}

fn bare_gemm(c: &mut Criterion) {
    let mut g = common::group(c, "bare_gemm");
    for w in &WORKLOADS {
        for mode in Mode::ALL {
            g.throughput(Throughput::Elements(flops("Lstm", w, mode) as u64));
            let mut runner: Option<Runner> = None;
            for n in THREADS {
                g.bench_function(format!("{}/{mode}/{n}t", w.name), |b| {
                    recurrent::set_num_threads(n);
                    let run = runner.get_or_insert_with(|| bare_gemm_runner("Lstm", w, mode));
                    b.iter(run);
                });
            }
        }
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = sgemm, bare_gemm
}
criterion_main!(benches);
