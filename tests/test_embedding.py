"""Pairs whose hidden widths differ (neurons pruned away, not zeroed): zero-neuron embedding.

The engine pairs the narrower layer's neurons with the wider layer's
(``nnequiv/engine/embedding_search.py``); the checker inserts zero neurons itself
(``nnequiv/checker/embedding.py``, ``proofs/embedding.md`` E1) before re-analysing the leaves.
"""

from __future__ import annotations

import copy
from fractions import Fraction

import numpy as np
import pytest

from nnequiv.checker import verify
from nnequiv.checker.embedding import embed
from nnequiv.engine.check import check
from nnequiv.engine.embedding_search import embedding_for
from nnequiv.lowering import to_pwl
from nnequiv.spec.relation import Relation
from tests.helpers.models import random_mlp
from tests.helpers.pwl_factories import random_pwl

BOX = ([-1.0] * 4, [1.0] * 4)


def _pruned_pair(seed: int, removed=(5,), shrink: float = 0.01, widths=(4, 20, 20, 2)):
    """``f`` with the outgoing weights of ``removed`` hidden-1 neurons scaled down; ``g`` = ``f``
    without those neurons (a structured pruning that changes the function a little)."""
    rng = np.random.default_rng(seed)
    f = random_mlp(rng, list(widths))
    init = dict(f.initializers)
    w2 = init["w2"].copy()
    w2[:, list(removed)] *= np.float32(shrink)
    init["w2"] = w2
    f = f.replace(initializers=init)
    reduced = dict(init, w1=np.delete(init["w1"], removed, axis=0), b1=np.delete(init["b1"], removed),
                   w2=np.delete(init["w2"], removed, axis=1))
    return f, f.replace(initializers=reduced)


def _exact_outputs(net, x) -> list[Fraction]:
    h = [Fraction(v) for v in x]
    for layer in net.layers:
        z = [sum((Fraction(w) * v for w, v in zip(row, h)), Fraction(b)) for row, b in zip(layer.weight, layer.bias)]
        h = [v if v >= 0 else Fraction(s) * v for v, s in zip(z, layer.slope)]
    return h


@pytest.mark.parametrize("seed", range(3))
def test_embedding_preserves_the_function_exactly(seed):
    rng = np.random.default_rng(seed)
    net = random_pwl(rng, [3, 4, 5, 2], slopes=(0.0, 0.1))
    maps = {0: (7, rng.permutation(7)[:4]), 1: (6, rng.permutation(6)[:5])}
    wide = embed(net, maps)
    assert [layer.n_out for layer in wide.layers] == [7, 6, 2]
    for x in rng.uniform(-2, 2, (5, 3)):
        assert _exact_outputs(wide, x) == _exact_outputs(net, x)


@pytest.mark.parametrize("seed", range(3))
def test_width_pruned_pair_is_proved_and_the_bound_is_sound(seed):
    f, g = _pruned_pair(seed)
    verdict = check(f, g, BOX, Relation.epsilon(0.1), timeout=30, compose=False)
    assert verdict.verdict == "equivalent", verdict.stats
    assert verdict.stats["embedding"] == {"g": [0]}
    step = verdict.certificate["steps"][0]
    assert step["kind"] == "bab_tree" and step["embedding"]["g"][0]["width"] == 20
    assert verify(verdict.certificate, f, g).valid
    x = np.random.default_rng(100 + seed).uniform(-1, 1, (20000, 4))
    sampled = float(np.max(np.abs(f.evaluate(x) - g.evaluate(x))))
    assert 0 < sampled <= verdict.upper


def test_a_wider_reduced_layer_embeds_the_original():
    g, f = _pruned_pair(7, removed=(2, 9))       # the "reduced" model has the extra neurons
    found = embedding_for(to_pwl(f), to_pwl(g))
    assert set(found) == {"f"} and len(found["f"][0]["positions"]) == 18
    verdict = check(f, g, BOX, Relation.epsilon(0.2), timeout=30, compose=False)
    assert verdict.verdict == "equivalent" and verify(verdict.certificate, f, g).valid


def test_a_removed_neuron_that_matters_is_refuted():
    f, g = _pruned_pair(3, shrink=1.0)
    verdict = check(f, g, BOX, Relation.epsilon(1e-3), timeout=30, compose=False)
    assert verdict.verdict == "not_equivalent"
    cex = verdict.counterexample
    x = np.array(cex.input).reshape(1, 4)
    assert float(np.max(np.abs(f.evaluate(x) - g.evaluate(x)))) > 1e-3


@pytest.fixture(scope="module")
def proved():
    f, g = _pruned_pair(1)
    verdict = check(f, g, BOX, Relation.epsilon(0.1), timeout=30, compose=False)
    assert verdict.verdict == "equivalent"
    return f, g, verdict.certificate


def _embedding(cert):
    return cert["steps"][0]["embedding"]["g"][0]


TAMPERS = {
    "duplicate position": lambda e: e["positions"].__setitem__(1, e["positions"][0]),
    "position out of range": lambda e: e["positions"].__setitem__(0, e["width"]),
    "width below the layer": lambda e: e.__setitem__("width", 3),
    "output layer": lambda e: e.__setitem__("layer", 2),
    "missing position": lambda e: e["positions"].pop(),
    "non-integer position": lambda e: e["positions"].__setitem__(0, 1.5),
}


@pytest.mark.parametrize("name", sorted(TAMPERS))
def test_tampered_embedding_is_rejected(proved, name):
    f, g, certificate = proved
    bad = copy.deepcopy(certificate)
    TAMPERS[name](_embedding(bad))
    report = verify(bad, f, g)
    assert not report.valid
    assert any("embedding" in p.item for p in report.problems), report.problems


def test_dropping_the_embedding_is_rejected(proved):
    f, g, certificate = proved
    bad = copy.deepcopy(certificate)
    del bad["steps"][0]["embedding"]
    report = verify(bad, f, g)
    assert not report.valid and report.problems
