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

Hand-built cases (`onnx_*`): forms of the operators that PyTorch never writes (LSTM peepholes
`P`, LSTM `input_forget = 1`, GRU `linear_before_reset = 0`, `direction = "reverse"`, LSTM
`layout = 1`), built with `onnx.helper` (opset 17, IR version 8): one recurrent node with seeded
random weights (W, R, B uniform in +-1/sqrt(H), P uniform in +-1; both halves of B nonzero), the
graph inputs x, h0 (and c0) fed directly as X, initial_h (and initial_c), and the outputs
  output  Y as torch lays it out: [T, B, D*H] (D = 1: Squeeze axis 1; D = 2: Transpose
          perm [0, 2, 1, 3] and Reshape [0, 0, -1])
  h_n     Y_h [D, B, H]  (c_n: Y_c)
`layout = 1` (X [B, T, I], Y [B, T, D, H], initial_h / Y_h [B, D, H]): the graph's x is
batch-first and `batch_first` is true; output is [B, T, D*H] (Squeeze axis 2 for D = 1), and the
states keep the convention of the other cases, [D, B, H]: h0 / c0 go through a Transpose
perm [1, 0, 2] into initial_h / initial_c and Y_h / Y_c through one into h_n / c_n (the JSON says
so under "conventions"). onnxruntime's CPU LSTM refuses `layout = 1` ("Batchwise recurrent
operations (layout == 1) are not supported"), so for that case the outputs are onnxruntime's on a
twin graph with the same node and weights at `layout = 0` (x through a Transpose into X, Y
squeezed and transposed back to batch-first), which the stored layout-1 graph must reproduce in
onnx's ReferenceEvaluator (it implements layout 1) to TOL as well. Every hand-built case is run at
T_RUN, B_RUN with nonzero initial states and its outputs are checked to TOL against an
independent float64 numpy implementation of the operator's equations from the ONNX spec (gate
orders i,o,f,c / z,r,h; B = [Wb; Rb]; peepholes i,o,f with o seeing the new c; input_forget:
f = 1 - i; reverse: t = T-1 .. 0, Y in input time order). Their JSON files have the same keys as
above where they apply ("module" is "onnx.helper", "kwargs" the node's attributes; no
torch_state_dict, and "onnx_weights" holds W, R, B (and P) as in the model, "max_abs_diff_vs_numpy"
the check).

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
                                         "export_dims", "op_counts", "kwargs",
                                         "onnx_weights", "conventions"):
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


# Hand-built models (onnx.helper): forms of the operators that torch.onnx.export never writes.
# name -> (description, op, hidden size, node attributes, with peepholes P)
ONNX_CASES = {
    "onnx_lstm_peephole": ("ONNX LSTM with peepholes P, forward (hand-built)",
                           "LSTM", 4, {}, True),
    "onnx_lstm_input_forget": ("ONNX LSTM with input_forget=1 (f = 1 - i), forward, no P "
                               "(hand-built)", "LSTM", 4, {"input_forget": 1}, False),
    "onnx_gru_lbr0_reverse": ("ONNX GRU with linear_before_reset=0, direction=reverse "
                              "(hand-built)", "GRU", 5,
                              {"linear_before_reset": 0, "direction": "reverse"}, False),
    "onnx_lstm_layout1": ("ONNX LSTM with layout=1 (batch-first X, Y, states), forward "
                          "(hand-built)", "LSTM", 4, {"layout": 1}, False),
}
GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


def make_onnx_weights(rng, op, H, D, peepholes):
    """W [D, G*H, I], R [D, G*H, H], B [D, 2*G*H] uniform in +-1/sqrt(H), P [D, 3*H] in +-1."""
    G, k = GATES[op], 1.0 / np.sqrt(H)
    weights = {
        "W": rng.uniform(-k, k, (D, G * H, I)).astype(np.float32),
        "R": rng.uniform(-k, k, (D, G * H, H)).astype(np.float32),
        "B": rng.uniform(-k, k, (D, 2 * G * H)).astype(np.float32),
    }
    if peepholes:
        weights["P"] = rng.uniform(-1.0, 1.0, (D, 3 * H)).astype(np.float32)
    return weights


