"""Machine check for proofs/homogeneity.md: positive homogeneity of ReLU, LeakyReLU and MaxPool."""

import pytest
import z3

from proofs._z3util import Q, act, prove, reals, refute, relu, value, zmax


def test_relu_positive_homogeneity():
    z, rho = z3.Reals("z rho")
    prove(relu(rho * z) == rho * relu(z), rho > 0)


def test_act_positive_homogeneity_any_slope():
    # the normal-form activation with an arbitrary real negative-side slope s
    z, rho, s = z3.Reals("z rho s")
    prove(act(rho * z, s) == rho * act(z, s), rho > 0)


@pytest.mark.parametrize("slope", [Q(0), Q("0.01"), Q("0.2"), Q(1)])
def test_leaky_relu_positive_homogeneity(slope):
    z, rho = z3.Reals("z rho")
    prove(act(rho * z, slope) == rho * act(z, slope), rho > 0)


def test_homogeneity_extends_to_rho_zero():
    z, rho, s = z3.Reals("z rho s")
    prove(act(rho * z, s) == rho * act(z, s), rho >= 0)


@pytest.mark.parametrize("window", [1, 2, 3, 4])
def test_maxpool_positive_homogeneity(window):
    a = reals("a", window)
    rho = z3.Real("rho")
    prove(zmax(*[rho * t for t in a]) == rho * zmax(*a), rho > 0)


# ------------------------------------------------------------ wrong variants
def test_wrong_relu_negative_rho_fails():
    z, rho = z3.Reals("z rho")
    model = refute(relu(rho * z) == rho * relu(z))          # rho unrestricted
    assert value(model, rho) < 0


def test_wrong_leaky_negative_rho_fails():
    z, rho = z3.Reals("z rho")
    model = refute(act(rho * z, Q("0.1")) == rho * act(z, Q("0.1")), rho < 0)
    assert value(model, z) != 0


def test_wrong_maxpool_negative_rho_fails():
    a, b, rho = z3.Reals("a b rho")
    refute(zmax(rho * a, rho * b) == rho * zmax(a, b), rho < 0)


def test_wrong_relu_additive_shift_fails():
    # homogeneity is multiplicative only: relu(z + t) != relu(z) + t in general
    z, t = z3.Reals("z t")
    refute(relu(z + t) == relu(z) + t, t > 0)
