"""Encode a :class:`~nnequiv.pwl.PwlNet` into a :class:`~.model.ModelBuilder`.

Soundness contract: every real input in the input variables' box, together with
the exact real activations of the network on it (with any real weights inside
the radii), is a feasible point of the encoding.  In ``milp`` mode the converse
also holds for exact layers (the feasible set projected to inputs/outputs IS the
graph of the network on the box); in ``lp`` mode the encoding is a relaxation.

Per layer ``z = W h + b`` (pre-activation variables ``z``, one row each)::

    exact layer:        z_i - W_i . h  =  b_i
    layer with radii:   b_i - e_i <= z_i - W_i . h <= b_i + e_i,
                        e_i = bias_rad_i + sum_j weight_rad_ij * max(|h_lo_j|, |h_hi_j|)

(the real weight ``w' in [w - rad, w + rad]`` gives ``|w' h - w h| <= rad |h|``;
this needs the bounds ``[h_lo, h_hi]`` of the previous layer's post-activations, or
of the input variables for layer 0; ``e`` and ``b +- e`` are rounded outward).

Activation ``act(z) = z if z >= 0 else a z`` given sound bounds ``l <= z <= u``:

* ``a == 1`` or ``l >= 0``: post IS z (the same variable);
* ``u <= 0``: post = ``a z`` (a fresh variable, fixed to 0 when ``a == 0``);
* unstable (``l < 0 < u``, ``0 <= a < 1``; ``l, u`` finite): ``post >= z``,
  ``post >= a z`` and

  - ``milp``: binary ``d``; ``post <= z + M1 (1 - d)``, ``post <= a z + M2 d`` with
    ``M1 >= (1 - a)(-l)``, ``M2 >= (1 - a) u`` (rounded up).  ``d = 1`` forces
    ``post = z`` and (with ``post >= a z``) ``z >= 0``; ``d = 0`` forces ``post = a z``
    and ``z <= 0``: exact for any valid ``M``.
  - ``lp``: the convex hull of the graph over ``[l, u]`` (the triangle for ReLU):
    ``post <= alpha z + beta`` with float ``alpha, beta`` chosen so that the line lies
    on or above ``act`` at ``l`` and ``u`` (checked exactly in rationals; ``act`` is
    convex, so the line is above it on all of ``[l, u]``).

Pre-activation bounds: ``pre_bounds[k] = (lo, hi)`` if given (they must be sound
over the reals: the encoding is only as sound as they are), intersected with
outward-rounded interval arithmetic from the previous layer's bounds (also used
alone when ``pre_bounds`` or an entry of it is ``None``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal, Sequence

import numpy as np

from ..ir import readonly
from ..pwl import PwlLayer, PwlNet, stack_product
from .model import MilpModel, ModelBuilder
from .safe_bound import add_up, down, error_bound, mul_down, mul_up, up

Mode = Literal["milp", "lp"]
Bounds = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True, eq=False)
class EncodedNet:
    """Variable indices of an encoded network.

    ``pre[k]`` / ``post[k]``: pre- and post-activations of layer ``k`` (a post index
    equals the pre index where the activation is the identity on the bounds);
    ``binary[k]``: the indicator variable of each neuron (``-1`` where none);
    ``pre_bounds`` / ``post_bounds``: the sound bounds the encoding used.
    """

    inputs: np.ndarray
    pre: tuple[np.ndarray, ...]
    post: tuple[np.ndarray, ...]
    binary: tuple[np.ndarray, ...]
    pre_bounds: tuple[Bounds, ...]
    post_bounds: tuple[Bounds, ...]

    @property
    def output(self) -> np.ndarray:
        return self.post[-1] if self.post else self.inputs

    @property
    def n_unstable(self) -> int:
        return int(sum(int(np.sum(b >= 0)) for b in self.binary))


def encode_pwl(builder: ModelBuilder, net: PwlNet, input_vars: Sequence[int] | np.ndarray,
               pre_bounds: Sequence[Bounds | None] | None = None,
               mode: Mode = "milp") -> EncodedNet:
    """Add the constraints of ``net`` on ``input_vars`` to ``builder`` (see module docstring).

    ``input_vars`` must already exist in ``builder``; their bounds define the box.
    Raises ``ValueError`` if a neuron is unstable with an infinite bound, has a slope
    outside ``[0, 1]`` while unstable, or the bounds are empty (unsound bounds).
    """
    if mode not in ("milp", "lp"):
        raise ValueError(f"mode must be 'milp' or 'lp', not {mode!r}")
    h = np.asarray(input_vars, dtype=np.int64)
    if h.shape != (net.input_size,):
        raise ValueError(f"expected {net.input_size} input variables, got {h.size}")
    if pre_bounds is not None and len(pre_bounds) != len(net.layers):
        raise ValueError("pre_bounds needs one (lo, hi) pair per layer")
    h_lo, h_hi = builder.var_bounds(h)
    pres, posts, bins, pre_b, post_b = [], [], [], [], []
    for k, layer in enumerate(net.layers):
        lo, hi = affine_interval(layer, h_lo, h_hi)
        given = None if pre_bounds is None else pre_bounds[k]
        if given is not None:
            g_lo = np.broadcast_to(np.asarray(given[0], np.float64), lo.shape)
            g_hi = np.broadcast_to(np.asarray(given[1], np.float64), hi.shape)
            lo, hi = np.maximum(lo, g_lo), np.minimum(hi, g_hi)
        if np.any(np.isnan(lo)) or np.any(np.isnan(hi)) or np.any(lo > hi):
            raise ValueError(f"layer {k}: empty pre-activation bounds "
                             "(unsound bounds or empty box)")
        z = _affine(builder, layer, h, h_lo, h_hi, lo, hi, k)
        post, binary, p_lo, p_hi = _activation(builder, layer.slope, z, lo, hi, mode, k)
        pres.append(z)
        posts.append(post)
        bins.append(binary)
        pre_b.append((lo, hi))
        post_b.append((p_lo, p_hi))
        h, h_lo, h_hi = post, p_lo, p_hi
    ro = lambda arrays: tuple(readonly(a) for a in arrays)          # noqa: E731
    return EncodedNet(readonly(np.asarray(input_vars, np.int64)), ro(pres), ro(posts), ro(bins),
                      tuple(ro(b) for b in pre_b), tuple(ro(b) for b in post_b))


# ------------------------------------------------------- interval arithmetic
def affine_interval(layer: PwlLayer, h_lo: np.ndarray, h_hi: np.ndarray) -> Bounds:
    """Outward-rounded bounds of ``W' h + b'`` over ``h in [h_lo, h_hi]`` and the radii."""
    w = layer.weight
    lo_terms = np.minimum(mul_down(w, h_lo), mul_down(w, h_hi))
    hi_terms = np.maximum(mul_up(w, h_lo), mul_up(w, h_hi))
    e = radius_term(layer, h_lo, h_hi)
    lo = -_row_sum_up(-lo_terms, -layer.bias, e)
    hi = _row_sum_up(hi_terms, layer.bias, e)
    return lo, hi


def act_interval(slope: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> Bounds:
    """Outward-rounded image of ``[lo, hi]`` under ``act`` (monotone for ``slope >= 0``;
    general slopes handled by taking both end-point images)."""
    neg_lo = np.minimum(mul_down(slope, np.minimum(lo, 0.0)), mul_down(slope, np.minimum(hi, 0.0)))
    neg_hi = np.maximum(mul_up(slope, np.minimum(lo, 0.0)), mul_up(slope, np.minimum(hi, 0.0)))
    pos_lo, pos_hi = np.maximum(lo, 0.0), np.maximum(hi, 0.0)
    # act(z) = max(z, 0) + slope * min(z, 0) exactly; both parts are monotone in z
    out_lo = np.where(hi <= 0, neg_lo, np.where(lo >= 0, lo, -_sum2_up(-pos_lo, -neg_lo)))
    out_hi = np.where(hi <= 0, neg_hi, np.where(lo >= 0, hi, _sum2_up(pos_hi, neg_hi)))
    return out_lo, out_hi


def interval_pre_bounds(net: PwlNet, lo, hi) -> list[Bounds]:
    """Sound (outward-rounded) interval pre-activation bounds of every layer over a box."""
    h_lo = np.broadcast_to(np.asarray(lo, np.float64).reshape(-1), (net.input_size,))
    h_hi = np.broadcast_to(np.asarray(hi, np.float64).reshape(-1), (net.input_size,))
    out = []
    for layer in net.layers:
        z_lo, z_hi = affine_interval(layer, h_lo, h_hi)
        out.append((z_lo, z_hi))
        h_lo, h_hi = act_interval(layer.slope, z_lo, z_hi)
    return out


def radius_term(layer: PwlLayer, h_lo: np.ndarray, h_hi: np.ndarray) -> np.ndarray:
    """``e_i >= bias_rad_i + sum_j weight_rad_ij max(|h_lo_j|, |h_hi_j|)`` (0 for exact layers)."""
    if layer.is_exact:
        return np.zeros(layer.n_out)
    mag = np.maximum(np.abs(h_lo), np.abs(h_hi))
    terms = mul_up(layer.weight_rad, mag)
    return _row_sum_up(terms, layer.bias_rad, np.zeros(layer.n_out))


def _row_sum_up(terms: np.ndarray, bias: np.ndarray, extra: np.ndarray) -> np.ndarray:
    """Per row, a float >= the exact ``sum(terms) + bias + extra`` (terms are exact floats)."""
    with np.errstate(invalid="ignore", over="ignore"):
        s = terms.sum(axis=1) + bias + extra
        abs_sum = np.abs(terms).sum(axis=1) + np.abs(bias) + np.abs(extra)
        out = up(s + error_bound(abs_sum, terms.shape[1] + 2))
    has_pinf = np.any(terms == np.inf, axis=1) | (extra == np.inf)
    return np.where(has_pinf | np.isnan(out), np.inf, out)


def _sum2_up(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return add_up(a, b)


# ------------------------------------------------------------------ layers
def _affine(builder: ModelBuilder, layer: PwlLayer, h: np.ndarray, h_lo, h_hi, lo, hi,
            k: int) -> np.ndarray:
    z = builder.add_vars(layer.n_out, lo, hi, names=[f"z{k}_{i}" for i in range(layer.n_out)])
    e = radius_term(layer, h_lo, h_hi)
    b = layer.bias
    with np.errstate(invalid="ignore"):
        row_lo = np.where(e == 0, b, down(b - e))
        row_hi = np.where(e == 0, b, up(b + e))
    row_lo = np.where(np.isnan(row_lo), -np.inf, row_lo)
    row_hi = np.where(np.isnan(row_hi), np.inf, row_hi)
    w = layer.weight
    for i in range(layer.n_out):
        nz = np.flatnonzero(w[i])
        idx = np.concatenate([[z[i]], h[nz]])
        val = np.concatenate([[1.0], -w[i, nz]])
        builder.add_constraint((idx, val), row_lo[i], row_hi[i], name=f"affine{k}_{i}")
    return z


def _activation(builder: ModelBuilder, slope: np.ndarray, z: np.ndarray, lo, hi, mode: Mode,
                k: int):
    n = z.shape[0]
    post = z.copy()
    binary = np.full(n, -1, dtype=np.int64)
    p_lo, p_hi = act_interval(slope, lo, hi)
    for i in range(n):
        a, l, u = float(slope[i]), float(lo[i]), float(hi[i])
        if a == 1.0 or l >= 0.0:
            continue
        if u <= 0.0:
            if a == 0.0:
                post[i] = builder.add_var(0.0, 0.0, name=f"h{k}_{i}")
            else:
                post[i] = builder.add_var(p_lo[i], p_hi[i], name=f"h{k}_{i}")
                builder.add_constraint({int(post[i]): 1.0, int(z[i]): -a}, 0.0, 0.0,
                                       name=f"act{k}_{i}")
            continue
        if not (0.0 <= a < 1.0):
            raise ValueError(f"layer {k} neuron {i}: unstable neuron with slope {a} outside [0, 1]")
        if not (math.isfinite(l) and math.isfinite(u)):
            raise ValueError(f"layer {k} neuron {i}: unstable neuron needs finite bounds")
        p = builder.add_var(p_lo[i], p_hi[i], name=f"h{k}_{i}")
        post[i] = p
        zi = int(z[i])
        builder.add_constraint({p: 1.0, zi: -1.0}, 0.0, math.inf, name=f"act{k}_{i}_ge_z")
        if a != 0.0:
            builder.add_constraint({p: 1.0, zi: -a}, 0.0, math.inf, name=f"act{k}_{i}_ge_az")
        if mode == "milp":
            one_minus_a = float(up(1.0 - a)) if a != 0.0 else 1.0
            m1 = float(mul_up(one_minus_a, -l))
            m2 = float(mul_up(one_minus_a, u))
            d = builder.add_var(0.0, 1.0, integer=True, name=f"d{k}_{i}")
            binary[i] = d
            builder.add_constraint({p: 1.0, zi: -1.0, d: m1}, -math.inf, m1,
                                   name=f"act{k}_{i}_le_z")
            builder.add_constraint({p: 1.0, zi: -a, d: -m2}, -math.inf, 0.0,
                                   name=f"act{k}_{i}_le_az")
        else:
            alpha, beta = _upper_chord(a, l, u)
            builder.add_constraint({p: 1.0, zi: -alpha}, -math.inf, beta, name=f"act{k}_{i}_chord")
    return post, binary, p_lo, p_hi


def _upper_chord(a: float, l: float, u: float) -> tuple[float, float]:
    """Floats ``alpha, beta`` with ``alpha t + beta >= act(t)`` exactly at ``t = l, u``."""
    fa, fl, fu = Fraction(a), Fraction(l), Fraction(u)
    alpha = float((fu - fa * fl) / (fu - fl))
    fal = Fraction(alpha)
    need = max(fa * fl - fal * fl, fu - fal * fu)
    beta = float(need)
    if Fraction(beta) < need:
        beta = math.nextafter(beta, math.inf)
    return alpha, beta


# -------------------------------------------------------------- equivalence
@dataclass(frozen=True, eq=False)
class EquivalenceQuery:
    """One optimisation problem of an equivalence check.

    ``kind == "epsilon"``: the model maximises ``direction * (f_i - g_i)``; the
    relation holds for output ``i`` iff both directions' maxima are ``<= eps``.
    ``kind == "top1"``: the model maximises ``g_j - g_i`` subject to
    ``f_i >= f_k`` for all ``k``; ``i`` is (one of) f's top classes on the feasible
    set (ties included), so a positive optimum means g strictly prefers ``j``.
    """

    model: MilpModel
    kind: Literal["epsilon", "top1"]
    i: int
    j: int | None
    direction: int
    encoding: EncodedNet
    f_out: np.ndarray
    g_out: np.ndarray


def encode_product(f: PwlNet, g: PwlNet, box, *, pre_bounds=None,
                   mode: Mode = "milp") -> tuple[MilpModel, EncodedNet, np.ndarray, np.ndarray]:
    """Encode ``stack_product(f, g)`` over ``box``; returns the model (zero objective), the
    encoding and the variable indices of f's and g's outputs.  ``pre_bounds`` refers to the
    layers of ``stack_product(f, g)``."""
    if f.output_size != g.output_size:
        raise ValueError("f and g have different output sizes")
    lo, hi = _box(box, f.input_size)
    builder = ModelBuilder()
    x = builder.add_vars(f.input_size, lo, hi, names=[f"x{i}" for i in range(f.input_size)])
    enc = encode_pwl(builder, stack_product(f, g), x, pre_bounds, mode)
    out = enc.output
    return builder.build(), enc, out[: f.output_size], out[f.output_size:]


def encode_equivalence(f: PwlNet, g: PwlNet, box, relation: Literal["epsilon", "top1"], *,
                       pre_bounds=None, mode: Mode = "milp",
                       outputs: Sequence[int] | None = None) -> list[EquivalenceQuery]:
    """One model per objective of the relation (the caller loops over them).

    ``epsilon``: for each output ``i`` (default all), ``max f_i - g_i`` and ``max g_i - f_i``.
    ``top1``: for each ordered pair ``i != j``, ``max g_j - g_i`` s.t. ``f_i >= f_k`` for all ``k``
    (nets with ``softmax_output`` are compared on logits: argmax is invariant); with
    ``outputs`` given, ``i``, ``j`` and ``k`` all range over ``outputs`` (argmax over that set).
    ``box`` is ``(lo, hi)`` or has ``lo``/``hi`` attributes (any shape, flattened).
    """
    if relation == "epsilon" and (f.softmax_output or g.softmax_output):
        raise ValueError("epsilon-equivalence of softmax outputs is not piecewise linear")
    base, enc, fo, go = encode_product(f, g, box, pre_bounds=pre_bounds, mode=mode)
    n = f.output_size
    chosen = list(range(n)) if outputs is None else [int(i) for i in outputs]
    if any(not 0 <= i < n for i in chosen) or len(set(chosen)) != len(chosen):
        raise ValueError(f"outputs must be distinct indices in [0, {n})")
    queries: list[EquivalenceQuery] = []
    if relation == "epsilon":
        for i in chosen:
            for direction in (1, -1):
                model = base.with_objective({int(fo[i]): float(direction),
                                             int(go[i]): float(-direction)}, 0.0, "max")
                queries.append(EquivalenceQuery(model, "epsilon", i, None, direction, enc, fo, go))
    elif relation == "top1":
        for i in chosen:
            rows = [({int(fo[i]): 1.0, int(fo[k]): -1.0}, 0.0, math.inf)
                    for k in chosen if k != i]
            region = base.with_rows(rows, [f"f_top_{i}_ge_{k}" for k in chosen if k != i])
            for j in chosen:
                if j != i:
                    model = region.with_objective({int(go[j]): 1.0, int(go[i]): -1.0}, 0.0, "max")
                    queries.append(EquivalenceQuery(model, "top1", i, j, 0, enc, fo, go))
    else:
        raise ValueError(f"unknown relation {relation!r}")
    return queries


def _box(box, size: int) -> Bounds:
    if hasattr(box, "lo") and hasattr(box, "hi"):
        lo, hi = box.lo, box.hi
    elif hasattr(box, "lower") and hasattr(box, "upper"):
        lo, hi = box.lower, box.upper
    else:
        lo, hi = box
    lo = np.broadcast_to(np.asarray(lo, np.float64).reshape(-1), (size,))
    hi = np.broadcast_to(np.asarray(hi, np.float64).reshape(-1), (size,))
    if np.any(~(lo <= hi)):
        raise ValueError("box has lo > hi or NaN")
    return lo, hi
