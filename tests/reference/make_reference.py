#!/usr/bin/env python3
"""Writes the PyTorch reference files read by `tests/pytorch_reference.rs`.

Run from the repository root:

    python3 tests/reference/make_reference.py

CI never runs this script; it only reads the JSON files it writes next to itself
(`tests/reference/<case>.json`). Everything is float64 and seeded, so regenerating gives the same
files (up to changes in PyTorch's random number generator or kernels).

Each file holds, for one cell:
  dims            {"T", "B", "I", "H"}
  lengths         per-example lengths [B] (unsorted, each >= 1)
  x               input [T, B, I]
  h0 (c0)         initial states [B, H]
  dY, dH (dC)     fixed cotangents: L = sum(dY * Y) + sum(dH * h_n) (+ sum(dC * c_n))
  params          the parameters, by PyTorch's names and in PyTorch's layout
                  (for the hand-written textbook GRU: by our names, in our [in, out] layout)
  Y               outputs [T, B, H], zero after each example's length
  h_n (c_n)       states at each example's last step [B, H]
  grads           dL/d(every parameter), by the names of `params`, plus "x", "h0" (and "c0")

The built-in PyTorch modules run on packed sequences (`pack_padded_sequence(...,
enforce_sorted=False)` / `pad_packed_sequence(..., total_length=T)`); the textbook GRU (Cho et
al. 2014), which PyTorch lacks, is written here step by step with the same length masking.
"""

import json
import os

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

SEED = 20240601
T, B, I, H = 5, 3, 3, 4
LENGTHS = [3, 5, 1]  # unsorted on purpose; PyTorch packed sequences need every length >= 1
OUT_DIR = os.path.dirname(os.path.abspath(__file__))

torch.set_default_dtype(torch.float64)


def tolist(t):
    return t.detach().cpu().tolist()


def randn(*shape, std=1.0):
    return torch.randn(*shape) * std


def common_inputs(lstm=False):
    """x, h0 (c0) and the cotangents, in a fixed draw order."""
    data = {
        "x": randn(T, B, I),
        "h0": randn(B, H, std=0.5),
    }
    if lstm:
        data["c0"] = randn(B, H, std=0.5)
    data["dY"] = randn(T, B, H)
    data["dH"] = randn(B, H)
    if lstm:
        data["dC"] = randn(B, H)
    for k in ("x", "h0", "c0"):
        if k in data:
            data[k].requires_grad_(True)
    return data


def run_module(module, lstm):
    """Runs a PyTorch recurrent module on packed sequences; returns the case's record."""
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(randn(*p.shape, std=0.5))
    d = common_inputs(lstm)
    lengths = torch.tensor(LENGTHS, dtype=torch.int64)
    packed = pack_padded_sequence(d["x"], lengths, enforce_sorted=False)
    if lstm:
        out, (h_n, c_n) = module(packed, (d["h0"].unsqueeze(0), d["c0"].unsqueeze(0)))
        c_n = c_n.squeeze(0)
    else:
        out, h_n = module(packed, d["h0"].unsqueeze(0))
    h_n = h_n.squeeze(0)
    y, _ = pad_packed_sequence(out, total_length=T)
    loss = (d["dY"] * y).sum() + (d["dH"] * h_n).sum()
    if lstm:
        loss = loss + (d["dC"] * c_n).sum()
    names = [n for n, _ in module.named_parameters()]
    leaves = [p for _, p in module.named_parameters()]
    state_names = ["x", "h0"] + (["c0"] if lstm else [])
    grads = torch.autograd.grad(loss, leaves + [d[k] for k in state_names])
    record = {
        "params": {n: tolist(p) for n, p in zip(names, leaves)},
        "Y": tolist(y),
        "h_n": tolist(h_n),
        "grads": {n: tolist(g) for n, g in zip(names + state_names, grads)},
    }
    if lstm:
        record["c_n"] = tolist(c_n)
    return d, record


