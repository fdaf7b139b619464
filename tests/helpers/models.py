"""Small model factories for tests (seeded by the caller).

* ``random_mlp`` / ``random_cnn``: :class:`~nnequiv.ir.Network` objects built directly
  with the IR (no ONNX involved);
* ``torch_mlp`` / ``torch_cnn``: eval-mode torch modules (torch imported lazily);
* ``onnx_model``: a raw ``onnx.ModelProto`` from (op, inputs, outputs, attrs) tuples,
  for malformed or unusual graphs the IR would refuse to build.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from nnequiv.ir import Network, Node, TensorSpec


def random_mlp(rng: np.random.Generator, widths: Sequence[int], *, activation: str = "Relu",
               input_mean: Sequence[float] | None = None, input_range: Sequence[float] | None = None,
               output_scale: float | None = None, output_shift: float | None = None,
               name: str = "mlp", dtype: Any = np.float32) -> Network:
    """``[Sub] [Div] (Gemm act)* Gemm [Mul] [Add]``: input ``input`` / output ``output``.

    Per-sample shapes are ``(1, n)`` with a dynamic first axis, as ONNX import gives for
    ``[N, n]`` (and as ``from_torch`` gives for a Linear stack), so ``to_onnx_model``
    writes an ordinary ``[N, n]`` model.

    Weights are scaled ~ 1/sqrt(fan_in); the optional normalisation nodes match
    what the NNet importer produces.
    """
    nodes: list[Node] = []
    init: dict[str, np.ndarray] = {}
    current = "input"

    def step(op: str, name_: str, operands: tuple[str, ...] = (), **attrs: Any) -> None:
        nonlocal current
        nodes.append(Node(name_, op, (current, *operands), (name_,), attrs))
        current = name_

    if input_mean is not None:
        init["input_mean"] = np.asarray(input_mean, dtype=dtype)
        step("Sub", "centered", ("input_mean",))
    if input_range is not None:
        init["input_range"] = np.asarray(input_range, dtype=dtype)
        step("Div", "normalized", ("input_range",))
    for k, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:]), start=1):
        init[f"w{k}"] = rng.normal(0, 1 / np.sqrt(n_in), (n_out, n_in)).astype(dtype)
        init[f"b{k}"] = rng.normal(0, 0.3, n_out).astype(dtype)
        step("Gemm", f"gemm{k}", (f"w{k}", f"b{k}"), transB=1)
        if k < len(widths) - 1:
            step(activation, f"act{k}")
    n_out = widths[-1]
    if output_scale is not None:
        init["output_scale"] = np.full(n_out, output_scale, dtype=dtype)
        step("Mul", "scaled", ("output_scale",))
    if output_shift is not None:
        init["output_shift"] = np.full(n_out, output_shift, dtype=dtype)
        step("Add", "shifted", ("output_shift",))
    last = nodes[-1]
    nodes[-1] = Node(last.name, last.op, last.inputs, ("output",), last.attrs)
    return Network.create(inputs=(TensorSpec("input", (1, widths[0]), "float32", (0,)),),
                          outputs=(TensorSpec("output", (1, n_out), "float32", (0,)),),
                          nodes=nodes, initializers=init, name=name)


def random_cnn(rng: np.random.Generator, *, image: tuple[int, int, int] = (1, 6, 6), channels: int = 3,
               classes: int = 4, batchnorm: bool = True, residual: bool = True,
               name: str = "cnn") -> Network:
    """Conv3x3 [BN] Relu, Conv3x3 [BN] [+skip] Relu, Flatten, Gemm (same padding throughout)."""
    c_in, h, w = image
    init: dict[str, np.ndarray] = {}
    nodes: list[Node] = []

    def conv(k: int, src: str, cin: int) -> str:
        init[f"conv{k}_w"] = rng.normal(0, 1 / np.sqrt(9 * cin), (channels, cin, 3, 3)).astype(np.float32)
        init[f"conv{k}_b"] = rng.normal(0, 0.2, channels).astype(np.float32)
        nodes.append(Node(f"conv{k}", "Conv", (src, f"conv{k}_w", f"conv{k}_b"), (f"conv{k}",),
                          {"kernel_shape": (3, 3), "pads": (1, 1, 1, 1), "strides": (1, 1)}))
        out = f"conv{k}"
        if batchnorm:
            init[f"bn{k}_scale"] = rng.uniform(0.5, 1.5, channels).astype(np.float32)
            init[f"bn{k}_bias"] = rng.normal(0, 0.2, channels).astype(np.float32)
            init[f"bn{k}_mean"] = rng.normal(0, 0.2, channels).astype(np.float32)
            init[f"bn{k}_var"] = rng.uniform(0.5, 2.0, channels).astype(np.float32)
            nodes.append(Node(f"bn{k}", "BatchNormalization",
                              (out, f"bn{k}_scale", f"bn{k}_bias", f"bn{k}_mean", f"bn{k}_var"),
                              (f"bn{k}",), {"epsilon": 1e-5}))
            out = f"bn{k}"
        return out

    h1 = conv(1, "input", c_in)
    nodes.append(Node("relu1", "Relu", (h1,), ("relu1",)))
    h2 = conv(2, "relu1", channels)
    if residual:
        nodes.append(Node("skip", "Add", (h2, "relu1"), ("skip",)))
        h2 = "skip"
    nodes.append(Node("relu2", "Relu", (h2,), ("relu2",)))
    nodes.append(Node("flatten", "Flatten", ("relu2",), ("flat",), {"axis": 1}))
    features = channels * h * w
    init["fc_w"] = rng.normal(0, 1 / np.sqrt(features), (classes, features)).astype(np.float32)
    init["fc_b"] = rng.normal(0, 0.2, classes).astype(np.float32)
    nodes.append(Node("fc", "Gemm", ("flat", "fc_w", "fc_b"), ("output",), {"transB": 1}))
    return Network.create(inputs=(TensorSpec("input", (1, *image), "float32", (0,)),),
                          outputs=(TensorSpec("output", (1, classes), "float32", (0,)),),
                          nodes=nodes, initializers=init, name=name)


def mlp_reference(net: Network, x: np.ndarray) -> np.ndarray:
    """float64 numpy forward pass of a ``random_mlp``-shaped chain (Sub/Div/Gemm/Relu/Mul/Add).

    ``x`` is ``(B, n)``; the result is ``(B, m)``."""
    h = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    for node in net.nodes:
        c = [np.asarray(net.initializers[n], dtype=np.float64) for n in node.inputs[1:]]
        if node.op == "Gemm":
            w = c[0] if node.attr("transB", 0) else c[0].T
            h = h @ w.T + (c[1] if len(c) > 1 else 0.0)
        elif node.op == "Relu":
            h = np.maximum(h, 0.0)
        else:
            h = {"Sub": np.subtract, "Div": np.divide, "Mul": np.multiply, "Add": np.add}[node.op](h, c[0])
    return h


# --------------------------------------------------------------------------- torch
def torch_mlp(widths: Sequence[int], seed: int = 0) -> Any:
    """An eval-mode ``nn.Sequential`` of Linear/ReLU."""
    import torch

    torch.manual_seed(seed)
    layers: list[Any] = []
    for k, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(torch.nn.Linear(n_in, n_out))
        if k < len(widths) - 2:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers).eval()


def torch_cnn(seed: int = 0, *, channels: int = 4, image: tuple[int, int, int] = (1, 6, 6),
              classes: int = 3) -> Any:
    """An eval-mode residual CNN: conv-BN-relu, conv-BN + skip, relu, flatten, linear.

    BatchNorm running statistics are randomised so the normalisation is not the identity.
    """
    import torch
    from torch import nn

    class ResidualCnn(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(image[0], channels, 3, padding=1)
            self.bn1 = nn.BatchNorm2d(channels)
            self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
            self.bn2 = nn.BatchNorm2d(channels)
            self.fc = nn.Linear(channels * image[1] * image[2], classes)

        def forward(self, x: "torch.Tensor") -> "torch.Tensor":
            h = torch.relu(self.bn1(self.conv1(x)))
            h = torch.relu(self.bn2(self.conv2(h)) + h)
            return self.fc(torch.flatten(h, 1))

    torch.manual_seed(seed)
    model = ResidualCnn()
    with torch.no_grad():
        for bn in (model.bn1, model.bn2):
            bn.running_mean.uniform_(-0.3, 0.3)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.2, 0.2)
    return model.eval()


# --------------------------------------------------------------------------- raw ONNX
def onnx_model(nodes: Sequence[tuple], *, inputs: dict[str, Sequence[Any]],
               outputs: dict[str, Sequence[Any]], initializers: dict[str, np.ndarray] | None = None,
               opset: int = 17, name: str = "test") -> Any:
    """A raw ``onnx.ModelProto``.  ``nodes`` holds ``(op, inputs, outputs[, attrs])`` tuples;
    shapes may use ``"N"`` for a dynamic batch axis.  Nothing is validated."""
    from onnx import TensorProto, helper, numpy_helper

    graph_nodes = []
    for i, spec in enumerate(nodes):
        op, ins, outs = spec[:3]
        attrs = spec[3] if len(spec) > 3 else {}
        graph_nodes.append(helper.make_node(op, list(ins), list(outs), name=f"{op.lower()}{i}", **attrs))
    graph = helper.make_graph(
        graph_nodes, name,
        [helper.make_tensor_value_info(k, TensorProto.FLOAT, list(v)) for k, v in inputs.items()],
        [helper.make_tensor_value_info(k, TensorProto.FLOAT, list(v)) for k, v in outputs.items()],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in (initializers or {}).items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = min(model.ir_version, 8)
    return model
