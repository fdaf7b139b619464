"""``merge-linear`` and its evidence ``linear_merge``: what is merged (exactly, with a certificate the
checker accepts), what is refused (with a witness input where the merged network really differs),
and every tampered evidence item rejected with a reason naming it."""

from __future__ import annotations

import copy
from fractions import Fraction

import numpy as np
import pytest

from nnequiv.checker import verify
from nnequiv.checker.linear_merge import pre_activation_bounds
from nnequiv.interpret import evaluate_exact
from nnequiv.passes import PassOptions, get_pass
from nnequiv.passes.pipeline import compress
from nnequiv.spec.box import Box
from nnequiv.summary import summarize
from tests.helpers.pairs import mlp
from tests.test_passes_nets import q

merge_linear = get_pass("merge-linear")
COEFFICIENTS = [0.5, 2.0, 0.75, 0.25]


def combined_net(rng, coefficients, support_bias, activation="Relu", n_in=8, extra=2):
    """Layer 0: ``len(coefficients)`` support neurons (bias ``support_bias``), ``extra`` free neurons, then
    neuron ``k`` (last) with row and bias ``sum c_i (row_i, bias_i)`` (exact for these dyadic weights)."""
    s = len(coefficients)
    w = q(rng, s + extra, n_in)
    b = np.append(np.broadcast_to(np.asarray(support_bias, float), s), q(rng, extra))
    c = np.array(coefficients)
    row, bias = c @ w[:s], c @ b[:s]
    assert all(Fraction(v) == sum(Fraction(ci) * Fraction(wi) for ci, wi in zip(c, col))
               for v, col in zip(row, w[:s].T))
    w0, b0 = np.vstack([w, row]), np.append(b, bias)
    return mlp([(w0, b0), (q(rng, 2, s + extra + 1), q(rng, 2))], activation=activation)


def agrees_exactly_on_box(f, g, box, rng, n=6):
    x = np.vstack([box.sample(n, rng), box.corners(4, rng)])
    np.testing.assert_allclose(g.evaluate(x), f.evaluate(x), rtol=1e-12, atol=1e-12)
    for point in x[:3]:
        assert evaluate_exact(f, point).values.ravel().tolist() == evaluate_exact(g, point).values.ravel().tolist()


def _merged(net, box):
    result = merge_linear(net, PassOptions(box=box))
    reduced, certificate = compress(net, ["merge-linear"], box)
    report = verify(certificate, net, reduced)
    assert report.valid, report.problems
    return result, reduced, certificate


# ------------------------------------------------------------------------------ merged
@pytest.mark.parametrize("terms", [2, 3, 4])
@pytest.mark.parametrize("phase, activation", [(20.0, "Relu"), (-20.0, "Relu"), (20.0, "LeakyRelu"),
                                               (-20.0, "LeakyRelu")])
def test_positive_combinations_are_merged_exactly(terms, phase, activation):
    rng = np.random.default_rng(100 + terms)
    coefficients = COEFFICIENTS[:terms]
    net = combined_net(rng, coefficients, support_bias=phase, activation=activation)
    box = Box.uniform(-1, 1, 8)
    result, reduced, certificate = _merged(net, box)
    assert result.stats.applied == 1
    assert summarize(reduced).neurons == summarize(net).neurons - 1
    merge = certificate["steps"][0]["layers"][0]["merges"][0]
    k = terms + 2
    assert merge["neuron"] == k
    assert {t["neuron"]: Fraction(t["c"]) for t in merge["terms"]} == \
        {i: Fraction(c) for i, c in enumerate(coefficients)}
    assert certificate["claim"]["relation"]["kind"] == "exact"
    agrees_exactly_on_box(net, reduced, box, rng)


def test_mixed_sign_combination_is_merged_when_every_involved_sign_agrees():
    """z_k = z_0 - z_1 + z_2: no member can be written with positive coefficients, so z_k's sign is
    part of the condition (M2'); every pre-activation is positive on the box."""
    rng = np.random.default_rng(110)
    net = combined_net(rng, [1.0, -1.0, 1.0], support_bias=60.0)
    box = Box.uniform(-1, 1, 8)
    result, reduced, certificate = _merged(net, box)
    assert result.stats.applied == 1
    terms = certificate["steps"][0]["layers"][0]["merges"][0]["terms"]
    assert sorted(Fraction(t["c"]) for t in terms) == [-1, 1, 1]
    agrees_exactly_on_box(net, reduced, box, rng)


def test_mixed_relation_is_turned_into_a_positive_combination():
    """z_3 = 2 z_0 - z_1 is merged as z_0 = (z_3 + z_1) / 2: positive, z_0's sign is not needed."""
    rng = np.random.default_rng(111)
    net = combined_net(rng, [2.0, -1.0], support_bias=20.0, extra=0)
    result, reduced, certificate = _merged(net, Box.uniform(-1, 1, 8))
    merge = certificate["steps"][0]["layers"][0]["merges"][0]
    assert merge["neuron"] == 0
    assert {t["neuron"]: Fraction(t["c"]) for t in merge["terms"]} == {1: Fraction(1, 2), 2: Fraction(1, 2)}


