"""Tighter big-M bounds for the ``stable`` pass's MILP search (untrusted; nothing here is certified).

The checker's zonotope bounds over a wide box are loose, and the MILP's big-M constraints are
only as tight as they are.  :class:`MilpBounds` fixes the sign of every neuron found stable and,
the first time a MILP of a later layer is needed, gives every neuron of ``k >= 1`` not yet
known stable the triangle-relaxation LP (:func:`nnequiv.checker.lp_dual.triangle_lp`,
over the bounds tightened so far) maximised and minimised; the dual multipliers HiGHS returns
are turned into rigorous bounds by :func:`nnequiv.checker.lp_dual.safe_max`, so the MILP stays an
model of the network on the box (exact, except that phases an earlier MILP showed are fed in
with HiGHS's tolerances, :func:`nnequiv.passes.stable._tighten`).  One HiGHS instance per layer, re-solved warm with
changed costs.
"""

from __future__ import annotations

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
    open_: dict = field(default_factory=dict)     # layer -> neurons not known stable, to tighten by LP
    lps: int = 0

    @classmethod
    def over(cls, pwl: PwlNet, lower, upper, bounds: list[Bounds], budget, query_seconds: float,
             use_lp: bool = True) -> "MilpBounds":
        return cls(pwl, lower, upper, [(lo.copy(), hi.copy()) for lo, hi in bounds], budget, query_seconds, use_lp)

    def record(self, layer: int, inactive: np.ndarray, active: np.ndarray) -> None:
        """Neurons of ``layer`` found never / always active (certified or by a MILP)."""
        n = inactive.size
        lo, hi = self.bounds[layer]
        hi[:n][inactive] = np.minimum(hi[:n][inactive], 0.0)
        lo[:n][active] = np.maximum(lo[:n][active], 0.0)
        self.open_[layer] = np.flatnonzero(~inactive & ~active)

    def upto(self, layer: int) -> list[Bounds]:
        """The bounds for a MILP of ``layer``: layers ``1 .. layer - 1`` LP-tightened first (once)."""
        for k in sorted(k for k in self.open_ if 1 <= k < layer):
            if self.use_lp:
                self.lps += tighten_with_lp(self.pwl, k, self.open_[k], self.lower, self.upper, self.bounds,
                                            self.budget, self.query_seconds)
            del self.open_[k]
        return self.bounds


def tighten_with_lp(pwl: PwlNet, layer: int, neurons: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                    bounds: list[Bounds], budget, query_seconds: float) -> int:
    """Shrink ``bounds[layer]`` (in place) for ``neurons`` of ``layer >= 1``; returns the LP count.
    ``budget`` (a :class:`.stable_search.Budget`) is charged the time spent."""
    if neurons.size == 0 or layer == 0 or budget.left <= 0:
        return 0
    try:
        lp = triangle_lp(pwl, bounds, layer, lower, upper)
    except ValueError:
        return 0
    start = time.perf_counter()
    h = loaded_highs(MilpModel.from_relaxation(lp), {"threads": 1})
    columns = np.arange(lp.matrix.shape[1], dtype=np.int32)
    lo, hi = bounds[layer]
    queries = 0
    for j in neurons:
        for sign in (1.0, -1.0):
            left = budget.left - (time.perf_counter() - start)
            if left <= 0:
                break
            c, c0 = lp.objective(int(j), sign)
            h.setOptionValue("time_limit", float(min(query_seconds, left)))
            h.changeColsCost(columns.size, columns, c)
            h.run()
            queries += 1
            if h.getInfo().dual_solution_status != highspy.kSolutionStatusFeasible:
                continue
            bound = safe_max(lp, c, c0, np.asarray(h.getSolution().row_dual, np.float64))
            if sign > 0:
                hi[j] = min(hi[j], bound)
            else:
                lo[j] = max(lo[j], -bound)
    budget.spent += time.perf_counter() - start
    return queries
