"""The structural stage infers consecutive Gemm layers fused into one by another tool (the
``fold-affine`` pass on the original: an ``affine_fold`` step, then a weight comparison)."""

from __future__ import annotations

import numpy as np
import pytest

from nnequiv.checker import verify
from nnequiv.engine.check import check
from nnequiv.ir import Network, Node, TensorSpec
from nnequiv.spec.relation import Relation

BOX = ([-1.0] * 8, [1.0] * 8)


def _net(nodes, init, name):
    return Network.create(inputs=(TensorSpec("x", (1, 8), "float32", (0,)),),
                          outputs=(TensorSpec("y", (1, 3), "float32", (0,)),),
                          nodes=nodes, initializers=init, name=name)


def _pair(seed: int, float32_product: bool):
    rng = np.random.default_rng(seed)
    w1, b1 = rng.normal(0, .5, (30, 8)).astype(np.float32), rng.normal(0, .1, 30).astype(np.float32)
    w2, b2 = rng.normal(0, .3, (20, 30)).astype(np.float32), rng.normal(0, .1, 20).astype(np.float32)
    w3, b3 = rng.normal(0, .3, (3, 20)).astype(np.float32), rng.normal(0, .1, 3).astype(np.float32)
    tail = [Node("r", "Relu", ("h2",), ("a",), {}), Node("g3", "Gemm", ("a", "w3", "b3"), ("y",), {"transB": 1})]
    f = _net([Node("g1", "Gemm", ("x", "w1", "b1"), ("h1",), {"transB": 1}),
              Node("g2", "Gemm", ("h1", "w2", "b2"), ("h2",), {"transB": 1})] + tail,
             dict(w1=w1, b1=b1, w2=w2, b2=b2, w3=w3, b3=b3), "two_gemms")
    dtype = np.float32 if float32_product else np.float64      # a tool fusing in float32 or float64
    fused_w = (w2.astype(dtype) @ w1.astype(dtype)).astype(np.float32)
    fused_b = (w2.astype(dtype) @ b1.astype(dtype) + b2).astype(np.float32)
    g = _net([Node("g12", "Gemm", ("x", "wf", "bf"), ("h2",), {"transB": 1})] + tail,
             dict(wf=fused_w, bf=fused_b, w3=w3, b3=b3), "fused")
    return f, g


@pytest.mark.parametrize("float32_product", [False, True])
@pytest.mark.parametrize("seed", range(2))
def test_fused_gemms_are_matched_structurally_with_a_sound_epsilon(seed, float32_product):
    f, g = _pair(seed, float32_product)
    verdict = check(f, g, BOX, Relation.epsilon(1e-3), timeout=30, compose=False)
    assert verdict.verdict == "equivalent" and verdict.stats["stage"] == "structural", verdict.stats
    assert verdict.stats["structural"]["steps"][0] == "affine_fold"
    assert verify(verdict.certificate, f, g).valid
    x = np.random.default_rng(seed).uniform(-1, 1, (20000, 8))
    assert float(np.max(np.abs(f.evaluate(x) - g.evaluate(x)))) <= verdict.upper


def test_a_wrong_fusion_is_not_matched():
    f, g = _pair(0, False)
    weights = dict(g.initializers)
    weights["wf"] = weights["wf"] * np.float32(1.01)
    g = g.replace(initializers=weights)
    verdict = check(f, g, BOX, Relation.epsilon(1e-3), timeout=30, compose=False)
    assert verdict.verdict == "not_equivalent"
