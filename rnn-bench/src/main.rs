//! The benchmark runner: `cargo run --release -p rnn-bench -- --json`.
//!
//! For each cell, workload (S, M, L), mode (`infer`: forward only; `train`: forward, then
//! backward to every parameter and the input) and thread count, prints one JSON line
//! `{"cell","workload","mode","threads","median_ms","flop_bound_ms","ratio"}`. The FLOP bound
//! is the workload's GEMM operations (2·m·n·k per product of the fused recipe; `train` counts
//! the forward products and the two adjoint products of each) divided by the 1024x1024x1024
//! sgemm rate measured at the start of the same run.
//!
//! Flags: `--json` (machine-readable lines only), `--quick` (tiny workload, one repetition: the
//! CI smoke test), `--cells a,b` (any built-in cell, at the workloads given), `--workloads S,M`,
//! `--threads 1,2`, `--reps N`.

use std::time::Instant;

use rnn::cells::*;
use rnn::ndarray::{Array2, Array3};
use rnn::rand::Rng;
use rnn::Cell;

#[derive(Clone, Copy)]
struct Workload {
    name: &'static str,
    batch: usize,
    steps: usize,
    input: usize,
    hidden: usize,
}

const WORKLOADS: [Workload; 4] = [
    Workload {
        name: "S",
        batch: 16,
        steps: 64,
        input: 32,
        hidden: 64,
    },
    Workload {
        name: "M",
        batch: 64,
        steps: 100,
        input: 256,
        hidden: 256,
    },
    Workload {
        name: "L",
        batch: 64,
        steps: 100,
        input: 512,
        hidden: 512,
    },
    Workload {
        name: "tiny",
        batch: 2,
        steps: 3,
        input: 4,
        hidden: 5,
    },
];

/// Median wall time of `reps` runs of `f`, in milliseconds (after one warm-up run).
fn median_ms(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut times: Vec<f64> = (0..reps.max(1))
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(|a, b| a.total_cmp(b));
    times[times.len() / 2]
}

/// GFLOP/s of a 1024x1024x1024 f32 GEMM with the fastest GEMM of the build: ndarray's
/// (matrixmultiply) or the runtime's packed-panel kernel (packing excluded, as a GEMM with
/// pre-packed weights would be used).
fn sgemm_rate(reps: usize) -> (f64, f64) {
    let n = 1024;
    let a = Array2::<f32>::from_elem((n, n), 0.5);
    let b = Array2::<f32>::from_elem((n, n), 0.25);
    let mut c = Array2::<f32>::zeros((n, n));
    let flops = 2.0 * (n * n * n) as f64;
    let ms = median_ms(reps, || {
        rnn::ndarray::linalg::general_mat_mul(1.0, &a, &b, 0.0, &mut c)
    });
    let ndarray_rate = flops / (ms * 1e-3) / 1e9;
    let mut packed = vec![0f32; rnn::gemm::packed_len(n, n)];
    rnn::gemm::pack_into(&mut packed, n, n, 0, b.as_slice().unwrap_or(&[]), n, n);
    let a_rows = a.as_slice().unwrap_or(&[]);
    let c_rows = c.as_slice_mut().unwrap_or(&mut []);
    let ms = median_ms(reps, || {
        rnn::gemm::gemm_packed(a_rows, n, n, &packed, n, c_rows, 0.0)
    });
    (ndarray_rate, flops / (ms * 1e-3) / 1e9)
}

/// Number of `[I, H]` and `[H, H]` products of one step of the cell's recipe.
fn products(cell: &str) -> (usize, usize) {
    match cell {
        "RnnTanh" | "RnnRelu" | "Residual" | "IndRnn" => (1, 1),
        "Gru" | "GruTorch" | "Mut3" => (3, 3),
        "Mgu" => (2, 2),
        "Narx" => (2, 2),
        _ => (4, 4),
    }
}

fn flop_bound_ms(cell: &str, w: &Workload, mode: &str, gflops: f64) -> f64 {
    let (px, ph) = products(cell);
    let rows = (w.steps * w.batch) as f64;
    let forward = 2.0 * rows * (px * w.input * w.hidden + ph * w.hidden * w.hidden) as f64;
    let flops = if mode == "train" {
        3.0 * forward
    } else {
        forward
    };
    flops / (gflops * 1e9) * 1e3
}

