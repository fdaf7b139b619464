"""Enclosure rules of the elementwise and monotone ops: Relu, LeakyRelu, MaxPool, Add, Sub,
Mul/Div by constants, BatchNormalization (``proofs/rigorous_eval.md``, Lemmas 9-11)."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from ..checker.rounding import add_up, down
from ..errors import ShapeError, UnsupportedOpError
from ..ops.defaults import ONNX_DEFAULT_BN_EPSILON, ONNX_DEFAULT_LEAKY_ALPHA
from ..ops.window import geometry, padded_windows
from .expansion import Enclosure, add, compress, constant, from_interval, point, scale
from .registry import rule

SQRT_BITS = 130        # BatchNormalization's square roots are enclosed to 2**-130 relative


def _select(mask: np.ndarray, a: Enclosure, b: Enclosure) -> Enclosure:
    return Enclosure(tuple(np.where(mask, p, q) for p, q in zip(a.limbs, b.limbs)), np.where(mask, a.radius, b.radius))


def leaky(x: Enclosure, alpha: float) -> Enclosure:
    """``max(v, 0) + alpha min(v, 0)``, monotone for ``alpha >= 0`` (Lemma 9): the identity
    where the enclosure is surely >= 0, ``alpha x`` where surely <= 0, else ``[alpha lo, hi]``."""
    if not alpha >= 0.0:
        raise UnsupportedOpError(f"LeakyRelu with alpha={alpha} is not monotone", fix="use alpha >= 0")
    low, high = x.lower(), x.upper()
    negative = point(np.zeros(x.shape)) if alpha == 0.0 else scale(x, point(np.asarray(alpha)))
    straddle_low = np.zeros(x.shape) if alpha == 0.0 else down(alpha * np.minimum(low, 0.0))
    straddle = from_interval(straddle_low, np.maximum(high, 0.0))
    return _select(low >= 0.0, x, _select(high <= 0.0, negative, straddle))


@rule("Relu")
def _relu(node, args) -> Enclosure:
    return leaky(args[0], 0.0)


@rule("LeakyRelu")
def _leaky_relu(node, args) -> Enclosure:
    return leaky(args[0], float(node.attr("alpha", ONNX_DEFAULT_LEAKY_ALPHA)))


def _lift(value) -> Enclosure:
    return value if isinstance(value, Enclosure) else point(np.asarray(value, dtype=np.float64))


@rule("Add", "Sub")
def _add(node, args) -> Enclosure:
    return add(_lift(args[0]), _lift(args[1]), -1.0 if node.op == "Sub" else 1.0)


def _variable_and_constant(node, args) -> tuple[Enclosure, np.ndarray]:
    a, b = args[0], args[1]
    if isinstance(a, Enclosure) == isinstance(b, Enclosure):
        raise UnsupportedOpError(f"{node.op} of two input-dependent tensors",
                                 fix="rigorous evaluation supports products by constants only")
    if node.op == "Div" and not isinstance(a, Enclosure):
        raise UnsupportedOpError("Div by an input-dependent tensor", fix="divide by constants only")
    return (a, np.asarray(b)) if isinstance(a, Enclosure) else (b, np.asarray(a))


@rule("Mul")
def _mul(node, args) -> Enclosure:
    x, c = _variable_and_constant(node, args)
    return scale(x, point(c))


@rule("Div")
def _div(node, args) -> Enclosure:
    x, c = _variable_and_constant(node, args)
    if np.any(c == 0):
        raise UnsupportedOpError("Div by a constant zero", fix="the model divides by zero")
    inverse = np.vectorize(lambda v: 1 / Fraction(float(v)), otypes=[object])(c)
    return scale(x, constant(inverse, np.zeros(c.shape, dtype=object)))


def sqrt_interval(v: Fraction, bits: int = SQRT_BITS) -> tuple[Fraction, Fraction]:
    """``lo <= sqrt(v) <= hi`` with ``hi - lo = 2**-bits`` (v >= 0; Lemma 10)."""
    floor = v.numerator * 4 ** bits // v.denominator
    root = math.isqrt(floor)
    return Fraction(root, 2 ** bits), Fraction(root + 1, 2 ** bits)


@rule("BatchNormalization")
def _batch_norm(node, args) -> Enclosure:
    """``x s + (B - mean s)`` with ``s = scale / sqrt(var + eps)`` enclosed per channel (Lemma 10)."""
    x = args[0]
    if int(node.attr("training_mode", 0)) or any(node.outputs[1:]) or not isinstance(x, Enclosure):
        raise UnsupportedOpError("BatchNormalization in training mode or on a constant", fix="export in eval mode")
    gamma, beta, mean, var = (np.asarray(a, dtype=np.float64).ravel() for a in args[1:5])
    eps = Fraction(float(node.attr("epsilon", ONNX_DEFAULT_BN_EPSILON)))
    s_mid, s_rad, t_mid, t_rad = [], [], [], []
    for g, b, m, v in zip(gamma, beta, mean, var):
        variance = Fraction(float(v)) + eps
        if variance <= 0:
            raise UnsupportedOpError("BatchNormalization with var + epsilon <= 0", fix="check the running variance")
        low, high = sqrt_interval(variance)
        ends = sorted((Fraction(float(g)) / high, Fraction(float(g)) / low)) if low > 0 else None
        if ends is None:
            raise UnsupportedOpError("BatchNormalization variance too small to enclose", fix="check the model")
        mid, rad = (ends[0] + ends[1]) / 2, (ends[1] - ends[0]) / 2
        s_mid.append(mid)
        s_rad.append(rad)
        t_mid.append(Fraction(float(b)) - Fraction(float(m)) * mid)
        t_rad.append(abs(Fraction(float(m))) * rad)
    if len(x.shape) < 2 or x.shape[1] != len(s_mid):
        raise ShapeError(f"BatchNormalization parameters do not fit the input shape {x.shape}")
    column = (len(s_mid),) + (1,) * (len(x.shape) - 2)
    factor = constant(np.array(s_mid, dtype=object).reshape(column), np.array(s_rad, dtype=object).reshape(column))
    shift = constant(np.array(t_mid, dtype=object).reshape(column), np.array(t_rad, dtype=object).reshape(column))
    return add(scale(x, factor), shift)


@rule("MaxPool")
def _max_pool(node, args) -> Enclosure:
    """The window element with the largest approximate midpoint, its radius widened by how far
    any other element's upper end may exceed its own (Lemma 11)."""
    x = args[0]
    if len(node.outputs) > 1 and node.outputs[1]:
        raise UnsupportedOpError("MaxPool's Indices output", fix="use only the pooled values")
    kernel = tuple(int(k) for k in node.attr("kernel_shape"))
    geo = geometry(node, x.shape[2:], kernel, ceil_mode=bool(node.attr("ceil_mode", 0)))
    size = math.prod(kernel)

    def windows(a: np.ndarray) -> np.ndarray:
        view = padded_windows(a, geo, 0.0)
        return view.reshape(view.shape[: len(x.shape)] + (size,))

    inside = windows(np.ones(x.shape)) > 0
    wins = x.map(windows)
    choice = np.argmax(np.where(inside, wins.approx(), -np.inf), axis=-1)[..., None]
    chosen = wins.map(lambda a: np.take_along_axis(a, choice, -1)[..., 0])
    extra = np.zeros(chosen.shape)
    for q in range(size):
        other = wins.map(lambda a, q=q: a[..., q])
        terms = other.limbs + tuple(-limb for limb in chosen.limbs) + (other.radius, -chosen.radius)
        limbs, err = compress(terms, chosen.shape)
        excess = Enclosure(limbs, err).upper()           # >= (m_q + r_q) - (m_c + r_c)
        extra = np.maximum(extra, np.where(inside[..., q], np.maximum(excess, 0.0), 0.0))
    return Enclosure(chosen.limbs, add_up(chosen.radius, extra))
