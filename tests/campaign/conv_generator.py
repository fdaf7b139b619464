"""Seeded CNN/BatchNormalization/residual/LeakyReLU pairs for the campaign (see ``conv_spec.py``).

Edits of the original (on the stored float64 parameters):

* exact rewrites: ``c_permute`` (channels of a block), ``c_rho_scale`` (one channel times
  ``rho = 2**k``, through the BatchNormalization's gamma/beta when there is one, consumer times
  ``1/rho``), ``c_duplicate_merge`` (the original carries a duplicated channel with its outgoing
  weight split, the reduced the merged one), ``bn_fold`` (BatchNormalization folded into the Conv in
  float64: exact when gamma/root is a power of two, else off by roundings), ``c_dead_remove`` (the
  original carries a dead channel: zero outgoing weight, or zero input weight and negative bias
  before a ReLU);
* near misses: ``c_perturb`` (one parameter ``±10**-k``; never a variance, which must stay a
  square), ``c_bias_flip``, ``c_drop_channel``;
* ``c_bump``: a violation confined to a small L1 ball, centred inside the box or at a corner;
* ``c_tie_dup`` / ``c_tie_cross``: top-1 with head outputs tied identically or crossing.

Channel edits touch only blocks whose output does not feed a residual Add.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from .conv_spec import BN_EPSILON, BatchNorm, ConvBlock, ConvSpec, float_forward
from .generator import ALPHAS, Case, relation_draw

IN_SHAPES_1D = ((1, 1, 1),)
IN_SHAPES_2D = ((1, 1, 2), (2, 1, 1), (1, 2, 1))
BN_ROOTS = (0.5, 1.0, 2.0, 0.75, 1.25, 1.5, 3.0)
EDITS = ("c_permute", "c_rho_scale", "c_duplicate_merge", "bn_fold", "c_dead_remove", "c_perturb", "c_perturb",
         "c_bias_flip", "c_drop_channel", "c_bump", "c_tie_dup", "c_tie_cross")


def _batch_norm(rng, channels: int) -> BatchNorm:
    root = rng.choice(BN_ROOTS, channels).astype(np.float64)
    var = root * root - BN_EPSILON                      # exact: few significant bits
    exact_gain = rng.random(channels) < 0.4             # gamma / root a power of two: exact fold
    gamma = np.where(exact_gain, root * rng.choice([-2.0, -0.5, 0.5, 1.0, 2.0], channels),
                     rng.normal(1.0, 0.4, channels))
    q = lambda a: np.round(a * 256) / 256  # noqa: E731 - dyadic means/betas keep (b - mean) short
    return BatchNorm(gamma, q(rng.normal(0, 0.3, channels)), q(rng.normal(0, 0.3, channels)), var, root)


def random_conv_spec(rng, n_in: int, n_out: int, activation: str, alpha: float) -> ConvSpec:
    in_shape = tuple(IN_SHAPES_1D[0] if n_in == 1 else IN_SHAPES_2D[int(rng.integers(len(IN_SHAPES_2D)))])
    blocks, (c, h, w) = [], in_shape
    for _ in range(int(rng.integers(1, 4))):
        if rng.random() < 0.3:                         # residual: shape preserved
            residual = str(rng.choice(["pre", "post"]))
            kw = int(rng.choice([1, 3])) if w > 1 else 1
            kernel, pads, c_out = (1, kw), (0, (kw - 1) // 2, 0, (kw - 1) // 2), c
        else:
            residual = ""
            kh = int(rng.integers(1, 3)) if h > 1 else 1
            kw = int(rng.integers(1, 4))
            left, right = int(rng.integers(0, 3)), int(rng.integers(0, 3))
            while w + left + right - kw + 1 < 1 or w + left + right - kw + 1 > 4:
                left, right = int(rng.integers(0, 3)), int(rng.integers(0, 3))
            kernel, pads, c_out = (kh, kw), (0, left, 0, right), int(rng.integers(1, 4))
        weight = rng.normal(0, 1 / np.sqrt(c * kernel[0] * kernel[1]), (c_out, c) + kernel)
        bn = _batch_norm(rng, c_out) if rng.random() < 0.5 else None
        blocks.append(ConvBlock(weight, rng.normal(0, 0.3, c_out), pads, bn, residual))
        c, h, w = c_out, h + pads[0] + pads[2] - kernel[0] + 1, w + pads[1] + pads[3] - kernel[1] + 1
    features = c * h * w
    head = (rng.normal(0, 1 / np.sqrt(features), (n_out, features)), rng.normal(0, 0.3, n_out))
    return ConvSpec(in_shape, tuple(blocks), head, activation, alpha)


# --------------------------------------------------------------------------- channel edits

def channel_blocks(spec: ConvSpec) -> list[int]:
    """Blocks whose channels may be edited: not residual, and not feeding a residual Add."""
    n = len(spec.blocks)
    return [k for k in range(n) if not spec.blocks[k].residual and (k + 1 == n or not spec.blocks[k + 1].residual)]


def rechannel(spec: ConvSpec, k: int, rows, consumer) -> ConvSpec:
    """Block ``k``'s new channel ``i`` is old channel ``rows[i] = (j, rho)`` scaled by ``rho > 0``; its
    consumer's new input channel ``i`` is old input channel ``consumer[i] = (j, c)`` times ``c``."""
    blk = spec.blocks[k]
    idx, rho = np.array([j for j, _ in rows], int), np.array([r for _, r in rows], np.float64)
    if blk.bn is None:
        weight, bias, bn = blk.weight[idx] * rho[:, None, None, None], blk.bias[idx] * rho, None
    else:
        b = blk.bn
        weight, bias = blk.weight[idx], blk.bias[idx]
        bn = BatchNorm(b.gamma[idx] * rho, b.beta[idx] * rho, b.mean[idx], b.var[idx], b.root[idx])
    blocks = list(spec.blocks)
    blocks[k] = replace(blk, weight=weight, bias=bias, bn=bn)
    cols, mult = np.array([j for j, _ in consumer], int), np.array([c for _, c in consumer], np.float64)
    if k + 1 < len(blocks):
        nxt = blocks[k + 1]
        blocks[k + 1] = replace(nxt, weight=nxt.weight[:, cols] * mult[None, :, None, None])
        head = spec.head
    else:
        _, h, w = spec.shapes()[k + 1]
        hw = spec.head[0].reshape(spec.n_out, -1, h * w)
        head = ((hw[:, cols] * mult[None, :, None]).reshape(spec.n_out, -1), spec.head[1])
    return spec.with_(blocks=tuple(blocks), head=head)


