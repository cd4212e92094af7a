#!/usr/bin/env python3
"""Writes the PyTorch state_dict fixtures read by `tests/torch_interop.rs`, and checks that
PyTorch accepts the state_dicts our export writes.

Run from the repository root:

    python3 tests/reference/make_torch_state_dict.py            # (re)write the fixtures
    python3 tests/reference/make_torch_state_dict.py --verify DIR

CI never runs this script (it needs torch and safetensors); it only reads the files it writes
into `tests/reference/torch/`:

  <case>.f32.safetensors   the module's state_dict, `safetensors.torch.save_file`, float32
  <case>.f64.safetensors   the same values widened to float64
  outputs.json             per case: the module's arguments, the input x [T, B, I] and, in
                           float64, PyTorch's `output` [T, B, D*H], `h_n` [L*D, B, H] (and `c_n`)
                           from zero initial states

The parameters are drawn in float32 and the float64 copy widens them, so both files hold the same
values; x is float32-representable too, and the reference outputs are computed in float64.

`--verify DIR` loads each `DIR/<case>.safetensors` written by the Rust test
`torch_export_for_python_check` (run with RNN_TORCH_EXPORT_DIR=DIR) into a fresh module with
`load_state_dict(..., strict=True)`, runs it on the fixture's input and compares with the
fixture's outputs.
"""

import json
import os
import sys

import torch
from torch import nn
from safetensors.torch import load_file, save_file

SEED = 20240615
T, B, I, H = 5, 2, 3, 4
OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch")

# name -> (constructor, keyword arguments); every module is batch_first=False (time-major).
CASES = {
    "rnn_tanh": (nn.RNN, dict(input_size=I, hidden_size=H, nonlinearity="tanh")),
    "rnn_relu": (nn.RNN, dict(input_size=I, hidden_size=H, nonlinearity="relu")),
    "rnn_tanh_nobias": (nn.RNN, dict(input_size=I, hidden_size=H, nonlinearity="tanh",
                                     bias=False)),
    "lstm": (nn.LSTM, dict(input_size=I, hidden_size=H, num_layers=2, bidirectional=True)),
    "gru": (nn.GRU, dict(input_size=I, hidden_size=H)),
}


def build(case, dtype):
    ctor, kwargs = CASES[case]
    return ctor(**kwargs).to(dtype)


def run(module, x):
    with torch.no_grad():
        out = module(x)
    if isinstance(module, nn.LSTM):
        output, (h_n, c_n) = out
        return {"output": output, "h_n": h_n, "c_n": c_n}
    output, h_n = out
    return {"output": output, "h_n": h_n}


def tolist(t):
    return t.detach().cpu().tolist()


def generate():
    os.makedirs(OUT_DIR, exist_ok=True)
    doc = {
        "generator": "tests/reference/make_torch_state_dict.py",
        "torch_version": torch.__version__,
        "seed": SEED,
        "dims": {"T": T, "B": B, "I": I, "H": H},
        "cases": {},
    }
    for k, case in enumerate(CASES):
        torch.manual_seed(SEED + k)
        module = build(case, torch.float32)
        with torch.no_grad():
            for p in module.parameters():
                p.copy_(torch.randn(p.shape) * 0.5)
        x32 = torch.randn(T, B, I)
        state32 = {n: t.contiguous() for n, t in module.state_dict().items()}
        save_file(state32, os.path.join(OUT_DIR, f"{case}.f32.safetensors"))
        module64 = module.double()
        state64 = {n: t.contiguous() for n, t in module64.state_dict().items()}
        save_file(state64, os.path.join(OUT_DIR, f"{case}.f64.safetensors"))
        outputs = run(module64, x32.double())
        _, kwargs = CASES[case]
        doc["cases"][case] = {
            "module": CASES[case][0].__name__,
            "kwargs": kwargs,
            "keys": list(state64),
            "x": tolist(x32.double()),
            **{n: tolist(v) for n, v in outputs.items()},
        }
    path = os.path.join(OUT_DIR, "outputs.json")
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    for name in sorted(os.listdir(OUT_DIR)):
        p = os.path.join(OUT_DIR, name)
        print(f"wrote {os.path.relpath(p)} ({os.path.getsize(p)} bytes)")


def verify(export_dir):
    with open(os.path.join(OUT_DIR, "outputs.json")) as f:
        doc = json.load(f)
    failures = 0
    for case, ref in doc["cases"].items():
        path = os.path.join(export_dir, f"{case}.safetensors")
        if not os.path.exists(path):
            print(f"{case}: no {path}, skipped")
            continue
        module = build(case, torch.float64)
        state = load_file(path)
        result = module.load_state_dict(state, strict=True)  # raises on missing/extra keys
        outputs = run(module, torch.tensor(ref["x"], dtype=torch.float64))
        worst = max(
            (outputs[k] - torch.tensor(ref[k], dtype=torch.float64)).abs().max().item()
            for k in outputs
        )
        dtypes = sorted({str(t.dtype) for t in state.values()})
        ok = worst < 1e-6
        failures += not ok
        print(f"{case}: load_state_dict(strict=True) {result}; {len(state)} tensors {dtypes}; "
              f"max |torch(exported) - reference| = {worst:.3e} {'ok' if ok else 'FAIL'}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--verify":
        verify(sys.argv[2])
    elif len(sys.argv) == 1:
        generate()
    else:
        sys.exit(__doc__)
