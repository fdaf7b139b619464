"""z3 backend: exact rational semantics, statuses, certified optima."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from nnequiv.solvers import MilpModel, ModelBuilder, z3_feasibility, z3_maximize, z3_optimize

INF = math.inf


def test_floats_enter_exactly():
    # x = 0.1 means the float 0.1, not 1/10
    b = ModelBuilder()
    x = b.add_var(-1, 1)
    y = b.add_var(-1, 1)
    b.add_constraint({x: 1.0}, 0.1, 0.1)
    b.add_constraint({y: 3.0}, 1.0, 1.0)          # y = 1/3 exactly, no float
    r = z3_feasibility(b.build())
    assert r.status == "optimal"
    assert r.x_exact[x] == Fraction(0.1) != Fraction(1, 10)
    assert r.x_exact[y] == Fraction(1, 3)


def test_tiny_gap_decided_exactly():
    # x <= 1 and x >= 1 + 2^-52 is infeasible; x >= 1 + 2^-53 is not representable -> feasible
    # only if the bound is read exactly (1 + 2^-52 is the next float)
    b = ModelBuilder()
    x = b.add_var(0, 1.0)
    b.add_constraint({x: 1.0}, 1.0 + 2.0 ** -52, INF)
    assert z3_feasibility(b.build()).status == "infeasible"
    # 1e-300 * x >= 1e-300 with x <= 1: feasible exactly at x = 1
    b = ModelBuilder()
    x = b.add_var(0, 1.0)
    b.add_constraint({x: 1e-300}, 1e-300, INF)
    r = z3_feasibility(b.build())
    assert r.status == "optimal" and r.x_exact[x] == 1


def test_optimize_lp_exact_and_sense():
    a = np.array([[1.0, 1.0], [1.0, -1.0]])
    m = MilpModel.from_dense(a, [-INF, -2], [4, INF], [0, 0], [10, 10], [1.0, 2.0], 0.5)
    r = z3_optimize(m)
    assert r.status == "optimal" and r.objective_exact == Fraction(15, 2)
    assert r.x_exact == (1, 3) and r.bound == 7.5
    rmin = z3_optimize(m.with_objective({0: 1.0, 1: 2.0}, 0.5, "min"))
    assert rmin.objective_exact == Fraction(1, 2)
    rmax = z3_maximize(m.with_objective({0: 1.0, 1: 2.0}, 0.5, "min"))
    assert rmax.objective_exact == Fraction(15, 2)


def test_optimize_mixed_integer_not_fooled():
    # the instance on which z3.Optimize alone reported "4 + epsilon"
    a = np.array([[-0.75, -0.5, -1.25, -0.5, 0.0], [0.25, -0.25, -2.0, 0.0, 0.25]])
    m = MilpModel.from_dense(a, [-2.58192268, -INF], [INF, 2.00380828],
                             [-3, -3, -2.5, -2.5, -3], [3, 3, 2.5, 2.5, 3],
                             [0.625, 0.875, 0.25, 0.375, 0.125], 0.25,
                             integer=[True, True, False, False, True])
    r = z3_optimize(m)
    assert r.status == "optimal" and m.is_feasible_exact(r.x_exact)
    from nnequiv.solvers import solve_highs
    assert r.objective == pytest.approx(solve_highs(m).objective, abs=1e-7)


def test_binaries_and_integers():
    # max x + y, x binary, y integer in [-5, 5], 2x + 3y <= 7.5  -> x=1, y=1 (2+3=5) or x=0,y=2 (6)
    m = MilpModel.from_dense([[2.0, 3.0]], [-INF], [7.5], [0, -5], [1, 5], [1.0, 1.0],
                             integer=[True, True])
    r = z3_optimize(m)
    assert r.objective_exact == 2 and m.is_feasible_exact(r.x_exact)
    # a "binary" whose bounds exclude 1
    m2 = MilpModel.from_dense([[1.0]], [0.25], [INF], [0], [0.5], [1.0], integer=[True])
    assert z3_optimize(m2).status == "infeasible"


def test_statuses():
    infeasible = MilpModel.from_dense([[1, 1], [1, 1]], [2, -INF], [INF, 1], 0, 5, [1, 0])
    assert z3_optimize(infeasible).status == "infeasible"
    assert z3_feasibility(infeasible).status == "infeasible"
    unbounded = MilpModel.from_dense([[1, -1]], [0], [0], -INF, INF, [1, 1])
    assert z3_optimize(unbounded).status == "unbounded"
    unbounded_mip = MilpModel.from_dense([[1, -1]], [0], [0], -INF, INF, [1, 1], integer=[1, 1])
    assert z3_optimize(unbounded_mip, time_limit=10.0).status == "unbounded"
    bounded_mip = MilpModel.from_dense([[1, -1]], [0], [0], [-INF, -INF], [3.5, INF], [1, 1],
                                       integer=[1, 1])
    r = z3_optimize(bounded_mip, time_limit=10.0)
    assert r.status == "optimal" and r.objective_exact == 6


def test_time_limit():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 100, size=(4, 30)).astype(float)
    d = np.floor(a.sum(1) / 2)
    m = MilpModel.from_dense(a, d, d, 0, 1, a[0], integer=np.ones(30, bool))
    assert z3_feasibility(m, time_limit=0.2).status == "time_limit"
    r = z3_optimize(m, time_limit=0.2)
    assert r.status == "time_limit" and r.time_s < 5
