#!/usr/bin/env python3
"""Writes the reference files read by `tests/variant_reference.rs`.

Run from the repository root:

    python3 tests/reference/make_variant_reference.py

CI never runs this script; it only reads the JSON files it writes to
`tests/reference/variants/<case>.json`. Everything is float64 and seeded, so regenerating gives the
same files (up to changes in PyTorch's random number generator or kernels).

Every variant cell is written here independently of its spec, step by step in torch ops, straight
from its published equations (row-vector convention: `x @ W` with `W: [in, out]`, the layout of
our parameters). The loop runs each example for its own length: after it, the example's states
(and history) stay frozen and its outputs are zero; the final states are those of its last step.
All gradients come from `torch.autograd`.

Each file holds, for one cell:
  case, type      file stem and our type name (`recurrent::cells::<type>`)
  dims            {"T", "B", "I", "H"} (for Mut1 and Mut2, I == H)
  lengths         per-example lengths [B]
  x               input [T, B, I]
  init            initial value of every state, by state name, [B, H] each
  masks           only for a cell with random masks (LstmVariational, LstmZoneout): the fixed 0/1
                  value of every mask, by our mask name, drawn here (seeded) with the spec's keep
                  probability: [B, size] for a mask drawn once per sequence (m_x: [B, I],
                  m_h: [B, H]), [T, B, H] for one drawn at every step (z_c, z_h). 1 keeps: the
                  unit for dropout, the previous value for zoneout. Our cell is run with these
                  masks given (`Masks::Given`); the reference treats them as constants.
  init_history    for a state read with delay D > 1 (Narx's h): its D - 1 earlier values
                  (h[-2], ...), most recent first, [D - 1, B, H]
  dY, d_final,    fixed cotangents: L = sum(dY * Y) + sum over states s of sum(d_final[s] * s_n)
  d_final_history   + sum(d_final_history[s] * history_n[s])
  params          every parameter, by our names, in our [in, out] layout
  Y               outputs [T, B, H], zero after each example's length
  final           every state at each example's last step, by name
  final_history   the history after each example's last step (Narx: h[len - 2], h[-1] = the
                  initial h when len == 1)
  grads           {"params": dL/d(every parameter), "x": dL/dx, "init": dL/d(initial states),
                   "init_history": dL/d(initial history)}
"""

import json
import os

import torch
import torch.nn.functional as F

SEED = 20240715
T, B, I, H = 5, 3, 3, 4
LENGTHS = [3, 5, 1]  # unsorted on purpose; one example runs a single step (Narx: history = h0)
LN_EPS = 1e-5
OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "variants")

torch.set_default_dtype(torch.float64)

sig = torch.sigmoid
tanh = torch.tanh


def tolist(t):
    return t.detach().cpu().tolist()


# ---------------------------------------------------------------------------------------------
# Parameter declarations: (name, shape symbols, kind). kind: "w" normal(0, 0.5), "gain" 1 + normal
# (0, 0.2), "beta" normal(0, 0.5).

def W(*names, rows="I"):
    return [(n, (rows, "H"), "w") for n in names]


def V(*names, kind="w"):
    return [(n, ("H",), kind) for n in names]


PEEPHOLE_PARAMS = (
    W("W_xi", "W_xf", "W_xo", "W_xc")
    + W("W_hi", "W_hf", "W_ho", "W_hc", rows="H")
    + V("b_i", "b_f", "b_o", "b_c")
    + V("V_i", "V_f", "V_o")
)


def without(params, *names):
    out = [p for p in params if p[0] not in names]
    assert len(out) == len(params) - len(names)
    return out


LN_PARAMS = (
    W("W_xi", "W_xf", "W_xo", "W_xc")
    + W("W_hi", "W_hf", "W_ho", "W_hc", rows="H")
    + V("b_i", "b_f", "b_o", "b_c")
    + V("g_xi", "g_xf", "g_xo", "g_xc", "g_hi", "g_hf", "g_ho", "g_hc", "g_c", kind="gain")
    + V("beta_c", kind="beta")
)


