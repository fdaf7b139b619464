"""Trusted replay of the structural rewrites: BatchNorm folding, affine folding (lumping: ``lumping_rewrite``).

Each function takes a source network and the rewrite a certificate step describes
(node indices of the source), checks the rule's precondition **exactly** on the
stored floats (``fractions.Fraction``; never a tolerance) and returns the target
network, computed deterministically: a weight whose exact real value is a float of
the tensor's dtype is stored as that value; otherwise (``exact`` False) the value
is rounded by a fixed sequence of correctly rounded float operations, and the
caller must bound the deviation (``structural.py``).  A violated precondition
raises :class:`RewriteError` naming the evidence item.

Rules: ``proofs/batchnorm_fold.md`` (B1, B2), ``proofs/affine_fold.md`` (A1, A2).
Lumping lives in :mod:`.lumping_rewrite` (``proofs/lumping.md``).  Node indices stay
valid across the rewrites of one step: folds are applied to the source simultaneously.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Sequence

import numpy as np

from ..exact import to_fractions
from ..interpret import infer_shapes
from ..ir import Network, Node

__all__ = ["Rewrite", "RewriteError", "affine_fold", "batchnorm_fold"]


class RewriteError(Exception):
    """The rewrite does not apply: ``item`` is the evidence path (relative to the step)."""

    def __init__(self, item: str, reason: str) -> None:
        super().__init__(f"{item}: {reason}")
        self.item = item
        self.reason = reason


@dataclass(frozen=True, eq=False)
class Rewrite:
    """The replayed target.  ``witnesses`` (empty: ``(source, network)``) are pairs ``(a, b)``
    whose deviation bounds add up to one for ``network - source`` (``b`` has ``a``'s layer
    shapes, for a tight differential analysis)."""

    network: Network
    exact: bool
    witnesses: tuple[tuple[Network, Network], ...] = ()


# ------------------------------------------------------------------------------ helpers
def _fractions(array: np.ndarray, item: str) -> np.ndarray:
    try:
        return to_fractions(np.asarray(array))
    except (ValueError, OverflowError, TypeError):
        raise RewriteError(item, "a weight is inf or NaN (no exact value)") from None


def _as_dtype(values: np.ndarray, dtype: np.dtype) -> tuple[np.ndarray, bool]:
    """Exact rationals -> ``dtype`` (nearest float64, then cast); True when every value is exact."""
    flat = values.ravel()
    try:
        floats = np.array([float(q) for q in flat], dtype=np.float64).astype(dtype)
    except OverflowError:
        raise RewriteError("", "a rewritten weight overflows") from None
    exact = all(math.isfinite(float(v)) and Fraction(float(v)) == q for v, q in zip(floats.tolist(), flat))
    return floats.reshape(values.shape), exact


def _node(net: Network, index, item: str) -> Node:
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(net.nodes):
        raise RewriteError(item, f"no node #{index!r} in the source network")
    return net.nodes[index]


def _constant(net: Network, name: str, item: str, what: str) -> np.ndarray:
    if name not in net.initializers:
        raise RewriteError(item, f"{what} {name!r} is not a stored constant")
    array = net.initializers[name]
    if array.dtype.kind != "f":
        raise RewriteError(item, f"{what} {name!r} is not floating point")
    return array


def _sole_consumer(net: Network, tensor: str, node: Node, item: str) -> None:
    if net.consumers.get(tensor, ()) != (node,) or any(o.name == tensor for o in net.outputs):
        raise RewriteError(item, f"tensor {tensor!r} is used by more than node {node.name!r}")


def _fresh(taken: set[str], base: str) -> str:
    name, k = base, 0
    while name in taken:
        k += 1
        name = f"{base}_{k}"
    taken.add(name)
    return name


def _rebuild(net: Network, nodes: Sequence[Node | None], added: dict[str, np.ndarray]) -> Network:
    """``nodes`` (None = deleted) with the new initializers; unused initializers are dropped."""
    kept = [n for n in nodes if n is not None]
    used = {name for n in kept for name in n.inputs} | {o.name for o in net.outputs}
    merged = {**dict(net.initializers), **added}
    return net.replace(nodes=tuple(kept), initializers={k: v for k, v in merged.items() if k in used})


def _names(net: Network) -> set[str]:
    return set(net.initializers) | {t for n in net.nodes for t in (*n.inputs, *n.outputs)} | \
        {s.name for s in (*net.inputs, *net.outputs)}


def _exact_sqrt(q: Fraction) -> Fraction | None:
    p, d = q.numerator, q.denominator
    rp, rd = math.isqrt(p), math.isqrt(d)
    return Fraction(rp, rd) if rp * rp == p and rd * rd == d else None


# ------------------------------------------------------------------------------ BatchNorm
def batchnorm_fold(net: Network, folds: Sequence[tuple[int, int]]) -> Rewrite:
    """Fold each ``(batchnorm, into)`` pair: BN (inference mode) directly after a Gemm or Conv."""
    nodes: list[Node | None] = list(net.nodes)
    taken, added, exact, used = _names(net), {}, True, set()
    for position, (bn_index, into_index) in enumerate(folds):
        item = f"folds/{position}"
        bn, into = _node(net, bn_index, f"{item}/batchnorm"), _node(net, into_index, f"{item}/into")
        if used & {bn_index, into_index}:
            raise RewriteError(item, "a node takes part in two folds")
        used |= {bn_index, into_index}
        weight, bias, fold_exact = _fold_one(net, bn, into, item)
        exact &= fold_exact
        w_name = _fresh(taken, f"{into.name}_W_bn")
        b_name = _fresh(taken, f"{into.name}_B_bn")
        added[w_name], added[b_name] = weight, bias
        inputs = (into.inputs[0], w_name, b_name)
        nodes[into_index] = Node(into.name, into.op, inputs, (bn.outputs[0],), dict(into.attrs))
        nodes[bn_index] = None
    return Rewrite(_rebuild(net, nodes, added), exact)


def _fold_one(net: Network, bn: Node, into: Node, item: str) -> tuple[np.ndarray, np.ndarray, bool]:
    if bn.op != "BatchNormalization":
        raise RewriteError(f"{item}/batchnorm", f"node {bn.name!r} is {bn.op}, not BatchNormalization")
    if int(bn.attr("training_mode", 0)) or any(bn.outputs[1:]):
        raise RewriteError(f"{item}/batchnorm", f"{bn.name!r} is in training mode")
    if into.op not in ("Gemm", "Conv"):
        raise RewriteError(f"{item}/into", f"node {into.name!r} is {into.op}, not Gemm or Conv")
    if bn.inputs[0] != into.outputs[0]:
        raise RewriteError(item, f"{bn.name!r} does not read the output of {into.name!r}")
    _sole_consumer(net, into.outputs[0], bn, f"{item}/into")
    gamma, beta, mean, var = (_constant(net, name, f"{item}/batchnorm", what)
                              for name, what in zip(bn.inputs[1:5], ("scale", "B", "mean", "var")))
    weight = _constant(net, into.inputs[1], f"{item}/into", "weight")
    has_bias = len(into.inputs) > 2 and bool(into.inputs[2])
    if into.op == "Gemm":
        if int(into.attr("transA", 0)) or float(into.attr("alpha", 1.0)) != 1.0 or \
                float(into.attr("beta", 1.0)) != 1.0 or weight.ndim != 2:
            raise RewriteError(f"{item}/into", "only Gemm with transA=0, alpha=beta=1 folds")
        trans_b = int(into.attr("transB", 0))
        rows = weight if trans_b else weight.T            # (channels, inputs) view
    else:
        rows = weight.reshape(weight.shape[0], -1)
    channels = rows.shape[0]
    if any(p.shape != (channels,) for p in (gamma, beta, mean, var)):
        raise RewriteError(f"{item}/batchnorm", f"parameters must have shape ({channels},)")
    bias = _constant(net, into.inputs[2], f"{item}/into", "bias") if has_bias else np.zeros(channels, weight.dtype)
    if bias.shape != (channels,):
        raise RewriteError(f"{item}/into", f"bias must have shape ({channels},)")
    eps = float(bn.attr("epsilon", 1e-5))
    where = f"{item}/batchnorm"
    gq, bq, mq, vq = (_fractions(p, where) for p in (gamma, beta, mean, var))
    denominators = [v + Fraction(eps) for v in vq]
    if any(d <= 0 for d in denominators):
        raise RewriteError(where, "var + epsilon must be positive")
    roots = [_exact_sqrt(d) for d in denominators]
    if all(r is not None for r in roots):
        scale = np.array([g / r for g, r in zip(gq, roots)], dtype=object)
        new_rows, rows_exact = _as_dtype(_fractions(rows, f"{item}/into") * scale[:, None], weight.dtype)
        new_bias, bias_exact = _as_dtype(scale * (_fractions(bias, f"{item}/into") - mq) + bq, bias.dtype)
        if rows_exact and bias_exact:
            return _layout(new_rows, weight, into), new_bias, True
    # inexact: one fixed sequence of correctly rounded float64 operations
    s = gamma.astype(np.float64) / np.sqrt(var.astype(np.float64) + eps)
    new_rows = (rows.astype(np.float64) * s[:, None]).astype(weight.dtype)
    new_bias = ((bias.astype(np.float64) - mean.astype(np.float64)) * s + beta.astype(np.float64)).astype(bias.dtype)
    return _layout(new_rows, weight, into), new_bias, False


def _layout(rows: np.ndarray, weight: np.ndarray, into: Node) -> np.ndarray:
    if into.op == "Conv":
        return rows.reshape(weight.shape)
    return rows if int(into.attr("transB", 0)) else np.ascontiguousarray(rows.T)


# ------------------------------------------------------------------------------ affine maps
def _affine_parts(net: Network, node: Node, item: str) -> tuple[np.ndarray | None, np.ndarray | None, str]:
    """``y = x @ A + c`` for the node's variable first operand: ``(A, c, variable input)``."""
    if node.op == "Gemm":
        if int(node.attr("transA", 0)) or float(node.attr("alpha", 1.0)) != 1.0 or \
                float(node.attr("beta", 1.0)) != 1.0:
            raise RewriteError(item, f"{node.name!r}: only Gemm with transA=0, alpha=beta=1")
        b = _constant(net, node.inputs[1], item, "weight")
        if b.ndim != 2:
            raise RewriteError(item, f"{node.name!r}: weight must be a matrix")
        a = b.T if int(node.attr("transB", 0)) else b
        c = _constant(net, node.inputs[2], item, "bias") if len(node.inputs) > 2 and node.inputs[2] else None
        if c is not None and c.shape != (a.shape[1],):
            raise RewriteError(item, f"{node.name!r}: bias must have shape ({a.shape[1]},)")
        return a, c, node.inputs[0]
    if node.op == "MatMul":
        w = _constant(net, node.inputs[1], item, "weight")
        if w.ndim != 2 or node.inputs[0] in net.initializers:
            raise RewriteError(item, f"{node.name!r}: only x @ W with a constant matrix W")
        return w, None, node.inputs[0]
    if node.op == "Add":
        const = [i for i, name in enumerate(node.inputs) if name in net.initializers]
        if len(const) != 1:
            raise RewriteError(item, f"{node.name!r}: only x + c with one constant c")
        c = _constant(net, node.inputs[const[0]], item, "bias")
        if c.ndim != 1:
            raise RewriteError(item, f"{node.name!r}: the added constant must be a vector")
        return None, c, node.inputs[1 - const[0]]
    raise RewriteError(item, f"{node.name!r} is {node.op}, not Gemm, MatMul or Add")


