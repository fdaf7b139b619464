"""``lump --tol``: nearly proportional neurons are lumped only when asked, with an epsilon the checker
re-derives from the witness (``proofs/lumping.md`` L5); never silently without ``--tol``."""

from __future__ import annotations

import copy
from fractions import Fraction

import numpy as np
import pytest
from click.testing import CliRunner

from nnequiv.certificate import load_certificate
from nnequiv.checker import verify
from nnequiv.cli import main
from nnequiv.errors import UsageError
from nnequiv.interpret import evaluate_exact
from nnequiv.onnx_io import save_onnx
from nnequiv.passes import PassOptions, get_pass
from nnequiv.passes.pipeline import compress
from nnequiv.spec.box import Box
from tests.helpers.conv_nets import planted_cnn
from tests.helpers.pairs import mlp
from tests.test_passes_lump_conv import _channels, _members, _problems
from tests.test_passes_nets import quantized_layers

lump = get_pass("lump")


def near_mlp(seed: int, relative: float):
    """Neuron 4 of layer 0 is 2 x neuron 1 up to a relative perturbation ``relative``."""
    rng = np.random.default_rng(seed)
    layers = quantized_layers(rng, [4, 4, 3, 2])
    w, b = layers[0]
    near = 2.0 * w[1] * (1 + relative * rng.normal(size=4))
    layers[0] = (np.vstack([w, near]), np.append(b, 2.0 * b[1]))
    layers[1] = (np.hstack([layers[1][0], rng.integers(-8, 8, (3, 1)) / 16]), layers[1][1])
    return mlp(layers)


def test_nearly_proportional_neurons_are_never_lumped_without_tol():
    net = near_mlp(30, 1e-9)
    box = Box.uniform(-1, 1, 4)
    for options in (PassOptions(), PassOptions(box=box)):
        result = lump(net, options)
        assert result.stats.applied == 0 and result.stats.epsilon == 0.0


def test_tol_needs_a_box():
    with pytest.raises(UsageError):
        lump(near_mlp(31, 1e-6), PassOptions(tol=1e-4))
    with pytest.raises(UsageError):
        PassOptions(tol=-1.0)


@pytest.mark.parametrize("seed", [32, 33, 34])
def test_tol_lumps_nearly_proportional_neurons_with_a_sound_epsilon(seed):
    net = near_mlp(seed, 1e-6)
    box = Box.uniform(-1, 1, 4)
    reduced, certificate = compress(net, ["lump"], box, tol=1e-4)
    epsilon = float.fromhex(certificate["claim"]["bound"])
    assert certificate["claim"]["relation"]["kind"] == "eps" and 0 < epsilon < 1e-3    # the witness keeps it tight
    assert set(_members(certificate)[0][:2]) == {1, 4}
    assert certificate["steps"][0]["layers"][0]["classes"][0]["exact"] is False
    assert verify(certificate, net, reduced).valid
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, size=(4000, 1, 4))
    assert np.abs(reduced.evaluate(x) - net.evaluate(x)).max() <= epsilon
    for sample in x[:3]:
        diff = evaluate_exact(reduced, sample).values - evaluate_exact(net, sample).values
        assert max(abs(v) for v in diff.ravel()) <= Fraction(epsilon)
    low = copy.deepcopy(certificate)
    low["steps"][0]["epsilon"] = (epsilon / 1e6).hex()
    assert any(p.startswith("steps/0/epsilon") for p in _problems(low, net, reduced))
    claimed_exact = copy.deepcopy(certificate)
    del claimed_exact["steps"][0]["layers"][0]["classes"][0]["exact"]
    assert any(p.startswith("steps/0/layers/0/classes/0/members/0") and "not exactly" in p
               for p in _problems(claimed_exact, net, reduced))


def _witness_pairs(net, tol):
    from nnequiv.checker.lumping_rewrite import lumping
    from nnequiv.passes.lump import _search

    layers = _search(net, tol)[0]
    result = lumping(net, layers)
    return result, layers


@pytest.mark.parametrize("kind", ["mlp", "cnn", "cnn-conv"])
def test_witness_computes_the_lumped_network_exactly(kind):
    """L5: each witness has the widths of the network before its layer and, in exact arithmetic,
    the outputs of the network after it (here one layer: the target)."""
    if kind == "mlp":
        net = near_mlp(42, 1e-6)
    else:
        net = planted_cnn(np.random.default_rng(43), ((0, 2.0), (1, 0.5)), tail="flatten" if kind == "cnn" else "conv")
        filters = np.array(net.initializers["K1"])
        filters[3] *= 1 + 1e-7 * np.random.default_rng(44).normal(size=filters[3].shape)
        net = net.replace(initializers={**net.initializers, "K1": filters})
    result, layers = _witness_pairs(net, 1e-4)
    assert not result.exact and len(result.witnesses) == 1
    before, witness = result.witnesses[0]
    assert before is net
    rng = np.random.default_rng(45)
    for sample in rng.normal(size=(2,) + net.input.shape):
        assert tuple(evaluate_exact(witness, sample).values.ravel()) == \
            tuple(evaluate_exact(result.network, sample).values.ravel())
    from nnequiv.lowering import to_pwl

    assert [layer.weight.shape for layer in to_pwl(witness).layers] == \
        [layer.weight.shape for layer in to_pwl(net).layers]