# ---------------------------------------------------------------------------------------------
# The cells. Each step takes the parameters `p`, the input x[t] `x` ([B, I]), the previous input
# x[t-1] `xp` (zeros at t = 0), the previous states `s` (by name) and, for delayed states, the
# previous history `hist` (by name, most recent first); it returns the new states by name.
# A cell with random masks also takes `m`: each mask's value at this step, by name ([B, size]).
# Every cell outputs h[t].

def lstm_no_forget(p, x, xp, s, hist):
    h, c = s["h"], s["c"]
    i = sig(x @ p["W_xi"] + h @ p["W_hi"] + p["b_i"])
    o = sig(x @ p["W_xo"] + h @ p["W_ho"] + p["b_o"])
    c_tilde = tanh(x @ p["W_xc"] + h @ p["W_hc"] + p["b_c"])
    c_new = c + i * c_tilde
    return {"h": o * tanh(c_new), "c": c_new}


def lstm_cifg(p, x, xp, s, hist):
    h, c = s["h"], s["c"]
    i = sig(x @ p["W_xi"] + h @ p["W_hi"] + p["b_i"])
    f = 1 - i
    o = sig(x @ p["W_xo"] + h @ p["W_ho"] + p["b_o"])
    c_tilde = tanh(x @ p["W_xc"] + h @ p["W_hc"] + p["b_c"])
    c_new = f * c + i * c_tilde
    return {"h": o * tanh(c_new), "c": c_new}


def greff_lstm(no_input_gate=False, no_output_gate=False, no_input_act=False,
               no_output_act=False, peepholes=True):
    """The vanilla LSTM of Greff et al. 2017 (Gers & Schmidhuber's peephole LSTM, the output
    gate peeping at c[t]) and its single-change variants."""

    def step(p, x, xp, s, hist):
        h, c = s["h"], s["c"]
        peep = (lambda k, cc: p[f"V_{k}"] * cc) if peepholes else (lambda k, cc: 0.0)
        if no_input_gate:
            i = 1.0
        else:
            i = sig(x @ p["W_xi"] + h @ p["W_hi"] + peep("i", c) + p["b_i"])
        f = sig(x @ p["W_xf"] + h @ p["W_hf"] + peep("f", c) + p["b_f"])
        a_c = x @ p["W_xc"] + h @ p["W_hc"] + p["b_c"]
        c_tilde = a_c if no_input_act else tanh(a_c)
        c_new = f * c + i * c_tilde
        if no_output_gate:
            o = 1.0
        else:
            o = sig(x @ p["W_xo"] + h @ p["W_ho"] + peep("o", c_new) + p["b_o"])
        h_new = o * (c_new if no_output_act else tanh(c_new))
        return {"h": h_new, "c": c_new}

    return step


def residual(p, x, xp, s, hist):
    h = s["h"]
    return {"h": h + tanh(x @ p["W"] + h @ p["U"] + p["b"])}


def narx(p, x, xp, s, hist):
    h1 = s["h"]  # h[t-1]
    h2 = hist["h"][0]  # h[t-2]
    return {"h": tanh(x @ p["W_0"] + xp @ p["W_1"] + h1 @ p["U_1"] + h2 @ p["U_2"] + p["b"])}


def lstm_fgr(p, x, xp, s, hist):
    h, c, i0, f0, o0 = s["h"], s["c"], s["i"], s["f"], s["o"]

    def rec(to):
        return i0 @ p[f"R_i{to}"] + f0 @ p[f"R_f{to}"] + o0 @ p[f"R_o{to}"]

    i = sig(x @ p["W_xi"] + h @ p["W_hi"] + p["V_i"] * c + p["b_i"] + rec("i"))
    f = sig(x @ p["W_xf"] + h @ p["W_hf"] + p["V_f"] * c + p["b_f"] + rec("f"))
    c_new = f * c + i * tanh(x @ p["W_xc"] + h @ p["W_hc"] + p["b_c"])
    o = sig(x @ p["W_xo"] + h @ p["W_ho"] + p["V_o"] * c_new + p["b_o"] + rec("o"))
    return {"h": o * tanh(c_new), "c": c_new, "i": i, "f": f, "o": o}


