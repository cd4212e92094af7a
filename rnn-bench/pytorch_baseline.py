"""PyTorch CPU baseline for the rnn-bench workloads.

Usage:

    python3 rnn-bench/pytorch_baseline.py > /tmp/pytorch.jsonl
    python3 rnn-bench/pytorch_baseline.py --quick                # smoke test (tiny workload, 1 rep)
    python3 rnn-bench/pytorch_baseline.py --workloads M,L --cells Lstm --threads 1

This script is only used to produce the PyTorch comparison numbers in the README. PyTorch is
NOT a dependency of this project (do not add it to any manifest); install it yourself to run
this file.

It mirrors `cargo run --release -p rnn-bench -- --json` (rnn-bench/src/main.rs): float32,
time-major inputs [T, B, I] drawn uniformly from [-1, 1), one layer, zero initial state, and
the workloads S (B=16, T=64, I=32, H=64), M (B=64, T=100, I=256, H=256) and
L (B=64, T=100, I=512, H=512). Cells: torch.nn.RNN (tanh) as "RnnTanh", torch.nn.LSTM as
"Lstm", torch.nn.GRU as "GruTorch". Modes:

  * infer: forward only, under torch.inference_mode();
  * train: forward, then backward of (out * dY).sum() (dY = 0.01 everywhere) to every
    parameter and to the input; no optimizer step, gradients reset between repetitions.

Before the cells, the reference BLAS: the rate of torch.mm (MKL on x86-64 builds) in
float32 on the 1024x1024x1024 product and on the products of the workloads' LSTM (per step
[B, H] x [H, 4H], the hoisted input product [T*B, I] x [I, 4H], the weight gradient
[I, T*B] x [T*B, 4H]). The benchmark runner takes the fastest of these and of its own GEMM as
the rate of its FLOP bound:

    python3 rnn-bench/pytorch_baseline.py --out /tmp/reference.jsonl
    cargo run --release -p rnn-bench -- --reference /tmp/reference.jsonl

Thread counts are set with torch.set_num_threads(n) (inter-op threads fixed to 1). Each
measurement is the median of 7 timed runs (time.perf_counter) after 2 warm-up runs (GEMMs:
the best of 21 after 3, the rate the machine can reach).

Output, one JSON object per line, printed to stdout and written to --out (default
/tmp/pytorch_baseline.jsonl, replaced): first the machine and torch version
    {"impl":"pytorch","cpu":...,"torch_version":...,"mkldnn_available":...,...}
then one line per GEMM
    {"impl":"torch.mm","product":...,"m":...,"k":...,"n":...,"threads":n,"gflops":...}
and one per cell measurement
    {"impl":"pytorch","cell":...,"workload":...,"mode":...,"threads":n,"median_ms":...}
"""

import argparse
import json
import platform
import statistics
import time

import torch

OUT_PATH = "/tmp/pytorch_baseline.jsonl"

WORKLOADS = {
    # name: (batch, steps, input, hidden)
    "S": (16, 64, 32, 64),
    "M": (64, 100, 256, 256),
    "L": (64, 100, 512, 512),
    "tiny": (2, 3, 4, 5),
}

CELLS = {
    "RnnTanh": lambda i, h: torch.nn.RNN(i, h, num_layers=1, nonlinearity="tanh"),
    "Lstm": lambda i, h: torch.nn.LSTM(i, h, num_layers=1),
    "GruTorch": lambda i, h: torch.nn.GRU(i, h, num_layers=1),
}

MODES = ("infer", "train")


