"""Soundness of the differential zonotope analysis by sampling: every sampled value of f, g and g - f
lies inside the proved bounds, also inside phase-split regions and with weight radii."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from nnequiv.checker.diffzono import analyze
from tests.helpers.pwl_factories import perturbed, random_pwl, sample_exact_variant


def _check_contains(analysis, xs, fx, gx):
    for forms, values in ((analysis.f_out, fx), (analysis.g_out, gx), (analysis.delta_out, gx - fx)):
        lo, hi = forms.bounds()
        assert np.all(values >= lo - 1e-12) and np.all(values <= hi + 1e-12)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), depth=st.integers(1, 4), width=st.integers(2, 12),
       leaky=st.booleans(), prune=st.sampled_from([0.0, 0.05, 0.3]), noise=st.sampled_from([0.0, 1e-3, 0.1]))
def test_bounds_contain_samples(seed, depth, width, leaky, prune, noise):
    rng = np.random.default_rng(seed)
    n_in = int(rng.integers(1, 6))
    widths = [n_in] + [width] * depth + [3]
    f = random_pwl(rng, widths, slopes=(0.0, 0.1) if leaky else (0.0,))
    g = perturbed(rng, f, prune=prune, noise=noise)
    lo = rng.uniform(-2, 1, n_in)
    hi = lo + rng.uniform(0, 2, n_in)
    analysis = analyze(f, g, lo, hi)
    xs = np.vstack([rng.uniform(lo, hi, (500, n_in)), lo, hi])
    _check_contains(analysis, xs, f.evaluate(xs), g.evaluate(xs))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_different_activation_functions_are_sound(seed):
    """g uses other slopes than f (ReLU / LeakyReLU / identity mixed), same weights."""
    from nnequiv.pwl import PwlLayer, PwlNet

    rng = np.random.default_rng(seed)
    f = random_pwl(rng, [3, 6, 6, 2], slopes=(0.0, 0.1, 1.0))
    g = PwlNet(tuple(PwlLayer.make(l.weight, l.bias, rng.choice([0.0, 0.1, 0.5, 1.0], l.n_out) if k < 2 else 1.0)
                     for k, l in enumerate(f.layers)), f.input_shape, f.output_shape)
    lo, hi = -np.ones(3), np.ones(3)
    xs = np.vstack([rng.uniform(lo, hi, (1000, 3)), lo, hi])
    _check_contains(analyze(f, g, lo, hi), xs, f.evaluate(xs), g.evaluate(xs))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_split_regions_are_sound(seed):
    rng = np.random.default_rng(seed)
    f = random_pwl(rng, [3, 8, 8, 2])
    g = perturbed(rng, f, prune=0.2, noise=1e-2)
    lo, hi = -np.ones(3), np.ones(3)
    xs = rng.uniform(lo, hi, (3000, 3))
    net_name, net = ("f", f) if rng.random() < 0.5 else ("g", g)
    layer = int(rng.integers(0, 2))
    neuron = int(rng.integers(0, 8))
    z = net.activations(xs)[layer][:, neuron]
    for side in (+1, -1):
        analysis = analyze(f, g, lo, hi, {(net_name, layer, neuron): side})
        inside = xs[(z >= 0) if side > 0 else (z <= 0)]
        if analysis.infeasible:
            assert len(inside) == 0
            continue
        _check_contains(analysis, inside, f.evaluate(inside), g.evaluate(inside))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_weight_radii_cover_the_real_weights(seed):
    rng = np.random.default_rng(seed)
    f = random_pwl(rng, [4, 6, 6, 2])
    g = perturbed(rng, f, prune=0.0, noise=0.0, radius=1e-3)
    lo, hi = -np.ones(4), np.ones(4)
    xs = rng.uniform(lo, hi, (400, 4))
    analysis = analyze(f, g, lo, hi)
    gx = np.vstack([sample_exact_variant(rng, g, x[None]) for x in xs])
    _check_contains(analysis, xs, f.evaluate(xs), gx)


def test_identical_networks_have_zero_difference():
    rng = np.random.default_rng(0)
    f = random_pwl(rng, [5, 20, 20, 5])
    analysis = analyze(f, f, -np.ones(5), np.ones(5))
    lo, hi = analysis.delta_out.bounds()
    assert np.all(lo == 0) and np.all(hi == 0)


def test_difference_tracking_is_tighter_than_subtraction():
    rng = np.random.default_rng(1)
    f = random_pwl(rng, [5, 30, 30, 30, 5])
    g = perturbed(rng, f, prune=0.05)
    analysis = analyze(f, g, -np.ones(5) * 0.3, np.ones(5) * 0.3)
    tracked = analysis.delta_out.magnitude().max()
    from nnequiv.checker.forms import add
    naive = add(analysis.g_out, analysis.f_out, -1.0).magnitude().max()
    assert analysis.tracked_layers == 4
    assert tracked < naive


def test_different_slopes_do_not_use_the_mean_value_rule():
    """Regression (found by proofs/check_differential.py): f LeakyReLU(0.1), g identity, same weights."""
    from nnequiv.pwl import PwlLayer, PwlNet

    def net(slope):
        return PwlNet((PwlLayer.make([[1.0]], [0.0], slope), PwlLayer.make([[1.0]], [0.0], 1.0)), (1,), (1,))

    f, g = net(0.1), net(1.0)
    lo, hi = analyze(f, g, -np.ones(1), np.ones(1)).delta_out.bounds()
    assert lo[0, 0] <= -0.9 <= hi[0, 0]


def test_sampling_detects_a_broken_relaxation(monkeypatch):
    """The sampling check has teeth: dropping the DeepZ relaxation height makes it fail."""
    import nnequiv.checker.diffzono as dz

    original = dz._activate

    def broken(z, phase, slope, lo, hi):
        out, fresh = original(z, phase, slope, lo, hi)
        return out, dz.Fresh(fresh.neurons, fresh.radii * 0.0)

    monkeypatch.setattr(dz, "_activate", broken)
    rng = np.random.default_rng(11)
    f = random_pwl(rng, [3, 12, 12, 2])
    lo, hi = -np.ones(3), np.ones(3)
    xs = rng.uniform(lo, hi, (3000, 3))
    with pytest.raises(AssertionError):
        _check_contains(analyze(f, f, lo, hi), xs, f.evaluate(xs), f.evaluate(xs))
