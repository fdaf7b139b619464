"""Network encodings against the interpreter, sampling, z3, and each other."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from nnequiv.pwl import PwlLayer, PwlNet
from nnequiv.solvers import (EncodedNet, ModelBuilder, encode_equivalence, encode_pwl,
                             interval_pre_bounds, safe_upper_bound, solve_highs, z3_feasibility,
                             z3_optimize)
from nnequiv.solvers.encode import _upper_chord, act_interval

SLOPES = (0.0, 0.0, 0.01, 0.2, 1.0)


def random_net(rng, n_in=None, depth=None, n_out=None, radius=0.0, slopes=SLOPES,
               dyadic=False) -> PwlNet:
    n_in = int(rng.integers(2, 9)) if n_in is None else n_in
    depth = int(rng.integers(1, 4)) if depth is None else depth
    n_out = int(rng.integers(1, 4)) if n_out is None else n_out
    widths = [n_in] + [int(rng.integers(2, 9)) for _ in range(depth - 1)] + [n_out]
    layers = []
    for k, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        w = rng.normal(size=(b, a)) / math.sqrt(a)
        bias = rng.normal(size=b) * 0.3
        if dyadic:
            w, bias = np.round(w * 16) / 16, np.round(bias * 16) / 16
        last = k == len(widths) - 2
        slope = rng.choice((1.0, 0.0), size=b) if last else rng.choice(slopes, size=b)
        wr = radius * rng.random((b, a)) if radius else None
        br = radius * rng.random(b) if radius else None
        layers.append(PwlLayer.make(w, bias, slope, wr, br))
    return PwlNet(tuple(layers), (n_in,), (n_out,))


def encode(net: PwlNet, lo=-1.0, hi=1.0, mode="milp", pre_bounds=None):
    b = ModelBuilder()
    x = b.add_vars(net.input_size, lo, hi)
    enc = encode_pwl(b, net, x, pre_bounds, mode)
    return b.build(), enc


def canonical_point(model, enc: EncodedNet, net_layers, x: np.ndarray) -> np.ndarray:
    """The assignment the real network (with the given layers) induces on the variables."""
    point = np.zeros(model.n_vars)
    point[enc.inputs] = x
    h = x
    for k, layer in enumerate(net_layers):
        z = layer.weight @ h + layer.bias
        post = np.where(z >= 0, z, layer.slope * z)
        point[enc.pre[k]] = z
        point[enc.post[k]] = post
        has = enc.binary[k] >= 0
        point[enc.binary[k][has]] = (z[has] >= 0).astype(float)
        h = post
    return point


def exact_eval(net: PwlNet, x) -> list[Fraction]:
    h = [v if isinstance(v, Fraction) else Fraction(float(v)) for v in x]
    for layer in net.layers:
        z = [sum((Fraction(float(w)) * hj for w, hj in zip(row, h)), Fraction(float(b)))
             for row, b in zip(layer.weight, layer.bias)]
        h = [zi if zi >= 0 else Fraction(float(s)) * zi for zi, s in zip(z, layer.slope)]
    return h


def test_fixed_input_reproduces_interpreter():
    rng = np.random.default_rng(0)
    for _ in range(25):
        net = random_net(rng)
        model, enc = encode(net)
        for x in rng.uniform(-1, 1, (4, net.input_size)):
            r = solve_highs(model.with_bounds(enc.inputs, x, x))
            assert r.status == "optimal"
            np.testing.assert_allclose(r.x[enc.output], net.evaluate(x)[0], atol=1e-6)
            for k, z in enumerate(net.activations(x)):
                np.testing.assert_allclose(r.x[enc.pre[k]], z[0], atol=1e-6)


def test_canonical_assignment_satisfies_every_constraint():
    rng = np.random.default_rng(1)
    for mode in ("milp", "lp"):
        for _ in range(25):
            net = random_net(rng)
            model, enc = encode(net, mode=mode)
            for x in rng.uniform(-1, 1, (20, net.input_size)):
                point = canonical_point(model, enc, net.layers, x)
                assert model.max_violation(point) <= 1e-9


def test_fixed_input_exact_in_z3():
    # with the input fixed, the MILP has exactly one solution: the exact real network value
    rng = np.random.default_rng(2)
    for _ in range(6):
        net = random_net(rng, n_in=2, depth=2)
        model, enc = encode(net)
        x = rng.uniform(-1, 1, 2)
        r = z3_feasibility(model.with_bounds(enc.inputs, x, x))
        assert r.status == "optimal"
        assert [r.x_exact[i] for i in enc.output] == exact_eval(net, x)


def test_milp_max_dominates_samples_and_matches_z3():
    rng = np.random.default_rng(3)
    for trial in range(12):
        net = random_net(rng, n_in=2 if trial < 6 else None, depth=2 if trial < 6 else None)
        model, enc = encode(net)
        samples = net.evaluate(rng.uniform(-1, 1, (4000, net.input_size)))
        for i in range(net.output_size):
            obj = model.with_objective({int(enc.output[i]): 1.0})
            r = solve_highs(obj)
            assert r.status == "optimal"
            assert r.objective >= samples[:, i].max() - 1e-7
            # the maximiser really attains the value in the network
            assert net.evaluate(r.x[enc.inputs])[0, i] == pytest.approx(r.objective, abs=1e-6)
            lp_model, lp_enc = encode(net, mode="lp")
            rl = solve_highs(lp_model.with_objective({int(lp_enc.output[i]): 1.0}))
            assert rl.objective >= r.objective - 1e-7
            safe = safe_upper_bound(lp_model.with_objective({int(lp_enc.output[i]): 1.0}),
                                    rl.duals.row)
            assert safe >= r.objective - 1e-9 and safe >= rl.objective - 1e-9
            if trial < 6:
                rz = z3_optimize(obj, time_limit=60)
                assert rz.status == "optimal"
                assert r.objective == pytest.approx(rz.objective, abs=1e-6)
                assert model.is_feasible_exact(rz.x_exact)
                # exact MILP: its optimal point carries the exact network value of its input
                assert [rz.x_exact[v] for v in enc.output] == exact_eval(
                    net, [rz.x_exact[v] for v in enc.inputs])


def test_lp_relaxation_dominates_milp_minimisation_too():
    rng = np.random.default_rng(4)
    for _ in range(10):
        net = random_net(rng)
        model, enc = encode(net)
        lp_model, lp_enc = encode(net, mode="lp")
        assert not lp_model.is_mip
        r = solve_highs(model.with_objective({int(enc.output[0]): 1.0}, sense="min"))
        rl = solve_highs(lp_model.with_objective({int(lp_enc.output[0]): 1.0}, sense="min"))
        assert rl.objective <= r.objective + 1e-7


def test_radii_cover_every_realisation():
    rng = np.random.default_rng(5)
    for _ in range(15):
        net = random_net(rng, radius=0.05)
        model, enc = encode(net)
        best = -np.inf
        for _ in range(30):
            layers = [PwlLayer.make(L.weight + L.weight_rad * rng.uniform(-1, 1, L.weight.shape),
                                    L.bias + L.bias_rad * rng.uniform(-1, 1, L.n_out), L.slope)
                      for L in net.layers]
            real = PwlNet(tuple(layers), net.input_shape, net.output_shape)
            for x in rng.uniform(-1, 1, (5, net.input_size)):
                assert model.max_violation(canonical_point(model, enc, layers, x)) <= 1e-9
                best = max(best, real.evaluate(x)[0, 0])
        r = solve_highs(model.with_objective({int(enc.output[0]): 1.0}))
        assert r.objective >= best - 1e-7
        # radii only enlarge the feasible set
        exact_net = PwlNet(tuple(PwlLayer.make(L.weight, L.bias, L.slope) for L in net.layers),
                           net.input_shape, net.output_shape)
        m0, e0 = encode(exact_net)
        r0 = solve_highs(m0.with_objective({int(e0.output[0]): 1.0}))
        assert r0.objective <= r.objective + 1e-7


def test_interval_bounds_sound_and_used():
    rng = np.random.default_rng(6)
    for _ in range(15):
        net = random_net(rng, radius=0.01 if rng.random() < 0.5 else 0.0)
        bounds = interval_pre_bounds(net, -1.0, 1.0)
        for z, (lo, hi) in zip(net.activations(rng.uniform(-1, 1, (2000, net.input_size))), bounds):
            assert np.all(z >= lo) and np.all(z <= hi)
        m_none, enc_none = encode(net)
        m_given, enc_given = encode(net, pre_bounds=bounds)
        for (a, b), (c, d) in zip(enc_none.pre_bounds, enc_given.pre_bounds):
            np.testing.assert_array_equal(a, c)
            np.testing.assert_array_equal(b, d)
        # ReLU post-activations are bounded below by exactly 0
        for k, layer in enumerate(net.layers):
            relu = (layer.slope == 0.0)
            assert np.all(enc_none.post_bounds[k][0][relu] >= 0.0)


def test_tighter_given_bounds_are_intersected():
    rng = np.random.default_rng(7)
    net = random_net(rng, n_in=3, depth=2)
    bounds = interval_pre_bounds(net, -1.0, 1.0)
    samples = net.activations(rng.uniform(-1, 1, (20000, 3)))
    # sound but tighter first-layer bounds: the (exact) per-neuron range of a linear map on a box
    w, b = net.layers[0].weight, net.layers[0].bias
    tight = (b - np.abs(w).sum(1) - 1e-9, b + np.abs(w).sum(1) + 1e-9)
    loose = [(tight[0] - 5, tight[1] + 5)] + [None]
    _, enc = encode(net, pre_bounds=loose)
    np.testing.assert_array_equal(enc.pre_bounds[0][0], bounds[0][0])
    _, enc = encode(net, pre_bounds=[tight, None])
    assert np.all(enc.pre_bounds[0][0] >= bounds[0][0])
    assert np.all(samples[0] >= enc.pre_bounds[0][0])


def test_stable_neurons_need_no_binaries():
    w = np.array([[1.0, 1.0], [-1.0, -1.0], [1.0, -1.0]])
    layer = PwlLayer.make(w, [3.0, -3.0, 0.0], [0.0, 0.5, 0.0])
    out = PwlLayer.make(np.ones((1, 3)), [0.0], [1.0])
    net = PwlNet((layer, out), (2,), (1,))
    model, enc = encode(net)
    assert enc.binary[0].tolist()[:2] == [-1, -1] and enc.binary[0][2] >= 0
    assert enc.post[0][0] == enc.pre[0][0]          # always active: post is z
    assert enc.n_unstable == 1
    r = solve_highs(model.with_objective({int(enc.output[0]): 1.0}))
    x = r.x[enc.inputs]
    assert r.objective == pytest.approx(net.evaluate(x)[0, 0])


def test_errors():
    layer = PwlLayer.make(np.array([[1.0, -1.0]]), [0.0], [2.0])
    net = PwlNet((layer,), (2,), (1,))
    with pytest.raises(ValueError, match="slope"):
        encode(net)
    relu = PwlNet((PwlLayer.make(np.array([[1.0, -1.0]]), [0.0], [0.0]),), (2,), (1,))
    with pytest.raises(ValueError, match="finite"):
        encode(relu, lo=-np.inf, hi=np.inf)
    with pytest.raises(ValueError, match="empty"):
        encode(relu, pre_bounds=[(np.array([5.0]), np.array([6.0]))])
    with pytest.raises(ValueError):
        encode(relu, pre_bounds=[])
    with pytest.raises(ValueError):
        encode(relu, mode="exact")
    # identity networks are fine on an unbounded box
    lin = PwlNet((PwlLayer.make(np.array([[1.0, -1.0]]), [0.0], [1.0]),), (2,), (1,))
    encode(lin, lo=-np.inf, hi=np.inf)


def test_upper_chord_valid_exactly():
    rng = np.random.default_rng(8)
    for _ in range(2000):
        a = float(rng.choice([0.0, 0.01, 0.1, 0.3, 0.999, rng.random()]))
        l = -float(10.0 ** rng.uniform(-8, 4))
        u = float(10.0 ** rng.uniform(-8, 4))
        alpha, beta = _upper_chord(a, l, u)
        fa, fl, fu, fal, fbe = map(Fraction, (a, l, u, alpha, beta))
        assert fal * fl + fbe >= fa * fl and fal * fu + fbe >= fu
        # and it is the exact chord up to rounding alpha (an error of ulp(alpha) * (u - l))
        chord_beta = (1 - fa) * (-fl) * fu / (fu - fl)
        assert fbe - chord_beta <= Fraction(1e-15) * (fu - fl)


def test_act_interval_outward():
    rng = np.random.default_rng(9)
    for _ in range(200):
        slope = rng.choice([0.0, 0.1, 1.0, -0.5, 2.0], size=5)
        lo = rng.normal(size=5) * 3
        hi = lo + rng.random(5) * 3
        out_lo, out_hi = act_interval(slope, lo, hi)
        z = rng.uniform(lo, hi, (200, 5))
        act = np.where(z >= 0, z, slope * z)
        assert np.all(act >= out_lo) and np.all(act <= out_hi)


# ----------------------------------------------------------------- equivalence
def test_epsilon_queries_identical_and_shifted():
    rng = np.random.default_rng(10)
    f = random_net(rng, n_in=3, depth=2, n_out=2)
    qs = encode_equivalence(f, f, (-np.ones(3), np.ones(3)), "epsilon")
    assert len(qs) == 4 and {(q.i, q.direction) for q in qs} == {(0, 1), (0, -1), (1, 1), (1, -1)}
    for q in qs:
        r = solve_highs(q.model)
        assert r.status == "optimal" and abs(r.objective) <= 1e-6
    # g = f + 0.125 on output 1 (exact shift of the last bias)
    last = f.layers[-1]
    g = PwlNet(f.layers[:-1] + (PwlLayer.make(last.weight, last.bias + [0.0, 0.125], last.slope),),
               f.input_shape, f.output_shape)
    for q in encode_equivalence(f, g, (-np.ones(3), np.ones(3)), "epsilon", outputs=[1]):
        r = solve_highs(q.model)
        assert r.objective == pytest.approx(-0.125 * q.direction, abs=1e-6)
    # LP mode is a relaxation: never below
    for q, ql in zip(encode_equivalence(f, g, (-np.ones(3), np.ones(3)), "epsilon"),
                     encode_equivalence(f, g, (-np.ones(3), np.ones(3)), "epsilon", mode="lp")):
        assert solve_highs(ql.model).objective >= solve_highs(q.model).objective - 1e-7


def test_epsilon_counterexample_is_real():
    rng = np.random.default_rng(11)
    f = random_net(rng, n_in=3, depth=2, n_out=2)
    g = random_net(rng, n_in=3, depth=2, n_out=2)
    for q in encode_equivalence(f, g, (-np.ones(3), np.ones(3)), "epsilon"):
        r = solve_highs(q.model)
        x = r.x[q.encoding.inputs]
        diff = q.direction * (f.evaluate(x)[0, q.i] - g.evaluate(x)[0, q.i])
        assert diff == pytest.approx(r.objective, abs=1e-6)
        samples = rng.uniform(-1, 1, (3000, 3))
        assert r.objective >= (q.direction * (f.evaluate(samples)[:, q.i]
                                              - g.evaluate(samples)[:, q.i])).max() - 1e-7


def test_top1_queries():
    rng = np.random.default_rng(12)
    f = random_net(rng, n_in=2, depth=2, n_out=3)
    box = (-np.ones(2), np.ones(2))
    qs = encode_equivalence(f, f, box, "top1")
    assert len(qs) == 6 and {(q.i, q.j) for q in qs} == {(i, j) for i in range(3) for j in range(3)
                                                         if i != j}
    for q in qs:
        r = solve_highs(q.model)
        assert r.status in ("optimal", "infeasible")
        if r.status == "optimal":
            assert r.objective <= 1e-6          # same network: g never prefers another class
    # g = f with outputs 0 and 1 swapped: wherever f picks 0, g prefers 1
    last = f.layers[-1]
    perm = [1, 0, 2]
    swapped = PwlLayer.make(last.weight[perm], last.bias[perm], last.slope[perm])
    g = PwlNet(f.layers[:-1] + (swapped,), f.input_shape, f.output_shape)
    xs = rng.uniform(-1, 1, (5000, 2))
    fx, gx = f.evaluate(xs), g.evaluate(xs)
    for q in encode_equivalence(f, g, box, "top1"):
        r = solve_highs(q.model)
        picks = fx.argmax(1) == q.i
        if picks.any():
            assert r.status == "optimal"
            assert r.objective >= (gx[picks, q.j] - gx[picks, q.i]).max() - 1e-7
        if r.status == "optimal" and r.objective > 1e-6:
            x = r.x[q.encoding.inputs]
            fv, gv = f.evaluate(x)[0], g.evaluate(x)[0]
            assert fv[q.i] >= fv.max() - 1e-6 and gv[q.j] - gv[q.i] == pytest.approx(r.objective,
                                                                                        abs=1e-6)


def test_top1_restricted_outputs():
    rng = np.random.default_rng(14)
    f = random_net(rng, n_in=2, depth=2, n_out=4)
    qs = encode_equivalence(f, f, (-np.ones(2), np.ones(2)), "top1", outputs=[0, 2])
    assert {(q.i, q.j) for q in qs} == {(0, 2), (2, 0)}
    # region of i = 0 only compares with output 2
    for q in qs:
        assert q.model.n_rows == qs[0].model.n_rows
        r = solve_highs(q.model)
        if r.status == "optimal":
            x = r.x[q.encoding.inputs]
            fv = f.evaluate(x)[0]
            assert fv[q.i] >= fv[[0, 2]].max() - 1e-6
    with pytest.raises(ValueError):
        encode_equivalence(f, f, (-np.ones(2), np.ones(2)), "top1", outputs=[0, 4])


def test_equivalence_validation():
    rng = np.random.default_rng(13)
    f = random_net(rng, n_in=2, depth=1, n_out=2)
    g = random_net(rng, n_in=2, depth=1, n_out=3)
    with pytest.raises(ValueError):
        encode_equivalence(f, g, (-1, 1), "epsilon")
    soft = PwlNet(f.layers, f.input_shape, f.output_shape, softmax_output=True)
    with pytest.raises(ValueError):
        encode_equivalence(soft, f, (-1, 1), "epsilon")
    assert len(encode_equivalence(soft, f, (-1, 1), "top1")) == 2
    with pytest.raises(ValueError):
        encode_equivalence(f, f, (1, -1), "epsilon")
    with pytest.raises(ValueError):
        encode_equivalence(f, f, (-1, 1), "l2")
