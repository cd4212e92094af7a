//! The benchmark runner: `cargo run --release -p rnn-bench -- --help`.
//!
//! For each cell, workload (S, M, L), mode (`infer`: forward only; `train`: forward, then
//! backward to every parameter and the input) and thread count, prints the median time and its
//! ratio to the FLOP bound: the workload's GEMM operations (2·m·n·k per product of the fused
//! recipe; `train` counts the forward products and the two adjoint products of each) at the
//! machine's best measured GEMM rate. That rate is the fastest of this build's GEMM on the
//! 1024x1024x1024 product and on the LSTM products of the workloads measured (per step,
//! hoisted input product, weight gradient), measured at the start of the run, and of a
//! reference BLAS (PyTorch's
//! `torch.mm`, MKL) read from a file that `rnn-bench/pytorch_baseline.py` writes (`--reference`);
//! without the file the runner says that the bound may be too slow. With the file, each line
//! also shows PyTorch's time for the same cell, workload, mode and thread count, and the
//! speed-up (above 1: we are faster).
//!
//! After the cells of each workload, mode and thread count comes the bare-GEMM baseline of the
//! LSTM recipe (its products as separate GEMM calls, nothing else).
//!
//! The criterion benches (`cargo bench -p rnn-bench`) measure the same closures; both come from
//! this crate's library.

use std::collections::BTreeMap;
use std::path::PathBuf;

use rnn_bench::{
    bare_gemm_runner, cell_runner, cpu_model, flop_bound_ms, lstm_products, median_ms,
    product_rate, sgemm_rate, workload, Mode, Reference, ALL_CELLS, BENCH_CELLS,
};
use serde::Serialize;

const USAGE: &str = "\
usage: rnn-bench [--json] [--quick] [--cells A,B] [--workloads S,M,L] [--threads 1,2]
                 [--reps N] [--reference FILE]

  --json            one JSON object per line (machine-readable), nothing else
  --quick           the tiny workload, one repetition (the CI smoke test)
  --cells A,B       cells to measure (default: RnnTanh,Lstm,Gru,GruTorch,LstmPeephole,
                    LayerNormLstm; any built-in cell)
  --workloads S,M   workloads (default S,M,L; tiny: B2 T3 I4 H5)
  --threads 1,2     thread counts (default 1,2)
  --reps N          timed repetitions per measurement, the median is reported (default 5)
  --reference FILE  the JSON lines of rnn-bench/pytorch_baseline.py: torch.mm's GEMM rates
                    join the bound, PyTorch's cell times are shown beside ours
  --help            this text

Two commands measure against the machine's best GEMM and PyTorch:
  python3 rnn-bench/pytorch_baseline.py --out /tmp/reference.jsonl
  cargo run --release -p rnn-bench -- --reference /tmp/reference.jsonl
";

/// What the command line asks for.
struct Options {
    json: bool,
    cells: Vec<String>,
    workloads: Vec<String>,
    threads: Vec<usize>,
    reps: usize,
    reference: Option<PathBuf>,
}

