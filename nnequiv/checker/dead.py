"""``bias_propagation`` structural steps: remove dead neurons / channels (trusted replay).

Each layer names a producing node (Conv, Gemm or MatMul) and neurons whose incoming weights
are exactly zero, so each is the constant ``b_k`` (``proofs/bias_propagation.md`` P1, and for
Conv at every position, also with padding).  The constant is followed exactly (Fractions)
through the channel-wise ops up to the single consumer -- a BatchNorm with ``gamma_k = 0``
gives ``beta_k``, one with ``b_k = mu_k`` gives ``beta_k``, any other is refused (irrational);
ReLU / LeakyReLU apply; pooling only of a zero channel.  The consumer's input columns are
dropped and, for a Gemm, ``V[:, k] a`` is added to its bias (P1) when the sum is exactly
representable; a Conv consumer accepts only ``a = 0`` (a non-zero constant would need the
spatial bias of P3-P5).  Otherwise the step is refused with the item named.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any, Sequence

import numpy as np

from ..interpret import infer_shapes
from ..ir import Network
from .permutation import _Editor
from .registry import Problem
from .rewrites import Rewrite, RewriteError, _as_dtype, _fractions
from .structural import ReplayContext, _fields, _index, _run, replay

__all__ = ["check_bias_propagation", "remove_dead"]


def _kept(n: int, dead: Sequence[int]) -> np.ndarray:
    return np.array([r for r in range(n) if r not in set(dead)], dtype=np.int64)


def _producer_rows(edit: _Editor, node, dead: Sequence[int], item: str) -> tuple[int, list[Fraction]]:
    """Check the dead rows are zero, drop them; return the channel count and the constants ``b_k``."""
    if node.op not in ("Conv", "Gemm", "MatMul") or node.op == "Gemm" and int(node.attr("transA", 0)):
        raise RewriteError(item, f"{node.name!r} is {node.op}, not Conv, Gemm (transA=0) or MatMul")
    weight = edit.constant(node, 1, item)
    if weight.ndim < 2:
        raise RewriteError(item, f"{node.name!r} needs a constant weight matrix or kernel")
    axis = 0 if node.op == "Conv" or node.op == "Gemm" and int(node.attr("transB", 0)) else 1
    n = weight.shape[axis]
    if any(not 0 <= k < n for k in dead) or len(set(dead)) != len(dead):
        raise RewriteError(item, f"neurons must be distinct indices in 0..{n - 1}")
    for k in dead:
        if np.any(np.take(weight, k, axis=axis) != 0):
            raise RewriteError(item, f"neuron {k} of {node.name!r} has non-zero incoming weights")
    keep = _kept(n, dead)
    edit.store(node, 1, np.take(weight, keep, axis=axis))
    constants = [Fraction(0)] * len(dead)
    if node.op != "MatMul" and len(node.inputs) > 2 and node.inputs[2]:
        bias = np.broadcast_to(edit.constant(node, 2, item).reshape(-1), (n,))
        constants = [_fractions(bias[k:k + 1], item)[0] for k in dead]
        edit.store(node, 2, bias[keep])
    return n, constants


def _through(edit: _Editor, node, values: list[Fraction], dead, n: int, item: str) -> list[Fraction]:
    """The constants after one channel-wise op (BatchNorm parameters of dead channels dropped)."""
    if node.op == "BatchNormalization":
        gamma, beta, mean = (edit.constant(node, slot, item) for slot in (1, 2, 3))
        out = []
        for value, k in zip(values, dead):
            g, b, m = (_fractions(p[k:k + 1], item)[0] for p in (gamma, beta, mean))
            if g != 0 and value != m:
                raise RewriteError(item, f"channel {k}: BatchNorm of a constant with gamma != 0 is irrational")
            out.append(b)
        for slot in range(1, 5):
            edit.store(node, slot, edit.constant(node, slot, item)[_kept(n, dead)])
        return out
    if node.op == "Relu":
        return [max(v, Fraction(0)) for v in values]
    if node.op == "LeakyRelu":
        alpha = Fraction(float(node.attr("alpha", 0.01)))
        return [v if v >= 0 else alpha * v for v in values]
    if node.op in ("MaxPool", "AveragePool") and all(v == 0 for v in values):
        return values
    if node.op == "Identity":
        return values
    raise RewriteError(item, f"the dead channels reach {node.name!r} ({node.op}) with constants "
                             f"{[str(v) for v in values][:3]}")


def _consumer(edit: _Editor, node, columns: np.ndarray, values: list[Fraction], last_axis: bool,
              item: str) -> None:
    weight = edit.constant(node, 1, item)
    if node.op == "Conv" and not last_axis and int(node.attr("group", 1)) == 1:
        axis = 1
    elif node.op in ("Gemm", "MatMul") and last_axis and not (node.op == "Gemm" and int(node.attr("transA", 0))):
        axis = 1 if node.op == "Gemm" and int(node.attr("transB", 0)) else 0
    else:
        raise RewriteError(item, f"{node.name!r} ({node.op}) does not read the dead channels as a linear layer")
    dead_cols = sorted(set(range(weight.shape[axis])) - set(columns.tolist()))
    if any(values):
        if node.op != "Gemm" or len(node.inputs) < 3 or not node.inputs[2]:
            raise RewriteError(item, f"non-zero constant channels need a Gemm consumer with a bias, not {node.op}")
        bias = edit.constant(node, 2, item)
        contribution = sum(_fractions(np.take(weight, c, axis=axis), item) * v for c, v in zip(dead_cols, values))
        merged, exact = _as_dtype(np.broadcast_to(_fractions(bias, item), contribution.shape) + contribution,
                                  bias.dtype)
        if not exact:
            raise RewriteError(item, "the propagated bias is not exactly representable (inexact removal is "
                                     "not certified)")
        edit.store(node, 2, merged)
    edit.store(node, 1, np.take(weight, columns, axis=axis))


def _remove_layer(net: Network, index: int, dead: Sequence[int], item: str) -> Network:
    if not 0 <= index < len(net.nodes):
        raise RewriteError(f"{item}/node", f"no node #{index} in the source network")
    producer = net.nodes[index]
    edit = _Editor(net)
    dead = sorted(dead)
    n, values = _producer_rows(edit, producer, dead, f"{item}/node")
    shapes = infer_shapes(net)
    tensor, axis, columns = producer.outputs[0], 1 if producer.op == "Conv" else -1, _kept(n, dead)
    while True:
        readers = net.consumers.get(tensor, ())
        if len(readers) != 1 or any(o.name == tensor for o in net.outputs) or readers[0].inputs[0] != tensor:
            raise RewriteError(f"{item}/node", f"tensor {tensor!r} must be read by exactly one node, as its "
                                               "first input (and not be a network output)")
        node = readers[0]
        rank = len(shapes[tensor])
        if node.op in ("Flatten", "Reshape") and axis == 1 and shapes[tensor][0] == 1 and \
                shapes[node.outputs[0]] == (1, int(np.prod(shapes[tensor]))):
            block = int(np.prod(shapes[tensor][2:]))
            columns = (columns[:, None] * block + np.arange(block)[None, :]).ravel()
            values = [v for v in values for _ in range(block)]
            dead = [c for c in range(n * block) if c not in set(columns.tolist())]
            axis, n = -1, n * block
        elif node.op in ("Gemm", "MatMul", "Conv"):
            _consumer(edit, node, columns, values, axis % rank == rank - 1, f"{item}/node")
            return edit.network()
        elif node.op == "BatchNormalization" and axis % rank != 1:
            raise RewriteError(f"{item}/node", f"{node.name!r} does not normalise the channel axis")
        else:
            values = _through(edit, node, values, dead, n, f"{item}/node")
        tensor = node.outputs[0]


def remove_dead(net: Network, layers: Sequence[tuple[int, Sequence[int]]]) -> Rewrite:
    """Remove each layer's dead neurons in turn; exact by construction (refused otherwise)."""
    for position, (index, dead) in enumerate(layers):
        net = _remove_layer(net, index, list(dead), f"layers/{position}")
    return Rewrite(net, True)


@replay("bias_propagation")
def check_bias_propagation(ctx: ReplayContext) -> tuple[list[Problem], Network | None]:
    def parse(entry: Any, item: str) -> tuple[int, list[int]]:
        node, neurons = _fields(entry, item, "node", "neurons")
        if not isinstance(neurons, list) or not neurons:
            raise RewriteError(f"{item}/neurons", "not a non-empty list")
        return _index(node, f"{item}/node"), [_index(v, f"{item}/neurons/{k}") for k, v in enumerate(neurons)]
    return _run(ctx, "layers", parse, remove_dead)