def two_layer_net():
    """h = (relu(x), relu(-x)); layer 1: z_a = 2 h_0 - h_1 + 9/8 >= 1/8, z_b = h_0 + 3 h_1 + 1/2 >= 1/2,
    z_k = z_a + z_b.  Both are positive on [-1, 1], but the bounds show it only after splitting at 0.
    Layer 0's h_1 = -1 * h_0 cannot merge (opposite signs)."""
    w0, b0 = np.array([[1.0], [-1.0]]), np.zeros(2)
    return mlp([(w0, b0), (W1, B1), (W2, B2)])


W1, B1 = np.array([[2.0, -1.0], [1.0, 3.0], [3.0, 2.0]]), np.array([1.125, 0.5, 1.625])
W2, B2 = np.array([[1.0, -2.0, 0.5], [0.25, 1.0, -1.0]]), np.array([0.5, -0.25])


def test_deeper_layer_merge_needs_a_split_and_the_first_layer_is_refuted():
    net = two_layer_net()
    box = Box.uniform(-1, 1, 1)
    result, reduced, certificate = _merged(net, box)
    assert result.stats.applied == 1
    layer = certificate["steps"][0]["layers"][0]
    assert layer["activation"] == 3 and len(layer["merges"][0]["cover"]) >= 2
    witnesses = result.stats.details["witnesses"]
    assert [(w.layer, w.neuron) for w in witnesses] == [("act0", 1)]
    # the witness is real: merging h_1 into h_0 blindly (V[:, 0] -= V[:, 1]) changes the output there
    blind = mlp([(np.array([[1.0]]), np.zeros(1)), (W1[:, :1] - W1[:, 1:], B1), (W2, B2)])
    x = witnesses[0].x
    assert box.contains(np.array(x))
    assert evaluate_exact(blind, x).values.ravel().tolist() != evaluate_exact(net, x).values.ravel().tolist()
    agrees_exactly_on_box(net, reduced, box, np.random.default_rng(112))


def test_merge_whose_outgoing_weights_round_is_certified_with_an_epsilon():
    rng = np.random.default_rng(113)
    net = combined_net(rng, [0.5, 2.0], support_bias=20.0, extra=0)
    w1 = np.array(net.initializers["w1"])
    w1[:, 2] = 2.0 ** -60 * 3                  # 0.5 * 3 * 2^-60 added to an O(1) weight rounds
    net = net.replace(initializers={**net.initializers, "w1": w1})
    box = Box.uniform(-1, 1, 8)
    result, reduced, certificate = _merged(net, box)
    assert result.stats.applied == 1 and result.stats.epsilon > 0
    assert certificate["claim"]["relation"]["kind"] == "eps"
    low = copy.deepcopy(certificate)
    low["steps"][0]["epsilon"] = (0.0).hex()
    problems = [str(p) for p in verify(low, net, reduced).problems]
    assert any(p.startswith("steps/0/epsilon") for p in problems), problems
    without_box = merge_linear(net, PassOptions())
    assert without_box.stats.applied == 0


# ------------------------------------------------------------------------------ refused
def _blind_merge(net, k, coefficients):
    """Layer-0 merge of neuron k into 0..len(c)-1 without any sign condition (built independently)."""
    w0, b0 = np.array(net.initializers["w0"]), np.array(net.initializers["b0"])
    w1, b1 = np.array(net.initializers["w1"]), np.array(net.initializers["b1"])
    for i, c in enumerate(coefficients):
        w1[:, i] += c * w1[:, k]
    keep = [r for r in range(w0.shape[0]) if r != k]
    return mlp([(w0[keep], b0[keep]), (w1[:, keep], b1)])


@pytest.mark.parametrize("name, coefficients, support_bias", [
    ("supports change sign on the box", [0.5, 2.0], 0.0),
    ("supports positive, z_k = z_0 - z_1 + z_2 changes sign", [1.0, -1.0, 1.0], [4.0, 8.0, 4.0]),
])
def test_sign_condition_failing_on_the_box_is_refused_with_a_real_witness(name, coefficients, support_bias):
    rng = np.random.default_rng(120)
    net = combined_net(rng, coefficients, support_bias, extra=0)
    k = len(coefficients)
    box = Box.uniform(-0.25, 0.25, 8)
    if np.any(support_bias):   # the wrong variant (ignore z_k's sign) would accept: the supports alone agree
        lo, _ = pre_activation_bounds(net, 1, box.lower[None], box.upper[None])
        assert np.all(lo[0, :k] >= 0) and lo[0, k] < 0
    result, reduced, certificate = _merged(net, box)
    assert result.stats.applied == 0, name
    assert summarize(reduced).neurons == summarize(net).neurons
    (witness,) = result.stats.details["witnesses"]
    assert witness.neuron == k and box.contains(np.array(witness.x))
    assert any(f"neuron {k}" in r.where and "witness" in r.reason for r in result.stats.refused)
    blind = _blind_merge(net, k, coefficients)
    difference = np.abs(evaluate_exact(blind, witness.x).values - evaluate_exact(net, witness.x).values).max()
    assert difference > 0 and float(difference) == pytest.approx(witness.difference)


