"""Rigorous LP bounds from an arbitrary multiplier vector (Neumaier--Shcherbina).

Soundness-critical.  Setting: the LP relaxation of a :class:`~.model.MilpModel`,

    P:  sup  c^T x + c0   s.t.  lo_r <= (A x)_r <= hi_r,   l_j <= x_j <= u_j,

every number being the exact real value of its float64.  Integrality is ignored,
so a bound for P is also a bound for the MILP.

Argument (weak duality + interval reasoning).  Take ANY real vector ``y`` (one
multiplier per row) and put ``r = c - A^T y`` (exactly, over the reals).  For every
feasible ``x``::

    c^T x = y^T (A x) + r^T x
          = sum_r y_r (A x)_r + sum_j r_j x_j
         <= sum_r (y_r > 0 ? y_r hi_r : y_r lo_r) + sum_j max(r_j l_j, r_j u_j)

because ``y_r (A x)_r`` is increasing in ``(A x)_r`` when ``y_r > 0`` (so at most
``y_r hi_r``), decreasing when ``y_r < 0`` (at most ``y_r lo_r``), and a linear
function ``r_j x_j`` over ``[l_j, u_j]`` is maximal at an end point.  The first
sum needs the bound on the side selected by the sign of ``y_r`` to be finite; a
multiplier whose side is infinite is first replaced by 0 (any ``y`` is allowed,
so this changes nothing in the argument, only ``r``).  Non-finite multipliers
are likewise replaced by 0.  A term ``r_j x_j`` with ``r_j = 0`` contributes 0
even when a variable bound is infinite; otherwise an infinite bound in the
direction of ``r_j`` makes the bound ``+inf`` (still valid, useless).  No
property of ``y`` (dual feasibility, optimality) is needed: a poor ``y`` only
gives a poor bound.  The lower bound for ``inf`` is the same argument applied to
``-c``, ``-y``:  ``inf c^T x >= -(bound for sup (-c)^T x with multipliers -y)``;
the multipliers keep the convention ``c ~ A^T y`` (see :mod:`.model`).

Arithmetic.  ``method="exact"`` evaluates the right-hand side in
:class:`fractions.Fraction` and rounds the result up to a float64.
``method="float"`` (default) evaluates it in float64 with a rigorous error
bound; the only facts used are those of IEEE round-to-nearest arithmetic, with
``u = 2^-53`` and ``eta = 2^-1074`` (smallest subnormal):

1.  A computed product ``p = fl(a b)`` satisfies ``|p - a b| <= u |a b| + eta/2``
    (the ``eta/2`` covers underflow); a computed sum has no underflow error.
2.  A sum of ``n`` such products, added in ANY order (numpy pairwise, bincount
    sequential, ...), satisfies ``|fl(sum) - sum a_i b_i| <= gamma_n S + n eta``
    with ``S = sum |a_i b_i|`` and ``gamma_n = n u / (1 - n u)`` (Higham, Thm 3.1
    and Lemma 3.3).
3.  ``S`` itself is bounded by the computed ``S~ = fl(sum |p_i|)``:
    ``S~ >= (1 - gamma_n) S - n eta / 2``, hence ``S <= (S~ + n eta)/(1 - gamma_n)``.
    With ``n u <= 1/2`` (``gamma_n <= 2 n u``) the error in 2. is therefore at most
    ``E = 4 n u S~ + 2 n eta``.  ``4 n u`` and ``2 n eta`` are exact floats
    (``n < 2^50``); the one product and one sum in ``E`` are each rounded up by
    :func:`numpy.nextafter`, which dominates a round-to-nearest error (including
    the ``eta/2`` of an underflowing product).
4.  A single rounded operation ``fl(a op b)`` is bracketed by
    ``[nextafter(fl, -inf), nextafter(fl, +inf)]``.

5.  A sum of floats (no products) is rounded up exactly with ``math.fsum``
    (:func:`sum_upper`).

So each exact dot product ``d`` is enclosed by ``[down(s - E), up(s + E)]``
where ``s`` is the computed value; products ``r_j l_j`` etc. are rounded up one
ulp (fact 4) unless a factor is 0; any overflow (a non-finite intermediate)
yields ``+inf``.  Reduced costs of columns with an infinite bound are computed
in rationals instead (a rounding error there would turn a 0 into an infinite
term).  Nothing
relies on FMA being used or not: every product is formed explicitly, never in a
BLAS call.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Literal, Sequence, Union

import numpy as np

from .model import MilpModel

ETA = 2.0 ** -1074          # smallest positive subnormal
_FOUR_U = 2.0 ** -51        # 4u, u = 2^-53

ModelOrArrays = Union[MilpModel, Sequence]
Method = Literal["float", "exact"]


# ------------------------------------------------------------------ public API
def safe_upper_bound(model_or_arrays: ModelOrArrays, y, *, method: Method = "float") -> float:
    """A float64 ``B`` with ``B >= sup {c^T x + c0 : x feasible for the LP relaxation}``.

    ``model_or_arrays`` is a :class:`MilpModel` (its ``sense`` is ignored) or a tuple
    ``(A, row_lo, row_hi, col_lo, col_hi, c[, c0])`` with dense ``A``.  ``y`` is any
    row-multiplier vector (typically ``SolveResult.duals.row`` of the LP, i.e.
    ``c ~ A^T y``).  Valid for every ``y``; returns ``+inf`` when no finite bound
    follows from ``y``.  If the LP is infeasible the bound is vacuous but harmless.
    """
    model = _as_model(model_or_arrays)
    y = _as_multipliers(y, model.n_rows)
    if method == "exact":
        return _fraction_up(dual_bound_exact(model, y))
    if method != "float":
        raise ValueError(f"unknown method {method!r}")
    return _upper_float(model.indptr, model.indices, model.data, model.row_lo, model.row_hi,
                        model.col_lo, model.col_hi, model.objective, model.constant, y)


def safe_lower_bound(model_or_arrays: ModelOrArrays, y, *, method: Method = "float") -> float:
    """A float64 ``B <= inf {c^T x + c0 : x feasible}``; multipliers as above (``c ~ A^T y``)."""
    model = _as_model(model_or_arrays)
    y = _as_multipliers(y, model.n_rows)
    if method == "exact":
        value = dual_bound_exact(model, y, lower=True)
        return -_fraction_up(-value) if value != -math.inf else -math.inf
    if method != "float":
        raise ValueError(f"unknown method {method!r}")
    # inf c^T x = -sup (-c)^T x; multipliers for -c are -y (negations are exact)
    return -_upper_float(model.indptr, model.indices, model.data, model.row_lo, model.row_hi,
                         model.col_lo, model.col_hi, -model.objective, -model.constant, -y)


def safe_objective_bound(model: MilpModel, y, *, method: Method = "float") -> float:
    """The dual bound in the model's own sense: upper for ``max``, lower for ``min``."""
    if model.sense == "max":
        return safe_upper_bound(model, y, method=method)
    return safe_lower_bound(model, y, method=method)


