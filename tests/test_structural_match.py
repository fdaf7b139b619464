"""Structural matching (issue 6): permuted, lumped, renamed and BatchNorm-folded pairs are decided
from a layer correspondence with a certificate the checker re-verifies; near misses are not; the
weight-perturbation bound is sound by sampling; tampered certificates are rejected naming the item."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from nnequiv.checker import verify
from nnequiv.checker.perturbation import perturbation_bound
from nnequiv.engine.check import check
from nnequiv.interpret import evaluate
from nnequiv.ir import Network, Node, TensorSpec
from nnequiv.spec.box import Box
from nnequiv.spec.relation import Relation
from tests.helpers.pairs import duplicated_scaled, mlp, permuted, random_layers

BOX = (-1.0, 1.0)


def cnn(rng: np.random.Generator, c1: int = 4, c2: int = 3, bn: bool = False, name: str = "cnn") -> Network:
    """Conv(3x3, pad 1) [BN] Relu MaxPool Conv Relu Flatten Gemm on a 1x2x6x6 input (float32 weights)."""
    f32 = lambda *s: rng.normal(0, 0.5, s).astype(np.float32)  # noqa: E731
    init = {"w1": f32(c1, 2, 3, 3), "b1": f32(c1), "w2": f32(c2, c1, 3, 3), "b2": f32(c2), "w3": f32(5, c2 * 9),
            "b3": f32(5)}
    nodes = [Node("conv1", "Conv", ("x", "w1", "b1"), ("z1",), {"pads": (1, 1, 1, 1)})]
    if bn:
        init.update({"g": rng.uniform(0.5, 1.5, c1).astype(np.float32), "beta": f32(c1), "mu": f32(c1),
                     "var": rng.uniform(0.5, 2.0, c1).astype(np.float32)})
        nodes.append(Node("bn", "BatchNormalization", ("z1", "g", "beta", "mu", "var"), ("z1n",), {"epsilon": 1e-5}))
    nodes += [Node("relu1", "Relu", (nodes[-1].outputs[0],), ("h1",)),
              Node("pool", "MaxPool", ("h1",), ("p1",), {"kernel_shape": (2, 2), "strides": (2, 2)}),
              Node("conv2", "Conv", ("p1", "w2", "b2"), ("z2",), {"pads": (1, 1, 1, 1)}),
              Node("relu2", "Relu", ("z2",), ("h2",)), Node("flat", "Flatten", ("h2",), ("v",), {"axis": 1}),
              Node("fc", "Gemm", ("v", "w3", "b3"), ("y",), {"transB": 1})]
    return Network.create(inputs=[TensorSpec("x", (1, 2, 6, 6), "float32", (0,))],
                          outputs=[TensorSpec("y", (1, 5), "float32", (0,))], nodes=nodes, initializers=init, name=name)


def permuted_cnn(rng: np.random.Generator, net: Network) -> Network:
    init = dict(net.initializers)
    p1, p2 = rng.permutation(init["w1"].shape[0]), rng.permutation(init["w2"].shape[0])
    init["w1"], init["b1"] = init["w1"][p1], init["b1"][p1]
    init["w2"], init["b2"] = init["w2"][p2][:, p1], init["b2"][p2]
    columns = (p2[:, None] * 9 + np.arange(9)[None, :]).ravel()
    init["w3"] = init["w3"][:, columns]
    return net.replace(initializers=init, name="permuted")


def folded(net: Network) -> Network:
    """The BatchNorm of :func:`cnn` folded into conv1 in float32 arithmetic (as torch / onnxsim do)."""
    init = dict(net.initializers)
    scale = init["g"] / np.sqrt(init["var"] + np.float32(1e-5))
    init["w1"] = (init["w1"] * scale[:, None, None, None]).astype(np.float32)
    init["b1"] = ((init["b1"] - init["mu"]) * scale + init["beta"]).astype(np.float32)
    nodes = [n for n in net.nodes if n.op != "BatchNormalization"]
    nodes[0] = Node("conv1", "Conv", nodes[0].inputs, ("z1n",), dict(nodes[0].attrs))
    return net.replace(nodes=tuple(nodes), initializers={k: v for k, v in init.items()
                                                         if k not in ("g", "beta", "mu", "var")}, name="folded")


def renamed(net: Network) -> Network:
    new = {name: f"renamed_{k}" for k, name in enumerate(net.initializers)}
    nodes = [Node(f"n{k}", n.op, tuple(new.get(i, i) for i in n.inputs), n.outputs, dict(n.attrs))
             for k, n in enumerate(net.nodes)]
    return net.replace(nodes=tuple(nodes), initializers={new[k]: v for k, v in net.initializers.items()})


def samples(rng: np.random.Generator, net: Network, count: int = 400) -> np.ndarray:
    n = net.input.size
    corners = rng.choice([-1.0, 1.0], (count // 4, n))
    return np.vstack([rng.uniform(-1, 1, (count, n)), corners])


def decided(f: Network, g: Network, relation: Relation):
    verdict = check(f, g, BOX, relation, timeout=5)
    assert verdict.verdict == "equivalent", verdict.stats.get("structural")
    assert verdict.stats["stage"] == "structural"
    assert verify(verdict.certificate, f, g).valid
    return verdict


def test_permuted_mlp_is_exactly_equivalent():
    rng = np.random.default_rng(0)
    layers = random_layers(rng, [5, 9, 7, 3])
    f, g = mlp(layers), mlp(permuted(rng, layers), name="perm")
    verdict = decided(f, g, Relation.exact())
    assert [s["kind"] for s in verdict.certificate["steps"]] == ["permutation"]
    assert verdict.upper == 0.0
    assert [layer["moved"] > 0 for layer in verdict.stats["structural"]["permuted_layers"]] == [True, True]


def test_permuted_cnn_channels_through_pool_and_flatten():
    rng = np.random.default_rng(1)
    f = cnn(rng)
    g = permuted_cnn(rng, f)
    x = samples(rng, f)
    assert np.allclose(evaluate(f, x), evaluate(g, x), atol=1e-9)   # the test pair itself is right
    verdict = decided(f, g, Relation.top1())
    assert verdict.certificate["steps"][0]["kind"] == "permutation"


def test_duplicate_neurons_merged_and_permuted():
    rng = np.random.default_rng(2)
    layers = random_layers(rng, [4, 6, 5, 2])
    f = mlp(duplicated_scaled(layers, 0, 3, 4.0))
    g = mlp(permuted(rng, layers), name="reduced")
    verdict = decided(f, g, Relation.exact())
    assert [s["kind"] for s in verdict.certificate["steps"]] == ["lumping", "permutation"]


def test_renamed_initializers_and_nodes_are_identical():
    rng = np.random.default_rng(3)
    f = cnn(rng, bn=True)
    verdict = decided(f, renamed(f), Relation.exact())
    assert [s["kind"] for s in verdict.certificate["steps"]] == ["weight_perturbation"]
    assert verdict.certificate["steps"][0]["epsilon"] == (0.0).hex()


def _torch_pair():
    torch = pytest.importorskip("torch")
    from nnequiv.torch_io import from_torch
    from tests.helpers.models import torch_cnn

    model = torch_cnn(4)
    fused = copy.deepcopy(model)
    for conv, bn in (("conv1", "bn1"), ("conv2", "bn2")):
        setattr(fused, conv, torch.nn.utils.fusion.fuse_conv_bn_eval(getattr(fused, conv), getattr(fused, bn)))
        setattr(fused, bn, torch.nn.Identity())
    example = torch.zeros(1, 1, 6, 6)
    return from_torch(model, example), from_torch(fused.eval(), example)


def test_torch_batchnorm_fold_within_a_proved_epsilon():
    f, g = _torch_pair()
    assert "BatchNormalization" in f.ops and "BatchNormalization" not in g.ops
    verdict = decided(f, g, Relation.epsilon(1e-3))
    rng = np.random.default_rng(4)
    x = samples(rng, f, 2000)
    observed = float(np.max(np.abs(evaluate(f, x) - evaluate(g, x))))
    assert 0.0 < observed <= verdict.upper < 1e-3
    # an exact claim cannot be decided structurally (the fold rounds)
    assert check(f, g, BOX, Relation.exact(), timeout=3).stats["structural"]["matched"] is False


def test_onnxsim_batchnorm_fold(tmp_path):
    torch = pytest.importorskip("torch")
    onnx = pytest.importorskip("onnx")
    onnxsim = pytest.importorskip("onnxsim", reason="onnxsim is not installed")
    from nnequiv.loading import load
    from tests.helpers.models import torch_cnn

    torch.onnx.export(torch_cnn(5), (torch.zeros(1, 1, 6, 6),), str(tmp_path / "a.onnx"), dynamo=False,
                      opset_version=17, do_constant_folding=False, training=torch.onnx.TrainingMode.EVAL)
    simplified, ok = onnxsim.simplify(onnx.load(str(tmp_path / "a.onnx")))
    assert ok
    onnx.save(simplified, str(tmp_path / "b.onnx"))
    f, g = load(tmp_path / "a.onnx"), load(tmp_path / "b.onnx")
    assert "BatchNormalization" not in g.ops
    decided(f, g, Relation.epsilon(1e-3))


def test_near_miss_is_not_matched_as_equivalent():
    rng = np.random.default_rng(6)
    layers = random_layers(rng, [4, 8, 6, 3])
    bad = permuted(rng, layers)
    bad[1][0][2, 3] *= 1 + 1e-6
    f, g = mlp(layers), mlp(bad, name="near-miss")
    verdict = check(f, g, BOX, Relation.exact(), timeout=5)
    assert verdict.verdict != "equivalent"
    structural = verdict.stats["structural"]
    assert structural["matched"] is False and "weights differ" in structural["failure"]


def test_failure_names_the_first_layer_that_does_not_correspond():
    rng = np.random.default_rng(7)
    layers = random_layers(rng, [4, 8, 6, 3])
    other = [(np.array(w), np.array(b)) for w, b in layers]
    other[1] = (rng.normal(size=other[1][0].shape), other[1][1])
    verdict = check(mlp(layers), mlp(other), BOX, Relation.epsilon(0.01), timeout=3)
    assert "gemm1" in verdict.stats["structural"]["failure"]


@pytest.fixture(scope="module")
def permuted_pair():
    rng = np.random.default_rng(8)
    f = cnn(rng, bn=True)
    g = permuted_cnn(rng, folded(f))
    verdict = decided(f, g, Relation.epsilon(1e-4))
    assert [s["kind"] for s in verdict.certificate["steps"]] == ["permutation", "weight_perturbation"]
    return f, g, verdict.certificate


def test_tampered_permutation_entry_is_rejected(permuted_pair):
    f, g, certificate = permuted_pair
    tampered = copy.deepcopy(certificate)
    order = tampered["steps"][0]["layers"][0]["permutation"]
    order[0], order[1] = order[1], order[0]
    problems = [str(p) for p in verify(tampered, f, g).problems]
    assert problems and problems[0].startswith("steps/0/to")     # the swapped replay is another model
    order[1] = order[0]
    problems = [str(p) for p in verify(tampered, f, g).problems]
    assert problems[0].startswith("steps/0/layers/0/permutation/1") and "not a permutation" in problems[0]


def test_tampered_weight_and_epsilon_are_rejected(permuted_pair):
    f, g, certificate = permuted_pair
    assert certificate["steps"][-1]["kind"] == "weight_perturbation"
    init = dict(g.initializers)
    init["w2"] = init["w2"].copy()
    init["w2"][0, 0, 0, 0] += 0.25
    problems = [str(p) for p in verify(certificate, f, g.replace(initializers=init)).problems]
    assert problems[0].startswith("models/reduced/sha256")
    tampered = copy.deepcopy(certificate)
    tampered["steps"][-1]["epsilon"] = (0.0).hex()
    tampered["claim"]["bound"] = (0.0).hex()
    problems = [str(p) for p in verify(tampered, f, g).problems]
    assert problems[0].startswith("steps/1/epsilon") and "proved only" in problems[0]


def gap_cnn(rng: np.random.Generator) -> Network:
    """Conv(stride 2) LeakyRelu Conv + skip Add, GlobalAveragePool, Flatten, Gemm, Add constant."""
    f64 = lambda *s: rng.normal(0, 0.6, s)  # noqa: E731
    init = {"w1": f64(3, 2, 3, 3), "b1": f64(3), "w2": f64(3, 3, 3, 3), "b2": f64(3), "w3": f64(3, 4), "c": f64(4)}
    nodes = [Node("conv1", "Conv", ("x", "w1", "b1"), ("z1",), {"pads": (1, 1, 1, 1), "strides": (2, 2)}),
             Node("act1", "LeakyRelu", ("z1",), ("h1",), {"alpha": 0.25}),
             Node("conv2", "Conv", ("h1", "w2", "b2"), ("z2",), {"pads": (1, 1, 1, 1)}),
             Node("skip", "Add", ("z2", "h1"), ("s",)), Node("act2", "Relu", ("s",), ("h2",)),
             Node("gap", "GlobalAveragePool", ("h2",), ("p",)), Node("flat", "Flatten", ("p",), ("v",)),
             Node("mm", "MatMul", ("v", "w3"), ("m",)), Node("shift", "Add", ("m", "c"), ("y",))]
    return Network.create(inputs=[TensorSpec("x", (1, 2, 6, 6), "float64", (0,))],
                          outputs=[TensorSpec("y", (1, 4), "float64", (0,))], nodes=nodes, initializers=init)


def test_permutation_follows_the_stream_through_a_residual_add():
    """conv1's channels feed conv2 and the skip Add: the replay reorders conv2's rows and columns and
    the MatMul's rows too (P6), and the network is the same function."""
    from nnequiv.checker.permutation import permute

    net = gap_cnn(np.random.default_rng(10))
    order = np.array([1, 2, 0])
    replayed = permute(net, [(0, order)]).network
    weights = {n.name: replayed.initializers[n.inputs[1]] for n in replayed.nodes if n.op in ("Conv", "MatMul")}
    assert np.array_equal(weights["conv2"], net.initializers["w2"][order][:, order])
    assert np.array_equal(weights["mm"], net.initializers["w3"][order])
    x = samples(np.random.default_rng(11), net)
    np.testing.assert_allclose(evaluate(replayed, x), evaluate(net, x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seed", range(8))
def test_perturbation_bound_is_sound_by_sampling(seed):
    rng = np.random.default_rng(100 + seed)
    f = gap_cnn(rng) if seed >= 6 else cnn(rng, bn=bool(seed % 2))
    init = {k: (v * (1 + rng.uniform(-1e-3, 1e-3, v.shape))).astype(v.dtype) for k, v in f.initializers.items()}
    g = f.replace(initializers=init)
    bound = perturbation_bound(f, g, Box.uniform(*BOX, f.input.size))
    x = samples(rng, f, 1000)
    observed = float(np.max(np.abs(evaluate(f, x) - evaluate(g, x))))
    assert not bound.exact and observed <= bound.value


def test_cli_check_writes_a_certificate_that_verify_accepts(tmp_path):
    from click.testing import CliRunner

    from nnequiv.cli import main
    from nnequiv.onnx_io import save_onnx

    rng = np.random.default_rng(9)
    f = cnn(rng)
    save_onnx(f, tmp_path / "f.onnx")
    save_onnx(permuted_cnn(rng, f), tmp_path / "g.onnx")
    runner = CliRunner()
    args = [str(tmp_path / "f.onnx"), str(tmp_path / "g.onnx")]
    result = runner.invoke(main, ["check", *args, "--box", "-1:1", "--exact", "--cert", str(tmp_path / "c.json")])
    assert result.exit_code == 0, result.output
    assert "structural" in result.output
    result = runner.invoke(main, ["verify", str(tmp_path / "c.json"), *args])
    assert result.exit_code == 0 and result.output.startswith("VALID")


def _with_dead_neuron(layers, k: int, bias: float, column: np.ndarray):
    """Insert a hidden neuron ``k`` of layer 0 with zero incoming weights and the given bias / outgoing column."""
    out = [(np.array(w), np.array(b)) for w, b in layers]
    w, b = out[0]
    out[0] = (np.insert(w, k, 0.0, axis=0), np.insert(b, k, bias))
    w_next, b_next = out[1]
    out[1] = (np.insert(w_next, k, column, axis=1), b_next)
    return out


def test_dead_neurons_removed_then_permuted():
    rng = np.random.default_rng(11)
    layers = random_layers(rng, [4, 6, 5, 2])
    f = mlp(_with_dead_neuron(layers, 2, -0.25, rng.normal(size=5)))       # ReLU(-0.25) = 0
    verdict = decided(f, mlp(permuted(rng, layers), name="pruned"), Relation.exact())
    steps = verdict.certificate["steps"]
    assert [s["kind"] for s in steps] == ["bias_propagation", "channel_removal", "permutation"]
    assert steps[1]["removals"] == [{"node": f.nodes[0].name, "channels": [2]}]


def test_live_constant_neuron_is_propagated_into_the_next_bias():
    rng = np.random.default_rng(12)
    layers = [(np.round(w * 64) / 64, np.round(b * 64) / 64) for w, b in random_layers(rng, [3, 4, 2])]
    column = np.array([0.5, -0.25])
    f = mlp(_with_dead_neuron(layers, 1, 0.75, column))                     # ReLU(0.75) = 0.75, exact merge
    reduced = [layers[0], (layers[1][0], layers[1][1] + 0.75 * column)]
    verdict = decided(f, mlp(reduced, name="pruned"), Relation.exact())
    assert verdict.certificate["steps"][0]["kind"] == "bias_propagation"


def test_dead_cnn_channel_removed_and_tampered_neuron_rejected():
    rng = np.random.default_rng(13)
    g = cnn(rng, c1=3)
    init = dict(g.initializers)
    init["w1"] = np.insert(init["w1"], 1, 0.0, axis=0)
    init["b1"] = np.insert(init["b1"], 1, np.float32(-0.5))                 # dead: ReLU(-0.5) = 0 everywhere
    init["w2"] = np.insert(init["w2"], 1, rng.normal(size=(3, 3, 3)).astype(np.float32), axis=1)
    f = g.replace(initializers=init, name="with-dead-channel")
    verdict = decided(f, g, Relation.exact())
    tampered = copy.deepcopy(verdict.certificate)
    removal = next(i for i, s in enumerate(tampered["steps"]) if s["kind"] == "channel_removal")
    assert tampered["steps"][removal]["removals"][0]["channels"] == [1]
    tampered["steps"][removal]["removals"][0]["channels"] = [0]               # a live channel
    problems = [str(p) for p in verify(tampered, f, g).problems]
    assert problems and problems[0].startswith(f"steps/{removal}/removals/0"), problems


def test_shared_columns_compute_the_interpreters_convolution():
    from nnequiv.checker.graph_align import Linear, Stage
    from nnequiv.checker.tensor_linear import columns
    from nnequiv.ops.conv import conv

    rng = np.random.default_rng(14)
    node = Node("c", "Conv", ("x", "w"), ("y",), {"group": 2, "strides": (2, 1), "dilations": (1, 2),
                                                  "pads": (1, 2, 0, 1)})
    w, xs = rng.normal(size=(4, 3, 3, 2)), rng.normal(size=(3, 1, 6, 7, 6))
    expected = conv(xs.reshape(3, 6, 7, 6), w, None, node, 2)
    stage = Stage("Conv", node, (0,), (1,) + expected.shape[1:], Linear(w, 0 * w, np.zeros(4), np.zeros(4)))
    got = columns(stage, xs, (1, 6, 7, 6)).product(w, slice(1, 3))
    # the same sums, blocked differently by BLAS: equal up to the last bits (each within the rounding lemma)
    assert np.allclose(got.reshape(expected[1:].shape), expected[1:], rtol=1e-12, atol=1e-12)
    assert not np.allclose(got.reshape(expected[1:].shape), expected[:2], rtol=1e-3)   # items really selected


def test_column_form_matmul_pair_within_a_sound_bound():
    """VeryDiff-style ``W @ x + b`` on a 1-D input: aligned, and the bound covers sampled deviations."""
    rng = np.random.default_rng(15)
    init = {"W0": rng.normal(size=(6, 3)), "B0": rng.normal(size=6), "W1": rng.normal(size=(2, 6)),
            "B1": rng.normal(size=2)}
    nodes = [Node("m0", "MatMul", ("W0", "X"), ("M0",)), Node("a0", "Add", ("M0", "B0"), ("H0",)),
             Node("r0", "Relu", ("H0",), ("R0",)), Node("m1", "MatMul", ("W1", "R0"), ("M1",)),
             Node("a1", "Add", ("M1", "B1"), ("Y",))]
    f = Network.create(inputs=[TensorSpec("X", (3,), "float64")], outputs=[TensorSpec("Y", (2,), "float64")],
                       nodes=nodes, initializers=init)
    g = f.replace(initializers={k: v * (1 + rng.uniform(-1e-4, 1e-4, v.shape)) for k, v in init.items()})
    decided(f, renamed(f), Relation.exact())
    bound = perturbation_bound(f, g, Box.uniform(*BOX, 3))
    x = samples(rng, f, 2000)
    assert float(np.max(np.abs(evaluate(f, x) - evaluate(g, x)))) <= bound.value < 1e-2


def _bias_moved_after_bn(net: Network, added: np.ndarray) -> Network:
    """:func:`cnn` (with BN) whose BN beta is 0 and an ``Add`` of ``added`` (shape (C, 1, 1)) follows
    the BN through an Identity: torch-simplify's pinned BatchNorm after load-time folding."""
    init = dict(net.initializers)
    init["beta"] = np.zeros_like(init["beta"])
    init["moved"] = added.reshape(-1, 1, 1)
    nodes = []
    for node in net.nodes:
        if node.op == "Relu" and node.inputs == ("z1n",):
            nodes += [Node("alias", "Identity", ("z1n",), ("z1s",)), Node("bias", "Add", ("z1s", "moved"), ("z1b",)),
                      Node(node.name, "Relu", ("z1b",), node.outputs)]
        else:
            nodes.append(node)
    return net.replace(nodes=tuple(nodes), initializers=init, name="moved")


def test_added_per_channel_constant_is_absorbed_into_the_layer_exactly():
    """P5: beta moved into an Add after the BN is the same real function when beta + 0 is exact;
    a changed constant is a different network (bound > 0, sound by sampling)."""
    rng = np.random.default_rng(21)
    f = cnn(rng, bn=True)
    g = _bias_moved_after_bn(f, np.asarray(f.initializers["beta"]))
    verdict = decided(f, g, Relation.exact())
    assert verdict.upper == 0.0 and [s["kind"] for s in verdict.certificate["steps"]] == ["weight_perturbation"]
    changed = np.asarray(f.initializers["beta"]).copy()
    changed[1] += np.float32(0.25)
    h = _bias_moved_after_bn(f, changed)
    bound = perturbation_bound(f, h, Box.uniform(*BOX, f.input.size))
    x = samples(rng, f, 1000)
    observed = float(np.max(np.abs(evaluate(f, x) - evaluate(h, x))))
    assert not bound.exact and 0 < observed <= bound.value
    assert check(f, h, BOX, Relation.exact(), timeout=5).verdict != "equivalent"


def test_an_added_constant_whose_sum_rounds_is_not_absorbed():
    from nnequiv.checker.graph_align import normalise

    rng = np.random.default_rng(22)
    f = cnn(rng, bn=True)
    init = dict(f.initializers)
    init["beta"] = np.full_like(init["beta"], 1.0)
    f = f.replace(initializers=init)
    tiny = np.full(init["beta"].shape, 2.0 ** -60, np.float64)     # 1 + 2^-60 is not a float64
    g = _bias_moved_after_bn(f, tiny)
    g = g.replace(initializers={**g.initializers, "beta": init["beta"]})      # BN keeps beta = 1
    assert len(normalise(g)) == len(normalise(f)) + 1 and normalise(g)[1].op == "AddConst"