def test_tol_in_two_layers_sums_the_witness_bounds():
    rng = np.random.default_rng(46)
    layers = quantized_layers(rng, [4, 5, 4, 2])
    for layer in (0, 1):
        w, b = layers[layer]
        near = 0.5 * w[2] * (1 + 1e-6 * rng.normal(size=w.shape[1]))
        layers[layer] = (np.vstack([w, near]), np.append(b, 0.5 * b[2]))
        w_next, b_next = layers[layer + 1]
        layers[layer + 1] = (np.hstack([w_next, rng.integers(-8, 8, (w_next.shape[0], 1)) / 16]), b_next)
    net = mlp(layers)
    box = Box.uniform(-1, 1, 4)
    result, _ = _witness_pairs(net, 1e-4)
    assert len(result.witnesses) == 2
    reduced, certificate = compress(net, ["lump"], box, tol=1e-4)
    assert [len(layer["classes"]) for layer in certificate["steps"][0]["layers"]] == [1, 1]
    assert verify(certificate, net, reduced).valid
    epsilon = float.fromhex(certificate["claim"]["bound"])
    x = rng.uniform(-1, 1, size=(4000, 1, 4))
    assert np.abs(reduced.evaluate(x) - net.evaluate(x)).max() <= epsilon < 1e-3


def test_wrong_rho_in_an_inexact_class_is_caught_by_the_epsilon():
    """A forged step: rho of the near member doubled, the matching reduced model shipped, the old epsilon
    claimed.  The replay accepts the class (it is not checked for proportionality) but the witness
    bound exceeds the claim."""
    from nnequiv.checker.lumping_rewrite import LumpClass, LumpLayer, lumping
    from nnequiv.onnx_io import canonical_sha256
    from nnequiv.passes.lump import _search

    net = near_mlp(48, 1e-6)
    box = Box.uniform(-1, 1, 4)
    reduced, certificate = compress(net, ["lump"], box, tol=1e-4)
    layer = _search(net, 1e-4)[0][0]
    cls = layer.classes[0]
    (k, rho), = cls.members
    forged = lumping(net, [LumpLayer(layer.activation, (LumpClass(cls.representative, ((k, 2 * rho),), False),))])
    fake = forged.network
    changed = copy.deepcopy(certificate)
    changed["steps"][0]["layers"][0]["classes"][0]["members"][0]["rho"] = str(2 * rho)
    changed["steps"][0]["to"] = changed["models"]["reduced"]["sha256"] = canonical_sha256(fake)
    problems = _problems(changed, net, fake)
    assert any(p.startswith("steps/0/epsilon") and "proved only" in p for p in problems), problems


def test_inexact_member_rho_must_be_a_float():
    net = near_mlp(47, 1e-6)
    box = Box.uniform(-1, 1, 4)
    reduced, certificate = compress(net, ["lump"], box, tol=1e-4)
    changed = copy.deepcopy(certificate)
    changed["steps"][0]["layers"][0]["classes"][0]["members"][0]["rho"] = "1/3"
    problems = _problems(changed, net, reduced)
    assert any(p.startswith("steps/0/layers/0/classes/0/members/0/rho") for p in problems), problems


def test_tol_lumps_nearly_proportional_conv_channels():
    net = planted_cnn(np.random.default_rng(35), ((0, 2.0), (1, 0.5)), tail="flatten")
    filters = np.array(net.initializers["K1"])
    filters[4] *= 1 + 1e-7 * np.random.default_rng(36).normal(size=filters[4].shape)
    net = net.replace(initializers={**net.initializers, "K1": filters})
    assert lump(net, PassOptions()).stats.applied == 1                       # only the exact copy
    box = Box.uniform(-0.5, 0.5, net.input.size)
    reduced, certificate = compress(net, ["lump"], box, tol=1e-5)
    assert _channels(reduced) == _channels(net) - 2
    assert verify(certificate, net, reduced).valid
    epsilon = float.fromhex(certificate["claim"]["bound"])
    x = np.random.default_rng(37).uniform(-0.5, 0.5, size=(500,) + net.input.shape)
    assert np.abs(reduced.evaluate(x) - net.evaluate(x)).max() <= epsilon


def test_tol_through_maxpool_lumps_near_classes_with_a_sound_epsilon():
    """MaxPool lowers to ReLU tournament layers, so the deviation of a near class through it is
    bounded: both classes are lumped, the certificate verifies and sampled deviations stay below ε."""
    net = planted_cnn(np.random.default_rng(38), ((0, 2.0), (1, 0.5)), pool="after", tail="flatten")
    filters = np.array(net.initializers["K1"])
    filters[4] *= 1 + 1e-7 * np.random.default_rng(39).normal(size=filters[4].shape)
    net = net.replace(initializers={**net.initializers, "K1": filters})
    box = Box.uniform(-1, 1, net.input.size)
    reduced, certificate = compress(net, ["lump"], box, tol=1e-5)
    assert _channels(reduced) == _channels(net) - 2
    assert verify(certificate, net, reduced).valid
    epsilon = float.fromhex(certificate["claim"]["bound"])
    assert 0.0 < epsilon < 1e-3
    x = np.random.default_rng(40).uniform(-1, 1, size=(500,) + net.input.shape)
    assert np.abs(reduced.evaluate(x) - net.evaluate(x)).max() <= epsilon


def test_cli_tol_needs_box_and_certifies_with_it(tmp_path):
    net = near_mlp(40, 1e-6)
    save_onnx(net, tmp_path / "net.onnx")
    runner = CliRunner()
    base = ["compress", str(tmp_path / "net.onnx"), "-o", str(tmp_path / "small.onnx"), "--passes", "lump",
            "--cert", str(tmp_path / "cert.json"), "--tol", "1e-4"]
    refused = runner.invoke(main, base, standalone_mode=False)
    assert isinstance(refused.exception, UsageError) and "--box" in str(refused.exception.fix)
    result = runner.invoke(main, base + ["--box", "-1:1"], standalone_mode=False)
    assert result.exception is None and result.return_value == 0, result.output
    assert load_certificate(tmp_path / "cert.json")["claim"]["relation"]["kind"] == "eps"