fn bench<C: Cell<f32>>(cell: &C, w: &Workload, mode: &str, reps: usize) -> f64 {
    let mut rng = rnn::seeded_rng(1);
    let x = Array3::<f32>::from_shape_fn((w.steps, w.batch, cell.input_size()), |_| {
        rng.gen_range(-1.0..1.0)
    });
    let d_out = Array3::<f32>::from_elem((w.steps, w.batch, cell.output_size()), 0.01);
    median_ms(reps, || {
        if mode == "train" {
            let fwd = cell.forward(x.view(), None, None).expect("forward");
            let g = cell.backward(&fwd, d_out.view(), None).expect("backward");
            std::hint::black_box((fwd, g));
        } else {
            std::hint::black_box(cell.infer(x.view(), None, None).expect("infer"));
        }
    })
}

macro_rules! run_cell {
    ($ty:ident, $dims:ident, $name:expr, $w:expr, $mode:expr, $reps:expr) => {{
        let cell = $ty::<f32>::new(make_dims!($dims, $w), &mut rnn::seeded_rng(0));
        bench(&cell, $w, $mode, $reps)
    }};
}

macro_rules! make_dims {
    ($dims:ident, $w:expr) => {
        $dims {
            I: $w.input,
            H: $w.hidden,
        }
    };
}

fn run(cell: &str, w: &Workload, mode: &str, reps: usize) -> Option<f64> {
    Some(match cell {
        "RnnTanh" => run_cell!(RnnTanh, RnnTanhDims, cell, w, mode, reps),
        "RnnRelu" => run_cell!(RnnRelu, RnnReluDims, cell, w, mode, reps),
        "Lstm" => run_cell!(Lstm, LstmDims, cell, w, mode, reps),
        "Gru" => run_cell!(Gru, GruDims, cell, w, mode, reps),
        "GruTorch" => run_cell!(GruTorch, GruTorchDims, cell, w, mode, reps),
        "LstmPeephole" => run_cell!(LstmPeephole, LstmPeepholeDims, cell, w, mode, reps),
        "LayerNormLstm" => run_cell!(LayerNormLstm, LayerNormLstmDims, cell, w, mode, reps),
        "LayerNormLstmHaste" => run_cell!(
            LayerNormLstmHaste,
            LayerNormLstmHasteDims,
            cell,
            w,
            mode,
            reps
        ),
        "LstmCifg" => run_cell!(LstmCifg, LstmCifgDims, cell, w, mode, reps),
        "LstmNoForget" => run_cell!(LstmNoForget, LstmNoForgetDims, cell, w, mode, reps),
        "Mgu" => run_cell!(Mgu, MguDims, cell, w, mode, reps),
        "IndRnn" => run_cell!(IndRnn, IndRnnDims, cell, w, mode, reps),
        "Residual" => run_cell!(Residual, ResidualDims, cell, w, mode, reps),
        _ => return None,
    })
}

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
    let cells = list(
        &args,
        "--cells",
        &[
            "RnnTanh",
            "Lstm",
            "Gru",
            "GruTorch",
            "LstmPeephole",
            "LayerNormLstm",
        ],
    );
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
        rnn::set_num_threads(n);
        let (ndarray_rate, packed_rate) = sgemm_rate(if quick { 1 } else { 5 });
        let rate = ndarray_rate.max(packed_rate);
        rates.insert(n, rate);
        if json {
            println!("{{\"sgemm_1024_gflops\":{rate:.1},\"ndarray_gflops\":{ndarray_rate:.1},\"packed_gflops\":{packed_rate:.1},\"threads\":{n}}}");
        } else {
            println!("sgemm 1024^3 at {n} thread(s): ndarray {ndarray_rate:.1}, packed kernel {packed_rate:.1} GFLOP/s; bound uses {rate:.1}");
        }
    }
    for t in &threads {
        let n: usize = t.parse().unwrap_or(1);
        rnn::set_num_threads(n);
        for w in WORKLOADS
            .iter()
            .filter(|w| workloads.iter().any(|n| n == w.name))
        {
            for cell in &cells {
                for mode in ["infer", "train"] {
                    let Some(ms) = run(cell, w, mode, reps) else {
                        eprintln!("unknown cell {cell}");
                        continue;
                    };
                    let bound = flop_bound_ms(cell, w, mode, rates[&n]);
                    let ratio = ms / bound;
                    if json {
                        println!(
                            "{{\"cell\":\"{cell}\",\"workload\":\"{}\",\"mode\":\"{mode}\",\"threads\":{n},\"median_ms\":{ms:.3},\"flop_bound_ms\":{bound:.3},\"ratio\":{ratio:.3}}}",
                            w.name
                        );
                    } else {
                        println!("{cell:>14} {:>4} {mode:>5} {n}t  {ms:9.3} ms  bound {bound:8.3} ms  ratio {ratio:6.2}", w.name);
                    }
                }
            }
        }
    }
}
