"""``stable``: ReLU neurons stable on a box -- removal, rank reduction, collapse, and the
``stable_relu`` evidence (what it accepts, what it must reject)."""

from __future__ import annotations

import copy
from fractions import Fraction

import numpy as np
import pytest

from nnequiv.checker import verify
from nnequiv.checker.net_bounds import bounds_over
from nnequiv.errors import UsageError
from nnequiv.interpret import evaluate_exact
from nnequiv.lowering import to_pwl
from nnequiv.passes import PassOptions, get_pass
from nnequiv.passes.pipeline import compress
from nnequiv.passes.stable import stable_with
from nnequiv.passes.stable_search import Budget, SearchSettings, layer_phases
from nnequiv.passes.stable_witness import box_samples
from nnequiv.passes.stable_tighten import MilpBounds
from nnequiv.spec.box import Box
from nnequiv.summary import summarize
from tests.helpers.pairs import mlp, random_layers

stable = get_pass("stable")


def q(rng, *shape):
    """Dyadic weights (multiples of 1/8 in [-1, 1]): sums and products stay exact."""
    return rng.integers(-8, 9, shape) / 8.0


def box_points(box: Box, rng, n: int) -> np.ndarray:
    lo, hi = np.asarray(box.lower), np.asarray(box.upper)
    corners = np.where(rng.random((n // 4, lo.size)) < 0.5, lo, hi)
    return np.vstack([corners, lo + rng.random((n, lo.size)) * (hi - lo)])


def equal_on_box(f, g, box: Box, rng, n: int = 64, exact: int = 6) -> None:
    x = box_points(box, rng, n)
    np.testing.assert_allclose(g.evaluate(x), f.evaluate(x), rtol=1e-12, atol=1e-12)
    for sample in x[:exact]:
        assert evaluate_exact(f, sample).values.tolist() == evaluate_exact(g, sample).values.tolist()


def compressed(net, box):
    reduced, certificate = compress(net, ["stable"], box)
    report = verify(certificate, net, reduced)
    assert report.valid, report.problems
    return reduced, certificate


def dead_active_net(rng):
    """Layer 0 on [-1, 1]^3: 0-2 dead (bias -4), 3-5 active (bias 4), 6 = row 3 + row 4 / 2
    (active, dependent), 7 unstable (bias 0)."""
    w0 = q(rng, 8, 3)
    b0 = np.array([-4.0, -4.0, -4.0, 4.0, 4.0, 4.0, 0.0, 0.0])
    w0[6], b0[6] = w0[3] + w0[4] / 2, b0[3] + b0[4] / 2
    w0[7] = [1.0, -0.5, 0.25]
    return mlp([(w0, b0), (q(rng, 4, 8), np.zeros(4)), (q(rng, 2, 4), q(rng, 2))])


BOX3 = Box.uniform(-1.0, 1.0, 3)


def test_dead_and_dependent_active_neurons_are_removed_exactly():
    rng = np.random.default_rng(1)
    net = dead_active_net(rng)
    result = stable(net, PassOptions(box=BOX3))
    first = result.step["layers"][0]
    assert first["inactive"] == [0, 1, 2]
    assert set(first["active"]) == {3, 4, 5, 6}
    assert [c["neuron"] for c in first.get("combinations", [])] == [6]
    assert {(t["neuron"], t["coefficient"]) for t in first["combinations"][0]["terms"]} == {(3, "1"), (4, "1/2")}
    reduced, certificate = compressed(net, BOX3)
    assert certificate["claim"]["relation"]["kind"] == "exact"
    assert summarize(reduced).neurons <= summarize(net).neurons - 4
    equal_on_box(net, reduced, BOX3, rng)


def test_fully_stable_layer_is_collapsed():
    rng = np.random.default_rng(2)
    w0, b0 = q(rng, 6, 3), np.full(6, 4.0)                 # every neuron active on [-1, 1]^3
    net = mlp([(w0, b0), (q(rng, 5, 6), np.zeros(5)), (q(rng, 2, 5), q(rng, 2))])
    result = stable(net, PassOptions(box=BOX3))
    assert result.step["layers"][0].get("collapse") is True
    reduced, certificate = compressed(net, BOX3)
    assert reduced.ops.count("Relu") <= net.ops.count("Relu") - 1
    assert certificate["claim"]["relation"]["kind"] == "exact"
    equal_on_box(net, reduced, BOX3, rng)


def test_nothing_stable_changes_nothing():
    rng = np.random.default_rng(3)
    layers = [(q(rng, 6, 3), np.zeros(6)), (q(rng, 2, 6), np.zeros(2))]
    layers[0][0][np.all(layers[0][0] == 0, axis=1)] = 1.0        # no constant (zero-row) neuron
    net = mlp(layers)
    result = stable(net, PassOptions(box=BOX3))
    assert result.stats.applied == 0 and result.step["layers"] == []
    reduced, _ = compressed(net, BOX3)
    assert summarize(reduced).neurons == summarize(net).neurons


def split_net():
    """On [-1, 1]^2: neuron 0 of layer 1 is relu(x1) + relu(-x1) + relu(x2) + 1/4 >= 1/4 (active), but one
    zonotope over the whole box proves only >= -1/4; bisecting the box proves it."""
    w0 = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]])
    w1 = np.array([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0], [1.0, -1.0, 0.0]])
    b1 = np.array([0.25, -3.0, 0.0])
    return mlp([(w0, np.zeros(3)), (w1, b1), (np.array([[1.0, -1.0, 0.5]]), np.zeros(1))])


