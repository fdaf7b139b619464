"""z3 backend: exact rational semantics of a :class:`~.model.MilpModel`.

Every float64 coefficient and bound enters z3 as the exact rational it denotes
(``Fraction(float)`` written as a ``num/den`` numeral; a Python float is never
handed to z3, which would round it).  Continuous variables are ``Real``,
integer ones with bounds inside ``[0, 1]`` are ``Bool`` (entering the linear
terms as ``If(b, 1, 0)``: this keeps network encodings in linear real arithmetic
plus propositional search, far faster in z3 than integer branching), other
integers ``Int`` (coerced with ``ToReal``).  Answers are
exact: ``x_exact`` / ``objective_exact`` are Fractions, ``x``/``objective`` their
nearest floats.  z3's MILP search is slow; use this for small problems and for
certifying counterexamples.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from fractions import Fraction

import numpy as np
import z3

from .model import MilpModel, SolveResult


def solve_feasibility(model: MilpModel, *, time_limit: float | None = None) -> SolveResult:
    """Decide feasibility (the objective is ignored).  ``optimal`` means a feasible point was
    found (``x_exact`` holds it, ``objective_exact`` its objective value)."""
    start = time.perf_counter()
    ctx = z3.Context()
    solver = z3.Solver(ctx=ctx)
    if time_limit is not None:
        solver.set("timeout", _ms(time_limit))
    variables, _, constraints = _encode(model, ctx)
    solver.add(*constraints)
    answer = solver.check()
    elapsed = time.perf_counter() - start
    if answer == z3.unsat:
        return SolveResult("infeasible", time_s=elapsed)
    if answer == z3.unknown:
        return _unknown(solver.reason_unknown(), elapsed)
    values = _values(solver.model(), variables)
    obj = _objective_exact(model, values)
    return SolveResult("optimal", objective=float(obj), x=_floats(values), x_exact=values,
                       objective_exact=obj, time_s=elapsed)


def optimize(model: MilpModel, *, time_limit: float | None = None) -> SolveResult:
    """Optimise ``model`` in its own sense; exact optimum and point, certified by z3.

    ``z3.Optimize`` alone is not trusted (on mixed integer problems it can report
    optima like ``4 + epsilon`` that are not attained), so this is a linear search
    driven by the plain solver:

    1. find any feasible point (``Solver.check``);
    2. fix its integer variables and optimise the remaining LP exactly with
       ``z3.Optimize`` over the reals (if that fails, keep the point itself);
    3. require ``objective > best`` and repeat.

    When step 1 becomes ``unsat`` the best point is optimal, which z3 has proved.
    Each round whose LP step succeeds excludes the integer assignment it optimised
    over, so the search ends for bounded integers (with unbounded integers, an
    unbounded LP relaxation of a feasible problem means ``unbounded``, by Meyer's
    theorem for rational data; otherwise the search may not end); ``time_limit``
    bounds the whole
    search (on expiry the best point so far is returned with status ``time_limit``).
    """
    start = time.perf_counter()
    deadline = None if time_limit is None else start + time_limit
    sign = 1 if model.sense == "max" else -1
    ctx = z3.Context()
    num = _Numerals(ctx)
    solver = z3.Solver(ctx=ctx)
    variables, exprs, constraints = _encode(model, ctx)
    solver.add(*constraints)
    terms = [num(sign * c) * exprs[j] for j, c in enumerate(model.objective.tolist()) if c != 0.0]
    goal = z3.Sum(terms) if terms else num(0.0)
    best: tuple[Fraction, tuple[Fraction, ...]] | None = None
    while True:
        remaining = _remaining(deadline)
        if remaining is not None and remaining <= 0:
            return _limited(model, best, start, "timeout")
        if remaining is not None:
            solver.set("timeout", _ms(remaining))
        answer = solver.check()
        if answer == z3.unsat:
            if best is None:
                return SolveResult("infeasible", time_s=time.perf_counter() - start)
            return _optimal(model, best[1], start)
        if answer == z3.unknown:
            return _limited(model, best, start, solver.reason_unknown())
        point = _values(solver.model(), variables)
        if best is None and model.is_mip and _has_unbounded_integer(model):
            # Meyer (1974): rational data, feasible MILP, unbounded LP relaxation
            # => the MILP is unbounded
            if _optimise_region(model.relaxation(), point, sign, deadline) == "unbounded":
                return SolveResult("unbounded", time_s=time.perf_counter() - start)
        improved = _optimise_region(model, point, sign, deadline)
        if improved == "unbounded":
            return SolveResult("unbounded", time_s=time.perf_counter() - start)
        if improved is not None:
            point = improved
        value = sign * (_objective_exact(model, point) - Fraction(model.constant))
        if best is None or value > best[0]:
            best = (value, point)
        solver.add(goal > _fraction_numeral(best[0], ctx))


def maximize(model: MilpModel, *, time_limit: float | None = None) -> SolveResult:
    """``optimize`` with the objective maximised whatever ``model.sense`` says."""
    return optimize(replace(model, sense="max"), time_limit=time_limit)


# ---------------------------------------------------------------- internals
def _optimise_region(model: MilpModel, point: tuple[Fraction, ...], sign: int,
                     deadline: float | None):
    """Exact LP optimum with the integer variables fixed as in ``point`` (maximising
    ``sign * c``): a point, ``"unbounded"``, or ``None`` (not available)."""
    fixed = model
    if model.is_mip:
        ints = np.flatnonzero(model.integer)
        vals = [float(point[j]) for j in ints]
        if any(Fraction(v) != point[j] for v, j in zip(vals, ints)):
            return None                     # integer too large for a float64 bound
        fixed = model.with_bounds(ints, vals, vals).relaxation()
    ctx = z3.Context()
    num = _Numerals(ctx)
    opt = z3.Optimize(ctx=ctx)
    remaining = _remaining(deadline)
    if remaining is not None:
        if remaining <= 0:
            return None
        opt.set("timeout", _ms(remaining))
    variables, exprs, constraints = _encode(fixed, ctx)
    opt.add(*constraints)
    terms = [num(sign * c) * exprs[j] for j, c in enumerate(fixed.objective.tolist()) if c != 0.0]
    handle = opt.maximize(z3.Sum(terms) if terms else num(0.0))
    if opt.check() != z3.sat:
        return None
    value = handle.value()
    if not (z3.is_rational_value(value) or z3.is_int_value(value)):
        return "unbounded" if "oo" in value.sexpr() and "-" not in value.sexpr() else None
    candidate = _values(opt.model(), variables)
    return candidate if model.is_feasible_exact(candidate) else None


def _has_unbounded_integer(model: MilpModel) -> bool:
    ints = model.integer
    return bool(np.any(np.isinf(model.col_lo[ints])) or np.any(np.isinf(model.col_hi[ints])))


def _optimal(model: MilpModel, point: tuple[Fraction, ...], start: float) -> SolveResult:
    obj = _objective_exact(model, point)
    return SolveResult("optimal", objective=float(obj), bound=float(obj), x=_floats(point),
                       x_exact=point, objective_exact=obj, time_s=time.perf_counter() - start)


def _limited(model: MilpModel, best, start: float, reason: str) -> SolveResult:
    elapsed = time.perf_counter() - start
    limited = _unknown(reason, elapsed)
    if best is None or limited.status != "time_limit":
        return limited
    obj = _objective_exact(model, best[1])
    return SolveResult("time_limit", objective=float(obj), x=_floats(best[1]), x_exact=best[1],
                       objective_exact=obj, time_s=elapsed, message=reason)


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else deadline - time.perf_counter()


def _fraction_numeral(q: Fraction, ctx: z3.Context) -> z3.ArithRef:
    return z3.RealVal(f"{q.numerator}/{q.denominator}", ctx)


class _Numerals:
    """Exact z3 numerals for float64 values (cached)."""

    def __init__(self, ctx: z3.Context) -> None:
        self._ctx = ctx
        self._cache: dict[float, z3.ArithRef] = {}

    def __call__(self, value: float) -> z3.ArithRef:
        value = float(value)
        if not math.isfinite(value):
            raise ValueError("non-finite numeral")
        hit = self._cache.get(value)
        if hit is None:
            q = Fraction(value)
            hit = z3.RealVal(f"{q.numerator}/{q.denominator}", self._ctx)
            self._cache[value] = hit
        return hit


def _encode(model: MilpModel, ctx: z3.Context):
    num = _Numerals(ctx)
    variables, exprs, constraints = [], [], []
    for j in range(model.n_vars):
        name = model.var_names[j] or f"x{j}"
        if model.integer[j] and model.col_lo[j] >= 0.0 and model.col_hi[j] <= 1.0:
            # a binary: a Bool keeps the problem in LRA + propositional search (much
            # faster in z3 than integer branch and bound)
            v = z3.Bool(f"{name}!{j}", ctx)
            e = z3.If(v, num(1.0), num(0.0))
        elif model.integer[j]:
            v = z3.Int(f"{name}!{j}", ctx)
            e = z3.ToReal(v)
        else:
            v = z3.Real(f"{name}!{j}", ctx)
            e = v
        variables.append(v)
        exprs.append(e)
        lo, hi = float(model.col_lo[j]), float(model.col_hi[j])
        if not (z3.is_bool(v) and lo <= 0.0 and hi >= 1.0):      # else implied by If(v, 1, 0)
            constraints.extend(_bounds(e, lo, hi, num))
    for r in range(model.n_rows):
        idx, val = model.row(r)
        terms = [exprs[j] if a == 1.0 else num(a) * exprs[j]
                 for j, a in zip(idx.tolist(), val.tolist())]
        expr = z3.Sum(terms) if len(terms) > 1 else (terms[0] if terms else num(0.0))
        constraints.extend(_bounds(expr, float(model.row_lo[r]), float(model.row_hi[r]), num))
    return variables, exprs, constraints


def _bounds(expr, lo: float, hi: float, num: _Numerals) -> list:
    if lo == hi:
        return [expr == num(lo)]
    out = []
    if lo > -math.inf:
        out.append(expr >= num(lo))
    if hi < math.inf:
        out.append(expr <= num(hi))
    return out


def _rational(value) -> Fraction:
    if z3.is_true(value):
        return Fraction(1)
    if z3.is_false(value):
        return Fraction(0)
    if z3.is_int_value(value):
        return Fraction(value.as_long())
    return Fraction(value.numerator_as_long(), value.denominator_as_long())


def _values(model: z3.ModelRef, variables) -> tuple[Fraction, ...]:
    return tuple(_rational(model.eval(v, model_completion=True)) for v in variables)


def _objective_exact(model: MilpModel, values: tuple[Fraction, ...]) -> Fraction:
    total = Fraction(model.constant)
    for j, c in enumerate(model.objective.tolist()):
        if c != 0.0:
            total += Fraction(c) * values[j]
    return total


def _floats(values: tuple[Fraction, ...]) -> np.ndarray:
    x = np.array([float(v) for v in values], dtype=np.float64)
    x.setflags(write=False)
    return x


def _unknown(reason: str, elapsed: float) -> SolveResult:
    limited = any(word in reason for word in ("timeout", "canceled", "resource limit"))
    return SolveResult("time_limit" if limited else "error", time_s=elapsed, message=reason)


def _ms(seconds: float) -> int:
    return max(int(math.ceil(seconds * 1000.0)), 1)