def run_textbook_gru():
    """The textbook GRU of specs/gru.rnn (Cho et al. 2014), by hand, with length masking."""
    names = ["W_xr", "W_xz", "W_xh", "W_hr", "W_hz", "W_hh", "b_r", "b_z", "b_h"]
    shapes = [(I, H)] * 3 + [(H, H)] * 3 + [(H,)] * 3
    p = {n: randn(*s, std=0.5).requires_grad_(True) for n, s in zip(names, shapes)}
    d = common_inputs(lstm=False)
    x = d["x"]
    h = d["h0"]
    lengths = torch.tensor(LENGTHS, dtype=torch.int64)
    ys = []
    for t in range(T):
        xt = x[t]
        r = torch.sigmoid(xt @ p["W_xr"] + h @ p["W_hr"] + p["b_r"])
        z = torch.sigmoid(xt @ p["W_xz"] + h @ p["W_hz"] + p["b_z"])
        h_tilde = torch.tanh(xt @ p["W_xh"] + (r * h) @ p["W_hh"] + p["b_h"])
        h_new = z * h + (1 - z) * h_tilde
        alive = (t < lengths).unsqueeze(1)  # [B, 1]
        ys.append(torch.where(alive, h_new, torch.zeros_like(h_new)))
        h = torch.where(alive, h_new, h)
    y = torch.stack(ys)
    h_n = h
    loss = (d["dY"] * y).sum() + (d["dH"] * h_n).sum()
    grads = torch.autograd.grad(loss, [p[n] for n in names] + [d["x"], d["h0"]])
    record = {
        "params": {n: tolist(p[n]) for n in names},
        "Y": tolist(y),
        "h_n": tolist(h_n),
        "grads": {n: tolist(g) for n, g in zip(names + ["x", "h0"], grads)},
    }
    return d, record


def write(case, description, d, record):
    out = {
        "case": case,
        "description": description,
        "generator": "tests/reference/make_reference.py",
        "torch_version": torch.__version__,
        "seed": SEED,
        "dims": {"T": T, "B": B, "I": I, "H": H},
        "lengths": LENGTHS,
    }
    for k in ("x", "h0", "c0", "dY", "dH", "dC"):
        if k in d:
            out[k] = tolist(d[k])
    out.update(record)
    # One top-level key (and one parameter / gradient) per line; floats keep full precision
    # (Python's repr round-trips every float64).
    lines = []
    for k, v in out.items():
        if isinstance(v, dict) and k in ("params", "grads"):
            inner = ",\n".join(f"    {json.dumps(n)}: {json.dumps(a)}" for n, a in v.items())
            lines.append(f"  {json.dumps(k)}: {{\n{inner}\n  }}")
        else:
            lines.append(f"  {json.dumps(k)}: {json.dumps(v)}")
    path = os.path.join(OUT_DIR, f"{case}.json")
    with open(path, "w") as f:
        f.write("{\n" + ",\n".join(lines) + "\n}\n")
    print(f"wrote {os.path.relpath(path)} ({os.path.getsize(path)} bytes)")


def main():
    cases = [
        ("rnn_tanh", "torch.nn.RNN(nonlinearity='tanh') vs recurrent::cells::RnnTanh",
         lambda: run_module(nn.RNN(I, H, nonlinearity="tanh"), lstm=False)),
        ("rnn_relu", "torch.nn.RNN(nonlinearity='relu') vs recurrent::cells::RnnRelu",
         lambda: run_module(nn.RNN(I, H, nonlinearity="relu"), lstm=False)),
        ("lstm", "torch.nn.LSTM vs recurrent::cells::Lstm",
         lambda: run_module(nn.LSTM(I, H), lstm=True)),
        ("gru_torch", "torch.nn.GRU vs recurrent::cells::GruTorch",
         lambda: run_module(nn.GRU(I, H), lstm=False)),
        ("gru", "textbook GRU (Cho et al. 2014) in torch ops vs recurrent::cells::Gru",
         run_textbook_gru),
    ]
    for i, (case, description, run) in enumerate(cases):
        # One seed per case, so that each file is independent of the others.
        torch.manual_seed(SEED + i)
        d, record = run()
        write(case, description, d, record)


if __name__ == "__main__":
    main()
