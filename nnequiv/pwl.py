"""Piecewise-linear normal form: the network shape every numeric stage works on.

A :class:`PwlNet` is a chain of affine layers, each followed by a per-neuron
activation ``act(z) = z if z >= 0 else slope * z``:

* ``slope = 0``  -> ReLU,
* ``0 < slope < 1`` -> LeakyReLU(slope),
* ``slope = 1``  -> identity (a linear neuron; carries skip connections, the
  last layer, BatchNorm / normalisation layers that were not folded).

Each layer stores float64 ``weight``/``bias`` plus non-negative radii: the real
weight of the original network lies in ``[weight - weight_rad, weight + weight_rad]``
(``proofs/pwl_radius.md``).  Radii are zero wherever lowering was exact (Gemm,
MatMul, Conv, permutations); they are positive only where the original
semantics is not a float64 number (``1/c`` of a ``Div``, BatchNorm's square root,
``1/k`` of an average pool).  Sound bound propagation must account for them.

``softmax_output`` marks a trailing Softmax that the normal form omits: the
chain computes the logits.
"""

from __future__ import annotations

from dataclasses import dataclass
import numpy as np

from .ir import readonly


@dataclass(frozen=True, eq=False)
class PwlLayer:
    weight: np.ndarray       # (n_out, n_in)
    bias: np.ndarray         # (n_out,)
    slope: np.ndarray        # (n_out,)  negative-side slope of the activation
    weight_rad: np.ndarray   # (n_out, n_in) >= 0
    bias_rad: np.ndarray     # (n_out,) >= 0

    @classmethod
    def make(cls, weight, bias, slope, weight_rad=None, bias_rad=None) -> "PwlLayer":
        weight = np.asarray(weight, dtype=np.float64)
        if weight.ndim != 2:
            raise ValueError("weight must be a matrix")
        n_out, n_in = weight.shape
        bias = np.broadcast_to(np.asarray(bias, dtype=np.float64), (n_out,))
        slope = np.broadcast_to(np.asarray(slope, dtype=np.float64), (n_out,))
        weight_rad = np.zeros_like(weight) if weight_rad is None else np.asarray(weight_rad, np.float64)
        bias_rad = np.zeros(n_out) if bias_rad is None else np.broadcast_to(
            np.asarray(bias_rad, np.float64), (n_out,))
        if weight_rad.shape != weight.shape:
            raise ValueError("weight_rad must match weight")
        if np.any(weight_rad < 0) or np.any(bias_rad < 0):
            raise ValueError("radii must be non-negative")
        return cls(readonly(weight), readonly(bias), readonly(slope), readonly(weight_rad),
                   readonly(bias_rad))

    @property
    def n_in(self) -> int:
        return self.weight.shape[1]

    @property
    def n_out(self) -> int:
        return self.weight.shape[0]

    @property
    def is_exact(self) -> bool:
        return not (self.weight_rad.any() or self.bias_rad.any())

    def pre_activation(self, h: np.ndarray) -> np.ndarray:
        """``W h + b`` for a batch ``h`` of shape (B, n_in), in float64 (no radii)."""
        return h @ self.weight.T + self.bias

    def activate(self, z: np.ndarray) -> np.ndarray:
        return np.where(z >= 0, z, z * self.slope)


@dataclass(frozen=True, eq=False)
class PwlNet:
    layers: tuple[PwlLayer, ...]
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    softmax_output: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))
        width = int(np.prod(self.input_shape, dtype=np.int64))
        for index, layer in enumerate(self.layers):
            if layer.n_in != width:
                raise ValueError(f"layer {index} expects {layer.n_in} inputs, gets {width}")
            width = layer.n_out
        if width != int(np.prod(self.output_shape, dtype=np.int64)):
            raise ValueError("last layer width does not match the output shape")

    @property
    def input_size(self) -> int:
        return int(np.prod(self.input_shape, dtype=np.int64))

    @property
    def output_size(self) -> int:
        return int(np.prod(self.output_shape, dtype=np.int64))

    @property
    def is_exact(self) -> bool:
        return all(layer.is_exact for layer in self.layers)

    @property
    def widths(self) -> tuple[int, ...]:
        return (self.input_size,) + tuple(layer.n_out for layer in self.layers)

    def logits(self, x: np.ndarray) -> np.ndarray:
        """Float64 outputs before any trailing softmax, for a batch (B, input_size)."""
        h = np.asarray(x, dtype=np.float64).reshape(-1, self.input_size)
        for layer in self.layers:
            h = layer.activate(layer.pre_activation(h))
        return h

    def evaluate(self, x: np.ndarray) -> np.ndarray:
        out = self.logits(x)
        return softmax(out) if self.softmax_output else out

    def activations(self, x: np.ndarray) -> list[np.ndarray]:
        """Pre-activations of every layer for a batch (for phase patterns and search)."""
        h = np.asarray(x, dtype=np.float64).reshape(-1, self.input_size)
        result = []
        for layer in self.layers:
            z = layer.pre_activation(h)
            result.append(z)
            h = layer.activate(z)
        return result


def softmax(z: np.ndarray) -> np.ndarray:
    shifted = z - z.max(axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=-1, keepdims=True)


def stack_product(f: PwlNet, g: PwlNet) -> PwlNet:
    """The product network ``x -> [f(x); g(x)]`` (same input, shorter net padded with identity layers).

    Block-diagonal weights; exact (identity padding is exact).
    """
    if f.input_size != g.input_size:
        raise ValueError("product of networks with different input sizes")
    depth = max(len(f.layers), len(g.layers))
    fl = list(f.layers) + [identity_layer(f.output_size)] * (depth - len(f.layers))
    gl = list(g.layers) + [identity_layer(g.output_size)] * (depth - len(g.layers))
    layers = []
    for index, (a, b) in enumerate(zip(fl, gl)):
        if index == 0:
            weight = np.vstack([a.weight, b.weight])
            weight_rad = np.vstack([a.weight_rad, b.weight_rad])
        else:
            weight = _block_diag(a.weight, b.weight)
            weight_rad = _block_diag(a.weight_rad, b.weight_rad)
        layers.append(PwlLayer.make(weight, np.concatenate([a.bias, b.bias]),
                                    np.concatenate([a.slope, b.slope]), weight_rad,
                                    np.concatenate([a.bias_rad, b.bias_rad])))
    return PwlNet(tuple(layers), f.input_shape, (f.output_size + g.output_size,))


def identity_layer(width: int) -> PwlLayer:
    return PwlLayer.make(np.eye(width), np.zeros(width), np.ones(width))


def _block_diag(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = np.zeros((a.shape[0] + b.shape[0], a.shape[1] + b.shape[1]))
    out[: a.shape[0], : a.shape[1]] = a
    out[a.shape[0]:, a.shape[1]:] = b
    return out

