"""The structural stage infers neurons a pruning tool removed because they are never active on
the box: sound bounds prove it, a ``stable_relu`` step (removals only) certifies it."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from nnequiv.checker import verify
from nnequiv.engine.check import check
from nnequiv.spec.relation import Relation
from tests.helpers.models import random_mlp

INACTIVE = [3, 7, 11, 20, 33]
BOX = ([0.0] * 10, [1.0] * 10)


@pytest.fixture(scope="module")
def pair():
    f = random_mlp(np.random.default_rng(5), [10, 40, 40, 3])
    init = dict(f.initializers)
    b1 = init["b1"].copy()
    b1[INACTIVE] = -50.0          # never active on [0, 1]^10, active far outside it
    init["b1"] = b1
    f = f.replace(initializers=init)
    pruned = dict(init, w1=np.delete(init["w1"], INACTIVE, 0), b1=np.delete(init["b1"], INACTIVE),
                  w2=np.delete(init["w2"], INACTIVE, 1))
    return f, f.replace(initializers=pruned)


def test_removed_inactive_neurons_are_proved_exactly_on_the_box(pair):
    f, g = pair
    verdict = check(f, g, BOX, Relation.exact(), timeout=30)
    assert verdict.verdict == "equivalent" and verdict.stats["stage"] == "structural"
    assert verdict.stats["structural"]["steps"] == ["stable_relu"]
    step = verdict.certificate["steps"][0]
    assert sorted(step["layers"][0]["inactive"]) == INACTIVE and "combinations" not in step["layers"][0]
    assert verify(verdict.certificate, f, g).valid
    x = np.random.default_rng(0).uniform(0, 1, (5000, 10))
    fy, gy = f.evaluate(x), g.evaluate(x)      # float64: only summation order may differ
    assert np.max(np.abs(fy - gy)) <= 1e-12 * np.max(np.abs(fy))


def test_outside_the_box_the_same_pair_is_refuted(pair):
    f, g = pair
    verdict = check(f, g, ([-30.0] * 10, [30.0] * 10), Relation.exact(), timeout=30)
    assert verdict.verdict == "not_equivalent"
    x = np.array(verdict.counterexample.input).reshape(1, 10)
    assert np.max(np.abs(f.evaluate(x) - g.evaluate(x))) > 1e-6


def test_claiming_an_active_neuron_inactive_is_rejected(pair):
    f, g = pair
    certificate = check(f, g, BOX, Relation.exact(), timeout=30).certificate
    bad = copy.deepcopy(certificate)
    bad["steps"][0]["layers"][0]["inactive"].append(0)
    report = verify(bad, f, g)
    assert not report.valid and any(p.item.startswith("steps/0") for p in report.problems)
