"""Issue 6 at scale, on small seeded versions of the benchmark shapes: VGG-, ResNet- and
DenseNet-shaped torch CNNs with half their channels zeroed, reduced by our ``simplify`` pass,
Torch-Pruning and torch-simplify, are decided exactly by the structural stage with a certificate
the checker accepts; the numeric engine's size guard returns UNKNOWN (naming why) instead of
lowering a model it cannot hold; a simplifier that drops a live channel whose weights SUM to
zero is caught with a replayed counterexample and the first layer / channel named."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from nnequiv.checker import verify
from nnequiv.engine.check import check
from nnequiv.engine.size_guard import dense_estimate
from nnequiv.interpret import evaluate
from nnequiv.loading import load
from nnequiv.onnx_io import save_onnx
from nnequiv.passes import PassOptions, get_pass

torch = pytest.importorskip("torch")

from tests.helpers import third_party  # noqa: E402
from tests.helpers.torch_families import (FAMILIES, SCALES, build, export, signed_sum_channel,  # noqa: E402
                                          zero_channels)

IMAGE = SCALES["small"]["image"]


def _pair(tmp_path, family: str, tool: str, bug_channel: int | None = None):
    """(original.onnx, reduced.onnx, signed-sum conv name) for a seeded small model."""
    model = build(family, "small", seed=3)
    zeroed = zero_channels(model, family, 0.5, seed=4)
    bug = None
    if bug_channel is not None:
        bug = signed_sum_channel(model, family, bug_channel)
        zeroed[bug] = sorted(set(zeroed.get(bug, [])) - {bug_channel} | {bug_channel})
    original = tmp_path / "original.onnx"
    export(model, original, IMAGE)
    reduced = tmp_path / f"{tool}.onnx"
    if tool == "simplify":
        save_onnx(get_pass("simplify")(load(original), PassOptions()).network, reduced)
    else:
        pruned = (third_party.torch_pruned(model, zeroed, IMAGE) if tool == "torch_pruning"
                  else third_party.simplified(model, IMAGE))
        if pruned is None:
            pytest.skip(f"{tool} is not installed")
        export(pruned, reduced, IMAGE)
    return original, reduced, bug


PAIRS = [(family, "simplify") for family in FAMILIES] + [(family, "torch_pruning") for family in FAMILIES] + [
    ("vgg", "torch_simplify")]


@pytest.mark.parametrize("family,tool", PAIRS)
def test_zeroed_channels_removed_by_each_tool_are_proved_exactly_equivalent(tmp_path, family, tool):
    original, reduced, _ = _pair(tmp_path, family, tool)
    f, g = load(original), load(reduced)
    assert g.initializers and sum(v.size for v in g.initializers.values()) < sum(v.size for v in f.initializers.values())
    verdict = check(f, g, box=(0.0, 1.0), timeout=30)
    assert verdict.verdict == "equivalent", verdict.stats
    assert verdict.stats["stage"] == "structural" and verdict.upper == 0.0
    assert verdict.stats["structural"]["exact"] is True
    assert {"bias_propagation", "channel_removal"} <= set(verdict.stats["structural"]["steps"])
    report = verify(verdict.certificate, f, g)
    assert report.valid, report.problems
    x = np.random.default_rng(0).uniform(0, 1, (3, f.input.size))   # the claim, by sampling
    assert np.max(np.abs(evaluate(f, x) - evaluate(g, x))) < 1e-9


def test_a_tampered_reduced_model_is_not_proved(tmp_path):
    original, reduced, _ = _pair(tmp_path, "resnet", "simplify")
    g = load(reduced)
    name = next(n for n, v in g.initializers.items() if v.ndim == 4 and v.shape[0] > 1)
    changed = dict(g.initializers)
    changed[name] = changed[name].copy()
    changed[name][0, 0, 0, 0] += np.float32(0.5)
    verdict = check(load(original), g.replace(initializers=changed), box=(0.0, 1.0), timeout=20)
    assert verdict.verdict != "equivalent"


@pytest.mark.parametrize("tool", ["torch_pruning", "torch_simplify"])
def test_signed_sum_channel_removal_is_refuted_with_a_replayed_counterexample(tmp_path, tool):
    original, reduced, bug = _pair(tmp_path, "vgg", tool, bug_channel=3)
    f, g = load(original), load(reduced)
    verdict = check(f, g, box=(0.0, 1.0), timeout=30)
    assert verdict.verdict == "not_equivalent", verdict.stats
    cex = verdict.counterexample
    x = np.array(cex.input).reshape(1, f.input.size)
    observed = float(np.max(np.abs(evaluate(f, x) - evaluate(g, x))))
    assert observed > 1e-6 and abs(observed - cex.deviation) <= 1e-9 * max(1.0, observed)
    failure = verdict.stats["structural"]["failure"]
    conv = next(n.name for n in f.nodes if n.op == "Conv")
    assert f"node {conv!r}" in failure and "original channel(s) 3 (incoming weights sum 0" in failure, failure
    assert bug is not None


def _with_output_scaled_by_one(path, out):
    """The same function with an extra ``Mul`` by 1: the structural stage does not compare it."""
    model = onnx.load(str(path))
    graph = model.graph
    old = graph.output[0].name
    for node in graph.node:
        node.output[:] = [o + "_pre" if o == old else o for o in node.output]
    graph.initializer.append(onnx.numpy_helper.from_array(np.ones(1, np.float32), "one"))
    graph.node.append(onnx.helper.make_node("Mul", [old + "_pre", "one"], [old]))
    onnx.save(model, str(out))


def test_size_guard_returns_unknown_naming_the_model_and_the_structural_failure(tmp_path):
    model = build("resnet", "small", seed=5)
    export(model, tmp_path / "a.onnx", IMAGE)
    _with_output_scaled_by_one(tmp_path / "a.onnx", tmp_path / "b.onnx")
    f, g = load(tmp_path / "a.onnx"), load(tmp_path / "b.onnx")
    estimate = dense_estimate(f)
    assert estimate.entries >= f.input.size * 4 * (IMAGE // 2) ** 2     # at least the stem conv's matrix
    verdict = check(f, g, box=(0.0, 1.0), timeout=20, dense_budget=estimate.entries / 2, compose=False)
    assert verdict.verdict == "unknown" and verdict.certificate is None
    reason = verdict.stats["unknown_reason"]
    assert "too large for the numeric engine" in reason and estimate.node in reason
    assert "structural stage did not decide" in reason and "Mul" in reason
    assert verdict.stats["structural"]["matched"] is False
    # with the composition stage the shared trunk is cut away and the middle (Gemm vs Gemm, Mul by 1) proved
    composed = check(f, g, box=(0.0, 1.0), timeout=20, dense_budget=estimate.entries / 2)
    assert composed.verdict == "equivalent" and composed.stats["stage"] == "composition"
    assert composed.stats["composition"]["suffix_nodes"] == [] and "Mul" not in composed.stats["composition"]["prefix_nodes"]
    assert verify(composed.certificate, f, g).valid


def test_dense_estimate_of_an_image_sized_conv_is_far_above_the_budget():
    from nnequiv.engine.size_guard import DENSE_BUDGET
    from nnequiv.ir import Network, Node, TensorSpec

    conv = Network.create(inputs=[TensorSpec("x", (1, 3, 224, 224))], outputs=[TensorSpec("y", (1, 8, 112, 112))],
                          nodes=[Node("c", "Conv", ("x", "w"), ("z",), {"strides": (2, 2), "pads": (1, 1, 1, 1)}),
                                 Node("r", "Relu", ("z",), ("y",))],
                          initializers={"w": np.zeros((8, 3, 3, 3), np.float32)})
    estimate = dense_estimate(conv)
    assert estimate.entries == 3 * 224 * 224 * 8 * 112 * 112 > 10 * DENSE_BUDGET


def test_torch_simplify_with_batchnorm_fused_is_proved_within_a_small_epsilon(tmp_path):
    from nnequiv.spec.relation import Relation

    model = build("vgg", "small", seed=3)
    zero_channels(model, "vgg", 0.5, seed=4)
    reduced = third_party.simplified(model, IMAGE, fuse_bn=True)
    if reduced is None:
        pytest.skip("torch-simplify is not installed")
    export(model, tmp_path / "a.onnx", IMAGE)
    export(reduced, tmp_path / "b.onnx", IMAGE)
    f, g = load(tmp_path / "a.onnx"), load(tmp_path / "b.onnx")
    assert not any(n.op == "BatchNormalization" for n in g.nodes)
    verdict = check(f, g, box=(0.0, 1.0), relation=Relation.epsilon(1e-6), timeout=30)
    assert verdict.verdict == "equivalent" and verdict.stats["stage"] == "structural", verdict.stats
    assert 0.0 < verdict.upper <= 1e-6 and verdict.stats["structural"]["steps"][-1] == "weight_perturbation"
    assert verify(verdict.certificate, f, g).valid
    x = np.random.default_rng(1).uniform(0, 1, (4, f.input.size))   # the proved bound holds on samples
    assert np.max(np.abs(evaluate(f, x) - evaluate(g, x))) <= verdict.upper


def test_channel_numbers_are_mapped_back_through_removal_steps():
    from nnequiv.structure.diagnose import original_channel

    steps = [{"kind": "channel_removal", "removals": [{"node": "c", "channels": [1, 2]}]},
             {"kind": "bias_propagation"},
             {"kind": "channel_removal", "removals": [{"node": "c", "channels": [0]}, {"node": "d", "channels": [0]}]}]
    # original 0..5; step 1 removes 1, 2 -> (0, 3, 4, 5); step 3 removes index 0 -> (3, 4, 5)
    assert [original_channel(k, "c", steps) for k in range(3)] == [3, 4, 5]
    assert original_channel(0, "e", steps) == 0