BOX2 = Box.uniform(-1.0, 1.0, 2)


def test_split_proves_what_one_box_cannot():
    net = split_net()
    result = stable(net, PassOptions(box=BOX2))
    assert len(result.step["split"]) == 4
    second = result.step["layers"][-1]
    assert 0 in second["active"] and second["inactive"] == [1]
    _, certificate = compressed(net, BOX2)
    certificate["steps"][0].pop("split")
    certificate_without = verify(certificate, net, compress(net, ["stable"], BOX2)[0])
    assert not certificate_without.valid
    assert any(p.item.startswith("steps/0/layers/") and "not proved" in p.reason
               for p in certificate_without.problems), certificate_without.problems


@pytest.mark.parametrize("seed", range(6))
def test_claimed_phases_hold_at_every_sampled_point(seed):
    """Soundness: a neuron claimed inactive is never positive at a box point (and active never negative)."""
    rng = np.random.default_rng(100 + seed)
    layers = random_layers(rng, [4, 12, 10, 3])
    layers = [(w, b + rng.normal(0, 1.0, b.shape)) for w, b in layers]
    net = mlp(layers)
    box = Box.uniform(-0.5, 0.5, 4)
    result = stable(net, PassOptions(box=box))
    pwl = to_pwl(net)
    x = box_points(box, rng, 4000)
    pre = pwl.activations(x)
    activations = [i for i, n in enumerate(net.nodes) if n.op == "Relu"]
    for layer in result.step["layers"]:
        z = pre[activations.index(layer["activation"])]
        assert np.all(z[:, layer["inactive"]] <= 0.0)
        assert np.all(z[:, layer["active"]] >= 0.0)
    assert verify(compress(net, ["stable"], box)[1], net, result.network).valid


BOX5 = Box.uniform(-1.0, 1.0, 5)


def shifted_net(seed):
    """A random 5-8-8-2 MLP with shifted biases (five inputs: the box is never split)."""
    rng = np.random.default_rng(seed)
    return mlp([(w, b + rng.normal(0, 0.7, b.shape)) for w, b in random_layers(rng, [5, 8, 8, 2])])


