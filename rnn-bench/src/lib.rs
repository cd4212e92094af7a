//! What the benchmark runner (`cargo run --release -p rnn-bench -- --json`) and the criterion
//! benches (`cargo bench -p rnn-bench`) share: the workloads, the per-cell setup and the
//! `infer`/`train` closures, the FLOP count and FLOP bound of a cell's fused recipe, the
//! 1024x1024x1024 sgemm rate, and the bare-GEMM baseline (the products of a recipe as separate
//! GEMM calls, nothing else).
#![warn(missing_docs)]

use std::time::Instant;

use recurrent::cells::*;
use recurrent::ndarray::linalg::general_mat_mul;
use recurrent::ndarray::{s, Array2, Array3};
use recurrent::rand::RngExt;
use recurrent::Cell;

/// One benchmark shape: `x: [steps, batch, input]`, states of size `hidden`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Workload {
    /// The name used in reports and benchmark IDs (`S`, `M`, `L`, `tiny`).
    pub name: &'static str,
    /// Batch size `B`.
    pub batch: usize,
    /// Sequence length `T`.
    pub steps: usize,
    /// Input size `I`.
    pub input: usize,
    /// Hidden size `H`.
    pub hidden: usize,
}

/// The measured workloads: S = B16 T64 I32 H64, M = B64 T100 I256 H256, L = B64 T100 I512 H512.
pub const WORKLOADS: [Workload; 3] = [
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
];

/// The smoke-test workload of the runner's `--quick` (B2 T3 I4 H5).
pub const TINY: Workload = Workload {
    name: "tiny",
    batch: 2,
    steps: 3,
    input: 4,
    hidden: 5,
};

/// The workload called `name` (`S`, `M`, `L` or `tiny`).
pub fn workload(name: &str) -> Option<Workload> {
    WORKLOADS
        .iter()
        .chain(std::iter::once(&TINY))
        .find(|w| w.name == name)
        .copied()
}

/// The cells the runner and the criterion benches measure by default.
pub const BENCH_CELLS: [&str; 6] = [
    "RnnTanh",
    "Lstm",
    "Gru",
    "GruTorch",
    "LstmPeephole",
    "LayerNormLstm",
];

/// Every cell [`cell_runner`] can build (the default ones first).
pub const ALL_CELLS: [&str; 16] = [
    "RnnTanh",
    "Lstm",
    "Gru",
    "GruTorch",
    "LstmPeephole",
    "LayerNormLstm",
    "RnnRelu",
    "LayerNormLstmHaste",
    "LstmCifg",
    "LstmNoForget",
    "Mgu",
    "IndRnn",
    "Residual",
    "Ugrnn",
    "LstmVariational",
    "LstmZoneout",
];

/// The thread counts measured.
pub const THREADS: [usize; 2] = [1, 2];

/// What one measured call does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// `cell.infer(x, None, None)`: the forward pass, keeping nothing for a backward pass.
    Infer,
    /// `cell.forward_train(x, None, None, rng)` (the spec's random masks drawn, if it has
    /// any), then `cell.backward(&fwd, d_out, None)`: gradients with respect to every
    /// parameter and the input.
    Train,
}

impl Mode {
    /// Both modes, `infer` first.
    pub const ALL: [Mode; 2] = [Mode::Infer, Mode::Train];

    /// `"infer"` or `"train"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Infer => "infer",
            Mode::Train => "train",
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A measurement ready to run: each call does the whole measured work once.
pub type Runner = Box<dyn FnMut()>;

/// Median wall time of `reps` runs of `f`, in milliseconds (after one warm-up run).
pub fn median_ms(reps: usize, mut f: impl FnMut()) -> f64 {
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

/// Shortest wall time of `reps` runs of `f`, in milliseconds (after one warm-up run): the rate
/// a GEMM can reach on this machine, for the FLOP bound, whatever else the host was doing
/// during some of the runs.
pub fn best_ms(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    (0..reps.max(1))
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1e3
        })
        .fold(f64::INFINITY, f64::min)
}

/// The CPU's model name (`model name` of `/proc/cpuinfo` on Linux), with its widest vector
/// extension, for the header of every table: `AMD EPYC 9R45 (avx512f)`; `unknown CPU` where
/// the system does not say.
pub fn cpu_model() -> String {
    let name = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".to_string());
    format!("{name} ({})", vector_extension())
}

