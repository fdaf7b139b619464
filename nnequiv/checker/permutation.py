"""``permutation`` structural steps: reorder the neurons / channels of layers (trusted replay).

Each layer names a producing node (Conv, Gemm or MatMul with constant weights) and a
permutation ``p`` of its ``n`` output channels: the new channel ``i`` is the old channel
``p[i]``.  The replay reorders the producer's weight rows and bias, every per-channel
parameter on the way to the single consumer (BatchNormalization, an added constant), and
the consumer's input columns (Conv input channels, Gemm/MatMul rows; through a Flatten
the block of columns of each channel).  Between producer and consumer only ops that act
channel by channel are allowed; then the network computes the same function exactly
(``proofs/structural_match.md`` P1): ``sigma(P z) = P sigma(z)`` and ``W2 P^T P W1 = W2 W1``.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..interpret import infer_shapes
from ..ir import Network, Node
from .registry import Problem
from .rewrites import Rewrite, RewriteError, _fresh, _names, _rebuild
from .structural import ReplayContext, _fields, _index, _run, replay

__all__ = ["CHANNELWISE", "check_permutation", "permute"]

CHANNELWISE = ("Relu", "LeakyRelu", "Identity", "MaxPool", "AveragePool")


class _Editor:
    """Collects replaced initializers (fresh names, so a shared constant is never edited twice)."""

    def __init__(self, net: Network) -> None:
        self.net = net
        self.nodes: list[Node | None] = list(net.nodes)
        self.taken = _names(net)
        self.added: dict[str, np.ndarray] = {}
        self.position = {n.name: i for i, n in enumerate(net.nodes)}

    def constant(self, node: Node, slot: int, item: str) -> np.ndarray:
        current = self.nodes[self.position[node.name]]
        name = current.inputs[slot]
        array = self.added.get(name, self.net.initializers.get(name))
        if array is None:
            raise RewriteError(item, f"input {slot} of {node.name!r} is not a stored constant")
        return np.asarray(array)

    def store(self, node: Node, slot: int, array: np.ndarray) -> None:
        index = self.position[node.name]
        current = self.nodes[index]
        name = _fresh(self.taken, f"{current.name}_in{slot}_perm")
        self.added[name] = np.ascontiguousarray(array)
        inputs = list(current.inputs)
        inputs[slot] = name
        self.nodes[index] = Node(current.name, current.op, tuple(inputs), current.outputs, dict(current.attrs))

    def network(self) -> Network:
        return _rebuild(self.net, self.nodes, self.added)


def _taken(array: np.ndarray, order: np.ndarray, axis: int, item: str, what: str) -> np.ndarray:
    if array.ndim == 0 or array.shape[axis] == 1:
        return array
    if array.shape[axis] != order.size:
        raise RewriteError(item, f"{what} has {array.shape[axis]} entries along the permuted axis, "
                                 f"not {order.size}")
    return np.take(array, order, axis=axis)


def _permute_producer(edit: _Editor, node: Node, order: np.ndarray, item: str) -> None:
    if node.op == "Conv":
        edit.store(node, 1, _taken(edit.constant(node, 1, item), order, 0, item, "the weight"))
    elif node.op == "Gemm":
        if int(node.attr("transA", 0)):
            raise RewriteError(item, "only Gemm with transA=0 is permuted")
        axis = 0 if int(node.attr("transB", 0)) else 1
        edit.store(node, 1, _taken(edit.constant(node, 1, item), order, axis, item, "the weight"))
    elif node.op == "MatMul":
        weight = edit.constant(node, 1, item)
        if weight.ndim != 2:
            raise RewriteError(item, "only MatMul by a constant matrix is permuted")
        edit.store(node, 1, _taken(weight, order, 1, item, "the weight"))
    else:
        raise RewriteError(item, f"{node.name!r} is {node.op}, not Conv, Gemm or MatMul")
    if node.op in ("Conv", "Gemm") and len(node.inputs) > 2 and node.inputs[2]:
        edit.store(node, 2, _taken(edit.constant(node, 2, item), order, -1, item, "the bias"))


def _permute_consumer(edit: _Editor, node: Node, order: np.ndarray, last_axis: bool, item: str) -> None:
    """The consumer contracts over the permuted axis: Conv over axis 1, Gemm / MatMul over the last."""
    if node.op == "Conv" and last_axis or node.op in ("Gemm", "MatMul") and not last_axis:
        raise RewriteError(item, f"{node.name!r} ({node.op}) does not contract over the permuted axis")
    if node.op == "Conv":
        if int(node.attr("group", 1)) != 1:
            raise RewriteError(item, f"{node.name!r} is a grouped Conv")
        edit.store(node, 1, _taken(edit.constant(node, 1, item), order, 1, item, "the consumer's weight"))
    elif node.op in ("Gemm", "MatMul"):
        if node.op == "Gemm" and int(node.attr("transA", 0)):
            raise RewriteError(item, "only Gemm with transA=0 is permuted")
        axis = 1 if node.op == "Gemm" and int(node.attr("transB", 0)) else 0
        edit.store(node, 1, _taken(edit.constant(node, 1, item), order, axis, item, "the consumer's weight"))
    else:
        raise RewriteError(item, f"the permuted channels reach {node.name!r} ({node.op}), which does not act "
                                 "channel by channel")


def _permute_layer(net: Network, index: int, order: np.ndarray, item: str) -> Network:
    if not 0 <= index < len(net.nodes):
        raise RewriteError(f"{item}/node", f"no node #{index} in the source network")
    producer = net.nodes[index]
    edit = _Editor(net)
    _permute_producer(edit, producer, order, f"{item}/node")
    shapes = infer_shapes(net)
    tensor, axis = producer.outputs[0], 1 if producer.op == "Conv" else -1
    while True:
        readers = net.consumers.get(tensor, ())
        if len(readers) != 1 or any(o.name == tensor for o in net.outputs) or readers[0].inputs[0] != tensor:
            raise RewriteError(f"{item}/node", f"tensor {tensor!r} must be read by exactly one node, as its "
                                               "first input (and not be a network output)")
        node = readers[0]
        if node.op in CHANNELWISE:
            if node.op in ("MaxPool", "AveragePool") and axis != 1:
                raise RewriteError(f"{item}/node", f"{node.name!r} pools a non-channel axis")
        elif node.op == "BatchNormalization" and axis % len(shapes[tensor]) == 1:
            for slot in range(1, 5):
                edit.store(node, slot, _taken(edit.constant(node, slot, item), order, 0, item,
                                              f"{node.name!r} parameter {slot}"))
        elif node.op == "Add" and sum(name in net.initializers for name in node.inputs) == 1:
            slot = 0 if node.inputs[0] in net.initializers else 1
            const = edit.constant(node, slot, item)
            rank = len(shapes[tensor])
            at = (axis % rank) - (rank - const.ndim)
            if at >= 0:
                edit.store(node, slot, _taken(const, order, at, item, f"the constant added by {node.name!r}"))
        elif node.op in ("Flatten", "Reshape") and axis == 1 and len(shapes[tensor]) >= 2 and \
                shapes[tensor][0] == 1 and shapes[node.outputs[0]] in ((1, int(np.prod(shapes[tensor]))),):
            block = int(np.prod(shapes[tensor][2:]))
            order = (order[:, None] * block + np.arange(block)[None, :]).ravel()
            axis = -1
        else:
            rank = len(shapes[tensor])
            _permute_consumer(edit, node, order, axis % rank == rank - 1, f"{item}/node")
            return edit.network()
        tensor = node.outputs[0]


def permute(net: Network, layers: Sequence[tuple[int, np.ndarray]]) -> Rewrite:
    """Apply each ``(producer node index, order)`` in turn; always exact (P1)."""
    for position, (index, order) in enumerate(layers):
        net = _permute_layer(net, index, order, f"layers/{position}")
    return Rewrite(net, True)


@replay("permutation")
def check_permutation(ctx: ReplayContext) -> tuple[list[Problem], Network | None]:
    def parse(entry: Any, item: str) -> tuple[int, np.ndarray]:
        node, order = _fields(entry, item, "node", "permutation")
        if not isinstance(order, list) or not order:
            raise RewriteError(f"{item}/permutation", "not a non-empty list")
        values = [_index(v, f"{item}/permutation/{k}") for k, v in enumerate(order)]
        seen: set[int] = set()
        for k, v in enumerate(values):
            if not 0 <= v < len(values) or v in seen:
                raise RewriteError(f"{item}/permutation/{k}", f"entry {v} repeats or is outside 0..{len(values) - 1}: "
                                                              "not a permutation")
            seen.add(v)
        return _index(node, f"{item}/node"), np.array(values, dtype=np.int64)
    return _run(ctx, "layers", parse, permute)
