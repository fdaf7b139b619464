"""``stable_relu`` refinements: LP-tightened bounds the certificate carries (``proofs/stable_relu.md`` S8) --
what they certify beyond the zonotope bounds and one LP, that they are sound, and what the
checker rejects."""

from __future__ import annotations

import copy
from fractions import Fraction

import numpy as np
import pytest

from nnequiv.checker import verify
from nnequiv.checker.net_bounds import bounds_over
from nnequiv.checker.stable_refine import MAX_REFINEMENTS, refine_bounds
from nnequiv.checker.stable_relu import activation_layers
from nnequiv.checker.stable_relu_evidence import _parse_refinements
from nnequiv.lowering import to_pwl
from nnequiv.passes import PassOptions
from nnequiv.passes.pipeline import compress
from nnequiv.passes.stable import stable_with
from nnequiv.passes.stable_search import Budget, SearchSettings
from nnequiv.passes.stable_witness import box_samples, gradient_corners
from nnequiv.passes.stable_tighten import tighten_with_lp
from nnequiv.spec.box import Box
from tests.helpers.pairs import mlp, random_layers
from tests.test_passes_stable import _exact_pre_activation, equal_on_box

BOX5 = Box.uniform(-1.0, 1.0, 5)
LOWER, UPPER = np.asarray(BOX5.lower, np.float64), np.asarray(BOX5.upper, np.float64)


def deep_net(seed: int):
    """A random 5-8-8-8-8-2 MLP with shifted biases (five inputs: the box is never split)."""
    rng = np.random.default_rng(seed)
    return mlp([(w, b + rng.normal(0, 0.7, b.shape)) for w, b in random_layers(rng, [5, 8, 8, 8, 8, 2])])


# seed 2 (found by a seed scan): neurons 1 and 2 of layer 3 are certified only by LP duals over
# bounds of layers 1 and 2 that the refinements tightened
CHAIN_SEED = 2


def _claims(net, step) -> set[tuple[int, int, str]]:
    layer_of = activation_layers(net)
    return {(layer_of[x["activation"]], j, phase) for x in step["layers"] for phase in ("inactive", "active")
            for j in x[phase]}


@pytest.fixture(scope="module")
def chained():
    net = deep_net(CHAIN_SEED)
    reduced, certificate = compress(net, ["stable"], BOX5)
    return net, reduced, certificate


def test_refined_chain_certifies_what_zonotope_bounds_and_one_lp_cannot(chained):
    net, reduced, certificate = chained
    step = certificate["steps"][0]
    # phase trees off on both sides: they can also certify what one LP cannot
    refined = stable_with(net, PassOptions(box=BOX5), SearchSettings(tree_seconds=0.0)).step
    plain = stable_with(net, PassOptions(box=BOX5), SearchSettings(refine=False, tree_seconds=0.0)).step
    assert "refinements" not in plain
    gained = _claims(net, refined) - _claims(net, plain)
    assert {k for k, _, _ in gained} and min(k for k, _, _ in gained) >= 2, gained
    assert len({r["activation"] for r in step["refinements"]}) >= 2          # a chain: several layers refined
    report = verify(certificate, net, reduced)
    assert report.valid, report.problems
    equal_on_box(net, reduced, BOX5, np.random.default_rng(7))
    without = copy.deepcopy(certificate)
    without["steps"][0].pop("refinements")
    report = verify(without, net, reduced)
    assert not report.valid and any("not proved" in p.reason or "not <= 0" in p.reason for p in report.problems)


@pytest.mark.parametrize("seed", [2, 4, 6])
def test_refined_bounds_contain_every_sampled_pre_activation(seed):
    """Soundness by sampling: the checker's refined bounds (inside its zonotope bounds, strictly
    tighter somewhere) contain the pre-activations at random points, corners and gradient
    corners pushing each neuron up and down; the most extreme point of each refined side is
    also replayed exactly."""
    net = deep_net(seed)
    step = stable_with(net, PassOptions(box=BOX5), SearchSettings()).step
    refinements = _parse_refinements(step["refinements"])
    pwl = to_pwl(net)
    depth = len(pwl.layers) - 1
    zonotope = bounds_over(pwl, [(LOWER, UPPER)], depth)
    refined = refine_bounds(pwl, zonotope, activation_layers(net), LOWER, UPPER, refinements)
    points = np.vstack([box_samples(LOWER, UPPER, 2000, seed)] +
                       [gradient_corners(pwl, k, np.arange(pwl.layers[k].n_out), LOWER, UPPER) for k in range(depth)])
    z = pwl.activations(points)
    shrunk = 0.0
    for k in range(depth):
        (lo, hi), (lo0, hi0) = refined[k], zonotope[k]
        assert np.all(lo0 <= lo) and np.all(hi <= hi0) and np.all(lo <= hi)
        assert np.all(lo <= z[k].min(axis=0)) and np.all(z[k].max(axis=0) <= hi)
        shrunk += float(np.sum(hi0 - hi) + np.sum(lo - lo0))
    assert shrunk > 0.0
    layer_of = activation_layers(net)
    for r in refinements:
        k, j = layer_of[r.activation], r.neuron
        sign = 1.0 if r.side == "upper" else -1.0
        extreme = points[int(np.argmax(sign * z[k][:, j]))]
        value = _exact_pre_activation(pwl, k, j, extreme)
        assert (value <= Fraction(float(refined[k][1][j]))) if sign > 0 else (value >= Fraction(float(refined[k][0][j])))