def mgu(p, x, xp, s, hist):
    h = s["h"]
    f = sig(x @ p["W_xf"] + h @ p["W_hf"] + p["b_f"])
    h_tilde = tanh(x @ p["W_xh"] + (f * h) @ p["W_hh"] + p["b_h"])
    return {"h": (1 - f) * h + f * h_tilde}


def mut1(p, x, xp, s, hist):
    h = s["h"]
    z = sig(x @ p["W_xz"] + p["b_z"])
    r = sig(x @ p["W_xr"] + h @ p["W_hr"] + p["b_r"])
    return {"h": tanh((r * h) @ p["W_hh"] + tanh(x) + p["b_h"]) * z + h * (1 - z)}


def mut2(p, x, xp, s, hist):
    h = s["h"]
    z = sig(x @ p["W_xz"] + h @ p["W_hz"] + p["b_z"])
    r = sig(x + h @ p["W_hr"] + p["b_r"])
    return {"h": tanh((r * h) @ p["W_hh"] + x @ p["W_xh"] + p["b_h"]) * z + h * (1 - z)}


def mut3(p, x, xp, s, hist):
    h = s["h"]
    z = sig(x @ p["W_xz"] + tanh(h) @ p["W_hz"] + p["b_z"])
    r = sig(x @ p["W_xr"] + h @ p["W_hr"] + p["b_r"])
    return {"h": tanh((r * h) @ p["W_hh"] + x @ p["W_xh"] + p["b_h"]) * z + h * (1 - z)}


def ind_rnn(p, x, xp, s, hist):
    h = s["h"]
    return {"h": torch.relu(x @ p["W"] + p["u"] * h + p["b"])}


def ln(a):
    """Layer normalization over the last axis, biased variance, no gain or bias."""
    mean = a.mean(dim=-1, keepdim=True)
    var = ((a - mean) ** 2).mean(dim=-1, keepdim=True)
    return (a - mean) / torch.sqrt(var + LN_EPS)


def layer_norm_lstm(haste):
    """Ba et al. 2016's layer-normalized LSTM: each gate's input and recurrent projections are
    normalized (per gate over H; for Haste's LayerNormLSTM over the four gates together, 4H),
    then scaled by their gains, summed with the bias; the cell state is normalized for the
    output (gain g_c, shift beta_c)."""
    gates = ["i", "f", "o", "c"]

    def normed(a):  # a: {gate: [B, H]} -> {gate: normalized}
        if not haste:
            return {k: ln(v) for k, v in a.items()}
        cat = torch.cat([a[k] for k in gates], dim=-1)  # [B, 4H]
        n = ln(cat)
        return {k: n[:, j * H:(j + 1) * H] for j, k in enumerate(gates)}

    def step(p, x, xp, s, hist):
        h, c = s["h"], s["c"]
        nx = normed({k: x @ p[f"W_x{k}"] for k in gates})
        nh = normed({k: h @ p[f"W_h{k}"] for k in gates})
        a = {k: p[f"g_x{k}"] * nx[k] + p[f"g_h{k}"] * nh[k] + p[f"b_{k}"] for k in gates}
        i, f, o = sig(a["i"]), sig(a["f"]), sig(a["o"])
        c_tilde = tanh(a["c"])
        c_new = f * c + i * c_tilde
        h_new = o * tanh(p["g_c"] * ln(c_new) + p["beta_c"])
        return {"h": h_new, "c": c_new}

    return step


def ugrnn(p, x, xp, s, hist):
    """Collins, Sohl-Dickstein & Sussillo 2017, UGRNN: c = tanh(W^cx x + W^ch h + b^c),
    g = sigma(W^gx x + W^gh h + b^g), h[t] = g * h[t-1] + (1 - g) * c."""
    h = s["h"]
    c = tanh(x @ p["W_xc"] + h @ p["W_hc"] + p["b_c"])
    g = sig(x @ p["W_xg"] + h @ p["W_hg"] + p["b_g"])
    return {"h": g * h + (1 - g) * c}


VARIATIONAL_KEEP = 0.75


