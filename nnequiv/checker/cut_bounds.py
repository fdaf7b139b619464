"""The two bounds a cut composition rests on (trusted; ``proofs/cut_composition.md``).

* :func:`prefix_enclosure` -- a box containing the prefix's output for every input of the box
  (C2): ``interval`` is the enclosure of :mod:`.perturbation` (the prefix compared with itself,
  ``proofs/structural_match.md`` P2; conv trunks stay cheap), ``zonotope`` the last layer's
  bounds of :func:`.net_bounds.pre_activation_bounds` on the lowered prefix (tighter on dense
  prefixes; ``proofs/differential.md``).  Both round outward.
* :func:`suffix_lipschitz` -- ``L`` with ``max_{i in O} |S(u)_i - S(v)_i| <= L ||u - v||_inf``
  (C3): per element ``lam`` with ``|S(u) - S(v)| <= lam * ||u - v||_inf``, starting from ones,
  through ``(|W| + R)`` for Dense / Conv (the real weight lies in ``W +- R``), unchanged through
  ReLU / LeakyReLU (slope in [0, 1]), AddConst, Flatten / Reshape, max over MaxPool windows,
  averaged by GlobalAveragePool, added at a residual Add; every step rounded up.
"""

from __future__ import annotations

import math

import numpy as np

from ..ir import Network
from ..lowering import to_pwl
from ..ops.window import geometry, padded_windows
from ..spec.box import Box
from .graph_align import INPUT, Stage, normalise
from .net_bounds import pre_activation_bounds
from .perturbation import RULES, State
from .rounding import add_up, up, upper_sum_abs
from .tensor_linear import columns

__all__ = ["ENCLOSURES", "prefix_enclosure", "suffix_lipschitz"]


def _interval(prefix: Network, lower: np.ndarray, upper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    stages = normalise(prefix)
    shape = prefix.input.shape
    start = State(lower.reshape(shape), upper.reshape(shape), np.zeros(shape))
    states: list[State] = []
    for stage in stages:
        states.append(RULES[stage.op](stage, stage, [start if i == INPUT else states[i] for i in stage.inputs]))
    return states[-1].lo.ravel(), states[-1].hi.ravel()


def _zonotope(prefix: Network, lower: np.ndarray, upper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    net = to_pwl(prefix)
    if net.softmax_output:
        raise ValueError("the prefix ends in Softmax")
    lo, hi = pre_activation_bounds(net, lower, upper)[-1]   # the last layer is affine (slope 1)
    return lo, hi


ENCLOSURES = {"interval": _interval, "zonotope": _zonotope}


def prefix_enclosure(prefix: Network | None, box: Box, method: str) -> tuple[np.ndarray, np.ndarray]:
    """``(lower, upper)`` over the flattened cut tensor; the box itself when there is no prefix.
    Raises KeyError for an unknown method, AlignError / UnsupportedOpError for ops it does not model."""
    lower, upper = np.asarray(box.lower, np.float64), np.asarray(box.upper, np.float64)
    if prefix is None:
        return lower, upper
    lo, hi = ENCLOSURES[method](prefix, lower, upper)
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
        raise ValueError("the enclosure of the prefix is not finite")
    return np.asarray(lo, np.float64), np.asarray(hi, np.float64)


# ------------------------------------------------------------------------------ Lipschitz bound
def _linear(stage: Stage, lam: list[np.ndarray]) -> np.ndarray:
    x = lam[0]
    kernel = up(np.abs(stage.linear.weight) + stage.linear.weight_radius)   # |W*| <= |W| + R, rounded up
    return columns(stage, x[None], x.shape).upper(kernel, slice(0, 1))[0]


def _same(stage: Stage, lam: list[np.ndarray]) -> np.ndarray:
    return lam[0]


def _reshape(stage: Stage, lam: list[np.ndarray]) -> np.ndarray:
    return lam[0].reshape(stage.shape)


def _maxpool(stage: Stage, lam: list[np.ndarray]) -> np.ndarray:
    x = lam[0]                      # per-sample shapes keep the ONNX batch axis: (1, C, *spatial)
    kernel = tuple(stage.node.attr("kernel_shape"))
    geo = geometry(stage.node, x.shape[2:], kernel, ceil_mode=bool(stage.node.attr("ceil_mode", 0)))
    return padded_windows(x, geo, 0.0).max(axis=tuple(range(-len(kernel), 0)))


def _global_average(stage: Stage, lam: list[np.ndarray]) -> np.ndarray:
    x = lam[0]
    n = math.prod(x.shape[2:])
    total = upper_sum_abs(x.reshape(x.shape[:2] + (n,)), axis=2)      # >= the real sum (lam >= 0)
    return up(total / n).reshape(x.shape[:2] + (1,) * (x.ndim - 2))


def _add(stage: Stage, lam: list[np.ndarray]) -> np.ndarray:
    return add_up(lam[0], lam[1])


LIPSCHITZ_RULES = {"Dense": _linear, "Conv": _linear, "Relu": _same, "LeakyRelu": _same, "AddConst": _same,
                   "Flatten": _reshape, "Reshape": _reshape, "MaxPool": _maxpool,
                   "GlobalAveragePool": _global_average, "Add": _add}


def suffix_lipschitz(suffix: Network | None, outputs: tuple[int, ...] | None) -> float:
    """Upper bound on the suffix's inf-norm Lipschitz constant into the chosen outputs (1 without a
    suffix).  Raises AlignError for ops it does not model (graph_align's list; LeakyReLU slopes in [0, 1])."""
    if suffix is None:
        return 1.0
    stages = normalise(suffix)
    start = np.ones(suffix.input.shape)
    lam: list[np.ndarray] = []
    for stage in stages:
        rule = LIPSCHITZ_RULES.get(stage.op)
        if rule is None:
            raise ValueError(f"no Lipschitz rule for {stage.op} (node {stage.node.name!r})")
        lam.append(rule(stage, [start if i == INPUT else lam[i] for i in stage.inputs]))
    out = lam[-1].ravel()
    chosen = out if outputs is None else out[list(outputs)]
    value = float(np.max(chosen))
    if not math.isfinite(value):
        raise ValueError("the Lipschitz bound of the suffix is not finite")
    return value
