"""``fuse-bn``: BatchNormalization folded into the Gemm / Conv before it; refusals."""

from __future__ import annotations

import numpy as np

from nnequiv.checker import verify
from nnequiv.onnx_io import canonical_sha256
from nnequiv.passes import PassOptions, get_pass
from nnequiv.passes.pipeline import compress
from nnequiv.spec.box import Box
from tests.test_passes_nets import conv_bn_net, gemm_bn_net, same_function

fuse = get_pass("fuse-bn")


def _ops(net):
    return [n.op for n in net.nodes]


def _certified(net, box=None):
    reduced, certificate = compress(net, ["fuse-bn"], box)
    report = verify(certificate, net, reduced)
    assert report.valid, report.problems
    return reduced, certificate


def test_gemm_bn_with_square_variance_folds_exactly():
    rng = np.random.default_rng(20)
    net = gemm_bn_net(rng)
    reduced, certificate = _certified(net)
    assert _ops(reduced) == ["Gemm", "Relu", "Gemm"]
    assert certificate["claim"]["relation"]["kind"] == "exact"
    assert certificate["steps"][0]["folds"] == [{"batchnorm": 1, "into": 0}]
    same_function(net, reduced, rng, exact=True)


def test_conv_bn_folds_exactly_with_padding():
    rng = np.random.default_rng(21)
    net = conv_bn_net(rng)
    reduced, _ = _certified(net)
    assert _ops(reduced) == ["Conv", "Relu"]
    same_function(net, reduced, rng, exact=True, n=16)


def test_inexact_fold_is_refused_without_a_box():
    rng = np.random.default_rng(22)
    net = gemm_bn_net(rng, var=rng.uniform(0.5, 2.0, 4), eps=1e-5)
    result = fuse(net, PassOptions())
    assert result.stats.applied == 0 and "not exact" in result.stats.refused[0].reason
    assert canonical_sha256(result.network) == canonical_sha256(net)
    reduced, certificate = _certified(net)
    assert _ops(reduced) == _ops(net) and certificate["claim"]["relation"]["kind"] == "exact"


def test_inexact_fold_is_certified_with_epsilon_on_a_box():
    rng = np.random.default_rng(23)
    net = gemm_bn_net(rng, var=rng.uniform(0.5, 2.0, 4), eps=1e-5)
    box = Box.uniform(-1, 1, 3)
    reduced, certificate = _certified(net, box)
    assert _ops(reduced) == ["Gemm", "Relu", "Gemm"]
    eps = float.fromhex(certificate["steps"][0]["epsilon"])
    assert 0 < eps < 1e-12 and certificate["claim"]["relation"]["kind"] == "eps"
    x = box.sample(200, rng)
    assert np.max(np.abs(net.evaluate(x) - reduced.evaluate(x))) <= eps


def test_training_mode_is_refused():
    rng = np.random.default_rng(24)
    net = gemm_bn_net(rng, training=1)
    result = fuse(net, PassOptions())
    assert result.stats.applied == 0
    assert "training mode" in result.stats.refused[0].reason
    assert _ops(result.network) == _ops(net)


def test_bn_after_a_nonlinearity_is_not_folded():
    rng = np.random.default_rng(25)
    net = gemm_bn_net(rng, after_relu=True)
    result = fuse(net, PassOptions())
    assert result.stats.applied == 0 and "Relu" in result.stats.refused[0].reason
    reduced, _ = _certified(net)
    assert _ops(reduced) == _ops(net)


def test_conv_output_with_another_consumer_is_not_folded():
    rng = np.random.default_rng(26)
    net = conv_bn_net(rng, extra_consumer=True)
    result = fuse(net, PassOptions())
    assert result.stats.applied == 0 and "used by more than" in result.stats.refused[0].reason
    assert _ops(result.network) == _ops(net)
    same_function(net, result.network, rng, exact=False, n=8)
