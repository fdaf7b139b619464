"""Build the demo's ONNX models in code (nothing binary is committed).

``original``     a small classifier: Gemm -> Relu -> Gemm, 4 inputs, 8 hidden units, 3 outputs
``reexported``   the same network re-exported as MatMul + Add with transposed weights
                 (what many exporters write): a different file, the same function
``fp16``         the weights rounded to float16 (stored as float32): close, not identical
``pruned``       the hidden unit with the smallest outgoing weights removed: not equivalent

Run ``python build_models.py DIR`` to write them to DIR, or call :func:`build`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

N_IN, N_HIDDEN, N_OUT = 4, 8, 3
OPSET = 17


def _weights(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    w1 = rng.normal(0, 1 / np.sqrt(N_IN), (N_HIDDEN, N_IN)).astype(np.float32)
    b1 = rng.normal(0, 0.3, N_HIDDEN).astype(np.float32)
    w2 = rng.normal(0, 1 / np.sqrt(N_HIDDEN), (N_OUT, N_HIDDEN)).astype(np.float32)
    b2 = rng.normal(0, 0.3, N_OUT).astype(np.float32)
    return w1, b1, w2, b2


def _model(nodes, initializers: dict[str, np.ndarray], name: str) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", N_IN])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", N_OUT])],
        initializer=[numpy_helper.from_array(v, k) for k, v in initializers.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="pytest_demo")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def gemm_mlp(w1, b1, w2, b2, name: str) -> onnx.ModelProto:
    nodes = [helper.make_node("Gemm", ["x", "w1", "b1"], ["h"], transB=1),
             helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("Gemm", ["r", "w2", "b2"], ["y"], transB=1)]
    return _model(nodes, {"w1": w1, "b1": b1, "w2": w2, "b2": b2}, name)


def matmul_mlp(w1, b1, w2, b2, name: str) -> onnx.ModelProto:
    nodes = [helper.make_node("MatMul", ["x", "w1t"], ["m1"]), helper.make_node("Add", ["m1", "b1"], ["h"]),
             helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("MatMul", ["r", "w2t"], ["m2"]), helper.make_node("Add", ["m2", "b2"], ["y"])]
    return _model(nodes, {"w1t": np.ascontiguousarray(w1.T), "b1": b1, "w2t": np.ascontiguousarray(w2.T),
                          "b2": b2}, name)


def models() -> dict[str, onnx.ModelProto]:
    w1, b1, w2, b2 = _weights()
    half = [a.astype(np.float16).astype(np.float32) for a in (w1, b1, w2, b2)]
    drop = int(np.argmin(np.abs(w2).sum(axis=0)))
    keep = [j for j in range(N_HIDDEN) if j != drop]
    return {
        "original": gemm_mlp(w1, b1, w2, b2, "original"),
        "reexported": matmul_mlp(w1, b1, w2, b2, "reexported"),
        "fp16": gemm_mlp(*half, "fp16"),
        "pruned": gemm_mlp(w1[keep], b1[keep], w2[:, keep], b2, "pruned"),
    }


def build(directory: str | Path) -> dict[str, Path]:
    """Write every model as ``DIR/<name>.onnx``; returns name -> path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, model in models().items():
        paths[name] = directory / f"{name}.onnx"
        onnx.save_model(model, str(paths[name]))
    return paths


if __name__ == "__main__":
    for name, path in build(sys.argv[1] if len(sys.argv) > 1 else "models").items():
        print(f"{name:<11} {path}")
