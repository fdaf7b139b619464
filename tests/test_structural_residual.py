"""Channel permutations through residual branches (issue 6, ``proofs/structural_match.md`` P6).

A ResNet-like network whose residual stream (every conv writing into it, BatchNorm, the skip
Adds, the readers) is reordered by one permutation and each block's inner channels by their
own is decided exactly by the structural stage with a certificate the checker accepts; branches
permuted differently are not claimed equivalent; a tampered stream permutation is rejected; the
replay refuses a stream that reaches the network input.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

from nnequiv.checker import verify
from nnequiv.checker.permutation import permute
from nnequiv.checker.rewrites import RewriteError
from nnequiv.engine.check import check
from nnequiv.interpret import evaluate, evaluate_exact
from nnequiv.ir import Network, Node, TensorSpec
from nnequiv.onnx_io import canonical_sha256
from nnequiv.spec.relation import Relation

BOX = (-1.0, 1.0)
STREAM, INNER = 4, 3


def resnet_like(rng: np.random.Generator) -> Network:
    """conv0-relu, two blocks ``relu(conv_b(relu(conv_a(s))) [BN] + s)``, GAP, Flatten, Gemm."""
    f32 = lambda *s: rng.normal(0, 0.5, s).astype(np.float32)  # noqa: E731
    init = {"w0": f32(STREAM, 2, 3, 3), "b0": f32(STREAM), "wf": f32(5, STREAM), "bf": f32(5),
            "g": rng.uniform(0.5, 1.5, STREAM).astype(np.float32), "beta": f32(STREAM), "mu": f32(STREAM),
            "var": rng.uniform(0.5, 2.0, STREAM).astype(np.float32)}
    pad = {"pads": (1, 1, 1, 1)}
    nodes = [Node("conv0", "Conv", ("x", "w0", "b0"), ("z0",), pad), Node("relu0", "Relu", ("z0",), ("s0",))]
    for k in (1, 2):
        init.update({f"wa{k}": f32(INNER, STREAM, 3, 3), f"ba{k}": f32(INNER), f"wb{k}": f32(STREAM, INNER, 3, 3),
                     f"bb{k}": f32(STREAM)})
        last = f"zb{k}"
        nodes += [Node(f"conva{k}", "Conv", (f"s{k - 1}", f"wa{k}", f"ba{k}"), (f"za{k}",), pad),
                  Node(f"relua{k}", "Relu", (f"za{k}",), (f"ha{k}",)),
                  Node(f"convb{k}", "Conv", (f"ha{k}", f"wb{k}", f"bb{k}"), (f"zb{k}",), pad)]
        if k == 2:
            nodes.append(Node("bn", "BatchNormalization", ("zb2", "g", "beta", "mu", "var"), ("zn2",),
                              {"epsilon": 1e-5}))
            last = "zn2"
        nodes += [Node(f"skip{k}", "Add", (last, f"s{k - 1}"), (f"t{k}",)),
                  Node(f"relu{k}", "Relu", (f"t{k}",), (f"s{k}",))]
    nodes += [Node("gap", "GlobalAveragePool", ("s2",), ("p",)), Node("flat", "Flatten", ("p",), ("v",)),
              Node("fc", "Gemm", ("v", "wf", "bf"), ("y",), {"transB": 1})]
    return Network.create(inputs=[TensorSpec("x", (1, 2, 5, 5))], outputs=[TensorSpec("y", (1, 5))],
                          nodes=nodes, initializers=init, name="resnet_like")


def reordered(net: Network, stream: np.ndarray, inner: dict[int, np.ndarray],
              main_branch: np.ndarray | None = None) -> Network:
    """The stream's channels reordered by ``stream`` (block 2's main branch by ``main_branch`` if
    given: an inconsistent pair), block k's inner channels by ``inner[k]``."""
    init = {k: np.asarray(v).copy() for k, v in net.initializers.items()}
    branch = stream if main_branch is None else main_branch
    init["w0"], init["b0"] = init["w0"][stream], init["b0"][stream]
    for k in (1, 2):
        rows = stream if k == 1 else branch
        q = inner[k]
        init[f"wa{k}"], init[f"ba{k}"] = init[f"wa{k}"][q][:, stream], init[f"ba{k}"][q]
        init[f"wb{k}"], init[f"bb{k}"] = init[f"wb{k}"][rows][:, q], init[f"bb{k}"][rows]
    for name in ("g", "beta", "mu", "var"):
        init[name] = init[name][branch]
    init["wf"] = init["wf"][:, stream]
    return net.replace(initializers=init, name="reordered")