def test_milp_only_stability_is_reported_and_left_in_place():
    net = shifted_net(3)          # seed 3: one neuron only the MILP shows stable (found by a seed scan)
    # generous limits: a query cut short by a busy machine would leave the neuron "unknown" instead
    # no phase trees (they would certify it: tests/test_phase_tree.py)
    result = stable_with(net, PassOptions(box=BOX5), SearchSettings(milp_seconds=120.0, milp_budget=600.0,
                                                                    tree_seconds=0.0))
    assert result.stats.details["milp_only_stable"] >= 1
    reported = [r for r in result.stats.refused if "the MILP shows it" in r.reason]
    assert reported
    claimed = {(layer["activation"], j) for layer in result.step["layers"]
               for j in layer["inactive"] + layer["active"]}
    relus = [i for i, n in enumerate(net.nodes) if n.op == "Relu"]
    for refusal in reported:
        name, neuron = refusal.where.split(" neuron ")
        assert (relus[[net.nodes[i].name for i in relus].index(name)], int(neuron)) not in claimed
    compressed(net, BOX5)


def _dual_net():
    return shifted_net(12)        # seed 12: two neurons only the LP (not the zonotope) proves stable


def test_lp_duals_certify_what_the_bounds_cannot():
    net = _dual_net()
    result = stable(net, PassOptions(box=BOX5))
    duals = [d for layer in result.step["layers"] for d in layer.get("duals", [])]
    assert len(duals) == result.stats.details["dual_certified"] >= 1
    reduced, certificate = compressed(net, BOX5)
    equal_on_box(net, reduced, BOX5, np.random.default_rng(6))
    for layer in certificate["steps"][0]["layers"]:
        layer.pop("duals", None)
    report = verify(certificate, net, reduced)
    assert not report.valid and any("not proved" in p.reason for p in report.problems)


def _dual_item(step):
    return next((p, d) for p, layer in enumerate(step["layers"]) for d, _ in enumerate(layer.get("duals", [])))


@pytest.mark.parametrize("edit,reason", [
    (lambda dual: dual.update(rows=[0], values=[(1e6).hex()]), "not <= 0"),
    (lambda dual: dual.update(rows=[1, 2], values=[(-3e5).hex(), (2e5).hex()]), "not <= 0"),
    (lambda dual: dual.update(rows=[0, 1], values=[(1.0).hex()]), "one value each"),
    (lambda dual: dual.update(phase="sideways"), "must be 'inactive' or 'active'"),
])
def test_tampered_dual_vector_is_rejected(edit, reason):
    def tamper(step):
        p, d = _dual_item(step)
        edit(step["layers"][p]["duals"][d])
    reduced, certificate = compress(_dual_net(), ["stable"], BOX5)
    p, d = _dual_item(certificate["steps"][0])
    bad = copy.deepcopy(certificate)
    tamper(bad["steps"][0])
    report = verify(bad, _dual_net(), reduced)
    assert not report.valid
    assert any(q.item.startswith(f"steps/0/layers/{p}/duals/{d}") and reason in q.reason
               for q in report.problems), report.problems


def test_requires_a_box_and_refuses_leaky_relu():
    rng = np.random.default_rng(4)
    net = dead_active_net(rng)
    with pytest.raises(UsageError, match="needs an input box"):
        stable(net, PassOptions())
    leaky = mlp([(q(rng, 4, 3), np.full(4, -4.0)), (q(rng, 2, 4), np.zeros(2))], activation="LeakyRelu")
    result = stable(leaky, PassOptions(box=BOX3))
    assert result.step["layers"] == []
    assert any("LeakyRelu is not handled" in r.reason for r in result.stats.refused)


# ------------------------------------------------------------------------------ tamper matrix
def _tampered(net, box, edit):
    reduced, certificate = compress(net, ["stable"], box)
    bad = copy.deepcopy(certificate)
    edit(bad["steps"][0])
    return verify(bad, net, reduced)


def _move(step, layer, source, target, neuron):
    step["layers"][layer][source].remove(neuron)
    step["layers"][layer][target].append(neuron)


