"""Seeded CNNs with planted proportional channels, for the ``lump`` tests and benchmark.

``planted_cnn`` builds ``Conv -> [pool] act [pool] -> (Conv -> Relu -> Flatten -> Gemm |
Flatten/Reshape -> Gemm)`` with dyadic weights (k/32), appends for each ``(channel, rho)``
a copy of that channel's filter and bias times ``rho``, and splits the next layer's weights
of the channel between the two so that ``w_j + rho w_copy`` gives back the original exactly:
the network computes the function of the un-planted one, and ``lump`` must remove every copy
with ``rho > 0``.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Sequence

import numpy as np

from nnequiv.ir import Network, Node, TensorSpec


def q(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.integers(-64, 64, shape) / 32.0


def _split(rng: np.random.Generator, column: np.ndarray, rho: float) -> tuple[np.ndarray, np.ndarray]:
    """``(kept, part)`` with ``kept + rho * part == column`` exactly."""
    part = q(rng, *column.shape) / 4
    kept = column - rho * part
    assert all(Fraction(k) + Fraction(rho) * Fraction(p) == Fraction(c)
               for k, p, c in zip(kept.ravel(), part.ravel(), column.ravel()))
    return kept, part


def planted_cnn(rng: np.random.Generator, planted: Sequence[tuple[int, float]] = ((0, 2.0),), *,
                channels: int = 3, image: tuple[int, int, int] = (2, 6, 6), activation: str = "Relu",
                pool: str | None = None, pool_op: str = "MaxPool", tail: str = "conv",
                bias: bool = True, group: int = 1) -> Network:
    """``pool``: None, "before" or "after" the activation; ``tail``: "conv", "flatten" or "reshape"."""
    c_in, h, w = image
    filters = q(rng, channels, c_in // group, 3, 3)
    biases = q(rng, channels) if bias else np.zeros(channels)
    side = h // 2 if pool else h
    pixels = side * side
    if tail == "conv":
        next_w = q(rng, 2, channels, 3, 3)
    else:
        next_w = q(rng, 3, channels * pixels)               # Gemm transB=1: (outputs, inputs)
    for j, rho in planted:
        filters = np.concatenate([filters, rho * filters[j:j + 1]])
        biases = np.append(biases, rho * biases[j])
        if tail == "conv":
            kept, part = _split(rng, next_w[:, j], rho)
            next_w[:, j] = kept
            next_w = np.concatenate([next_w, part[:, None]], axis=1)
        else:
            block = next_w[:, j * pixels:(j + 1) * pixels]
            kept, part = _split(rng, block, rho)
            next_w[:, j * pixels:(j + 1) * pixels] = kept
            next_w = np.concatenate([next_w, part], axis=1)
    total = filters.shape[0]
    init = {"K1": filters, "W2": next_w}
    conv_inputs = ("x", "K1", "c1") if bias else ("x", "K1")
    if bias:
        init["c1"] = biases
    nodes = [Node("conv1", "Conv", conv_inputs, ("z1",), {"pads": (1, 1, 1, 1), "group": group})]
    current = "z1"
    def add_pool(src: str) -> str:
        nodes.append(Node("pool", pool_op, (src,), ("p1",), {"kernel_shape": (2, 2), "strides": (2, 2)}))
        return "p1"

    if pool == "before":
        current = add_pool(current)
    nodes.append(Node("act1", activation, (current,), ("h1",), {"alpha": 0.125} if activation == "LeakyRelu" else {}))
    current = "h1"
    if pool == "after":
        current = add_pool(current)
    if tail == "conv":
        init.update({"c2": q(rng, 2), "W3": q(rng, 3, 2 * pixels), "b3": q(rng, 3)})
        nodes += [Node("conv2", "Conv", (current, "W2", "c2"), ("z2",), {"pads": (1, 1, 1, 1)}),
                  Node("act2", "Relu", ("z2",), ("h2",)),
                  Node("flat", "Flatten", ("h2",), ("f",), {"axis": 1}),
                  Node("out", "Gemm", ("f", "W3", "b3"), ("o",), {"transB": 1})]
    else:
        init["b2"] = q(rng, 3)
        if tail == "reshape":
            init["shape"] = np.array([1, total * pixels], dtype=np.int64)
            nodes.append(Node("flat", "Reshape", (current, "shape"), ("f",)))
        else:
            nodes.append(Node("flat", "Flatten", (current,), ("f",), {"axis": 1}))
        nodes.append(Node("out", "Gemm", ("f", "W2", "b2"), ("o",), {"transB": 1}))
    return Network.create(inputs=[TensorSpec("x", (1,) + tuple(image), "float64", (0,))],
                          outputs=[TensorSpec("o", (1, 3), "float64", (0,))],
                          nodes=nodes, initializers=init, name="planted_cnn")
