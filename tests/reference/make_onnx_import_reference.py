#!/usr/bin/env python3
"""Writes the reference files for the ONNX importer: models exported by `torch.onnx.export` from
`nn.LSTM`, `nn.GRU` and `nn.RNN`, and onnxruntime's outputs for fixed inputs.

Run from the repository root (needs torch, onnx, onnxruntime and numpy):

    python3 tests/reference/make_onnx_import_reference.py

CI never runs this script; it only reads the files it writes into `tests/reference/onnx_import/`:

  <case>.onnx   the exported model (float32, weights inside the file)
  <case>.json   the inputs fed to onnxruntime and its outputs, plus a description of the graph

Each model is a wrapper whose forward takes the input and the initial states and returns the
module's outputs: forward(x, h0[, c0]) -> (output, h_n[, c_n]). It is exported with the
TorchScript-based exporter (`dynamo=False`), opset 17, graph inputs named "x", "h0" (and "c0"),
outputs "output", "h_n" (and "c_n"), and dynamic axes "T" (sequence length) and "B" (batch) on x
and output, "B" on the states. That exporter emits one ONNX `LSTM` / `GRU` / `RNN` node per layer
(both directions in one node when bidirectional); the script checks this (no Loop, Scan or
unrolled graph) and fails otherwise. The weights of the module are torch's default
initialization, seeded. It also checks that every node's W, R and B are initializers holding
torch's weights with the gate blocks reordered (LSTM torch i,f,g,o -> ONNX i,o,f,c; GRU torch
r,z,n -> ONNX z,r,h) and B = concat(bias_ih, bias_hh) per direction (forward, then reverse).

The model is exported at T_EXPORT, B_EXPORT and run at T_RUN, B_RUN (different on purpose, so the
dynamic axes are exercised) with nonzero initial states. The script asserts that onnxruntime and
PyTorch (the module itself, float32) agree to TOL on every output.

Each JSON file holds:
  case, description, generator, versions, seed, opset
  module, kwargs    the PyTorch module and its constructor's arguments
  model             the ONNX file's name (next to the JSON)
  layout            "batch_first" ([B, T, I]) or "time_major" ([T, B, I]), and batch_first
  dims              {"T", "B", "I", "H", "num_layers", "num_directions"} of the run
  export_dims       {"T", "B"} used when exporting
  graph_inputs      [{"name", "shape"}] of the ONNX graph (symbolic dims as "T" / "B")
  graph_outputs     [{"name", "shape"}]
  inputs            by graph input name: x, h0 [L*D, B, H] (, c0) as fed to onnxruntime
  outputs           by graph output name: onnxruntime's outputs
  max_abs_diff_vs_torch   max |onnxruntime - PyTorch| over all outputs
  op_counts         node types of the graph and how many of each
  rnn_nodes         the LSTM/GRU/RNN nodes: name, attributes as stored, the ONNX defaults of the
                    attributes direction / hidden_size / layout / linear_before_reset / activations
                    where absent ("attributes_effective"), and each input slot (X, W, R, B,
                    sequence_lens, initial_h, initial_c, P) with its tensor name and where it
                    comes from: "graph_input", "initializer" (with shape), "constant" (a Constant
                    node), "node" (with the producing op type), or "absent" (empty name)
  nodes             every node in graph order: op_type, name, inputs, outputs, attributes
                    (a Constant's value is listed when it has at most 16 elements)
  initializers      name, dtype and shape of every initializer
  torch_state_dict  the module's parameters, by PyTorch's names and in PyTorch's layout (for
                    checking a mapping of the ONNX weights back to PyTorch's gate order)

Floats are written at full precision (the float64 repr of each float32 value), so parsing them as
f32 or as f64 gives the exact values fed to / returned by onnxruntime. Everything is seeded;
regenerating gives the same files (up to changes in torch's random number generator, kernels or
exporter).
"""

import hashlib
import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import numpy_helper
from torch import nn

