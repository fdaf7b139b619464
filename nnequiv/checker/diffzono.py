"""Differential zonotope analysis of two piecewise-linear networks (trusted).

Given ``f`` and ``g`` (``PwlNet``) on a batch of input regions, propagate jointly
sound affine forms over shared symbols for ``f``'s values, ``g``'s values and,
while the two networks have layers of equal shape, their difference
``delta = g - f`` (VeryDiff-style; ``proofs/differential.md``):

* affine:    ``delta' = W_g delta + (W_g - W_f) h_f + (b_g - b_f)``;
* activation ``sigma`` with negative slope ``s``: DeepZ relaxation for each network;
  for the difference the tighter (smaller radius) of
  (a) ``sigma(z_g)`` relaxed minus ``sigma(z_f)`` relaxed (shared symbols), and
  (b) the mean-value rule ``sigma(z_g) - sigma(z_f) = t * delta`` for some ``t in [s, 1]``.

Pre-activation bounds of hidden layers ``k >= 1`` are the forms' bounds intersected with the dual
bounds of :mod:`.dual_bounds` (``proofs/dual_bounds.md``; D7 of ``proofs/differential.md``).

Phase splits (``splits[(net, layer, neuron)] = +1 | -1``) restrict a region to the
inputs where that pre-activation is ``>= 0`` / ``<= 0``; a split that the bounds
contradict proves the region empty (``infeasible``).

Regions are analysed independently; batching only shares the numpy calls.  The
same function serves the engine (to close branch-and-bound regions) and the
checker (to re-verify them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from ..pwl import PwlLayer, PwlNet, identity_layer
from . import dual_bounds
from .forms import Forms, add, add_bias, exact_difference, input_forms, linear, scale_rows, select
from .rounding import ETA, UNIT, add_down, add_up, up, upper_add

Split = Mapping[tuple[str, int, int], int]
Bounds = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True, eq=False)
class Symbol:
    """Origin of a generator column: an input dimension or a relaxed neuron."""

    kind: str        # "input" | "f" | "g" | "delta"
    layer: int
    index: int


@dataclass(frozen=True, eq=False)
class SymbolBlock:
    """Columns ``start .. start + c`` of one relaxation step: in region ``r`` column ``start + i``
    belongs to neuron ``neurons[r, i]`` (-1: unused in that region)."""

    kind: str
    layer: int
    start: int
    neurons: np.ndarray     # (R, c)


@dataclass(frozen=True, eq=False)
class DiffAnalysis:
    """Results for a batch of ``R`` regions (forms have a leading region axis)."""

    f_out: Forms
    g_out: Forms
    delta_out: Forms            # g - f at the output (tracked or by subtraction)
    inputs: int                 # the first ``inputs`` columns are the input dimensions
    blocks: tuple[SymbolBlock, ...]
    infeasible: np.ndarray      # (R,) bool
    unstable: tuple[tuple[str, int, np.ndarray, np.ndarray], ...]  # (net, layer, mask (R, n), width (R, n))
    tracked_layers: int
    # per aligned layer: pre-activation bounds (lo, hi), each (R, n), of f, g and (while tracked) delta
    layer_bounds: tuple[tuple[Bounds, Bounds, Bounds | None], ...] = ()

    def symbols_of(self, r: int) -> list[Symbol | None]:
        """Origin of every generator column in region ``r``."""
        origin: list[Symbol | None] = [Symbol("input", -1, i) for i in range(self.inputs)]
        for block in self.blocks:
            origin += [Symbol(block.kind, block.layer, int(j)) if j >= 0 else None for j in block.neurons[r]]
        return origin

    def unstable_in(self, r: int) -> list[tuple[str, int, int, float]]:
        """``(net, layer, neuron, pre-activation width)`` of region ``r``'s unstable neurons."""
        return [(net, layer, int(j), float(width[r, j]))
                for net, layer, mask, width in self.unstable for j in np.flatnonzero(mask[r])]


def aligned_layers(f: PwlNet, g: PwlNet) -> tuple[list[PwlLayer], list[PwlLayer]]:
    """Pad the shallower network with identity layers at the end (exact)."""
    depth = max(len(f.layers), len(g.layers))
    fl = list(f.layers) + [identity_layer(f.output_size)] * (depth - len(f.layers))
    gl = list(g.layers) + [identity_layer(g.output_size)] * (depth - len(g.layers))
    return fl, gl


def analyze(f: PwlNet, g: PwlNet, lower: np.ndarray, upper: np.ndarray,
            splits: Split | None = None) -> DiffAnalysis:
    """One region (the batch has size 1)."""
    return analyze_batch(f, g, np.asarray(lower, float)[None], np.asarray(upper, float)[None],
                         [dict(splits or {})])


