"""Seeded CNNs with zeroed channels for the ``simplify`` pass (tests and ``benchmarks/compress``).

Weights are dyadic with few bits (``k / 32``) so sums of products stay exact in float32 and the
certificates are exact; ``dense=True`` uses normal float32 weights instead.  ``zero_channels``
zeroes the incoming kernels of a fraction of every conv's output channels (keeping their biases, so
the zeroed channels are constants ``relu(bias)`` that must be propagated, not just dropped).
"""

from __future__ import annotations

import numpy as np

from nnequiv.ir import Network, Node, TensorSpec


def _weights(rng: np.random.Generator, shape, dense: bool, fan_in: int) -> np.ndarray:
    if dense:
        return rng.normal(0, 1 / np.sqrt(fan_in), shape).astype(np.float32)
    return (rng.integers(-8, 9, shape) / 32.0).astype(np.float32)


class _Builder:
    def __init__(self, rng: np.random.Generator, dense: bool) -> None:
        self.rng, self.dense = rng, dense
        self.nodes: list[Node] = []
        self.init: dict[str, np.ndarray] = {}

    def conv(self, name: str, src: str, cin: int, cout: int, *, pad: int = 1, stride: int = 1,
             kernel: int = 3, group: int = 1, relu: bool = True) -> str:
        self.init[f"{name}_w"] = _weights(self.rng, (cout, cin // group, kernel, kernel), self.dense,
                                          kernel * kernel * cin // group)
        self.init[f"{name}_b"] = _weights(self.rng, (cout,), self.dense, 4)
        self.nodes.append(Node(name, "Conv", (src, f"{name}_w", f"{name}_b"), (name,),
                               {"kernel_shape": (kernel, kernel), "pads": (pad,) * 4, "strides": (stride, stride),
                                "group": group}))
        return self.relu(name) if relu else name

    def relu(self, src: str) -> str:
        self.nodes.append(Node(f"{src}_relu", "Relu", (src,), (f"{src}_relu",)))
        return f"{src}_relu"

    def op(self, name: str, op: str, inputs, **attrs) -> str:
        self.nodes.append(Node(name, op, tuple(inputs), (name,), attrs))
        return name

    def gemm(self, name: str, src: str, n_in: int, n_out: int, out: str | None = None) -> str:
        self.init[f"{name}_w"] = _weights(self.rng, (n_out, n_in), self.dense, n_in)
        self.init[f"{name}_b"] = _weights(self.rng, (n_out,), self.dense, 4)
        self.nodes.append(Node(name, "Gemm", (src, f"{name}_w", f"{name}_b"), (out or name,), {"transB": 1}))
        return out or name

    def network(self, image, classes: int, name: str) -> Network:
        return Network.create(inputs=(TensorSpec("input", (1, *image), "float32", (0,)),),
                              outputs=(TensorSpec("output", (1, classes), "float32", (0,)),),
                              nodes=self.nodes, initializers=self.init, name=name)


def vgg(rng: np.random.Generator, widths=(8, 16), image=(3, 8, 8), classes: int = 4, dense: bool = False,
        hidden: int = 16) -> Network:
    """``[Conv3x3 pad 1, Relu, Conv3x3 pad 1, Relu, MaxPool 2]`` per width, Flatten, Gemm, Relu, Gemm."""
    b, src, cin, size = _Builder(rng, dense), "input", image[0], image[1]
    for i, width in enumerate(widths):
        src = b.conv(f"conv{i}a", src, cin, width)
        src = b.conv(f"conv{i}b", src, width, width)
        src = b.op(f"pool{i}", "MaxPool", (src,), kernel_shape=(2, 2), strides=(2, 2))
        cin, size = width, size // 2
    src = b.op("flatten", "Flatten", (src,), axis=1)
    src = b.relu(b.gemm("fc1", src, cin * size * size, hidden))
    b.gemm("fc2", src, hidden, classes, out="output")
    return b.network(image, classes, "vgg")


def resnet(rng: np.random.Generator, width: int = 8, blocks: int = 2, image=(3, 8, 8), classes: int = 4,
           dense: bool = False) -> Network:
    """Stem Conv, ``blocks`` x [Conv, Relu, Conv, Add(skip), Relu], GlobalAveragePool, Flatten, Gemm."""
    b = _Builder(rng, dense)
    src = b.conv("stem", "input", image[0], width)
    for i in range(blocks):
        inner = b.conv(f"block{i}a", src, width, width)
        outer = b.conv(f"block{i}b", inner, width, width, relu=False)
        src = b.relu(b.op(f"add{i}", "Add", (outer, src)))
    src = b.op("gap", "GlobalAveragePool", (src,))
    src = b.op("flatten", "Flatten", (src,), axis=1)
    b.gemm("fc", src, width, classes, out="output")
    return b.network(image, classes, "resnet")


def residual_convs(net: Network) -> tuple[str, ...]:
    """The convs of ``resnet`` that write the residual stream (stem and every block's second conv)."""
    return tuple(n.name for n in net.nodes if n.op == "Conv" and (n.name == "stem" or n.name.endswith("b")))


def zero_channels(net: Network, rng: np.random.Generator, fraction: float = 0.5, skip: tuple[str, ...] = (),
                  zero_bias: bool = False, tied: tuple[str, ...] = ()) -> tuple[Network, dict[str, list[int]]]:
    """Zero the kernels of ``fraction`` of each Conv's output channels (not in ``skip``); with
    ``zero_bias`` their biases too (magnitude pruning), else they become constants ``relu(bias)``.
    The convs in ``tied`` get the same channels (structured pruning of a residual stream)."""
    init = dict(net.initializers)
    zeroed: dict[str, list[int]] = {}
    shared: list[int] | None = None
    for node in net.nodes:
        if node.op != "Conv" or node.name in skip:
            continue
        w = np.array(init[node.inputs[1]])
        chosen = sorted(rng.choice(w.shape[0], int(round(fraction * w.shape[0])), replace=False).tolist())
        if node.name in tied:
            shared = chosen if shared is None else shared
            chosen = shared
        w[chosen] = 0
        init[node.inputs[1]] = w
        if zero_bias:
            b = np.array(init[node.inputs[2]])
            b[chosen] = 0
            init[node.inputs[2]] = b
        zeroed[node.name] = chosen
    return net.replace(initializers=init), zeroed
