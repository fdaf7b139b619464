"""Small convolutional networks for the campaign: Conv (+ inference BatchNormalization) blocks with
ReLU/LeakyReLU and optional residual Add, then Flatten and one Gemm head.

The input is one sample ``(1, C, H, W)`` with ``C*H*W`` in {1, 2} (so the 1-D exact / 2-D grid ground
truth applies); padded kernels let the spatial size grow from there.  A block computes

* ``residual == ""``:     ``h' = act(N(conv(h)))``
* ``residual == "pre"``:  ``h' = act(N(conv(h)) + h)``
* ``residual == "post"``: ``h' = act(N(conv(h))) + h``

with ``N`` the BatchNormalization (or the identity).  A BatchNormalization's ``var + epsilon`` is
always the square of a dyadic rational (``bn_root``), so its exact value is rational and the ground
truth stays exact.  The ground truth (``exact_conv.py``) reads this Spec, never the ONNX network.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from nnequiv.ir import Network, Node, TensorSpec
from tests.helpers.pairs import bump_branch

BN_EPSILON = 2.0 ** -10                   # exact in float32 (ONNX stores the attribute as float32)


@dataclass(frozen=True)
class BatchNorm:
    gamma: np.ndarray
    beta: np.ndarray
    mean: np.ndarray
    var: np.ndarray                        # var + BN_EPSILON == root**2 exactly
    root: np.ndarray                       # dyadic sqrt(var + eps), kept for the ground truth's check


@dataclass(frozen=True)
class ConvBlock:
    weight: np.ndarray                     # (c_out, c_in, kh, kw)
    bias: np.ndarray                       # (c_out,)
    pads: tuple[int, int, int, int]        # ONNX order: top, left, bottom, right
    bn: BatchNorm | None = None
    residual: str = ""                     # "" | "pre" | "post"

    @property
    def channels(self) -> int:
        return int(self.weight.shape[0])


@dataclass(frozen=True)
class ConvSpec:
    in_shape: tuple[int, int, int]         # (C, H, W) of the single sample
    blocks: tuple[ConvBlock, ...]
    head: tuple[np.ndarray, np.ndarray]    # Gemm weight (n_out, C*H*W) and bias
    activation: str = "Relu"
    alpha: float = 0.0
    bump: tuple[np.ndarray, float, float] | None = None

    @property
    def n_in(self) -> int:
        return int(np.prod(self.in_shape))

    @property
    def n_out(self) -> int:
        return int(self.head[0].shape[0])

    def shapes(self) -> list[tuple[int, int, int]]:
        """Per-sample shape after each block (index 0: the input)."""
        out = [tuple(self.in_shape)]
        for blk in self.blocks:
            _, h, w = out[-1]
            kh, kw = blk.weight.shape[2:]
            t, l, b, r = blk.pads
            out.append((blk.channels, h + t + b - kh + 1, w + l + r - kw + 1))
        return out

    def with_(self, **changes) -> "ConvSpec":
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        return {"kind": "conv", "in_shape": list(self.in_shape), "activation": self.activation,
                "alpha": float(self.alpha).hex(), "head": [_arr_json(a) for a in self.head],
                "blocks": [{"weight": _arr_json(b.weight), "bias": _arr_json(b.bias), "pads": list(b.pads),
                            "residual": b.residual,
                            "bn": None if b.bn is None else {k: _arr_json(getattr(b.bn, k))
                                                             for k in ("gamma", "beta", "mean", "var", "root")}}
                           for b in self.blocks],
                "bump": None if self.bump is None else {"centre": _arr_json(self.bump[0]),
                                                        "radius": float(self.bump[1]).hex(),
                                                        "height": float(self.bump[2]).hex()}}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "ConvSpec":
        blocks = tuple(ConvBlock(_arr(b["weight"]), _arr(b["bias"]), tuple(b["pads"]),
                                 None if b["bn"] is None else BatchNorm(**{k: _arr(v) for k, v in b["bn"].items()}),
                                 b["residual"]) for b in data["blocks"])
        bump = data.get("bump")
        return cls(tuple(data["in_shape"]), blocks, tuple(_arr(a) for a in data["head"]), data["activation"],
                   float.fromhex(data["alpha"]),
                   None if bump is None else (_arr(bump["centre"]), float.fromhex(bump["radius"]),
                                              float.fromhex(bump["height"])))


def _arr_json(a: np.ndarray) -> dict[str, Any]:
    return {"shape": list(np.shape(a)), "hex": [float(v).hex() for v in np.ravel(a)]}


def _arr(d: dict[str, Any]) -> np.ndarray:
    return np.array([float.fromhex(v) for v in d["hex"]], np.float64).reshape(d["shape"])


def conv_network(spec: ConvSpec, name: str = "net") -> Network:
    """The ONNX graph of ``spec`` on input ``(1, C, H, W)``, float64 initialisers."""
    nodes, init, current = [], {}, "input"
    attrs = {"alpha": float(spec.alpha)} if spec.activation == "LeakyRelu" else {}
    for k, blk in enumerate(spec.blocks):
        init[f"cw{k}"], init[f"cb{k}"] = blk.weight, blk.bias
        z = f"conv{k}_out"
        nodes.append(Node(f"conv{k}", "Conv", (current, f"cw{k}", f"cb{k}"), (z,),
                          {"kernel_shape": list(blk.weight.shape[2:]), "pads": list(blk.pads)}))
        if blk.bn is not None:
            for part in ("gamma", "beta", "mean", "var"):
                init[f"bn{k}_{part}"] = getattr(blk.bn, part)
            nodes.append(Node(f"bn{k}", "BatchNormalization",
                              (z, f"bn{k}_gamma", f"bn{k}_beta", f"bn{k}_mean", f"bn{k}_var"), (f"bn{k}_out",),
                              {"epsilon": BN_EPSILON}))
            z = f"bn{k}_out"
        if blk.residual == "pre":
            nodes.append(Node(f"res{k}", "Add", (z, current), (f"res{k}_out",)))
            z = f"res{k}_out"
        nodes.append(Node(f"act{k}", spec.activation, (z,), (f"h{k}",), attrs))
        out = f"h{k}"
        if blk.residual == "post":
            nodes.append(Node(f"res{k}", "Add", (out, current), (f"res{k}_out",)))
            out = f"res{k}_out"
        current = out
    nodes.append(Node("flatten", "Flatten", (current,), ("flat",), {"axis": 1}))
    init["hw"], init["hb"] = spec.head
    nodes.append(Node("head", "Gemm", ("flat", "hw", "hb"),
                      ("f_out" if spec.bump is not None else "output",), {"transB": 1}))
    if spec.bump is not None:
        centre, radius, height = spec.bump
        bump_nodes, bump_init = bump_branch(centre, radius, height, spec.n_out)
        nodes.append(Node("input_flatten", "Flatten", ("input",), ("input_flat",), {"axis": 1}))
        nodes += [Node(n.name, n.op, tuple("input_flat" if t == "input" else t for t in n.inputs), n.outputs,
                       dict(n.attrs)) for n in bump_nodes]
        init.update(bump_init)
    return Network.create(inputs=[TensorSpec("input", (1,) + tuple(spec.in_shape), "float64", (0,))],
                          outputs=[TensorSpec("output", (1, spec.n_out), "float64", (0,))],
                          nodes=nodes, initializers=init, name=name)


def float_forward(spec: ConvSpec, x: np.ndarray) -> np.ndarray:
    """float64 flattened last hidden activation at ``x`` (only to place a crossing; not ground truth)."""
    h = np.asarray(x, np.float64).reshape(spec.in_shape)
    for blk in spec.blocks:
        t, l, b, r = blk.pads
        padded = np.pad(h, ((0, 0), (t, b), (l, r)))
        kh, kw = blk.weight.shape[2:]
        oh, ow = padded.shape[1] - kh + 1, padded.shape[2] - kw + 1
        z = np.array([[[np.sum(blk.weight[o] * padded[:, i:i + kh, j:j + kw]) + blk.bias[o]
                        for j in range(ow)] for i in range(oh)] for o in range(blk.channels)])
        if blk.bn is not None:
            col = (slice(None), None, None)
            z = (z - blk.bn.mean[col]) / blk.bn.root[col] * blk.bn.gamma[col] + blk.bn.beta[col]
        if blk.residual == "pre":
            z = z + h
        a = np.where(z >= 0, z, spec.alpha * z)
        h = a + h if blk.residual == "post" else a
    return h.ravel()
