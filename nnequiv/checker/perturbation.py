"""``weight_perturbation`` evidence: the same graph with (slightly) different weights (trusted).

The two networks must align stage by stage (:mod:`.graph_align`: same ops, attributes,
wiring and shapes; names never matter; a BatchNormalization after a Conv/Gemm counts as
part of it).  If every real weight is the same number the networks compute the same
function: any epsilon >= 0 is sound and exact / top-1 claims hold (P0).  Otherwise the
checker bounds ``max |f(x) - g(x)|`` over the box by propagating, tensor by tensor, an
interval enclosure ``[lo, hi]`` of ``g``'s activations and a bound ``D >= |a_f - a_g|``
(``proofs/structural_match.md`` P2):

    z_f - z_g = W_f (a_f - a_g) + (W_f - W_g) a_g + (b_f - b_g)
    |z_f - z_g| <= (|W_f| + R_f) D + (|W_f - W_g| + R_f + R_g) max(|lo|, |hi|) + |b_f - b_g| + rb_f + rb_g

with every Conv / matrix product computed in float64 and rounded outward
(``proofs/rounding.md``: ``|fl(sum) - sum| <= gamma(n) sum |terms|`` plus an underflow term).
Such a step needs an ``eps`` claim whose epsilon is at least the bound.
"""

from __future__ import annotations

import hashlib
import math
import weakref
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import NnequivError
from ..ops.window import geometry, padded_windows
from ..spec.box import Box
from ..registering import registrar
from .graph_align import INPUT, AlignError, Stage, align, generous, identical, normalise
from .registry import Problem, StepContext, claimed_epsilon, evidence
from .tensor_linear import columns
from .rounding import ETA, add_down, add_up, down, gamma, up, upper_sum_abs

__all__ = ["Bound", "check_weight_perturbation", "perturbation_bound"]


@dataclass(frozen=True, eq=False)
class State:
    lo: np.ndarray       # enclosure of g's tensor (per-sample shape)
    hi: np.ndarray
    diff: np.ndarray     # >= |f's tensor - g's tensor|


@dataclass(frozen=True)
class Bound:
    exact: bool          # the same real function (every weight equal)
    value: float         # bound on max |f - g| over the compared outputs (0 when exact)


# per source network: (target, box digest, outputs, bound) of recent analyses; the analysis is a
# pure function of immutable inputs, so the engine's self-check of a fresh certificate reuses it
_RECENT: "weakref.WeakKeyDictionary[object, list]" = weakref.WeakKeyDictionary()


def perturbation_bound(source, target, box: Box, outputs: tuple[int, ...] | None = None) -> Bound:
    """Raises AlignError when the graphs do not align."""
    digest = hashlib.sha256(np.asarray(box.lower, np.float64).tobytes() +
                            np.asarray(box.upper, np.float64).tobytes()).digest()
    key = (digest, None if outputs is None else tuple(outputs))
    for ref, known, bound in _RECENT.get(source, ()):
        if ref() is target and known == key:
            return bound
    bound = _analyse(source, target, box, outputs)
    _RECENT[source] = [(weakref.ref(target), key, bound)] + _RECENT.get(source, [])[:1]
    return bound


def _analyse(source, target, box: Box, outputs: tuple[int, ...] | None) -> Bound:
    f, g = normalise(source), normalise(target)
    align(f, g)
    if identical(f, g):
        return Bound(True, 0.0)
    shape = source.input.shape
    lo, hi = np.asarray(box.lower, np.float64).reshape(shape), np.asarray(box.upper, np.float64).reshape(shape)
    states: list[State] = []
    start = State(lo, hi, np.zeros(shape))
    for a, b in zip(f, g):
        ins = [start if i == INPUT else states[i] for i in a.inputs]
        state = RULES[a.op](a, b, ins)
        if not (np.all(np.isfinite(state.lo)) and np.all(np.isfinite(state.hi)) and np.all(np.isfinite(state.diff))):
            return Bound(False, math.inf)
        states.append(state)
    diff = states[-1].diff.ravel()
    chosen = diff if outputs is None else diff[list(outputs)]
    return Bound(False, float(np.max(chosen)) if chosen.size else 0.0)


# ------------------------------------------------------------------------------ rules
Rule = Callable[[Stage, Stage, list[State]], State]
RULES: dict[str, Rule] = {}


rule = registrar(RULES, "perturbation rule for")


def _channel(stage: Stage, v: np.ndarray) -> np.ndarray:
    """A per-output-channel vector broadcast against the stage's per-sample output."""
    if stage.op == "Conv":
        return v.reshape((-1,) + (1,) * (len(stage.shape) - 2))
    return v