def analyze_batch(f: PwlNet, g: PwlNet, lowers: np.ndarray, uppers: np.ndarray,
                  splits: Sequence[Split]) -> DiffAnalysis:
    lowers = np.asarray(lowers, dtype=np.float64)
    uppers = np.asarray(uppers, dtype=np.float64)
    regions = lowers.shape[0]
    fl, gl = aligned_layers(f, g)
    forced = _forced_phases(fl, gl, splits, regions)
    x = input_forms(lowers, uppers)
    width = x.symbols
    blocks: list[SymbolBlock] = []
    hf, hg = x, x
    hd: Forms | None = Forms(np.zeros_like(x.center), np.zeros_like(x.gens), np.zeros_like(x.center))
    infeasible = np.zeros(regions, dtype=bool)
    unstable = []
    layer_bounds = []
    tracked = 0

    def place(forms: Forms, fresh: "Fresh", kind: str, layer: int) -> Forms:
        nonlocal width
        blocks.append(SymbolBlock(kind, layer, width, fresh.neurons))
        width += fresh.neurons.shape[1]
        return _place(forms, fresh, width - fresh.neurons.shape[1], width)

    for k, (lf, lg) in enumerate(zip(fl, gl)):
        zf = add_bias(linear(lf.weight, hf, lf.weight_rad), lf.bias, lf.bias_rad)
        zd = _delta_affine(lf, lg, hf, hd) if hd is not None and lf.weight.shape == lg.weight.shape else None
        if zd is None:
            zg = add_bias(linear(lg.weight, hg, lg.weight_rad), lg.bias, lg.bias_rad)
        else:  # z_g = z_f + delta exactly, so g needs no propagation of its own while delta is tracked
            zg = add(zf, zd)
            tracked += 1
        bf = dual_bounds.tighten(fl, k, lowers, uppers, [b[0] for b in layer_bounds], zf.bounds())
        bg = dual_bounds.tighten(gl, k, lowers, uppers, [b[1] for b in layer_bounds], zg.bounds())
        phase_f, empty_f = _phases(lf.slope, *bf, forced[("f", k)])
        phase_g, empty_g = _phases(lg.slope, *bg, forced[("g", k)])
        infeasible |= empty_f | empty_g
        unstable.append(("f", k, phase_f == 0, bf[1] - bf[0]))
        unstable.append(("g", k, phase_g == 0, bg[1] - bg[0]))

        nf, fresh_f = _activate(zf, phase_f, lf.slope, *bf)
        ng, fresh_g = _activate(zg, phase_g, lg.slope, *bg)
        nf = place(nf, fresh_f, "f", k)
        ng = place(ng.with_columns(nf.symbols - fresh_f.neurons.shape[1]), fresh_g, "g", k)
        nf = nf.with_columns(width)
        if zd is not None:
            zd = zd.with_columns(width)
            bd = _delta_bounds(zd, bf, bg)
            nd, fresh_d = _activate_delta(zd, nf, ng, phase_f, phase_g, lf.slope, lg.slope, *bd)
            hd = place(nd, fresh_d, "delta", k)
            nf, ng = nf.with_columns(width), ng.with_columns(width)
        else:
            hd, bd = None, None
        layer_bounds.append((bf, bg, bd))
        hf, hg = nf, ng

    by_subtraction = add(hg, hf, -1.0)
    delta = by_subtraction if hd is None else _tighter(hd, by_subtraction)
    return DiffAnalysis(hf, hg, delta, x.symbols, tuple(blocks), infeasible, tuple(unstable), tracked,
                        tuple(layer_bounds))


def _forced_phases(fl, gl, splits: Sequence[Split], regions: int) -> dict[tuple[str, int], np.ndarray]:
    forced = {(net, k): np.zeros((regions, layer.n_out), dtype=np.int8)
              for net, layers in (("f", fl), ("g", gl)) for k, layer in enumerate(layers)}
    for r, region_splits in enumerate(splits):
        for (net, k, j), side in region_splits.items():
            forced[(net, k)][r, j] = 1 if side > 0 else -1
    return forced


def _delta_affine(lf: PwlLayer, lg: PwlLayer, hf: Forms, hd: Forms) -> Forms:
    """``W_g delta + (W_g - W_f) h_f + (b_g - b_f)`` with every rounding accounted."""
    dw, dw_err = exact_difference(lg.weight, lf.weight)
    db, db_err = exact_difference(lg.bias, lf.bias)
    dw_rad = upper_add(dw_err, lf.weight_rad, lg.weight_rad)
    db_rad = upper_add(db_err, lf.bias_rad, lg.bias_rad)
    through = linear(lg.weight, hd, lg.weight_rad)
    change = linear(dw, hf.with_columns(hd.symbols), dw_rad)
    return add_bias(add(through, change), db, db_rad)