fn vector_extension() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return "avx512f";
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            return "avx2";
        }
    }
    "no AVX2"
}

/// What `rnn-bench/pytorch_baseline.py` measured: the machine, `torch.mm`'s GEMM rates and
/// PyTorch's cell times.
#[derive(Debug, Default)]
pub struct Reference {
    /// The CPU model the script ran on.
    pub cpu: String,
    /// `(threads, product, GFLOP/s)` of every `torch.mm` line.
    pub gemm: Vec<(usize, String, f64)>,
    /// Median milliseconds by `(cell, workload, mode, threads)`, cells named as ours (`Lstm`,
    /// `GruTorch` for `nn.GRU`, `RnnTanh`).
    pub cells: std::collections::BTreeMap<(String, String, String, usize), f64>,
}

impl Reference {
    /// Reads the JSON lines at `path`.
    pub fn read(path: &std::path::Path) -> Result<Reference, String> {
        let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
        Reference::parse(&text)
    }

    /// Parses the JSON lines of the script; a line that is not JSON is an error naming it.
    pub fn parse(text: &str) -> Result<Reference, String> {
        use serde_json::Value;
        let mut r = Reference::default();
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let v: Value =
                serde_json::from_str(line).map_err(|e| format!("line {}: {e}", i + 1))?;
            let str_of = |key: &str| v.get(key).and_then(Value::as_str);
            let threads = v.get("threads").and_then(Value::as_u64).map(|t| t as usize);
            match (str_of("impl"), threads) {
                (Some("torch.mm"), Some(t)) => {
                    let gflops = v.get("gflops").and_then(Value::as_f64);
                    let product = str_of("product").unwrap_or("?").to_string();
                    r.gemm.push((
                        t,
                        product,
                        gflops.ok_or(format!("line {}: no gflops", i + 1))?,
                    ));
                }
                (Some("pytorch"), Some(t)) => {
                    if let (Some(cell), Some(w), Some(mode), Some(ms)) = (
                        str_of("cell"),
                        str_of("workload"),
                        str_of("mode"),
                        v.get("median_ms").and_then(Value::as_f64),
                    ) {
                        r.cells.insert((cell.into(), w.into(), mode.into(), t), ms);
                    }
                }
                (Some("pytorch"), None) => {
                    r.cpu = str_of("cpu").unwrap_or_default().to_string();
                }
                _ => {}
            }
        }
        if r.gemm.is_empty() {
            return Err(
                "no torch.mm lines: run rnn-bench/pytorch_baseline.py (it writes them \
                        first)"
                    .to_string(),
            );
        }
        Ok(r)
    }

    /// The fastest `torch.mm` rate at `threads` threads, over every product measured.
    pub fn best_gflops(&self, threads: usize) -> Option<f64> {
        self.gemm
            .iter()
            .filter(|(t, _, _)| *t == threads)
            .map(|(_, _, g)| *g)
            .reduce(f64::max)
    }

    /// PyTorch's median time for our `cell` (if PyTorch has it) on `workload`.
    pub fn cell_ms(&self, cell: &str, workload: &str, mode: Mode, threads: usize) -> Option<f64> {
        let key = (
            cell.to_string(),
            workload.to_string(),
            mode.as_str().to_string(),
            threads,
        );
        self.cells.get(&key).copied()
    }
}

/// Size of the square sgemm whose rate is the reference of the FLOP bound.
pub const SGEMM_N: usize = 1024;

/// FLOPs of one `SGEMM_N`³ product (2·n³).
pub const SGEMM_FLOPS: f64 = 2.0 * (SGEMM_N * SGEMM_N * SGEMM_N) as f64;

/// The operands of a 1024x1024x1024 f32 product, for both GEMMs of the build.
pub struct Sgemm {
    a: Array2<f32>,
    b: Array2<f32>,
    c: Array2<f32>,
    packed: Vec<f32>,
}

impl Sgemm {
    /// Allocates the operands and packs `b` for the runtime's kernel (outside any timing, as a
    /// GEMM with pre-packed weights would be used).
    pub fn new() -> Self {
        let n = SGEMM_N;
        let a = Array2::<f32>::from_elem((n, n), 0.5);
        let b = Array2::<f32>::from_elem((n, n), 0.25);
        let c = Array2::<f32>::zeros((n, n));
        let mut packed = vec![0f32; recurrent::gemm::packed_len(n, n)];
        recurrent::gemm::pack_into(&mut packed, n, n, 0, b.as_slice().unwrap_or(&[]), n, n);
        Sgemm { a, b, c, packed }
    }

