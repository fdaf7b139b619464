"""The witness of an inexact lumping layer (trusted; ``proofs/lumping.md`` L5).

For a layer lumped with nearly proportional classes, the target differs from the source in
*shape*, so a differential analysis of the two cannot follow the difference neuron by
neuron.  The witness is a network with the source's layer widths that computes the
target's real function exactly:

* after the head (before pooling and the activation) a mixing node (MatMul, or a 1x1
  Conv) sets every inexact member's pre-activation to ``rho_k z_j`` (``rho_k`` a float of
  the weights' dtype, so the mixing weights are exact) -- hence ``y'_k = rho_k y_j``;
* the next node keeps its weights and gets corrections through neuron ``j`` only::

      next(y, W) + next(y, M) - next(y, O) - sum_t next(s_t * y, K_t)

  with ``M``'s rows of ``j`` the target's merged row ``m_j``, ``O``'s the source's row
  ``out_j``, and ``K_t``'s the source's row ``out_k`` of the ``t``-th member ``k`` of the
  class of ``j`` with ``s_t[j] = rho_k``.  The coefficient of ``y_j`` is then
  ``out_j + m_j - out_j - sum_k rho_k out_k`` and that of ``y'_k = rho_k y_j`` is
  ``out_k``: in total ``m_j y_j``, the target's.  Exact classes stay unlumped (L1').

Lowered, the corrections fold into one matrix that differs from the source's by the
rounding of ``m_j`` only (with rigorous radii), and ``y'_k`` is compared with the source's
``y_k``, so the analysis tracks the small difference.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from ..interpret import infer_shapes
from ..ir import Network, Node
from .lumping_site import Site
from .rewrites import RewriteError, _fresh, _names, _rebuild

__all__ = ["inexact_witness"]


def _rho(value: Fraction, dtype: np.dtype, item: str):
    stored = dtype.type(float(value))
    if Fraction(float(stored)) != value:
        raise RewriteError(item, f"rho of a nearly proportional member must be a float of the weights' dtype "
                                 f"({dtype}), got {value}")
    return stored


def inexact_witness(net: Network, site: Site, classes, merged: dict[int, np.ndarray], item: str) -> Network:
    """The witness of one lumped layer; ``classes``: ``(position, LumpClass)`` of its inexact classes."""
    if site.in_layout.position != 1 or site.out_layout.position != 1:
        raise RewriteError(item, "inexact lumping of a MatMul with the weight on the left (W @ x) is not supported")
    dtype = site.outgoing.dtype
    n = site.neurons
    nodes: list[Node | None] = list(net.nodes)
    taken, added, extra = _names(net), {}, []
    index = {node.name: i for i, node in enumerate(net.nodes)}

    def constant(base: str, value: np.ndarray) -> str:
        name = _fresh(taken, base)
        added[name] = value
        return name

    def node(op: str, inputs: tuple[str, ...], attrs: dict, base: str) -> str:
        out = _fresh(taken, base)
        extra.append(Node(_fresh(taken, f"{base}_node"), op, inputs, (out,), attrs))
        return out

    # 1. the mixing node after the head's pre-activation output
    mix = np.eye(n, dtype=dtype)                                   # mix[out, in]
    members = []                                                   # (representative, [(k, rho)])
    for c, cls in classes:
        j = cls.representative
        pairs = [(k, _rho(rho, dtype, f"{item}/classes/{c}/members/{m}/rho")) for m, (k, rho) in enumerate(cls.members)]
        for k, rho in pairs:
            mix[k, k], mix[k, j] = 0, rho
        members.append((j, pairs))
    pre = net.nodes[site.add if site.add is not None else site.head].outputs[0]
    reader = net.consumers[pre][0]
    head = net.nodes[site.head]
    if head.op == "Conv":              # a 1x1 convolution: out channel k reads rho_k times channel j
        kernel_dims = net.initializers[head.inputs[1]].ndim - 2
        mixed = node("Conv", (pre, constant("lump_mix", mix.reshape(mix.shape + (1,) * kernel_dims))), {},
                     f"{pre}_mixed")
    else:
        mixed = node("MatMul", (pre, constant("lump_mix", np.ascontiguousarray(mix.T))), {}, f"{pre}_mixed")
    nodes[index[reader.name]] = Node(reader.name, reader.op, tuple(mixed if t == pre else t for t in reader.inputs),
                                     reader.outputs, dict(reader.attrs))

    # 2. corrections at the next node
    nxt = net.nodes[site.next]
    y, out = nxt.inputs[0], nxt.outputs[0]
    base = _fresh(taken, f"{out}_base")
    nodes[site.next] = Node(nxt.name, nxt.op, nxt.inputs, (base,), dict(nxt.attrs))
    spatial = len(site.out_layout.shape) - 2 if nxt.op == "Conv" else 0

    def term(rows: np.ndarray, scale: np.ndarray | None) -> str:
        source = y
        if scale is not None:
            factors = np.repeat(scale, site.out_layout.block).reshape((-1,) + (1,) * spatial)
            source = node("Mul", (y, constant("lump_scale", factors)), {}, f"{y}_scaled")
        weight = constant("lump_correction", site.out_layout.stored(rows))
        return node(nxt.op, (source, weight), dict(nxt.attrs), f"{out}_term")

    rows_m, rows_o = np.zeros_like(site.outgoing), np.zeros_like(site.outgoing)
    for j, _ in members:
        rows_m[j], rows_o[j] = merged[j], site.outgoing[j]
    total = node("Add", (base, term(rows_m, None)), {}, f"{out}_plus")
    total = node("Sub", (total, term(rows_o, None)), {}, f"{out}_minus")     # the last node written is the sum
    for t in range(max(len(pairs) for _, pairs in members)):
        rows_k, scale = np.zeros_like(site.outgoing), np.zeros(n, dtype=dtype)
        for j, pairs in members:
            if t < len(pairs):
                k, rho = pairs[t]
                rows_k[j], scale[j] = site.outgoing[k], rho
        total = node("Sub", (total, term(rows_k, scale)), {}, f"{out}_minus")
    last = extra[-1]
    extra[-1] = Node(last.name, last.op, last.inputs, (out,), dict(last.attrs))
    witness = _rebuild(net, nodes + extra, added)
    infer_shapes(witness)                          # a malformed witness fails here, not in the analysis
    return witness