def dual_bound_exact(model_or_arrays: ModelOrArrays, y, *, lower: bool = False):
    """The weak-duality bound for multipliers ``y`` as an exact :class:`Fraction`.

    Upper bound on the sup (or, with ``lower=True``, lower bound on the inf); may be
    ``math.inf`` (resp. ``-math.inf``).  Multipliers are clipped as in the float path.
    """
    model = _as_model(model_or_arrays)
    y = _as_multipliers(y, model.n_rows)
    sign = -1 if lower else 1
    c = [sign * Fraction(float(v)) for v in model.objective]
    total = sign * Fraction(model.constant)
    ys = _clip(sign * y, model.row_lo, model.row_hi)
    for r in range(model.n_rows):
        yr = ys[r]
        if yr == 0.0:
            continue
        fy = Fraction(float(yr))
        total += fy * Fraction(float(model.row_hi[r] if yr > 0 else model.row_lo[r]))
        idx, val = model.row(r)
        for j, a in zip(idx.tolist(), val.tolist()):
            c[j] -= Fraction(a) * fy
    for j, rj in enumerate(c):
        if rj == 0:
            continue
        end = float(model.col_hi[j] if rj > 0 else model.col_lo[j])
        if math.isinf(end):
            return -math.inf if lower else math.inf
        total += rj * Fraction(end)
    return -total if lower else total


