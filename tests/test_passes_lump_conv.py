"""``lump`` on Conv channels (through Relu, LeakyRelu, pooling, Flatten/Reshape): what it removes,
what it must leave alone, that the checker re-derives every claim, and that the search converts
only candidate members to fractions (``--tol``: ``test_passes_lump_tol.py``)."""

from __future__ import annotations

import copy
from fractions import Fraction

import numpy as np
import pytest

from nnequiv.checker import verify
from nnequiv.interpret import evaluate_exact
from nnequiv.ir import Node
from nnequiv.passes import PassOptions, get_pass
from nnequiv.passes.pipeline import compress
from tests.helpers.conv_nets import planted_cnn
from tests.helpers.pairs import mlp

lump = get_pass("lump")


def _channels(net) -> int:
    return net.initializers[net.nodes[0].inputs[1]].shape[0]


def _members(certificate) -> list[tuple[int, int, Fraction]]:
    return [(c["representative"], m["neuron"], Fraction(m["rho"])) for layer in certificate["steps"][0]["layers"]
            for c in layer["classes"] for m in c["members"]]


def _exact_equal(f, g, rng, samples: int = 1) -> None:
    x = rng.normal(size=(16,) + f.input.shape) * 2
    np.testing.assert_allclose(g.evaluate(x), f.evaluate(x), rtol=1e-12, atol=1e-12)
    for sample in x[:samples]:
        assert tuple(evaluate_exact(f, sample).values.ravel()) == tuple(evaluate_exact(g, sample).values.ravel())