def _orders(seed: int):
    rng = np.random.default_rng(seed)
    stream = rng.permutation(STREAM)
    while np.array_equal(stream, np.arange(STREAM)):
        stream = rng.permutation(STREAM)
    return stream, {1: rng.permutation(INNER), 2: rng.permutation(INNER)}


def _samples(net: Network, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(*BOX, (300, net.input.size))


@pytest.fixture(scope="module")
def residual_pair():
    f = resnet_like(np.random.default_rng(31))
    stream, inner = _orders(32)
    g = reordered(f, stream, inner)
    verdict = check(f, g, BOX, Relation.exact(), timeout=10)
    return f, g, stream, verdict


def test_consistently_permuted_residual_pair_is_decided_exactly(residual_pair):
    f, g, stream, verdict = residual_pair
    assert verdict.verdict == "equivalent", verdict.stats.get("structural")
    assert verdict.stats["stage"] == "structural" and verdict.upper == 0.0
    steps = verdict.certificate["steps"]
    assert [s["kind"] for s in steps] == ["permutation"]      # the permuted original IS the reduced model
    layers = steps[0]["layers"]
    stream_entry = [layer for layer in layers if f.nodes[layer["node"]].name == "conv0"]
    assert len(stream_entry) == 1 and stream_entry[0]["permutation"] == stream.tolist()
    assert not any(f.nodes[layer["node"]].name in ("convb1", "convb2") for layer in layers)   # implied by the stream
    assert verify(verdict.certificate, f, g).valid
    x = _samples(f)
    assert np.max(np.abs(evaluate(f, x) - evaluate(g, x))) < 1e-12


def test_stream_replay_is_the_same_real_function(residual_pair):
    """The replay alone, in rational arithmetic (BatchNorm's square root is approximated alike on
    both sides: the same reordered parameters)."""
    f, g, stream, _ = residual_pair
    position = {n.name: i for i, n in enumerate(f.nodes)}
    replayed = permute(f, [(position["conv0"], stream)]).network
    x = _samples(f, 1)[:2]
    np.testing.assert_allclose(evaluate(replayed, x), evaluate(f, x), rtol=1e-13, atol=1e-13)
    for sample in x:
        assert np.array_equal(evaluate_exact(replayed, sample).values, evaluate_exact(f, sample).values)
    assert canonical_sha256(replayed) != canonical_sha256(f)


def test_branches_permuted_differently_are_not_claimed_equivalent():
    f = resnet_like(np.random.default_rng(31))
    stream, inner = _orders(32)
    other = np.roll(stream, 1)
    g = reordered(f, stream, inner, main_branch=other)
    x = _samples(f)
    assert np.max(np.abs(evaluate(f, x) - evaluate(g, x))) > 1e-3       # really another function
    verdict = check(f, g, BOX, Relation.exact(), timeout=10)
    assert verdict.verdict in ("not_equivalent", "unknown")
    structural = verdict.stats["structural"]
    assert not structural["matched"]
    assert "different channel orders" in structural.get("permutation_failure", "") + structural.get("failure", "")


def test_tampered_stream_permutation_is_rejected(residual_pair):
    f, g, stream, verdict = residual_pair
    tampered = copy.deepcopy(verdict.certificate)
    layer = next(k for k, entry in enumerate(tampered["steps"][0]["layers"]) if f.nodes[entry["node"]].name == "conv0")
    order = tampered["steps"][0]["layers"][layer]["permutation"]
    order[0], order[1] = order[1], order[0]
    problems = [str(p) for p in verify(tampered, f, g).problems]
    assert problems and problems[0].startswith("steps/0/to")        # the replay reaches another network
    order[1] = order[0]
    problems = [str(p) for p in verify(tampered, f, g).problems]
    assert problems[0].startswith(f"steps/0/layers/{layer}/permutation/1") and "not a permutation" in problems[0]
    tampered["steps"][0]["layers"][layer]["node"] = next(i for i, n in enumerate(f.nodes) if n.op == "Relu")
    tampered["steps"][0]["layers"][layer]["permutation"] = stream.tolist()
    problems = [str(p) for p in verify(tampered, f, g).problems]
    assert problems[0].startswith(f"steps/0/layers/{layer}/node") and "not Conv, Gemm or MatMul" in problems[0]


def test_a_stream_that_reaches_the_network_input_is_refused():
    rng = np.random.default_rng(5)
    init = {"w": rng.normal(size=(2, 2, 3, 3)), "v": rng.normal(size=(3, 18))}
    nodes = [Node("conv", "Conv", ("x", "w"), ("z",), {"pads": (1, 1, 1, 1)}), Node("skip", "Add", ("z", "x"), ("s",)),
             Node("relu", "Relu", ("s",), ("h",)), Node("flat", "Flatten", ("h",), ("u",)),
             Node("fc", "Gemm", ("u", "v"), ("y",), {"transB": 1})]
    net = Network.create(inputs=[TensorSpec("x", (1, 2, 3, 3), "float64")], outputs=[TensorSpec("y", (1, 3), "float64")],
                         nodes=nodes, initializers=init)
    with pytest.raises(RewriteError) as info:
        permute(net, [(0, np.array([1, 0]))])
    assert info.value.item == "layers/0/node" and "network input" in info.value.reason


def _reorder_torch_resnet(model, seed: int):
    """A channel-reordering tool on the small torch ResNet of ``torch_families``: every residual
    stream (the stem, each stage's blocks, the downsample path) and every block's inner channels
    reordered consistently; returns the reordered copy."""
    import torch
    from torch import nn

    rng = np.random.default_rng(seed)
    model = copy.deepcopy(model)

    def rows(conv: nn.Conv2d, bn: nn.BatchNorm2d, order):
        index = torch.from_numpy(order)
        conv.weight.data = conv.weight.data[index]
        for name in ("weight", "bias", "running_mean", "running_var"):
            getattr(bn, name).data = getattr(bn, name).data[index]

    def columns(conv: nn.Conv2d, order):
        conv.weight.data = conv.weight.data[:, torch.from_numpy(order)]

    stem, stem_bn = model[0], model[1]
    stream = rng.permutation(stem.out_channels)
    rows(stem, stem_bn, stream)
    for block in [m for m in model if hasattr(m, "conv2")]:
        inner = rng.permutation(block.conv1.out_channels)
        out = rng.permutation(block.conv2.out_channels) if block.down is not None else stream
        columns(block.conv1, stream)
        rows(block.conv1, block.bn1, inner)
        columns(block.conv2, inner)
        rows(block.conv2, block.bn2, out)
        if block.down is not None:
            columns(block.down[0], stream)
            rows(block.down[0], block.down[1], out)
        stream = out
    linear = model[-1]
    linear.weight.data = linear.weight.data[:, torch.from_numpy(stream)]
    return model.eval()


def test_torch_resnet_with_reordered_streams_is_decided_exactly(tmp_path):
    pytest.importorskip("torch")
    from nnequiv.loading import load
    from tests.helpers.torch_families import SCALES, build, export

    image = SCALES["small"]["image"]
    model = build("resnet", "small", seed=5)
    export(model, tmp_path / "original.onnx", image)
    export(_reorder_torch_resnet(model, 6), tmp_path / "reordered.onnx", image)
    f, g = load(tmp_path / "original.onnx"), load(tmp_path / "reordered.onnx")
    verdict = check(f, g, (0.0, 1.0), Relation.exact(), timeout=30)
    assert verdict.verdict == "equivalent" and verdict.upper == 0.0, verdict.stats.get("structural")
    assert verdict.stats["stage"] == "structural"
    kinds = [s["kind"] for s in verdict.certificate["steps"]]
    assert kinds[0] == "permutation"
    assert verify(verdict.certificate, f, g).valid
    x = np.random.default_rng(0).uniform(0, 1, (3, f.input.size))
    assert np.max(np.abs(evaluate(f, x) - evaluate(g, x))) < 1e-9