SEED = 20240701
OPSET = 17
I = 3
T_EXPORT, B_EXPORT = 5, 2
T_RUN, B_RUN = 7, 3
TOL = 1e-5
OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "onnx_import")
RNN_OPS = ("LSTM", "GRU", "RNN")

# name -> (description, constructor, keyword arguments)
CASES = {
    "lstm_1l": ("nn.LSTM, 1 layer, unidirectional, time-major",
                nn.LSTM, dict(input_size=I, hidden_size=4)),
    "lstm_2l_bidir": ("nn.LSTM, 2 layers, bidirectional, time-major",
                      nn.LSTM, dict(input_size=I, hidden_size=4, num_layers=2,
                                    bidirectional=True)),
    "lstm_1l_batch_first": ("nn.LSTM, 1 layer, unidirectional, batch_first=True",
                            nn.LSTM, dict(input_size=I, hidden_size=4, batch_first=True)),
    "gru_1l": ("nn.GRU, 1 layer, unidirectional, time-major",
               nn.GRU, dict(input_size=I, hidden_size=5)),
    "gru_2l_bidir_batch_first": ("nn.GRU, 2 layers, bidirectional, batch_first=True",
                                 nn.GRU, dict(input_size=I, hidden_size=5, num_layers=2,
                                              bidirectional=True, batch_first=True)),
    "rnn_tanh_1l": ("nn.RNN(nonlinearity='tanh'), 1 layer, unidirectional, time-major",
                    nn.RNN, dict(input_size=I, hidden_size=4, nonlinearity="tanh")),
    "rnn_relu_1l_bidir": ("nn.RNN(nonlinearity='relu'), 1 layer, bidirectional, time-major",
                          nn.RNN, dict(input_size=I, hidden_size=4, nonlinearity="relu",
                                       bidirectional=True)),
}

# The input slots of the ONNX recurrent operators (opset 14+), in order.
SLOTS = {
    "LSTM": ["X", "W", "R", "B", "sequence_lens", "initial_h", "initial_c", "P"],
    "GRU": ["X", "W", "R", "B", "sequence_lens", "initial_h"],
    "RNN": ["X", "W", "R", "B", "sequence_lens", "initial_h"],
}
# ONNX defaults of the attributes the importer cares about (activations: per direction).
DEFAULT_ACTIVATIONS = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"],
                       "RNN": ["Tanh"]}


class LstmWrapper(nn.Module):
    def __init__(self, rnn):
        super().__init__()
        self.rnn = rnn

    def forward(self, x, h0, c0):
        output, (h_n, c_n) = self.rnn(x, (h0, c0))
        return output, h_n, c_n


class Wrapper(nn.Module):
    def __init__(self, rnn):
        super().__init__()
        self.rnn = rnn

    def forward(self, x, h0):
        output, h_n = self.rnn(x, h0)
        return output, h_n


def f32_list(a):
    """float32 array -> nested lists of Python floats (exact: float32 widens to float64)."""
    return np.asarray(a, dtype=np.float32).astype(np.float64).tolist()


def make_inputs(module, lstm, T, B):
    """x and the initial states (as graph inputs), float32, in a fixed draw order."""
    D = 2 if module.bidirectional else 1
    L, H = module.num_layers, module.hidden_size
    x = torch.randn(B, T, I) if module.batch_first else torch.randn(T, B, I)
    feeds = {"x": x, "h0": torch.randn(L * D, B, H) * 0.5}
    if lstm:
        feeds["c0"] = torch.randn(L * D, B, H) * 0.5
    return feeds


def shape_of(value_info):
    dims = []
    for d in value_info.type.tensor_type.shape.dim:
        dims.append(d.dim_param if d.HasField("dim_param") else d.dim_value)
    return dims


def attr_value(a):
    v = onnx.helper.get_attribute_value(a)
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, list):
        return [x.decode() if isinstance(x, bytes) else x for x in v]
    if isinstance(v, onnx.TensorProto):
        arr = numpy_helper.to_array(v)
        out = {"dtype": str(arr.dtype), "shape": list(arr.shape)}
        if arr.size <= 16:
            out["value"] = arr.tolist()
        return out
    return v