def build_onnx_model(op, H, D, attrs, weights, layout, batch_first):
    """One `op` node; graph inputs x ([B, T, I] if batch_first else [T, B, I]), h0 [D, B, H]
    (, c0); outputs output ([B, T, D*H] if batch_first else [T, B, D*H]), h_n [D, B, H] (, c_n).
    Transposes adapt x, the states and Y where `layout` differs from those conventions."""
    from onnx import TensorProto, helper
    lstm = op == "LSTM"
    nodes, inits = [], [numpy_helper.from_array(weights[n], n) for n in ("W", "R", "B", "P")
                        if n in weights]

    def transpose(src, dst, perm):
        nodes.append(helper.make_node("Transpose", [src], [dst], name=f"transpose_{dst}",
                                      perm=perm))

    def const(name, values):
        inits.append(numpy_helper.from_array(np.array(values, dtype=np.int64), name))

    x = "x"
    if batch_first and layout == 0:
        transpose("x", "X", [1, 0, 2])
        x = "X"
    states = ["h0", "c0"] if lstm else ["h0"]
    state_in = []
    for s in states:
        if layout == 1:  # [D, B, H] -> [B, D, H]
            transpose(s, f"initial_{s[0]}", [1, 0, 2])
            state_in.append(f"initial_{s[0]}")
        else:
            state_in.append(s)
    inputs = [x, "W", "R", "B", "", state_in[0]] + (state_in[1:] if lstm else [])
    if "P" in weights:
        inputs.append("P")
    finals = ["h_n", "c_n"] if lstm else ["h_n"]
    outs = ["Y"] + ([f"Y_{f[0]}" for f in finals] if layout == 1 else finals)
    node_attrs = dict(hidden_size=H, **attrs)
    if layout == 1 and "layout" not in attrs:
        node_attrs["layout"] = 1
    nodes.append(helper.make_node(op, inputs, outs, name=f"{op.lower()}_0", **node_attrs))
    if layout == 1:  # Y [B, T, D, H]; Y_h [B, D, H] -> [D, B, H]
        for f in finals:
            transpose(f"Y_{f[0]}", f, [1, 0, 2])
        if D == 1:
            const("axes", [2])
            nodes.append(helper.make_node("Squeeze", ["Y", "axes"], ["output"], name="squeeze"))
        else:
            const("shape", [0, 0, -1])
            nodes.append(helper.make_node("Reshape", ["Y", "shape"], ["output"], name="reshape"))
    else:  # Y [T, D, B, H] -> [T, B, D*H] (then [B, T, D*H] if batch_first)
        y = "Y_tbh" if batch_first else "output"
        if D == 1:
            const("axes", [1])
            nodes.append(helper.make_node("Squeeze", ["Y", "axes"], [y], name="squeeze"))
        else:
            transpose("Y", "Y_tbdh", [0, 2, 1, 3])
            const("shape", [0, 0, -1])
            nodes.append(helper.make_node("Reshape", ["Y_tbdh", "shape"], [y], name="reshape"))
        if batch_first:
            transpose(y, "output", [1, 0, 2])
    seq = ["B", "T"] if batch_first else ["T", "B"]
    f32 = TensorProto.FLOAT
    graph_inputs = [helper.make_tensor_value_info("x", f32, seq + [I])]
    graph_inputs += [helper.make_tensor_value_info(s, f32, [D, "B", H]) for s in states]
    graph_outputs = [helper.make_tensor_value_info("output", f32, seq + [D * H])]
    graph_outputs += [helper.make_tensor_value_info(f, f32, [D, "B", H]) for f in finals]
    graph = helper.make_graph(nodes, "recurrent", graph_inputs, graph_outputs, inits)
    model = helper.make_model(graph, producer_name="make_onnx_import_reference.py",
                              opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    return model


def sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def numpy_recurrent(op, attrs, weights, x, h0, c0):
    """The ONNX operator's equations (layout 0, default activations), in float64.
    x [T, B, I], h0/c0 [D, B, H] -> Y [T, D, B, H], Y_h [D, B, H], Y_c [D, B, H] (or None).

    LSTM (gates i, o, f, c in W, R and each half of B = [Wb; Rb]; P = [Pi; Po; Pf]):
      i = sigmoid(x Wi^T + h Ri^T + Pi * c_prev + Wbi + Rbi)
      f = sigmoid(x Wf^T + h Rf^T + Pf * c_prev + Wbf + Rbf)    (1 - i if input_forget)
      g = tanh(x Wc^T + h Rc^T + Wbc + Rbc)
      c = f * c_prev + i * g
      o = sigmoid(x Wo^T + h Ro^T + Po * c + Wbo + Rbo)
      h = o * tanh(c)
    GRU (gates z, r, h):
      z = sigmoid(x Wz^T + h Rz^T + Wbz + Rbz)
      r = sigmoid(x Wr^T + h Rr^T + Wbr + Rbr)
      n = tanh(x Wh^T + (r * h) Rh^T + Rbh + Wbh)           (linear_before_reset = 0)
      n = tanh(x Wh^T + r * (h Rh^T + Rbh) + Wbh)           (linear_before_reset = 1)
      h = (1 - z) * n + z * h_prev
    Direction d of "bidirectional" is 0 forward, 1 reverse; "reverse" runs t = T-1 .. 0 and
    writes Y[t] at the step's own t."""
    direction = attrs.get("direction", "forward")
    D = 2 if direction == "bidirectional" else 1
    T, Bn, _ = x.shape
    G = GATES[op]
    W, R, B = (weights[n].astype(np.float64) for n in ("W", "R", "B"))
    H = R.shape[2]
    P = weights["P"].astype(np.float64) if "P" in weights else np.zeros((D, 3 * H))
    x = x.astype(np.float64)
    Y = np.zeros((T, D, Bn, H))
    Y_h, Y_c = np.zeros((D, Bn, H)), np.zeros((D, Bn, H))
    for d in range(D):
        reverse = direction == "reverse" or d == 1
        Wg, Rg = np.split(W[d], G), np.split(R[d], G)
        Wb, Rb = np.split(B[d][:G * H], G), np.split(B[d][G * H:], G)
        h = h0[d].astype(np.float64)
        c = c0[d].astype(np.float64) if op == "LSTM" else None
        for t in (range(T - 1, -1, -1) if reverse else range(T)):
            xt = x[t]

            def lin(g):
                return xt @ Wg[g].T + h @ Rg[g].T + Wb[g] + Rb[g]
            if op == "LSTM":
                pi, po, pf = np.split(P[d], 3)
                i = sigmoid(lin(0) + pi * c)
                f = 1.0 - i if attrs.get("input_forget", 0) else sigmoid(lin(2) + pf * c)
                g = np.tanh(lin(3))
                c = f * c + i * g
                o = sigmoid(lin(1) + po * c)
                h = o * np.tanh(c)
            elif op == "GRU":
                z, r = sigmoid(lin(0)), sigmoid(lin(1))
                if attrs.get("linear_before_reset", 0):
                    n = np.tanh(xt @ Wg[2].T + Wb[2] + r * (h @ Rg[2].T + Rb[2]))
                else:
                    n = np.tanh(xt @ Wg[2].T + Wb[2] + (r * h) @ Rg[2].T + Rb[2])
                h = (1.0 - z) * n + z * h
            else:
                h = np.tanh(lin(0))
            Y[t, d] = h
        Y_h[d] = h
        if op == "LSTM":
            Y_c[d] = c
    return Y, Y_h, (Y_c if op == "LSTM" else None)


def run_ort(model, feeds):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), opts,
                                providers=["CPUExecutionProvider"])
    in_names = [i.name for i in sess.get_inputs()]
    assert in_names == list(feeds), in_names
    out_names = [o.name for o in sess.get_outputs()]
    return dict(zip(out_names, sess.run(None, feeds)))


