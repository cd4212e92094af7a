//! The GEMM strategies compared on exactly the products of the LSTM L workload (f32):
//! the per-step recurrent product `[64, 512] x [512, 2048]`, the hoisted input product
//! `[6400, 512] x [512, 2048]`, and the weight gradient `[512, 6400] x [6400, 2048]` (left
//! operand transposed), at 1 and 2 threads, with ndarray's matrixmultiply, the `gemm` crate and
//! the runtime's packed-panel kernel (weights packed once, outside the timing, as the runtime
//! does per sequence). `cargo run --release -p rnn-bench --example gemm_strategies`.

use recurrent::ndarray::{linalg::general_mat_mul, Array2};

/// Median seconds of `reps` runs of `f` (after one warm-up run).
fn median(f: impl FnMut(), reps: usize) -> f64 {
    rnn_bench::median_ms(reps, f) * 1e-3
}

fn main() {
    let shapes = [
        ("per-step [64,512]x[512,2048]", 64, 512, 2048, false),
        ("hoisted [6400,512]x[512,2048]", 6400, 512, 2048, false),
        (
            "weight grad [512,6400]^T..x[6400,2048]",
            512,
            6400,
            2048,
            true,
        ),
    ];
    for threads in [1usize, 2] {
        recurrent::set_num_threads(threads);
        for &(name, m, k, n, transposed) in &shapes {
            let flops = 2.0 * (m * n * k) as f64;
            let a_store =
                Array2::<f32>::from_shape_fn(if transposed { (k, m) } else { (m, k) }, |(i, j)| {
                    ((i * 7 + j) % 13) as f32 * 0.01
                });
            let a = if transposed {
                a_store.t()
            } else {
                a_store.view()
            };
            let b = Array2::<f32>::from_shape_fn((k, n), |(i, j)| ((i + j * 3) % 11) as f32 * 0.01);
            let mut c = Array2::<f32>::zeros((m, n));
            let reps = if m * n * k > 1 << 30 { 3 } else { 20 };
            // matrixmultiply (through ndarray), on one thread (its own threading is not enabled).
            let s = median(|| general_mat_mul(1.0, &a, &b, 0.0, &mut c), reps);
            let mm = flops / s / 1e9;
            // the gemm crate
            let par = if threads > 1 {
                gemm::Parallelism::Rayon(threads)
            } else {
                gemm::Parallelism::None
            };
            let (a_rs, a_cs) = (a.strides()[0], a.strides()[1]);
            let s = median(
                || unsafe {
                    gemm::gemm(
                        m,
                        n,
                        k,
                        c.as_mut_ptr(),
                        1,
                        n as isize,
                        false,
                        a.as_ptr(),
                        a_cs,
                        a_rs,
                        b.as_ptr(),
                        1,
                        n as isize,
                        0.0,
                        1.0,
                        false,
                        false,
                        false,
                        par,
                    )
                },
                reps,
            );
            let gc = flops / s / 1e9;
            // the packed-panel kernel: its left operand must be row-major
            let a_rows = a.as_standard_layout().into_owned();
            let mut packed = vec![0f32; recurrent::gemm::packed_len(k, n)];
            recurrent::gemm::pack_into(&mut packed, k, n, 0, b.as_slice().unwrap_or(&[]), n, n);
            let a_slice = a_rows.as_slice().unwrap_or(&[]);
            let c_slice = c.as_slice_mut().unwrap_or(&mut []);
            let s = median(
                || recurrent::gemm::gemm_packed(a_slice, m, k, &packed, n, c_slice, 0.0),
                reps,
            );
            let pk = flops / s / 1e9;
            println!("{threads} thread(s)  {name:40}  matrixmultiply {mm:6.1}  gemm crate {gc:6.1}  packed kernel {pk:6.1} GFLOP/s");
        }
    }
}
