"""Trusted replay of proportional lumping (``proofs/lumping.md``): Gemm / MatMul neurons and
Conv channels, through Relu / LeakyRelu and channel-wise pooling (:mod:`.lumping_site`).

An **exact** class ``{j, k_1 .. k_m}`` is checked exactly in rationals: every member's
incoming row (filter) and bias are ``rho_i`` times the representative's (``rho_i > 0``,
L1' / L4), and the merged outgoing row ``out_j + sum_i rho_i out_i`` must be a float of
the weights' dtype -- then the replay is exact in real arithmetic (any epsilon is sound).

A class marked **inexact** (``--tol``) is not checked for proportionality at all: the
replay still computes the quotient from the representative and the ``rho``'s (merged row
rounded to the dtype), and the result is inexact, so the step's epsilon must be proved on
the box (``structural.py``).  The bound is the sum over the layers with inexact classes of
the deviation between the network before the layer and the layer's *witness*
(:mod:`.lumping_witness`): a network of the same widths with the lumped network's real
function (L5), so the differential analysis tracks the difference neuron by neuron.

Layers are lumped one after the other; a later layer sees the quotient of the earlier
ones (L2).  Lumping changes initializers only, so node indices stay valid.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Sequence

import numpy as np

from ..ir import Network, Node
from .lumping_site import Site, lump_site
from .lumping_witness import inexact_witness
from .rewrites import Rewrite, RewriteError, _as_dtype, _fractions, _fresh, _names, _rebuild

__all__ = ["LumpClass", "LumpLayer", "lumping"]


@dataclass(frozen=True)
class LumpClass:
    representative: int
    members: tuple[tuple[int, Fraction], ...]      # (neuron, rho > 0)
    exact: bool = True                             # False: only nearly proportional (bounded by epsilon)


@dataclass(frozen=True)
class LumpLayer:
    activation: int                               # node index of the Relu / LeakyRelu
    classes: tuple[LumpClass, ...]


def lumping(net: Network, layers: Sequence[LumpLayer], with_witness: bool = True) -> Rewrite:
    """Apply each layer's lumping in turn.  Each layer with an inexact class contributes a
    ``(network before it, its witness)`` pair (unless ``with_witness`` is False: a search that
    only needs the target); the deviations of the pairs add up (triangle inequality)."""
    target, exact, witnesses = net, True, []
    for position, layer in enumerate(layers):
        item = f"layers/{position}"
        lumped, layer_exact, site, merged = _lump_layer(target, layer, item)
        if not layer_exact and with_witness:
            inexact = [(c, cls) for c, cls in enumerate(layer.classes) if not cls.exact]
            witnesses.append((target, inexact_witness(target, site, inexact, merged, item)))
        target, exact = lumped, exact and layer_exact
    return Rewrite(target, exact, tuple(witnesses))


def _lump_layer(net: Network, layer: LumpLayer, item: str) -> tuple[Network, bool, Site, dict[int, np.ndarray]]:
    where_layer = f"{item}/activation"
    site = lump_site(net, layer.activation, where_layer)
    n = site.neurons

    # exact values only of the neurons named in classes (converting whole layers dominated the time)
    def incoming(k: int) -> np.ndarray:
        return _fractions(site.incoming[k], where_layer)

    def outgoing(k: int) -> np.ndarray:
        return _fractions(site.outgoing[k], where_layer)

    def bias(k: int) -> Fraction:
        return Fraction(0) if site.bias is None else _fractions(site.bias[k:k + 1], where_layer)[0]

    removed: set[int] = set()
    merged_rows: dict[int, np.ndarray] = {}
    seen: set[int] = set()
    exact = True
    for c, cls in enumerate(layer.classes):
        where = f"{item}/classes/{c}"
        j = cls.representative
        neurons = [j] + [k for k, _ in cls.members]
        if any(not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < n for v in neurons):
            raise RewriteError(where, f"neuron index out of range 0..{n - 1}")
        if seen & set(neurons) or len(set(neurons)) != len(neurons):
            raise RewriteError(where, "a neuron belongs to two classes")
        seen |= set(neurons)
        merged = outgoing(j)
        row_j, bias_j = (incoming(j), bias(j)) if cls.exact else (None, None)
        for m, (k, rho) in enumerate(cls.members):
            at = f"{where}/members/{m}"
            if not isinstance(rho, Fraction) or rho <= 0:
                raise RewriteError(f"{at}/rho", f"rho must be a rational > 0, got {rho!r}")
            if cls.exact:
                if np.any(incoming(k) != rho * row_j):
                    raise RewriteError(at, f"incoming weights of neuron {k} are not exactly {rho} times those of {j}")
                if bias(k) != rho * bias_j:
                    raise RewriteError(at, f"bias of neuron {k} is not exactly {rho} times that of {j}")
            merged = merged + rho * outgoing(k)
            removed.add(k)
        row, row_exact = _as_dtype(merged, site.outgoing.dtype)
        if cls.exact and not row_exact:
            raise RewriteError(where, f"the merged outgoing weights of neuron {j} are not exactly representable "
                                      "(exact classes must merge exactly)")
        exact &= cls.exact
        merged_rows[j] = row
    new_out = np.array(site.outgoing, copy=True)
    for j, row in merged_rows.items():
        new_out[j] = row
    keep = np.array([r for r in range(n) if r not in removed], dtype=int)
    return _write(net, site, keep, new_out[keep]), exact, site, merged_rows


def _write(net: Network, site: Site, keep: np.ndarray, outgoing: np.ndarray) -> Network:
    """The network with only the neurons ``keep`` in the head (weight rows, bias, Reshape target)
    and the next node's weight rows ``outgoing``."""
    nodes: list[Node | None] = list(net.nodes)
    taken, added = _names(net), {}

    def with_input(index: int, position: int, value: np.ndarray, suffix: str) -> None:
        node = nodes[index]
        name = _fresh(taken, f"{node.name}_{suffix}_lump")
        added[name] = value
        inputs = list(node.inputs)
        inputs[position] = name
        nodes[index] = Node(node.name, node.op, tuple(inputs), node.outputs, dict(node.attrs))

    with_input(site.next, site.out_layout.position, site.out_layout.stored(outgoing), "W")
    with_input(site.head, site.in_layout.position, site.in_layout.stored(site.incoming[keep]), "W")
    if site.bias is not None:
        bias = np.ascontiguousarray(site.bias[keep])
        if site.add is not None:
            add = nodes[site.add]
            with_input(site.add, next(i for i, t in enumerate(add.inputs) if t in net.initializers), bias, "B")
        else:
            with_input(site.head, 2, bias, "B")
    if site.flatten is not None and nodes[site.flatten].op == "Reshape":
        target = np.asarray(net.initializers[nodes[site.flatten].inputs[1]]).ravel()
        new = [-1, len(keep) * site.out_layout.block] if int(target[0]) == -1 else [int(target[0]), -1]
        with_input(site.flatten, 1, np.array(new, dtype=np.int64), "shape")
    return _rebuild(net, nodes, added)
