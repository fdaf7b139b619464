"""Rigorous LP bounds: validity for any multipliers, tightness at HiGHS duals, exact rounding."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnequiv.solvers import (MilpModel, dual_bound_exact, safe_lower_bound, safe_objective_bound,
                             safe_upper_bound, solve_highs, z3_optimize)
from nnequiv.solvers.safe_bound import (add_up, dot_upper, error_bound, mul_down, mul_up,
                                        sum_upper)

INF = math.inf


def _random_lp(rng, m_=None, n_=None, sense="max", scale=1.0):
    m_ = int(rng.integers(1, 12)) if m_ is None else m_
    n_ = int(rng.integers(1, 12)) if n_ is None else n_
    a = rng.normal(size=(m_, n_)) * (rng.random((m_, n_)) < 0.6) * scale
    col_lo = -rng.uniform(0.1, 3, n_)
    col_hi = rng.uniform(0.1, 3, n_)
    x0 = rng.uniform(col_lo, col_hi)
    act = a @ x0
    kind = rng.integers(0, 4, m_)          # 0: <=, 1: >=, 2: range, 3: equality
    lo = np.where(kind == 0, -INF, act - rng.random(m_))
    hi = np.where(kind == 1, INF, act + rng.random(m_))
    lo = np.where(kind == 3, act, lo)
    hi = np.where(kind == 3, act, hi)
    return MilpModel.from_dense(a, lo, hi, col_lo, col_hi, rng.normal(size=n_), rng.normal(),
                                sense=sense)


def test_bound_at_highs_duals_is_valid_and_tight():
    rng = np.random.default_rng(0)
    for _ in range(60):
        sense = "max" if rng.random() < 0.5 else "min"
        m = _random_lp(rng, sense=sense)
        r = solve_highs(m)
        assert r.status == "optimal"
        y = r.duals.row
        if sense == "max":
            bound = safe_upper_bound(m, y)
            assert bound >= r.objective - 1e-9 * max(1.0, abs(r.objective))
        else:
            bound = safe_lower_bound(m, y)
            assert bound <= r.objective + 1e-9 * max(1.0, abs(r.objective))
        assert bound == safe_objective_bound(m, y)
        assert abs(bound - r.objective) <= 1e-6 * max(1.0, abs(r.objective))
        # the float path is never below the exact weak-duality value for the same y
        exact = dual_bound_exact(m, y, lower=sense == "min")
        assert (bound >= exact) if sense == "max" else (bound <= exact)
        exact_rounded = safe_objective_bound(m, y, method="exact")
        assert (bound >= exact_rounded) if sense == "max" else (bound <= exact_rounded)


def test_bound_dominates_exact_z3_optimum():
    rng = np.random.default_rng(1)
    for _ in range(15):
        m = _random_lp(rng, m_=int(rng.integers(1, 5)), n_=int(rng.integers(1, 5)))
        opt = z3_optimize(m)
        assert opt.status == "optimal"
        y = solve_highs(m).duals.row
        for yy in (y, y + rng.normal(size=y.shape) * 0.1, rng.normal(size=y.shape) * 3):
            assert Fraction(safe_upper_bound(m, yy)) >= opt.objective_exact
            assert Fraction(safe_upper_bound(m, yy, method="exact")) >= opt.objective_exact
            assert dual_bound_exact(m, yy) >= opt.objective_exact
        low = z3_optimize(m.with_objective((np.arange(m.n_vars), m.objective), m.constant, "min"))
        ylow = solve_highs(m.with_objective((np.arange(m.n_vars), m.objective), m.constant,
                                            "min")).duals.row
        assert Fraction(safe_lower_bound(m, ylow)) <= low.objective_exact


def test_perturbed_and_arbitrary_multipliers_stay_valid():
    rng = np.random.default_rng(2)
    for _ in range(60):
        m = _random_lp(rng)
        r = solve_highs(m)
        y = r.duals.row
        for noise in (1e-12, 1e-6, 1e-2, 1.0, 100.0):
            yy = y + rng.normal(size=y.shape) * noise
            ub = safe_upper_bound(m, yy)
            assert ub >= r.objective - 1e-7 * max(1, abs(r.objective))
            assert ub >= dual_bound_exact(m, yy)
        # wrong-signed multipliers on one-sided rows are clipped, not trusted
        yy = -np.sign(y) * (np.abs(y) + 1.0)
        assert safe_upper_bound(m, yy) >= r.objective - 1e-7 * max(1, abs(r.objective))
        # NaN / inf multipliers are treated as 0
        nan_y = np.full(m.n_rows, np.nan)
        assert safe_upper_bound(m, nan_y) == safe_upper_bound(m, np.zeros(m.n_rows))


def test_bound_is_valid_for_milp_too():
    rng = np.random.default_rng(4)
    for _ in range(10):
        m = _random_lp(rng)
        mi = MilpModel.from_dense(m.to_dense(), m.row_lo, m.row_hi, np.floor(m.col_lo),
                                  np.ceil(m.col_hi), m.objective, m.constant,
                                  integer=rng.random(m.n_vars) < 0.5)
        r = solve_highs(mi)
        if r.status != "optimal":
            continue
        y = solve_highs(mi.relaxation()).duals.row
        assert safe_upper_bound(mi, y) >= r.objective - 1e-7


def test_arrays_interface_and_infinite_bounds():
    a = [[1.0, 1.0]]
    # max x + y, x + y <= 4, x, y >= 0, no upper bounds: y = 1 certifies 4
    ub = safe_upper_bound((a, [-INF], [4.0], [0, 0], [INF, INF], [1.0, 1.0]), [1.0])
    assert 4.0 <= ub <= 4.0 + 1e-12
    assert safe_upper_bound((a, [-INF], [4.0], [0, 0], [INF, INF], [1.0, 1.0]), [1.0],
                            method="exact") == 4.0
    ub = safe_upper_bound((a, [-INF], [4.0], [0, 0], [INF, INF], [1.0, 1.0], 0.5), [1.0])
    assert 4.5 <= ub <= 4.5 + 1e-12
    # a multiplier leaving a non-zero reduced cost on an unbounded side: no finite bound
    assert safe_upper_bound((a, [-INF], [4.0], [0, 0], [INF, INF], [1.0, 1.0]), [0.5]) == INF
    assert safe_upper_bound((a, [-INF], [4.0], [0, 0], [INF, INF], [1.0, 1.0]), [0.5],
                            method="exact") == INF
    # reduced cost exactly zero on an infinite bound contributes nothing
    lb = safe_lower_bound((a, [2.0], [INF], [0, 0], [INF, INF], [1.0, 1.0]), [1.0])
    assert 2.0 - 1e-12 <= lb <= 2.0
    with pytest.raises(ValueError):
        safe_upper_bound((a, [-INF], [4.0], [0, 0], [1, 1], [1.0, 1.0]), [1.0, 2.0])


# ------------------------------------------------- adversarial rounding cases
def test_row_sum_that_naive_float_rounds_down():
    # sum y_r hi_r = 1 + 2^-53 + 2^-53 = 1 + 2^-52 exactly; naive float summation gives 1.0
    t = 2.0 ** -53
    arrays = (np.zeros((3, 1)), [-INF] * 3, [1.0, t, t], [0.0], [0.0], [0.0])
    exact = dual_bound_exact(arrays, [1.0, 1.0, 1.0])
    assert exact == 1 + Fraction(2) ** -52
    assert Fraction(safe_upper_bound(arrays, [1.0, 1.0, 1.0])) >= exact
    assert safe_upper_bound(arrays, [1.0, 1.0, 1.0], method="exact") == 1.0 + 2.0 ** -52


def test_reduced_cost_cancellation_with_huge_bound():
    # r = c - A^T y = 1 - (1 + 2^-60) = -2^-60 exactly; float computes 0 and would drop the
    # term r * l = 2^-60 * 2^70 = 1024
    arrays = (np.array([[1.0], [2.0 ** -60]]), [-INF, -INF], [0.0, 0.0], [-2.0 ** 70], [0.0],
              [1.0])
    y = [1.0, 1.0]
    exact = dual_bound_exact(arrays, y)
    assert exact == 1024
    assert safe_upper_bound(arrays, y) >= 1024
    assert safe_upper_bound(arrays, y, method="exact") == 1024.0


def test_subnormal_products():
    tiny = 2.0 ** -1074
    arrays = (np.array([[tiny, 0.5]]), [-INF], [tiny], [-1.0, -1.0], [1.0, 1.0], [0.0, 0.0])
    for y in ([0.5], [0.75], [3.0]):
        assert Fraction(safe_upper_bound(arrays, y)) >= dual_bound_exact(arrays, y)


def test_overflow_gives_infinity_not_garbage():
    big = 1e308
    arrays = (np.array([[big, big]]), [-INF], [big], [-big, -big], [big, big], [big, -big])
    ub = safe_upper_bound(arrays, [1.0])
    assert ub >= dual_bound_exact(arrays, [1.0])            # inf or a true bound
    assert ub == INF


_floats = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, width=64, min_value=-1e300, max_value=1e300),
    st.sampled_from([0.0, 1.0, -1.0, 0.1, 1 / 3, 1 + 2.0 ** -52, 2.0 ** -53, 2.0 ** -1074,
                     -2.0 ** -1074, 2.0 ** 60, 1e-300, 3.0]),
    st.integers(-50, 50).map(lambda k: float(2.0 ** k) * (1 + 2.0 ** -52)),
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.integers(1, 4), st.integers(1, 4), st.data())
def test_float_path_never_below_exact_value(m_, n_, data):
    a = np.array(data.draw(st.lists(_floats, min_size=m_ * n_, max_size=m_ * n_))).reshape(m_, n_)
    y = np.array(data.draw(st.lists(_floats, min_size=m_, max_size=m_)))
    c = np.array(data.draw(st.lists(_floats, min_size=n_, max_size=n_)))
    r1 = np.array(data.draw(st.lists(_floats, min_size=m_, max_size=m_)))
    r2 = np.array(data.draw(st.lists(_floats, min_size=m_, max_size=m_)))
    v1 = np.array(data.draw(st.lists(_floats, min_size=n_, max_size=n_)))
    v2 = np.array(data.draw(st.lists(_floats, min_size=n_, max_size=n_)))
    open_side = data.draw(st.lists(st.integers(0, 2), min_size=m_, max_size=m_))
    lo, hi = np.minimum(r1, r2), np.maximum(r1, r2)
    lo = np.where(np.array(open_side) == 1, -INF, lo)
    hi = np.where(np.array(open_side) == 2, INF, hi)
    arrays = (a, lo, hi, np.minimum(v1, v2), np.maximum(v1, v2), c, data.draw(_floats))
    exact_up = dual_bound_exact(arrays, y)
    ub = safe_upper_bound(arrays, y)
    assert ub == INF or Fraction(ub) >= exact_up
    ub_exact = safe_upper_bound(arrays, y, method="exact")
    assert ub_exact == INF or Fraction(ub_exact) >= exact_up
    if exact_up != INF and abs(exact_up) < Fraction(1e300):
        # the exact path returns the smallest float >= the exact value
        assert Fraction(math.nextafter(ub_exact, -INF)) < exact_up
    exact_low = dual_bound_exact(arrays, y, lower=True)
    lb = safe_lower_bound(arrays, y)
    assert lb == -INF or Fraction(lb) <= exact_low


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(st.tuples(_floats, _floats), min_size=1, max_size=6))
def test_primitives_round_outward(pairs):
    a = np.array([p[0] for p in pairs])
    b = np.array([p[1] for p in pairs])
    exact = sum((Fraction(x) * Fraction(z) for x, z in zip(a, b)), Fraction(0))
    d = dot_upper(a, b)
    assert d == INF or Fraction(d) >= exact
    for x, z, p in zip(a, b, mul_up(a, b)):
        assert p == INF or Fraction(float(p)) >= Fraction(x) * Fraction(z)
    for x, z, p in zip(a, b, mul_down(a, b)):
        assert p == -INF or Fraction(float(p)) <= Fraction(x) * Fraction(z)
    for x, z, s in zip(a, b, add_up(a, b)):
        assert s == INF or Fraction(float(s)) >= Fraction(x) + Fraction(z)
    big = np.full(a.shape, -1.7e308)
    for x, s in zip(a, add_up(big, a * 1e8)):                 # overflow towards -inf
        assert s == INF or Fraction(float(s)) >= Fraction(-1.7e308) + Fraction(float(x * 1e8))
    assert float(error_bound(0.0, 1)) > 0.0
    halves = a * 0.5
    exact_sum = sum((Fraction(float(x)) for x in halves), Fraction(0))
    su = sum_upper(halves)
    assert Fraction(su) >= exact_sum                       # |values| <= 1e300: no overflow
    assert Fraction(math.nextafter(su, -INF)) < exact_sum  # and it is the tightest float


def test_exact_product_and_sum_are_not_rounded():
    assert mul_up(0.0, 5.0) == 0.0 and mul_up(0.0, INF) == 0.0
    assert mul_up(2.0, INF) == INF and mul_down(2.0, -INF) == -INF
    assert mul_up(1e300, -1e300) == -np.finfo(float).max      # overflow: not -inf
    assert add_up(-INF, 1.0) == -INF and add_up(-1.7e308, -1.7e308) == -np.finfo(float).max
    assert add_up(1.0, 2.0) == 3.0 and add_up(-0.0, 0.0) == 0.0
    assert add_up(1.0, 2.0 ** -60) == math.nextafter(1.0, INF)
