"""LP leaves of branch and bound: the differential LP (``nnequiv/checker/diff_lp.py``,
``proofs/diff_lp.md``) contains every real point of a region, its safe dual bound dominates
sampled deviations and the exact MILP optimum, and ``bab_tree`` certificates with ``lp`` leaves
verify -- and are rejected, naming the item, once tampered with."""

from __future__ import annotations

import copy
from fractions import Fraction

import numpy as np
import pytest

from nnequiv.checker import verify
from nnequiv.checker.diff_lp import diff_lp, lp_objectives, zonotope_bounds
from nnequiv.checker.diffzono import aligned_layers, analyze
from nnequiv.engine.check import check
from nnequiv.engine.lp_leaf import _solve, try_lp_leaf
from nnequiv.solvers.model import MilpModel
from nnequiv.lowering import to_pwl
from nnequiv.solvers import encode_equivalence, solve_highs
from nnequiv.solvers.highs_backend import loaded_highs
from nnequiv.spec.box import Box
from nnequiv.spec.relation import Relation
from tests.helpers.pairs import mlp, random_layers


def _pair(seed: int, widths, noise: float = 0.05, prune: float = 0.3):
    rng = np.random.default_rng(seed)
    layers = random_layers(rng, widths)
    changed = [(w + noise * rng.normal(size=w.shape) * (rng.random(w.shape) < prune), b) for w, b in layers]
    return mlp(layers), mlp(changed, name="g")


def _region(rng, f, g, n_in, n_splits):
    """A random sub-box of [-1, 1]^n with phase splits taken from a random point (so it is not empty)."""
    centre = rng.uniform(-0.8, 0.8, n_in)
    half = rng.uniform(0.05, 0.3, n_in)
    lower, upper = np.maximum(centre - half, -1.0), np.minimum(centre + half, 1.0)
    fl, gl = aligned_layers(f, g)
    witness = rng.uniform(lower, upper)
    pre = {"f": _forward(fl, witness[None])[1], "g": _forward(gl, witness[None])[1]}
    splits = {}
    for _ in range(n_splits):
        net = "fg"[rng.integers(2)]
        k = int(rng.integers(len(fl) - 1))
        j = int(rng.integers(fl[k].n_out))
        splits[(net, k, j)] = 1 if pre[net][k][0, j] >= 0 else -1
    return lower, upper, splits


def _forward(layers, x):
    zs, h = [], x
    for layer in layers:
        z = layer.pre_activation(h)
        zs.append(z)
        h = layer.activate(z)
    return h, zs


def _in_region(fl, gl, x, splits):
    pre = {"f": _forward(fl, x)[1], "g": _forward(gl, x)[1]}
    keep = np.ones(len(x), dtype=bool)
    for (net, k, j), side in splits.items():
        keep &= pre[net][k][:, j] * side >= 0
    return keep


def _lp_of(f, g, lower, upper, splits):
    fl, gl = aligned_layers(f, g)
    analysis = analyze(f, g, lower, upper, splits)
    bounds = [tuple(None if b is None else (b[0][0], b[1][0]) for b in layer) for layer in analysis.layer_bounds]
    return diff_lp(fl, gl, lower, upper, bounds, splits), analysis, fl, gl


def _exact_point(layers_f, layers_g, x):
    """The LP column vector of input ``x`` with every value an exact rational."""
    column = [Fraction(v) for v in x]
    hf, hg = list(column), list(column)
    for lf, lg in zip(layers_f, layers_g):
        for layer, h, tag in ((lf, hf, "f"), (lg, hg, "g")):
            z = [sum((Fraction(w) * v for w, v in zip(row, h)), Fraction(b)) for row, b in zip(layer.weight, layer.bias)]
            y = [zi if zi >= 0 or s == 1.0 else Fraction(0) for zi, s in zip(z, layer.slope)]
            column += z + y
            if tag == "f":
                hf = y
            else:
                hg = y
    return column


@pytest.mark.parametrize("seed", range(4))
def test_lp_rows_hold_exactly_at_sampled_points(seed):
    """Every row and column bound of the LP holds, in exact arithmetic, at the exact image of
    sampled points of the region (the cuts never exclude a real point)."""
    f, g = (to_pwl(n) for n in _pair(seed, [3, 6, 6, 2]))
    rng = np.random.default_rng(100 + seed)
    lower, upper, splits = _region(rng, f, g, 3, n_splits=2)
    lp, analysis, fl, gl = _lp_of(f, g, lower, upper, splits)
    assert not analysis.infeasible[0]
    x = rng.uniform(lower, upper, (4000, 3))
    x = x[_in_region(fl, gl, x, splits)][:150]
    assert len(x) > 20
    nonzero = [np.flatnonzero(row) for row in lp.matrix]
    for point in x:
        v = _exact_point(fl, gl, point)
        for j, value in enumerate(v):
            assert Fraction(lp.col_lo[j]) <= value <= Fraction(lp.col_hi[j]), f"column {j}"
        for r, cols in enumerate(nonzero):
            a = sum((Fraction(lp.matrix[r, j]) * v[j] for j in cols), Fraction(0))
            assert (lp.row_lo[r] == -np.inf or a >= Fraction(lp.row_lo[r])) and \
                   (lp.row_hi[r] == np.inf or a <= Fraction(lp.row_hi[r])), f"row {r}"