def lstm_variational(p, x, xp, s, hist, m):
    """Gal & Ghahramani 2016, the tied-weights LSTM with variational dropout: one mask z_x on the
    input and one z_h on the recurrent state, the same at every step and for every gate;
    inverted dropout (kept units scaled by 1 / keep)."""
    h, c = s["h"], s["c"]
    xd = x * m["m_x"] / VARIATIONAL_KEEP
    hd = h * m["m_h"] / VARIATIONAL_KEEP
    i = sig(xd @ p["W_xi"] + hd @ p["W_hi"] + p["b_i"])
    f = sig(xd @ p["W_xf"] + hd @ p["W_hf"] + p["b_f"])
    o = sig(xd @ p["W_xo"] + hd @ p["W_ho"] + p["b_o"])
    g = tanh(xd @ p["W_xc"] + hd @ p["W_hc"] + p["b_c"])
    c_new = f * c + i * g
    return {"h": o * tanh(c_new), "c": c_new}


def lstm_zoneout(p, x, xp, s, hist, m):
    """Krueger et al. 2017, zoneout LSTM (their eqs. for c_t and h_t, d = 1 keeps the previous
    value): c_t = d^c * c_{t-1} + (1 - d^c) * (f * c_{t-1} + i * g),
    h_t = d^h * h_{t-1} + (1 - d^h) * (o * tanh(f * c_{t-1} + i * g))."""
    h, c = s["h"], s["c"]
    i = sig(x @ p["W_xi"] + h @ p["W_hi"] + p["b_i"])
    f = sig(x @ p["W_xf"] + h @ p["W_hf"] + p["b_f"])
    o = sig(x @ p["W_xo"] + h @ p["W_ho"] + p["b_o"])
    g = tanh(x @ p["W_xc"] + h @ p["W_hc"] + p["b_c"])
    c_lstm = f * c + i * g
    d_c, d_h = m["z_c"], m["z_h"]
    return {"h": d_h * h + (1 - d_h) * (o * tanh(c_lstm)),
            "c": d_c * c + (1 - d_c) * c_lstm}


# Random masks, by case: (name, size symbol, keep probability, drawn at every step).
MASKS = {
    "lstm_variational": [("m_x", "I", VARIATIONAL_KEEP, False),
                         ("m_h", "H", VARIATIONAL_KEEP, False)],
    "lstm_zoneout": [("z_c", "H", 0.5, True), ("z_h", "H", 0.05, True)],
}

LSTM_PARAMS = without(PEEPHOLE_PARAMS, "V_i", "V_f", "V_o")

R_PARAMS = W("R_ii", "R_fi", "R_oi", "R_if", "R_ff", "R_of", "R_io", "R_fo", "R_oo", rows="H")

