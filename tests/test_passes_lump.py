"""``lump``: maximum proportional exact lumping; what it removes, what it must leave alone."""

from __future__ import annotations

import time
from fractions import Fraction

import numpy as np
import pytest

from nnequiv.checker import verify
from nnequiv.passes import PassOptions, get_pass
from nnequiv.passes.pipeline import compress
from nnequiv.summary import summarize
from tests.helpers.pairs import mlp
from tests.test_passes_nets import add_scaled_copy, quantized_layers, same_function

lump = get_pass("lump")


def _lumped(net):
    result = lump(net, PassOptions())
    reduced, certificate = compress(net, ["lump"])
    assert verify(certificate, net, reduced).valid
    assert summarize(reduced).neurons == summarize(result.network).neurons
    return result, reduced, certificate


@pytest.mark.parametrize("rho", [2.0, 0.5, 3.0])
def test_scaled_duplicates_are_lumped_exactly(rho):
    rng = np.random.default_rng(10)
    layers = quantized_layers(rng, [3, 5, 4, 2])
    dup = add_scaled_copy(add_scaled_copy(layers, 0, 2, rho, rng), 1, 1, rho, rng)
    net = mlp(dup)
    result, reduced, certificate = _lumped(net)
    assert summarize(reduced).neurons == summarize(net).neurons - 2
    assert result.stats.applied == 2
    rhos = {m["rho"] for layer in certificate["steps"][0]["layers"] for c in layer["classes"] for m in c["members"]}
    assert rhos == {str(Fraction(rho))}
    assert certificate["claim"]["relation"]["kind"] == "exact"
    same_function(net, reduced, rng, exact=True)


def test_classes_with_three_members_and_dead_neurons():
    rng = np.random.default_rng(11)
    layers = quantized_layers(rng, [3, 4, 2])
    dup = add_scaled_copy(add_scaled_copy(layers, 0, 0, 2.0, rng), 0, 0, 0.5, rng)
    w, b = dup[0]
    dup[0] = (np.vstack([w, np.zeros((2, 3))]), np.append(b, [0.0, 0.0]))      # two dead neurons
    dup[1] = (np.hstack([dup[1][0], q_cols(rng, dup[1][0].shape[0], 2)]), dup[1][1])
    net = mlp(dup)
    _, reduced, _ = _lumped(net)
    assert summarize(reduced).neurons == summarize(net).neurons - 3        # class {0, 4, 5}, dead {6, 7}
    same_function(net, reduced, rng, exact=True)


def q_cols(rng, rows, cols):
    return rng.integers(-8, 8, (rows, cols)) / 8.0


def test_class_version_lumps_a_layer_proportional_only_in_the_quotient():
    """Layer 1's neurons a, b have rows (1, 1) and (3, 0) over layer-0 neurons j, k = 2 j: not
    proportional, but over the quotient both read 3 h_j (L2 with weighted sums)."""
    w0 = np.array([[1.0, -0.5], [2.0, -1.0]])
    b0 = np.array([0.25, 0.5])
    w1 = np.array([[1.0, 1.0], [3.0, 0.0]])
    b1 = np.array([0.5, 0.5])
    w2 = np.array([[1.0, -2.0]])
    net = mlp([(w0, b0), (w1, b1), (w2, np.array([0.0]))])
    result, reduced, certificate = _lumped(net)
    assert summarize(reduced).neurons == 2
    assert [len(layer["classes"]) for layer in certificate["steps"][0]["layers"]] == [1, 1]
    same_function(net, reduced, np.random.default_rng(12), exact=True)


def _pair_net(row_j, row_k, bias=(0.5, 0.25)):
    w0 = np.array([row_j, row_k], dtype=float)
    return mlp([(w0, np.array(bias, float)), (np.array([[1.0, 1.0]]), np.array([0.0]))])


@pytest.mark.parametrize("name, row_j, row_k, bias", [
    ("negative rho", [1.0, -2.0], [-2.0, 4.0], (0.5, -1.0)),
    ("proportional up to 1e-12", [1.0, -2.0], [2.0, -4.0 * (1 + 1e-12)], (0.5, 1.0)),
    ("bias not scaled", [1.0, -2.0], [2.0, -4.0], (0.5, 0.5)),
    ("rows summing to zero", [1.0, -1.0], [2.0, -1.0], (0.0, 0.0)),
])
def test_non_lumpable_pairs_are_left_alone(name, row_j, row_k, bias):
    net = _pair_net(row_j, row_k, bias)
    result, reduced, _ = _lumped(net)
    assert result.stats.applied == 0, name
    assert summarize(reduced).neurons == 2


