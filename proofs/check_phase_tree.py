"""Machine check for proofs/phase_tree.md: ReLU-phase split trees with LP leaves prove a neuron's
phase on the box (T1 coverage, T2 child bounds, T3 leaves by weak duality, lifting to the root)."""

import z3

from proofs._z3util import act, prove, refute


def test_phase_split_children_cover_the_parent():
    """T1: every point of a region has z <= 0 or z >= 0, so the closed children cover it (z = 0 is in both)."""
    z = z3.Real("z")
    prove(z3.Or(z <= 0, z >= 0))


def test_child_bounds_hold_in_the_child():
    """T2: a sound bound lo <= z <= hi on the parent; in the inactive child (z <= 0) the checker reads
    hi' = min(hi, 0), in the active child (z >= 0) lo' = max(lo, 0): both still contain z."""
    z, lo, hi = z3.Reals("z lo hi")
    hi_inactive = z3.If(hi < 0, hi, 0)
    lo_active = z3.If(lo > 0, lo, 0)
    prove(z3.And(lo <= z, z <= hi_inactive), lo <= z, z <= hi, z <= 0)
    prove(z3.And(lo_active <= z, z <= hi), lo <= z, z <= hi, z >= 0)


def test_child_bounds_make_the_neuron_stable_rows_valid():
    """T2 + S7: with the clipped bounds the neuron is stable in its child, and the rows the checker then
    writes hold on the graph: inactive child y = relu(z) in [0, 0]; active child y - z = 0."""
    z, lo, hi = z3.Reals("z lo hi")
    y = act(z, 0)
    prove(z3.And(y >= 0, y <= 0), lo <= z, z <= z3.If(hi < 0, hi, 0))
    prove(y - z == 0, z3.If(lo > 0, lo, 0) <= z, z <= hi)


def test_other_bounds_stay_sound_in_a_child():
    """T2: a bound valid on the whole box is valid on any subset of it (the child's inputs)."""
    x, w = z3.Reals("x w")
    inside, child = z3.Function("inside", z3.RealSort(), z3.BoolSort()), z3.Function("child", z3.RealSort(),
                                                                                      z3.BoolSort())
    f = z3.Function("f", z3.RealSort(), z3.RealSort())
    t = z3.Real("t")
    prove(f(w) <= t, z3.ForAll([x], z3.Implies(inside(x), f(x) <= t)),
          z3.ForAll([x], z3.Implies(child(x), inside(x))), child(w))


def test_leaf_bound_proves_the_phase_in_the_leaf():
    """T3 (= S7): the network's values at a leaf input are feasible for the leaf's LP, so
    sign z <= LP max <= safe dual bound <= 0."""
    z, lp_max, bound, sign = z3.Reals("z lp_max bound sign")
    prove(sign * z <= 0, sign * z <= lp_max, lp_max <= bound, bound <= 0, z3.Or(sign == 1, sign == -1))


def test_leaf_results_lift_to_the_root():
    """Induction over the tree, shown on two levels: split z1 at the root, then z2 in the active child;
    a property proved on the three leaves (each with its path's sign conditions) holds on the box."""
    x = z3.Real("x")
    z1, z2, phase = (z3.Function(n, z3.RealSort(), z3.RealSort()) for n in ("z1", "z2", "phase"))
    box = z3.Function("box", z3.RealSort(), z3.BoolSort())
    leaves = [z1(x) <= 0, z3.And(z1(x) >= 0, z2(x) <= 0), z3.And(z1(x) >= 0, z2(x) >= 0)]
    hyps = [z3.ForAll([x], z3.Implies(z3.And(box(x), leaf), phase(x) <= 0)) for leaf in leaves]
    w = z3.Real("w")
    prove(phase(w) <= 0, hyps + [box(w)])


# ------------------------------------------------------------ wrong variants
def test_wrong_active_child_clipping_the_upper_bound_fails():
    """**wrong**: the active child (z >= 0) reading hi' = min(hi, 0) -- as if it were the inactive child."""
    z, lo, hi = z3.Reals("z lo hi")
    refute(z <= z3.If(hi < 0, hi, 0), lo <= z, z <= hi, z >= 0)


def test_wrong_inactive_child_clipping_the_lower_bound_fails():
    """**wrong**: the inactive child (z <= 0) reading lo' = max(lo, 0)."""
    z, lo, hi = z3.Reals("z lo hi")
    refute(z3.If(lo > 0, lo, 0) <= z, lo <= z, z <= hi, z <= 0)


def test_wrong_open_children_miss_the_boundary():
    """**wrong**: children z < 0 and z > 0 do not cover z = 0."""
    z = z3.Real("z")
    refute(z3.Or(z < 0, z > 0))


def test_wrong_tree_with_an_unproved_leaf_fails():
    """**wrong**: only one child of the root proved (the other leaf's bound is positive)."""
    x = z3.Real("x")
    z1, phase = (z3.Function(n, z3.RealSort(), z3.RealSort()) for n in ("z1", "phase"))
    box = z3.Function("box", z3.RealSort(), z3.BoolSort())
    hyps = [z3.ForAll([x], z3.Implies(z3.And(box(x), z1(x) <= 0), phase(x) <= 0))]
    w = z3.Real("w")
    refute(phase(w) <= 0, hyps + [box(w)])
