"""The README's first command (`make demo`): build an original network and a magnitude-pruned copy
in code, then run nnequiv's CLI on them exactly as a user would.

1. `nnequiv info` on both models,
2. `nnequiv check` with eps = 0.05 on an input box -> EQUIVALENT, with a certificate,
3. `nnequiv verify` re-checks the certificate with the trusted checker,
4. `nnequiv check` with a tighter eps -> NOT_EQUIVALENT, with a counterexample replayed exactly.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from nnequiv.ir import Network, Node, TensorSpec
from nnequiv.onnx_io import save_onnx

OUT = Path(__file__).resolve().parent / "demo_output"


def mlp(layers, name: str) -> Network:
    nodes, init, current = [], {}, "x"
    for k, (w, b) in enumerate(layers):
        init[f"w{k}"], init[f"b{k}"] = w.astype(np.float32), b.astype(np.float32)
        out = "y" if k == len(layers) - 1 else f"z{k}"
        nodes.append(Node(f"dense{k}", "Gemm", (current, f"w{k}", f"b{k}"), (out,), {"transB": 1}))
        current = out
        if k < len(layers) - 1:
            nodes.append(Node(f"relu{k}", "Relu", (out,), (f"h{k}",)))
            current = f"h{k}"
    return Network.create(inputs=[TensorSpec("x", (1, layers[0][0].shape[1]), "float32", (0,))],
                          outputs=[TensorSpec("y", (1, layers[-1][0].shape[0]), "float32", (0,))],
                          nodes=nodes, initializers=init, name=name)


def build_models() -> tuple[Path, Path]:
    rng = np.random.default_rng(7)
    widths = [5, 24, 24, 24, 5]
    layers = [(rng.normal(0, 1 / np.sqrt(a), (b, a)), rng.normal(0, 0.1, b)) for a, b in zip(widths[:-1], widths[1:])]
    pruned = []
    for w, b in layers:  # magnitude pruning: drop the 5 % smallest weights of every layer
        cut = np.quantile(np.abs(w), 0.05)
        pruned.append((np.where(np.abs(w) <= cut, 0.0, w), b))
    OUT.mkdir(exist_ok=True)
    original, reduced = OUT / "original.onnx", OUT / "pruned5.onnx"
    save_onnx(mlp(layers, "original"), original)
    save_onnx(mlp(pruned, "pruned5"), reduced)
    return original, reduced


def run(*args: str) -> int:
    command = [str(Path(sys.executable).with_name("nnequiv")), *args]
    shown = " ".join(["nnequiv", *(os.path.relpath(a) if a.endswith((".onnx", ".json")) else a for a in args)])
    print(f"\n$ {shown}", flush=True)
    return subprocess.run(command).returncode


def main() -> int:
    original, reduced = build_models()
    cert = OUT / "certificate.json"
    box = "--box=-0.1:0.1"
    steps = [
        (("info", str(original)), 0),
        (("check", str(original), str(reduced), box, "--eps", "0.05", "--cert", str(cert)), 0),
        (("verify", str(cert), str(original), str(reduced)), 0),
        (("check", str(original), str(reduced), box, "--eps", "0.001"), 1),
    ]
    for args, expected in steps:
        code = run(*args)
        print(f"(exit code {code})")
        if code != expected:
            print(f"demo: expected exit code {expected}", file=sys.stderr)
            return 1
    print("\nThe certificate is plain JSON: open", os.path.relpath(cert))
    return 0


if __name__ == "__main__":
    sys.exit(main())
