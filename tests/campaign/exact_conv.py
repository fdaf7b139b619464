"""Exact rational evaluation of a :class:`~tests.campaign.conv_spec.ConvSpec` (independent of nnequiv).

Conv is written out as its defining sum over zero-padded windows, BatchNormalization as
``(z - mean) / root * gamma + beta`` with the rational ``root`` whose square is checked to equal
``var + epsilon`` exactly (so nothing irrational is approximated), Flatten is C order.  The stages
(pre-activations of every block, then the bump's) feed the same breakpoint search as the MLPs.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Sequence

import numpy as np

from .conv_spec import BN_EPSILON, ConvSpec
from .ground_truth import ExactNet

Tensor = list[list[list[Fraction]]]        # [channel][row][column]


def _q(a) -> list:
    """Nested lists of exact Fractions with the shape of ``a``."""
    arr = np.asarray(a, np.float64)
    if arr.ndim == 0:
        return Fraction(float(arr))
    return [_q(sub) for sub in arr]


class ExactConvBlock:
    def __init__(self, blk) -> None:
        self.weight, self.bias = _q(blk.weight), _q(blk.bias)
        self.kh, self.kw = blk.weight.shape[2:]
        self.pads = tuple(int(p) for p in blk.pads)
        self.residual = blk.residual
        self.bn = None
        if blk.bn is not None:
            gamma, beta, mean, var, root = (_q(getattr(blk.bn, k)) for k in ("gamma", "beta", "mean", "var", "root"))
            eps = Fraction(BN_EPSILON)
            if any(r <= 0 or r * r != v + eps for r, v in zip(root, var)):
                raise ValueError("BatchNormalization var + epsilon is not the square of its stated root")
            self.bn = (gamma, beta, mean, root)

    def pre_activation(self, h: Tensor) -> Tensor:
        top, left, bottom, right = self.pads
        height, width = len(h[0]), len(h[0][0])
        zero = Fraction(0)

        def at(c, i, j):
            i, j = i - top, j - left
            return h[c][i][j] if 0 <= i < height and 0 <= j < width else zero

        rows, cols = height + top + bottom - self.kh + 1, width + left + right - self.kw + 1
        z = [[[self.bias[o] + sum((self.weight[o][c][p][q] * at(c, i + p, j + q)
                                   for c in range(len(h)) for p in range(self.kh) for q in range(self.kw)), zero)
               for j in range(cols)] for i in range(rows)] for o in range(len(self.weight))]
        if self.bn is not None:
            gamma, beta, mean, root = self.bn
            z = [[[(v - mean[o]) / root[o] * gamma[o] + beta[o] for v in row] for row in z[o]] for o in range(len(z))]
        if self.residual == "pre":
            z = _add(z, h)
        return z


def _add(a: Tensor, b: Tensor) -> Tensor:
    return [[[u + v for u, v in zip(ra, rb)] for ra, rb in zip(ca, cb)] for ca, cb in zip(a, b)]


def _flat(t: Tensor) -> list[Fraction]:
    return [v for channel in t for row in channel for v in row]


class ExactConvNet(ExactNet):
    """A ConvSpec evaluated in exact rational arithmetic (same interface as :class:`ExactNet`)."""

    def __init__(self, spec: ConvSpec) -> None:  # noqa: D107 - no call to ExactNet.__init__: other layers
        self.in_shape = tuple(spec.in_shape)
        self.blocks = [ExactConvBlock(b) for b in spec.blocks]
        self.head = (_q(spec.head[0]), _q(spec.head[1]))
        self.leaky = spec.activation == "LeakyRelu"
        self.alpha = Fraction(float(spec.alpha)) if self.leaky else Fraction(0)
        self.bump = None if spec.bump is None else ([Fraction(float(v)) for v in spec.bump[0]],
                                                    Fraction(float(spec.bump[1])), Fraction(float(spec.bump[2])))

    def forward(self, x: Sequence[Fraction]) -> tuple[list[Fraction], list[list[Fraction]]]:
        c, hh, ww = self.in_shape
        flat = list(x)
        h: Tensor = [[flat[(ch * hh + i) * ww:(ch * hh + i + 1) * ww] for i in range(hh)] for ch in range(c)]
        stages: list[list[Fraction]] = []
        for blk in self.blocks:
            z = blk.pre_activation(h)
            stages.append(_flat(z))
            a = [[[self._act(v) for v in row] for row in channel] for channel in z]
            h = _add(a, h) if blk.residual == "post" else a
        features = _flat(h)
        w, b = self.head
        out = [sum((wi * fi for wi, fi in zip(row, features)), Fraction(0)) + bi for row, bi in zip(w, b)]
        return self._with_bump(flat, out, stages), stages
