"""Machine check for proofs/bab_tree.md: branch-and-bound trees -- input bisection and ReLU
phase splits cover their parent, infeasible leaves are empty, leaf results lift to the root."""

import z3

from proofs._z3util import act, all_of, prove, reals, refute


def _in(x, lo, hi):
    return all_of(z3.And(lo[i] <= x[i], x[i] <= hi[i]) for i in range(len(x)))


def test_bisection_covers_for_any_split_point():
    """[l, m] and [m, u] cover [l, u] along the split dimension, for ANY m (a float midpoint that
    is not exactly (l + u) / 2 is fine)."""
    x, lo, hi = reals("x", 2), reals("l", 2), reals("u", 2)
    m = z3.Real("m")
    for dim in range(2):
        left_hi = [m if i == dim else hi[i] for i in range(2)]
        right_lo = [m if i == dim else lo[i] for i in range(2)]
        prove(z3.Or(_in(x, lo, left_hi), _in(x, right_lo, hi)), _in(x, lo, hi))


def test_phase_split_covers_and_linearises():
    z, s = z3.Reals("z s")
    prove(z3.Or(z >= 0, z <= 0))
    prove(act(z, s) == z, z >= 0)
    prove(act(z, s) == s * z, z <= 0)


def test_infeasible_phase_leaf_is_empty():
    """Split z >= 0 with a sound bound z <= hi, hi < 0 (or z <= 0 with lo > 0): no input reaches it."""
    z, lo, hi = z3.Reals("z lo hi")
    prove(z3.Not(z3.And(z >= 0, z <= hi)), hi < 0)
    prove(z3.Not(z3.And(z <= 0, z >= lo)), lo > 0)


def test_leaf_results_lift_to_the_root():
    """A two-level tree (bisect x0 at m, then split the phase of z(x)): a property P proved on every
    leaf holds on the whole root box."""
    x, lo, hi = reals("x", 2), reals("l", 2), reals("u", 2)
    m, w0, w1, b = z3.Reals("m w0 w1 b")
    P = z3.Function("P", z3.RealSort(), z3.RealSort(), z3.BoolSort())
    z = w0 * x[0] + w1 * x[1] + b
    left = z3.And(lo[0] <= x[0], x[0] <= m)
    right = z3.And(m <= x[0], x[0] <= hi[0])
    leaves = [z3.And(side, phase) for side in (left, right) for phase in (z >= 0, z <= 0)]
    hyps = [z3.Implies(z3.And(_in(x, lo, hi), leaf), P(x[0], x[1])) for leaf in leaves]
    prove(z3.Implies(_in(x, lo, hi), P(x[0], x[1])), hyps)


# ------------------------------------------------------------ wrong variants
def test_wrong_open_bisection_misses_the_split_point():
    x, lo, hi, m = z3.Reals("x l u m")
    refute(z3.Or(z3.And(lo <= x, x < m), z3.And(m < x, x <= hi)), lo <= x, x <= hi)


def test_wrong_bisection_with_gap_fails():
    x, lo, hi, m, m2 = z3.Reals("x l u m m2")
    refute(z3.Or(z3.And(lo <= x, x <= m), z3.And(m2 <= x, x <= hi)), lo <= x, x <= hi, m2 > m)


def test_wrong_infeasibility_with_non_strict_bound_fails():
    z, hi = z3.Reals("z hi")
    refute(z3.Not(z3.And(z >= 0, z <= hi)), hi <= 0)          # hi = 0 leaves z = 0


def test_wrong_missing_leaf_fails():
    x, lo, hi = reals("x", 1), reals("l", 1), reals("u", 1)
    m, w, b = z3.Reals("m w b")
    P = z3.Function("P", z3.RealSort(), z3.BoolSort())
    z = w * x[0] + b
    leaves = [z3.And(lo[0] <= x[0], x[0] <= m, z >= 0), z3.And(lo[0] <= x[0], x[0] <= m, z <= 0),
              z3.And(m <= x[0], x[0] <= hi[0], z >= 0)]                  # (right, z <= 0) missing
    hyps = [z3.Implies(leaf, P(x[0])) for leaf in leaves]
    refute(z3.Implies(_in(x, lo, hi), P(x[0])), hyps)
