//! Micro-benchmarks of the blocked f32 GEMM, to find what limits it on the CPU at hand: the
//! GFLOP/s of the runtime's products on the shapes the bound and the LSTM L workload use (the
//! 1024³ square product, the per-step `[64, 512] x [512, 2048]` with weights packed once, the
//! hoisted input product `[6400, 512] x [512, 2048]`, and the weight gradient
//! `[512, 6400] x [6400, 2048]` with the left operand transposed), at 1 and 2 threads, with the
//! blocking chosen for this CPU and with the register block (`mr`), the `k` block (`kc`), the
//! row block (`mc`) and the alignment of the packed weights varied one at a time.
//!
//! `cargo run --release -p rnn-bench --example kernel_rate [-- --quick]`

use recurrent::gemm::blocked::{Blocking, Isa};
use recurrent::gemm::{gemm_packed_blocked, gemm_views, pack_into, packed_len, PackedProduct};
use recurrent::ndarray::{Array2, ArrayView2};

/// Median seconds of `reps` runs of `f` (after one warm-up run).
fn median(reps: usize, f: impl FnMut()) -> f64 {
    rnn_bench::median_ms(reps, f) * 1e-3
}

/// A product with packed weights: `[m, k] x [k, n]`, the weights `misalign` floats past a
/// 64-byte boundary.
struct Packed {
    m: usize,
    k: usize,
    n: usize,
    a: Vec<f32>,
    storage: Vec<f32>,
    offset: usize,
    c: Vec<f32>,
}

impl Packed {
    fn new(m: usize, k: usize, n: usize, misalign: usize) -> Self {
        let a: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32 * 0.1).collect();
        let w: Vec<f32> = (0..k * n).map(|i| (i % 5) as f32 * 0.1).collect();
        let len = packed_len(k, n);
        let mut storage = vec![0f32; len + 32];
        let offset = storage.as_ptr().align_offset(64) + misalign;
        pack_into(&mut storage[offset..offset + len], k, n, 0, &w, n, n);
        Packed {
            m,
            k,
            n,
            a,
            storage,
            offset,
            c: vec![0f32; m * n],
        }
    }

    fn gflops(&mut self, reps: usize, blocking: &Blocking) -> f64 {
        let (m, k, n) = (self.m, self.k, self.n);
        let packed = &self.storage[self.offset..self.offset + packed_len(k, n)];
        let product = PackedProduct {
            a: &self.a,
            m,
            k,
            w: packed,
            n,
            beta: 0.0,
        };
        let s = median(reps, || {
            gemm_packed_blocked(&product, &mut self.c, blocking)
        });
        2.0 * (m * n * k) as f64 / s / 1e9
    }
}

/// The weight gradient `c += a^T d`, `a: [rows, k]`, `d: [rows, n]`.
fn weight_gradient_gflops(rows: usize, k: usize, n: usize, reps: usize) -> f64 {
    let a = Array2::from_shape_fn((rows, k), |(i, j)| ((i + j) % 7) as f32 * 0.1);
    let d = Array2::from_shape_fn((rows, n), |(i, j)| ((i * j) % 5) as f32 * 0.1);
    let mut c = Array2::<f32>::zeros((k, n));
    let at: ArrayView2<'_, f32> = a.t();
    let s = median(reps, || {
        gemm_views(1.0, &at, &d.view(), 1.0, &mut c.view_mut())
    });
    2.0 * (rows * n * k) as f64 / s / 1e9
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let reps = if quick { 3 } else { 11 };
    let Some(isa) = Isa::detect() else {
        println!("no AVX2 or AVX-512 on this CPU: the blocked GEMM does not run here");
        return;
    };
    let base = Blocking::for_cpu(isa);
    println!("CPU: {}", rnn_bench::cpu_model());
    println!(
        "caches {:?}; blocking for this CPU: {base:?}",
        recurrent::gemm::cache::CacheSizes::of_this_cpu()
    );
    let shapes = [
        ("1024^3", 1024, 1024, 1024),
        ("step [64,512]x[512,2048]", 64, 512, 2048),
        ("hoisted [6400,512]x[512,2048]", 6400, 512, 2048),
    ];
    for threads in [1usize, 2] {
        recurrent::set_num_threads(threads);
        println!("\n{threads} thread(s), GFLOP/s");
        for &(name, m, k, n) in &shapes {
            let mut p = Packed::new(m, k, n, 0);
            println!("  {name:<32} {:7.1}", p.gflops(reps, &base));
        }
        println!(
            "  {:<32} {:7.1}",
            "weight grad [512,6400]^T[6400,2048]",
            weight_gradient_gflops(6400, 512, 2048, reps.min(5))
        );
    }
    recurrent::set_num_threads(1);
    println!("\nvariations on 1024^3 and the step product, 1 thread, GFLOP/s");
    let mut square = Packed::new(1024, 1024, 1024, 0);
    let mut step = Packed::new(64, 512, 2048, 0);
    let mrs: &[usize] = match isa {
        Isa::Avx512 => &[4, 6, 8, 12, 14],
        Isa::Avx2 => &[4, 6],
    };
    for &mr in mrs {
        let b = Blocking {
            mr,
            mc: base.mc / mr * mr,
            ..base
        };
        println!(
            "  mr {mr:>3}                 {:7.1} {:7.1}",
            square.gflops(reps, &b),
            step.gflops(reps, &b)
        );
    }
    for kc in [64, 128, 192, 256, 384, 512] {
        let b = Blocking { kc, ..base };
        println!(
            "  kc {kc:>3}                 {:7.1} {:7.1}",
            square.gflops(reps, &b),
            step.gflops(reps, &b)
        );
    }
    for mc in [48, 96, 192, 384, 768] {
        let b = Blocking {
            mc: mc / base.mr * base.mr,
            ..base
        };
        println!(
            "  mc {mc:>3}                 {:7.1} {:7.1}",
            square.gflops(reps, &b),
            step.gflops(reps, &b)
        );
    }
    for misalign in [0, 1, 4, 8] {
        let mut sq = Packed::new(1024, 1024, 1024, misalign);
        let mut st = Packed::new(64, 512, 2048, misalign);
        println!(
            "  weights +{misalign} floats       {:7.1} {:7.1}",
            sq.gflops(reps, &base),
            st.gflops(reps, &base)
        );
    }
}
