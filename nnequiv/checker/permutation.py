"""``permutation`` structural steps: reorder the neurons / channels of layers (trusted replay).

Each layer names a producing node (Conv, Gemm or MatMul with constant weights) and a
permutation ``p`` of its ``n`` output channels: the new channel ``i`` is the old channel
``p[i]``.  The replay reorders the producer's weight rows and bias, every per-channel
parameter on the way to the single consumer (BatchNormalization, an added constant), and
the consumer's input columns (Conv input channels, Gemm/MatMul rows; through a Flatten
the block of columns of each channel).  Between producer and consumer only ops that act
channel by channel are allowed; then the network computes the same function exactly
(``proofs/structural_match.md`` P1): ``sigma(P z) = P sigma(z)`` and ``W2 P^T P W1 = W2 W1``.
Through a residual ``Add`` both operands must carry the permutation, so the replay follows
the whole channel stream (P6): every producer whose output is summed into it gets the same
row order and every reader of it the same column order; it refuses any other op on it.
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

CHANNELWISE = ("Relu", "LeakyRelu", "Identity", "MaxPool", "AveragePool", "GlobalAveragePool")


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


class _Stream:
    """The channel stream of one permutation (P1, P6): every tensor whose channels the rewrite
    reorders, closed under both directions -- a reader that acts channel by channel carries the
    order on, an ``Add`` of two tensors needs both operands reordered alike (so the skip
    path's producer is permuted too), and a Conv / Gemm / MatMul reading the stream takes the
    reordered input columns.  Anything else touching the stream is refused."""

    def __init__(self, net: Network, item: str, shapes) -> None:
        self.net, self.item = net, item
        self.edit = _Editor(net)
        self.shapes = shapes
        self.carried: dict[str, tuple[np.ndarray, int]] = {}     # tensor -> (order, non-negative axis)
        self.done: set[tuple[str, str]] = set()                   # (node name, edit): each edit once
        self.queue: list[str] = []
        self.outputs = {o.name for o in net.outputs} | {i.name for i in net.inputs}

    def _once(self, node: Node, what: str) -> bool:
        key = (node.name, what)
        if key in self.done:
            return False
        self.done.add(key)
        return True

    def carry(self, tensor: str, order: np.ndarray, axis: int, via: Node) -> None:
        if tensor in self.outputs:
            raise RewriteError(self.item, f"the permuted channels reach {tensor!r}, a network input or output "
                                          f"(via {via.name!r})")
        if tensor not in self.shapes or tensor in self.net.initializers:
            raise RewriteError(self.item, f"{via.name!r} adds the permuted channels to a constant tensor {tensor!r}")
        axis %= len(self.shapes[tensor])
        if tensor in self.carried:
            known, known_axis = self.carried[tensor]
            if known_axis != axis or not np.array_equal(known, order):
                raise RewriteError(self.item, f"tensor {tensor!r} would carry two different channel orders "
                                              f"(at {via.name!r})")
            return
        self.carried[tensor] = (order, axis)
        self.queue.append(tensor)

    def run(self) -> Network:
        while self.queue:
            tensor = self.queue.pop(0)
            self._producer(tensor)
            for reader in self.net.consumers.get(tensor, ()):
                self._reader(reader, tensor)
        return self.edit.network()

    def _channel_axis(self, node: Node, axis: int, tensor: str) -> None:
        if axis != 1 or len(self.shapes[tensor]) < 2:
            raise RewriteError(self.item, f"{node.name!r} ({node.op}) acts on channel axis 1, the permuted axis "
                                          f"of {tensor!r} is {axis}")

    def _parameters(self, node: Node, order: np.ndarray, axis: int, tensor: str) -> None:
        """BatchNorm's four vectors, an added constant: reordered along the permuted axis (once)."""
        if not self._once(node, "parameters"):
            return
        if node.op == "BatchNormalization":
            self._channel_axis(node, axis, tensor)
            for slot in range(1, 5):
                self.edit.store(node, slot, _taken(self.edit.constant(node, slot, self.item), order, 0, self.item,
                                                   f"{node.name!r} parameter {slot}"))
            return
        for slot, name in enumerate(node.inputs):      # Add: the constant operand, if any
            if name in self.net.initializers:
                const = self.edit.constant(node, slot, self.item)
                at = axis - (len(self.shapes[tensor]) - const.ndim)
                if at >= 0:
                    self.edit.store(node, slot, _taken(const, order, at, self.item,
                                                       f"the constant added by {node.name!r}"))

    def _producer(self, tensor: str) -> None:
        """Make the node that writes ``tensor`` write it reordered."""
        order, axis = self.carried[tensor]
        node = self.net.producer.get(tensor)
        if node is None:
            raise RewriteError(self.item, f"tensor {tensor!r} has no producer to reorder")
        rank = len(self.shapes[tensor])
        if node.op in ("Conv", "Gemm", "MatMul"):
            if axis != (1 if node.op == "Conv" else rank - 1):
                raise RewriteError(self.item, f"{node.name!r} ({node.op}) does not produce channels on axis {axis}")
            if self._once(node, "rows"):
                _permute_producer(self.edit, node, order, self.item)
        elif node.op in CHANNELWISE or node.op == "BatchNormalization":
            if node.op in ("MaxPool", "AveragePool", "GlobalAveragePool") or node.op == "BatchNormalization":
                self._channel_axis(node, axis, tensor)
            if node.op == "BatchNormalization":
                self._parameters(node, order, axis, tensor)
            self.carry(node.inputs[0], order, axis, node)
        elif node.op == "Add":
            variables = [name for name in node.inputs if name not in self.net.initializers]
            if any(tuple(self.shapes[name]) != tuple(self.shapes[tensor]) for name in variables):
                raise RewriteError(self.item, f"{node.name!r} broadcasts a permuted operand")
            self._parameters(node, order, axis, tensor)
            for name in variables:
                self.carry(name, order, axis, node)
        elif node.op in ("Flatten", "Reshape") and node.inputs[0] in self.carried and \
                self._flattened(node, *self.carried[node.inputs[0]]) == (tuple(order), axis):
            return        # reached forward from its reordered input
        else:
            raise RewriteError(self.item, f"the permuted tensor {tensor!r} is written by {node.name!r} ({node.op}), "
                                          "which cannot be reordered")

    def _flattened(self, node: Node, order: np.ndarray, axis: int) -> tuple[tuple[int, ...], int] | None:
        """The order a Flatten / Reshape of a ``(1, C, ...)`` tensor to ``(1, C * ...)`` carries: each
        channel's block of columns (P1), or None when the node is not such a flatten."""
        shape = tuple(self.shapes[node.inputs[0]])
        if axis != 1 or len(shape) < 2 or shape[0] != 1 or \
                tuple(self.shapes[node.outputs[0]]) != (1, int(np.prod(shape))):
            return None
        block = int(np.prod(shape[2:]))
        return tuple(int(v) for v in (order[:, None] * block + np.arange(block)[None, :]).ravel()), 1

    def _reader(self, node: Node, tensor: str) -> None:
        order, axis = self.carried[tensor]
        rank = len(self.shapes[tensor])
        if node.op in CHANNELWISE or node.op == "BatchNormalization":
            if node.inputs[0] != tensor:
                raise RewriteError(self.item, f"{node.name!r} reads the permuted {tensor!r} as a parameter")
            if node.op in ("MaxPool", "AveragePool", "GlobalAveragePool"):
                self._channel_axis(node, axis, tensor)
            if node.op == "BatchNormalization":
                self._parameters(node, order, axis, tensor)
            self.carry(node.outputs[0], order, axis, node)
        elif node.op == "Add":
            self.carry(node.outputs[0], order, axis, node)    # its producer step reorders the other operand
        elif node.op in ("Flatten", "Reshape") and node.inputs[0] == tensor and \
                self._flattened(node, order, axis) is not None:
            flat, flat_axis = self._flattened(node, order, axis)
            self.carry(node.outputs[0], np.array(flat, dtype=np.int64), flat_axis, node)
        elif node.op in ("Conv", "Gemm", "MatMul") and node.inputs[0] == tensor:
            if self._once(node, "columns"):
                _permute_consumer(self.edit, node, order, axis == rank - 1, self.item)
        else:
            raise RewriteError(self.item, f"the permuted channels reach {node.name!r} ({node.op}), which does not "
                                          "act channel by channel")


def _permute_layer(net: Network, index: int, order: np.ndarray, item: str, shapes) -> Network:
    if not 0 <= index < len(net.nodes):
        raise RewriteError(f"{item}/node", f"no node #{index} in the source network")
    producer = net.nodes[index]
    if producer.op not in ("Conv", "Gemm", "MatMul"):
        raise RewriteError(f"{item}/node", f"{producer.name!r} is {producer.op}, not Conv, Gemm or MatMul")
    stream = _Stream(net, f"{item}/node", shapes)
    tensor = producer.outputs[0]
    stream.carry(tensor, order, 1 if producer.op == "Conv" else -1, producer)
    return stream.run()


def permute(net: Network, layers: Sequence[tuple[int, np.ndarray]]) -> Rewrite:
    """Apply each ``(producer node index, order)`` in turn; always exact (P1, P6).  Reordering
    weights never changes a tensor's shape, so one dry run serves every layer."""
    shapes = infer_shapes(net) if layers else {}
    for position, (index, order) in enumerate(layers):
        net = _permute_layer(net, index, order, f"layers/{position}", shapes)
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