# (case, type, description, parameters, states, history {state: depth}, input size, step)
CASES = [
    ("lstm_no_forget", "LstmNoForget",
     "LSTM without forget gate (Hochreiter & Schmidhuber 1997): c[t] = c[t-1] + i * c_tilde",
     W("W_xi", "W_xo", "W_xc") + W("W_hi", "W_ho", "W_hc", rows="H") + V("b_i", "b_o", "b_c"),
     ["h", "c"], {}, "I", lstm_no_forget),
    ("lstm_cifg", "LstmCifg", "LSTM with coupled input-forget gate: f = 1 - i",
     W("W_xi", "W_xo", "W_xc") + W("W_hi", "W_ho", "W_hc", rows="H") + V("b_i", "b_o", "b_c"),
     ["h", "c"], {}, "I", lstm_cifg),
    ("lstm_peephole", "LstmPeephole",
     "peephole LSTM (Gers & Schmidhuber 2000): i, f peep at c[t-1], o at c[t]",
     PEEPHOLE_PARAMS, ["h", "c"], {}, "I", greff_lstm()),
    ("residual", "Residual", "residual RNN: h[t] = h[t-1] + tanh(x W + h[t-1] U + b)",
     W("W") + W("U", rows="H") + V("b"), ["h"], {}, "I", residual),
    ("narx", "Narx",
     "NARX-style RNN with delays: tanh(x[t] W_0 + x[t-1] W_1 + h[t-1] U_1 + h[t-2] U_2 + b), "
     "x[-1] = 0, h[-2] from the initial history",
     W("W_0", "W_1") + W("U_1", "U_2", rows="H") + V("b"), ["h"], {"h": 1}, "I", narx),
    ("lstm_nig", "LstmNig", "Greff et al. 2017 NIG: peephole LSTM without input gate (i = 1)",
     without(PEEPHOLE_PARAMS, "W_xi", "W_hi", "b_i", "V_i"), ["h", "c"], {}, "I",
     greff_lstm(no_input_gate=True)),
    ("lstm_nog", "LstmNog", "Greff et al. 2017 NOG: peephole LSTM without output gate (o = 1)",
     without(PEEPHOLE_PARAMS, "W_xo", "W_ho", "b_o", "V_o"), ["h", "c"], {}, "I",
     greff_lstm(no_output_gate=True)),
    ("lstm_niaf", "LstmNiaf",
     "Greff et al. 2017 NIAF: peephole LSTM without input activation (c_tilde linear)",
     PEEPHOLE_PARAMS, ["h", "c"], {}, "I", greff_lstm(no_input_act=True)),
    ("lstm_noaf", "LstmNoaf",
     "Greff et al. 2017 NOAF: peephole LSTM without output activation (h = o * c)",
     PEEPHOLE_PARAMS, ["h", "c"], {}, "I", greff_lstm(no_output_act=True)),
    ("lstm_np", "LstmNp", "Greff et al. 2017 NP: LSTM without peepholes (the plain LSTM)",
     without(PEEPHOLE_PARAMS, "V_i", "V_f", "V_o"), ["h", "c"], {}, "I",
     greff_lstm(peepholes=False)),
    ("lstm_fgr", "LstmFgr",
     "Greff et al. 2017 FGR: peephole LSTM with full gate recurrence (gates read i, f, o[t-1])",
     PEEPHOLE_PARAMS + R_PARAMS, ["h", "c", "i", "f", "o"], {}, "I", lstm_fgr),
    ("mgu", "Mgu", "minimal gated unit (Zhou et al. 2016)",
     W("W_xf", "W_xh") + W("W_hf", "W_hh", rows="H") + V("b_f", "b_h"), ["h"], {}, "I", mgu),
    ("mut1", "Mut1", "MUT1 (Jozefowicz et al. 2015)",
     W("W_xz", "W_xr", rows="H") + W("W_hr", "W_hh", rows="H") + V("b_z", "b_r", "b_h"),
     ["h"], {}, "H", mut1),
    ("mut2", "Mut2", "MUT2 (Jozefowicz et al. 2015)",
     W("W_xz", "W_xh", rows="H") + W("W_hz", "W_hr", "W_hh", rows="H")
     + V("b_z", "b_r", "b_h"), ["h"], {}, "H", mut2),
    ("mut3", "Mut3", "MUT3 (Jozefowicz et al. 2015)",
     W("W_xz", "W_xr", "W_xh") + W("W_hz", "W_hr", "W_hh", rows="H") + V("b_z", "b_r", "b_h"),
     ["h"], {}, "I", mut3),
    ("ind_rnn", "IndRnn", "IndRNN (Li et al. 2018): h[t] = relu(x W + u * h[t-1] + b)",
     W("W") + V("u", "b"), ["h"], {}, "I", ind_rnn),
    ("layer_norm_lstm", "LayerNormLstm",
     "layer-normalized LSTM (Ba et al. 2016), statistics per gate over H, eps 1e-5",
     LN_PARAMS, ["h", "c"], {}, "I", layer_norm_lstm(haste=False)),
    ("layer_norm_lstm_haste", "LayerNormLstmHaste",
     "Haste's LayerNormLSTM: projection statistics over the four gates together (4H), "
     "LN(c) over H, eps 1e-5",
     LN_PARAMS, ["h", "c"], {}, "I", layer_norm_lstm(haste=True)),
    # New cases go at the end: each case's seed is SEED + its index here.
    ("ugrnn", "Ugrnn",
     "update-gate RNN (Collins, Sohl-Dickstein & Sussillo 2017): "
     "h[t] = g * h[t-1] + (1 - g) * c",
     W("W_xc", "W_xg") + W("W_hc", "W_hg", rows="H") + V("b_c", "b_g"), ["h"], {}, "I", ugrnn),
    ("lstm_variational", "LstmVariational",
     "LSTM with variational dropout (Gal & Ghahramani 2016), tied per-sequence masks m_x: [B, I], "
     "m_h: [B, H], keep 0.75, inverted scaling 1 / 0.75; masks given (see `masks`)",
     LSTM_PARAMS, ["h", "c"], {}, "I", lstm_variational),
    ("lstm_zoneout", "LstmZoneout",
     "LSTM with zoneout (Krueger et al. 2017), per-step masks z_c (keep 0.5), z_h (keep 0.05), "
     "[T, B, H]; masks given (see `masks`)",
     LSTM_PARAMS, ["h", "c"], {}, "I", lstm_zoneout),
]


