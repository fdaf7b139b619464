"""`nnequiv.check` on hand-built pairs with known answers, and soundness by sampling."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from nnequiv.checker import verify
from nnequiv.engine.check import check
from nnequiv.engine.confirm import replay
from nnequiv.interpret import evaluate
from nnequiv.spec.box import Box
from nnequiv.spec.relation import Relation
from tests.helpers.pairs import duplicated_scaled, mlp, permuted, random_layers, with_bump


def _box(n, lo=-1.0, hi=1.0):
    return Box.uniform(lo, hi, n)


def _assert_proof(verdict, f, g):
    assert verdict.verdict == "equivalent", verdict.stats
    report = verify(verdict.certificate, f, g)
    assert report.valid, report.problems


def _assert_refutation(verdict, f, g, relation):
    assert verdict.verdict == "not_equivalent", verdict.stats
    cex = verdict.counterexample
    assert replay(f, g, np.array(cex.input), relation) is not None
    fy, gy = evaluate(f, np.array([cex.input])).ravel(), evaluate(g, np.array([cex.input])).ravel()
    np.testing.assert_allclose(fy, cex.original_output, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gy, cex.reduced_output, rtol=1e-12, atol=1e-12)


def test_identical_networks_are_exactly_equivalent():
    rng = np.random.default_rng(0)
    f = mlp(random_layers(rng, [3, 10, 10, 2]))
    verdict = check(f, f, _box(3), Relation.exact(), timeout=30)
    _assert_proof(verdict, f, f)
    assert verdict.upper == 0.0


@pytest.mark.parametrize("edit", ["permuted", "duplicated"])
def test_exact_rewrites_are_never_refuted(edit):
    """Same function (hidden neurons permuted, or one duplicated with weights times 2): no
    counterexample may ever be reported.  Proving them needs the structural matcher (issue 6);
    the numeric search may end unknown."""
    rng = np.random.default_rng(1)
    layers = random_layers(rng, [2, 8, 8, 2])
    rewritten = permuted(rng, layers) if edit == "permuted" else duplicated_scaled(layers, layer=0, neuron=3)
    f, g = mlp(layers), mlp(rewritten, name=edit)
    verdict = check(f, g, _box(2), Relation.epsilon(1e-12), timeout=3)
    assert verdict.verdict in ("equivalent", "unknown")
    assert verdict.lower is not None and verdict.lower <= 1e-12


def test_one_weight_changed_eps_decides():
    rng = np.random.default_rng(3)
    layers = random_layers(rng, [3, 8, 8, 2])
    changed = [(np.array(w), np.array(b)) for w, b in layers]
    changed[1][0][2, 4] += 1e-3
    f, g = mlp(layers), mlp(changed, name="changed")
    loose = check(f, g, _box(3), Relation.epsilon(1e-2), timeout=60)
    _assert_proof(loose, f, g)
    assert loose.lower <= loose.upper <= 1e-2
    tight_eps = loose.lower / 2  # below a deviation that is actually reached
    tight = check(f, g, _box(3), Relation.epsilon(tight_eps), timeout=60)
    _assert_refutation(tight, f, g, Relation.epsilon(tight_eps))


def test_violation_in_a_tiny_region_is_found_by_the_complete_stage():
    rng = np.random.default_rng(4)
    layers = random_layers(rng, [4, 8, 2])
    centre = np.array([0.3, -0.4, 0.55, -0.1])
    f, g = mlp(layers), with_bump(layers, centre, radius=0.02, height=50.0)
    relation = Relation.epsilon(0.1)
    verdict = check(f, g, _box(4), relation, timeout=60)
    _assert_refutation(verdict, f, g, relation)
    assert verdict.stats["stage"] != "falsification"
    assert np.abs(np.array(verdict.counterexample.input) - centre).sum() < 0.02


def test_top1_tie_is_a_violation_under_the_strict_rule():
    # f = [x, x] ties everywhere; g = [x, x + relu(-x)] breaks the tie for x < 0 only
    f = mlp([(np.array([[1.0], [1.0]]), np.zeros(2))], name="tie")
    g = mlp([(np.array([[1.0], [-1.0]]), np.zeros(2)), (np.array([[1.0, -1.0], [1.0, 0.0]]), np.zeros(2))],
            name="untie")
    verdict = check(f, g, _box(1), Relation.top1(), timeout=30)
    _assert_refutation(verdict, f, g, Relation.top1())
    assert verdict.counterexample.input[0] < 0


def test_top1_agreeing_ties_are_not_refuted():
    # both tie exactly at x = 0 and agree elsewhere: no counterexample exists
    f = mlp([(np.array([[1.0], [-1.0]]), np.zeros(2))], name="a")
    g = mlp([(np.array([[2.0], [-2.0]]), np.zeros(2))], name="b")
    verdict = check(f, g, _box(1), Relation.top1(), timeout=5)
    assert verdict.verdict in ("unknown", "equivalent")


def test_shape_mismatch_is_an_input_error():
    from nnequiv.errors import ShapeError

    rng = np.random.default_rng(5)
    f, g = mlp(random_layers(rng, [3, 4, 2])), mlp(random_layers(rng, [3, 4, 3]))
    with pytest.raises(ShapeError, match="outputs differ"):
        check(f, g, _box(3), Relation.epsilon(0.1))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1), eps=st.sampled_from([1e-3, 1e-2, 1e-1]))
def test_random_pairs_sound(seed, eps):
    """A proved bound is >= the deviation at thousands of sampled points; refutations replay."""
    rng = np.random.default_rng(seed)
    layers = random_layers(rng, [2, 6, 6, 2])
    noisy = [(w + rng.normal(0, 1e-2, w.shape) * (rng.random(w.shape) < 0.2), b) for w, b in layers]
    f, g = mlp(layers), mlp(noisy, name="noisy")
    relation = Relation.epsilon(eps)
    verdict = check(f, g, _box(2), relation, timeout=20, seed=seed)
    xs = rng.uniform(-1, 1, (4000, 2))
    sampled = np.abs(evaluate(f, xs) - evaluate(g, xs)).max()
    if verdict.verdict == "equivalent":
        assert sampled <= verdict.upper <= eps
        assert verify(verdict.certificate, f, g).valid
    elif verdict.verdict == "not_equivalent":
        assert replay(f, g, np.array(verdict.counterexample.input), relation) is not None
    if verdict.lower is not None and verdict.upper is not None:
        assert verdict.lower <= verdict.upper


@pytest.mark.parametrize("seed", [1, 2, 21])
def test_network_against_itself_exact_and_top1(seed):
    """Regression: an underflow allowance leaked into exactly-zero rows (exact unproved), and top-1
    regions at a decision boundary could never close before the pairwise rule."""
    from tests.helpers.models import random_mlp

    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 5))
    f = random_mlp(rng, [n, 6, 6, 3])
    for relation in (Relation.exact(), Relation.top1()):
        verdict = check(f, f, _box(n), relation, timeout=20)
        _assert_proof(verdict, f, f)
