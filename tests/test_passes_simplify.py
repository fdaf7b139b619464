"""``simplify``: zeroed neurons / channels propagated and removed, certified by exact replay; what it
must keep (weights that only sum to zero, channels pruned on one residual branch, Concat, grouped
convolutions); tampered certificates rejected naming the item."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from nnequiv.checker import verify
from nnequiv.interpret import evaluate_exact
from nnequiv.ir import Network, Node, TensorSpec
from nnequiv.onnx_io import canonical_sha256
from nnequiv.passes.pipeline import run
from nnequiv.spec.box import Box
from nnequiv.summary import summarize
from tests.helpers.pairs import mlp
from tests.helpers.simplify_nets import residual_convs, resnet, vgg, zero_channels
from tests.test_passes_nets import exact_outputs, q, quantized_layers, stacked_net


def _simplified(net: Network, box: Box | None = None):
    done = run(net, ["simplify"], box)
    report = verify(done.certificate, net, done.reduced)
    assert report.valid, report.problems
    return done.reduced, done.certificate, done.reports[0].stats


def _problems(certificate, f, g):
    report = verify(certificate, f, g)
    assert not report.valid
    return report.problems


def _same_exactly(f: Network, g: Network, rng: np.random.Generator, n: int = 3) -> None:
    x = rng.normal(size=(n,) + f.input.shape) * 2
    np.testing.assert_allclose(g.evaluate(x), f.evaluate(x), rtol=1e-5, atol=1e-5)
    assert exact_outputs(f, x[:n]) == exact_outputs(g, x[:n])


def _conv(name, src, w, b, pad=1, group=1, out=None):
    return Node(name, "Conv", (src, w, b), (out or name,), {"pads": (pad,) * 4, "group": group})


def _image_net(nodes, init, image=(2, 6, 6), classes=3, name="net") -> Network:
    return Network.create(inputs=[TensorSpec("x", (1, *image), "float64", (0,))],
                          outputs=[TensorSpec("o", (1, classes), "float64", (0,))],
                          nodes=nodes, initializers=init, name=name)


def _head(init, src, features, classes=3):
    init["fw"], init["fb"] = q(np.random.default_rng(99), classes, features), np.zeros(classes)
    return [Node("flat", "Flatten", (src,), ("f",), {"axis": 1}), Node("fc", "Gemm", ("f", "fw", "fb"), ("o",),
                                                                      {"transB": 1})]


# ------------------------------------------------------------------------------ MLP
def test_mlp_constant_dead_and_unread_neurons_are_removed_exactly():
    rng = np.random.default_rng(0)
    layers = quantized_layers(rng, [3, 6, 5, 2])
    w, b = layers[0]
    w[1], b[1] = 0, 0.75          # constant relu(0.75): propagated into layer 1's bias
    w[4], b[4] = 0, -1.0          # dead (relu(-1) = 0)
    layers[1][0][:, 3] = 0        # neuron 3 is never read
    net = mlp(layers)
    reduced, certificate, stats = _simplified(net)
    assert [s["kind"] for s in certificate["steps"]] == ["bias_propagation", "channel_removal"]
    assert certificate["steps"][1]["removals"] == [{"node": "gemm0", "channels": [1, 3, 4]}]
    assert summarize(reduced).neurons == summarize(net).neurons - 3
    assert certificate["claim"]["relation"]["kind"] == "exact"
    _same_exactly(net, reduced, rng)


def test_weights_summing_to_zero_keep_the_neuron():
    rng = np.random.default_rng(1)
    layers = quantized_layers(rng, [2, 4, 2])
    layers[0][0][2] = [0.5, -0.5]                  # sums to zero, but the neuron is alive
    net = mlp(layers)
    reduced, certificate, stats = _simplified(net)
    assert canonical_sha256(reduced) == canonical_sha256(net)
    assert stats.applied == 0 and certificate["steps"][0]["removals"] == []


def test_zero_bias_neuron_is_removed_without_changing_the_next_bias():
    rng = np.random.default_rng(2)
    layers = quantized_layers(rng, [3, 4, 2])
    layers[0][0][0], layers[0][1][0] = 0, 0.0
    net = mlp(layers)
    reduced, certificate, _ = _simplified(net)
    assert summarize(reduced).neurons == summarize(net).neurons - 1
    np.testing.assert_array_equal(reduced.initializers[reduced.nodes[-1].inputs[2]], layers[1][1])
    _same_exactly(net, reduced, rng)


def test_matmul_add_layers_become_gemm_with_the_propagated_bias():
    rng = np.random.default_rng(20)
    net = stacked_net(rng, matmul=True)
    init = dict(net.initializers)
    init["W0"] = np.array(init["W0"])
    init["W0"][:, 1] = 0                            # neuron 1 of the first MatMul is the constant b0[1]
    net = net.replace(initializers=init)
    reduced, certificate, _ = _simplified(net)
    assert reduced.node("mm1").op == "Gemm" and summarize(reduced).parameters < summarize(net).parameters
    _same_exactly(net, reduced, rng)


def test_network_without_zeros_is_left_unchanged():
    rng = np.random.default_rng(3)
    for net in (mlp(quantized_layers(rng, [3, 5, 2])), vgg(rng), resnet(rng)):
        reduced, certificate, stats = _simplified(net)
        assert canonical_sha256(reduced) == canonical_sha256(net) and stats.applied == 0


# ------------------------------------------------------------------------------ CNN
@pytest.mark.parametrize("build", [vgg, resnet])
def test_cnn_with_half_the_channels_zeroed(build):
    rng = np.random.default_rng(4)
    net, zeroed = zero_channels(build(rng), rng)
    reduced, certificate, stats = _simplified(net)
    assert summarize(reduced).parameters < summarize(net).parameters
    assert stats.details["removed_channels"] > 0 and certificate["claim"]["relation"]["kind"] == "exact"
    _same_exactly(net, reduced, rng)


def _constant_into_padded_conv(pad: int):
    """conv1 channel 1 has a zero kernel and bias 0.5: the constant relu(0.5) feeds conv2 (padding ``pad``)."""
    rng = np.random.default_rng(5)
    init = {"k1": q(rng, 3, 2, 3, 3), "b1": np.array([0.25, 0.5, -0.25]), "k2": q(rng, 2, 3, 3, 3), "b2": q(rng, 2)}
    init["k1"][1] = 0
    nodes = [_conv("c1", "x", "k1", "b1"), Node("r1", "Relu", ("c1",), ("h1",)),
             _conv("c2", "h1", "k2", "b2", pad=pad), Node("r2", "Relu", ("c2",), ("h2",))]
    side = 6 + 2 * pad - 2
    return _image_net(nodes + _head(init, "h2", 2 * side * side), init)


def test_constant_channel_into_padded_conv_gets_a_spatial_bias_exact_at_the_borders():
    rng = np.random.default_rng(6)
    net = _constant_into_padded_conv(pad=1)
    reduced, certificate, stats = _simplified(net)
    assert stats.details["spatial_bias_adds"] == 1
    spatial = [n for n in reduced.nodes if n.op == "Add"][0]
    bias = reduced.initializers[spatial.inputs[1]]
    assert bias.shape == (1, 2, 6, 6) and bias[0, 0, 0, 0] != bias[0, 0, 3, 3]     # corner != interior
    k2 = net.initializers["k2"][:, 1]
    assert bias[0, 0, 0, 0] == 0.5 * k2[0, 1:, 1:].sum() and bias[0, 0, 3, 3] == 0.5 * k2[0].sum()
    _same_exactly(net, reduced, rng)
    # the uniform (scalar) fold is wrong at the borders: the replay is not just "bias += a * sum(kernel)"
    init = dict(net.initializers)
    init["k2"] = np.array(init["k2"])
    init["b2"] = init["b2"] + 0.5 * init["k2"][:, 1].sum(axis=(1, 2))
    init["k2"][:, 1] = 0
    wrong = net.replace(initializers=init)
    x = rng.normal(size=(2,) + net.input.shape)
    assert exact_outputs(wrong, x) != exact_outputs(net, x)


def test_constant_channel_into_unpadded_conv_folds_into_the_scalar_bias():
    rng = np.random.default_rng(7)
    net = _constant_into_padded_conv(pad=0)
    reduced, _, stats = _simplified(net)
    assert stats.details["spatial_bias_adds"] == 0 and "Add" not in reduced.ops
    _same_exactly(net, reduced, rng)


def test_channel_pruned_on_one_residual_branch_only_is_kept():
    rng = np.random.default_rng(8)
    net = resnet(rng, blocks=1)
    init = dict(net.initializers)
    init["block0b_w"] = np.array(init["block0b_w"])
    init["block0b_w"][2] = 0                       # channel 2 zero on the residual branch, alive on the skip
    net = net.replace(initializers=init)
    reduced, _, stats = _simplified(net)
    assert reduced.initializers[reduced.node("block0b").inputs[1]].shape[0] == 8
    assert any("channel 2" in str(r) and "residual Add" in str(r) for r in stats.refused)
    _same_exactly(net, reduced, rng)


@pytest.mark.parametrize("zero_bias", [False, True])
def test_residual_channel_zero_on_every_branch_is_removed_through_the_add(zero_bias):
    rng = np.random.default_rng(17)
    base = resnet(rng, blocks=2)
    net, zeroed = zero_channels(base, rng, tied=residual_convs(base), zero_bias=zero_bias)
    reduced, certificate, stats = _simplified(net)
    for name in residual_convs(net):
        assert reduced.initializers[reduced.node(name).inputs[1]].shape[0] == 8 - len(zeroed[name])
    assert not stats.refused
    _same_exactly(net, reduced, rng)


def test_single_conv_residual_block_reads_and_writes_the_same_channels():
    """x -> c0 -> r0 -> [c1 + r0] -> relu: c1 is a producer and a reader of the same channel space."""
    rng = np.random.default_rng(18)
    init = {"k0": q(rng, 3, 2, 3, 3), "b0": np.array([0.5, 0.25, -0.5]), "k1": q(rng, 3, 3, 3, 3),
            "b1": np.array([0.25, 0.75, 0.5])}
    init["k0"][1] = 0
    init["k1"][1] = 0                              # channel 1 zero on both branches
    nodes = [_conv("c0", "x", "k0", "b0"), Node("r0", "Relu", ("c0",), ("h0",)), _conv("c1", "h0", "k1", "b1"),
             Node("add", "Add", ("c1", "h0"), ("s",)), Node("r1", "Relu", ("s",), ("h1",))]
    net = _image_net(nodes + _head(init, "h1", 3 * 36), init)
    reduced, _, stats = _simplified(net)
    assert reduced.initializers[reduced.node("c1").inputs[1]].shape[:2] == (2, 2)
    _same_exactly(net, reduced, rng)


def test_concat_of_a_tensor_with_itself_keeps_consistent_widths():
    rng = np.random.default_rng(9)
    init = {"k1": q(rng, 3, 2, 3, 3), "b1": q(rng, 3), "k2": q(rng, 2, 6, 3, 3), "b2": q(rng, 2)}
    init["k1"][0] = 0
    nodes = [_conv("c1", "x", "k1", "b1"), Node("r1", "Relu", ("c1",), ("h1",)),
             Node("cat", "Concat", ("h1", "h1"), ("h",), {"axis": 1}), _conv("c2", "h", "k2", "b2")]
    net = _image_net(nodes + _head(init, "c2", 2 * 36), init)
    reduced, _, stats = _simplified(net)
    assert any("Concat" in str(r) for r in stats.refused)
    _same_exactly(net, reduced, rng)


def test_grouped_convolution_reader_gets_the_constant_but_is_not_narrowed():
    rng = np.random.default_rng(10)
    init = {"k1": q(rng, 4, 2, 3, 3), "b1": np.array([0.5, 0.25, -0.5, 0.75]), "k2": q(rng, 4, 2, 3, 3),
            "b2": q(rng, 4)}
    init["k1"][[1, 2]] = 0
    nodes = [_conv("c1", "x", "k1", "b1"), Node("r1", "Relu", ("c1",), ("h1",)),
             _conv("c2", "h1", "k2", "b2", group=2), Node("r2", "Relu", ("c2",), ("h2",))]
    net = _image_net(nodes + _head(init, "h2", 4 * 36), init)
    reduced, certificate, stats = _simplified(net)
    assert certificate["steps"][0]["kind"] == "bias_propagation"
    assert any("grouped convolution" in str(r) for r in stats.refused)
    assert reduced.initializers[reduced.node("c1").inputs[1]].shape[0] == 4
    _same_exactly(net, reduced, rng)


def _conv_bn_net(var, eps):
    rng = np.random.default_rng(11)
    init = {"k1": q(rng, 3, 2, 3, 3), "b1": q(rng, 3), "g": q(rng, 3), "beta": np.array([0.5, 0.25, 0.75]),
            "mu": q(rng, 3), "var": np.asarray(var, float), "k2": q(rng, 2, 3, 3, 3), "b2": q(rng, 2)}
    init["k1"][1] = 0
    nodes = [_conv("c1", "x", "k1", "b1"),
             Node("bn", "BatchNormalization", ("c1", "g", "beta", "mu", "var"), ("n1",), {"epsilon": eps}),
             Node("r1", "Relu", ("n1",), ("h1",)), _conv("c2", "h1", "k2", "b2"), Node("r2", "Relu", ("c2",), ("h2",))]
    return _image_net(nodes + _head(init, "h2", 2 * 36), init)


def test_channel_through_batchnorm_with_exact_scale_is_propagated_and_removed_with_its_parameters():
    rng = np.random.default_rng(12)
    net = _conv_bn_net((0.1875, 0.9375, 3.9375), 0.0625)          # var + eps = 1/4, 1, 4
    reduced, _, stats = _simplified(net)
    bn = reduced.node("bn")
    assert all(reduced.initializers[name].shape == (2,) for name in bn.inputs[1:])
    _same_exactly(net, reduced, rng)


def test_channel_through_batchnorm_with_irrational_scale_is_kept_with_a_reason():
    net = _conv_bn_net((0.5, 0.7, 0.9), 1e-5)
    reduced, _, stats = _simplified(net)
    assert any("irrational" in str(r) for r in stats.refused)
    assert canonical_sha256(reduced) == canonical_sha256(net)


# ------------------------------------------------------------------------------ inexact
def _dense_net():
    rng = np.random.default_rng(13)
    net, _ = zero_channels(resnet(rng, width=4, blocks=1, image=(2, 6, 6), dense=True), rng)
    return net


def test_rounded_propagation_is_refused_without_a_box_and_certified_with_one():
    net = _dense_net()
    reduced, certificate, stats = _simplified(net)
    assert certificate["claim"]["relation"]["kind"] == "exact"
    assert any("box" in str(r) for r in stats.refused)
    box = Box.uniform(-1.0, 1.0, net.input.size)
    boxed, boxed_certificate, boxed_stats = _simplified(net, box)
    assert boxed_certificate["claim"]["relation"]["kind"] == "eps" and boxed_stats.epsilon > 0
    assert summarize(boxed).parameters < summarize(reduced).parameters
    x = np.random.default_rng(14).uniform(-1, 1, (64,) + net.input.shape)
    assert np.max(np.abs(boxed.evaluate(x) - net.evaluate(x))) <= boxed_stats.epsilon
    claims_exact = copy.deepcopy(boxed_certificate)
    claims_exact["claim"]["relation"] = {"kind": "exact"}
    claims_exact["claim"]["bound"] = (0.0).hex()
    step = [s["kind"] for s in claims_exact["steps"]].index("bias_propagation")
    problems = _problems(claims_exact, net, boxed)
    assert problems[0].item == f"steps/{step}/epsilon" and "not exact" in problems[0].reason


def test_exact_evaluation_of_a_reduced_cnn_at_every_border_position():
    """Full output tensors (before the head) agree exactly, border positions included."""
    net = _constant_into_padded_conv(pad=2)
    reduced, _, _ = _simplified(net)
    x = np.random.default_rng(16).normal(size=(1,) + net.input.shape)
    cut = lambda n: n.replace(nodes=[m for m in n.nodes if m.op not in ("Flatten", "Gemm")],
                              outputs=[TensorSpec("h2", (1, 2, 8, 8), "float64", (0,))])
    assert (evaluate_exact(cut(net), x).values == evaluate_exact(cut(reduced), x).values).all()