def test_rows_summing_to_zero_still_lump_when_proportional():
    net = _pair_net([1.0, -1.0], [3.0, -3.0], (0.0, 0.0))
    result, reduced, certificate = _lumped(net)
    assert result.stats.applied == 1
    assert certificate["steps"][0]["layers"][0]["classes"][0]["members"][0]["rho"] == "3"
    same_function(net, reduced, np.random.default_rng(13), exact=True)


def test_merge_that_would_round_is_refused_and_reported():
    w0 = np.array([[1.0, 2.0], [1.0, 2.0]])
    net = mlp([(w0, np.array([0.5, 0.5])), (np.array([[1.0, 2.0 ** -60]]), np.array([0.0]))])
    result, reduced, _ = _lumped(net)
    assert result.stats.applied == 0
    assert any("rounded" in r.reason for r in result.stats.refused)


def test_leaky_relu_layers_lump():
    rng = np.random.default_rng(14)
    layers = add_scaled_copy(quantized_layers(rng, [3, 4, 2]), 0, 1, 2.0, rng)
    net = mlp(layers, activation="LeakyRelu")
    result, reduced, _ = _lumped(net)
    assert result.stats.applied == 1
    same_function(net, reduced, rng, exact=True)


def test_wide_layer_is_fast():
    """Hashing normalised rows, not comparing pairs: 1500 neurons with 500 scaled copies."""
    rng = np.random.default_rng(15)
    w0, b0 = rng.integers(-64, 64, (1000, 20)) / 32.0, rng.integers(-64, 64, 1000) / 32.0
    copies = rng.integers(0, 1000, 500)
    w0 = np.vstack([w0, 2.0 * w0[copies]])
    b0 = np.append(b0, 2.0 * b0[copies])
    w1 = rng.integers(-64, 64, (3, 1500)) / 32.0
    net = mlp([(w0, b0), (w1, np.zeros(3))])
    start = time.perf_counter()
    result = lump(net, PassOptions())
    assert time.perf_counter() - start < 10
    assert result.stats.applied == 500
    assert summarize(result.network).neurons == 1000


def _weight_left_mlp(layers) -> "Network":
    """An MLP exported as VNN-COMP's ACAS/MNIST files are: 1-D input, ``MatMul(W, x)`` then ``Add(b)``."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from nnequiv.onnx_io import from_onnx_model

    nodes, inits, x = [], [], "X"
    for i, (w, b) in enumerate(layers):
        inits += [numpy_helper.from_array(w.astype(np.float32), f"W{i}"),
                  numpy_helper.from_array(b.astype(np.float32), f"B{i}")]
        nodes += [helper.make_node("MatMul", [f"W{i}", x], [f"M{i}"]), helper.make_node("Add", [f"M{i}", f"B{i}"], [f"H{i}"])]
        x = f"H{i}"
        if i < len(layers) - 1:
            nodes.append(helper.make_node("Relu", [x], [f"R{i}"]))
            x = f"R{i}"
    graph = helper.make_graph(nodes, "w_left", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [layers[0][0].shape[1]])],
                              [helper.make_tensor_value_info(x, TensorProto.FLOAT, [layers[-1][0].shape[0]])], inits)
    return from_onnx_model(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))


def test_weight_left_matmul_layers_are_lumped():
    """VNN-COMP exports (``MatMul(W, x)``, weight on the left) lump like ``x @ W`` layers."""
    rng = np.random.default_rng(12)
    layers = add_scaled_copy(add_scaled_copy(quantized_layers(rng, [3, 5, 4, 2]), 0, 2, 2.0, rng), 1, 1, 0.5, rng)
    net = _weight_left_mlp(layers)
    assert net.nodes[0].op == "MatMul" and net.nodes[0].inputs[0] in net.initializers
    _, reduced, certificate = _lumped(net)
    assert summarize(reduced).neurons == summarize(net).neurons - 2
    assert certificate["claim"]["relation"]["kind"] == "exact"
    same_function(net, reduced, rng, exact=True)
