"""``simplify`` certificates: tampered evidence or models rejected naming the item; the CLI; the exact
integer scaling the replay's arithmetic rests on."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from nnequiv.checker import verify
from nnequiv.onnx_io import canonical_sha256
from nnequiv.passes.pipeline import run
from tests.helpers.pairs import mlp
from tests.helpers.simplify_nets import vgg, zero_channels
from tests.test_passes_nets import quantized_layers


def _problems(certificate, f, g):
    report = verify(certificate, f, g)
    assert not report.valid
    return report.problems


@pytest.fixture(scope="module")
def pruned():
    rng = np.random.default_rng(15)
    layers = quantized_layers(rng, [3, 6, 5, 2])
    layers[0][0][1], layers[0][1][1] = 0, 0.75
    layers[0][0][4] = 0
    net = mlp(layers)
    done = run(net, ["simplify"])
    return net, done.reduced, done.certificate


def test_changed_propagation_channel_is_rejected_naming_the_entry(pruned):
    net, reduced, certificate = pruned
    bad = copy.deepcopy(certificate)
    bad["steps"][0]["propagations"][0]["channel"] = 0          # a live neuron
    problems = _problems(bad, net, reduced)
    assert problems[0].item == "steps/0/propagations/0" and "non-zero incoming" in problems[0].reason


def test_changed_removed_index_is_rejected_naming_the_entry(pruned):
    net, reduced, certificate = pruned
    bad = copy.deepcopy(certificate)
    bad["steps"][1]["removals"][0]["channels"][0] = 0          # read with non-zero weights
    problems = _problems(bad, net, reduced)
    assert problems[0].item == "steps/1/removals/0" and "non-zero weight" in problems[0].reason


def test_changed_propagated_bias_is_rejected(pruned):
    net, reduced, certificate = pruned
    init = dict(reduced.initializers)
    name = reduced.node("gemm1").inputs[2]
    init[name] = np.array(init[name])
    init[name][0] = np.nextafter(init[name][0], np.inf)
    tampered = reduced.replace(initializers=init)
    bad = copy.deepcopy(certificate)
    bad["models"]["reduced"]["sha256"] = bad["steps"][-1]["to"] = canonical_sha256(tampered)
    problems = _problems(bad, net, tampered)
    assert problems[0].item == "steps/1/to"


def test_changed_zeroed_weight_of_the_original_is_rejected(pruned):
    net, reduced, certificate = pruned
    init = dict(net.initializers)
    init["w0"] = np.array(init["w0"])
    init["w0"][1, 0] = 2.0 ** -20                              # the "dead" neuron is alive after all
    tampered = net.replace(initializers=init)
    bad = copy.deepcopy(certificate)
    bad["models"]["original"]["sha256"] = bad["steps"][0]["from"] = canonical_sha256(tampered)
    problems = _problems(bad, tampered, reduced)
    assert problems[0].item == "steps/0/propagations/0" and "non-zero incoming" in problems[0].reason


def test_cli_compress_with_simplify_writes_two_steps_that_verify(tmp_path):
    from click.testing import CliRunner

    from nnequiv.certificate import load_certificate
    from nnequiv.cli import main
    from nnequiv.onnx_io import save_onnx

    rng = np.random.default_rng(19)
    net, _ = zero_channels(vgg(rng), rng)
    save_onnx(net, tmp_path / "net.onnx")
    runner = CliRunner()
    args = ["compress", str(tmp_path / "net.onnx"), "-o", str(tmp_path / "small.onnx"), "--passes", "simplify",
            "--cert", str(tmp_path / "cert.json")]
    result = runner.invoke(main, args, standalone_mode=False)
    assert result.exception is None and result.return_value == 0, result.output
    assert "VALID" in result.output and "chain of 2 steps" in result.output
    assert [s["kind"] for s in load_certificate(tmp_path / "cert.json")["steps"]] == \
        ["bias_propagation", "channel_removal"]
    ok = runner.invoke(main, ["verify", str(tmp_path / "cert.json"), str(tmp_path / "net.onnx"),
                              str(tmp_path / "small.onnx")], standalone_mode=False)
    assert ok.return_value == 0, ok.output


def test_scaled_ints_are_the_exact_values():
    from fractions import Fraction

    from nnequiv.checker.channels import scaled_ints

    rng = np.random.default_rng(21)
    values = np.concatenate([rng.normal(size=50), [0.0, -0.0, 5e-324, -2.5e-310, 1e300, 3.0, -0.1]])
    for array in (values, values[:50].astype(np.float32), values[:50].astype(np.float16)):
        ints, shift = scaled_ints(array, "w")
        assert [Fraction(int(i), 2 ** shift) if shift >= 0 else Fraction(int(i) * 2 ** -shift) for i in ints] == \
            [Fraction(float(v)) for v in array]