def max_diff(case, what, got, want):
    worst = 0.0
    for name in want:
        assert got[name].shape == want[name].shape, (case, what, name, got[name].shape,
                                                     want[name].shape)
        worst = max(worst, float(np.abs(got[name].astype(np.float64) - want[name]).max()))
    if not worst <= TOL:
        sys.exit(f"{case}: {what} differ by {worst:.3e} > {TOL}")
    return worst


def run_onnx_case(index, case):
    description, op, H, attrs, peepholes = ONNX_CASES[case]
    seed = SEED + index
    rng = np.random.default_rng(seed)
    lstm = op == "LSTM"
    direction = attrs.get("direction", "forward")
    D = 2 if direction == "bidirectional" else 1
    layout = attrs.get("layout", 0)
    batch_first = layout == 1
    weights = make_onnx_weights(rng, op, H, D, peepholes)
    T, Bn = T_RUN, B_RUN
    feeds = {"x": rng.standard_normal((Bn, T, I) if batch_first else (T, Bn, I))
             .astype(np.float32),
             "h0": (rng.standard_normal((D, Bn, H)) * 0.5).astype(np.float32)}
    if lstm:
        feeds["c0"] = (rng.standard_normal((D, Bn, H)) * 0.5).astype(np.float32)

    model = build_onnx_model(op, H, D, attrs, weights, layout, batch_first)
    onnx.checker.check_model(model, full_check=True)
    onnx_path = os.path.join(OUT_DIR, f"{case}.onnx")
    with open(onnx_path, "wb") as f:
        f.write(model.SerializeToString())
    info = describe_graph(model)

    # The numpy reference, laid out as the graph's outputs.
    x_tm = feeds["x"].transpose(1, 0, 2) if batch_first else feeds["x"]
    Y, Y_h, Y_c = numpy_recurrent(op, attrs, weights, x_tm, feeds["h0"], feeds.get("c0"))
    output = Y.transpose(0, 2, 1, 3).reshape(T, Bn, D * H)
    want = {"output": output.transpose(1, 0, 2) if batch_first else output, "h_n": Y_h}
    if lstm:
        want["c_n"] = Y_c

    conventions = {
        "x": "[B, T, I]" if batch_first else "[T, B, I]",
        "h0/c0": "[D, B, H]",
        "output": "[B, T, D*H]" if batch_first else "[T, B, D*H]",
        "h_n/c_n": "[D, B, H]",
    }
    if layout == 1:
        # onnxruntime's CPU LSTM/GRU/RNN refuse layout = 1: run a layout-0 twin in onnxruntime,
        # and the stored graph in onnx's ReferenceEvaluator.
        twin_attrs = {k: v for k, v in attrs.items() if k != "layout"}
        twin = build_onnx_model(op, H, D, twin_attrs, weights, 0, True)
        onnx.checker.check_model(twin, full_check=True)
        ort_out = run_ort(twin, feeds)
        from onnx.reference import ReferenceEvaluator
        ref = ReferenceEvaluator(model)
        ref_out = dict(zip([o.name for o in model.graph.output], ref.run(None, feeds)))
        ref_diff = max_diff(case, "onnx ReferenceEvaluator (layout 1) and onnxruntime (twin)",
                            ref_out, {n: a.astype(np.float64) for n, a in ort_out.items()})
        conventions.update({
            "layout": "the node has layout = 1: X [B, T, I] is the graph's x as is; h0/c0 "
                      "[D, B, H] go through Transpose perm [1, 0, 2] into initial_h/initial_c "
                      "[B, D, H]; Y [B, T, D, H] is squeezed on axis 2 into output [B, T, H]; "
                      "Y_h/Y_c [B, D, H] go through Transpose perm [1, 0, 2] into h_n/c_n "
                      "[D, B, H], as in the other cases",
            "outputs_source": "onnxruntime refuses layout = 1 (Batchwise recurrent operations "
                              "are not supported): outputs are onnxruntime's on a twin graph "
                              "with the same node and weights at layout = 0 (x through "
                              "Transpose perm [1, 0, 2] into X, Y squeezed on axis 1 and "
                              "transposed back), checked against the numpy equations and "
                              "against onnx.reference.ReferenceEvaluator on this graph "
                              f"(max |diff| {ref_diff:.3e})",
        })
    else:
        ort_out = run_ort(model, feeds)
        conventions["layout"] = ("the node has layout = 0; graph inputs feed X, initial_h "
                                 "(, initial_c) directly; output is Y squeezed on axis 1, h_n "
                                 "(, c_n) is Y_h (, Y_c)")
        conventions["outputs_source"] = "onnxruntime on this graph"
    worst = max_diff(case, "onnxruntime and the numpy equations", ort_out, want)

    node = info["rnn_nodes"][0]
    doc = {
        "case": case,
        "description": description,
        "generator": "tests/reference/make_onnx_import_reference.py",
        "onnx_version": onnx.__version__,
        "onnxruntime_version": ort.__version__,
        "numpy_version": np.__version__,
        "exporter": "onnx.helper (hand-built)",
        "opset": OPSET,
        "seed": seed,
        "module": "onnx.helper",
        "kwargs": node["attributes"],
        "model": os.path.basename(onnx_path),
        "layout": "batch_first" if batch_first else "time_major",
        "batch_first": batch_first,
        "conventions": conventions,
        "dims": {"T": T, "B": Bn, "I": I, "H": H, "num_layers": 1, "num_directions": D},
        "graph_inputs": info["graph_inputs"],
        "graph_outputs": info["graph_outputs"],
        "inputs": {n: f32_list(a) for n, a in feeds.items()},
        "outputs": {n: f32_list(ort_out[n]) for n in want},
        "max_abs_diff_vs_numpy": worst,
        "op_counts": info["op_counts"],
        "rnn_nodes": info["rnn_nodes"],
        "nodes": info["nodes"],
        "initializers": info["initializers"],
        "onnx_weights": {n: f32_list(a) for n, a in weights.items()},
    }
    json_path = os.path.join(OUT_DIR, f"{case}.json")
    write_json(json_path, doc)

    print(f"{case}: node types {info['op_counts']}")
    print(f"  {node['op_type']} {node['name']} {node['attributes']}")
    print(f"  max |onnxruntime - numpy| = {worst:.3e} at T={T}, B={Bn}"
          + (" (onnxruntime on the layout-0 twin)" if layout == 1 else ""))
    for p in (onnx_path, json_path):
        with open(p, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()[:12]
        print(f"  wrote {os.path.relpath(p)} ({os.path.getsize(p)} bytes, sha256 {digest})")


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    for index, case in enumerate(CASES):
        run_case(index, case)
    for index, case in enumerate(ONNX_CASES, start=len(CASES)):
        run_onnx_case(index, case)
    total = sum(os.path.getsize(os.path.join(OUT_DIR, n)) for n in os.listdir(OUT_DIR))
    print(f"total size of {os.path.relpath(OUT_DIR)}: {total} bytes")


if __name__ == "__main__":
    main()
