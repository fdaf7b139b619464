"""Close a branch-and-bound region with the differential LP (untrusted search side).

HiGHS (one thread, warm started between objectives) maximises each ``s (y_g,i - y_f,i)`` over
the checker's own LP (:func:`nnequiv.checker.diff_lp.diff_lp`); a region is closed only when
:func:`nnequiv.checker.lp_dual.safe_max` of the returned row duals is ``<= eps`` for every
objective -- never on the solver's objective value.  The multipliers become the leaf's evidence.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from ..checker.diff_lp import DiffLp, diff_lp, lp_objectives
from ..pwl import PwlLayer
from ..solvers.model import MilpModel

OBJECTIVE_SECONDS = 5.0       # cap of one LP solve


@dataclass(frozen=True, eq=False)
class LpAttempt:
    closed: bool
    value: float             # closed: the proved bound; else the safe bound of the objective that failed
    upper: float             # a sound bound on the region's deviation (LP where solved, else zonotope)
    evidence: tuple[dict[str, Any] | None, ...]  # per (output, sign): {"rows", "values"}, or None where
    seconds: float                                # the zonotope bound already meets eps


def try_lp_leaf(fl: Sequence[PwlLayer], gl: Sequence[PwlLayer], lower: np.ndarray, upper: np.ndarray,
                layer_bounds, splits: Mapping, outputs: tuple[int, ...] | None, eps: float,
                zonotope: Sequence[float], deadline: float) -> LpAttempt:
    """Try to prove ``|y_g,i - y_f,i| <= eps`` on the region.  ``zonotope[k]`` is the region's
    zonotope bound of the k-th objective of :func:`lp_objectives`; the LP is solved only where
    that bound is above ``eps``, worst first, stopping at the first objective it cannot prove."""
    start = time.monotonic()
    lp = diff_lp(fl, gl, lower, upper, layer_bounds, splits)
    objectives = lp_objectives(outputs, lp.g_out.size)
    evidence: list[dict[str, Any] | None] = [None] * len(objectives)
    proved = [float(z) for z in zonotope]
    todo = sorted((k for k in range(len(objectives)) if not proved[k] <= eps), key=lambda k: -proved[k])
    if not todo:
        return LpAttempt(True, max(proved), max(proved), tuple(evidence), 0.0)
    from ..solvers.highs_backend import loaded_highs   # highspy is imported only when the LP is used

    # primal simplex: a new objective keeps the basis primal feasible, so re-solves are cheap
    highs = loaded_highs(MilpModel.from_relaxation(lp), {"threads": 1, "simplex_strategy": 4})
    previous = None
    for k in todo:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return LpAttempt(False, np.inf, max(proved), (), time.monotonic() - start)
        output, sign = objectives[k]
        multipliers = _solve(highs, lp, output, sign, previous, min(OBJECTIVE_SECONDS, remaining), eps)
        previous = (output, sign)
        bound = np.inf if multipliers is None else lp.safe_bound(output, sign, multipliers)
        if not bound <= eps:
            proved[k] = min(proved[k], bound)
            return LpAttempt(False, bound, max(proved), (), time.monotonic() - start)
        proved[k] = min(proved[k], bound)
        rows = np.flatnonzero(multipliers)
        evidence[k] = {"rows": rows.tolist(), "values": [float(v).hex() for v in multipliers[rows]]}
    return LpAttempt(True, float(max(proved)), float(max(proved)), tuple(evidence), time.monotonic() - start)


def _solve(highs, lp: DiffLp, output: int, sign: float, previous, seconds: float,
           eps: float = np.inf) -> np.ndarray | None:
    """Row multipliers for ``max sign (y_g - y_f)[output]``: HiGHS's duals, or -- when HiGHS finds
    the region's LP infeasible (an empty region the zonotope did not see) -- its Farkas ray,
    scaled until the safe bound meets ``eps`` (the bound is valid for any multipliers)."""
    import highspy

    if previous is not None:
        old, _ = lp.objective(*previous)
        columns = np.flatnonzero(old)
        highs.changeColsCost(columns.size, columns.astype(np.int32), np.zeros(columns.size))
    c, _ = lp.objective(output, sign)
    columns = np.flatnonzero(c)
    highs.changeColsCost(columns.size, columns.astype(np.int32), c[columns])
    highs.setOptionValue("time_limit", float(highs.getRunTime() + seconds))   # HiGHS's clock runs across runs
    highs.run()
    if highs.getModelStatus() == highspy.HighsModelStatus.kInfeasible:
        return _scaled_ray(highs, lp, output, sign, eps)
    if highs.getInfo().dual_solution_status != highspy.kSolutionStatusFeasible:
        return None
    duals = np.array(highs.getSolution().row_dual, np.float64)
    return duals if duals.shape == lp.row_lo.shape and np.all(np.isfinite(duals)) else None


def _scaled_ray(highs, lp: DiffLp, output: int, sign: float, eps: float) -> np.ndarray | None:
    _, has_ray, ray = highs.getDualRay()
    ray = np.asarray(ray, np.float64)
    if not has_ray or ray.shape != lp.row_lo.shape or not np.all(np.isfinite(ray)):
        return None
    for direction in (1.0, -1.0):
        for scale in 10.0 ** np.arange(0, 13, 2):
            multipliers = direction * scale * ray
            if lp.safe_bound(output, sign, multipliers) <= min(eps, 0.0):
                return multipliers
    return None
