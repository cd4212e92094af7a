#!/usr/bin/env python3
"""Writes `tests/reference/ctc.json`, read by `tests/suite/ctc_reference.rs`.

Run from the repository root (needs torch):

    python3 tests/reference/make_ctc_reference.py

CI never runs this script; it only reads the JSON file. Everything is float64 and seeded.

For each case: logits [T, B, C] (rounded to 4 decimals, so that the JSON text gives the same
doubles on both sides), the blank, per-example input lengths and targets, and for each
configuration (reduction x zero_infinity) PyTorch's `nn.CTCLoss` of `log_softmax(logits)` (to 13 significant digits):
the loss (a number, or a list per example for reduction "none") and d(loss)/d(logits) from
autograd ("none": of the sum of the per-example losses). Non-finite numbers are written as the
strings "inf" and "nan" (JSON has no literal for them).
"""

import json
import math
import os

import numpy as np
import torch

torch.set_default_dtype(torch.float64)


def number(v):
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    # 13 significant digits: far below the 1e-10 tolerance, a third smaller file.
    return float("%.13g" % v)


def case(name, rng, t, c, blank, input_lengths, targets, configs):
    b = len(targets)
    logits = np.round(rng.normal(0.0, 2.0, size=(t, b, c)), 4)
    out = {
        "name": name,
        "T": t,
        "B": b,
        "C": c,
        "blank": blank,
        "logits": logits.reshape(-1).tolist(),
        "input_lengths": input_lengths,
        "targets": targets,
        "configs": [],
    }
    flat = torch.tensor([k for tg in targets for k in tg], dtype=torch.long)
    target_lengths = torch.tensor([len(tg) for tg in targets], dtype=torch.long)
    for reduction, zero_infinity in configs:
        z = torch.tensor(logits, requires_grad=True)
        loss_fn = torch.nn.CTCLoss(blank=blank, reduction=reduction, zero_infinity=zero_infinity)
        loss = loss_fn(
            z.log_softmax(2),
            flat,
            torch.tensor(input_lengths, dtype=torch.long),
            target_lengths,
        )
        total = loss.sum() if reduction == "none" else loss
        total.backward()
        if reduction == "none":
            value = [number(v) for v in loss.detach().tolist()]
        else:
            value = number(loss.item())
        out["configs"].append(
            {
                "reduction": reduction,
                "zero_infinity": zero_infinity,
                "loss": value,
                "grad": [number(v) for v in z.grad.reshape(-1).tolist()],
            }
        )
    return out


def main():
    rng = np.random.default_rng(20261202)
    every = [(r, zi) for r in ("mean", "sum", "none") for zi in (False, True)]
    cases = [
        # Varied lengths, repeated labels, an empty target, a length-1 input.
        case(
            "varied",
            rng,
            30,
            7,
            0,
            [30, 25, 12, 30, 7, 1, 3],
            [[1, 2, 3, 4], [5, 5, 6, 5, 5], [2, 2, 2], [], [6, 1, 6], [3], [4, 4]],
            every,
        ),
        # The blank last, as some toolkits put it.
        case(
            "blank_last",
            rng,
            20,
            5,
            4,
            [20, 18, 9, 20],
            [[0, 1, 2, 3, 0], [3, 3, 3], [1], [0, 0, 1, 1, 2, 2, 3, 3]],
            every,
        ),
        # Impossible alignments beside possible ones: "a a a a" needs 7 steps, the second
        # target needs 7; exactly enough steps for the third (a - a - a) and fourth.
        case(
            "impossible",
            rng,
            6,
            8,
            0,
            [6, 6, 5, 6, 0, 0],
            [[1, 1, 1, 1], [1, 2, 3, 4, 5, 6, 7], [2, 2, 2], [1, 2, 3, 4, 5, 6], [], [3]],
            every,
        ),
        # Long inputs: T = 500, targets of 120 and 200 labels with repeats.
        case(
            "long",
            rng,
            500,
            6,
            0,
            [500, 431],
            [
                [int(v) for v in rng.integers(1, 6, size=120)],
                [int(v) for v in rng.integers(1, 3, size=200)],
            ],
            [("mean", False)],
        ),
    ]
    path = os.path.join("tests", "reference", "ctc.json")
    with open(path, "w") as f:
        json.dump({"torch": torch.__version__, "cases": cases}, f)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