def median_ms(fn, warmups, reps):
    for _ in range(warmups):
        fn()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def cpu_model():
    """The `model name` of /proc/cpuinfo (as the runner prints it), or platform's guess."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def gemm_products(workloads):
    """The 1024^3 product and the LSTM products of each workload: (name, m, k, n)."""
    products = [("1024^3", 1024, 1024, 1024)]
    for w in workloads:
        batch, steps, inp, hidden = WORKLOADS[w]
        g = 4 * hidden
        products += [
            (f"{w} step", batch, hidden, g),
            (f"{w} hoisted", steps * batch, inp, g),
            (f"{w} weight grad", inp, steps * batch, g),
        ]
    return products


def gemm_gflops(m, k, n, warmups, reps):
    """The best of `reps` timed products: the rate the machine can reach (as the runner's)."""
    gen = torch.Generator().manual_seed(2)
    a = torch.rand(m, k, generator=gen, dtype=torch.float32)
    b = torch.rand(k, n, generator=gen, dtype=torch.float32)
    c = torch.empty(m, n, dtype=torch.float32)
    for _ in range(warmups):
        torch.mm(a, b, out=c)
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        torch.mm(a, b, out=c)
        best = min(best, time.perf_counter() - start)
    return 2.0 * m * k * n / best / 1e9


def bench(cell, workload, mode, warmups, reps):
    batch, steps, inp, hidden = WORKLOADS[workload]
    torch.manual_seed(0)
    model = CELLS[cell](inp, hidden).float()
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(steps, batch, inp, generator=gen, dtype=torch.float32) * 2.0 - 1.0
    d_out = torch.full((steps, batch, hidden), 0.01, dtype=torch.float32)

    if mode == "infer":
        model.eval()

        def step():
            with torch.inference_mode():
                out, _ = model(x)
            return out

    else:
        model.train()
        x.requires_grad_()
        params = list(model.parameters())

        def step():
            # Reset gradients (not a meaningful cost; kept inside so every rep is identical).
            for p in params:
                p.grad = None
            x.grad = None
            out, _ = model(x)
            (out * d_out).sum().backward()
            return out

    return median_ms(step, warmups, reps)


def csv_list(value):
    return [v for v in value.split(",") if v]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny workload, 1 rep (smoke test)")
    parser.add_argument("--workloads", type=csv_list, default=None, help="e.g. S,M,L")
    parser.add_argument("--cells", type=csv_list, default=None, help="e.g. RnnTanh,Lstm,GruTorch")
    parser.add_argument("--threads", type=csv_list, default=None, help="e.g. 1,2")
    parser.add_argument("--out", default=OUT_PATH, help=f"the JSON lines file (default {OUT_PATH})")
    parser.add_argument("--no-cells", action="store_true", help="the GEMM rates only")
    args = parser.parse_args()

    workloads = args.workloads or (["tiny"] if args.quick else ["S", "M", "L"])
    cells = args.cells or list(CELLS)
    threads = [int(t) for t in (args.threads or ["1", "2"])]
    warmups, reps = (1, 1) if args.quick else (2, 7)

    for w in workloads:
        if w not in WORKLOADS:
            parser.error(f"unknown workload {w!r} (known: {', '.join(WORKLOADS)})")
    for c in cells:
        if c not in CELLS:
            parser.error(f"unknown cell {c!r} (known: {', '.join(CELLS)})")

    torch.set_num_interop_threads(1)

    with open(args.out, "w") as out:

        def emit(record):
            line = json.dumps(record)
            print(line, flush=True)
            out.write(line + "\n")
            out.flush()

        emit(
            {
                "impl": "pytorch",
                "cpu": cpu_model(),
                "torch_version": torch.__version__,
                "blas": "mkl" if torch.backends.mkl.is_available() else "other",
                "mkldnn_available": torch.backends.mkldnn.is_available(),
                "mkldnn_enabled": bool(torch.backends.mkldnn.enabled),
                "interop_threads": torch.get_num_interop_threads(),
            }
        )
        gemm_warmups, gemm_reps = (1, 1) if args.quick else (3, 21)
        for n in threads:
            torch.set_num_threads(n)
            for name, m, k, n_cols in gemm_products(workloads):
                rate = gemm_gflops(m, k, n_cols, gemm_warmups, gemm_reps)
                emit(
                    {
                        "impl": "torch.mm",
                        "product": name,
                        "m": m,
                        "k": k,
                        "n": n_cols,
                        "threads": n,
                        "gflops": round(rate, 1),
                    }
                )
        for n in threads if not args.no_cells else []:
            torch.set_num_threads(n)
            for w in workloads:
                for cell in cells:
                    for mode in MODES:
                        ms = bench(cell, w, mode, warmups, reps)
                        emit(
                            {
                                "impl": "pytorch",
                                "cell": cell,
                                "workload": w,
                                "mode": mode,
                                "threads": n,
                                "median_ms": round(ms, 3),
                            }
                        )


if __name__ == "__main__":
    main()
