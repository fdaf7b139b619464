"""HiGHS backend: statuses, dual sign conventions, MIP bounds, agreement with z3."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from nnequiv.solvers import MilpModel, solve_highs, z3_optimize
from nnequiv.solvers.highs_backend import _disambiguate

INF = math.inf


def _lp(sense="max"):
    # max x + 2y  s.t.  x + y <= 4,  x - y >= -2,  0 <= x, y <= 10   -> x=1, y=3, obj 7 (+0.5)
    a = np.array([[1.0, 1.0], [1.0, -1.0]])
    c = np.array([1.0, 2.0]) * (1 if sense == "max" else -1)
    return MilpModel.from_dense(a, [-INF, -2], [4, INF], [0, 0], [10, 10], c, 0.5, sense=sense)


def test_lp_optimum_and_dual_convention_max():
    m = _lp("max")
    r = solve_highs(m)
    assert r.status == "optimal" and r.objective == pytest.approx(7.5) and r.bound == r.objective
    np.testing.assert_allclose(r.x, [1, 3])
    y, d = r.duals.row, r.duals.reduced
    # c = A^T y + d, and for a max: y >= 0 at an upper-active row, <= 0 at a lower-active row
    np.testing.assert_allclose(m.to_dense().T @ y + d, m.objective, atol=1e-12)
    np.testing.assert_allclose(y, [1.5, -0.5])
    # strong duality: objective = y . (active row bounds) + constant
    assert y[0] * 4 + y[1] * -2 + 0.5 == pytest.approx(r.objective)


def test_lp_dual_convention_min():
    m = _lp("min")
    r = solve_highs(m)
    assert r.status == "optimal" and r.objective == pytest.approx(-6.5)
    y, d = r.duals.row, r.duals.reduced
    np.testing.assert_allclose(m.to_dense().T @ y + d, m.objective, atol=1e-12)
    # for a min: y <= 0 at an upper-active row, >= 0 at a lower-active row
    np.testing.assert_allclose(y, [-1.5, 0.5])


@pytest.mark.parametrize("sense", ["max", "min"])
def test_reduced_cost_signs_on_bounds(sense):
    # no rows: optimum at a box corner; d = c, sign tells which bound is active
    c = np.array([3.0, -2.0, 0.0])
    m = MilpModel.from_dense(np.zeros((0, 3)), [], [], [-1, -1, -1], [2, 2, 2], c, sense=sense)
    r = solve_highs(m)
    np.testing.assert_allclose(r.duals.reduced, c)
    expected = [2, -1] if sense == "max" else [-1, 2]
    np.testing.assert_allclose(r.x[:2], expected)
    # d_j > 0 at the upper bound for a max (lower bound for a min)
    at_upper = r.x[:2] == 2
    assert np.all((r.duals.reduced[:2] > 0) == (at_upper if sense == "max" else ~at_upper))


def test_random_lp_kkt():
    rng = np.random.default_rng(3)
    for _ in range(20):
        m_, n_ = rng.integers(1, 8), rng.integers(1, 8)
        a = rng.normal(size=(m_, n_)) * (rng.random((m_, n_)) < 0.7)
        x0 = rng.uniform(-1, 1, n_)
        act = a @ x0
        lo = np.where(rng.random(m_) < 0.3, -INF, act - rng.random(m_))
        hi = np.where(rng.random(m_) < 0.3, INF, act + rng.random(m_))
        sense = "max" if rng.random() < 0.5 else "min"
        m = MilpModel.from_dense(a, lo, hi, -2, 2, rng.normal(size=n_), sense=sense)
        r = solve_highs(m)
        assert r.status == "optimal" and m.max_violation(r.x) <= 1e-7
        y, d = r.duals.row, r.duals.reduced
        np.testing.assert_allclose(a.T @ y + d, m.objective, atol=1e-7)
        sign = 1 if sense == "max" else -1
        ax = a @ r.x
        # complementary slackness with the sense-dependent signs
        assert np.all(sign * y[ax < hi - 1e-6] <= 1e-9)
        assert np.all(sign * y[ax > lo + 1e-6] >= -1e-9)


def test_infeasible_and_unbounded():
    inf_lp = MilpModel.from_dense([[1, 1], [1, 1]], [2, -INF], [INF, 1], 0, 5, [1, 0])
    assert solve_highs(inf_lp).status == "infeasible"
    assert solve_highs(inf_lp.with_bounds([0, 1], 0, 5)).x is None
    unb_lp = MilpModel.from_dense([[1, -1]], [0], [0], -INF, INF, [1, 1])
    assert solve_highs(unb_lp).status == "unbounded"
    assert solve_highs(unb_lp.with_objective({0: 1.0, 1: 1.0}, sense="min")).status == "unbounded"
    # HiGHS reports "infeasible or unbounded" on this MIP; the backend disambiguates
    unb_mip = MilpModel.from_dense([[1, -1]], [0], [0], -INF, INF, [1, 1], integer=[1, 1])
    assert solve_highs(unb_mip).status == "unbounded"
    inf_mip = MilpModel.from_dense([[2, -2]], [1], [1], -INF, INF, [1, 1], integer=[1, 1])
    assert solve_highs(inf_mip).status == "infeasible"
    assert _disambiguate(inf_mip, {}, 0.0).status == "infeasible"
    assert _disambiguate(unb_lp, {}, 0.0).status == "unbounded"


def test_mip_bound_and_nodes():
    m = _lp("max").with_bounds([0, 1], 0, 10)
    mi = MilpModel.from_dense(m.to_dense(), m.row_lo, m.row_hi, 0, 10, [1.0, 2.0], 0.5,
                              integer=[True, True])
    r = solve_highs(mi)
    assert r.status == "optimal" and r.objective == pytest.approx(7.5)
    assert r.bound == pytest.approx(7.5) and r.duals is None and r.nodes >= 0
    # fractional LP optimum, integer optimum lower: max x+y s.t. 2x + 2y <= 3
    frac = MilpModel.from_dense([[2, 2]], [-INF], [3], 0, 5, [1, 1], integer=[1, 1])
    assert solve_highs(frac).objective == pytest.approx(1.0)
    assert solve_highs(frac.relaxation()).objective == pytest.approx(1.5)


def _market_split(seed=0, m_=4, n_=30):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 100, size=(m_, n_)).astype(float)
    d = np.floor(a.sum(1) / 2)
    return MilpModel.from_dense(a, d, d, 0, 1, a[0], integer=np.ones(n_, bool))


def test_time_limit_status():
    r = solve_highs(_market_split(), time_limit=0.2)
    assert r.status == "time_limit"
    assert r.time_s < 5.0
    if r.bound is not None and r.objective is not None:
        assert r.bound >= r.objective - 1e-6


def test_empty_model():
    from nnequiv.solvers import ModelBuilder
    b = ModelBuilder()
    b.set_objective({}, 2.0)
    r = solve_highs(b.build())
    assert r.status == "optimal" and r.objective == 2.0


def _random_milp(rng):
    n_, m_ = int(rng.integers(2, 6)), int(rng.integers(1, 5))
    a = np.round(rng.normal(size=(m_, n_)) * 4) / 4
    integer = rng.random(n_) < 0.5
    lo = np.where(integer, -3.0, -2.5)
    hi = np.where(integer, 3.0, 2.5)
    x0 = np.where(integer, rng.integers(-3, 4, n_), rng.uniform(-2.5, 2.5, n_))
    act = a @ x0
    rlo = np.where(rng.random(m_) < 0.4, -INF, act - rng.random(m_))
    rhi = np.where(rng.random(m_) < 0.4, INF, act + rng.random(m_))
    c = np.round(rng.normal(size=n_) * 8) / 8
    sense = "max" if rng.random() < 0.5 else "min"
    return MilpModel.from_dense(a, rlo, rhi, lo, hi, c, 0.25, sense=sense, integer=integer)


def test_highs_and_z3_agree_on_small_milps():
    rng = np.random.default_rng(11)
    for _ in range(25):
        m = _random_milp(rng)
        rh, rz = solve_highs(m), z3_optimize(m, time_limit=30)
        assert rh.status == rz.status == "optimal"
        assert rh.objective == pytest.approx(rz.objective, abs=1e-6)
        assert m.is_feasible_exact(rz.x_exact)
        assert m.max_violation(rh.x) <= 1e-6


def test_silent_model_changes_are_reported_and_safe_bound_survives_them():
    from nnequiv.solvers import safe_upper_bound, z3_optimize
    # max x s.t. x <= 1e-10 y, y <= 1e12: optimum 100, but HiGHS drops the 1e-10
    m = MilpModel.from_dense([[1.0, -1e-10]], [-INF], [0.0], [0, 0], [1000, 1e12], [1.0, 0.0])
    r = solve_highs(m)
    assert "drops 1 coefficient" in r.message
    exact = z3_optimize(m).objective_exact            # float(1e-10) * 1e12, about 100
    assert abs(exact - 100) < 1e-12
    assert Fraction(safe_upper_bound(m, r.duals.row)) >= exact   # sound whatever HiGHS solved
    m2 = MilpModel.from_dense([[1.0, -1.0]], [-INF], [0.0], [0, 0], [1000, 1e25], [1.0, 0.0])
    assert "as infinite" in solve_highs(m2).message
    assert solve_highs(_lp()).message == ""


def test_highs_prints_nothing_on_stdout():
    """HiGHS's banner would corrupt ``nnequiv check --json``: building solvers must leave stdout empty."""
    import subprocess
    import sys

    code = ("from nnequiv.solvers.highs_backend import new_highs\n"
            "h = new_highs(); h2 = new_highs(); print('done')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "done\n"


def test_thread_count_may_change_between_solves():
    """HiGHS sizes a global scheduler on its first run; a later solve asking for another thread count
    used to fail silently (model status 'Not Set', read as a time limit)."""
    from nnequiv.solvers import ModelBuilder

    def tiny():
        b = ModelBuilder()
        x = b.add_var(0.0, 1.0)
        b.set_objective({x: 1.0}, 0.0, "max")
        return b.build()

    assert solve_highs(tiny()).status == "optimal"
    for threads in (1, 2, 1):
        result = solve_highs(tiny(), threads=threads)
        assert result.status == "optimal" and result.objective == 1.0


def test_settle_sign_stops_with_the_right_answer_on_the_sign():
    """``settle_sign`` answers "is the optimum > 0" as the full solve does: an incumbent beyond
    0 when the optimum is positive, a dual bound on the other side of 0 otherwise."""
    rng = np.random.default_rng(5)
    seen = set()
    for _ in range(40):
        m = _random_milp(rng)
        full = solve_highs(m)
        assert full.status == "optimal"
        for shift in (-full.objective + 0.5, -full.objective - 0.5):   # optimum moved to +0.5 / -0.5
            shifted = m.with_objective((np.arange(m.n_vars), m.objective), m.constant + shift, m.sense)
            sign = 1.0 if m.sense == "max" else -1.0
            settled = solve_highs(shifted, settle_sign=True)
            optimum_beyond_zero = sign * (full.objective + shift) > 0
            if optimum_beyond_zero:
                assert settled.objective is not None and sign * settled.objective > 0
                assert shifted.max_violation(settled.x) <= 1e-6
            else:
                assert settled.bound is not None and sign * settled.bound <= 0
            seen.add(optimum_beyond_zero)
    assert seen == {True, False}
