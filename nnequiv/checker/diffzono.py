"""Differential zonotope analysis of two piecewise-linear networks (trusted).

Given ``f`` and ``g`` (``PwlNet``) on one input region, propagate jointly sound
affine forms over shared symbols for ``f``'s values, ``g``'s values and, while the
two networks have layers of equal shape, their difference ``delta = g - f``
(VeryDiff-style; ``proofs/differential.md``):

* affine:    ``delta' = W_g delta + (W_g - W_f) h_f + (b_g - b_f)``;
* activation ``sigma`` with negative slope ``s``: DeepZ relaxation for each network;
  for the difference the tighter (smaller radius) of
  (a) ``sigma(z_g)`` relaxed minus ``sigma(z_f)`` relaxed (shared symbols), and
  (b) the mean-value rule ``sigma(z_g) - sigma(z_f) = t * delta`` for some ``t in [s, 1]``.

Phase splits (``splits[(net, layer, neuron)] = +1 | -1``) restrict the analysed
region to inputs where that pre-activation is ``>= 0`` / ``<= 0``; a split that the
bounds contradict proves the region empty (``infeasible``).

The same function serves the engine (to close branch-and-bound leaves) and the
checker (to re-verify them), so a certificate verifies exactly when the engine's
own bound did.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from ..pwl import PwlLayer, PwlNet, identity_layer
from .forms import (Forms, add, add_bias, exact_difference, input_forms, linear, scale_rows,
                    select)
from .rounding import ETA, UNIT, add_down, add_up, down, up, upper_add

NETS = ("f", "g")
Split = Mapping[tuple[str, int, int], int]


@dataclass(frozen=True, eq=False)
class Symbol:
    """Origin of a generator column: an input dimension or a relaxed neuron."""

    kind: str        # "input" | "f" | "g" | "delta"
    layer: int
    index: int


@dataclass(frozen=True, eq=False)
class DiffAnalysis:
    f_out: Forms
    g_out: Forms
    delta_out: Forms            # g - f at the output (tracked or by subtraction)
    symbols: tuple[Symbol, ...]
    infeasible: bool
    unstable: tuple[tuple[str, int, int, float], ...]   # (net, layer, neuron, pre-activation width)
    tracked_layers: int         # how many layers kept a direct difference form


def aligned_layers(f: PwlNet, g: PwlNet) -> tuple[list[PwlLayer], list[PwlLayer]]:
    """Pad the shallower network with identity layers at the end (exact)."""
    depth = max(len(f.layers), len(g.layers))
    fl = list(f.layers) + [identity_layer(f.output_size)] * (depth - len(f.layers))
    gl = list(g.layers) + [identity_layer(g.output_size)] * (depth - len(g.layers))
    return fl, gl


def analyze(f: PwlNet, g: PwlNet, lower: np.ndarray, upper: np.ndarray,
            splits: Split | None = None) -> DiffAnalysis:
    splits = dict(splits or {})
    lower = np.asarray(lower, dtype=np.float64)
    upper = np.asarray(upper, dtype=np.float64)
    x = input_forms(lower, upper)
    symbols: list[Symbol] = [Symbol("input", -1, i) for i in range(x.gens.shape[1])]
    hf, hg = x, x
    hd: Forms | None = Forms(np.zeros_like(x.center), np.zeros_like(x.gens), np.zeros_like(x.center))
    fl, gl = aligned_layers(f, g)
    unstable: list[tuple[str, int, int, float]] = []
    tracked = 0
    for k, (lf, lg) in enumerate(zip(fl, gl)):
        zf = add_bias(linear(lf.weight, hf, lf.weight_rad), lf.bias, lf.bias_rad)
        zg = add_bias(linear(lg.weight, hg, lg.weight_rad), lg.bias, lg.bias_rad)
        zd = _delta_affine(lf, lg, hf, hd) if hd is not None and lf.weight.shape == lg.weight.shape else None
        tracked += zd is not None

        bf, bg = zf.bounds(), zg.bounds()
        phase_f, empty_f = _phases("f", k, lf.slope, *bf, splits)
        phase_g, empty_g = _phases("g", k, lg.slope, *bg, splits)
        if empty_f or empty_g:
            return _empty(f, g, symbols, unstable, tracked)
        unstable += [("f", k, int(j), float(bf[1][j] - bf[0][j])) for j in np.flatnonzero(phase_f == 0)]
        unstable += [("g", k, int(j), float(bg[1][j] - bg[0][j])) for j in np.flatnonzero(phase_g == 0)]

        nf, new_f = _activate(zf, phase_f, lf.slope, *bf)
        ng, new_g = _activate(zg, phase_g, lg.slope, *bg)
        start_f = len(symbols)
        symbols += [Symbol("f", k, int(j)) for j in new_f.rows]
        start_g = len(symbols)
        symbols += [Symbol("g", k, int(j)) for j in new_g.rows]
        nf = _place(nf, new_f, start_f, len(symbols))
        ng = _place(ng, new_g, start_g, len(symbols))
        if zd is not None:
            zd = zd.with_columns(len(symbols))
            bd = _delta_bounds(zd, bf, bg)
            nd, new_d = _activate_delta(zd, nf, ng, phase_f, phase_g, lf.slope, lg.slope, *bd)
            start_d = len(symbols)
            symbols += [Symbol("delta", k, int(j)) for j in new_d.rows]
            nd = _place(nd, new_d, start_d, len(symbols))
            nf, ng = nf.with_columns(len(symbols)), ng.with_columns(len(symbols))
            hd = nd
        else:
            hd = None
        hf, hg = nf, ng

    by_subtraction = add(hg, hf, -1.0)
    delta = by_subtraction if hd is None else _tighter(hd, by_subtraction)
    return DiffAnalysis(hf, hg, delta, tuple(symbols), False, tuple(unstable), tracked)


def _empty(f, g, symbols, unstable, tracked) -> DiffAnalysis:
    def nothing(n):
        return Forms(np.zeros(n), np.zeros((n, len(symbols))), np.zeros(n))
    return DiffAnalysis(nothing(f.output_size), nothing(g.output_size), nothing(f.output_size),
                        tuple(symbols), True, tuple(unstable), tracked)


def _delta_affine(lf: PwlLayer, lg: PwlLayer, hf: Forms, hd: Forms) -> Forms:
    """``W_g delta + (W_g - W_f) h_f + (b_g - b_f)`` with every rounding accounted."""
    dw, dw_err = exact_difference(lg.weight, lf.weight)
    db, db_err = exact_difference(lg.bias, lf.bias)
    dw_rad = upper_add(dw_err, lf.weight_rad, lg.weight_rad)
    db_rad = upper_add(db_err, lf.bias_rad, lg.bias_rad)
    through = linear(lg.weight, hd, lg.weight_rad)
    change = linear(dw, hf.with_columns(hd.gens.shape[1]), dw_rad)
    return add_bias(add(through, change), db, db_rad)


def _phases(net: str, layer: int, slope: np.ndarray, lo: np.ndarray, hi: np.ndarray,
            splits: Split) -> tuple[np.ndarray, bool]:
    """+1 active (value = z), -1 inactive (value = s z), 0 unstable; and emptiness."""
    phase = np.where(lo >= 0, 1, np.where(hi <= 0, -1, 0))
    phase = np.where(slope == 1.0, 1, phase)
    for (name, k, j), side in splits.items():
        if name != net or k != layer:
            continue
        if side > 0 and hi[j] < 0 or side < 0 and lo[j] > 0:
            return phase, True
        if slope[j] != 1.0:
            phase[j] = 1 if side > 0 else -1
    return phase, False


def _activate(z: Forms, phase: np.ndarray, slope: np.ndarray, lo: np.ndarray,
              hi: np.ndarray) -> tuple[Forms, "Fresh"]:
    """Values of ``sigma(z)``; unstable rows get ``lambda z + [0, H]`` with one new symbol each.

    For ``lambda in [s, 1]`` and ``z in [l, u]`` (l < 0 < u):
    ``sigma(z) - lambda z in [0, max((lambda - s)(-l), (1 - lambda) u)]`` (``proofs/differential.md``).
    """
    unstable = phase == 0
    factor = np.where(phase == 1, 1.0, slope)
    lam = np.ones_like(slope)
    height = np.zeros_like(slope)
    if unstable.any():
        l, u, s = lo[unstable], hi[unstable], slope[unstable]
        chord = np.clip((u - s * l) / (u - l), s, 1.0)
        lam[unstable] = chord
        left = up(up(chord - s) * up(-l))
        right = up(up(1.0 - chord) * u)
        height[unstable] = np.maximum(left, right)
    factor = np.where(unstable, lam, factor)
    out = scale_rows(z, factor)
    mid = height / 2.0
    half = np.maximum(mid, add_up(height, -mid))
    out = add_bias(out, mid)
    return out, Fresh(np.flatnonzero(unstable), half[unstable])


def _activate_delta(zd: Forms, nf: Forms, ng: Forms, phase_f, phase_g, slope_f, slope_g,
                    lo: np.ndarray, hi: np.ndarray) -> tuple[Forms, "Fresh"]:
    both_active = (phase_f == 1) & (phase_g == 1)
    both_inactive = (phase_f == -1) & (phase_g == -1) & (slope_f == slope_g)
    rule_a = add(ng, nf, -1.0)
    # rule (b): sigma(z_g) - sigma(z_f) = t delta, t in [s, 1]; relax as lam*delta + [e_lo, e_hi]
    s = np.minimum(slope_f, slope_g)
    lam = (1.0 + s) / 2.0
    # corners of (t - lam) * d over t in {s, 1}, d in {lo, hi} (bilinear, so extremes are corners);
    # each corner is two roundings off its real value: widen by 3u of the largest magnitude
    corners = np.stack([(t - lam) * d for t in (s, np.ones_like(s)) for d in (lo, hi)] + [0 * lo])
    magnitude = np.abs(corners).max(axis=0)
    slack = np.where(magnitude > 0, up(3 * UNIT * magnitude + ETA), 0.0)
    e_lo = add_down(corners.min(axis=0), -slack)
    e_hi = add_up(corners.max(axis=0), slack)
    mid = (e_lo + e_hi) / 2.0
    half = np.maximum(add_up(e_hi, -mid), add_up(mid, -e_lo))
    scaled = scale_rows(zd, lam)
    rule_b = add_bias(scaled, mid)
    stable = select(both_active, zd, scale_rows(zd, np.where(both_inactive, slope_f, 1.0)))
    use_b = ~(both_active | both_inactive) & (rule_b.radius() + half < rule_a.radius())
    use_a = ~(both_active | both_inactive) & ~use_b
    out = select(use_a, rule_a, select(use_b, rule_b, stable))
    return out, Fresh(np.flatnonzero(use_b), half[use_b])


def _delta_bounds(zd: Forms, bf, bg) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = zd.bounds()
    return np.maximum(lo, down(bg[0] - bf[1])), np.minimum(hi, up(bg[1] - bf[0]))


def _place(forms: Forms, fresh: "Fresh", start: int, total: int) -> Forms:
    """Append ``fresh`` symbols as columns ``start...`` of a generator matrix ``total`` wide."""
    gens = np.zeros((forms.rows, total))
    gens[:, : forms.gens.shape[1]] = forms.gens
    gens[fresh.rows, start + np.arange(len(fresh.rows))] = fresh.radii
    return Forms(forms.center, gens, forms.err)


@dataclass(frozen=True, eq=False)
class Fresh:
    """Rows that receive one new symbol each, with its radius."""

    rows: np.ndarray
    radii: np.ndarray


def _tighter(a: Forms, b: Forms) -> Forms:
    total = max(a.gens.shape[1], b.gens.shape[1])
    a, b = a.with_columns(total), b.with_columns(total)
    return select(a.radius() <= b.radius(), a, b)
