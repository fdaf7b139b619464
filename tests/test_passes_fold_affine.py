"""``fold-affine``: consecutive affine maps become one Gemm; exactness and refusals."""

from __future__ import annotations

import numpy as np

from nnequiv.checker import verify
from nnequiv.passes import PassOptions, get_pass
from nnequiv.passes.pipeline import compress
from nnequiv.spec.box import Box
from tests.helpers.pairs import mlp
from tests.test_passes_nets import quantized_layers, same_function, stacked_net

fold = get_pass("fold-affine")


def _certified(net, box=None):
    reduced, certificate = compress(net, ["fold-affine"], box)
    report = verify(certificate, net, reduced)
    assert report.valid, report.problems
    return reduced, certificate


def test_stacked_gemms_fold_exactly():
    rng = np.random.default_rng(30)
    net = stacked_net(rng, widths=(3, 5, 4, 2))
    reduced, certificate = _certified(net)
    assert [n.op for n in reduced.nodes] == ["Gemm"]
    assert certificate["steps"][0]["chains"] == [[0, 1, 2]]
    assert certificate["claim"]["relation"]["kind"] == "exact"
    same_function(net, reduced, rng, exact=True)


def test_matmul_add_chains_fold_exactly():
    rng = np.random.default_rng(31)
    net = stacked_net(rng, matmul=True, widths=(4, 3, 2))
    reduced, _ = _certified(net)
    assert [n.op for n in reduced.nodes] == ["Gemm"]
    same_function(net, reduced, rng, exact=True)


def test_inexact_product_is_refused_without_a_box_and_certified_with_one():
    rng = np.random.default_rng(32)
    net = stacked_net(rng, exact=False, widths=(3, 4, 2))
    result = fold(net, PassOptions())
    assert result.stats.applied == 0 and "not exact" in result.stats.refused[0].reason
    box = Box.uniform(-2, 2, 3)
    reduced, certificate = _certified(net, box)
    assert [n.op for n in reduced.nodes] == ["Gemm"]
    eps = float.fromhex(certificate["claim"]["bound"])
    assert 0 < eps < 1e-12
    x = box.sample(200, rng)
    assert np.max(np.abs(net.evaluate(x) - reduced.evaluate(x))) <= eps


def test_no_fold_across_a_relu():
    rng = np.random.default_rng(33)
    net = mlp(quantized_layers(rng, [3, 4, 2]))
    result = fold(net, PassOptions())
    assert result.stats.applied == 0 and not result.stats.refused
    assert [n.op for n in result.network.nodes] == ["Gemm", "Relu", "Gemm"]


def test_fold_that_grows_parameters_is_refused():
    rng = np.random.default_rng(34)
    net = stacked_net(rng, widths=(20, 2, 20))
    result = fold(net, PassOptions())
    assert result.stats.applied == 0 and "grow" in result.stats.refused[0].reason
