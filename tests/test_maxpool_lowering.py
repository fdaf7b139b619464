"""MaxPool lowered to ReLU tournament layers (``proofs/maxpool_lowering.md``): the lowered
network agrees with the interpreter for every geometry, its analysis of a single point
contains the exact rational output, and the engine decides MaxPool networks numerically."""

from fractions import Fraction

import numpy as np
import pytest

from nnequiv.checker.diffzono import analyze
from nnequiv.engine.check import check
from nnequiv.interpret import evaluate, evaluate_exact, infer_shapes
from nnequiv.ir import Network, Node, TensorSpec
from nnequiv.lowering import to_pwl
from nnequiv.spec.box import Box
from nnequiv.spec.relation import Relation

GEOMETRIES = [
    ({"kernel_shape": (2, 2), "strides": (2, 2)}, (1, 2, 6, 6), 2),
    ({"kernel_shape": (3, 3), "strides": (1, 1), "pads": (1, 1, 1, 1)}, (1, 2, 5, 5), 4),
    ({"kernel_shape": (3, 3), "strides": (2, 2), "ceil_mode": 1}, (1, 1, 6, 6), 4),
    ({"kernel_shape": (2, 2), "dilations": (2, 2)}, (1, 1, 6, 6), 2),
    ({"kernel_shape": (3,), "strides": (2,), "pads": (1, 1)}, (1, 2, 9), 2),
    ({"kernel_shape": (1, 1)}, (1, 2, 3, 3), 0),
]


def _net(rng, attrs, shape, residual=False) -> Network:
    """Conv (pad 1) -> MaxPool -> Relu -> Flatten -> Gemm; ``residual``: the conv output is also
    pooled by an AveragePool-free path (read again after the MaxPool), so it is carried."""
    channels, spatial = shape[1], len(shape) - 2
    kernel = rng.normal(size=(channels, channels) + (3,) * spatial).astype(np.float32)
    nodes = [Node("conv", "Conv", ("x", "K"), ("h",), {"pads": (1,) * (2 * spatial)}),
             Node("pool", "MaxPool", ("h",), ("m",), attrs),
             Node("act", "Relu", ("m",), ("r",)),
             Node("flat", "Flatten", ("r",), ("f",), {})]
    init = {"K": kernel}
    net = Network.create(inputs=[TensorSpec("x", shape)], outputs=[TensorSpec("f", ())], nodes=nodes,
                         initializers=init)
    width = int(np.prod(infer_shapes(net)["f"]))
    init["W"] = rng.normal(size=(3, width)).astype(np.float32)
    nodes.append(Node("fc", "Gemm", ("f", "W"), ("y0",), {"transB": 1}))
    if residual:     # the conv output read again after the pool: carried through the tournament layers
        init["V"] = rng.normal(size=(3, int(np.prod(shape)))).astype(np.float32)
        nodes += [Node("hflat", "Flatten", ("h",), ("hf",), {}),
                  Node("skip", "Gemm", ("hf", "V"), ("s",), {"transB": 1}),
                  Node("sum", "Add", ("y0", "s"), ("y",))]
    else:
        nodes.append(Node("id", "Identity", ("y0",), ("y",)))
    return Network.create(inputs=[TensorSpec("x", shape)], outputs=[TensorSpec("y", (1, 3))], nodes=nodes,
                          initializers=init)


@pytest.mark.parametrize("residual", [False, True])
@pytest.mark.parametrize("attrs, shape, rounds", GEOMETRIES)
def test_lowered_maxpool_agrees_with_the_interpreter(attrs, shape, rounds, residual):
    rng = np.random.default_rng(len(shape) * 10 + rounds + residual)
    net = _net(rng, attrs, shape, residual)
    pwl = to_pwl(net)
    assert len(pwl.layers) == rounds + 2               # tournament rounds, the Relu layer, the output layer
    x = rng.uniform(-1, 1, (40,) + shape)
    np.testing.assert_allclose(pwl.evaluate(x.reshape(40, -1)), evaluate(net, x).reshape(40, -1),
                               rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("attrs, shape, rounds", GEOMETRIES[:3])
def test_analysis_of_a_point_contains_the_exact_output(attrs, shape, rounds):
    rng = np.random.default_rng(7 + rounds)
    net = _net(rng, attrs, shape, residual=True)
    pwl = to_pwl(net)
    for _ in range(3):
        x = rng.uniform(-1, 1, int(np.prod(shape)))
        exact = evaluate_exact(net, x.reshape(shape)).values.ravel()
        lo, hi = (b[0] for b in analyze(pwl, pwl, x, x).f_out.bounds())
        for value, a, b in zip(exact, lo, hi):
            assert Fraction(float(a)) <= value <= Fraction(float(b))


def test_checker_bounds_the_deviation_of_a_perturbed_pool_network_soundly():
    """The checker's differential analysis runs through the tournament layers: its bound on a
    perturbed copy covers every sampled deviation and is not vacuous."""
    from nnequiv.checker.structural import deviation_bound

    rng = np.random.default_rng(11)
    net = _net(rng, *GEOMETRIES[1][:2], residual=True)
    kernel = np.array(net.initializers["K"])
    other = net.replace(initializers={**net.initializers,
                                      "K": (kernel * (1 + 1e-3 * rng.normal(size=kernel.shape))).astype(np.float32)})
    box = Box.uniform(-1.0, 1.0, net.input.size)
    bound = deviation_bound(net, other, box)
    x = rng.uniform(-1, 1, (400,) + net.input.shape)
    sampled = np.abs(evaluate(net, x) - evaluate(other, x)).max()
    assert 0 < sampled <= bound < 0.1 * np.abs(evaluate(net, x)).max()     # a few % of the output scale


def test_engine_refutes_a_pool_with_the_wrong_stride_with_a_replayed_counterexample():
    rng = np.random.default_rng(12)
    net = _net(rng, *GEOMETRIES[0][:2])
    wrong = net.replace(nodes=tuple(Node(n.name, n.op, n.inputs, n.outputs,
                                         {"kernel_shape": (2, 2), "strides": (2, 2), "pads": (1, 1, 0, 0)})
                                    if n.op == "MaxPool" else n for n in net.nodes))
    box = Box.uniform(-1.0, 1.0, net.input.size)
    result = check(net, wrong, box, Relation.epsilon(1e-6), timeout=120)
    assert result.verdict == "not_equivalent"
    x = np.asarray(result.counterexample.input, np.float64).reshape((1,) + net.input.shape)
    assert np.abs(evaluate(net, x) - evaluate(wrong, x)).max() > 1e-6