def add_dead_channel(rng, spec: ConvSpec, k: int) -> ConvSpec:
    """One extra channel in block ``k`` that does not change the function."""
    blk = spec.blocks[k]
    c_in = blk.weight.shape[1]
    weight = rng.normal(0, 1, (1, c_in) + blk.weight.shape[2:])
    bias = np.array([-abs(rng.normal(0, 0.5)) - 0.01])
    dead_input = spec.activation == "Relu" and rng.random() < 0.5
    bn = blk.bn
    if dead_input:                                   # constant negative pre-activation before a ReLU
        weight = np.zeros_like(weight)
        if bn is not None:
            bn = BatchNorm(np.append(bn.gamma, 0.0), np.append(bn.beta, -0.25), np.append(bn.mean, 0.0),
                           np.append(bn.var, 1.0 - BN_EPSILON), np.append(bn.root, 1.0))
    elif bn is not None:
        extra = _batch_norm(rng, 1)
        fields = ("gamma", "beta", "mean", "var", "root")
        bn = BatchNorm(*(np.append(getattr(bn, f), getattr(extra, f)) for f in fields))
    blocks = list(spec.blocks)
    blocks[k] = replace(blk, weight=np.concatenate([blk.weight, weight]), bias=np.append(blk.bias, bias), bn=bn)
    c = blk.channels
    if k + 1 < len(blocks):
        nxt = blocks[k + 1]
        extra_in = rng.normal(0, 1, (nxt.channels, 1) + nxt.weight.shape[2:]) * (1.0 if dead_input else 0.0)
        blocks[k + 1] = replace(nxt, weight=np.concatenate([nxt.weight, extra_in], axis=1))
        head = spec.head
    else:
        _, h, w = spec.shapes()[k + 1]
        extra_in = rng.normal(0, 1, (spec.n_out, h * w)) * (1.0 if dead_input else 0.0)
        head = (np.concatenate([spec.head[0].reshape(spec.n_out, c * h * w), extra_in], axis=1), spec.head[1])
    return spec.with_(blocks=tuple(blocks), head=head)