# ---------------------------------------------------------- rigorous helpers
def up(x):
    """One ulp towards +inf (an upper bound of any value whose rounding gave ``x``)."""
    return np.nextafter(x, np.inf)


def down(x):
    return np.nextafter(x, -np.inf)


def error_bound(abs_sum, n_terms):
    """Fact 3: a rigorous bound on ``|fl(sum) - exact|`` for a sum of ``n_terms`` rounded
    products whose computed absolute sum is ``abs_sum`` (broadcasts)."""
    n = np.asarray(n_terms, dtype=np.float64)
    return up(up(np.asarray(abs_sum, np.float64) * (n * _FOUR_U)) + (2.0 * n) * ETA)


def dot_upper(a: np.ndarray, b: np.ndarray) -> float:
    """A float ``>=`` the exact ``sum a_i b_i`` (``+inf`` on overflow)."""
    with np.errstate(over="ignore", invalid="ignore"):
        p = np.asarray(a, np.float64) * np.asarray(b, np.float64)
    if p.size == 0:
        return 0.0
    with np.errstate(over="ignore", invalid="ignore"):
        s = float(p.sum())
        e = float(error_bound(np.abs(p).sum(), p.size))
        result = float(up(s + e))
    return result if math.isfinite(s) and math.isfinite(e) and not math.isnan(result) else math.inf


def sum_upper(values) -> float:
    """The smallest float ``>=`` the exact sum of the given floats (``+inf`` if any is non-finite
    or on overflow).  ``math.fsum`` rounds the exact sum correctly; the sign of the exact
    residual ``sum - f`` (itself a multiple of 2^-1074, so never lost) tells which way."""
    values = [float(v) for v in np.asarray(values, np.float64).reshape(-1)]
    if not all(math.isfinite(v) for v in values):
        return math.inf
    try:
        f = math.fsum(values)
        residual = math.fsum(values + [-f])
    except OverflowError:
        return math.inf
    if not math.isfinite(f):
        return math.inf
    return math.nextafter(f, math.inf) if residual > 0 else f


def dot_lower(a: np.ndarray, b: np.ndarray) -> float:
    """A float ``<=`` the exact ``sum a_i b_i`` (``-inf`` on overflow)."""
    return -dot_upper(-np.asarray(a, np.float64), b)


def mul_up(a, b):
    """Elementwise float ``>=`` exact ``a*b``; ``0 * inf`` is taken as 0 (the factor is exactly 0).

    A product with a zero factor is exactly 0, one with a factor +-1 is not rounded up; a
    product with an
    infinite factor (an absent bound) is ``+inf`` or ``-max_float``."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        p = a * b
    zero = (a == 0.0) | (b == 0.0)
    exact = (np.abs(a) == 1.0) | (np.abs(b) == 1.0)       # a product with +-1 is exact
    # up(-inf) = -max_float: right for a finite product that overflowed, and still an
    # upper bound when a factor is infinite
    return np.where(zero, 0.0, np.where(exact, p, up(p)))


def mul_down(a, b):
    return -mul_up(-np.asarray(a, np.float64), b)


def add_up(a, b):
    """Elementwise float ``>=`` exact ``a + b`` (TwoSum: exact sums are not rounded)."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        s = a + b
        bb = s - a
        err = (a - (s - bb)) + (b - bb)     # exact s - (a + b) when s is finite (Knuth)
    result = np.where((err > 0) | np.isnan(err), up(s), s)   # nan: intermediate overflow
    # -inf stays -inf only if an operand is -inf (else it is an overflow: -max_float)
    neg_inf = np.where((a == -np.inf) | (b == -np.inf), -np.inf, up(s))
    return np.where(np.isnan(s), np.inf, np.where(s == np.inf, np.inf,
                                                  np.where(s == -np.inf, neg_inf, result)))


def add_down(a, b):
    return -add_up(-np.asarray(a, np.float64), -np.asarray(b, np.float64))


