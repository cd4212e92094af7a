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

Thread counts are set with torch.set_num_threads(n) (inter-op threads fixed to 1). Each
measurement is the median of 7 timed runs (time.perf_counter) after 2 warm-up runs.

Output: a first JSON line with the torch version and whether MKLDNN/oneDNN is available, then
one line per measurement
    {"impl":"pytorch","cell":...,"workload":...,"mode":...,"threads":n,"median_ms":...}
printed to stdout and also appended to /tmp/pytorch_baseline.jsonl.
"""

import argparse
import json
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

    with open(OUT_PATH, "a") as out:

        def emit(record):
            line = json.dumps(record)
            print(line, flush=True)
            out.write(line + "\n")
            out.flush()

        emit(
            {
                "impl": "pytorch",
                "torch_version": torch.__version__,
                "mkldnn_available": torch.backends.mkldnn.is_available(),
                "mkldnn_enabled": bool(torch.backends.mkldnn.enabled),
                "interop_threads": torch.get_num_interop_threads(),
            }
        )
        for n in threads:
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