def fold_bn(spec: ConvSpec, k: int) -> ConvSpec:
    """Block ``k``'s BatchNormalization folded into its Conv in float64 (rounded, as a tool would)."""
    blk = spec.blocks[k]
    b = blk.bn
    factor = b.gamma / b.root
    blocks = list(spec.blocks)
    blocks[k] = replace(blk, weight=blk.weight * factor[:, None, None, None],
                        bias=(blk.bias - b.mean) * factor + b.beta, bn=None)
    return spec.with_(blocks=tuple(blocks))


def perturb_parameter(rng, spec: ConvSpec, delta: float) -> tuple[ConvSpec, str]:
    """One parameter plus ``delta``: a conv weight or bias, a BN gamma/beta/mean, or a head weight."""
    k = int(rng.integers(0, len(spec.blocks) + 1))
    if k == len(spec.blocks):
        w = spec.head[0].copy()
        w[tuple(int(rng.integers(0, s)) for s in w.shape)] += delta
        return spec.with_(head=(w, spec.head[1])), "head.weight"
    blk = spec.blocks[k]
    what = str(rng.choice(["weight", "bias"] + (["gamma", "beta", "mean"] if blk.bn is not None else [])))
    if what in ("weight", "bias"):
        arr = getattr(blk, what).copy()
        arr[tuple(int(rng.integers(0, s)) for s in arr.shape)] += delta
        new = replace(blk, **{what: arr})
    else:
        arr = getattr(blk.bn, what).copy()
        arr[int(rng.integers(0, arr.size))] += delta
        new = replace(blk, bn=replace(blk.bn, **{what: arr}))
    blocks = list(spec.blocks)
    blocks[k] = new
    return spec.with_(blocks=tuple(blocks)), f"block{k}.{what}"


def flip_bias(rng, spec: ConvSpec) -> ConvSpec:
    k = int(rng.integers(0, len(spec.blocks) + 1))
    flip = lambda a, j: np.where(np.arange(a.size) == j, -(a if a[j] != 0 else a + 0.1), a)  # noqa: E731
    if k == len(spec.blocks):
        b = spec.head[1]
        return spec.with_(head=(spec.head[0], flip(b, int(rng.integers(0, b.size)))))
    blk = spec.blocks[k]
    blocks = list(spec.blocks)
    j = int(rng.integers(0, blk.channels))
    if blk.bn is not None and rng.random() < 0.5:
        blocks[k] = replace(blk, bn=replace(blk.bn, beta=flip(blk.bn.beta, j)))
    else:
        blocks[k] = replace(blk, bias=flip(blk.bias, j))
    return spec.with_(blocks=tuple(blocks))


# --------------------------------------------------------------------------- cases

def conv_edit(rng, spec: ConvSpec, edit: str, notes: dict[str, Any]) -> tuple[ConvSpec, ConvSpec, str]:
    """``(original, reduced, edit actually applied)`` for a channel/BN/near-miss edit of ``spec``."""
    eligible = channel_blocks(spec)
    if edit in ("c_permute", "c_rho_scale", "c_duplicate_merge", "c_dead_remove", "c_drop_channel") and not eligible:
        edit = "c_perturb"
    if edit == "bn_fold" and all(b.bn is None for b in spec.blocks):
        k = int(rng.integers(0, len(spec.blocks)))
        blocks = list(spec.blocks)
        blocks[k] = replace(blocks[k], bn=_batch_norm(rng, blocks[k].channels))
        spec = spec.with_(blocks=tuple(blocks))
    k = int(rng.choice(eligible)) if eligible else 0
    n = spec.blocks[k].channels
    notes["block"] = k
    if edit == "c_permute":
        p = rng.permutation(n)
        return spec, rechannel(spec, k, [(int(j), 1.0) for j in p], [(int(j), 1.0) for j in p]), edit
    if edit == "c_rho_scale":
        j, rho = int(rng.integers(0, n)), 2.0 ** int(rng.choice([-3, -2, -1, 1, 2, 3, 5]))
        rows = [(i, rho if i == j else 1.0) for i in range(n)]
        return spec, rechannel(spec, k, rows, [(i, 1 / rho if i == j else 1.0) for i in range(n)]), edit
    if edit == "c_duplicate_merge":
        j, factor = int(rng.integers(0, n)), 2.0 ** int(rng.choice([0, 1, 2, -1]))
        rows = [(i, 1.0) for i in range(n)] + [(j, factor)]
        consumer = [(i, 0.5 if i == j else 1.0) for i in range(n)] + [(j, 0.5 / factor)]
        return rechannel(spec, k, rows, consumer), spec, edit
    if edit == "c_dead_remove":
        return add_dead_channel(rng, spec, k), spec, edit
    if edit == "c_drop_channel":
        if n == 1:
            return spec, flip_bias(rng, spec), "c_bias_flip"
        dropped = int(rng.integers(0, n))
        keep = [i for i in range(n) if i != dropped]
        return spec, rechannel(spec, k, [(i, 1.0) for i in keep], [(i, 1.0) for i in keep]), edit
    if edit == "bn_fold":
        with_bn = [i for i, b in enumerate(spec.blocks) if b.bn is not None]
        notes["block"] = k = int(rng.choice(with_bn))
        return spec, fold_bn(spec, k), edit
    if edit == "c_bias_flip":
        return spec, flip_bias(rng, spec), edit
    k_exp = int(rng.integers(1, 7))
    notes["k"] = k_exp
    reduced, notes["where"] = perturb_parameter(rng, spec, float(rng.choice([-1.0, 1.0])) * 10.0 ** -k_exp)
    return spec, reduced, "c_perturb"