def affine_fold(net: Network, chains: Sequence[Sequence[int]]) -> Rewrite:
    """Replace each chain of affine nodes (each one's output read only by the next) by one Gemm
    ``x @ W.T + b`` (transB=1) with ``W.T = A_1 ... A_k`` and ``b = (...(c_1 A_2 + c_2)...)``."""
    nodes: list[Node | None] = list(net.nodes)
    taken, added, exact, used = _names(net), {}, True, set()
    shapes = infer_shapes(net)
    for position, chain in enumerate(chains):
        item = f"chains/{position}"
        if not isinstance(chain, (list, tuple)) or len(chain) < 2:
            raise RewriteError(item, "a chain needs at least two nodes")
        members = [_node(net, index, f"{item}/{k}") for k, index in enumerate(chain)]
        if used & set(chain) or len(set(chain)) != len(chain):
            raise RewriteError(item, "a node takes part in two folds")
        used |= set(chain)
        first_a, _, source = _affine_parts(net, members[0], f"{item}/0")
        if first_a is None or len(shapes.get(source, ())) > 2:
            raise RewriteError(f"{item}/0", "a chain starts with Gemm or MatMul on a vector or matrix input")
        matrix, offset, dtypes = None, None, []
        for k, node in enumerate(members):
            a, c, var = _affine_parts(net, node, f"{item}/{k}")
            if k and (var != members[k - 1].outputs[0]):
                raise RewriteError(f"{item}/{k}", f"{node.name!r} does not read {members[k - 1].name!r}")
            if k:
                _sole_consumer(net, var, node, f"{item}/{k - 1}")
            if a is not None:
                aq = _fractions(a, f"{item}/{k}")
                if matrix is not None and matrix.shape[1] != aq.shape[0]:
                    raise RewriteError(f"{item}/{k}", "sizes do not fit")
                matrix = aq if matrix is None else matrix.dot(aq)
                offset = None if offset is None else offset.dot(aq)
                dtypes.append(a.dtype)
            if c is not None:
                cq = _fractions(c, f"{item}/{k}")
                if cq.shape[0] not in (1, matrix.shape[1]):
                    raise RewriteError(f"{item}/{k}", "bias size does not fit")
                offset = np.broadcast_to(cq, (matrix.shape[1],)) if offset is None else offset + cq
                dtypes.append(c.dtype)
        dtype = np.result_type(*dtypes)
        offset = np.array([Fraction(0)] * matrix.shape[1], dtype=object) if offset is None else offset
        weight, w_exact = _as_dtype(np.ascontiguousarray(matrix.T), dtype)
        bias, b_exact = _as_dtype(np.asarray(offset, dtype=object), dtype)
        exact &= w_exact and b_exact
        w_name, b_name = _fresh(taken, f"{members[0].name}_W_fold"), _fresh(taken, f"{members[0].name}_B_fold")
        added[w_name], added[b_name] = weight, bias
        nodes[chain[0]] = Node(members[0].name, "Gemm", (source, w_name, b_name), (members[-1].outputs[0],),
                               {"transB": 1})
        for index in chain[1:]:
            nodes[index] = None
    return Rewrite(_rebuild(net, nodes, added), exact)