    /// One product with ndarray's GEMM (matrixmultiply), on one thread.
    pub fn ndarray(&mut self) {
        general_mat_mul(1.0, &self.a, &self.b, 0.0, &mut self.c);
    }

    /// One product with the runtime's packed-panel kernel, on [`recurrent::num_threads`] threads.
    pub fn packed(&mut self) {
        let n = SGEMM_N;
        let a_rows = self.a.as_slice().unwrap_or(&[]);
        let c_rows = self.c.as_slice_mut().unwrap_or(&mut []);
        recurrent::gemm::gemm_packed(a_rows, n, n, &self.packed, n, c_rows, 0.0);
    }
}

impl Default for Sgemm {
    fn default() -> Self {
        Self::new()
    }
}

/// The 1024³ sgemm rates of one run, in GFLOP/s.
#[derive(Clone, Copy, Debug)]
pub struct SgemmRate {
    /// ndarray's GEMM (matrixmultiply).
    pub ndarray: f64,
    /// The runtime's packed-panel kernel (packing excluded).
    pub packed: f64,
}

impl SgemmRate {
    /// The faster of the two: the rate the FLOP bound uses.
    pub fn best(&self) -> f64 {
        self.ndarray.max(self.packed)
    }
}

/// Measures the 1024³ sgemm rate of both GEMMs (best of `reps`) at the current thread count.
pub fn sgemm_rate(reps: usize) -> SgemmRate {
    let mut g = Sgemm::new();
    let ms = best_ms(reps, || g.ndarray());
    let ndarray = SGEMM_FLOPS / (ms * 1e-3) / 1e9;
    let ms = best_ms(reps, || g.packed());
    let packed = SGEMM_FLOPS / (ms * 1e-3) / 1e9;
    SgemmRate { ndarray, packed }
}

/// The products of the LSTM of workload `w` as `(name, m, k, n, transposed_left)`: the
/// per-step `[B, H] x [H, 4H]`, the hoisted input product `[T*B, I] x [I, 4H]` and the weight
/// gradient `[I, T*B] x [T*B, 4H]` (the left operand a transposed `[T*B, I]`), as
/// `pytorch_baseline.py` names them.
pub fn lstm_products(w: &Workload) -> [(String, usize, usize, usize, bool); 3] {
    let (rows, g) = (w.steps * w.batch, 4 * w.hidden);
    [
        (format!("{} step", w.name), w.batch, w.hidden, g, false),
        (format!("{} hoisted", w.name), rows, w.input, g, false),
        (format!("{} weight grad", w.name), w.input, rows, g, true),
    ]
}

/// This build's GEMM rate on `m x k x n` (best of `reps`), in GFLOP/s, at the current thread
/// count: with the weights packed once (outside the timing) as the cells do, or for a
/// transposed left operand with the general product the weight gradients use.
pub fn product_rate(m: usize, k: usize, n: usize, transposed_left: bool, reps: usize) -> f64 {
    let flops = 2.0 * (m * k * n) as f64;
    let ms = if transposed_left {
        let a = Array2::<f32>::from_elem((k, m), 0.5);
        let b = Array2::<f32>::from_elem((k, n), 0.25);
        let mut c = Array2::<f32>::zeros((m, n));
        best_ms(reps, || {
            recurrent::gemm::gemm_views(1.0, &a.t(), &b.view(), 1.0, &mut c.view_mut())
        })
    } else {
        let a = vec![0.5f32; m * k];
        let w = vec![0.25f32; k * n];
        let mut packed = vec![0f32; recurrent::gemm::packed_len(k, n)];
        recurrent::gemm::pack_into(&mut packed, k, n, 0, &w, n, n);
        let mut c = vec![0f32; m * n];
        best_ms(reps, || {
            recurrent::gemm::gemm_packed(&a, m, k, &packed, n, &mut c, 0.0)
        })
    };
    flops / (ms * 1e-3) / 1e9
}