def describe_graph(model):
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    graph_inputs = {i.name for i in g.input}
    producers = {}
    nodes = []
    for n in g.node:
        for o in n.output:
            producers[o] = n
        nodes.append({
            "op_type": n.op_type,
            "name": n.name,
            "inputs": list(n.input),
            "outputs": list(n.output),
            "attributes": {a.name: attr_value(a) for a in n.attribute},
        })

    def source(name):
        if name == "":
            return {"source": "absent"}
        if name in graph_inputs:
            return {"source": "graph_input"}
        if name in inits:
            return {"source": "initializer", "shape": list(inits[name].dims)}
        p = producers.get(name)
        if p is None:
            return {"source": "unknown"}
        if p.op_type == "Constant":
            return {"source": "constant", "node": p.name}
        return {"source": "node", "op_type": p.op_type, "node": p.name}

    rnn_nodes = []
    for n in g.node:
        if n.op_type not in RNN_OPS:
            continue
        attrs = {a.name: attr_value(a) for a in n.attribute}
        direction = attrs.get("direction", "forward")
        ndir = 2 if direction == "bidirectional" else 1
        effective = {
            "direction": direction,
            "hidden_size": attrs.get("hidden_size"),
            "layout": attrs.get("layout", 0),
            "activations": attrs.get("activations", DEFAULT_ACTIVATIONS[n.op_type] * ndir),
        }
        if n.op_type == "GRU":
            effective["linear_before_reset"] = attrs.get("linear_before_reset", 0)
        if n.op_type == "LSTM":
            effective["input_forget"] = attrs.get("input_forget", 0)
        slots = []
        for k, slot in enumerate(SLOTS[n.op_type]):
            name = n.input[k] if k < len(n.input) else ""
            slots.append({"slot": slot, "name": name, **source(name)})
        rnn_nodes.append({
            "op_type": n.op_type,
            "name": n.name,
            "attributes": attrs,
            "attributes_effective": effective,
            "inputs": slots,
            "outputs": list(n.output),
        })
    op_counts = {}
    for n in g.node:
        op_counts[n.op_type] = op_counts.get(n.op_type, 0) + 1
    initializers = [{"name": t.name,
                     "dtype": onnx.helper.tensor_dtype_to_np_dtype(t.data_type).name,
                     "shape": list(t.dims)} for t in g.initializer]
    return {
        "graph_inputs": [{"name": i.name, "shape": shape_of(i)} for i in g.input],
        "graph_outputs": [{"name": o.name, "shape": shape_of(o)} for o in g.output],
        "op_counts": op_counts,
        "rnn_nodes": rnn_nodes,
        "nodes": nodes,
        "initializers": initializers,
    }


def check_structure(case, model, module, info):
    """Fails unless the graph holds one ONNX LSTM/GRU/RNN node per layer and no loop."""
    expected = {nn.LSTM: "LSTM", nn.GRU: "GRU", nn.RNN: "RNN"}[type(module)]
    counts = info["op_counts"]
    problems = []
    if counts.get(expected, 0) != module.num_layers:
        problems.append(f"expected {module.num_layers} {expected} node(s), found "
                        f"{counts.get(expected, 0)}")
    for op in ("Loop", "Scan", "If"):
        if op in counts:
            problems.append(f"unexpected {op} node(s)")
    others = [op for op in RNN_OPS if op != expected and op in counts]
    if others:
        problems.append(f"unexpected {others} node(s)")
    # an unrolled cell would show one MatMul/Gemm per step at least
    if counts.get("MatMul", 0) + counts.get("Gemm", 0) > 0:
        problems.append("MatMul/Gemm nodes: the recurrence looks unrolled")
    if problems:
        sys.exit(f"{case}: exported graph is not the expected one: {'; '.join(problems)}; "
                 f"node types: {counts}")


