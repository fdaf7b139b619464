"""Error-free matrix products by operand splitting (Ozaki scheme; ``proofs/rigorous_eval.md``).

``x @ w.T`` for a multi-limb ``x`` (rows = sample positions) and an exact float64 ``w``:
every row of ``w`` and every row of each limb of ``x`` is cut into *slices* of ``beta``
significant bits aligned to that row's scale ``2**e`` (Lemma 5).  With
``2 * beta + ceil(log2 k) <= 53`` every slice product ``X_j @ W_i.T`` computed by BLAS is
exact, whatever its summation order or use of FMA (Lemma 6).  Slice pairs far below the
target depth are skipped; they and the unsplit remainders are bounded by
``k * max|a| * max|b|`` per row pair and returned as an error bound (Lemma 7).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..checker.rounding import ETA, up
from ..errors import UnsupportedOpError
from .expansion import LIMBS

MANTISSA = 53
DEPTH = MANTISSA * LIMBS + 12     # bits below a row pair's scale still computed exactly
LIMB_OFFSET = MANTISSA            # limb l of a normalised expansion starts ~53 l bits down
E_MIN, E_MAX = -300, 400          # row scales are clamped up to E_MIN (keeps every unit normal)


def slice_bits(k: int) -> int:
    """The widest slice for dot products of length ``k``: ``2 beta + ceil(log2 k) <= 53``."""
    beta = (MANTISSA - math.ceil(math.log2(max(k, 1)))) // 2
    if beta < 8:
        raise UnsupportedOpError(f"dot products of length {k} are too long to split exactly",
                                 fix="rigorous evaluation supports inner dimensions below 2**37")
    return beta


@dataclass(frozen=True, eq=False)
class Split:
    """``a == sum(slices) + rest`` exactly; ``maxima[i]`` is ``max |slices[i]|`` per row."""

    slices: tuple[np.ndarray, ...]
    maxima: tuple[np.ndarray, ...]
    rest: np.ndarray
    top: np.ndarray                 # max |a| per row


def split(a: np.ndarray, beta: int, levels: int) -> Split:
    """Cut each row of ``a`` (R, k) into at most ``levels`` slices of ``beta`` bits (Lemma 5)."""
    top = np.max(np.abs(a), axis=1) if a.shape[1] else np.zeros(a.shape[0])
    _, exponent = np.frexp(top)                      # top < 2**exponent
    if np.any(exponent > E_MAX) or not np.all(np.isfinite(top)):
        raise UnsupportedOpError("a value is too large (or not finite) for exact splitting",
                                 fix="rigorous evaluation needs magnitudes below 2**400")
    exponent = np.maximum(exponent, E_MIN)[:, None]
    rest, slices = a, []
    for i in range(levels):
        if not np.any(rest):
            break
        unit = exponent - beta * (i + 1)
        piece = np.ldexp(np.trunc(np.ldexp(rest, -unit)), unit)
        slices.append(piece)
        rest = rest - piece
    return Split(tuple(slices), tuple(np.max(np.abs(s), axis=1) for s in slices), rest, top)


def exact_matmul(x_limbs, w: np.ndarray) -> tuple[list[np.ndarray], np.ndarray, list[int]]:
    """Exact float64 terms and a bound ``err``: ``|x @ w.T - sum(terms)| <= err`` entrywise.

    ``x_limbs``: arrays (P, k) whose sum is ``x``; ``w``: (m, k).  Terms come largest first,
    with the limb each is expected to land in (``level // 53``, for :func:`.expansion.compress`)."""
    k = w.shape[1]
    beta = slice_bits(k)
    ws = split(w, beta, DEPTH // beta + 1)
    xs = [split(limb, beta, max(0, (DEPTH - LIMB_OFFSET * l) // beta + 1)) for l, limb in enumerate(x_limbs)]
    computed, bounds = [], []                       # bounds: (per-x-row, per-w-row) factor pairs
    for l, x in enumerate(xs):
        for i, (wi, wmax) in enumerate(zip(ws.slices, ws.maxima)):
            for j, (xj, xmax) in enumerate(zip(x.slices, x.maxima)):
                level = beta * (i + j) + LIMB_OFFSET * l
                if level <= DEPTH:
                    computed.append((level, xj, wi))
                else:
                    bounds.append((xmax, wmax))
        w_rest = np.max(np.abs(ws.rest), axis=1)
        bounds.append((x.top, w_rest))                                   # W_rest @ x_l
        bounds.append((np.max(np.abs(x.rest), axis=1), ws.top + w_rest))  # (W - W_rest) @ X_rest
    computed.sort(key=lambda item: item[0])
    terms = [xj @ wi.T for _, xj, wi in computed]
    shape = (x_limbs[0].shape[0], w.shape[0])
    return terms, _outer_bound(bounds, k, shape), [level // MANTISSA for level, _, _ in computed]


def _outer_bound(pairs, k: int, shape) -> np.ndarray:
    """An upper bound on ``k * sum_q a_q[p] b_q[r]`` (nonnegative floats), rounded up (Lemma 7)."""
    if len(pairs) > 1000:
        raise UnsupportedOpError("too many neglected slice pairs", fix="report this model")
    total, touched = np.zeros(shape), np.zeros(shape, dtype=bool)
    for a, b in pairs:
        if not (np.any(a) and np.any(b)):
            continue
        total = total + np.outer(a, b)
        touched |= np.outer(a > 0, b > 0)
    factor = 1.0 + 2.0 ** -40                      # covers (1 + u)**(2n + 3) for n <= 1000 terms
    return np.where(touched, up(up(total * float(k)) * factor) + (len(pairs) + 2) * k * ETA, 0.0)
