"""Machine check for proofs/big_m.md: the big-M MILP encoding of ReLU / LeakyReLU is exact
(defines exactly the activation's graph on [l, u]) given sound pre-activation bounds."""

import pytest
import z3

from proofs._z3util import Q, act, prove, refute, relu


def relu_milp(z, y, d, l, u):
    return z3.And(y >= 0, y >= z, y <= z - l * (1 - d), y <= u * d)


def leaky_milp(z, y, d, l, u, s):
    return z3.And(y >= z, y >= s * z, y <= z - (1 - s) * l * (1 - d), y <= s * z + (1 - s) * u * d)


def _vars():
    return z3.Reals("z y l u")


def test_relu_milp_contains_the_graph():
    """l <= z <= u  =>  (z, relu z) satisfies the constraints for some binary d."""
    z, y, l, u = _vars()
    prove(z3.Or(relu_milp(z, relu(z), 0, l, u), relu_milp(z, relu(z), 1, l, u)),
          l < 0, u > 0, l <= z, z <= u)


def test_relu_milp_solutions_are_on_the_graph():
    """constraints with binary d  =>  y == relu z and l <= z <= u."""
    z, y, l, u = _vars()
    for d in (0, 1):
        prove(z3.And(y == relu(z), l <= z, z <= u), relu_milp(z, y, d, l, u), l < 0, u > 0)


@pytest.mark.parametrize("s", [Q(0), Q("0.01"), Q("0.5")])
def test_leaky_milp_exact(s):
    z, y, l, u = _vars()
    prove(z3.Or(leaky_milp(z, act(z, s), 0, l, u, s), leaky_milp(z, act(z, s), 1, l, u, s)),
          l < 0, u > 0, l <= z, z <= u)
    for d in (0, 1):
        prove(z3.And(y == act(z, s), l <= z, z <= u), leaky_milp(z, y, d, l, u, s), l < 0, u > 0)


def test_leaky_milp_exact_symbolic_slope():
    z, y, l, u = _vars()
    s = z3.Real("s")
    hyps = [l < 0, u > 0, s >= 0, s < 1]
    prove(z3.Or(leaky_milp(z, act(z, s), 0, l, u, s), leaky_milp(z, act(z, s), 1, l, u, s)),
          hyps, l <= z, z <= u)
    for d in (0, 1):
        prove(z3.And(y == act(z, s), l <= z, z <= u), leaky_milp(z, y, d, l, u, s), hyps)


def test_enlarged_big_m_constants_stay_exact():
    """G3: rounded-up constants M1 >= (1 - s)(-l), M2 >= (1 - s) u (nnequiv/solvers/encode.py) keep
    (a) the graph on [l, u] inside the encoding and (b) every solution on the graph of act_s."""
    z, y, l, u, s, M1, M2 = z3.Reals("z y l u s M1 M2")

    def milp(yy, d):
        return z3.And(yy >= z, yy >= s * z, yy <= z + M1 * (1 - d), yy <= s * z + M2 * d)
    hyps = [l < 0, u > 0, s >= 0, s < 1, M1 >= (1 - s) * (-l), M2 >= (1 - s) * u]
    prove(z3.Or(milp(act(z, s), 0), milp(act(z, s), 1)), hyps, l <= z, z <= u)
    for d in (0, 1):
        prove(y == act(z, s), milp(y, d), hyps)


# ------------------------------------------------------------ wrong variants
def test_wrong_bounds_not_containing_z_fails():
    """With u < z (unsound bound) the encoding excludes the true point: a MILP could then prove a
    false property."""
    z, y, l, u = _vars()
    refute(z3.Or(relu_milp(z, relu(z), 0, l, u), relu_milp(z, relu(z), 1, l, u)), l < 0, u > 0, z > u)


def test_wrong_lower_bound_not_containing_z_fails():
    z, y, l, u = _vars()
    refute(z3.Or(relu_milp(z, relu(z), 0, l, u), relu_milp(z, relu(z), 1, l, u)), l < 0, u > 0, z < l)


def test_wrong_relaxed_binary_is_not_exact_fails():
    z, y, l, u, d = z3.Reals("z y l u d")
    refute(y == relu(z), relu_milp(z, y, d, l, u), 0 <= d, d <= 1, l < 0, u > 0)


def test_wrong_big_m_constant_too_small_fails():
    z, y, l, u = _vars()
    M2 = z3.Real("M2")
    milp = lambda d: z3.And(relu(z) >= 0, relu(z) >= z, relu(z) <= z - l * (1 - d), relu(z) <= M2 * d)
    refute(z3.Or(milp(0), milp(1)), l < 0, u > 0, l <= z, z <= u, M2 < u, M2 > 0)


def test_wrong_relu_encoding_for_leaky_fails():
    z, y, l, u = _vars()
    s = Q("0.1")
    refute(z3.Or(relu_milp(z, act(z, s), 0, l, u), relu_milp(z, act(z, s), 1, l, u)),
           l < 0, u > 0, l <= z, z <= u)
