"""HiGHS backend: solve a :class:`~.model.MilpModel` (LP or MILP) with highspy.

Results are float64 and carry HiGHS's tolerances: ``bound`` (MIP dual bound, or
the LP objective) is NOT rigorous, and HiGHS may silently alter the model (tiny
coefficients dropped, huge bounds made infinite; reported in ``message``, see
:func:`model_caveats`).  For a rigorous LP bound feed
``result.duals.row`` to :func:`.safe_bound.safe_upper_bound`.

Duals (LPs only, when HiGHS reports a feasible dual solution) follow the
convention of :class:`~.model.LpDuals`: ``c = A^T y + d`` for both senses, which is
exactly what HiGHS returns (checked in ``tests/test_solvers_highs.py``).
"""

from __future__ import annotations

import functools
import math
import os
import sys
import time
from dataclasses import replace
from typing import Any, Mapping

import highspy
import numpy as np

from .model import LpDuals, MilpModel, SolveResult

@functools.cache
def _absorb_banner() -> None:
    """HiGHS writes a copyright banner to the process's stdout (fd 1) when its first instance is
    built, whatever ``output_flag`` says; that would corrupt ``nnequiv check --json``.  Build that
    first instance with fd 1 pointed at /dev/null."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 1)
            highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def new_highs() -> highspy.Highs:
    """A silent HiGHS instance."""
    _absorb_banner()
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    return h


_MS = highspy.HighsModelStatus
_STATUS = {
    _MS.kOptimal: "optimal",
    _MS.kInfeasible: "infeasible",
    _MS.kUnbounded: "unbounded",
    _MS.kTimeLimit: "time_limit",
    _MS.kIterationLimit: "time_limit",
    _MS.kSolutionLimit: "time_limit",
    _MS.kInterrupt: "time_limit",
    _MS.kHighsInterrupt: "time_limit",
}


def solve_highs(model: MilpModel, *, time_limit: float | None = None, mip_rel_gap: float = 0.0,
                threads: int | None = None, options: Mapping[str, Any] | None = None,
                settle_sign: bool = False) -> SolveResult:
    """Optimise ``model`` in its own sense.

    ``time_limit`` in seconds (``None``: none).  ``mip_rel_gap`` defaults to 0 (solve to
    optimality).  ``options`` are passed to ``Highs.setOptionValue`` verbatim.
    ``settle_sign`` (MIPs): stop as soon as the sign question "is the optimum > 0" (max) /
    "< 0" (min) is settled -- the MIP dual bound reaches 0 (no: the optimum is <= 0 / >= 0,
    up to HiGHS's tolerances) or an incumbent lies strictly beyond 0 (yes); the result then
    has status ``time_limit`` with that ``bound`` / ``objective``.
    Statuses: ``optimal``; ``infeasible``; ``unbounded``; ``time_limit`` (any
    resource limit; ``x``/``objective`` hold the incumbent if there is one, ``bound``
    the MIP dual bound); ``error`` (anything else, ``message`` says what).
    """
    start = time.perf_counter()
    opts: dict[str, Any] = {"mip_rel_gap": float(mip_rel_gap)}
    if time_limit is not None:
        opts["time_limit"] = float(max(time_limit, 0.0))
    if threads is not None:
        opts["threads"] = int(threads)
    opts.update(options or {})
    h = _load(model, opts)
    if settle_sign and model.is_mip:
        h.cbMipInterrupt.subscribe(_sign_settler(model.sense))
    if h.run() == highspy.HighsStatus.kError and h.getModelStatus() == _MS.kNotset:
        return SolveResult("error", time_s=time.perf_counter() - start,
                           message="HiGHS refused to run the model (see its log with output_flag)")
    status = h.getModelStatus()
    if status == _MS.kUnboundedOrInfeasible:
        result = _disambiguate(model, opts, start)
    else:
        result = _result(model, h, status, start)
    caveat = model_caveats(model, h)
    if caveat:
        result = replace(result, message="; ".join(filter(None, [result.message, caveat])))
    return result


def _sign_settler(sense: str):
    """A MIP-interrupt callback stopping HiGHS once the sign of the optimum is known (both values
    are in the model's own sense: the dual bound proven so far, the best incumbent)."""
    sign = 1.0 if sense == "max" else -1.0

    def settle(event) -> None:
        out = event.data_out
        if sign * out.mip_dual_bound <= 0.0 or sign * out.mip_primal_bound > 0.0:
            event.interrupt()
    return settle


def loaded_highs(model: MilpModel, options: Mapping[str, Any] | None = None) -> highspy.Highs:
    """A silent HiGHS instance holding ``model``, for callers that re-solve it with changed costs
    (warm started); read its results with the highspy API."""
    return _load(model, dict(options or {}))


def model_caveats(model: MilpModel, h: highspy.Highs | None = None) -> str:
    """What HiGHS will silently change in ``model`` ('' if nothing).

    HiGHS drops matrix entries with ``|a| <= small_matrix_value`` (default 1e-9) and
    treats bounds with ``|b| >= infinite_bound`` (default 1e20) as infinite, so its
    answer can be that of a different problem.  Rigorous bounds computed by
    :mod:`.safe_bound` on ``model`` itself are unaffected (they hold for any
    multipliers).
    """
    h = h or new_highs()
    small = _option(h, "small_matrix_value")
    big = _option(h, "infinite_bound")
    notes = []
    n_small = int(np.sum(np.abs(model.data) <= small))
    if n_small:
        notes.append(f"HiGHS drops {n_small} coefficient(s) with |a| <= {small:g}")
    bounds = np.concatenate([model.row_lo, model.row_hi, model.col_lo, model.col_hi])
    n_big = int(np.sum(np.isfinite(bounds) & (np.abs(bounds) >= big)))
    if n_big:
        notes.append(f"HiGHS treats {n_big} finite bound(s) with |b| >= {big:g} as infinite")
    return "; ".join(notes)


def _load(model: MilpModel, opts: Mapping[str, Any]) -> highspy.Highs:
    h = new_highs()
    if "threads" in opts:
        # HiGHS keeps one global thread scheduler, sized by the first run of the process; a run
        # asking for another thread count fails with kError unless the scheduler is reset
        highspy.Highs.resetGlobalScheduler(True)
    for key, value in opts.items():
        if h.setOptionValue(key, value) == highspy.HighsStatus.kError:
            raise ValueError(f"invalid HiGHS option {key}={value!r}")
    if model.n_vars == 0:
        return h
    inf = highspy.kHighsInf
    lp = highspy.HighsLp()
    lp.num_col_ = model.n_vars
    lp.num_row_ = model.n_rows
    lp.col_cost_ = np.asarray(model.objective, np.float64)
    lp.col_lower_ = np.maximum(model.col_lo, -inf)
    lp.col_upper_ = np.minimum(model.col_hi, inf)
    lp.row_lower_ = np.maximum(model.row_lo, -inf)
    lp.row_upper_ = np.minimum(model.row_hi, inf)
    lp.offset_ = float(model.constant)
    lp.sense_ = highspy.ObjSense.kMaximize if model.sense == "max" else highspy.ObjSense.kMinimize
    a = lp.a_matrix_
    a.format_ = highspy.MatrixFormat.kRowwise
    a.num_col_ = model.n_vars
    a.num_row_ = model.n_rows
    a.start_ = np.asarray(model.indptr, np.int32)
    a.index_ = np.asarray(model.indices, np.int32)
    a.value_ = np.asarray(model.data, np.float64)
    lp.a_matrix_ = a
    if model.is_mip:
        lp.integrality_ = [highspy.HighsVarType.kInteger if v else highspy.HighsVarType.kContinuous
                           for v in model.integer.tolist()]
    if h.passModel(lp) == highspy.HighsStatus.kError:
        raise ValueError("HiGHS rejected the model")
    return h


def _result(model: MilpModel, h: highspy.Highs, status, start: float) -> SolveResult:
    info = h.getInfo()
    elapsed = time.perf_counter() - start
    nodes = max(int(info.mip_node_count), 0) if model.is_mip else 0
    if model.n_vars == 0:
        return _empty_model(model, elapsed)
    name = _STATUS.get(status)
    if name is None:
        return SolveResult("error", time_s=elapsed, nodes=nodes,
                           message=h.modelStatusToString(status))
    has_primal = info.primal_solution_status == highspy.kSolutionStatusFeasible
    x = np.array(h.getSolution().col_value, dtype=np.float64) if has_primal else None
    objective = float(info.objective_function_value) if has_primal else None
    if name in ("infeasible", "unbounded"):
        return SolveResult(name, time_s=elapsed, nodes=nodes,
                           x=x if name == "unbounded" else None,
                           message=h.modelStatusToString(status))
    if model.is_mip:
        bound = float(info.mip_dual_bound)
        bound = bound if math.isfinite(bound) else None
        duals = None
    else:
        dual_ok = info.dual_solution_status == highspy.kSolutionStatusFeasible
        solution = h.getSolution()
        duals = LpDuals(np.array(solution.row_dual, np.float64),
                        np.array(solution.col_dual, np.float64)) if dual_ok else None
        bound = objective if name == "optimal" else None
    if name == "optimal" and x is None:
        return SolveResult("error", time_s=elapsed, nodes=nodes,
                           message="HiGHS reported optimal without a primal solution")
    return SolveResult(name, objective=objective, bound=bound, x=_frozen(x), duals=duals,
                       time_s=elapsed, nodes=nodes)


def _disambiguate(model: MilpModel, opts: Mapping[str, Any], start: float) -> SolveResult:
    """HiGHS said "unbounded or infeasible": decide feasibility with a zero objective."""
    probe = model.with_objective({}, 0.0, model.sense)
    h = _load(probe, opts)
    h.run()
    status = h.getModelStatus()
    elapsed = time.perf_counter() - start
    if status == _MS.kOptimal:
        x = np.array(h.getSolution().col_value, dtype=np.float64)
        return SolveResult("unbounded", x=_frozen(x), time_s=elapsed)
    if status == _MS.kInfeasible:
        return SolveResult("infeasible", time_s=elapsed)
    name = _STATUS.get(status, "error")
    return SolveResult("time_limit" if name == "time_limit" else "error", time_s=elapsed,
                       message="unbounded or infeasible; " + h.modelStatusToString(status))


def _empty_model(model: MilpModel, elapsed: float) -> SolveResult:
    # no variables: feasible iff every (empty) row admits 0
    if model.n_rows and (np.any(model.row_lo > 0) or np.any(model.row_hi < 0)):
        return SolveResult("infeasible", time_s=elapsed)
    return SolveResult("optimal", objective=model.constant, bound=model.constant,
                       x=_frozen(np.zeros(0)), time_s=elapsed,
                       duals=None if model.is_mip else LpDuals(np.zeros(model.n_rows), np.zeros(0)))


def _option(h: highspy.Highs, name: str) -> float:
    value = h.getOptionValue(name)
    return float(value[1] if isinstance(value, tuple) else value)   # highspy API varies


def _frozen(x: np.ndarray | None) -> np.ndarray | None:
    if x is not None:
        x.setflags(write=False)
    return x