def draw_param(shape, kind):
    if kind == "w":
        return torch.randn(*shape) * 0.5
    if kind == "gain":
        return 1.0 + torch.randn(*shape) * 0.2
    if kind == "beta":
        return torch.randn(*shape) * 0.5
    raise ValueError(kind)


def run(params_decl, states, history, in_sym, step, masks_decl=()):
    sizes = {"I": H if in_sym == "H" else I, "H": H}
    n_in = sizes[in_sym]
    p = {n: draw_param([sizes[d] for d in shape], kind).requires_grad_(True)
         for n, shape, kind in params_decl}
    x = torch.randn(T, B, n_in).requires_grad_(True)
    # Gate states (LstmFgr's i, f, o) start inside (0, 1), like a sigmoid's value.
    init = {s: (torch.rand(B, H) * 0.8 + 0.1 if s in ("i", "f", "o") else torch.randn(B, H) * 0.5)
            .requires_grad_(True) for s in states}
    init_hist = {s: [(torch.randn(B, H) * 0.5).requires_grad_(True) for _ in range(depth)]
                 for s, depth in history.items()}
    dY = torch.randn(T, B, H)
    d_final = {s: torch.randn(B, H) for s in states}
    d_final_hist = {s: [torch.randn(B, H) for _ in range(depth)] for s, depth in history.items()}
    # Drawn last, so that a cell without masks draws exactly what it did before masks existed.
    masks = {}
    for name, size_sym, keep, per_step in masks_decl:
        shape = (T, B, sizes[size_sym]) if per_step else (B, sizes[size_sym])
        masks[name] = torch.bernoulli(torch.full(shape, keep))

    lengths = torch.tensor(LENGTHS, dtype=torch.int64)
    cur = dict(init)
    hist = {s: list(v) for s, v in init_hist.items()}
    ys = []
    for t in range(T):
        xp = x[t - 1] if t > 0 else torch.zeros(B, n_in)
        if masks_decl:
            m = {n: (v[t] if v.dim() == 3 else v) for n, v in masks.items()}
            new = step(p, x[t], xp, cur, hist, m)
        else:
            new = step(p, x[t], xp, cur, hist)
        assert set(new) == set(states)
        alive = (t < lengths).unsqueeze(1)  # [B, 1]
        ys.append(torch.where(alive, new["h"], torch.zeros_like(new["h"])))
        # History shifts by one: the old value becomes the most recent history entry.
        hist = {s: [torch.where(alive, a, b) for a, b in zip([cur[s]] + v[:-1], v)]
                for s, v in hist.items()}
        cur = {s: torch.where(alive, new[s], cur[s]) for s in states}
    y = torch.stack(ys)

    loss = (dY * y).sum()
    for s in states:
        loss = loss + (d_final[s] * cur[s]).sum()
    for s in history:
        for d, v in zip(d_final_hist[s], hist[s]):
            loss = loss + (d * v).sum()

    names = [n for n, _, _ in params_decl]
    hist_leaves = [(s, k) for s in history for k in range(history[s])]
    leaves = ([p[n] for n in names] + [x] + [init[s] for s in states]
              + [init_hist[s][k] for s, k in hist_leaves])
    grads = torch.autograd.grad(loss, leaves)
    g = iter(grads)
    g_params = {n: next(g) for n in names}
    g_x = next(g)
    g_init = {s: next(g) for s in states}
    g_hist = {s: [next(g) for _ in range(history[s])] for s in history}
    assert next(g, None) is None

    record = {
        "dims": {"T": T, "B": B, "I": n_in, "H": H},
        "lengths": LENGTHS,
        "x": tolist(x),
    }
    if masks_decl:
        record["masks"] = {n: tolist(v) for n, v in masks.items()}
    record.update({
        "init": {s: tolist(v) for s, v in init.items()},
        "init_history": {s: [tolist(a) for a in v] for s, v in init_hist.items()},
        "dY": tolist(dY),
        "d_final": {s: tolist(v) for s, v in d_final.items()},
        "d_final_history": {s: [tolist(a) for a in v] for s, v in d_final_hist.items()},
        "params": {n: tolist(p[n]) for n in names},
        "Y": tolist(y),
        "final": {s: tolist(v) for s, v in cur.items()},
        "final_history": {s: [tolist(a) for a in v] for s, v in hist.items()},
        "grads": {
            "params": {n: tolist(v) for n, v in g_params.items()},
            "x": tolist(g_x),
            "init": {s: tolist(v) for s, v in g_init.items()},
            "init_history": {s: [tolist(a) for a in v] for s, v in g_hist.items()},
        },
    })
    return record


