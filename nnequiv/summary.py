"""A size summary of a :class:`~nnequiv.ir.Network`: layers, neurons, parameters, FLOPs.

Definitions (all per sample, i.e. for a batch of one):

* a *layer* is a ``Gemm``, ``MatMul``, ``Conv`` or ``ConvTranspose`` node; its
  ``neurons`` is the size of its output;
* total ``neurons`` counts the layers whose output reaches an element-wise
  activation (``Relu``, ``LeakyRelu``, ``Sigmoid`` ...) through affine nodes only
  (bias ``Add``, ``BatchNormalization``, ``Mul``/``Div`` by a constant, reshapes,
  a residual ``Add``) -- the hidden neurons; output logits do not count, not even
  before a ``Softmax``;
* ``parameters`` of a node is the size of its floating-point initializer inputs
  (integer initializers are shapes or indices); the total counts each
  initializer once;
* ``flops`` estimates multiply-adds as 2 FLOPs plus one per bias element, for
  layers only.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, Mapping

import numpy as np

from .ir import Network, Node

__all__ = ["LayerRow", "NetworkSummary", "TensorRow", "summarize", "LAYER_OPS", "ACTIVATION_OPS"]

LAYER_OPS = frozenset({"Gemm", "MatMul", "Conv", "ConvTranspose"})
ACTIVATION_OPS = frozenset({"Relu", "LeakyRelu", "PRelu", "Sigmoid", "Tanh", "Elu", "Selu", "Celu",
                            "Softplus", "Softsign", "HardSigmoid", "HardSwish", "Clip", "Gelu",
                            "Mish", "ThresholdedRelu", "Sign", "Abs"})
# nodes a layer's output may pass through on its way to an activation
_AFFINE_OPS = frozenset({"Add", "Sub", "Mul", "Div", "BatchNormalization", "Identity", "Reshape",
                         "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Dropout", "Neg"})


@dataclass(frozen=True)
class TensorRow:
    name: str
    shape: tuple[int, ...]
    dtype: str


@dataclass(frozen=True)
class LayerRow:
    """One node of the network."""

    name: str
    op: str
    output_shape: tuple[int, ...] | None
    neurons: int          # output size for layer ops, 0 otherwise
    parameters: int       # size of the node's floating-point initializer inputs
    flops: int            # 0 for non-layer ops
    activation: str | None  # the activation this layer feeds, if any


@dataclass(frozen=True)
class NetworkSummary:
    name: str
    opset: int
    inputs: tuple[TensorRow, ...]
    outputs: tuple[TensorRow, ...]
    layers: tuple[LayerRow, ...]
    nodes: int
    layer_count: int
    neurons: int
    parameters: int
    flops: int

    def to_dict(self) -> dict[str, Any]:
        """A JSON-compatible dict (tuples become lists)."""
        return json.loads(self.to_json())

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(asdict(self), indent=indent)


def summarize(net: Network) -> NetworkSummary:
    """Summarise ``net`` (shape inference errors propagate as :class:`~nnequiv.errors.ShapeError`)."""
    from .interpret import infer_shapes

    shapes = {**{s.name: tuple(s.shape) for s in net.inputs}, **dict(infer_shapes(net))}
    rows = tuple(_row(net, node, shapes) for node in net.nodes)
    used = {name for node in net.nodes for name in node.inputs if name in net.initializers}
    return NetworkSummary(
        name=net.name,
        opset=net.opset,
        inputs=tuple(TensorRow(s.name, tuple(s.shape), s.dtype) for s in net.inputs),
        outputs=tuple(TensorRow(s.name, tuple(shapes.get(s.name, s.shape)), s.dtype) for s in net.outputs),
        layers=rows,
        nodes=len(net.nodes),
        layer_count=sum(1 for r in rows if r.op in LAYER_OPS),
        neurons=sum(r.neurons for r in rows if r.activation is not None),
        parameters=sum(_float_size(net.initializers[name]) for name in sorted(used)),
        flops=sum(r.flops for r in rows),
    )


def _float_size(array: np.ndarray) -> int:
    return int(array.size) if np.issubdtype(array.dtype, np.floating) else 0


def _row(net: Network, node: Node, shapes: Mapping[str, tuple[int, ...]]) -> LayerRow:
    out = shapes.get(node.outputs[0]) if node.outputs else None
    out_shape = tuple(int(d) for d in out) if out is not None else None
    params = sum(_float_size(net.initializers[n]) for n in node.inputs if n in net.initializers)
    if node.op not in LAYER_OPS or out_shape is None:
        return LayerRow(node.name, node.op, out_shape, 0, params, 0, None)
    size = int(np.prod(out_shape, dtype=np.int64))
    return LayerRow(node.name, node.op, out_shape, size, params, _flops(net, node, shapes, size),
                    _activation_after(net, node))


def _shape(net: Network, name: str, shapes: Mapping[str, tuple[int, ...]]) -> tuple[int, ...] | None:
    if name in net.initializers:
        return tuple(net.initializers[name].shape)
    return shapes.get(name)


def _flops(net: Network, node: Node, shapes: Mapping[str, tuple[int, ...]], out_size: int) -> int:
    """2 x multiply-adds + bias additions, per sample."""
    has_bias = len(node.inputs) > 2 and bool(node.inputs[2])
    if node.op == "Gemm":
        b = _shape(net, node.inputs[1], shapes)
        if b is not None and len(b) == 2:
            inner = b[1] if node.attr("transB", 0) else b[0]
        else:
            a = _shape(net, node.inputs[0], shapes)
            inner = a[-1] if a else 0
    elif node.op == "MatMul":
        b = _shape(net, node.inputs[1], shapes)
        if b is not None and node.inputs[1] in net.initializers and len(b) >= 2:
            inner = b[-2]
        else:
            a = _shape(net, node.inputs[0], shapes)
            inner = a[-1] if a else 0
    else:  # Conv / ConvTranspose: weight (M, C/group, k...) or (C, M/group, k...)
        w = _shape(net, node.inputs[1], shapes)
        if not w:
            return 0
        if node.op == "Conv":
            inner = int(np.prod(w[1:], dtype=np.int64))
        else:  # each input element is scattered to M/group * prod(k) outputs
            x = _shape(net, node.inputs[0], shapes)
            x_size = int(np.prod(x, dtype=np.int64)) if x else 0
            return 2 * x_size * int(np.prod(w[1:], dtype=np.int64)) + (out_size if has_bias else 0)
    return 2 * int(inner) * out_size + (out_size if has_bias else 0)


def _activation_after(net: Network, node: Node) -> str | None:
    """The first element-wise activation reached from ``node`` through affine nodes only."""
    frontier = list(node.outputs)
    seen: set[str] = set()
    while frontier:
        tensor = frontier.pop(0)
        if tensor in seen:
            continue
        seen.add(tensor)
        for reader in net.consumers.get(tensor, ()):
            if reader.op in ACTIVATION_OPS:
                return reader.op
            if reader.op in _AFFINE_OPS:
                frontier.extend(reader.outputs[:1])
    return None
