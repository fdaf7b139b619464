"""Phase split trees (``proofs/phase_tree.md``): the trusted checker on hand-built trees, the
untrusted search (:mod:`nnequiv.passes.stable_bab`), the pass emitting trees for MILP-only
neurons, tampering, and soundness by sampling."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from nnequiv.checker import verify
from nnequiv.checker.lp_dual import safe_max, triangle_lp
from nnequiv.checker.net_bounds import bounds_over
from nnequiv.checker.phase_tree import (MAX_TREE_DEPTH, MAX_TREE_LEAVES, Leaf, PhaseTree, Split, child_bounds,
                                        tree_proofs)
from nnequiv.checker.rewrites import RewriteError
from nnequiv.checker.stable_relu import StableLayer, activation_layers, stable_relu
from nnequiv.lowering import to_pwl
from nnequiv.passes import PassOptions
from nnequiv.passes.pipeline import compress
from nnequiv.passes.stable import stable_with
from nnequiv.passes.stable_bab import LayerSplit, as_phase_tree, prove_phase
from nnequiv.passes.stable_search import SearchSettings
from nnequiv.solvers import MilpModel, solve_highs
from nnequiv.spec.box import Box
from tests.helpers.pairs import mlp, random_layers
from tests.test_passes_stable import equal_on_box

BOX1 = Box.uniform(-1.0, 1.0, 1)
BOX5 = Box.uniform(-1.0, 1.0, 5)
MILP = dict(milp_seconds=120.0, milp_budget=600.0)     # generous: a busy machine must not leave "unknown"


def kink_net():
    """x in [-1, 1]; a = relu(x), b = relu(x - 1/2); layer 1 neuron 0: a - 2 b - 5/8 <= -1/8 (never active),
    though the zonotope and the triangle LP both allow +1/8; neuron 1: a + b - 1/8 (unstable)."""
    return mlp([(np.array([[1.0], [1.0]]), np.array([0.0, -0.5])),
                (np.array([[1.0, -2.0], [1.0, 1.0]]), np.array([-0.625, -0.125])),
                (np.array([[1.0, 1.0]]), np.zeros(1))])


def shifted_net(seed):
    rng = np.random.default_rng(seed)
    return mlp([(w, b + rng.normal(0, 0.7, b.shape)) for w, b in random_layers(rng, [5, 8, 8, 2])])


def _box(box):
    return np.asarray(box.lower, np.float64), np.asarray(box.upper, np.float64)


def _activations(net):
    return sorted(activation_layers(net), key=activation_layers(net).get)


def _tree(net, box, k, j, phase, seconds=20.0):
    pwl, (lower, upper) = to_pwl(net), _box(box)
    bounds = bounds_over(pwl, [(lower, upper)], k + 1)
    outcome = prove_phase(pwl, k, j, 1.0 if phase == "inactive" else -1.0, lower, upper, bounds, seconds, 4000)
    return outcome, pwl, bounds


# ------------------------------------------------------------------------------ checker, hand-built
def test_one_split_proves_what_one_lp_cannot():
    net = kink_net()
    pwl, (lower, upper) = to_pwl(net), _box(BOX1)
    bounds = bounds_over(pwl, [(lower, upper)], 2)
    assert bounds[1][1][0] > 0.0                                      # the zonotope does not prove it
    lp = triangle_lp(pwl, bounds, 1, lower, upper)
    c, c0 = lp.objective(0, 1.0)
    lp_max = solve_highs(MilpModel.from_relaxation(lp).with_objective((np.arange(c.size), c), c0, "max"))
    assert lp_max.objective > 0.1                 # weak duality: no multipliers of the root LP give <= 0
    relu_a = Split(1, 0, Leaf(np.zeros(0, np.int64), np.zeros(0)), Leaf(np.zeros(0, np.int64), np.zeros(0)))
    with pytest.raises(RewriteError, match="not <= 0") as error:                  # empty multipliers do not
        tree_proofs(pwl, bounds, 1, 2, lower, upper, [PhaseTree(0, "inactive", relu_a)], {1: 0, 3: 1}, "trees")
    assert error.value.item.startswith("trees/0/")
    outcome, _, _ = _tree(net, BOX1, 1, 0, "inactive")
    assert isinstance(outcome.root, LayerSplit) and outcome.leaves == 2 and outcome.root.layer == 0
    tree = as_phase_tree(0, "inactive", outcome.root, _activations(net))
    assert tree_proofs(pwl, bounds, 1, 2, lower, upper, [tree], {1: 0, 3: 1}, "trees") == {(0, "inactive")}
    result = stable_relu(net, lower, upper, [StableLayer(3, (0,), (), trees=(tree,))])
    assert result.exact and to_pwl(result.network).layers[1].n_out == 1
    equal_on_box(net, result.network, BOX1, np.random.default_rng(0))


def test_search_finds_a_witness_for_an_unstable_neuron_and_stops_at_its_caps():
    outcome, pwl, _ = _tree(kink_net(), BOX1, 1, 1, "inactive")
    assert outcome.root is None and outcome.witness is not None
    assert pwl.activations(outcome.witness[None])[1][0, 1] > 0.0
    timed_out, _, _ = _tree(kink_net(), BOX1, 1, 0, "inactive", seconds=0.0)
    assert timed_out.root is None and timed_out.witness is None


def _balanced(depth: int, leaf: Leaf):
    return leaf if depth == 0 else Split(1, 0, _balanced(depth - 1, leaf), _balanced(depth - 1, leaf))


def _wide(leaves: int, leaf: Leaf):
    node = leaf
    for _ in range(leaves - 1):
        node = Split(1, 0, leaf, node)
    return node


def test_depth_and_leaf_caps_are_enforced_before_any_lp():
    net = kink_net()
    lower, upper = _box(BOX1)
    leaf = Leaf(np.zeros(0, np.int64), np.zeros(0))
    chain = _wide(MAX_TREE_DEPTH + 2, leaf)
    with pytest.raises(RewriteError, match=f"at most {MAX_TREE_DEPTH} times") as error:
        stable_relu(net, lower, upper, [StableLayer(3, (0,), (), trees=(PhaseTree(0, "inactive", chain),))])
    assert error.value.item == "layers/0/trees/0" + "/active" * MAX_TREE_DEPTH
    half = PhaseTree(0, "inactive", _balanced(14, leaf))                     # 16384 leaves each
    with pytest.raises(RewriteError, match=f"at most {MAX_TREE_LEAVES} leaves") as error:
        stable_relu(net, lower, upper, [StableLayer(3, (0,), (), trees=(half, half))])
    assert error.value.item == "layers/0/trees/1"


def test_a_path_of_exactly_the_depth_cap_reaches_its_leaves():
    net = kink_net()
    lower, upper = _box(BOX1)
    leaf = Leaf(np.zeros(0, np.int64), np.zeros(0))          # empty multipliers: parsed, then not <= 0
    deepest = _wide(MAX_TREE_DEPTH + 1, leaf)                # MAX_TREE_DEPTH splits on its longest path
    with pytest.raises(RewriteError, match="not <= 0"):
        stable_relu(net, lower, upper, [StableLayer(3, (0,), (), trees=(PhaseTree(0, "inactive", deepest),))])


def test_child_bounds_clip_the_split_neuron_only():
    pwl, (lower, upper) = to_pwl(kink_net()), _box(BOX1)
    bounds = bounds_over(pwl, [(lower, upper)], 2)
    inactive = child_bounds(bounds, 2, ((0, 1, "inactive"),))
    active = child_bounds(bounds, 2, ((0, 1, "active"),))
    assert inactive[0][1][1] == 0.0 and active[0][0][1] == 0.0
    assert inactive[0][0][1] == bounds[0][0][1] and active[0][1][1] == bounds[0][1][1]
    for changed in (inactive, active):
        assert np.array_equal(changed[0][0][0], bounds[0][0][0]) and np.array_equal(changed[1][1], bounds[1][1])
    assert bounds[0][1][1] > 0.0 and bounds[0][0][1] < 0.0                # the caller's bounds are untouched


# ------------------------------------------------------------------------------ the pass
def test_pass_certifies_milp_only_neurons_with_trees():
    net = shifted_net(3)          # seed 3: one neuron only the MILP shows stable (tests/test_passes_stable.py)
    without = stable_with(net, PassOptions(box=BOX5), SearchSettings(tree_seconds=0.0, **MILP))
    with_trees = stable_with(net, PassOptions(box=BOX5), SearchSettings(**MILP))
    assert without.stats.details["milp_only_stable"] >= 1
    assert with_trees.stats.details["milp_only_stable"] == 0
    assert with_trees.stats.details["tree_certified"] >= without.stats.details["milp_only_stable"]
    assert with_trees.stats.applied > without.stats.applied
    # trees come before MILPs: the neuron a MILP would only have shown is certified without one
    assert without.stats.details["milp_queries"] >= 1 and with_trees.stats.details["milp_queries"] == 0
    reduced, certificate = compress(net, ["stable"], BOX5)
    report = verify(certificate, net, reduced)
    assert report.valid, report.problems
    assert any(layer.get("trees") for layer in certificate["steps"][0]["layers"])
    equal_on_box(net, reduced, BOX5, np.random.default_rng(7))
    for layer in certificate["steps"][0]["layers"]:
        layer.pop("trees", None)
    stripped = verify(certificate, net, reduced)
    assert not stripped.valid and any("not proved" in p.reason for p in stripped.problems)


# ------------------------------------------------------------------------------ tamper matrix
def _certificate():
    net = shifted_net(3)
    reduced, certificate = compress(net, ["stable"], BOX5)
    p = next(p for p, layer in enumerate(certificate["steps"][0]["layers"]) if layer.get("trees"))
    return net, reduced, certificate, p


def _first_leaf(node, path=""):
    while "split" in node:
        node, path = node["inactive"], path + "/inactive"
    return node, path


def _chain(tree, depth):
    leaf, _ = _first_leaf(tree)
    node = copy.deepcopy(leaf)
    for _ in range(depth):
        node = {"split": copy.deepcopy(tree["split"]), "inactive": copy.deepcopy(leaf), "active": node}
    tree.clear()
    tree.update({"neuron": 0, "phase": "inactive", **node})


def _spoil_leaf(tree):
    leaf, _ = _first_leaf(tree)
    leaf.update(rows=[0], values=[(1e6).hex()])


def _swap(tree):
    tree["inactive"], tree["active"] = tree["active"], tree["inactive"]


TAMPERS = {   # name: (edit of the first tree, item suffix after trees/0, reason)
    "leaf multipliers changed": (_spoil_leaf, None, "not <= 0"),
    "children swapped": (_swap, "/", "not <= 0"),
    "missing child": (lambda t: t.pop("active"), "", "needs the fields split, inactive, active"),
    "split on the proved layer": (lambda t: t["split"].update(activation=3), "/split/activation",
                                  "is not before layer"),
    "split on a Gemm": (lambda t: t["split"].update(activation=0), "/split/activation", "is not an activation"),
    "split neuron out of range": (lambda t: t["split"].update(neuron=99), "/split/neuron", "not a Relu neuron"),
    "phase not a phase": (lambda t: t.update(phase="sideways"), "/phase", "must be 'inactive' or 'active'"),
    "multipliers not hex": (lambda t: _first_leaf(t)[0].update(values=["x"]), None, "not a list of hex floats"),
    "too deep": (lambda t: _chain(t, MAX_TREE_DEPTH + 1), "/active" * MAX_TREE_DEPTH, "at most"),
}


@pytest.mark.parametrize("name", sorted(TAMPERS))
def test_tampered_tree_is_rejected_naming_the_item(name):
    edit, suffix, reason = TAMPERS[name]
    net, reduced, certificate, p = _certificate()
    tree = certificate["steps"][0]["layers"][p]["trees"][0]
    if suffix is None:
        suffix = _first_leaf(tree)[1] + "/values"
    edit(tree)
    report = verify(certificate, net, reduced)
    item = f"steps/0/layers/{p}/trees/0{suffix}"
    assert not report.valid
    assert any(q.item.startswith(item) and reason in q.reason for q in report.problems), report.problems


def test_too_many_leaves_are_rejected_while_parsing():
    net, reduced, certificate, p = _certificate()
    tree = certificate["steps"][0]["layers"][p]["trees"][0]
    leaf, _ = _first_leaf(tree)
    node = leaf
    for _ in range(15):                                        # 32768 leaves (shared objects: small in memory)
        node = {"split": tree["split"], "inactive": node, "active": node}
    certificate["steps"][0]["layers"][p]["trees"][0] = {"neuron": tree["neuron"], "phase": tree["phase"], **node}
    report = verify(certificate, net, reduced)
    assert not report.valid
    assert any(q.item.startswith(f"steps/0/layers/{p}/trees/0/") and f"at most {MAX_TREE_LEAVES} leaves" in q.reason
               for q in report.problems), report.problems


# ------------------------------------------------------------------------------ soundness by sampling
def _leaf_bounds(pwl, bounds, k, lower, upper, tree: PhaseTree, layer_of):
    """(path, safe bound) per leaf, the path as ((layer, neuron, side), ...)."""
    out, stack = [], [(tree.root, ())]
    while stack:
        node, path = stack.pop()
        if isinstance(node, Split):
            l = layer_of[node.activation]
            stack += [(node.inactive, path + ((l, node.neuron, "inactive"),)),
                      (node.active, path + ((l, node.neuron, "active"),))]
            continue
        lp = triangle_lp(pwl, child_bounds(bounds, k, path), k, lower, upper)
        m = np.zeros(lp.row_lo.size)
        m[node.rows] = node.values
        c, c0 = lp.objective(tree.neuron, 1.0 if tree.phase == "inactive" else -1.0)
        out.append((path, safe_max(lp, c, c0, m)))
    return out


def deep_net(seed):
    rng = np.random.default_rng(seed)
    return mlp([(w, b + rng.normal(0, 0.7, b.shape)) for w, b in random_layers(rng, [5, 8, 8, 8, 2])])


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_trees_hold_at_every_sampled_point_of_their_leaves(seed):
    """Every (neuron, phase) of layers 1 and 2 of a random 5-8-8-8-2 net: a returned tree has every
    sampled box point in a leaf whose bound it obeys (bounds <= 0), so a neuron with a sampled violation
    never gets one; a returned witness does violate the phase."""
    net = deep_net(seed)
    pwl, (lower, upper) = to_pwl(net), _box(BOX5)
    layer_of = activation_layers(net)
    rng = np.random.default_rng(seed)
    x = np.vstack([lower + rng.random((4000, 5)) * (upper - lower),
                   np.where(rng.random((1000, 5)) < 0.5, lower, upper)])
    z = pwl.activations(x)
    found = 0
    for k in (1, 2):
        for j in range(8):
            for phase, sign in (("inactive", 1.0), ("active", -1.0)):
                outcome, _, bounds = _tree(net, BOX5, k, j, phase, seconds=5.0)
                if outcome.witness is not None:
                    assert sign * pwl.activations(outcome.witness[None])[k][0, j] > 0.0
                if outcome.root is None:
                    continue
                found += 1
                assert np.all(sign * z[k][:, j] <= 1e-12)
                tree = as_phase_tree(j, phase, outcome.root, _activations(net))
                for path, bound in _leaf_bounds(pwl, bounds, k, lower, upper, tree, layer_of):
                    assert bound <= 0.0
                    inside = np.ones(len(x), dtype=bool)
                    for l, i, side in path:
                        inside &= z[l][:, i] <= 0.0 if side == "inactive" else z[l][:, i] >= 0.0
                    assert np.all(sign * z[k][inside, j] <= bound + 1e-12)
    assert found >= 1