def self_checks():
    """Sanity checks of the hand-written building blocks against PyTorch's own modules."""
    torch.manual_seed(0)
    a = torch.randn(7, H) * 3 + 1
    assert torch.allclose(ln(a), F.layer_norm(a, (H,), eps=LN_EPS), atol=1e-14, rtol=0)

    # LstmNp (no peepholes) is torch.nn.LSTM, gate order i, f, g (our c), o.
    lstm = torch.nn.LSTM(I, H)
    with torch.no_grad():
        for prm in lstm.parameters():
            prm.copy_(torch.randn(*prm.shape) * 0.5)
    gates = ["i", "f", "c", "o"]
    p = {}
    for j, k in enumerate(gates):
        rows = slice(j * H, (j + 1) * H)
        p[f"W_x{k}"] = lstm.weight_ih_l0[rows].detach().T
        p[f"W_h{k}"] = lstm.weight_hh_l0[rows].detach().T
        p[f"b_{k}"] = (lstm.bias_ih_l0[rows] + lstm.bias_hh_l0[rows]).detach()
    x = torch.randn(T, B, I)
    h0, c0 = torch.randn(B, H), torch.randn(B, H)
    y_ref, (h_ref, c_ref) = lstm(x, (h0[None], c0[None]))
    s = {"h": h0, "c": c0}
    step = greff_lstm(peepholes=False)
    for t in range(T):
        s = step(p, x[t], None, s, {})
        assert torch.allclose(s["h"], y_ref[t], atol=1e-13, rtol=0)
    assert torch.allclose(s["c"], c_ref[0], atol=1e-13, rtol=0)

    # The peephole LSTM with zero peepholes is the plain LSTM; so is LstmFgr with zero R_*.
    p0 = dict(p, V_i=torch.zeros(H), V_f=torch.zeros(H), V_o=torch.zeros(H))
    pr = dict(p0, **{n: torch.zeros(H, H) for n, _, _ in R_PARAMS})
    s1 = {"h": h0, "c": c0}
    s2 = {"h": h0, "c": c0, "i": torch.rand(B, H), "f": torch.rand(B, H), "o": torch.rand(B, H)}
    for t in range(T):
        s1 = greff_lstm()(p0, x[t], None, s1, {})
        s2 = lstm_fgr(pr, x[t], None, s2, {})
        assert torch.allclose(s1["h"], y_ref[t], atol=1e-13, rtol=0)
        assert torch.allclose(s2["h"], y_ref[t], atol=1e-13, rtol=0)

    # Variational dropout with every mask at its expectation (keep) is the plain LSTM; zoneout
    # with every mask 0 is the plain LSTM, with every mask 1 it keeps the initial states.
    full = {"m_x": torch.full((B, I), VARIATIONAL_KEEP),
            "m_h": torch.full((B, H), VARIATIONAL_KEEP)}
    none = {"z_c": torch.zeros(B, H), "z_h": torch.zeros(B, H)}
    keep = {"z_c": torch.ones(B, H), "z_h": torch.ones(B, H)}
    s1 = {"h": h0, "c": c0}
    s2 = {"h": h0, "c": c0}
    s3 = {"h": h0, "c": c0}
    for t in range(T):
        s1 = lstm_variational(p, x[t], None, s1, {}, full)
        s2 = lstm_zoneout(p, x[t], None, s2, {}, none)
        s3 = lstm_zoneout(p, x[t], None, s3, {}, keep)
        assert torch.allclose(s1["h"], y_ref[t], atol=1e-13, rtol=0)
        assert torch.allclose(s2["h"], y_ref[t], atol=1e-13, rtol=0)
    assert torch.allclose(s1["c"], c_ref[0], atol=1e-13, rtol=0)
    assert torch.allclose(s2["c"], c_ref[0], atol=1e-13, rtol=0)
    assert torch.equal(s3["h"], h0) and torch.equal(s3["c"], c0)

    # The UGRNN with its gate at 0 (b_g -> -inf) is the tanh RNN with weights W_xc, W_hc, b_c.
    rnn = torch.nn.RNN(I, H, nonlinearity="tanh")
    with torch.no_grad():
        for prm in rnn.parameters():
            prm.copy_(torch.randn(*prm.shape) * 0.5)
    pu = {"W_xc": rnn.weight_ih_l0.detach().T, "W_hc": rnn.weight_hh_l0.detach().T,
          "b_c": (rnn.bias_ih_l0 + rnn.bias_hh_l0).detach(), "W_xg": torch.zeros(I, H),
          "W_hg": torch.zeros(H, H), "b_g": torch.full((H,), -1e3)}
    y_rnn, _ = rnn(x, h0[None])
    s = {"h": h0}
    for t in range(T):
        s = ugrnn(pu, x[t], None, s, {})
        assert torch.allclose(s["h"], y_rnn[t], atol=1e-13, rtol=0)


