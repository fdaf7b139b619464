"""``lump``: maximum proportional lumping of Gemm / MatMul neurons and Conv channels through
Relu / LeakyRelu and channel-wise pooling (Ressi et al., proportional exact lumping;
``proofs/lumping.md``; the sites are :mod:`nnequiv.checker.lumping_site`).

Site by site from the input, on the network already lumped so far (so a later layer
sees the quotient of the earlier ones -- the class version L2 with its weighted sums).
Each neuron's incoming row (a Conv channel: its flattened filter) with its bias is ``v``:

1. exact classes: ``v`` divided by ``|v[p]|``, ``p`` its first non-zero entry (all-zero
   rows form one bucket); the normalised rows of exactly proportional neurons with
   ``rho > 0`` are bit-identical (the real quotients are equal and division rounds
   correctly), so hashing them finds every candidate class in time linear in the number
   of weights -- negative proportionality flips the sign at ``p`` and never collides.
   A candidate joins only if ``v_k = rho v_j`` holds exactly in rationals (only bucket
   members are converted to fractions) and the merged outgoing row
   ``out_j + sum rho_k out_k`` is exactly representable in the weights' dtype;
2. with ``tol > 0`` (and a box), nearly proportional neurons: ``u = v / max|v|``; ``k``
   joins representative ``j`` with ``rho = max|v_k| / max|v_j|`` when
   ``max|u_k - u_j| <= tol`` (``rho`` rounded to a float of the weights' dtype: the checker's
   witness mixes with it exactly).  Candidates are found by sorting a projection
   ``<u, s>`` (``s`` in {-1, 1}^d): such pairs differ by at most ``tol * d`` in it, so
   a sliding window misses none.  These classes are marked inexact; the checker bounds
   the step's deviation on the box, and this pass claims the same bound.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from ..checker.lumping_rewrite import LumpClass, LumpLayer, lumping
from ..checker.lumping_site import ACTIVATIONS, Site, lump_site
from ..checker.rewrites import RewriteError
from ..checker.structural import rewrite_bound
from ..errors import NnequivError, UsageError
from ..exact import to_fractions
from ..ir import Network
from . import register_pass
from .base import PassOptions, PassResult, PassStats, Refusal, padded


@dataclass
class _Class:
    """A class under construction (search-local, mutable)."""

    members: list[tuple[int, Fraction]] = field(default_factory=list)
    merged: np.ndarray | None = None        # exact merged outgoing row (exact classes)
    exact: bool = True


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


def _exact_classes(rows: np.ndarray, site: Site, where: str, refused: dict[int, Refusal]) -> dict[int, _Class]:
    buckets, first, has = _buckets(rows)
    dtype = site.outgoing.dtype
    classes: dict[int, _Class] = {}
    for members in buckets.values():
        if len(members) < 2:
            continue
        exact_rows = dict(zip(members, to_fractions(rows[members])))
        outgoing = dict(zip(members, to_fractions(site.outgoing[members])))
        open_classes: dict[int, _Class] = {}
        for r in members:
            for j, cls in open_classes.items():
                rho = exact_rows[r][first[r]] / exact_rows[j][first[r]] if has[r] else Fraction(1)
                if not all(exact_rows[r] == rho * exact_rows[j]):
                    continue
                candidate = cls.merged + rho * outgoing[r]
                if _representable(candidate, dtype):
                    cls.members.append((r, rho))
                    cls.merged = candidate
                else:
                    refused[r] = Refusal(f"{where} neuron {r}", f"proportional to neuron {j} (rho = {rho}) but "
                                                               "the merged outgoing weights would be rounded")
                break
            else:
                open_classes[r] = _Class(merged=outgoing[r].copy())
        classes.update((j, c) for j, c in open_classes.items() if c.members)
    return classes


def _float_rho(value: Fraction | float, dtype: np.dtype) -> Fraction | None:
    """The nearest float of ``dtype`` (the witness's mixing weight must be exact), or None."""
    stored = float(dtype.type(float(value)))
    return Fraction(stored) if 0 < stored < float("inf") else None


def _near_classes(rows: np.ndarray, classes: dict[int, _Class], tol: float, refused: dict[int, Refusal],
                  dtype: np.dtype) -> None:
    """Add nearly proportional neurons (method 2 of the module docstring) to ``classes``."""
    members = {k for c in classes.values() for k, _ in c.members}
    scale = np.abs(rows).max(axis=1)
    candidates = np.array([r for r in range(rows.shape[0]) if r not in members and scale[r] > 0], dtype=int)
    if len(candidates) < 2:
        return
    unit = rows[candidates] / scale[candidates, None]
    signs = np.random.default_rng(0).choice([-1.0, 1.0], rows.shape[1])
    keys = unit @ signs
    width = rows.shape[1] * (tol * (1 + 2.0 ** -20) + 2.0 ** -40)
    rep_keys: list[float] = []
    reps: list[int] = []                    # positions in ``candidates``
    for position in np.argsort(keys, kind="stable").tolist():
        lo = bisect_left(rep_keys, keys[position] - width)
        j = next((reps[t] for t in range(lo, len(reps))
                  if np.max(np.abs(unit[position] - unit[reps[t]])) <= tol), None)
        if j is None:
            rep_keys.append(float(keys[position]))
            reps.append(position)
            continue
        k, rep = int(candidates[position]), int(candidates[j])
        rho = _float_rho(scale[k] / scale[rep], dtype)
        moved = [(m, _float_rho(r * rho, dtype)) for m, r in classes.get(k, _Class()).members] if rho else []
        if rho is None or any(r is None for _, r in moved):
            continue
        classes.pop(k, None)
        cls = classes.setdefault(rep, _Class())
        cls.exact = False
        cls.members += [(k, rho)] + moved
        refused.pop(k, None)
    for cls in classes.values():
        if not cls.exact:
            for k, _ in cls.members:
                refused.pop(k, None)


def layer_classes(site: Site, where: str, tol: float = 0.0) -> tuple[list[LumpClass], list[Refusal]]:
    """The lumping classes of one site: exact ones, and with ``tol > 0`` nearly proportional ones."""
    bias = np.zeros(site.neurons) if site.bias is None else site.bias.astype(np.float64)
    rows = np.hstack([site.incoming.astype(np.float64), bias[:, None]])      # (neurons, fan_in + 1)
    if not np.all(np.isfinite(rows)) or not np.all(np.isfinite(site.outgoing)):
        return [], [Refusal(where, "non-finite weights")]
    refused: dict[int, Refusal] = {}
    classes = _exact_classes(rows, site, where, refused)
    if tol > 0:
        _near_classes(rows, classes, tol, refused, site.outgoing.dtype)
    return ([LumpClass(j, tuple(c.members), c.exact) for j, c in sorted(classes.items())],
            list(refused.values()))


def _search(net: Network, tol: float) -> tuple[list[LumpLayer], list[dict], list[Refusal], Network]:
    current, layers, evidence, refused = net, [], [], []
    for a in range(len(net.nodes)):
        if current.nodes[a].op not in ACTIVATIONS:
            continue
        name = current.nodes[a].name
        try:
            site = lump_site(current, a)
        except RewriteError as exc:
            refused.append(Refusal(name, f"not a lumpable layer: {exc.reason}"))
            continue
        classes, more = layer_classes(site, name, tol)
        refused += more
        if not classes:
            continue
        layer = LumpLayer(a, tuple(classes))
        current = lumping(current, [layer], with_witness=False).network
        layers.append(layer)
        evidence.append({"activation": a, "name": name, "classes": [
            {"representative": c.representative,
             "members": [{"neuron": k, "rho": str(rho)} for k, rho in c.members],
             **({} if c.exact else {"exact": False})} for c in classes]})
    return layers, evidence, refused, current


@register_pass("lump")
def lump(net: Network, options: PassOptions) -> PassResult:
    if options.tol > 0 and options.box is None:
        raise UsageError("lump with a tolerance merges neurons that are only nearly proportional; its deviation "
                         "is certified on an input box, and none was given", fix="add --box LO:HI, or drop --tol")
    layers, evidence, refused, reduced = _search(net, options.tol)
    epsilon = 0.0
    if any(not c.exact for layer in layers for c in layer.classes):
        try:
            epsilon, why = padded(rewrite_bound(net, lumping(net, layers), options.box)), ""
        except NnequivError as exc:
            epsilon, why = float("inf"), exc.message
        if not epsilon < float("inf"):
            layers, evidence, refused, reduced = _search(net, 0.0)
            refused.append(Refusal("lump", "nearly proportional neurons left in place: the deviation of merging "
                                           f"them cannot be bounded on the box ({why or 'unbounded'})"))
            epsilon = 0.0
    removed = sum(len(c.members) for layer in layers for c in layer.classes)
    step = {"kind": "lumping", "epsilon": epsilon.hex(), "layers": evidence}
    return PassResult(reduced, step, PassStats(removed, tuple(refused), epsilon, {"layers": len(layers)}))
