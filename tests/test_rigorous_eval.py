"""Rigorous point evaluation (nnequiv.rigorous, proofs/rigorous_eval.md): the enclosures contain
the exact rational outputs of :func:`nnequiv.interpret.evaluate_exact` and are ~1e-30 relative
wide; every slice product of the operand splitting is exact; a splitting one bit too wide is
caught; a large-model counterexample is confirmed by the enclosures instead of float64."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from nnequiv.errors import UnsupportedOpError
from nnequiv.interpret import evaluate_exact
from nnequiv.ir import Network, Node, TensorSpec
from nnequiv.rigorous import decide, evaluate_enclosure, ozaki
from nnequiv.rigorous.expansion import Enclosure, point
from nnequiv.spec.relation import Relation
from tests.helpers.models import random_cnn, random_mlp


def _pool_cnn(rng: np.random.Generator) -> Network:
    """Conv BN LeakyRelu AveragePool(3, stride 2, pad 1) Conv Relu MaxPool(3, 2, pad 1) + skip
    Add, GlobalAveragePool, Flatten, Gemm on a 2x9x9 input."""
    f32 = np.float32
    init = {"w1": rng.normal(0, 0.4, (3, 2, 3, 3)).astype(f32), "b1": rng.normal(0, 0.2, 3).astype(f32),
            "g": rng.uniform(0.5, 1.5, 3).astype(f32), "beta": rng.normal(0, 0.2, 3).astype(f32),
            "mean": rng.normal(0, 0.2, 3).astype(f32), "var": rng.uniform(0.5, 2.0, 3).astype(f32),
            "w2": rng.normal(0, 0.4, (3, 3, 3, 3)).astype(f32), "fc": rng.normal(0, 0.5, (4, 3)).astype(f32),
            "fb": rng.normal(0, 0.2, 4).astype(f32)}
    window = {"kernel_shape": (3, 3), "strides": (2, 2), "pads": (1, 1, 1, 1)}
    nodes = [Node("c1", "Conv", ("x", "w1", "b1"), ("c1",), {"kernel_shape": (3, 3), "pads": (1, 1, 1, 1)}),
             Node("bn", "BatchNormalization", ("c1", "g", "beta", "mean", "var"), ("bn",), {"epsilon": 1e-5}),
             Node("act", "LeakyRelu", ("bn",), ("act",), {"alpha": 0.1}),
             Node("avg", "AveragePool", ("act",), ("avg",), window),
             Node("c2", "Conv", ("avg", "w2"), ("c2",), {"kernel_shape": (3, 3), "pads": (1, 1, 1, 1)}),
             Node("relu", "Relu", ("c2",), ("relu",)),
             Node("skip", "Add", ("relu", "avg"), ("skip",)),
             Node("max", "MaxPool", ("skip",), ("max",), window),
             Node("gap", "GlobalAveragePool", ("max",), ("gap",)),
             Node("flat", "Flatten", ("gap",), ("flat",), {"axis": 1}),
             Node("fc", "Gemm", ("flat", "fc", "fb"), ("y",), {"transB": 1})]
    return Network.create(inputs=(TensorSpec("x", (1, 2, 9, 9), "float32", (0,)),),
                          outputs=(TensorSpec("y", (1, 4), "float32", (0,)),), nodes=nodes, initializers=init)


def _positive_gemm(rng: np.random.Generator) -> Network:
    """One Gemm with 1024 positive weights per row: slice sums reach 2**53 (the splitting's limit)."""
    init = {"w": rng.uniform(0.5, 1.0, (3, 1024)).astype(np.float32), "b": np.zeros(3, np.float32)}
    return Network.create(inputs=(TensorSpec("x", (1, 1024), "float32", (0,)),),
                          outputs=(TensorSpec("y", (1, 3), "float32", (0,)),),
                          nodes=[Node("fc", "Gemm", ("x", "w", "b"), ("y",), {"transB": 1})], initializers=init)


def _matmul_gemm(rng: np.random.Generator) -> Network:
    """MatMul by a constant, Sub of a constant, Gemm with alpha 0.5 and beta 2 (no transB), Div."""
    f32 = np.float32
    init = {"m": rng.normal(0, 0.5, (5, 4)).astype(f32), "s": rng.normal(0, 1, 4).astype(f32),
            "w": rng.normal(0, 0.5, (4, 3)).astype(f32), "c": rng.normal(0, 1, 3).astype(f32),
            "d": np.array([3.0, -7.0, 0.1], f32)}
    nodes = [Node("mm", "MatMul", ("x", "m"), ("mm",)), Node("sub", "Sub", ("mm", "s"), ("sub",)),
             Node("gemm", "Gemm", ("sub", "w", "c"), ("gemm",), {"alpha": 0.5, "beta": 2.0}),
             Node("div", "Div", ("gemm", "d"), ("y",))]
    return Network.create(inputs=(TensorSpec("x", (1, 5), "float32", (0,)),),
                          outputs=(TensorSpec("y", (1, 3), "float32", (0,)),), nodes=nodes, initializers=init)


def _networks(seed: int) -> list[tuple[Network, tuple[float, float]]]:
    rng = np.random.default_rng(seed)
    return [(random_mlp(rng, [6, 10, 10, 3], activation="LeakyRelu", input_mean=[0.1] * 6, input_range=[3.0] * 6,
                        output_scale=1.5, output_shift=-0.25), (-1.0, 1.0)),
            (random_mlp(rng, [5, 12, 8, 4]), (-2.0, 2.0)),
            (random_cnn(rng, image=(2, 6, 6)), (-1.0, 1.0)),
            (_pool_cnn(rng), (-1.0, 1.0)),
            (_matmul_gemm(rng), (-3.0, 3.0)),
            (_positive_gemm(rng), (0.5, 1.0))]


def _midpoint(enc: Enclosure, i: int) -> Fraction:
    return sum((Fraction(float(limb.ravel()[i])) for limb in enc.limbs), Fraction(0))


def _check_contains(net: Network, x: np.ndarray) -> tuple[bool, float]:
    """Whether the enclosure contains every exact output, and its width relative to max |output|."""
    enc = evaluate_enclosure(net, x)
    exact = evaluate_exact(net, x).values.ravel()   # BatchNorm's sqrt: 256 bits, far below the radii
    inside = all(abs(Fraction(exact[i]) - _midpoint(enc, i)) <= Fraction(float(enc.radius.ravel()[i]))
                 for i in range(exact.size))
    scale = max(abs(Fraction(v)) for v in exact)
    return inside, float(Fraction(float(np.max(enc.radius))) / scale)


@pytest.mark.parametrize("seed", range(3))
def test_enclosures_contain_the_exact_outputs_and_are_tiny(seed):
    rng = np.random.default_rng(100 + seed)
    for net, (lo, hi) in _networks(seed):
        for _ in range(4):
            x = rng.uniform(lo, hi, net.input.size)
            inside, width = _check_contains(net, x)
            assert inside, (net.name, seed)
            assert width < 1e-20, (net.name, width)   # plain float64 gives ~1e-16


def test_enclosures_contain_a_torch_densenet_with_concat_and_pools():
    torch = pytest.importorskip("torch")
    from tests.helpers.torch_families import build

    from nnequiv.torch_io import from_torch
    model = build("densenet", "small", seed=1)
    net = from_torch(model, torch.zeros(1, 3, 8, 8))
    assert {"Concat", "AveragePool", "MaxPool", "BatchNormalization"} <= {n.op for n in net.nodes}
    x = np.random.default_rng(7).uniform(0, 1, net.input.size)
    inside, width = _check_contains(net, x)
    assert inside and width < 1e-20


# ------------------------------------------------------------------- slice exactness (Lemmas 5-7)
def _wide_matrix(rng: np.random.Generator, rows: int, k: int) -> np.ndarray:
    a = rng.normal(size=(rows, k)) * 2.0 ** rng.integers(-40, 40, size=(rows, k))
    a[rng.random((rows, k)) < 0.1] = 0.0
    return a


def _fraction_matmul(a: np.ndarray, b: np.ndarray) -> list[list[Fraction]]:
    fa = [[Fraction(float(v)) for v in row] for row in a]
    fb = [[Fraction(float(v)) for v in row] for row in b]
    return [[sum((p * q for p, q in zip(ra, rb)), Fraction(0)) for rb in fb] for ra in fa]


@pytest.mark.parametrize("k", [1, 7, 300, 1024])
def test_every_slice_product_is_exact(k):
    rng = np.random.default_rng(k)
    beta = ozaki.slice_bits(k)
    assert 2 * beta + int(np.ceil(np.log2(k))) <= 53
    a, b = _wide_matrix(rng, 2, k), _wide_matrix(rng, 2, k)
    sa, sb = ozaki.split(a, beta, 4), ozaki.split(b, beta, 4)
    for s in (sa, sb):
        total = s.rest.astype(object) + sum(piece.astype(object) for piece in s.slices)
        assert all(Fraction(float(p)) == Fraction(float(q)) for p, q in zip(total.ravel(), a.ravel())) or s is sb
    for ai in sa.slices[:3]:
        for bj in sb.slices[:3]:
            assert (ai @ bj.T).tolist() == [[float(v) for v in row] for row in _fraction_matmul(ai, bj)]
            assert [[Fraction(v) for v in row] for row in (ai @ bj.T).tolist()] == _fraction_matmul(ai, bj)


def test_exact_matmul_error_bound_holds():
    rng = np.random.default_rng(5)
    w, hi = _wide_matrix(rng, 3, 50), rng.normal(size=(2, 50))
    lo = hi * 2.0 ** -60 * rng.normal(size=hi.shape)
    terms, err, _ = ozaki.exact_matmul((hi, lo), w)
    exact = _fraction_matmul(hi.astype(object) + 0, w)
    exact_lo = _fraction_matmul(lo, w)
    for p in range(2):
        for r in range(3):
            got = sum((Fraction(float(t[p, r])) for t in terms), Fraction(0))
            assert abs(exact[p][r] + exact_lo[p][r] - got) <= Fraction(float(err[p, r]))


def test_a_slice_one_bit_too_wide_gives_an_inexact_product():
    """The exactness condition is tight: k = 1023 maximal odd slices of beta + 1 bits sum to an
    odd integer above 2**53, which no float64 holds (in any summation order); beta bits fit."""
    k = 1023
    beta = ozaki.slice_bits(k)
    for bits, exact in ((beta, True), (beta + 1, False)):
        a = np.full((1, k), float(2 ** bits - 1))
        assert (Fraction(float((a @ a.T)[0, 0])) == _fraction_matmul(a, a)[0][0]) is exact


def test_a_too_wide_splitting_is_caught_by_the_containment_test(monkeypatch):
    """With slices one bit too wide the positive Gemm's slice products round, and the enclosure
    misses the exact value (random-sign layers stay far from 2**53 and are not caught)."""
    width = ozaki.slice_bits
    monkeypatch.setattr(ozaki, "slice_bits", lambda k: width(k) + 1)
    rng = np.random.default_rng(3)
    misses = 0
    for net, (lo, hi) in _networks(0):
        for _ in range(2):
            inside, _ = _check_contains(net, rng.uniform(lo, hi, net.input.size))
            misses += not inside
    assert misses > 0


# ------------------------------------------------------------------- deciding a relation
def test_decide_proves_eps_and_top1_violations_and_satisfaction():
    f = Enclosure((np.array([1.0, 0.5]), np.array([2.0 ** -60, 0.0])), np.array([1e-30, 1e-30]))
    g = Enclosure((np.array([1.0, 0.75]), np.zeros(2)), np.zeros(2))
    d = decide(f, g, Relation.epsilon(0.2))
    assert d.violated and 0.25 - 2.0 ** -50 <= d.deviation_lower < 0.25 and d.deviation == 0.25
    assert decide(f, g, Relation.epsilon(0.3)).satisfied
    assert decide(f, f, Relation.top1()).satisfied and not decide(f, f, Relation.top1()).violated
    swapped = Enclosure((np.array([0.5, 1.0]), np.zeros(2)), np.zeros(2))
    assert decide(f, swapped, Relation.top1()).violated
    tied = Enclosure((np.array([1.0, 1.0]), np.zeros(2)), np.array([0.0, 1e-300]))
    assert not decide(tied, swapped, Relation.top1()).violated   # tied's argmax set is not proved


def test_unsupported_ops_are_refused_by_name():
    net = Network.create(inputs=(TensorSpec("x", (1, 3)),), outputs=(TensorSpec("y", (1, 3)),),
                         nodes=[Node("s", "Softmax", ("x",), ("y",), {"axis": 1})], initializers={})
    with pytest.raises(UnsupportedOpError, match="Softmax"):
        evaluate_enclosure(net, np.zeros(3))
    assert point(np.ones(2)).lower().tolist() == [1.0, 1.0]


# ------------------------------------------------------------------- a large-model counterexample
def test_signed_sum_channel_removal_is_confirmed_by_rigorous_enclosures(tmp_path, monkeypatch):
    """torch-simplify drops a live VGG channel whose weights sum to zero; on a 32x32 image with the
    numeric engine's budget forced down, the search-only stage's counterexample is now PROVED by
    the enclosures (replay "rigorous", proved lower bound), and the exact rational outputs lie
    inside the enclosures and above the proved deviation."""
    pytest.importorskip("torch")
    from nnequiv.engine.check import check
    from nnequiv.loading import load
    from tests.helpers import third_party
    from tests.helpers.torch_families import build, export, signed_sum_channel, zero_channels

    model = build("vgg", "small", seed=3)
    zero_channels(model, "vgg", 0.5, seed=4)
    signed_sum_channel(model, "vgg", 3)
    reduced = third_party.simplified(model, 32)
    if reduced is None:
        pytest.skip("torch-simplify is not installed")
    export(model, tmp_path / "a.onnx", 32)
    export(reduced, tmp_path / "b.onnx", 32)
    f, g = load(tmp_path / "a.onnx"), load(tmp_path / "b.onnx")
    verdict = check(f, g, box=(0.0, 1.0), timeout=30, dense_budget=1000)
    assert verdict.verdict == "not_equivalent" and verdict.stats["stage"] == "falsification_search", verdict.stats
    cex = verdict.counterexample
    assert cex.replay == "rigorous" and not cex.exact and "rigorous" in verdict.stats["counterexample_replay"]
    assert verdict.lower == cex.deviation_lower > 0 and cex.to_json()["replay"] == "rigorous"
    x = np.array(cex.input)
    fe, ge = evaluate_exact(f, x).values.ravel(), evaluate_exact(g, x).values.ravel()
    exact = max(abs(Fraction(a) - Fraction(b)) for a, b in zip(fe, ge))
    assert Fraction(cex.deviation_lower) <= exact <= Fraction(cex.deviation_lower) * (1 + Fraction(1, 10 ** 12))
    # when the enclosures would not fit in the time left, the float64 replay is used and labelled
    from nnequiv.engine import falsify_large

    monkeypatch.setattr(falsify_large, "RIGOROUS_SECONDS_PER_FLOP", 1.0)
    slow = check(f, g, box=(0.0, 1.0), timeout=30, dense_budget=1000)
    assert slow.stats["rigorous_replay"].startswith("skipped: the enclosures would take")
    assert slow.verdict == "unknown" or (slow.counterexample.replay == "float64" and slow.lower is None)


def _with_softmax(net: Network) -> Network:
    last = net.nodes[-1]
    nodes = net.nodes[:-1] + (Node(last.name, last.op, last.inputs, ("logits",), last.attrs),
                              Node("softmax", "Softmax", ("logits",), (net.output.name,), {"axis": -1}))
    return net.replace(nodes=nodes)


def test_falsify_large_proves_rigorously_or_falls_back_to_float64():
    """Perturbed MLP: the counterexample is proved by enclosures; with a final Softmax (no rule)
    it falls back to the float64 label; identical models: the enclosures prove the relation holds."""
    from nnequiv.engine.falsify_large import falsify_large

    f = random_mlp(np.random.default_rng(11), [4, 8, 3])
    weights = dict(f.initializers)
    weights["w1"] = weights["w1"] + np.float32(0.5)
    g = f.replace(initializers=weights)
    lower, upper = np.full(4, -1.0), np.full(4, 1.0)
    run = lambda a, b, relation: falsify_large(a, b, lower, upper, relation, np.random.default_rng(0), steps=3)
    cex = run(f, g, Relation.epsilon(1e-3))
    assert cex.replay == "rigorous" and 1e-3 < cex.deviation_lower <= cex.deviation * (1 + 1e-12)
    x = np.array(cex.input)
    exact = max(abs(Fraction(a) - Fraction(b)) for a, b in zip(evaluate_exact(f, x).values.ravel(),
                                                                evaluate_exact(g, x).values.ravel()))
    assert Fraction(cex.deviation_lower) <= exact
    fallback = run(_with_softmax(f), _with_softmax(g), Relation.epsilon(1e-3))
    assert fallback.replay == "float64" and fallback.deviation_lower is None
    assert run(f, f, Relation.epsilon(0.0)) is None
