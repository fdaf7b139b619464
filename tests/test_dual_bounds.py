"""Soundness of the dual pre-activation bounds (``nnequiv/checker/dual_bounds.py``,
``proofs/dual_bounds.md``): sampled pre-activations lie inside them, the one-dimensional maxima
dominate a dense grid, and they tighten the zonotope where they apply."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from nnequiv.checker import dual_bounds
from nnequiv.checker.diffzono import aligned_layers, analyze, analyze_batch
from tests.helpers.pwl_factories import perturbed, random_pwl


def _pre_activations(net, xs):
    out, h = [], xs
    for layer in net.layers:
        z = layer.pre_activation(h)
        out.append(z)
        h = layer.activate(z)
    return out


def _deep_pair(rng, n_in, depth, width, prune=0.1):
    f = random_pwl(rng, [n_in] + [width] * depth + [3], scale=1.6)
    return f, perturbed(rng, f, prune=prune)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), depth=st.integers(2, 6), width=st.integers(3, 16))
def test_layer_bounds_contain_sampled_pre_activations(seed, depth, width):
    """Every pre-activation of f and g at sampled inputs (and box corners) lies in the analysis'
    layer bounds, which now include the dual bounds."""
    rng = np.random.default_rng(seed)
    n_in = int(rng.integers(1, 6))
    f, g = _deep_pair(rng, n_in, depth, width)
    lo = rng.uniform(-1, 0.5, n_in)
    hi = lo + rng.uniform(0.01, 1.5, n_in)
    analysis = analyze(f, g, lo, hi)
    corners = np.array(np.meshgrid(*zip(lo, hi))).reshape(n_in, -1).T
    xs = np.vstack([rng.uniform(lo, hi, (2000, n_in)), corners])
    for net, slot in ((f, 0), (g, 1)):
        for k, z in enumerate(_pre_activations(net, xs)):
            bound_lo, bound_hi = analysis.layer_bounds[k][slot]
            assert np.all(z >= bound_lo[0]) and np.all(z <= bound_hi[0]), (net is f, k)


@pytest.mark.parametrize("seed", range(8))
def test_tighten_contains_samples_per_region_of_a_batch(seed):
    """``tighten`` on a batch of regions, each against its own samples; never looser than given."""
    rng = np.random.default_rng([seed, 17])
    f, g = _deep_pair(rng, 4, 5, 12)
    centres = rng.uniform(-1, 1, (6, 4))
    lowers, uppers = centres - rng.uniform(0.05, 0.8, (6, 4)), centres + rng.uniform(0.05, 0.8, (6, 4))
    analysis = analyze_batch(f, g, lowers, uppers, [{}] * 6)
    layers, _ = aligned_layers(f, g)
    earlier = [b[0] for b in analysis.layer_bounds]
    for k in range(1, len(layers) - 1):
        loose = (earlier[k][0] - 1.0, earlier[k][1] + 1.0)
        lower, upper = dual_bounds.tighten(layers, k, lowers, uppers, earlier[:k], loose)
        assert np.all(lower >= loose[0]) and np.all(upper <= loose[1])
        for r in range(6):
            xs = rng.uniform(lowers[r], uppers[r], (1500, 4))
            z = _pre_activations(f, xs)[k]
            assert np.all(z >= lower[r]) and np.all(z <= upper[r])


@pytest.mark.parametrize("seed", range(6))
def test_neuron_maximum_dominates_a_dense_grid(seed):
    """B2/B3: the bound covers ``mu act(z) - nu z`` (exact rationals) for z on a grid of [lo, hi] and
    mu at both ends of its uncertainty interval, for Relu and linear neurons."""
    rng = np.random.default_rng([seed, 29])
    shape = (3, 4, 7)
    mu, nu = rng.normal(size=shape), rng.normal(size=shape)
    mu_err = rng.uniform(0, 0.1, shape)
    lo = rng.uniform(-2, 1, (3, 1, 7))
    hi = lo + rng.uniform(0, 2, (3, 1, 7))
    relu = rng.random(7) < 0.7
    bound = dual_bounds._neuron_max(mu, mu_err, nu, lo, hi, relu)
    for index in np.ndindex(*shape):
        r, _, i = index
        l, u = Fraction(lo[r, 0, i]), Fraction(hi[r, 0, i])
        for t in (Fraction(k, 20) for k in range(21)):       # exact: the grid points are rationals
            z = l + t * (u - l)
            act = max(z, Fraction(0)) if relu[i] else z
            for m in (Fraction(mu[index]) - Fraction(mu_err[index]), Fraction(mu[index]) + Fraction(mu_err[index])):
                assert m * act - Fraction(nu[index]) * z <= Fraction(bound[index])


def test_not_applied_with_weight_radii_or_leaky_neurons():
    rng = np.random.default_rng(3)
    f = random_pwl(rng, [3, 8, 8, 2])
    with_radii = perturbed(rng, f, prune=0.0, radius=1e-6)
    leaky = random_pwl(rng, [3, 8, 8, 2], slopes=(0.1,))
    for net in (with_radii, leaky):
        assert not dual_bounds.applies(net.layers, 1)
    assert dual_bounds.applies(f.layers, 1) and not dual_bounds.applies(f.layers, 0)
    assert not dual_bounds.applies(f.layers, 2)          # the linear output layer


def test_tighter_than_the_zonotope_on_deep_random_nets(monkeypatch):
    """The reason the lemma is used: on deep nets its bounds are strictly inside the zonotope's."""
    rng = np.random.default_rng(11)
    f, g = _deep_pair(rng, 5, 6, 20)
    lo, hi = -0.3 * np.ones(5), 0.3 * np.ones(5)
    tight = analyze(f, g, lo, hi)
    monkeypatch.setattr(dual_bounds, "applies", lambda layers, k: False)
    plain = analyze(f, g, lo, hi)
    first_t, first_p = tight.layer_bounds[1][0], plain.layer_bounds[1][0]
    assert np.all(first_t[0] >= first_p[0]) and np.all(first_t[1] <= first_p[1])
    width_t = tight.layer_bounds[4][0][1] - tight.layer_bounds[4][0][0]
    width_p = plain.layer_bounds[4][0][1] - plain.layer_bounds[4][0][0]
    assert width_t.sum() < 0.9 * width_p.sum()
