#!/usr/bin/env python3
"""Runs the ONNX models a Rust test exported, in onnxruntime, and compares with our outputs.

    python3 tests/onnx/check.py DIR

DIR holds, per model, `<name>.onnx` and `<name>.json`: a list of runs, each with the inputs to
feed (`feeds`: name -> {"shape", "data", "dtype"}) and the outputs we computed (`expected`:
name -> {"shape", "data"}). Every model must pass `onnx.checker.check_model(full_check=True)`,
and every output must agree: |ours - onnxruntime| <= 1e-5 * (1 + |onnxruntime|).

Exit status: 0 if everything agrees, 1 if something does not, 2 if `onnx` or `onnxruntime`
cannot be imported (the Rust test decides whether that is a skip or a failure).
"""

import json
import os
import sys

try:
    import numpy as np
    import onnx
    import onnxruntime as ort
except ImportError as e:  # pragma: no cover - reported to the Rust test
    print(f"cannot import onnx/onnxruntime/numpy: {e}")
    sys.exit(2)

TOL = 1e-5


def tensor(t):
    dtype = np.int64 if t.get("dtype") == "int64" else np.float32
    return np.asarray(t["data"], dtype=dtype).reshape(t["shape"])


def main(folder):
    names = sorted(f[:-5] for f in os.listdir(folder) if f.endswith(".onnx"))
    failures, runs, worst = [], 0, 0.0
    options = ort.SessionOptions()
    options.log_severity_level = 3
    for name in names:
        path = os.path.join(folder, name + ".onnx")
        try:
            onnx.checker.check_model(onnx.load(path), full_check=True)
        except Exception as e:  # noqa: BLE001 - any checker error is a failure
            failures.append(f"{name}: the ONNX checker refuses the model: {e}")
            continue
        try:
            session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        except Exception as e:  # noqa: BLE001
            failures.append(f"{name}: onnxruntime cannot load the model: {e}")
            continue
        with open(os.path.join(folder, name + ".json")) as f:
            cases = json.load(f)
        for k, case in enumerate(cases):
            feeds = {n: tensor(t) for n, t in case["feeds"].items()}
            wanted = list(case["expected"])
            try:
                got = session.run(wanted, feeds)
            except Exception as e:  # noqa: BLE001
                failures.append(f"{name} run {k}: onnxruntime fails: {e}")
                continue
            runs += 1
            for out, value in zip(wanted, got):
                exp = tensor(case["expected"][out])
                if value.shape != exp.shape:
                    failures.append(f"{name} run {k} `{out}`: shape {value.shape}, ours {exp.shape}")
                    continue
                err = np.abs(exp.astype(np.float64) - value) / (1.0 + np.abs(value))
                e = float(err.max()) if err.size else 0.0
                worst = max(worst, e)
                if not e <= TOL:
                    i = np.unravel_index(int(np.argmax(err)), err.shape)
                    failures.append(
                        f"{name} run {k} `{out}`{list(i)}: ours {exp[i]}, onnxruntime {value[i]} "
                        f"(relative error {e:.3g})"
                    )
    print(f"{len(names)} models, {runs} runs, largest |a - b| / (1 + |b|) = {worst:.3g}")
    for line in failures[:40]:
        print("FAIL", line)
    return 1 if failures or not names else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