fn parse() -> Result<Options, String> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_env();
    let mut quick = false;
    let (mut json, mut cells, mut workloads, mut threads, mut reps, mut reference) =
        (false, None, None, None, None, None);
    let list = |v: std::ffi::OsString| -> Result<Vec<String>, String> {
        let v = v
            .into_string()
            .map_err(|v| format!("expected UTF-8, found {v:?}"))?;
        Ok(v.split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect())
    };
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Long("help") | Short('h') => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            Long("json") => json = true,
            Long("quick") => quick = true,
            Long("cells") => cells = Some(list(parser.value().map_err(|e| e.to_string())?)?),
            Long("workloads") => {
                workloads = Some(list(parser.value().map_err(|e| e.to_string())?)?)
            }
            Long("threads") => {
                let parsed: Result<Vec<usize>, _> =
                    list(parser.value().map_err(|e| e.to_string())?)?
                        .iter()
                        .map(|t| t.parse::<usize>().ok().filter(|&n| n >= 1).ok_or(t.clone()))
                        .collect();
                threads = Some(parsed.map_err(|t| {
                    format!("--threads: expected counts of at least 1, found `{t}`")
                })?);
            }
            Long("reps") => {
                let v = parser
                    .value()
                    .map_err(|e| e.to_string())?
                    .into_string()
                    .unwrap_or_default();
                reps = Some(v.parse::<usize>().ok().filter(|&n| n >= 1).ok_or(format!(
                    "--reps: expected a count of at least 1, found `{v}`"
                ))?);
            }
            Long("reference") => {
                reference = Some(PathBuf::from(parser.value().map_err(|e| e.to_string())?))
            }
            other => return Err(other.unexpected().to_string()),
        }
    }
    let cells = cells.unwrap_or_else(|| BENCH_CELLS.iter().map(|s| s.to_string()).collect());
    if let Some(bad) = cells.iter().find(|c| !ALL_CELLS.contains(&c.as_str())) {
        return Err(format!(
            "--cells: unknown cell `{bad}`; expected one of {}",
            ALL_CELLS.join(", ")
        ));
    }
    let default_workloads: &[&str] = if quick { &["tiny"] } else { &["S", "M", "L"] };
    let workloads =
        workloads.unwrap_or_else(|| default_workloads.iter().map(|s| s.to_string()).collect());
    if let Some(bad) = workloads.iter().find(|w| workload(w).is_none()) {
        return Err(format!(
            "--workloads: unknown workload `{bad}`; expected S, M, L or tiny"
        ));
    }
    Ok(Options {
        json,
        cells,
        workloads,
        threads: threads.unwrap_or(vec![1, 2]),
        reps: reps.unwrap_or(if quick { 1 } else { 5 }),
        reference,
    })
}

/// The GEMM rates of one thread count.
#[derive(Serialize)]
struct RateLine {
    cpu: String,
    threads: usize,
    sgemm_1024_gflops: f64,
    /// The fastest of this build's GEMM on the workloads' products.
    products_gflops: f64,
    ndarray_gflops: f64,
    reference_gflops: Option<f64>,
    bound_gflops: f64,
}

/// One measurement.
#[derive(Serialize)]
struct Line<'a> {
    cell: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    recipe: Option<&'a str>,
    workload: &'a str,
    mode: Mode,
    threads: usize,
    median_ms: f64,
    flop_bound_ms: f64,
    ratio: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pytorch_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    speedup: Option<f64>,
}

/// The recipe whose bare GEMMs the runner reports.
const BARE_RECIPE: &str = "Lstm";