def _phases(slope: np.ndarray, lo: np.ndarray, hi: np.ndarray,
            forced: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """+1 active (value = z), -1 inactive (value = s z), 0 unstable; and per-region emptiness."""
    phase = np.where(lo >= 0, 1, np.where(hi <= 0, -1, 0)).astype(np.int8)
    linear_neuron = np.broadcast_to(slope == 1.0, phase.shape)
    empty = ((forced > 0) & (hi < 0)) | ((forced < 0) & (lo > 0))
    phase = np.where(linear_neuron, 1, np.where(forced != 0, forced, phase))
    return phase, empty.any(axis=1)


@dataclass(frozen=True, eq=False)
class Fresh:
    """New symbols, packed per region: region ``r`` gives its ``i``-th new symbol to neuron
    ``neurons[r, i]`` with radius ``radii[r, i]`` (``-1`` / 0 where it has fewer)."""

    neurons: np.ndarray    # (R, c) int
    radii: np.ndarray      # (R, c)


def _fresh(mask: np.ndarray, radius: np.ndarray) -> Fresh:
    counts = mask.sum(axis=1)
    width = int(counts.max()) if counts.size else 0
    neurons = np.full((mask.shape[0], width), -1, dtype=np.int64)
    radii = np.zeros((mask.shape[0], width))
    region, neuron = np.nonzero(mask)
    slot = np.arange(region.size) - np.repeat(np.cumsum(counts) - counts, counts)
    neurons[region, slot] = neuron
    radii[region, slot] = radius[region, neuron]
    return Fresh(neurons, radii)


def _place(forms: Forms, fresh: Fresh, start: int, total: int) -> Forms:
    """Append the ``fresh`` symbols as columns ``start...`` of a generator matrix ``total`` wide."""
    regions, n, k = forms.gens.shape
    gens = np.zeros((regions, n, max(total, k)))
    gens[:, :, :k] = forms.gens
    region, slot = np.nonzero(fresh.neurons >= 0)
    gens[region, fresh.neurons[region, slot], start + slot] = fresh.radii[region, slot]
    return Forms(forms.center, gens, forms.err)


def _activate(z: Forms, phase: np.ndarray, slope: np.ndarray, lo: np.ndarray,
              hi: np.ndarray) -> tuple[Forms, Fresh]:
    """Values of ``sigma(z)``; unstable rows get ``lambda z + [0, H]`` with one new symbol each.

    For ``lambda in [s, 1]`` and ``z in [l, u]`` (l < 0 < u):
    ``sigma(z) - lambda z in [0, max((lambda - s)(-l), (1 - lambda) u)]`` (``proofs/differential.md``).
    """
    unstable = phase == 0
    s = np.broadcast_to(slope, phase.shape)
    safe_gap = np.where(unstable, hi - lo, 1.0)
    chord = np.clip((hi - s * lo) / safe_gap, s, 1.0)
    lam = np.where(unstable, chord, np.where(phase == 1, 1.0, s))
    left = up(up(chord - s) * up(-lo))
    right = up(up(1.0 - chord) * hi)
    height = np.where(unstable, np.maximum(left, right), 0.0)
    out = add_bias(scale_rows(z, lam), height / 2.0)
    mid = height / 2.0
    half = np.maximum(mid, add_up(height, -mid))
    return out, _fresh(unstable, half)


def _activate_delta(zd: Forms, nf: Forms, ng: Forms, phase_f, phase_g, slope_f, slope_g,
                    lo: np.ndarray, hi: np.ndarray) -> tuple[Forms, Fresh]:
    both_active = (phase_f == 1) & (phase_g == 1)
    both_inactive = (phase_f == -1) & (phase_g == -1) & (slope_f == slope_g)
    rule_a = add(ng, nf, -1.0)
    # rule (b): sigma(z_g) - sigma(z_f) = t delta, t in [s, 1]; relax as lam*delta + [e_lo, e_hi]
    s = np.broadcast_to(slope_f, lo.shape)
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
    rule_b = add_bias(scale_rows(zd, lam), mid)
    stable = select(both_active, zd, scale_rows(zd, np.where(both_inactive, slope_f, 1.0)))
    unstable = ~(both_active | both_inactive)
    # the mean-value rule needs one activation function: sigma_g(z_g) - sigma_f(z_f) with different
    # slopes is not t * delta for any t in [s, 1] (proofs/differential.md, wrong variant)
    same_function = np.broadcast_to(slope_f == slope_g, lo.shape)
    use_b = unstable & same_function & (upper_add(rule_b.radius(), half) < rule_a.radius())
    use_a = unstable & ~use_b
    out = select(use_a, rule_a, select(use_b, rule_b, stable))
    return out, _fresh(use_b, half)


def _delta_bounds(zd: Forms, bf, bg) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = zd.bounds()
    return np.maximum(lo, add_down(bg[0], -bf[1])), np.minimum(hi, add_up(bg[1], -bf[0]))


def _tighter(a: Forms, b: Forms) -> Forms:
    total = max(a.symbols, b.symbols)
    a, b = a.with_columns(total), b.with_columns(total)
    return select(a.radius() <= b.radius(), a, b)
