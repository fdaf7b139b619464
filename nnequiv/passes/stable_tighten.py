"""Tighter big-M bounds for the ``stable`` pass's MILP search (untrusted; nothing here is certified).

The checker's zonotope bounds over a wide box are loose, and the MILP's big-M constraints are
only as tight as they are.  :class:`MilpBounds` fixes the sign of every neuron found stable and,
the first time a MILP of a later layer is needed, gives every neuron of ``k >= 1`` not yet
known stable the triangle-relaxation LP (:func:`nnequiv.checker.lp_dual.triangle_lp`,
over the bounds tightened so far) maximised and minimised; the dual multipliers HiGHS returns
are turned into rigorous bounds by :func:`nnequiv.checker.lp_dual.safe_max`, so the MILP stays an
model of the network on the box (exact, except that phases an earlier MILP showed are fed in
with HiGHS's tolerances, :func:`nnequiv.passes.stable._tighten`).  One HiGHS instance per layer, re-solved warm with
changed costs.  :func:`tighten_with_lp` also returns the multipliers of every bound it shrank:
over certified bounds only, they are the certificate's refinements (:mod:`.stable_chain`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import highspy
import numpy as np

from ..checker.lp_dual import safe_max, triangle_lp
from ..checker.net_bounds import Bounds
from ..pwl import PwlNet
from ..solvers import MilpModel
from ..solvers.highs_backend import loaded_highs


@dataclass
class MilpBounds:
    """The big-M bounds the MILPs read: the checker's bounds, tightened as phases are found."""

    pwl: PwlNet
    lower: np.ndarray
    upper: np.ndarray
    bounds: list[Bounds]
    budget: object                 # a :class:`.stable_search.Budget`
    query_seconds: float
    use_lp: bool = True
    tightened: frozenset = frozenset()   # layers whose given bounds are LP-tightened already
    open_: dict = field(default_factory=dict)     # layer -> neurons not known stable, to tighten by LP
    narrowed_from: float = math.inf      # the first layer a recorded phase narrowed
    lps: int = 0

    @classmethod
    def over(cls, pwl: PwlNet, lower, upper, bounds: list[Bounds], budget, query_seconds: float,
             use_lp: bool = True, tightened: frozenset = frozenset()) -> "MilpBounds":
        """``tightened``: layers the given ``bounds`` already LP-tightened over the bounds before them
        (re-tightened only once a phase recorded in an earlier layer narrows its bounds)."""
        return cls(pwl, lower, upper, [(lo.copy(), hi.copy()) for lo, hi in bounds], budget, query_seconds, use_lp,
                   frozenset(tightened))

    def record(self, layer: int, inactive: np.ndarray, active: np.ndarray) -> None:
        """Neurons of ``layer`` found never / always active (certified or by a MILP)."""
        n = inactive.size
        lo, hi = self.bounds[layer]
        if np.any(hi[:n][inactive] > 0.0) or np.any(lo[:n][active] < 0.0):
            self.narrowed_from = min(self.narrowed_from, layer)
        hi[:n][inactive] = np.minimum(hi[:n][inactive], 0.0)
        lo[:n][active] = np.maximum(lo[:n][active], 0.0)
        self.open_[layer] = np.flatnonzero(~inactive & ~active)

    def upto(self, layer: int) -> list[Bounds]:
        """The bounds for a MILP of ``layer``: layers ``1 .. layer - 1`` LP-tightened first (once)."""
        for k in sorted(k for k in self.open_ if 1 <= k < layer):
            if self.use_lp and (k not in self.tightened or k > self.narrowed_from):
                self.lps += tighten_with_lp(self.pwl, k, self.open_[k], self.lower, self.upper, self.bounds,
                                            self.budget, self.query_seconds).queries
            del self.open_[k]
        return self.bounds


@dataclass(frozen=True, eq=False)
class Improvement:
    """A bound of ``neuron`` shrunk by ``safe_max`` with the multipliers ``values`` at ``rows``."""

    neuron: int
    side: str                 # "upper" | "lower"
    rows: np.ndarray
    values: np.ndarray


@dataclass(frozen=True)
class Tightening:
    queries: int
    improvements: tuple[Improvement, ...]     # in the order they were applied


def tighten_with_lp(pwl: PwlNet, layer: int, neurons: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                    bounds: list[Bounds], budget, query_seconds: float) -> Tightening:
    """Shrink ``bounds[layer]`` (in place) for ``neurons`` of ``layer >= 1`` with the triangle LP
    over ``bounds[:layer]``: the LP count and the multipliers of every bound that shrank (so the
    checker can replay them as ``stable_relu`` refinements).  ``budget`` (a
    :class:`.stable_search.Budget`) is charged the time spent."""
    if neurons.size == 0 or layer == 0 or budget.left <= 0:
        return Tightening(0, ())
    try:
        lp = triangle_lp(pwl, bounds, layer, lower, upper)
    except ValueError:
        return Tightening(0, ())
    start = time.perf_counter()
    h = loaded_highs(MilpModel.from_relaxation(lp), {"threads": 1})
    columns = np.arange(lp.matrix.shape[1], dtype=np.int32)
    lo, hi = bounds[layer]
    queries, improvements = 0, []
    for j in neurons:
        for sign, side, held in ((1.0, "upper", hi), (-1.0, "lower", lo)):
            left = budget.left - (time.perf_counter() - start)
            if left <= 0:
                break
            c, c0 = lp.objective(int(j), sign)
            # HiGHS measures time_limit against the instance's total run time, not this run's
            h.setOptionValue("time_limit", float(h.getRunTime() + min(query_seconds, left)))
            h.changeColsCost(columns.size, columns, c)
            h.run()
            queries += 1
            if h.getInfo().dual_solution_status != highspy.kSolutionStatusFeasible:
                continue
            multipliers = np.asarray(h.getSolution().row_dual, np.float64)
            bound = safe_max(lp, c, c0, multipliers)
            if bound < sign * held[j]:            # upper: bound < hi; lower: -bound > lo
                held[j] = sign * bound
                rows = np.flatnonzero(multipliers)
                improvements.append(Improvement(int(j), side, rows, multipliers[rows]))
    budget.spent += time.perf_counter() - start
    return Tightening(queries, tuple(improvements))
