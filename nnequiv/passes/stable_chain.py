"""The certified refinement chain of the ``stable`` pass (untrusted search, checkable result).

Layer by layer from 1, every Relu neuron whose bounds do not yet fix its sign gets the
triangle LP (:func:`.stable_tighten.tighten_with_lp`) maximised and minimised over the bounds
of the layers before it; every bound that shrank is kept with its multipliers as a
``stable_relu`` refinement (:mod:`nnequiv.checker.stable_refine`, ``proofs/stable_relu.md``
S8).  Only certified information enters: the checker's own bounds and earlier refinements,
never a phase a MILP showed -- so the checker, replaying the refinements in this order,
rebuilds the same LPs and gets the same bounds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..checker.net_bounds import Bounds
from ..checker.stable_refine import Refinement
from ..pwl import PwlNet
from .stable_tighten import tighten_with_lp


@dataclass(frozen=True)
class RefinedChain:
    bounds: tuple[Bounds, ...]                        # the checker's bounds after every refinement
    refinements: tuple[tuple[int, Refinement], ...]   # (lowered layer, refinement), in order
    tightened: frozenset[int]                         # layers given the LP
    lps: int = 0
    seconds: float = 0.0

    def upto(self, layer: int) -> list[Refinement]:
        """The refinements of layers ``<= layer`` (they read only each other), in order."""
        return [refinement for k, refinement in self.refinements if k <= layer]


def refinement_chain(pwl: PwlNet, activation_of: dict[int, int], lower: np.ndarray, upper: np.ndarray,
                     bounds: list[Bounds], last: int, budget, query_seconds: float) -> RefinedChain:
    """LP-tighten layers ``1 .. last`` in order (``activation_of``: lowered layer -> activation
    node index); ``budget`` (a :class:`.stable_search.Budget`) is charged, and what it does not
    cover stays as the checker's bounds (looser, never wrong)."""
    start = time.perf_counter()
    held = [(lo.copy(), hi.copy()) for lo, hi in bounds]
    found: list[tuple[int, Refinement]] = []
    tightened, lps = set(), 0
    for k in range(1, last + 1):
        lo, hi = held[k]
        open_ = np.flatnonzero((pwl.layers[k].slope == 0.0) & (lo < 0.0) & (hi > 0.0))
        result = tighten_with_lp(pwl, k, open_, lower, upper, held, budget, query_seconds)
        lps += result.queries
        tightened.add(k)
        found += [(k, Refinement(activation_of[k], i.neuron, i.side, i.rows, i.values)) for i in result.improvements]
    return RefinedChain(tuple(held), tuple(found), frozenset(tightened), lps, time.perf_counter() - start)