fn main() -> std::process::ExitCode {
    let opts = match parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}\n\n{USAGE}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let reference = match &opts.reference {
        None => None,
        Some(path) => match Reference::read(path) {
            Ok(r) => Some(r),
            Err(e) => {
                eprintln!("error: --reference {}: {e}", path.display());
                return std::process::ExitCode::FAILURE;
            }
        },
    };
    let cpu = cpu_model();
    if !opts.json {
        println!("CPU: {cpu}");
    }
    match &reference {
        None => eprintln!(
            "note: no reference BLAS rate (--reference FILE, written by \
             rnn-bench/pytorch_baseline.py): the bound uses this build's fastest GEMM, which \
             may be slower than the machine's, so ratios may read too low"
        ),
        Some(r) if r.cpu != cpu_name_only(&cpu) => eprintln!(
            "warning: the reference was measured on `{}`, this is `{cpu}`",
            r.cpu
        ),
        Some(_) => {}
    }

    // The GEMM rates, measured before and after the cells (the higher counts: a host that was
    // busy during one of the two measurements must not loosen the bound).
    let measure_rates = || -> BTreeMap<usize, (f64, f64, f64)> {
        let gemm_reps = if opts.reps == 1 { 1 } else { 5 };
        opts.threads
            .iter()
            .map(|&n| {
                recurrent::set_num_threads(n);
                let r = sgemm_rate(gemm_reps);
                let products = opts
                    .workloads
                    .iter()
                    .filter_map(|name| workload(name))
                    .flat_map(|w| lstm_products(&w))
                    .map(|(_, m, k, n_cols, t)| product_rate(m, k, n_cols, t, gemm_reps))
                    .fold(0.0, f64::max);
                (n, (r.packed, products, r.ndarray))
            })
            .collect()
    };
    let before = measure_rates();
    let report = |line: Line<'_>| {
        if opts.json {
            println!("{}", serde_json::to_string(&line).expect("plain data"));
        } else {
            let torch = match (line.pytorch_ms, line.speedup) {
                (Some(t), Some(s)) => format!("  pytorch {t:9.3} ms  speed-up {s:5.2}"),
                _ => String::new(),
            };
            println!(
                "{:>14} {:>4} {:>5} {}t  {:9.3} ms  bound {:8.3} ms  ratio {:6.2}{torch}",
                line.cell,
                line.workload,
                line.mode,
                line.threads,
                line.median_ms,
                line.flop_bound_ms,
                line.ratio
            );
        }
    };
    let mut measured: Vec<Line<'_>> = Vec::new();
    for &n in &opts.threads {
        recurrent::set_num_threads(n);
        for w in opts.workloads.iter().filter_map(|name| workload(name)) {
            for mode in Mode::ALL {
                for cell in &opts.cells {
                    let Some(mut run) = cell_runner(cell, &w, mode) else {
                        continue;
                    };
                    let ms = median_ms(opts.reps, &mut run);

                    let pytorch_ms = reference
                        .as_ref()
                        .and_then(|r| r.cell_ms(cell, w.name, mode, n));
                    measured.push(Line {
                        cell,
                        recipe: None,
                        workload: w.name,
                        mode,
                        threads: n,
                        median_ms: round(ms, 3),
                        flop_bound_ms: 0.0,
                        ratio: 0.0,
                        pytorch_ms,
                        speedup: pytorch_ms.map(|t| round(t / ms, 3)),
                    });
                }
                let ms = median_ms(opts.reps, bare_gemm_runner(BARE_RECIPE, &w, mode));

                measured.push(Line {
                    cell: "bare_gemm",
                    recipe: Some(BARE_RECIPE),
                    workload: w.name,
                    mode,
                    threads: n,
                    median_ms: round(ms, 3),
                    flop_bound_ms: 0.0,
                    ratio: 0.0,
                    pytorch_ms: None,
                    speedup: None,
                });
            }
        }
    }
    let after = measure_rates();

    let mut rates = BTreeMap::new();
    for &n in &opts.threads {
        let (b, a) = (before[&n], after[&n]);
        let (packed, products, ndarray) = (b.0.max(a.0), b.1.max(a.1), b.2.max(a.2));
        let reference_gflops = reference.as_ref().and_then(|r| r.best_gflops(n));
        let bound = packed
            .max(products)
            .max(ndarray)
            .max(reference_gflops.unwrap_or(0.0));
        rates.insert(n, bound);
        let line = RateLine {
            cpu: cpu.clone(),
            threads: n,
            sgemm_1024_gflops: round(packed, 1),
            products_gflops: round(products, 1),
            ndarray_gflops: round(ndarray, 1),
            reference_gflops,
            bound_gflops: round(bound, 1),
        };
        if opts.json {
            println!("{}", serde_json::to_string(&line).expect("plain data"));
        } else {
            let reference = reference_gflops.map_or("no reference".to_string(), |g| {
                format!("torch.mm best {g:.1}")
            });
            println!(
                "GEMM at {n} thread(s), GFLOP/s (best of the runs before and after the cells): \
                 ours 1024^3 {packed:.1}, ours on the workloads' products {products:.1}, \
                 ndarray {ndarray:.1}, {reference}; bound uses {bound:.1}"
            );
        }
    }
    for mut line in measured {
        let bound = flop_bound_ms(
            line.recipe.unwrap_or(line.cell),
            &workload(line.workload).expect("measured"),
            line.mode,
            rates[&line.threads],
        );
        line.flop_bound_ms = round(bound, 3);
        line.ratio = round(line.median_ms / bound, 3);
        report(line);
    }
    std::process::ExitCode::SUCCESS
}

/// The model name without the vector extension [`cpu_model`] appends.
fn cpu_name_only(cpu: &str) -> &str {
    cpu.rsplit_once(" (").map_or(cpu, |(name, _)| name)
}

fn round(x: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (x * scale).round() / scale
}