/// Number of `[I, H]` and `[H, H]` products of one step of the cell's recipe.
pub fn products(cell: &str) -> (usize, usize) {
    match cell {
        "RnnTanh" | "RnnRelu" | "Residual" | "IndRnn" => (1, 1),
        "Gru" | "GruTorch" | "Mut3" => (3, 3),
        "Mgu" | "Ugrnn" => (2, 2),
        "Narx" => (2, 2),
        _ => (4, 4),
    }
}

/// The GEMM operations of the cell's fused recipe on workload `w`: 2·m·n·k per product;
/// `train` counts the forward products and the two adjoint products of each (3x `infer`).
pub fn flops(cell: &str, w: &Workload, mode: Mode) -> f64 {
    let (px, ph) = products(cell);
    let rows = (w.steps * w.batch) as f64;
    let forward = 2.0 * rows * (px * w.input * w.hidden + ph * w.hidden * w.hidden) as f64;
    match mode {
        Mode::Train => 3.0 * forward,
        Mode::Infer => forward,
    }
}

/// The FLOP bound in milliseconds: [`flops`] at `gflops` GFLOP/s.
pub fn flop_bound_ms(cell: &str, w: &Workload, mode: Mode, gflops: f64) -> f64 {
    flops(cell, w, mode) / (gflops * 1e9) * 1e3
}

/// The measured call for one built cell: random `x: [T, B, I]` in [-1, 1) (seed 1) and
/// `d_out` filled with 0.01; the runner owns them and the cell.
pub fn runner_for<C: Cell<f32> + 'static>(cell: C, w: &Workload, mode: Mode) -> Runner {
    let mut rng = recurrent::seeded_rng(1);
    let x = Array3::<f32>::from_shape_fn((w.steps, w.batch, cell.input_size()), |_| {
        rng.random_range(-1.0..1.0)
    });
    match mode {
        Mode::Infer => Box::new(move || {
            let _ = std::hint::black_box(cell.infer(x.view(), None, None).expect("infer"));
        }),
        Mode::Train => {
            let d_out = Array3::<f32>::from_elem((w.steps, w.batch, cell.output_size()), 0.01);
            let mut masks = recurrent::seeded_rng(2);
            Box::new(move || {
                let fwd = cell
                    .forward_train(x.view(), None, None, &mut masks)
                    .expect("forward");
                let g = cell.backward(&fwd, d_out.view(), None).expect("backward");
                let _ = std::hint::black_box((fwd, g));
            })
        }
    }
}

macro_rules! build {
    ($ty:ident, $dims:ident, $w:expr, $mode:expr) => {
        runner_for(
            $ty::<f32>::new(
                $dims {
                    I: $w.input,
                    H: $w.hidden,
                },
                &mut recurrent::seeded_rng(0),
            ),
            $w,
            $mode,
        )
    };
}

/// Builds the built-in cell called `cell` (any of [`ALL_CELLS`]) at workload `w`, parameters
/// from seed 0, and returns its measured call; `None` for an unknown name.
pub fn cell_runner(cell: &str, w: &Workload, mode: Mode) -> Option<Runner> {
    Some(match cell {
        "RnnTanh" => build!(RnnTanh, RnnTanhDims, w, mode),
        "RnnRelu" => build!(RnnRelu, RnnReluDims, w, mode),
        "Lstm" => build!(Lstm, LstmDims, w, mode),
        "Gru" => build!(Gru, GruDims, w, mode),
        "GruTorch" => build!(GruTorch, GruTorchDims, w, mode),
        "LstmPeephole" => build!(LstmPeephole, LstmPeepholeDims, w, mode),
        "LayerNormLstm" => build!(LayerNormLstm, LayerNormLstmDims, w, mode),
        "LayerNormLstmHaste" => build!(LayerNormLstmHaste, LayerNormLstmHasteDims, w, mode),
        "LstmCifg" => build!(LstmCifg, LstmCifgDims, w, mode),
        "LstmNoForget" => build!(LstmNoForget, LstmNoForgetDims, w, mode),
        "Mgu" => build!(Mgu, MguDims, w, mode),
        "IndRnn" => build!(IndRnn, IndRnnDims, w, mode),
        "Residual" => build!(Residual, ResidualDims, w, mode),
        "Ugrnn" => build!(Ugrnn, UgrnnDims, w, mode),
        "LstmVariational" => build!(LstmVariational, LstmVariationalDims, w, mode),
        "LstmZoneout" => build!(LstmZoneout, LstmZoneoutDims, w, mode),
        _ => return None,
    })
}