@pytest.mark.parametrize("seed", range(3))
def test_safe_bound_dominates_sampled_deviations(seed):
    f, g = (to_pwl(n) for n in _pair(seed, [4, 12, 12, 3], noise=0.1))
    rng = np.random.default_rng(200 + seed)
    for n_splits in (0, 3):
        lower, upper, splits = _region(rng, f, g, 4, n_splits)
        lp, analysis, fl, gl = _lp_of(f, g, lower, upper, splits)
        x = rng.uniform(lower, upper, (5000, 4))
        x = x[_in_region(fl, gl, x, splits)]
        deviation = _forward(gl, x)[0] - _forward(fl, x)[0]
        highs = loaded_highs(MilpModel.from_relaxation(lp), {"threads": 1})
        previous = None
        for output, sign in lp_objectives(None, 3):
            multipliers = _solve(highs, lp, output, sign, previous, 10.0)
            previous = (output, sign)
            bound = lp.safe_bound(output, sign, multipliers)
            assert bound >= (sign * deviation[:, output]).max()


@pytest.mark.parametrize("seed", range(3))
def test_safe_bound_dominates_the_milp_optimum(seed):
    """On tiny pairs the safe LP bound is at least the deviation at the MILP's optimal point
    (evaluated exactly) on the whole box."""
    f, g = (to_pwl(n) for n in _pair(seed, [2, 5, 5, 2], noise=0.2))
    lower, upper = -np.ones(2), np.ones(2)
    lp, _, fl, gl = _lp_of(f, g, lower, upper, {})
    queries = encode_equivalence(f, g, (lower, upper), "epsilon")
    highs = loaded_highs(MilpModel.from_relaxation(lp), {"threads": 1})
    previous = None
    for query in queries:
        sign = -float(query.direction)          # direction 1 maximises f - g
        result = solve_highs(query.model, threads=1)
        assert result.status == "optimal"
        x = np.asarray(result.x)[:2]
        point = _exact_point(fl, gl, np.clip(x, lower, upper))
        exact = sign * (point[lp.g_out[query.i]] - point[lp.f_out[query.i]])
        multipliers = _solve(highs, lp, query.i, sign, previous, 10.0)
        previous = (query.i, sign)
        bound = lp.safe_bound(query.i, sign, multipliers)
        assert Fraction(bound) >= exact
        assert bound >= result.objective - 1e-7 * (1 + abs(result.objective))


def test_row_structure_depends_only_on_the_networks():
    """Multiplier indices must mean the same rows in the search and in the checker: two regions
    with different bounds and splits give the same rows; every neuron pair with the same
    activation gets two difference cuts (proofs/diff_lp.md)."""
    f, g = (to_pwl(n) for n in _pair(0, [3, 4, 5, 2]))
    rng = np.random.default_rng(7)
    first, *_ = _lp_of(f, g, -np.ones(3), np.ones(3), {})
    lower, upper, splits = _region(rng, f, g, 3, n_splits=3)
    second, *_ = _lp_of(f, g, lower, upper, splits)
    neurons = 4 + 5 + 2
    assert first.matrix.shape == second.matrix.shape == (2 * 3 * neurons + 2 * neurons, 3 + 4 * neurons)
    np.testing.assert_array_equal(np.isinf(first.row_hi), np.isinf(second.row_hi))


def test_leaky_relu_pairs_are_not_lp_leaves():
    f, g = _pair(0, [3, 4, 2])
    leaky = to_pwl(mlp([(w, b) for w, b in zip(*_weights(f))], activation="LeakyRelu"))
    fl, gl = aligned_layers(to_pwl(f), leaky)
    with pytest.raises(ValueError, match="Relu and linear"):
        diff_lp(fl, gl, -np.ones(3), np.ones(3), [((l, l), (l, l), None) for l in
                                                  (-np.ones(4), -np.ones(2))], {})


def _weights(net):
    pwl = to_pwl(net)
    return [layer.weight for layer in pwl.layers], [layer.bias for layer in pwl.layers]


