"""``lump``: maximum proportional exact lumping of Gemm/MatMul layers through Relu / LeakyRelu
(Ressi et al., proportional exact lumping; ``proofs/lumping.md``).

Layer by layer from the input, on the network already lumped so far (so a later layer
sees the quotient of the earlier ones -- the class version L2 with its weighted sums):

1. every neuron's incoming row and bias ``v_r`` is divided by ``|v_r[p]|``, ``p`` its first
   non-zero entry (all-zero rows form one bucket); the normalised rows of exactly
   proportional neurons with ``rho > 0`` are bit-identical (the real quotients are equal
   and division rounds correctly), so hashing them finds every candidate class in time
   linear in the number of weights -- negative proportionality flips the sign at ``p``
   and never collides;
2. a candidate joins a class only if ``v_k = rho v_j`` holds exactly in rationals for
   ``rho = v_k[p] / v_j[p]`` (hash collisions of merely close rows are dropped);
3. the merged outgoing weights ``w_j + sum rho_k w_k`` must be exactly representable in
   the weights' dtype; a member whose merge would round is left in place (reported):
   inexact lumping is not certified.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from ..checker import rewrites
from ..exact import to_fractions
from ..ir import Network
from . import register_pass
from .base import PassOptions, PassResult, PassStats, Refusal


def _representable(values: np.ndarray, dtype: np.dtype) -> bool:
    try:
        return all(Fraction(float(dtype.type(float(q)))) == q for q in values)
    except OverflowError:
        return False


def _buckets(rows: np.ndarray) -> tuple[dict[object, list[int]], np.ndarray, np.ndarray]:
    nonzero = rows != 0
    has = nonzero.any(axis=1)
    first = nonzero.argmax(axis=1)
    scale = np.where(has, np.abs(rows[np.arange(rows.shape[0]), first]), 1.0)
    normalised = rows / scale[:, None] + 0.0          # + 0.0: -0.0 and 0.0 hash alike
    buckets: dict[object, list[int]] = {}
    for r in range(rows.shape[0]):
        key = (int(first[r]), normalised[r].tobytes()) if has[r] else "zero"
        buckets.setdefault(key, []).append(r)
    return buckets, first, has


def layer_classes(dense: rewrites.DenseLayer, where: str) -> tuple[list[rewrites.LumpClass], list[Refusal]]:
    """The maximal exact proportional classes of one layer whose merges stay exactly representable."""
    m = dense.incoming.shape[1]
    bias = np.zeros(m) if dense.bias is None else dense.bias.astype(np.float64)
    rows = np.vstack([dense.incoming.astype(np.float64), bias[None, :]]).T      # (neurons, inputs + 1)
    if not np.all(np.isfinite(rows)) or not np.all(np.isfinite(dense.outgoing)):
        return [], [Refusal(where, "non-finite weights")]
    buckets, first, has = _buckets(rows)
    exact_rows = to_fractions(rows)
    outgoing = to_fractions(dense.outgoing)
    dtype = dense.outgoing.dtype
    classes: list[rewrites.LumpClass] = []
    refused: list[Refusal] = []
    for members in buckets.values():
        if len(members) < 2:
            continue
        groups: list[tuple[int, list[tuple[int, Fraction]], np.ndarray]] = []
        for r in members:
            for j, joined, merged in groups:
                p = int(first[r])
                rho = exact_rows[r, p] / exact_rows[j, p] if has[r] else Fraction(1)
                if not all(exact_rows[r] == rho * exact_rows[j]):
                    continue
                candidate = merged + rho * outgoing[r]
                if _representable(candidate, dtype):
                    joined.append((r, rho))
                    merged[:] = candidate
                else:
                    refused.append(Refusal(f"{where} neuron {r}", f"proportional to neuron {j} (rho = {rho}) but "
                                                                  "the merged outgoing weights would be rounded"))
                break
            else:
                groups.append((r, [], outgoing[r].copy()))
        classes += [rewrites.LumpClass(j, tuple(joined)) for j, joined, _ in groups if joined]
    return classes, refused


@register_pass("lump")
def lump(net: Network, options: PassOptions) -> PassResult:
    current = net
    layers: list[dict] = []
    refused: list[Refusal] = []
    removed = 0
    for a in range(len(net.nodes)):
        if current.nodes[a].op not in rewrites.ACTIVATIONS:
            continue
        name = current.nodes[a].name
        try:
            dense = rewrites.dense_layer(current, a)
        except rewrites.RewriteError as exc:
            refused.append(Refusal(name, f"not a lumpable layer: {exc.reason}"))
            continue
        classes, more = layer_classes(dense, name)
        refused += more
        if not classes:
            continue
        layer = rewrites.LumpLayer(a, tuple(classes))
        current = rewrites.lumping(current, [layer]).network
        removed += sum(len(c.members) for c in classes)
        layers.append({"activation": a, "name": name, "classes": [
            {"representative": c.representative,
             "members": [{"neuron": k, "rho": str(rho)} for k, rho in c.members]} for c in classes]})
    step = {"kind": "lumping", "epsilon": (0.0).hex(), "layers": layers}
    return PassResult(current, step, PassStats(removed, tuple(refused), 0.0, {"layers": len(layers)}))