def test_certificates_without_refinements_still_verify(monkeypatch, chained):
    """The pass without the chain (the format before refinements) still gives a valid certificate."""
    net, _, certificate = chained
    monkeypatch.setattr("nnequiv.passes.stable.SearchSettings", lambda: SearchSettings(refine=False))
    reduced, old = compress(net, ["stable"], BOX5)
    assert "refinements" not in old["steps"][0] and "refinements" in certificate["steps"][0]
    report = verify(old, net, reduced)
    assert report.valid, report.problems


# ------------------------------------------------------------------------------ tamper matrix
def _scaled(refinements):
    refinements[0]["values"] = [(float.fromhex(v) * 1e3).hex() for v in refinements[0]["values"]]


def _overflowing(refinements):
    refinements[0]["values"] = [(1e308).hex() for _ in refinements[0]["values"]]


def _flipped(refinements):
    refinements[0]["side"] = {"upper": "lower", "lower": "upper"}[refinements[0]["side"]]


def _deeper_activation(refinements):
    """The first refinement (of the first refined layer) moved to the deepest refined layer."""
    refinements[0]["activation"] = max(r["activation"] for r in refinements)


def _shallower_activation(refinements):
    refinements[-1]["activation"] = min(r["activation"] for r in refinements)


def _needed_one_later(refinements):
    """A refinement of the deeper layer first, before the refinements of the layer it reads."""
    deeper = max(r["activation"] for r in refinements)
    refinements.insert(0, refinements.pop(next(i for i, r in enumerate(refinements) if r["activation"] == deeper)))


def _layer_of_first_activation(refinements):
    refinements[0]["activation"] = 1                  # act0: the first layer, no LP before it


TAMPERS = {
    "multiplier values scaled": (_scaled, "refinements/0", "no tighter than the bound held"),
    "multiplier values overflowing": (_overflowing, "refinements/0/values", "no finite upper bound"),
    "side flipped": (_flipped, "refinements/0", "no tighter than the bound held"),
    "deeper activation": (_deeper_activation, "refinements/0", "no tighter than the bound held"),
    "shallower activation": (_shallower_activation, "refinements/-1/rows", "distinct indices"),
    "reordered before what it needs": (_needed_one_later, "refinements/0", "no tighter than the bound held"),
    "row out of range": (lambda r: r[0]["rows"].__setitem__(0, 10 ** 6), "refinements/0/rows", "distinct indices"),
    "negative row": (lambda r: r[0]["rows"].__setitem__(0, -1), "refinements/0/rows", "distinct indices"),
    "row repeated": (lambda r: r[0]["rows"].__setitem__(1, r[0]["rows"][0]), "refinements/0/rows", "distinct indices"),
    "value missing": (lambda r: r[0]["values"].pop(), "refinements/0/rows", "one value each"),
    "side unknown": (lambda r: r[0].update(side="middle"), "refinements/0/side", "'upper' or 'lower'"),
    "neuron out of range": (lambda r: r[0].update(neuron=8), "refinements/0/neuron", "out of range 0..7"),
    "not an activation": (lambda r: r[0].update(activation=0), "refinements/0/activation", "not an activation"),
    "first layer": (_layer_of_first_activation, "refinements/0/activation", "first layer"),
    "field missing": (lambda r: r[0].pop("side"), "refinements/0", "needs the fields"),
}


@pytest.mark.parametrize("name", sorted(TAMPERS))
def test_tampered_refinement_is_rejected_naming_the_item(chained, name):
    net, reduced, certificate = chained
    edit, item, reason = TAMPERS[name]
    bad = copy.deepcopy(certificate)
    refinements = bad["steps"][0]["refinements"]
    edit(refinements)
    item = item.replace("/-1", f"/{len(refinements) - 1}")
    report = verify(bad, net, reduced)
    assert not report.valid
    assert any(p.item.startswith(f"steps/0/{item}") and reason in p.reason for p in report.problems), report.problems


@pytest.mark.parametrize("value,reason", [({"activation": 5}, "not a list"),
                                          ([{}] * (MAX_REFINEMENTS + 1), f"at most {MAX_REFINEMENTS}")])
def test_malformed_refinement_list_is_rejected(chained, value, reason):
    net, reduced, certificate = chained
    bad = copy.deepcopy(certificate)
    bad["steps"][0]["refinements"] = value
    report = verify(bad, net, reduced)
    assert not report.valid
    assert any(p.item == "steps/0/refinements" and reason in p.reason for p in report.problems), report.problems


def test_each_lp_of_a_warm_instance_gets_its_own_time_limit():
    """HiGHS measures ``time_limit`` against an instance's total run time: once the LPs of one layer
    have run longer than one query's allowance in all, later ones must still get theirs (with a
    short allowance, as many bounds shrink as with a generous one)."""
    rng = np.random.default_rng(3)
    net = mlp([(w, b + rng.normal(0, 0.3, b.shape)) for w, b in random_layers(rng, [8, 40, 40, 40, 2])])
    pwl = to_pwl(net)
    lower, upper = -np.ones(8), np.ones(8)
    zonotope = bounds_over(pwl, [(lower, upper)], 3)
    shrunk = {}
    for seconds in (0.05, 30.0):
        held = [(lo.copy(), hi.copy()) for lo, hi in zonotope]
        open_ = np.flatnonzero((held[2][0] < 0.0) & (held[2][1] > 0.0))
        budget = Budget(600.0)
        result = tighten_with_lp(pwl, 2, open_, lower, upper, held, budget, seconds)
        assert result.queries == 2 * open_.size
        shrunk[seconds] = len(result.improvements)
    assert budget.spent > 0.05                        # the allowance was used up many times over in all
    assert shrunk[0.05] == shrunk[30.0] > 0
