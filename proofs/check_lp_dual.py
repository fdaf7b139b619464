"""Machine check for proofs/lp_dual.md: the safe (Neumaier-Shcherbina style) LP dual bound
-- weak duality with box-bounded variables, valid for ANY multipliers y."""

import pytest
import sympy as sp
import z3

from proofs._symutil import assert_identity
from proofs._z3util import dot, prove, real_matrix, reals, refute, zmax, zmin


def test_objective_split_identity_symbolic():
    """c^T x == y^T (A x) + r^T x with r = c - A^T y."""
    m, n = sp.symbols("m n", integer=True, positive=True)
    A, x = sp.MatrixSymbol("A", m, n), sp.MatrixSymbol("x", n, 1)
    c, y = sp.MatrixSymbol("c", n, 1), sp.MatrixSymbol("y", m, 1)
    r = c - A.T * y
    assert_identity(c.T * x, y.T * (A * x) + r.T * x)


def _lp(m, n):
    """Rows lo_r <= a_r . x <= hi_r and box l <= x <= u; objective c . x; multipliers y."""
    A, x = real_matrix("A", m, n), reals("x", n)
    lo, hi, l, u = reals("lo", m), reals("hi", m), reals("l", n), reals("u", n)
    c, y = reals("c", n), reals("y", m)
    rows = [dot(A[r], x) for r in range(m)]
    feasible = [z3.And(lo[r] <= rows[r], rows[r] <= hi[r]) for r in range(m)]
    feasible += [z3.And(l[j] <= x[j], x[j] <= u[j]) for j in range(n)]
    res = [c[j] - z3.Sum([A[r][j] * y[r] for r in range(m)]) for j in range(n)]
    return A, x, lo, hi, l, u, c, y, res, feasible


def test_scalar_product_over_an_interval():
    """lo <= t <= hi  =>  min(y lo, y hi) <= y t <= max(y lo, y hi)  (used for every row and every variable)."""
    y, t, lo, hi = z3.Reals("y t lo hi")
    prove(z3.And(zmin(y * lo, y * hi) <= y * t, y * t <= zmax(y * lo, y * hi)), lo <= t, t <= hi)


@pytest.mark.parametrize("m,n", [(1, 1), (2, 2), (4, 3), (8, 8)])
def test_termwise_bounds_sum_up(m, n):
    """c.x = sum_r y_r t_r + sum_j r_j x_j (identity above) with every term bounded (lemma above)
    => c.x <= sum of the term bounds.  Products abstracted: P_r = y_r t_r, R_j = r_j x_j."""
    P, B, R, C = reals("P", m), reals("B", m), reals("R", n), reals("C", n)
    obj = z3.Real("obj")
    hyps = [obj == z3.Sum(P) + z3.Sum(R)] + [P[r] <= B[r] for r in range(m)] + [R[j] <= C[j] for j in range(n)]
    prove(obj <= z3.Sum(B) + z3.Sum(C), hyps)


@pytest.mark.parametrize("m,n", [(1, 1)])
def test_safe_dual_upper_bound_end_to_end(m, n):
    A, x, lo, hi, l, u, c, y, res, feasible = _lp(m, n)
    bound = z3.Sum([zmax(y[r] * lo[r], y[r] * hi[r]) for r in range(m)]) \
        + z3.Sum([zmax(res[j] * l[j], res[j] * u[j]) for j in range(n)])
    prove(dot(c, x) <= bound, feasible)


def test_safe_dual_lower_bound_end_to_end():
    A, x, lo, hi, l, u, c, y, res, feasible = _lp(1, 1)
    bound = zmin(y[0] * lo[0], y[0] * hi[0]) + zmin(res[0] * l[0], res[0] * u[0])
    prove(dot(c, x) >= bound, feasible)


@pytest.mark.parametrize("m,n", [(1, 1), (2, 1)])
def test_one_sided_rows_need_nonnegative_multipliers(m, n):
    """Rows a_r . x <= hi_r only (no lower side): with y >= 0 the bound uses y_r hi_r."""
    A, x, lo, hi, l, u, c, y, res, _ = _lp(m, n)
    feasible = [dot(A[r], x) <= hi[r] for r in range(m)]
    feasible += [z3.And(l[j] <= x[j], x[j] <= u[j]) for j in range(n)]
    bound = z3.Sum([y[r] * hi[r] for r in range(m)]) + z3.Sum([zmax(res[j] * l[j], res[j] * u[j]) for j in range(n)])
    prove(dot(c, x) <= bound, feasible, [t >= 0 for t in y])


# ------------------------------------------------------------ wrong variants
def test_wrong_dual_bound_residual_dropped_fails():
    A, x, lo, hi, l, u, c, y, res, feasible = _lp(1, 2)
    bound = zmax(y[0] * lo[0], y[0] * hi[0])                  # pretends r = 0 (y optimal & exact)
    refute(dot(c, x) <= bound, feasible)


def test_wrong_dual_bound_residual_without_max_fails():
    A, x, lo, hi, l, u, c, y, res, feasible = _lp(1, 2)
    bound = zmax(y[0] * lo[0], y[0] * hi[0]) + z3.Sum([res[j] * u[j] for j in range(2)])
    refute(dot(c, x) <= bound, feasible)


def test_wrong_dual_bound_row_side_ignores_sign_fails():
    A, x, lo, hi, l, u, c, y, res, feasible = _lp(1, 1)
    bound = y[0] * hi[0] + zmax(res[0] * l[0], res[0] * u[0])
    refute(dot(c, x) <= bound, feasible)


def test_wrong_one_sided_row_negative_multiplier_fails():
    A, x, lo, hi, l, u, c, y, res, _ = _lp(1, 1)
    feasible = [dot(A[0], x) <= hi[0], l[0] <= x[0], x[0] <= u[0]]
    bound = y[0] * hi[0] + zmax(res[0] * l[0], res[0] * u[0])
    refute(dot(c, x) <= bound, feasible, y[0] < 0)
