"""In-memory ONNX models for tests, and onnxruntime as the reference (optimisations off)."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

Shape = Sequence["int | str"]


def make_model(nodes: Sequence[onnx.NodeProto], inputs: Mapping[str, Shape], outputs: Mapping[str, Shape | None],
               initializers: Mapping[str, np.ndarray] | None = None, opset: int = 17,
               name: str = "test") -> onnx.ModelProto:
    """A model with float32 inputs/outputs (``None`` output shape: leave it undeclared)."""
    def info(key: str, shape: Shape | None) -> onnx.ValueInfoProto:
        return helper.make_tensor_value_info(key, TensorProto.FLOAT, None if shape is None else list(shape))

    graph = helper.make_graph(
        list(nodes), name, [info(k, s) for k, s in inputs.items()], [info(k, s) for k, s in outputs.items()],
        initializer=[numpy_helper.from_array(np.asarray(v), k) for k, v in (initializers or {}).items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = max(helper.find_min_ir_version_for([helper.make_opsetid("", opset)]), 7)
    return model


def single_op(op: str, input_shape: Shape, initializers: Mapping[str, np.ndarray] | None = None, *,
              operands: Sequence[str] = ("x",), opset: int = 17, output_shape: Shape | None = None,
              **attrs) -> onnx.ModelProto:
    """``y = op(*operands)`` with variable input ``x``; other operands are initializers."""
    node = helper.make_node(op, list(operands), ["y"], name=f"{op.lower()}_node", **attrs)
    return make_model([node], {"x": input_shape}, {"y": output_shape}, initializers, opset)


def session(model: onnx.ModelProto) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def ort_per_sample(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    """onnxruntime on each sample of the batch ``x`` (model input of the per-sample shape)."""
    sess = session(model)
    name = sess.get_inputs()[0].name
    return np.stack([sess.run(None, {name: sample.astype(np.float32)})[0] for sample in x])


def ort_batch(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    sess = session(model)
    return sess.run(None, {sess.get_inputs()[0].name: x.astype(np.float32)})[0]


def f32(rng: np.random.Generator, *shape: int, scale: float = 1.0) -> np.ndarray:
    return (rng.normal(size=shape) * scale).astype(np.float32)


def random_mlp(rng: np.random.Generator, widths: Sequence[int], *, opset: int = 17,
               batch_dim: bool = True, leaky: float | None = None) -> onnx.ModelProto:
    """Gemm + Relu (or LeakyRelu) layers; input ``[N, widths[0]]`` or ``[widths[0]]`` (MatMul form)."""
    nodes, init = [], {}
    current = "x"
    for k, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:])):
        init[f"w{k}"] = f32(rng, n_out, n_in, scale=1 / np.sqrt(n_in))
        init[f"b{k}"] = f32(rng, n_out, scale=0.1)
        if batch_dim:
            nodes.append(helper.make_node("Gemm", [current, f"w{k}", f"b{k}"], [f"h{k}"], transB=1))
        else:
            nodes.append(helper.make_node("MatMul", [f"w{k}", current], [f"m{k}"]))
            nodes.append(helper.make_node("Add", [f"m{k}", f"b{k}"], [f"h{k}"]))
        current = f"h{k}"
        if k < len(widths) - 2:
            act = (helper.make_node("LeakyRelu", [current], [f"r{k}"], alpha=leaky) if leaky is not None
                   else helper.make_node("Relu", [current], [f"r{k}"]))
            nodes.append(act)
            current = f"r{k}"
    nodes[-1].output[0] = "y"
    in_shape = ["N", widths[0]] if batch_dim else [widths[0]]
    out_shape = ["N", widths[-1]] if batch_dim else [widths[-1]]
    return make_model(nodes, {"x": in_shape}, {"y": out_shape}, init, opset)


def small_cnn(rng: np.random.Generator, *, opset: int = 17, channels: int = 3, size: int = 8) -> onnx.ModelProto:
    """Conv/BatchNorm/Relu/MaxPool/AveragePool/residual Add/GlobalAveragePool/Flatten/Gemm."""
    c = 4
    init = {
        "w1": f32(rng, c, channels, 3, 3, scale=0.3), "b1": f32(rng, c, scale=0.1),
        "bn_s": f32(rng, c) + 1.5, "bn_b": f32(rng, c, scale=0.1), "bn_m": f32(rng, c, scale=0.1),
        "bn_v": np.abs(f32(rng, c)) + 0.5,
        "w2": f32(rng, c, c // 2, 3, 3, scale=0.3),
        "wf": f32(rng, 3, c, scale=0.5), "bf": f32(rng, 3, scale=0.1),
    }
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c1", "bn_s", "bn_b", "bn_m", "bn_v"], ["n1"], epsilon=1e-3),
        helper.make_node("Relu", ["n1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2"], ["c2"], pads=[1, 1, 1, 1], group=2),
        helper.make_node("Add", ["c2", "r1"], ["s2"]),
        helper.make_node("MaxPool", ["s2"], ["p2"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("AveragePool", ["p2"], ["a2"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("GlobalAveragePool", ["a2"], ["g"]),
        helper.make_node("Flatten", ["g"], ["f"]),
        helper.make_node("Gemm", ["f", "wf", "bf"], ["y"], transB=1),
    ]
    return make_model(nodes, {"x": ["N", channels, size, size]}, {"y": ["N", 3]}, init, opset)


def resnet18_like(rng: np.random.Generator, *, size: int = 224, classes: int = 1000) -> onnx.ModelProto:
    """ResNet-18 layout (random weights): 7x7/2 stem, 4 stages of 2 basic blocks, GAP, Gemm."""
    nodes: list[onnx.NodeProto] = []
    init: dict[str, np.ndarray] = {}
    counter = iter(range(10_000))

    def conv_bn(x: str, c_in: int, c_out: int, k: int, stride: int, relu: bool) -> str:
        i = next(counter)
        init[f"w{i}"] = f32(rng, c_out, c_in, k, k, scale=np.sqrt(2 / (c_in * k * k)))
        init.update({f"s{i}": np.ones(c_out, np.float32), f"b{i}": np.zeros(c_out, np.float32),
                     f"m{i}": f32(rng, c_out, scale=0.01), f"v{i}": np.ones(c_out, np.float32)})
        nodes.append(helper.make_node("Conv", [x, f"w{i}"], [f"c{i}"], kernel_shape=[k, k],
                                      strides=[stride] * 2, pads=[k // 2] * 4))
        nodes.append(helper.make_node("BatchNormalization", [f"c{i}", f"s{i}", f"b{i}", f"m{i}", f"v{i}"], [f"n{i}"]))
        if not relu:
            return f"n{i}"
        nodes.append(helper.make_node("Relu", [f"n{i}"], [f"r{i}"]))
        return f"r{i}"

    h = conv_bn("x", 3, 64, 7, 2, True)
    nodes.append(helper.make_node("MaxPool", [h], ["pool"], kernel_shape=[3, 3], strides=[2, 2], pads=[1] * 4))
    h, c_in = "pool", 64
    for c_out, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        for block in range(2):
            s = stride if block == 0 else 1
            a = conv_bn(h, c_in, c_out, 3, s, True)
            b = conv_bn(a, c_out, c_out, 3, 1, False)
            skip = conv_bn(h, c_in, c_out, 1, s, False) if (s != 1 or c_in != c_out) else h
            j = next(counter)
            nodes.append(helper.make_node("Add", [b, skip], [f"add{j}"]))
            nodes.append(helper.make_node("Relu", [f"add{j}"], [f"out{j}"]))
            h, c_in = f"out{j}", c_out
    init["fc_w"] = f32(rng, classes, 512, scale=0.05)
    init["fc_b"] = f32(rng, classes, scale=0.01)
    nodes += [helper.make_node("GlobalAveragePool", [h], ["gap"]),
              helper.make_node("Flatten", ["gap"], ["flat"]),
              helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["y"], transB=1)]
    return make_model(nodes, {"x": ["N", 3, size, size]}, {"y": ["N", classes]}, init, 17)