def conv_pair(rng, n_in: int, edit: str, n_out: int, activation: str, alpha: float, lower, upper,
              notes: dict[str, Any]) -> tuple[ConvSpec, ConvSpec, str]:
    spec = random_conv_spec(rng, n_in, n_out, activation, alpha)
    notes["shapes"] = [list(s) for s in spec.shapes()]
    notes["residual"] = [b.residual for b in spec.blocks]
    notes["bn"] = [b.bn is not None for b in spec.blocks]
    if edit == "c_bump":
        corner = rng.random() < 0.4
        where = np.where(rng.random(n_in) < 0.5, lower, upper) if corner else rng.uniform(lower, upper)
        half = float(np.max(upper - lower)) / 2
        radius = float(rng.choice([1e-3, 1e-2, 0.05]) * half)
        height = float(rng.choice([1e-3, 0.1, 1.0, 10.0]))
        notes.update(radius=radius, height=height, corner=bool(corner))
        return spec, spec.with_(bump=(np.asarray(where, np.float64), radius, height)), edit
    if edit in ("c_tie_dup", "c_tie_cross"):
        w, b = spec.head[0].copy(), spec.head[1].copy()
        if edit == "c_tie_dup":
            w[1], b[1] = w[0], b[0]
        else:
            b[1] = b[0] + float((w[0] - w[1]) @ float_forward(spec, (lower + upper) / 2))
        spec = spec.with_(head=(w, b))
        variant = str(rng.choice(["c_permute", "c_perturb", "tie_break"]))
        notes["variant"] = variant
        if variant != "tie_break":
            original, reduced, notes["variant"] = conv_edit(rng, spec, variant, notes)
            return original, reduced, edit
        b2 = b.copy()
        b2[1] += 10.0 ** -int(rng.integers(1, 7))
        return spec, spec.with_(head=(w, b2)), edit
    return conv_edit(rng, spec, edit, notes)


def generate_conv(seed: int, index: int) -> Case:
    """The CNN case ``index`` of the campaign with ``seed``; relation and eps mode drawn as for the MLPs."""
    rng = np.random.default_rng([seed, index, 2])
    n_in = 1 if rng.random() < 0.6 else 2
    edit = str(rng.choice(EDITS))
    n_out = int(rng.integers(2, 4)) if "tie" in edit else int(rng.integers(1, 4))
    activation = "Relu" if rng.random() < 0.6 else "LeakyRelu"
    alpha = 0.0 if activation == "Relu" else float(rng.choice(ALPHAS))
    centre = rng.uniform(-1, 1, n_in)
    half = float(rng.choice([0.125, 0.5, 1.0, 2.0]))
    lower, upper = centre - half, centre + half
    notes: dict[str, Any] = {}
    original, reduced, edit = conv_pair(rng, n_in, edit, n_out, activation, alpha, lower, upper, notes)
    return Case(index, seed, edit, original, reduced, lower, upper, *relation_draw(rng, edit, n_out), notes)
