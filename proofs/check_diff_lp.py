"""Machine check for proofs/diff_lp.md: the rows of the differential LP are satisfied by every
real point of the region (D1 triangle, D2 mean value, D3 difference cuts, D4 phase splits)."""

import z3

from proofs._z3util import act, prove, refute, relu


def test_triangle_row_holds_for_any_slope():
    """D1: l <= z <= u, beta >= a (-l), beta >= (1 - a) u, 0 <= a <= 1  =>  relu(z) <= a z + beta."""
    z, l, u, a, beta = z3.Reals("z l u a beta")
    prove(relu(z) <= a * z + beta, l <= z, z <= u, l <= 0, u >= 0, 0 <= a, a <= 1,
          beta >= a * -l, beta >= (1 - a) * u)


def test_triangle_row_stable_cases():
    """D1, stable neurons: y <= z when l >= 0 (a = 1, beta = 0); y <= 0 when u <= 0 (a = 0, beta = 0)."""
    z, l, u = z3.Reals("z l u")
    prove(relu(z) <= z, l >= 0, l <= z)
    prove(relu(z) <= 0, z <= u, u <= 0)


def test_relu_difference_is_a_mean_value():
    """D2: relu(z_g) - relu(z_f) = t (z_g - z_f) for some t in [0, 1]; here in the equivalent
    two-sided form min(0, delta) <= d <= max(0, delta) and d delta >= 0 and |d| <= |delta|."""
    zf, zg = z3.Reals("zf zg")
    d, delta = relu(zg) - relu(zf), zg - zf
    prove(z3.And(z3.If(delta >= 0, z3.And(0 <= d, d <= delta), z3.And(delta <= d, d <= 0))))


def test_difference_upper_cut():
    """D3: dl <= delta <= du, dl' = min(dl, 0), du' = max(du, 0), 0 <= a <= 1,
    beta >= a (-dl'), beta >= (1 - a) du'  =>  relu(z_g) - relu(z_f) <= a delta + beta."""
    zf, zg, dl, du, a, beta = z3.Reals("zf zg dl du a beta")
    dl2, du2 = z3.If(dl < 0, dl, 0), z3.If(du > 0, du, 0)
    delta = zg - zf
    prove(relu(zg) - relu(zf) <= a * delta + beta, dl <= delta, delta <= du, 0 <= a, a <= 1,
          beta >= a * -dl2, beta >= (1 - a) * du2)


def test_difference_lower_cut():
    """D3 mirrored: 0 <= a' <= 1, beta' >= a' du', beta' >= (1 - a') (-dl')
    =>  relu(z_g) - relu(z_f) >= a' delta - beta'."""
    zf, zg, dl, du, a, beta = z3.Reals("zf zg dl du a beta")
    dl2, du2 = z3.If(dl < 0, dl, 0), z3.If(du > 0, du, 0)
    delta = zg - zf
    prove(relu(zg) - relu(zf) >= a * delta - beta, dl <= delta, delta <= du, 0 <= a, a <= 1,
          beta >= a * du2, beta >= (1 - a) * -dl2)


def test_difference_cuts_for_linear_pairs():
    """D3 for a pair of linear neurons (d = delta, t = 1), with the same rows."""
    zf, zg, dl, du, a, beta = z3.Reals("zf zg dl du a beta")
    dl2, du2 = z3.If(dl < 0, dl, 0), z3.If(du > 0, du, 0)
    delta = zg - zf
    hyps = [dl <= delta, delta <= du, 0 <= a, a <= 1]
    prove(delta <= a * delta + beta, *hyps, beta >= a * -dl2, beta >= (1 - a) * du2)
    prove(delta >= a * delta - beta, *hyps, beta >= a * du2, beta >= (1 - a) * -dl2)


def test_phase_split_bounds():
    """D4: on the region z >= 0 the column bound max(l, 0) and y = relu(z) = z hold; on z <= 0,
    min(u, 0) and y = 0."""
    z, l, u = z3.Reals("z l u")
    prove(z3.And(z >= z3.If(l > 0, l, 0), relu(z) == z), l <= z, z >= 0)
    prove(z3.And(z <= z3.If(u < 0, u, 0), relu(z) == 0), z <= u, z <= 0)


def test_wrong_difference_cut_without_zero_in_range_fails():
    """WRONG: the chord over [dl, du] itself (not widened to contain 0) when dl > 0: at
    delta = dl the cut says d <= 0, but d = dl is reached (z_f = 0, z_g = dl)."""
    zf, zg, dl, du, a, beta = z3.Reals("zf zg dl du a beta")
    delta = zg - zf
    refute(relu(zg) - relu(zf) <= a * delta + beta, dl <= delta, delta <= du, 0 < dl, dl < du,
           a == du / (du - dl), beta == a * -dl)


def test_wrong_difference_cut_for_different_activations_fails():
    """WRONG: the (lower) mean-value cut for a linear neuron of g paired with a Relu neuron of f
    (d = z_g - relu(z_f) is not t delta with t in [0, 1]: z_f = z_g = -1 gives d = -1 < 0 = delta)."""
    zf, zg, dl, du, a, beta = z3.Reals("zf zg dl du a beta")
    dl2, du2 = z3.If(dl < 0, dl, 0), z3.If(du > 0, du, 0)
    delta = zg - zf
    refute(act(zg, 1) - relu(zf) >= a * delta - beta, dl <= delta, delta <= du, 0 <= a, a <= 1,
           beta >= a * du2, beta >= (1 - a) * -dl2)