/// Operands of the bare-GEMM baseline of one recipe at one workload.
struct BareGemm {
    steps: usize,
    batch: usize,
    /// Widths of the input product (`px·H`) and the recurrent product (`ph·H`).
    n_x: usize,
    n_h: usize,
    /// `x: [T·B, I]`.
    x: Array2<f32>,
    /// `W_x: [I, n_x]`.
    w_x: Array2<f32>,
    /// `W_h: [H, n_h]`.
    w_h: Array2<f32>,
    /// The states the per-step products read, `[T·B, H]`.
    hs: Array2<f32>,
    /// Pre-activations `[T·B, max(n_x, n_h)]`: the hoisted product, then each step's recurrent
    /// product added to its rows.
    g: Array2<f32>,
    /// Their adjoint, same shape.
    dg: Array2<f32>,
    /// `dX: [T·B, I]`.
    dx: Array2<f32>,
    /// `dW_x: [I, n_x]`.
    dw_x: Array2<f32>,
    /// `dW_h: [H, n_h]`.
    dw_h: Array2<f32>,
    /// One step's `dh: [B, H]`.
    dh: Array2<f32>,
}

impl BareGemm {
    fn new(px: usize, ph: usize, w: &Workload) -> Self {
        let rows = w.steps * w.batch;
        let (n_x, n_h) = (px * w.hidden, ph * w.hidden);
        let n = n_x.max(n_h);
        let fill = |r, c, seed: usize| {
            Array2::<f32>::from_shape_fn((r, c), move |(i, j)| {
                ((i * 7 + j * 3 + seed) % 13) as f32 * 0.01 - 0.06
            })
        };
        BareGemm {
            steps: w.steps,
            batch: w.batch,
            n_x,
            n_h,
            x: fill(rows, w.input, 1),
            w_x: fill(w.input, n_x, 2),
            w_h: fill(w.hidden, n_h, 3),
            hs: fill(rows, w.hidden, 4),
            g: Array2::zeros((rows, n)),
            dg: fill(rows, n, 5),
            dx: Array2::zeros((rows, w.input)),
            dw_x: Array2::zeros((w.input, n_x)),
            dw_h: Array2::zeros((w.hidden, n_h)),
            dh: Array2::zeros((w.batch, w.hidden)),
        }
    }

    /// `G = X W_x` once, then `G_t += h_{t-1} W_h` at every step.
    fn forward(&mut self) {
        let gemm = recurrent::gemm::gemm_views::<f32>;
        let (n_x, n_h) = (self.n_x, self.n_h);
        let mut g_x = self.g.slice_mut(s![.., ..n_x]);
        gemm(1.0, &self.x.view(), &self.w_x.view(), 0.0, &mut g_x);
        for t in 0..self.steps {
            let r = t * self.batch..(t + 1) * self.batch;
            let h = self.hs.slice(s![r.clone(), ..]);
            let mut g_t = self.g.slice_mut(s![r, ..n_h]);
            gemm(1.0, &h, &self.w_h.view(), 1.0, &mut g_t);
        }
    }

    /// `dh_{t-1} = dG_t W_hᵀ` at every step (last to first), then `dX = dG W_xᵀ`,
    /// `dW_x = Xᵀ dG` and `dW_h = Hᵀ dG` once.
    fn backward(&mut self) {
        let gemm = recurrent::gemm::gemm_views::<f32>;
        let (n_x, n_h) = (self.n_x, self.n_h);
        for t in (0..self.steps).rev() {
            let r = t * self.batch..(t + 1) * self.batch;
            let dg_t = self.dg.slice(s![r, ..n_h]);
            gemm(1.0, &dg_t, &self.w_h.t(), 0.0, &mut self.dh.view_mut());
        }
        let dg_x = self.dg.slice(s![.., ..n_x]);
        let dg_h = self.dg.slice(s![.., ..n_h]);
        gemm(1.0, &dg_x, &self.w_x.t(), 0.0, &mut self.dx.view_mut());
        gemm(1.0, &self.x.t(), &dg_x, 0.0, &mut self.dw_x.view_mut());
        gemm(1.0, &self.hs.t(), &dg_h, 0.0, &mut self.dw_h.view_mut());
    }
}

