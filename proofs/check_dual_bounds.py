"""Machine check for proofs/dual_bounds.md: the Lagrangian identity (B1), the one-dimensional
maximum at the candidates (B2), the uncertain multiplier image (B3) and the cheap rounding up (B4)."""

import math

import numpy as np
import sympy as sp
import z3

from proofs._z3util import prove, refute, relu, zmax


def _phi(mu, nu, z):
    return mu * relu(z) - nu * z


def test_lagrangian_identity_symbolic():
    x = sp.Matrix(sp.symbols("x0:2"))
    w = [sp.Matrix(2, 2, sp.symbols(f"w{j}_0:4")) for j in range(2)] + [sp.Matrix(1, 2, sp.symbols("w2_0:2"))]
    b = [sp.Matrix(sp.symbols(f"b{j}_0:2")) for j in range(2)] + [sp.Matrix([sp.Symbol("b2")])]
    nu = [sp.Matrix(sp.symbols(f"nu{j}_0:2")) for j in range(2)]
    h = [sp.Matrix(sp.symbols(f"h{j}_0:2")) for j in range(2)]     # any values: act plays no role in B1
    c = sp.Matrix([sp.Symbol("c")])
    z0 = w[0] * x + b[0]
    z1 = w[1] * h[0] + b[1]
    z2 = w[2] * h[1] + b[2]
    mu1 = w[2].T * c
    mu0 = w[1].T * nu[1]
    rhs = (c.T * b[2] + nu[0].T * b[0] + nu[1].T * b[1] + (w[0].T * nu[0]).T * x
           + mu0.T * h[0] - nu[0].T * z0 + mu1.T * h[1] - nu[1].T * z1)
    assert sp.expand((c.T * z2 - rhs)[0]) == 0


def test_relu_neuron_max_at_candidates():
    mu, nu, z, l, u = z3.Reals("mu nu z l u")
    kink = z3.If(z3.And(l < 0, u > 0), z3.RealVal(0), _phi(mu, nu, l))
    prove(_phi(mu, nu, z) <= zmax(_phi(mu, nu, l), _phi(mu, nu, u), kink), l <= z, z <= u)


def test_linear_neuron_max_at_ends():
    mu, nu, z, l, u = z3.Reals("mu nu z l u")
    value = lambda t: mu * t - nu * t                                    # noqa: E731
    prove(value(z) <= zmax(value(l), value(u)), l <= z, z <= u)


def test_uncertain_mu_bounds():
    mu, m, e, nu, z = z3.Reals("mu m e nu z")
    near = [m - e <= mu, mu <= m + e]
    prove(_phi(mu, nu, z) <= (m - nu + e) * z, *near, z >= 0)              # z >= 0, any activation
    prove(_phi(mu, nu, z) <= -nu * z, *near, z < 0)                        # Relu, z < 0
    prove(mu * z - nu * z <= (m - nu - e) * z, *near, z < 0)               # linear, z < 0


def _up(x):
    return x + (np.abs(x) * (2.0 ** -52) + 2.0 ** -1074)


def test_rounding_up_covers_one_ulp():
    rng = np.random.default_rng(0)
    specials = [0.0, 5e-324, 1e-310, 2.0 ** -1022, 2.0 ** -1022 * (1 + 2 ** -52), 2.0 ** -970, 2.0 ** -969,
                1.0, 1.0 + 2 ** -52, 2.0, 3.0, 0.1, 1e300, 1.7976931348623157e308 / 2]
    bits = rng.integers(0, 2 ** 63 - 2 ** 52, 200_000, dtype=np.int64)     # finite doubles, all exponents
    values = np.concatenate([np.array(specials), bits.view(np.float64), 2.0 ** np.arange(-1074, 1023.0)])
    values = np.concatenate([values, -values])
    values = values[np.isfinite(values)]
    assert np.all(_up(values) >= np.nextafter(values, math.inf))


# ------------------------------------------------------------ wrong variants
def test_wrong_neuron_max_without_kink_fails():
    mu, nu, z, l, u = z3.Reals("mu nu z l u")
    refute(_phi(mu, nu, z) <= zmax(_phi(mu, nu, l), _phi(mu, nu, u)), l <= z, z <= u, l < 0, u > 0)


def test_wrong_uncertain_mu_on_negative_linear_side_fails():
    mu, m, e, nu, z = z3.Reals("mu m e nu z")
    refute(mu * z - nu * z <= (m - nu + e) * z, m - e <= mu, mu <= m + e, z < 0)