# ONNX gate order as blocks of torch's: LSTM torch (i, f, g, o) -> ONNX (i, o, f, c);
# GRU torch (r, z, n) -> ONNX (z, r, h); RNN has one block.
GATE_PERM = {"LSTM": [0, 3, 1, 2], "GRU": [1, 0, 2], "RNN": [0]}


def check_weight_mapping(case, model, module, info):
    """Asserts that each node's W, R, B initializers are torch's weights with the gate blocks
    reordered: W[d] = weight_ih_l{k}{sfx}, R[d] = weight_hh_l{k}{sfx}, B[d] = concat(b_ih, b_hh)
    (sfx "" for the forward direction d = 0, "_reverse" for d = 1)."""
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    sd = {n: p.detach().numpy() for n, p in module.state_dict().items()}
    H = module.hidden_size
    for layer, node in enumerate(info["rnn_nodes"]):
        perm = GATE_PERM[node["op_type"]]
        slot = {s["slot"]: s["name"] for s in node["inputs"]}

        def reorder(a):  # [G*H, ...] torch order -> ONNX order
            return np.concatenate([a[g * H:(g + 1) * H] for g in perm], axis=0)

        for d, sfx in enumerate(["", "_reverse"][:2 if module.bidirectional else 1]):
            w = reorder(sd[f"weight_ih_l{layer}{sfx}"])
            r = reorder(sd[f"weight_hh_l{layer}{sfx}"])
            b = np.concatenate([reorder(sd[f"bias_ih_l{layer}{sfx}"]),
                                reorder(sd[f"bias_hh_l{layer}{sfx}"])])
            for name, want in (("W", w), ("R", r), ("B", b)):
                got = inits[slot[name]][d]
                if got.shape != want.shape or not np.array_equal(got, want):
                    sys.exit(f"{case}: {node['name']} {name}[{d}] is not torch's weights in "
                             f"ONNX gate order")


def export(case, wrapper, module, lstm, path):
    feeds = make_inputs(module, lstm, T_EXPORT, B_EXPORT)
    names = ["x", "h0"] + (["c0"] if lstm else [])
    out_names = ["output", "h_n"] + (["c_n"] if lstm else [])
    seq = {0: "B", 1: "T"} if module.batch_first else {0: "T", 1: "B"}
    dynamic_axes = {"x": seq, "output": seq}
    for n in names[1:] + out_names[1:]:
        dynamic_axes[n] = {1: "B"}
    kwargs = dict(opset_version=OPSET, input_names=names, output_names=out_names,
                  dynamic_axes=dynamic_axes, do_constant_folding=True)
    try:
        torch.onnx.export(wrapper, tuple(feeds[n] for n in names), path, dynamo=False, **kwargs)
    except TypeError:  # a torch too old to know `dynamo` uses the TorchScript exporter anyway
        torch.onnx.export(wrapper, tuple(feeds[n] for n in names), path, **kwargs)


def write_json(path, doc):
    # One top-level key per line (nested dicts one entry per line); floats at full precision.
    def dump(k, v, indent):
        pad = " " * indent
        if isinstance(v, dict) and k in ("inputs", "outputs", "torch_state_dict", "dims",
                                         "export_dims", "op_counts", "kwargs"):
            inner = ",\n".join(f"{pad}  {json.dumps(n)}: {json.dumps(a)}" for n, a in v.items())
            return f"{pad}{json.dumps(k)}: {{\n{inner}\n{pad}}}"
        if isinstance(v, list) and k in ("rnn_nodes", "nodes", "initializers", "graph_inputs",
                                         "graph_outputs"):
            inner = ",\n".join(f"{pad}  {json.dumps(a)}" for a in v)
            return f"{pad}{json.dumps(k)}: [\n{inner}\n{pad}]"
        return f"{pad}{json.dumps(k)}: {json.dumps(v)}"

    with open(path, "w") as f:
        f.write("{\n" + ",\n".join(dump(k, v, 2) for k, v in doc.items()) + "\n}\n")


