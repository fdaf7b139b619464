"""Seeded networks built to contain what a pass removes (or what it must leave alone), shared by the
``test_passes_*`` modules and ``test_structural_certificates``; plus sanity checks of the builders."""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from nnequiv.interpret import evaluate_exact
from nnequiv.ir import Network, Node, TensorSpec
from tests.helpers.pairs import mlp


def q(rng: np.random.Generator, *shape: int) -> np.ndarray:
    """Dyadic weights with few bits (k/32, |k| < 64): sums and small multiples stay exact."""
    return rng.integers(-64, 64, shape) / 32.0


def quantized_layers(rng: np.random.Generator, widths) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(q(rng, b, a), q(rng, b)) for a, b in zip(widths[:-1], widths[1:])]


def add_scaled_copy(layers, layer: int, neuron: int, rho: float, rng: np.random.Generator):
    """A copy of ``neuron`` with incoming row and bias times ``rho`` (exact for these weights); the
    outgoing weight is split so that ``w_j + rho * w_k`` gives back the original column exactly."""
    out = [(np.array(w), np.array(b)) for w, b in layers]
    w, b = out[layer]
    out[layer] = (np.vstack([w, rho * w[neuron]]), np.append(b, rho * b[neuron]))
    w_next, b_next = out[layer + 1]
    part = q(rng, w_next.shape[0]) / 4
    column = w_next[:, neuron] - rho * part
    assert all(Fraction(c) == Fraction(o) - Fraction(rho) * Fraction(p)
               for c, o, p in zip(column, w_next[:, neuron], part))
    w_next = np.hstack([w_next, part[:, None]])
    w_next[:, neuron] = column
    out[layer + 1] = (w_next, b_next)
    return out


def vector_net(nodes, init, n_in: int, n_out: int, output: str = "o", name: str = "net") -> Network:
    """Input ``x`` of per-sample shape (1, n_in) (dynamic batch), output of shape (1, n_out)."""
    return Network.create(inputs=[TensorSpec("x", (1, n_in), "float64", (0,))],
                          outputs=[TensorSpec(output, (1, n_out), "float64", (0,))],
                          nodes=nodes, initializers=init, name=name)


EXACT_VAR = np.array([0.1875, 0.9375, 3.9375, 0.1875])     # var + 1/16 = 1/4, 1, 4, 1/4


def gemm_bn_net(rng, var=EXACT_VAR, eps: float = 0.0625, training: int = 0, after_relu: bool = False) -> Network:
    init = {"W": q(rng, 4, 3), "b": q(rng, 4), "g": q(rng, 4), "beta": q(rng, 4), "mu": q(rng, 4),
            "var": np.asarray(var, float), "W2": q(rng, 2, 4), "b2": q(rng, 2)}
    bn_attrs = {"epsilon": eps, **({"training_mode": training} if training else {})}
    if after_relu:
        nodes = [Node("gemm", "Gemm", ("x", "W", "b"), ("z",), {"transB": 1}),
                 Node("relu", "Relu", ("z",), ("y",)),
                 Node("bn", "BatchNormalization", ("y", "g", "beta", "mu", "var"), ("h",), bn_attrs)]
    else:
        nodes = [Node("gemm", "Gemm", ("x", "W", "b"), ("z",), {"transB": 1}),
                 Node("bn", "BatchNormalization", ("z", "g", "beta", "mu", "var"), ("y",), bn_attrs),
                 Node("relu", "Relu", ("y",), ("h",))]
    nodes.append(Node("out", "Gemm", ("h", "W2", "b2"), ("o",), {"transB": 1}))
    return vector_net(nodes, init, 3, 2, name="gemm_bn")


def conv_bn_net(rng, var=(0.1875, 0.9375, 3.9375), eps: float = 0.0625, extra_consumer: bool = False) -> Network:
    init = {"K": q(rng, 3, 2, 3, 3), "c": q(rng, 3), "g": q(rng, 3), "beta": q(rng, 3), "mu": q(rng, 3),
            "var": np.asarray(var, float)}
    nodes = [Node("conv", "Conv", ("x", "K", "c"), ("z",), {"pads": (1, 1, 1, 1)}),
             Node("bn", "BatchNormalization", ("z", "g", "beta", "mu", "var"), ("y",), {"epsilon": eps})]
    if extra_consumer:
        nodes += [Node("relu", "Relu", ("y",), ("r",)), Node("skip", "Add", ("r", "z"), ("o",))]
    else:
        nodes += [Node("relu", "Relu", ("y",), ("o",))]
    return Network.create(inputs=[TensorSpec("x", (1, 2, 4, 4), "float64", (0,))],
                          outputs=[TensorSpec("o", (1, 3, 4, 4), "float64", (0,))],
                          nodes=nodes, initializers=init, name="conv_bn")


def stacked_net(rng, exact: bool = True, matmul: bool = False, widths=(3, 5, 4, 2)) -> Network:
    """Gemm -> Gemm (-> Gemm): no non-linearity in between; or MatMul/Add pairs."""
    make = q if exact else (lambda r, *s: r.normal(size=s))
    init, nodes, current = {}, [], "x"
    for k, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        out = "o" if k == len(widths) - 2 else f"z{k}"
        if matmul:
            init[f"W{k}"], init[f"b{k}"] = make(rng, a, b), make(rng, b)
            nodes += [Node(f"mm{k}", "MatMul", (current, f"W{k}"), (f"m{k}",)),
                      Node(f"add{k}", "Add", (f"m{k}", f"b{k}"), (out,))]
        else:
            init[f"W{k}"], init[f"b{k}"] = make(rng, b, a), make(rng, b)
            nodes.append(Node(f"gemm{k}", "Gemm", (current, f"W{k}", f"b{k}"), (out,), {"transB": 1}))
        current = out
    return vector_net(nodes, init, widths[0], widths[-1], name="stacked")


def exact_outputs(net: Network, x: np.ndarray) -> list[tuple]:
    return [tuple(evaluate_exact(net, sample).values.ravel()) for sample in x]


def same_function(f: Network, g: Network, rng: np.random.Generator, exact: bool, n: int = 64) -> None:
    """Float agreement on random inputs; with ``exact``, equality in rational arithmetic on a few."""
    x = rng.normal(size=(n,) + f.input.shape) * 2
    np.testing.assert_allclose(g.evaluate(x), f.evaluate(x), rtol=1e-12, atol=1e-12)
    if exact:
        assert exact_outputs(f, x[:4]) == exact_outputs(g, x[:4])


# ------------------------------------------------------------------------------ builder sanity
def test_scaled_copies_keep_the_function_exactly():
    rng = np.random.default_rng(1)
    layers = quantized_layers(rng, [3, 4, 3, 2])
    for rho in (2.0, 0.5, 3.0):
        same_function(mlp(layers), mlp(add_scaled_copy(layers, 0, 1, rho, rng)), rng, exact=True)


def test_builders_evaluate():
    rng = np.random.default_rng(2)
    for net in (gemm_bn_net(rng), conv_bn_net(rng), stacked_net(rng), stacked_net(rng, matmul=True)):
        assert np.all(np.isfinite(net.evaluate(rng.normal(size=(3,) + net.input.shape))))