# ------------------------------------------------------------------ round trip and tampering
@pytest.fixture(scope="module")
def lp_certificate():
    f, g = _pair(3, [4, 20, 20, 3], noise=0.02)
    with pytest.MonkeyPatch.context() as patch:       # a 4-input pair: LP leaves are off there by default
        patch.setattr("nnequiv.engine.bab.LP_ON_NARROW_INPUTS", True)
        verdict = check(f, g, Box.uniform(-1, 1, 4), Relation.epsilon(0.2), timeout=60)
    assert verdict.verdict == "equivalent", verdict.stats
    assert verdict.stats["lp_closed"] > 0
    return verdict.certificate, f, g


def _nodes(tree, path="steps/0/tree"):
    stack = [(tree, path, ())]
    while stack:
        node, at, ancestors = stack.pop()
        yield node, at, ancestors
        for i, child in enumerate(node.get("children", ())):
            stack.append((child, f"{at}/children/{i}", ancestors + ((node, at),)))


def _lp_leaf(certificate):
    for node, at, ancestors in _nodes(certificate["steps"][0]["tree"]):
        if node.get("leaf") == "lp" and any(m is not None for m in node["multipliers"]):
            return node, at, ancestors
    raise AssertionError("no lp leaf with multipliers")


def test_certificate_with_lp_leaves_verifies(lp_certificate):
    certificate, f, g = lp_certificate
    report = verify(certificate, f, g)
    assert report.valid, report.problems
    leaves = [n for n, _, _ in _nodes(certificate["steps"][0]["tree"]) if "leaf" in n]
    assert sum(n["leaf"] == "lp" for n in leaves) >= 1


def _scale_values(node):
    entry = next(m for m in node["multipliers"] if m is not None)
    entry["values"] = [(-float.fromhex(v)).hex() for v in entry["values"]]


def _shorten_vector(node):
    entry = next(m for m in node["multipliers"] if m is not None)
    entry["values"] = entry["values"][:-1]


def _drop_vector(node):
    node["multipliers"] = node["multipliers"][:-1]


def _to_bound_leaf(node):
    node["leaf"] = "bound"
    del node["multipliers"]


def _to_null(node):
    index = next(i for i, m in enumerate(node["multipliers"]) if m is not None)
    node["multipliers"][index] = None


TAMPERS = {"negated multipliers": (_scale_values, "/multipliers/"), "shortened vector": (_shorten_vector, "/multipliers/"),
           "dropped vector": (_drop_vector, "/multipliers"), "lp leaf as bound leaf": (_to_bound_leaf, ""),
           "multipliers replaced by the zonotope": (_to_null, "/multipliers/")}


@pytest.mark.parametrize("name", sorted(TAMPERS))
def test_tampered_lp_leaf_is_rejected_naming_it(lp_certificate, name):
    certificate, f, g = lp_certificate
    edit, suffix = TAMPERS[name]
    tampered = copy.deepcopy(certificate)
    node, at, _ = _lp_leaf(tampered)
    edit(node)
    problems = [str(p) for p in verify(tampered, f, g).problems]
    assert any(p.startswith(at + suffix) for p in problems), problems


def test_changed_split_above_an_lp_leaf_is_rejected(lp_certificate):
    """A relu split above an lp leaf turned to the other side of its neuron: the leaf's LP
    (rebuilt from the region) no longer has the split it was solved with."""
    certificate, f, g = lp_certificate
    tampered = copy.deepcopy(certificate)
    node, at, ancestors = _lp_leaf(tampered)
    parent, parent_at = ancestors[-1]
    parent["children"] = parent["children"][::-1]
    problems = [str(p) for p in verify(tampered, f, g).problems]
    assert any(p.startswith(parent_at) for p in problems), problems


def test_try_lp_leaf_closes_only_on_the_safe_bound():
    """An eps below the true deviation is never closed, whatever the solver reports."""
    f, g = (to_pwl(n) for n in _pair(1, [3, 8, 8, 2], noise=0.1))
    lower, upper = -0.2 * np.ones(3), 0.2 * np.ones(3)
    fl, gl = aligned_layers(f, g)
    analysis = analyze(f, g, lower, upper, {})
    bounds = [tuple(None if b is None else (b[0][0], b[1][0]) for b in layer) for layer in analysis.layer_bounds]
    x = np.random.default_rng(0).uniform(lower, upper, (5000, 3))
    true = np.abs(_forward(gl, x)[0] - _forward(fl, x)[0]).max()
    zono = zonotope_bounds(analysis, 0, None)
    below = try_lp_leaf(fl, gl, lower, upper, bounds, {}, None, true * 0.99, zono, deadline=1e18)
    assert not below.closed
    loose = try_lp_leaf(fl, gl, lower, upper, bounds, {}, None, max(zono) * 2, zono, deadline=1e18)
    assert loose.closed and loose.value <= max(zono)