def write(case, type_name, description, seed, record):
    out = {
        "case": case,
        "type": type_name,
        "description": description,
        "generator": "tests/reference/make_variant_reference.py",
        "torch_version": torch.__version__,
        "seed": seed,
    }
    out.update(record)
    # One top-level key (and one parameter / state / gradient) per line; floats keep full
    # precision (Python's repr round-trips every float64).
    def render(v, indent):
        if isinstance(v, dict) and v and any(isinstance(a, (dict, list)) for a in v.values()):
            pad = " " * (indent + 2)
            inner = ",\n".join(f"{pad}{json.dumps(n)}: {render(a, indent + 2)}"
                               for n, a in v.items())
            return "{\n" + inner + "\n" + " " * indent + "}"
        return json.dumps(v)

    lines = [f"  {json.dumps(k)}: {render(v, 2)}" for k, v in out.items()]
    text = "{\n" + ",\n".join(lines) + "\n}\n"
    path = os.path.join(OUT_DIR, f"{case}.json")
    size = len(text.encode())
    assert size < 100_000, (path, size)
    # A file whose content would not change is left alone (not even rewritten).
    if os.path.exists(path):
        with open(path) as f:
            if f.read() == text:
                print(f"unchanged {os.path.relpath(path)} ({size} bytes)")
                return
    with open(path, "w") as f:
        f.write(text)
    print(f"wrote {os.path.relpath(path)} ({size} bytes)")


def main():
    self_checks()
    os.makedirs(OUT_DIR, exist_ok=True)
    for n, (case, type_name, description, params, states, history, in_sym, step) in \
            enumerate(CASES):
        # One seed per case, so that each file is independent of the others.
        seed = SEED + n
        torch.manual_seed(seed)
        record = run(params, states, history, in_sym, step, MASKS.get(case, ()))
        write(case, type_name, description, seed, record)


if __name__ == "__main__":
    main()
