"""Where proportional lumping applies (trusted): the layer around an activation node.

A *site* is ``head -> [bias Add] -> chain -> next`` where

* ``head`` is a Gemm / MatMul (neurons = output columns) or an ungrouped Conv (neurons =
  output channels),
* ``chain`` holds the anchor activation (Relu / LeakyRelu) and, for a Conv head, any
  channel-wise positively homogeneous pooling (MaxPool, AveragePool, GlobalAveragePool)
  before or after it (``proofs/lumping.md`` L4: each maps ``rho * channel`` to
  ``rho * (its image)`` for ``rho > 0``), then, for a Conv head, at most one Flatten /
  Reshape to ``(lead, channels * pixels)``,
* ``next`` is the one node reading the chain's output: Gemm / MatMul (dense head, or Conv
  head after the Flatten: channel ``c`` owns the ``pixels`` consecutive input rows
  ``c * pixels ..``) or an ungrouped Conv (input channel ``c``).

Every tensor on the way has one consumer and is no graph output.  Both weight tensors are
seen through a :class:`Layout`: one row per neuron (``incoming``: the neuron's filter /
row; ``outgoing``: everything the next node multiplies the neuron's output(s) by).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from ..interpret import infer_shapes
from ..ir import Network, Node
from .rewrites import RewriteError, _constant, _node, _sole_consumer

__all__ = ["ACTIVATIONS", "POOLS", "Layout", "Site", "lump_site"]

ACTIVATIONS = ("Relu", "LeakyRelu")
POOLS = ("MaxPool", "AveragePool", "GlobalAveragePool")      # channel-wise, positively homogeneous
FLATTENS = ("Flatten", "Reshape")


@dataclass(frozen=True)
class Layout:
    """A stored weight tensor of shape ``shape`` whose axis ``axis`` indexes neurons in blocks of ``block``;
    it is input ``position`` of its node (1; 0 for a MatMul ``W @ x`` with the weight on the left)."""

    shape: tuple[int, ...]
    axis: int
    block: int = 1
    position: int = 1

    def rows(self, array: np.ndarray) -> np.ndarray:
        """``(neurons, rest)``: neuron ``c``'s entries (a view when the layout allows it)."""
        moved = np.moveaxis(array, self.axis, 0)
        return moved.reshape(moved.shape[0] // self.block, -1)

    def stored(self, rows: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`rows` for any number of neuron rows."""
        rest = tuple(s for i, s in enumerate(self.shape) if i != self.axis)
        return np.ascontiguousarray(np.moveaxis(rows.reshape((rows.shape[0] * self.block,) + rest), 0, self.axis))


@dataclass(frozen=True, eq=False)
class Site:
    head: int                   # node indices in the network the site was read from
    add: int | None             # separate bias Add after a dense head
    activation: int
    flatten: int | None         # Flatten / Reshape between a Conv head and a Gemm / MatMul
    next: int
    incoming: np.ndarray        # (neurons, fan_in)
    bias: np.ndarray | None     # (neurons,)
    outgoing: np.ndarray        # (neurons, fan_out)
    in_layout: Layout
    out_layout: Layout

    @property
    def neurons(self) -> int:
        return self.incoming.shape[0]


def _weight_layout(net: Network, node: Node, item: str, *, reading: bool) -> tuple[np.ndarray, Layout]:
    """The node's constant weight and the axis of its output neurons (``reading`` False) or of
    its input neurons (``reading`` True)."""
    if node.op == "Gemm":
        if int(node.attr("transA", 0)) or float(node.attr("alpha", 1.0)) != 1.0 or \
                float(node.attr("beta", 1.0)) != 1.0:
            raise RewriteError(item, f"{node.name!r}: only Gemm with transA=0, alpha=beta=1")
        trans = int(node.attr("transB", 0))
        axis = (1 if trans else 0) if reading else (0 if trans else 1)
    elif node.op == "MatMul":
        if _weight_left(net, node):        # W @ x (VNN-COMP exports): neurons index W's rows
            weight = _constant(net, node.inputs[0], item, "weight")
            if weight.ndim != 2:
                raise RewriteError(item, f"{node.name!r}: weight must be a matrix")
            return weight, Layout(weight.shape, 1 if reading else 0, position=0)
        axis = 0 if reading else 1
    elif node.op == "Conv":
        if int(node.attr("group", 1)) != 1:
            raise RewriteError(item, f"{node.name!r} is a grouped Conv (group={node.attr('group')}); "
                                     "its channels are not lumped")
        axis = 1 if reading else 0
    else:
        raise RewriteError(item, f"{node.name!r} is {node.op}, not Gemm, MatMul or Conv")
    if node.inputs[0] in net.initializers or len(node.inputs) < 2:
        raise RewriteError(item, f"{node.name!r}: only a variable input times a constant weight")
    weight = _constant(net, node.inputs[1], item, "weight")
    if weight.ndim != 2 if node.op != "Conv" else weight.ndim < 3:
        raise RewriteError(item, f"{node.name!r}: weight must be a matrix (Conv: a filter bank)")
    return weight, Layout(weight.shape, axis)


def _weight_left(net: Network, node: Node) -> bool:
    return node.op == "MatMul" and node.inputs[0] in net.initializers and node.inputs[1] not in net.initializers


def _head(net: Network, start: str, act: Node, item: str) -> tuple[Node, Node | None, np.ndarray | None]:
    """Walk back from ``start`` through pools to the head (and its bias Add)."""
    tensor, reader, pooled = start, act, False
    while True:
        producer = net.producer.get(tensor)
        if producer is None:
            raise RewriteError(item, f"{act.name!r} reads the graph input, not a layer")
        _sole_consumer(net, tensor, reader, item)
        if producer.op not in POOLS:
            break
        tensor, reader, pooled = producer.inputs[0], producer, True
    add, bias = None, None
    if producer.op == "Add":
        const = [i for i, name in enumerate(producer.inputs) if name in net.initializers]
        if len(const) != 1:
            raise RewriteError(item, f"{producer.name!r}: only x + c with one constant c")
        bias = _constant(net, producer.inputs[const[0]], item, "bias")
        add, tensor = producer, producer.inputs[1 - const[0]]
        producer = net.producer.get(tensor)
        if producer is None:
            raise RewriteError(item, f"{add.name!r} reads the graph input, not a layer")
        _sole_consumer(net, tensor, add, item)
    if producer.op == "BatchNormalization":
        raise RewriteError(item, f"BatchNormalization {producer.name!r} before {act.name!r}: run fuse-bn first")
    if producer.op not in ("Gemm", "MatMul", "Conv"):
        raise RewriteError(item, f"{act.name!r} does not follow a Gemm, MatMul or Conv (found {producer.op})")
    if producer.op == "Conv" and add is not None:
        raise RewriteError(item, f"{act.name!r}: a separate bias Add after Conv {producer.name!r} is not lumped")
    if producer.op != "Conv" and pooled:
        raise RewriteError(item, f"{act.name!r}: pooling after {producer.op} {producer.name!r}")
    return producer, add, bias


def _next(net: Network, act: Node, conv_head: bool, item: str) -> tuple[Node | None, Node, str]:
    """Walk forward from the activation through pools (and a flatten) to the next layer."""
    tensor, flatten = act.outputs[0], None
    while True:
        consumers = net.consumers.get(tensor, ())
        if len(consumers) != 1 or any(o.name == tensor for o in net.outputs):
            raise RewriteError(item, f"tensor {tensor!r} after {act.name!r} must be read by exactly one node")
        node = consumers[0]
        if node.inputs[0] != tensor and not (flatten is None and _weight_left(net, node) and node.inputs[1] == tensor):
            raise RewriteError(item, f"{node.name!r} does not read {tensor!r} as its first input")
        if conv_head and flatten is None and node.op in POOLS:
            tensor = node.outputs[0]
        elif conv_head and flatten is None and node.op in FLATTENS:
            flatten, tensor = node, node.outputs[0]
        elif node.op == "BatchNormalization":
            raise RewriteError(item, f"BatchNormalization {node.name!r} after {act.name!r}: lumping would need "
                                     "to scale it per channel (not supported)")
        else:
            break
    wanted = ("Gemm", "MatMul") if (flatten is not None or not conv_head) else ("Conv",)
    if node.op not in wanted:
        raise RewriteError(item, f"the output of {act.name!r} reaches {node.op} {node.name!r}, "
                                 f"not {' or '.join(wanted)} (only pooling, Flatten and Reshape may sit between)")
    return flatten, node, tensor


def _flatten_block(net: Network, flatten: Node, channels: int, item: str) -> int:
    shapes = infer_shapes(net)
    before, after = shapes[flatten.inputs[0]], shapes[flatten.outputs[0]]
    pixels = math.prod(before[2:]) if len(before) >= 2 else 0
    if len(before) < 3 or before[1] != channels or after != (before[0], channels * pixels):
        raise RewriteError(item, f"{flatten.name!r} must flatten ({before}) to (lead, channels * pixels), "
                                 f"got {after}")
    if flatten.op == "Flatten" and int(flatten.attr("axis", 1)) not in (1, 1 - len(before)):
        raise RewriteError(item, f"{flatten.name!r}: only Flatten at axis 1")
    if flatten.op == "Reshape":
        if flatten.inputs[1] not in net.initializers or int(flatten.attr("allowzero", 0)):
            raise RewriteError(item, f"{flatten.name!r}: only Reshape to a constant shape without allowzero")
    return pixels


def lump_site(net: Network, activation: int, item: str = "activation") -> Site:
    """The lumpable site around an activation node, or RewriteError."""
    act = _node(net, activation, item)
    if act.op not in ACTIVATIONS:
        raise RewriteError(item, f"{act.name!r} is {act.op}, not Relu or LeakyRelu")
    index = {n.name: i for i, n in enumerate(net.nodes)}
    head, add, add_bias = _head(net, act.inputs[0], act, item)
    conv_head = head.op == "Conv"
    in_weight, in_layout = _weight_layout(net, head, item, reading=False)
    incoming = in_layout.rows(in_weight)
    neurons = incoming.shape[0]
    head_bias = None
    if len(head.inputs) > 2 and head.inputs[2]:
        head_bias = _constant(net, head.inputs[2], item, "bias")
    if head_bias is not None and add_bias is not None:
        raise RewriteError(item, f"{act.name!r}: two biases")
    bias = head_bias if head_bias is not None else add_bias
    if bias is not None and bias.shape != (neurons,):
        raise RewriteError(item, f"{act.name!r}: the bias must have one entry per neuron ({neurons})")
    flatten, nxt, _ = _next(net, act, conv_head, item)
    out_weight, out_layout = _weight_layout(net, nxt, item, reading=True)
    block = _flatten_block(net, flatten, neurons, item) if flatten is not None else 1
    out_layout = replace(out_layout, block=block)
    if out_weight.shape[out_layout.axis] != neurons * block:
        raise RewriteError(item, f"layer sizes do not fit: {neurons} neurons, {nxt.name!r} reads "
                                 f"{out_weight.shape[out_layout.axis]} inputs")
    return Site(index[head.name], None if add is None else index[add.name], activation,
                None if flatten is None else index[flatten.name], index[nxt.name], incoming, bias,
                out_layout.rows(out_weight), in_layout, out_layout)