def test_nothing_to_merge_in_a_generic_network():
    rng = np.random.default_rng(130)
    net = mlp([(q(rng, 5, 8), q(rng, 5)), (q(rng, 4, 5), q(rng, 4)), (q(rng, 2, 4), q(rng, 2))])
    result, reduced, certificate = _merged(net, Box.uniform(-1, 1, 8))
    assert result.stats.applied == 0 and not result.stats.refused
    assert certificate["steps"][0]["layers"] == []
    assert summarize(reduced).neurons == summarize(net).neurons


def test_without_a_box_only_proportional_merges_are_made():
    rng = np.random.default_rng(131)
    net = combined_net(rng, [0.5, 2.0], support_bias=20.0)
    result = merge_linear(net, PassOptions())
    assert result.stats.applied == 0
    assert any("box" in r.reason for r in result.stats.refused)
    w0, b0 = np.array(net.initializers["w0"]), np.array(net.initializers["b0"])
    scaled = net.replace(initializers={**net.initializers, "w0": np.vstack([w0, 3 * w0[2]]),
                                       "b0": np.append(b0, 3 * b0[2]),
                                       "w1": np.hstack([net.initializers["w1"], q(rng, 2, 1)])})
    reduced, certificate = compress(scaled, ["merge-linear"])
    assert verify(certificate, scaled, reduced).valid
    assert summarize(reduced).neurons == summarize(scaled).neurons - 1


# ------------------------------------------------------------------------------ tampering
@pytest.fixture(scope="module")
def split_case():
    net = two_layer_net()
    box = Box.uniform(-1, 1, 1)
    reduced, certificate = compress(net, ["merge-linear"], box)
    assert verify(certificate, net, reduced).valid
    return net, reduced, certificate


MERGE = "steps/0/layers/0/merges/0"


def _merge(c):
    return c["steps"][0]["layers"][0]["merges"][0]


def _scale_coefficient(c):
    _merge(c)["terms"][0]["c"] = str(Fraction(_merge(c)["terms"][0]["c"]) * 3 / 2)


def _zero_coefficient(c):
    _merge(c)["terms"][0]["c"] = "0"


def _other_neuron(c):
    """Swap the merged neuron with its first term."""
    merge = _merge(c)
    merge["neuron"], merge["terms"][0]["neuron"] = merge["terms"][0]["neuron"], merge["neuron"]


def _neuron_out_of_range(c):
    _merge(c)["neuron"] = 7


def _term_is_merged_neuron(c):
    _merge(c)["terms"][0]["neuron"] = _merge(c)["neuron"]


def _drop_sub_box(c):
    del _merge(c)["cover"][0]


def _shrink_sub_box(c):
    sub = _merge(c)["cover"][0]
    sub["upper_hex"] = [(float.fromhex(v) - 2.0 ** -10).hex() for v in sub["upper_hex"]]


def _whole_box_as_sub_box(c):
    _merge(c)["cover"] = [{"lower_hex": [(-1.0).hex()], "upper_hex": [(1.0).hex()]}]


def _no_cover(c):
    _merge(c)["cover"] = []


def _bigger_claim_box(c):
    c["claim"]["box"] = Box.uniform(-2, 1, 1).to_json()


def _unreadable_sub_box(c):
    _merge(c)["cover"][0]["lower_hex"] = ["two"]


TAMPERS = {
    "coefficient": (_scale_coefficient, MERGE, "not exactly"),
    "zero coefficient": (_zero_coefficient, f"{MERGE}/terms/0/c", "non-zero"),
    "merged neuron": (_other_neuron, MERGE, "not exactly"),
    "neuron out of range": (_neuron_out_of_range, f"{MERGE}/neuron", "out of range"),
    "term is the merged neuron": (_term_is_merged_neuron, f"{MERGE}/terms/0/neuron", "cannot be a term"),
    "sub-box dropped": (_drop_sub_box, f"{MERGE}/cover", "do not cover"),
    "sub-box shrunk": (_shrink_sub_box, f"{MERGE}/cover", "do not cover"),
    "sub-box without a shared sign": (_whole_box_as_sub_box, f"{MERGE}/cover/0", "sharing a sign"),
    "no cover": (_no_cover, f"{MERGE}/cover", "sub-boxes"),
    "claim box enlarged": (_bigger_claim_box, f"{MERGE}/cover", "do not cover"),
    "unreadable sub-box": (_unreadable_sub_box, f"{MERGE}/cover/0", "unreadable"),
}


@pytest.mark.parametrize("name", sorted(TAMPERS))
def test_tampered_item_is_rejected_with_its_name(split_case, name):
    net, reduced, certificate = split_case
    edit, item, words = TAMPERS[name]
    changed = copy.deepcopy(certificate)
    edit(changed)
    report = verify(changed, net, reduced)
    assert not report.valid
    problems = [str(p) for p in report.problems]
    assert any(p.startswith(item + ":") and words in p for p in problems), problems