CONFIGS = {
    "relu -> conv": dict(),
    "leaky relu -> conv": dict(activation="LeakyRelu"),
    "relu -> maxpool -> conv": dict(pool="after"),
    "maxpool -> leaky relu -> conv": dict(pool="before", activation="LeakyRelu"),
    "relu -> flatten -> gemm": dict(tail="flatten"),
    "relu -> maxpool -> flatten -> gemm": dict(tail="flatten", pool="after"),
    "relu -> averagepool -> reshape -> gemm": dict(tail="reshape", pool="after", pool_op="AveragePool"),
    "relu -> reshape -> gemm": dict(tail="reshape"),
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_planted_channels_are_lumped_exactly(name):
    rng = np.random.default_rng(sorted(CONFIGS).index(name))
    planted = ((0, 2.0), (2, 0.5), (0, 3.0))
    net = planted_cnn(rng, planted, **CONFIGS[name])
    reduced, certificate = compress(net, ["lump"])
    assert verify(certificate, net, reduced).valid
    assert certificate["claim"]["relation"]["kind"] == "exact"
    assert _channels(reduced) == _channels(net) - 3
    assert sorted(_members(certificate)) == [(0, 3, Fraction(2)), (0, 5, Fraction(3)), (2, 4, Fraction(1, 2))]
    _exact_equal(net, reduced, rng)


def test_negative_rho_channels_are_never_lumped():
    rng = np.random.default_rng(20)
    net = planted_cnn(rng, ((0, -2.0), (1, -0.5), (2, 1.5)), pool="after")
    result = lump(net, PassOptions())
    assert [(j, k) for j, k, _ in _members({"steps": [result.step]})] == [(2, 5)]
    assert _channels(result.network) == _channels(net) - 1
    _exact_equal(net, result.network, rng)


def test_zero_bias_channels_and_zero_filters():
    rng = np.random.default_rng(21)
    net = planted_cnn(rng, ((0, 2.0), (1, 0.25)), bias=False, tail="flatten")
    filters = np.array(net.initializers["K1"])
    filters[2] = 0.0                                    # a dead channel (no bias): y = 0
    dead = np.concatenate([filters, np.zeros((1,) + filters.shape[1:])])
    weights = dict(net.initializers)
    pixels = 36
    weights["K1"] = dead
    weights["W2"] = np.concatenate([net.initializers["W2"], rng.integers(-8, 8, (3, pixels)) / 8.0], axis=1)
    net = net.replace(initializers=weights)
    reduced, certificate = compress(net, ["lump"])
    assert verify(certificate, net, reduced).valid
    assert (2, 5, Fraction(1)) in _members(certificate)            # the two all-zero filters
    assert _channels(reduced) == _channels(net) - 3
    _exact_equal(net, reduced, rng)


def test_grouped_conv_is_refused_and_left_alone():
    rng = np.random.default_rng(22)
    net = planted_cnn(rng, ((0, 2.0), (1, 2.0)), channels=4, group=2, image=(2, 6, 6))
    result = lump(net, PassOptions())
    assert result.stats.applied == 0
    assert any("grouped Conv" in r.reason for r in result.stats.refused)


def test_batchnorm_between_conv_and_activation_is_refused_naming_fuse_bn():
    rng = np.random.default_rng(23)
    net = planted_cnn(rng)
    nodes = list(net.nodes)
    conv = nodes[0]
    nodes[0] = Node(conv.name, "Conv", conv.inputs, ("pre",), dict(conv.attrs))
    nodes.insert(1, Node("bn", "BatchNormalization", ("pre", "g", "beta", "mu", "var"), ("z1",), {"epsilon": 0.0}))
    ones, zeros = np.ones(4), np.zeros(4)
    net = net.replace(nodes=tuple(nodes), initializers={**net.initializers, "g": ones, "beta": zeros, "mu": zeros,
                                                        "var": ones})
    result = lump(net, PassOptions())
    assert result.stats.applied == 0
    assert any("fuse-bn" in r.reason for r in result.stats.refused)
    reduced, certificate = compress(net, ["fuse-bn", "lump"])          # after folding it lumps
    assert verify(certificate, net, reduced).valid and _channels(reduced) == 3


def test_residual_branch_is_refused():
    """A channel read by a skip connection too is not lumped (its value is observed elsewhere)."""
    from tests.helpers.models import random_cnn

    net = random_cnn(np.random.default_rng(24), batchnorm=False, residual=True)
    result = lump(net, PassOptions())
    assert result.stats.applied == 0
    assert any("exactly one" in r.reason for r in result.stats.refused)


# ------------------------------------------------------------------------------ tampering
@pytest.fixture(scope="module")
def conv_chain():
    net = planted_cnn(np.random.default_rng(25), ((0, 2.0), (1, 0.5)), pool="after", tail="flatten")
    reduced, certificate = compress(net, ["lump"])
    return net, reduced, certificate


def _problems(certificate, f, g) -> list[str]:
    report = verify(certificate, f, g)
    assert not report.valid
    return [str(p) for p in report.problems]


def _cls(c):
    return c["steps"][0]["layers"][0]["classes"][0]


def _rho(c):
    _cls(c)["members"][0]["rho"] = str(Fraction(_cls(c)["members"][0]["rho"]) * 3)


def _member(c):
    _cls(c)["members"][0]["neuron"] = 2


def _inexact(c):
    _cls(c)["exact"] = False


TAMPERS = {
    "rho": (_rho, "steps/0/layers/0/classes/0/members/0"),
    "class member": (_member, "steps/0/layers/0/classes/0/members/0"),
    "exactness flag": (_inexact, "steps/0/epsilon"),
}


@pytest.mark.parametrize("name", sorted(TAMPERS))
def test_tampered_conv_evidence_is_rejected_naming_the_item(conv_chain, name):
    net, reduced, certificate = conv_chain
    edit, item = TAMPERS[name]
    changed = copy.deepcopy(certificate)
    edit(changed)
    problems = _problems(changed, net, reduced)
    assert any(p.startswith(item) for p in problems), problems


def test_changed_filter_weight_is_rejected(conv_chain):
    """A source whose member filter is off by one ulp: the replay refuses the class (certificate
    checked against a re-hashed source, so the hash check does not mask the replay's verdict)."""
    net, reduced, certificate = conv_chain
    filters = np.array(net.initializers["K1"])
    filters[4, 0, 0, 0] = np.nextafter(filters[4, 0, 0, 0], np.inf)
    changed_net = net.replace(initializers={**net.initializers, "K1": filters})
    from nnequiv.onnx_io import canonical_sha256

    changed = copy.deepcopy(certificate)
    changed["models"]["original"]["sha256"] = changed["steps"][0]["from"] = canonical_sha256(changed_net)
    problems = _problems(changed, changed_net, reduced)
    assert any(p.startswith("steps/0/layers/0/classes/") and "not exactly" in p for p in problems), problems


# ------------------------------------------------------------------------------ speed
def test_pass_converts_only_candidate_members_to_fractions(monkeypatch):
    """The search takes exact values of hash-bucket members only (not of whole layers)."""
    import nnequiv.passes.lump as lump_module

    converted = []
    original = lump_module.to_fractions

    def counting(values):
        converted.append(np.asarray(values).size)
        return original(values)

    monkeypatch.setattr(lump_module, "to_fractions", counting)
    rng = np.random.default_rng(41)
    w0, b0 = rng.integers(-64, 64, (400, 30)) / 32.0, rng.integers(-64, 64, 400) / 32.0
    w0, b0 = np.vstack([w0, 2.0 * w0[:5]]), np.append(b0, 2.0 * b0[:5])
    net = mlp([(w0, b0), (rng.integers(-64, 64, (3, 405)) / 32.0, np.zeros(3))])
    result = lump(net, PassOptions())
    assert result.stats.applied == 5
    assert sum(converted) == 10 * 31 + 10 * 3       # 5 pairs: rows with bias, and outgoing rows
