"""Hand-built network pairs with known answers (issue 3's acceptance list).  All seeded by the caller."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from nnequiv.ir import Network, Node, TensorSpec


def mlp(layers: Sequence[tuple[np.ndarray, np.ndarray]], name: str = "mlp", activation: str = "Relu") -> Network:
    """``(Gemm activation)* Gemm`` on an input of shape (1, n); weights are (out, in) float64."""
    nodes, init, current = [], {}, "input"
    for k, (w, b) in enumerate(layers):
        init[f"w{k}"], init[f"b{k}"] = np.asarray(w, np.float64), np.asarray(b, np.float64)
        out = "output" if k == len(layers) - 1 else f"z{k}"
        nodes.append(Node(f"gemm{k}", "Gemm", (current, f"w{k}", f"b{k}"), (out,), {"transB": 1}))
        current = out
        if k < len(layers) - 1:
            nodes.append(Node(f"act{k}", activation, (out,), (f"h{k}",)))
            current = f"h{k}"
    n_in, n_out = layers[0][0].shape[1], layers[-1][0].shape[0]
    return Network.create(inputs=[TensorSpec("input", (1, n_in), "float64", (0,))],
                          outputs=[TensorSpec("output", (1, n_out), "float64", (0,))],
                          nodes=nodes, initializers=init, name=name)


def random_layers(rng: np.random.Generator, widths: Sequence[int]) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(rng.normal(0, 1 / np.sqrt(a), (b, a)), rng.normal(0, 0.2, b)) for a, b in zip(widths[:-1], widths[1:])]


def permuted(rng: np.random.Generator, layers):
    """The same function with every hidden layer's neurons permuted."""
    out = [(np.array(w), np.array(b)) for w, b in layers]
    for k in range(len(out) - 1):
        p = rng.permutation(out[k][0].shape[0])
        out[k] = (out[k][0][p], out[k][1][p])
        out[k + 1] = (out[k + 1][0][:, p], out[k + 1][1])
    return out


def duplicated_scaled(layers, layer: int = 0, neuron: int = 0, factor: float = 2.0):
    """Add a copy of one hidden neuron with incoming weights times ``factor`` (> 0) and move half of
    its outgoing weight onto the copy, divided by the factor: the function is unchanged exactly."""
    out = [(np.array(w), np.array(b)) for w, b in layers]
    w, b = out[layer]
    out[layer] = (np.vstack([w, factor * w[neuron]]), np.append(b, factor * b[neuron]))
    w_next, b_next = out[layer + 1]
    column = w_next[:, neuron] / 2
    w_next = np.hstack([w_next, (column / factor)[:, None]])
    w_next[:, neuron] = column
    out[layer + 1] = (w_next, b_next)
    return out


def bump_branch(centre: np.ndarray, radius: float, height: float, n_out: int):
    """Nodes and initializers computing ``output = f_out + height * relu(radius - |input - centre|_1)``
    from tensors ``input`` and ``f_out``."""
    n = centre.size
    init = {"bump_w": np.vstack([np.eye(n), -np.eye(n)]), "bump_b": np.concatenate([-centre, centre]),
            "ball_w": -np.ones((1, 2 * n)), "ball_b": np.array([radius]),
            "lift_w": np.full((n_out, 1), height), "lift_b": np.zeros(n_out)}
    nodes = [
        Node("bump_gemm", "Gemm", ("input", "bump_w", "bump_b"), ("bump_z",), {"transB": 1}),
        Node("bump_relu", "Relu", ("bump_z",), ("bump_abs",)),
        Node("ball_gemm", "Gemm", ("bump_abs", "ball_w", "ball_b"), ("ball_z",), {"transB": 1}),
        Node("ball_relu", "Relu", ("ball_z",), ("ball",)),
        Node("lift", "Gemm", ("ball", "lift_w", "lift_b"), ("lift_out",), {"transB": 1}),
        Node("sum", "Add", ("f_out", "lift_out"), ("output",)),
    ]
    return nodes, init


def with_bump(layers, centre: np.ndarray, radius: float, height: float, name: str = "bumped") -> Network:
    """``f(x) + height * relu(radius - |x - centre|_1)`` on every output: differs from ``f`` only
    inside a small L1 ball (a needle the falsifier's random search misses)."""
    base = mlp(layers, name="base")
    nodes = list(base.nodes)
    init = dict(base.initializers)
    nodes[-1] = Node(nodes[-1].name, "Gemm", nodes[-1].inputs, ("f_out",), dict(nodes[-1].attrs))
    bump_nodes, bump_init = bump_branch(centre, radius, height, layers[-1][0].shape[0])
    nodes += bump_nodes
    init.update(bump_init)
    return Network.create(inputs=base.inputs, outputs=base.outputs, nodes=nodes, initializers=init, name=name)