# ------------------------------------------------------------- float path
def _upper_float(indptr, indices, data, row_lo, row_hi, col_lo, col_hi, c, c0, y) -> float:
    n = c.shape[0]
    y = _clip(y, row_lo, row_hi)
    # row part: sum_r y_r * (hi_r or lo_r)
    side = np.where(y > 0, row_hi, np.where(y < 0, row_lo, 0.0))
    row_part = dot_upper(y, side)
    if not math.isfinite(row_part):
        return math.inf
    # reduced costs r_j = c_j - sum_r A_rj y_r, enclosed in [r_lo, r_hi]
    rows = np.repeat(np.arange(row_lo.shape[0]), np.diff(indptr))
    with np.errstate(over="ignore", invalid="ignore"):
        prod = data * y[rows]
        s = c - np.bincount(indices, weights=prod, minlength=n)
        abs_sum = np.abs(c) + np.bincount(indices, weights=np.abs(prod), minlength=n)
        terms = np.bincount(indices, minlength=n) + 1
        e = error_bound(abs_sum, terms)
        r_lo = down(s - e)
        r_hi = up(s + e)
    bad = ~(np.isfinite(r_lo) & np.isfinite(r_hi))
    r_lo = np.where(bad, -np.inf, r_lo)
    r_hi = np.where(bad, np.inf, r_hi)
    # a column with an infinite bound only gets a finite term if r_j is known exactly
    # (typically exactly 0): recompute those few r_j in rationals
    open_cols = np.flatnonzero(~(np.isfinite(col_lo) & np.isfinite(col_hi)))
    if open_cols.size:
        r_lo, r_hi = r_lo.copy(), r_hi.copy()
        order = np.argsort(indices, kind="stable")
        starts = np.searchsorted(indices[order], open_cols, side="left")
        ends = np.searchsorted(indices[order], open_cols, side="right")
        for j, a, b in zip(open_cols.tolist(), starts.tolist(), ends.tolist()):
            ent = order[a:b]
            pairs = zip(data[ent].tolist(), y[rows[ent]].tolist())
            exact = Fraction(float(c[j])) - sum((Fraction(v) * Fraction(w) for v, w in pairs),
                                                Fraction(0))
            r_lo[j], r_hi[j] = _fraction_down(exact), _fraction_up(exact)
    # sup of r_j x_j over r_j in [r_lo, r_hi], x_j in [l_j, u_j]: a corner
    q = np.max(np.stack([mul_up(r_lo, col_lo), mul_up(r_lo, col_hi),
                         mul_up(r_hi, col_lo), mul_up(r_hi, col_hi)]), axis=0) if n else np.zeros(0)
    if np.any(np.isnan(q)) or np.any(q == np.inf) or np.any(q == -np.inf):
        return math.inf
    col_part = sum_upper(q)
    return sum_upper([row_part, col_part, float(c0)])


def _clip(y: np.ndarray, row_lo: np.ndarray, row_hi: np.ndarray) -> np.ndarray:
    y = np.where(np.isfinite(y), y, 0.0)
    y = np.where((y > 0) & ~np.isfinite(row_hi), 0.0, y)
    return np.where((y < 0) & ~np.isfinite(row_lo), 0.0, y)


def _as_multipliers(y, m: int) -> np.ndarray:
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    if y.shape != (m,):
        raise ValueError(f"expected {m} row multipliers, got {y.shape[0]}")
    return y


def _as_model(model_or_arrays: ModelOrArrays) -> MilpModel:
    if isinstance(model_or_arrays, MilpModel):
        return model_or_arrays
    parts = tuple(model_or_arrays)
    if len(parts) not in (6, 7):
        raise ValueError("expected (A, row_lo, row_hi, col_lo, col_hi, c[, c0])")
    return MilpModel.from_dense(*parts[:6], constant=parts[6] if len(parts) == 7 else 0.0)


def _fraction_down(value) -> float:
    return -_fraction_up(-value)


def _fraction_up(value) -> float:
    """Smallest-ish float >= an exact Fraction (or an infinity passed through)."""
    if isinstance(value, float):
        return value
    try:
        f = float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.nextafter(math.inf, 0)
    if Fraction(f) < value:
        f = math.nextafter(f, math.inf)
    return f
