"""Shared z3 helpers for the machine checks.

Conventions
-----------
* Every quantity is a z3 ``Real`` (an exact rational); constants enter through
  :func:`Q`, which refuses inexact input.  No floating point is involved.
* A claim ``forall v. H(v) -> C(v)`` over the free variables ``v`` is *proved* by
  asking z3 for a model of ``H(v) and not C(v)``: the answer must be exactly
  ``unsat`` (``unknown`` -- e.g. a timeout -- is a failure, never a pass).
* A deliberately wrong variant is *refuted*: the same query must be exactly
  ``sat``, and the returned model is re-evaluated to confirm that it satisfies
  the hypotheses and violates the claim (a concrete counterexample).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Iterable, Sequence

import z3

TIMEOUT_MS = 20_000


# ----------------------------------------------------------------- constants
def Q(value) -> z3.ArithRef:
    """An exact rational constant from an int, a Fraction, a decimal string or a float
    (a float is taken at its exact binary value, never via its decimal repr)."""
    if isinstance(value, bool):
        raise TypeError("bool is not a number here")
    if isinstance(value, (int, Fraction, float)):
        frac = Fraction(value)
    elif isinstance(value, str):
        frac = Fraction(value)
    else:
        raise TypeError(f"cannot make an exact rational from {value!r}")
    return z3.Q(frac.numerator, frac.denominator) if frac.denominator != 1 else z3.RealVal(frac.numerator)


def reals(prefix: str, n: int) -> list[z3.ArithRef]:
    return [z3.Real(f"{prefix}{i}") for i in range(n)]


def real_matrix(prefix: str, rows: int, cols: int) -> list[list[z3.ArithRef]]:
    return [[z3.Real(f"{prefix}{r}_{c}") for c in range(cols)] for r in range(rows)]


# ---------------------------------------------------------- piecewise-linear
def act(z, slope) -> z3.ArithRef:
    """The normal-form activation: ``z`` if ``z >= 0`` else ``slope * z``
    (slope 0: ReLU, 0 < slope < 1: LeakyReLU, slope 1: identity)."""
    return z3.If(z >= 0, z, slope * z)


def relu(z) -> z3.ArithRef:
    return z3.If(z >= 0, z, 0)


def zmax(*xs) -> z3.ArithRef:
    out = xs[0]
    for x in xs[1:]:
        out = z3.If(x > out, x, out)
    return out


def zmin(*xs) -> z3.ArithRef:
    out = xs[0]
    for x in xs[1:]:
        out = z3.If(x < out, x, out)
    return out


def zabs(x) -> z3.ArithRef:
    return z3.If(x >= 0, x, -x)


def pos(x) -> z3.ArithRef:
    """``max(x, 0)``."""
    return z3.If(x >= 0, x, 0)


def neg(x) -> z3.ArithRef:
    """``min(x, 0)``."""
    return z3.If(x <= 0, x, 0)


def dot(u: Sequence, v: Sequence) -> z3.ArithRef:
    assert len(u) == len(v)
    return z3.Sum([a * b for a, b in zip(u, v)]) if u else z3.RealVal(0)


def matvec(m: Sequence[Sequence], v: Sequence) -> list[z3.ArithRef]:
    return [dot(row, v) for row in m]


def all_of(items: Iterable) -> z3.BoolRef:
    items = list(items)
    return z3.And(items) if items else z3.BoolVal(True)


def vec_eq(u: Sequence, v: Sequence) -> z3.BoolRef:
    assert len(u) == len(v)
    return all_of(a == b for a, b in zip(u, v))


# ------------------------------------------------------------------- queries
def _solver(timeout_ms: int) -> z3.Solver:
    solver = z3.Solver()
    solver.set("timeout", int(timeout_ms))
    return solver


def _as_list(hyps) -> list:
    out = []
    for h in hyps:
        if isinstance(h, (list, tuple)):
            out.extend(_as_list(h))
        else:
            out.append(h)
    return out


def prove(claim: z3.BoolRef, *hyps, timeout_ms: int = TIMEOUT_MS) -> None:
    """Assert ``forall free vars: And(hyps) -> claim`` by ``unsat`` of its negation."""
    hyps = _as_list(hyps)
    solver = _solver(timeout_ms)
    solver.add(*hyps)
    solver.add(z3.Not(claim))
    result = solver.check()
    if result == z3.sat:
        raise AssertionError(f"claim is FALSE; counterexample: {solver.model()}")
    assert result == z3.unsat, f"claim not proved: z3 answered {result} ({solver.reason_unknown()})"


def refute(claim: z3.BoolRef, *hyps, timeout_ms: int = TIMEOUT_MS) -> z3.ModelRef:
    """Assert that the (wrong) claim does NOT follow from ``hyps``: z3 must answer exactly
    ``sat``; the model is checked to satisfy every hypothesis and to violate the claim,
    and returned as the counterexample."""
    hyps = _as_list(hyps)
    solver = _solver(timeout_ms)
    solver.add(*hyps)
    solver.add(z3.Not(claim))
    result = solver.check()
    assert result == z3.sat, f"wrong variant was not refuted: z3 answered {result}"
    model = solver.model()
    for h in hyps:
        assert z3.is_true(model.eval(h, model_completion=True)), f"model violates hypothesis {h}"
    assert z3.is_false(model.eval(claim, model_completion=True)), "model does not violate the claim"
    return model


def value(model: z3.ModelRef, expr) -> Fraction:
    """Exact value of ``expr`` in ``model`` (a rational)."""
    v = model.eval(expr, model_completion=True)
    if z3.is_int_value(v):
        return Fraction(v.as_long())
    assert z3.is_rational_value(v), f"not a rational value: {v}"
    return Fraction(v.numerator_as_long(), v.denominator_as_long())