TAMPERS = {
    "inactive neuron claimed active": (lambda s: _move(s, 0, "inactive", "active", 0), "layers/0/active/",
                                       "not proved active"),
    "active neuron claimed inactive": (lambda s: _move(s, 0, "active", "inactive", 3), "layers/0/inactive/",
                                       "not proved inactive"),
    "unstable neuron claimed inactive": (lambda s: s["layers"][0]["inactive"].append(7), "layers/0/inactive/3",
                                         "not proved inactive"),
    "coefficient changed": (lambda s: s["layers"][0]["combinations"][0]["terms"][0].update(coefficient="1/3"),
                            "layers/0/combinations/0", "not exactly the stated combination"),
    "coefficient not rational": (lambda s: s["layers"][0]["combinations"][0]["terms"][0].update(coefficient="x"),
                                 "layers/0/combinations/0/terms/0/coefficient", "not a rational"),
    "layer listed twice": (lambda s: s["layers"].append(copy.deepcopy(s["layers"][0])), "layers/2/activation",
                           "listed twice"),
    "combination of an unproved neuron": (lambda s: s["layers"][0]["combinations"][0].update(neuron=7),
                                          "layers/0/combinations/0/neuron", "not among the proved active"),
}


@pytest.mark.parametrize("name", sorted(TAMPERS))
def test_tampered_evidence_is_rejected_naming_the_item(name):
    edit, item, reason = TAMPERS[name]
    report = _tampered(dead_active_net(np.random.default_rng(1)), BOX3, edit)
    assert not report.valid
    assert any(p.item.startswith(f"steps/0/{item}") and reason in p.reason for p in report.problems), report.problems


def _shrink(step):
    step["split"][0]["upper"][0] = (-0.5).hex()


def _widen(step):
    step["split"][1]["lower"][1] = (-2.0).hex()


def _drop(step):
    step["split"].pop()


@pytest.mark.parametrize("edit,item,reason", [(_shrink, "split", "do not cover the box"),
                                              (_drop, "split", "do not cover the box"),
                                              (_widen, "split/1", "leaves the box")])
def test_tampered_split_is_rejected(edit, item, reason):
    report = _tampered(split_net(), BOX2, edit)
    assert not report.valid
    assert any(p.item == f"steps/0/{item}" and reason in p.reason for p in report.problems), report.problems


def test_leaky_relu_step_is_rejected_by_the_checker():
    rng = np.random.default_rng(5)
    leaky = mlp([(q(rng, 4, 3), np.full(4, -4.0)), (q(rng, 2, 4), np.zeros(2))], activation="LeakyRelu")
    report = _tampered(leaky, BOX3, lambda s: s["layers"].append({"activation": 1, "inactive": [0], "active": []}))
    assert not report.valid
    assert any(p.item == "steps/0/layers/0/activation" and "not Relu" in p.reason for p in report.problems)


def _exact_pre_activation(pwl, layer: int, neuron: int, x) -> Fraction:
    """``z_layer[neuron]`` at ``x`` in exact rational arithmetic (each stored float is its exact value)."""
    h = [Fraction(float(v)) for v in x]
    for k, lay in enumerate(pwl.layers[:layer + 1]):
        rows = range(lay.n_out) if k < layer else [neuron]
        z = [sum((Fraction(float(w)) * v for w, v in zip(lay.weight[r], h) if w != 0.0), Fraction(float(lay.bias[r])))
             for r in rows]
        if k == layer:
            return z[0]
        h = [v if v >= 0 else v * Fraction(float(s)) for v, s in zip(z, lay.slope)]