@rule("Dense", "Conv")
def _linear(a: Stage, b: Stage, ins: list[State]) -> State:
    x = ins[0]
    fa, ga = a.linear, b.linear
    centre = np.minimum(np.maximum(0.5 * x.lo + 0.5 * x.hi, x.lo), x.hi)
    radius = up(np.maximum(x.hi - centre, centre - x.lo))
    magnitude = np.maximum(np.abs(x.lo), np.abs(x.hi))
    # one im2col for the five inputs: c | |c|, r | D | M
    cols = columns(b, np.stack([centre, np.abs(centre), radius, x.diff, magnitude]), x.lo.shape)
    n = cols.fan_in
    # g's enclosure: fl(W c + b) +- (rounding of the centre + |W| r + R_g max(|lo|, |hi|) + rb_g)
    value = cols.product(ga.weight, slice(0, 1))[0] + _channel(b, ga.bias)
    products = cols.upper(np.abs(ga.weight), slice(1, 3))
    centre_error = generous(gamma(n + 2) * (products[0] + _channel(b, np.abs(ga.bias))) + (n + 3) * ETA)
    spread = generous(centre_error + products[1] + _channel(b, ga.bias_radius)
                      + cols.upper(ga.weight_radius, slice(4, 5))[0])
    lo, hi = down(value - spread), up(value + spread)
    # difference (P2)
    f_kernel = generous(np.abs(fa.weight) + fa.weight_radius)
    gap = generous(up(np.abs(fa.weight - ga.weight)) + fa.weight_radius + ga.weight_radius)
    bias_gap = generous(up(np.abs(fa.bias - ga.bias)) + fa.bias_radius + ga.bias_radius)
    diff = np.zeros_like(value) if not np.any(x.diff) else cols.upper(f_kernel, slice(3, 4))[0]
    diff = generous(diff + cols.upper(gap, slice(4, 5))[0] + _channel(b, bias_gap))
    return State(lo, hi, diff)


@rule("Relu", "LeakyRelu")
def _activation(a: Stage, b: Stage, ins: list[State]) -> State:
    x = ins[0]
    slope = float(b.node.attr("alpha", 0.01)) if b.op == "LeakyRelu" else 0.0
    if slope == 0.0:
        lo, hi = np.maximum(x.lo, 0.0), np.maximum(x.hi, 0.0)
    else:
        lo = np.where(x.lo >= 0, x.lo, down(slope * x.lo))
        hi = np.where(x.hi >= 0, x.hi, up(slope * x.hi))
    # |sigma(p) - sigma(q)| <= |p - q| for slopes in [0, 1]; both inactive: slope * |p - q| (P2)
    inactive = add_up(x.hi, x.diff) <= 0
    diff = np.where(inactive, up(slope * x.diff), x.diff)
    return State(lo, hi, diff)


@rule("MaxPool")
def _maxpool(a: Stage, b: Stage, ins: list[State]) -> State:
    kernel = tuple(b.node.attr("kernel_shape"))
    x = ins[0]

    def pool(t: np.ndarray) -> np.ndarray:
        geo = geometry(b.node, t.shape[2:], kernel, ceil_mode=bool(b.node.attr("ceil_mode", 0)))
        return padded_windows(t, geo, -math.inf).max(axis=tuple(range(-len(kernel), 0)))
    # monotone; |max p - max q| <= max |p - q| (proofs/bounds_interval.md)
    return State(pool(x.lo), pool(x.hi), pool(x.diff))


@rule("GlobalAveragePool")
def _global_average(a: Stage, b: Stage, ins: list[State]) -> State:
    x = ins[0]
    axes = tuple(range(2, x.lo.ndim))
    n = int(np.prod([x.lo.shape[k] for k in axes]))

    def mean_bounds(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s = t.sum(axis=axes, keepdims=True)
        # |fl(sum) - sum| <= gamma(n) sum |t| (no products: no underflow term); sum |t| bounded above
        magnitude = upper_sum_abs(t.reshape(t.shape[:2] + (n,)), axis=2).reshape(s.shape)
        err = up(gamma(n) * magnitude)
        return down(down(s - err) / n), up(up(s + err) / n)
    return State(mean_bounds(x.lo)[0], mean_bounds(x.hi)[1], mean_bounds(x.diff)[1])


@rule("Add")
def _add(a: Stage, b: Stage, ins: list[State]) -> State:
    p, q = ins
    return State(add_down(p.lo, q.lo), add_up(p.hi, q.hi), add_up(p.diff, q.diff))


@rule("AddConst")
def _add_const(a: Stage, b: Stage, ins: list[State]) -> State:
    x = ins[0]
    return State(add_down(x.lo, b.constant), add_up(x.hi, b.constant),
                 add_up(x.diff, up(np.abs(a.constant - b.constant))))


@rule("Flatten", "Reshape")
def _reshape(a: Stage, b: Stage, ins: list[State]) -> State:
    x = ins[0]
    return State(x.lo.reshape(b.shape), x.hi.reshape(b.shape), x.diff.reshape(b.shape))


# ------------------------------------------------------------------------------ the evidence kind
@evidence("weight_perturbation")
def check_weight_perturbation(ctx: StepContext) -> list[Problem]:
    item = f"{ctx.where}/epsilon"
    claimed, problems = claimed_epsilon(ctx.step, ctx.where)
    if claimed is None:
        return problems
    try:
        bound = perturbation_bound(ctx.source, ctx.target, ctx.box, ctx.relation.outputs)
    except AlignError as exc:
        return [Problem(ctx.where, f"the two networks do not have the same graph: {exc}")]
    except NnequivError as exc:
        return [Problem(ctx.where, f"the networks cannot be compared: {exc.message}")]
    except (ValueError, KeyError, IndexError, TypeError, ArithmeticError) as exc:
        return [Problem(ctx.where, f"the networks cannot be compared ({type(exc).__name__}: {exc})")]
    if bound.exact:
        return []
    if ctx.relation.kind != "eps":
        return [Problem(item, f"the weights differ; a weight perturbation cannot support a "
                              f"{ctx.relation.kind} claim")]
    if not bound.value <= claimed:
        return [Problem(item, f"on the box the deviation is proved only <= {bound.value!r}, "
                              f"not the claimed {claimed!r}")]
    return []
