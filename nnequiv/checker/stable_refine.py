"""Bound refinements of evidence ``stable_relu``: LP-tightened pre-activation bounds (trusted).

A refinement names a neuron of a lowered layer ``k >= 1``, a side and sparse multipliers of
the triangle LP (:func:`.lp_dual.triangle_lp`) the checker builds over the bounds it holds
at that moment; :func:`.lp_dual.safe_max` of ``+z_j`` (upper) or ``-z_j`` (lower) with them is
a rigorous bound on the neuron over the box, and the bound the checker holds shrinks to it
(a refinement that does not shrink it is rejected: useless, or meant for other bounds).
Refinements are applied in order, so a later one reads the earlier ones' bounds
(``proofs/stable_relu.md`` S8: every bound held stays valid on the box, by induction).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..pwl import PwlNet
from .lp_dual import TriangleLp, safe_max, triangle_lp
from .net_bounds import Bounds
from .rewrites import RewriteError

__all__ = ["MAX_REFINEMENTS", "Refinement", "refine_bounds", "sparse_multipliers"]

MAX_REFINEMENTS = 50_000
SIDES = {"upper": 1.0, "lower": -1.0}


@dataclass(frozen=True, eq=False)
class Refinement:
    """Multipliers (sparse ``rows`` / ``values``) bounding ``sign * z`` of one neuron (S8)."""

    activation: int           # node index of the activation closing the neuron's layer
    neuron: int
    side: str                 # "upper" | "lower"
    rows: np.ndarray
    values: np.ndarray


def sparse_multipliers(lp: TriangleLp, rows: np.ndarray, values: np.ndarray, item: str) -> np.ndarray:
    """The dense multiplier vector of ``lp`` with ``values`` at ``rows``; RewriteError naming ``item``."""
    count = lp.row_lo.size
    if rows.size != values.size or np.any(rows < 0) or np.any(rows >= count) or np.unique(rows).size != rows.size:
        raise RewriteError(item, f"rows must be distinct indices 0..{count - 1}, one value each")
    multipliers = np.zeros(count)
    multipliers[rows] = values
    return multipliers


class _Lps:
    """The triangle LP of each layer over the bounds held now, rebuilt only when a bound of a
    layer before it has changed since it was built."""

    def __init__(self, pwl: PwlNet, bounds: list[Bounds], lower: np.ndarray, upper: np.ndarray):
        self.pwl, self.bounds, self.lower, self.upper = pwl, bounds, lower, upper
        self.versions = [0] * len(bounds)
        self.built: dict[int, tuple[tuple[int, ...], TriangleLp]] = {}

    def changed(self, layer: int) -> None:
        self.versions[layer] += 1

    def of(self, layer: int, item: str) -> TriangleLp:
        stamp = tuple(self.versions[:layer])
        cached = self.built.get(layer)
        if cached is None or cached[0] != stamp:
            try:
                lp = triangle_lp(self.pwl, self.bounds, layer, self.lower, self.upper)
            except ValueError as exc:
                raise RewriteError(item, str(exc)) from None
            cached = self.built[layer] = (stamp, lp)
        return cached[1]


def refine_bounds(pwl: PwlNet, bounds: list[Bounds], layer_of: dict[int, int], lower: np.ndarray,
                  upper: np.ndarray, refinements: Sequence[Refinement]) -> list[Bounds]:
    """``bounds`` (valid on the box) narrowed by each refinement in turn (a new list)."""
    if len(refinements) > MAX_REFINEMENTS:
        raise RewriteError("refinements", f"{len(refinements)} refinements: at most {MAX_REFINEMENTS} are checked")
    held = [(lo.copy(), hi.copy()) for lo, hi in bounds]
    lps = _Lps(pwl, held, lower, upper)
    for i, refinement in enumerate(refinements):
        item = f"refinements/{i}"
        k = layer_of.get(refinement.activation)
        if k is None or k >= len(held):
            raise RewriteError(f"{item}/activation", f"node #{refinement.activation} is not an activation of the "
                                                     "source (or its layer is not bounded)")
        if k == 0:
            raise RewriteError(f"{item}/activation", "the first layer's bounds are not refined (no LP before it)")
        lo, hi = held[k]
        if not 0 <= refinement.neuron < lo.size:
            raise RewriteError(f"{item}/neuron", f"neuron {refinement.neuron} out of range 0..{lo.size - 1}")
        if refinement.side not in SIDES:
            raise RewriteError(f"{item}/side", "must be 'upper' or 'lower'")
        lp = lps.of(k, f"{item}/activation")
        multipliers = sparse_multipliers(lp, refinement.rows, refinement.values, f"{item}/rows")
        sign = SIDES[refinement.side]
        c, c0 = lp.objective(refinement.neuron, sign)
        try:
            with np.errstate(over="ignore", invalid="ignore"):     # huge multipliers: an infinite bound
                bound = safe_max(lp, c, c0, multipliers)
        except ValueError as exc:
            raise RewriteError(f"{item}/values", str(exc)) from None
        if not math.isfinite(bound):
            raise RewriteError(f"{item}/values", f"the multipliers give no finite {refinement.side} bound")
        j = refinement.neuron
        side = hi if sign > 0 else lo
        if not bound < sign * side[j]:          # upper: bound < hi; lower: -bound > lo
            raise RewriteError(item, f"the multipliers bound the {refinement.side} side of neuron {j} by "
                                     f"{sign * bound!r}, no tighter than the bound held, {float(side[j])!r}")
        side[j] = sign * bound
        if lo[j] > hi[j]:
            raise RewriteError(item, f"the refined bounds of neuron {j} are empty ([{lo[j]!r}, {hi[j]!r}]): "
                                     "impossible for sound bounds, the evidence or the checker is wrong")
        lps.changed(k)
    return held