/// The bare-GEMM baseline of the cell's recipe at workload `w`: only its products, as separate
/// calls of the runtime's general product on unpacked operands (`recurrent::gemm::gemm_views`:
/// each call packs its weights again; in f32 the blocked GEMM, split between
/// [`recurrent::num_threads`] threads). For the LSTM (`px = ph = 4`):
/// `infer` is the hoisted input product `[T·B, I] x [I, 4H]` once and the recurrent product
/// `[B, H] x [H, 4H]` T times; `train` adds the adjoint products, `[B, 4H] x [4H, H]` T times,
/// then `[T·B, 4H] x [4H, I]`, `[I, T·B] x [T·B, 4H]` and `[H, T·B] x [T·B, 4H]` once. Its
/// FLOPs are [`flops`] of the same cell, so its FLOP-bound ratio is how close separate GEMM
/// calls come to the bound's rate.
pub fn bare_gemm_runner(cell: &str, w: &Workload, mode: Mode) -> Runner {
    let (px, ph) = products(cell);
    let mut b = BareGemm::new(px, ph, w);
    match mode {
        Mode::Infer => Box::new(move || {
            b.forward();
            std::hint::black_box(&b.g);
        }),
        Mode::Train => Box::new(move || {
            b.forward();
            b.backward();
            std::hint::black_box((&b.g, &b.dx, &b.dw_x, &b.dw_h, &b.dh));
        }),
    }
}

/// Classes of the CTC benchmark (labels and the blank): a character set.
pub const CTC_CLASSES: usize = 32;
/// Labels per example of the CTC benchmark: a quarter of the steps, as in speech.
pub fn ctc_target_length(w: &Workload) -> usize {
    w.steps / 4
}

/// The CTC loss and its gradient on logits of workload `w`'s shape, `[T, B, CTC_CLASSES]`
/// (random, seed 2), every example `T` steps long with a random target of
/// [`ctc_target_length`] labels: the cost a `ctc_step` adds to the model's step.
pub fn ctc_runner(w: &Workload) -> Runner {
    use recurrent::ctc::{ctc_loss, CtcOptions};
    let mut rng = recurrent::seeded_rng(2);
    let logits = Array3::<f32>::from_shape_fn((w.steps, w.batch, CTC_CLASSES), |_| {
        rng.random_range(-2.0..2.0)
    });
    let targets: Vec<Vec<usize>> = (0..w.batch)
        .map(|_| {
            (0..ctc_target_length(w))
                .map(|_| rng.random_range(1..CTC_CLASSES))
                .collect()
        })
        .collect();
    let lengths = vec![w.steps; w.batch];
    Box::new(move || {
        let r =
            ctc_loss(logits.view(), &targets, &lengths, &CtcOptions::default()).expect("ctc loss");
        std::hint::black_box(r);
    })
}

#[cfg(test)]
mod reference_tests {
    use super::*;

    #[test]
    fn the_scripts_lines_give_the_best_rate_and_the_cell_times() {
        let text = r#"{"impl":"pytorch","cpu":"Some CPU","torch_version":"2.9"}
{"impl":"torch.mm","product":"1024^3","m":1024,"k":1024,"n":1024,"threads":1,"gflops":120.5}
{"impl":"torch.mm","product":"L step","m":64,"k":512,"n":2048,"threads":1,"gflops":130.0}
{"impl":"torch.mm","product":"1024^3","m":1024,"k":1024,"n":1024,"threads":2,"gflops":230.0}
{"impl":"pytorch","cell":"Lstm","workload":"L","mode":"train","threads":2,"median_ms":85.5}
"#;
        let r = Reference::parse(text).unwrap();
        assert_eq!(r.cpu, "Some CPU");
        assert_eq!(r.best_gflops(1), Some(130.0));
        assert_eq!(r.best_gflops(2), Some(230.0));
        assert_eq!(r.best_gflops(4), None);
        assert_eq!(r.cell_ms("Lstm", "L", Mode::Train, 2), Some(85.5));
        assert_eq!(r.cell_ms("Lstm", "L", Mode::Infer, 2), None);
        let e = Reference::parse("{\"impl\":\"pytorch\"}\nnot json\n").unwrap_err();
        assert!(e.contains("line 2"), "{e}");
        let e = Reference::parse("{\"impl\":\"pytorch\"}\n").unwrap_err();
        assert!(e.contains("no torch.mm"), "{e}");
    }
}