@pytest.mark.parametrize("seed", [3, 12, 21])
def test_neurons_declared_unstable_have_two_exact_witnesses(seed):
    """Every neuron the search calls unstable carries a positive and a negative witness input in
    the box, and replaying the network on them exactly gives those signs."""
    net = shifted_net(seed)
    pwl = to_pwl(net)
    lower, upper = np.asarray(BOX5.lower, np.float64), np.asarray(BOX5.upper, np.float64)
    depth = len(pwl.layers) - 1
    bounds = bounds_over(pwl, [(lower, upper)], depth)
    settings = SearchSettings(samples=8, milp_seconds=60.0, milp_budget=600.0)   # few samples: ascent, LP and MILP witness too
    points = box_samples(lower, upper, settings.samples, settings.seed)
    samples = pwl.activations(points)
    budget = Budget(settings.milp_budget)
    milp_bounds = MilpBounds.over(pwl, lower, upper, bounds, budget, settings.lp_seconds)
    unstable = 0
    for k in range(depth):
        n = pwl.layers[k].n_out
        phases = layer_phases(pwl, k, n, lower, upper, bounds, milp_bounds, points, samples[k], budget, settings)
        for j in np.flatnonzero(phases.seen_positive & phases.seen_negative):
            positive, negative = phases.positive_at[int(j)], phases.negative_at[int(j)]
            for x in (positive, negative):
                assert np.all(lower <= x) and np.all(x <= upper)
            assert _exact_pre_activation(pwl, k, int(j), positive) > 0
            assert _exact_pre_activation(pwl, k, int(j), negative) < 0
            unstable += 1
        stable = phases.certified_inactive | phases.certified_active | phases.milp_inactive | phases.milp_active
        assert not np.any(stable & phases.seen_positive & phases.seen_negative)
    assert unstable > 0


def test_pass_reports_exact_witnesses_for_every_neuron_it_keeps_as_unstable():
    """The pass's details carry, for each neuron it neither certified nor left unknown, inputs
    of both signs (benchmarks re-check them); exact replay confirms every sign."""
    net = shifted_net(3)
    pwl = to_pwl(net)
    result = stable_with(net, PassOptions(box=BOX5), SearchSettings(milp_seconds=60.0, milp_budget=600.0))
    layers = result.stats.details["layers"]
    assert layers
    shown = 0
    for k, layer in enumerate(layers):
        stable = set(layer["inactive"]) | set(layer["active"])
        for j, (positive, negative) in layer["unstable_witnesses"].items():
            assert j not in stable
            assert _exact_pre_activation(pwl, k, j, positive) > 0
            assert _exact_pre_activation(pwl, k, j, negative) < 0
            shown += 1
        assert stable | set(layer["unstable_witnesses"]) == set(range(layer["neurons"]))
    assert shown > 0


@pytest.mark.parametrize("seed", [0, 5])
def test_lp_tightened_milp_bounds_are_sound_and_no_looser(seed):
    """The big-M bounds the MILPs read after LP tightening still contain every sampled
    pre-activation, are inside the checker's bounds, and are strictly tighter somewhere."""
    rng = np.random.default_rng(seed)
    net = mlp([(w, b + rng.normal(0, 0.3, b.shape)) for w, b in random_layers(rng, [5, 8, 8, 8, 2])])
    pwl = to_pwl(net)
    lower, upper = np.asarray(BOX5.lower, np.float64), np.asarray(BOX5.upper, np.float64)
    bounds = bounds_over(pwl, [(lower, upper)], 3)
    milp_bounds = MilpBounds.over(pwl, lower, upper, bounds, Budget(600.0), 10.0)
    for k in range(3):
        n = pwl.layers[k].n_out
        milp_bounds.record(k, np.zeros(n, dtype=bool), np.zeros(n, dtype=bool))
    tightened = milp_bounds.upto(3)
    assert milp_bounds.lps > 0
    z = pwl.activations(box_points(BOX5, rng, 4000))
    shrunk = 0.0
    for k in range(3):
        (lo, hi), (lo0, hi0) = tightened[k], bounds[k]
        assert np.all(lo <= z[k].min(axis=0)) and np.all(z[k].max(axis=0) <= hi)
        assert np.all(lo0 <= lo) and np.all(hi <= hi0)
        shrunk += float(np.sum(hi0 - hi) + np.sum(lo - lo0))
    assert shrunk > 0.0