def run_case(index, case):
    description, ctor, kwargs = CASES[case]
    torch.manual_seed(SEED + index)
    module = ctor(**kwargs).float().eval()  # torch's default initialization, seeded
    lstm = isinstance(module, nn.LSTM)
    wrapper = (LstmWrapper(module) if lstm else Wrapper(module)).eval()

    onnx_path = os.path.join(OUT_DIR, f"{case}.onnx")
    export(case, wrapper, module, lstm, onnx_path)
    model = onnx.load(onnx_path)
    onnx.checker.check_model(model, full_check=True)
    info = describe_graph(model)
    check_structure(case, model, module, info)
    check_weight_mapping(case, model, module, info)

    feeds = make_inputs(module, lstm, T_RUN, B_RUN)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(onnx_path, opts, providers=["CPUExecutionProvider"])
    in_names = [i.name for i in sess.get_inputs()]
    assert in_names == list(feeds), (case, in_names)
    ort_out = sess.run(None, {n: feeds[n].numpy() for n in in_names})
    out_names = [o.name for o in sess.get_outputs()]

    with torch.no_grad():
        torch_out = wrapper(*(feeds[n] for n in in_names))
    worst = 0.0
    for name, a, b in zip(out_names, ort_out, torch_out):
        assert a.shape == tuple(b.shape), (case, name, a.shape, tuple(b.shape))
        worst = max(worst, float(np.abs(a - b.numpy()).max()))
    if not worst <= TOL:
        sys.exit(f"{case}: onnxruntime and PyTorch differ by {worst:.3e} > {TOL}")

    D = 2 if module.bidirectional else 1
    doc = {
        "case": case,
        "description": description,
        "generator": "tests/reference/make_onnx_import_reference.py",
        "torch_version": torch.__version__,
        "onnx_version": onnx.__version__,
        "onnxruntime_version": ort.__version__,
        "exporter": "torch.onnx.export(dynamo=False) (TorchScript-based)",
        "opset": OPSET,
        "seed": SEED + index,
        "module": ctor.__name__,
        "kwargs": kwargs,
        "model": os.path.basename(onnx_path),
        "layout": "batch_first" if module.batch_first else "time_major",
        "batch_first": module.batch_first,
        "dims": {"T": T_RUN, "B": B_RUN, "I": I, "H": module.hidden_size,
                 "num_layers": module.num_layers, "num_directions": D},
        "export_dims": {"T": T_EXPORT, "B": B_EXPORT},
        "graph_inputs": info["graph_inputs"],
        "graph_outputs": info["graph_outputs"],
        "inputs": {n: f32_list(feeds[n].numpy()) for n in in_names},
        "outputs": {n: f32_list(a) for n, a in zip(out_names, ort_out)},
        "max_abs_diff_vs_torch": worst,
        "op_counts": info["op_counts"],
        "rnn_nodes": info["rnn_nodes"],
        "nodes": info["nodes"],
        "initializers": info["initializers"],
        "torch_state_dict": {n: f32_list(p.detach().numpy())
                             for n, p in module.state_dict().items()},
    }
    json_path = os.path.join(OUT_DIR, f"{case}.json")
    write_json(json_path, doc)

    print(f"{case}: node types {info['op_counts']}")
    for r in info["rnn_nodes"]:
        srcs = ", ".join(f"{s['slot']}={s['source']}" + (f"({s['op_type']})" if "op_type" in s
                                                        else "")
                         for s in r["inputs"])
        print(f"  {r['op_type']} {r['name']} {r['attributes']}: {srcs}")
    print(f"  max |onnxruntime - torch| = {worst:.3e} at T={T_RUN}, B={B_RUN}")
    for p in (onnx_path, json_path):
        with open(p, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()[:12]
        print(f"  wrote {os.path.relpath(p)} ({os.path.getsize(p)} bytes, sha256 {digest})")


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    for index, case in enumerate(CASES):
        run_case(index, case)
    total = sum(os.path.getsize(os.path.join(OUT_DIR, n)) for n in os.listdir(OUT_DIR))
    print(f"total size of {os.path.relpath(OUT_DIR)}: {total} bytes")


if __name__ == "__main__":
    main()
