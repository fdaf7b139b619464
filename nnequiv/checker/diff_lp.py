"""The differential LP of one branch-and-bound region (trusted; ``proofs/diff_lp.md``).

:func:`diff_lp` builds, deterministically from the two lowered networks, the region (box and
phase splits) and the pre-activation bounds the checker's own zonotope analysis derived on that
region (:attr:`nnequiv.checker.diffzono.DiffAnalysis.layer_bounds`), an LP relaxation over the
columns ``[x, (z_f, y_f, z_g, y_g) per aligned layer]`` (``x`` shared by both networks):

* ``z - W y_prev = b``                       (each network; ``y_prev = x`` at layer 0)
* ``y - z >= 0`` (``= 0`` for linear neurons)  (``relu(z) >= z``)
* ``y - a z <= beta``                        (triangle: ``a, beta`` from the neuron's bounds, D1)
* on layers where the difference is tracked, for each neuron pair with the same activation,
  with ``delta = z_g - z_f`` in ``[dl, du]`` and ``d = y_g - y_f`` (D2, D3):
  ``d - a (z_g - z_f) <= beta`` and ``d - a' (z_g - z_f) >= -beta'``;
* columns: ``x`` in the box, ``z`` in its bounds cut by the phase split (``>= 0`` / ``<= 0``),
  ``y`` in ``[relu(lo), relu(hi)]``.

The row structure depends only on the two networks (every neuron gets its rows whatever its
bounds), so multipliers recorded by the search index the same rows when the checker rebuilds
the LP from its own analysis.  :func:`nnequiv.checker.lp_dual.safe_max` turns any multipliers
into a rigorous bound on ``s (y_g,i - y_f,i)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from ..pwl import PwlLayer
from .diffzono import Bounds, DiffAnalysis
from .lp_dual import safe_max
from .rounding import add_up, up

__all__ = ["DiffLp", "diff_lp", "lp_objectives", "lp_supported", "zonotope_bounds"]


@dataclass(frozen=True, eq=False)
class DiffLp:
    matrix: np.ndarray       # (rows, columns)
    row_lo: np.ndarray
    row_hi: np.ndarray
    col_lo: np.ndarray
    col_hi: np.ndarray
    f_out: np.ndarray        # columns of f's outputs
    g_out: np.ndarray        # columns of g's outputs

    def objective(self, output: int, sign: float) -> tuple[np.ndarray, float]:
        """``sign * (y_g[output] - y_f[output])`` as ``c . v + c0``."""
        c = np.zeros(self.matrix.shape[1])
        c[self.g_out[output]] = sign
        c[self.f_out[output]] = -sign
        return c, 0.0

    def safe_bound(self, output: int, sign: float, multipliers: np.ndarray) -> float:
        c, c0 = self.objective(output, sign)
        return safe_max(self, c, c0, multipliers)


def lp_supported(fl: Sequence[PwlLayer], gl: Sequence[PwlLayer]) -> str:
    """'' if the LP applies to the aligned layers, else why not."""
    layers = list(fl) + list(gl)
    if not all(layer.is_exact for layer in layers):
        return "LP leaves need layers without weight radii"
    if any(np.any((layer.slope != 0.0) & (layer.slope != 1.0)) for layer in layers):
        return "LP leaves handle Relu and linear neurons only"
    return ""


def lp_objectives(outputs: tuple[int, ...] | None, n_outputs: int) -> list[tuple[int, float]]:
    """The ``(output, sign)`` pairs a leaf must bound, in the order its multipliers are recorded."""
    rows = range(n_outputs) if outputs is None else outputs
    return [(int(i), sign) for i in rows for sign in (1.0, -1.0)]


def zonotope_bounds(analysis: DiffAnalysis, region: int, outputs: tuple[int, ...] | None) -> list[float]:
    """The zonotope analysis's bound on each objective of :func:`lp_objectives` in one region."""
    lo, hi = analysis.delta_out.bounds()
    return [float(hi[region, i]) if sign > 0 else float(-lo[region, i])
            for i, sign in lp_objectives(outputs, hi.shape[1])]


def diff_lp(fl: Sequence[PwlLayer], gl: Sequence[PwlLayer], lower: np.ndarray, upper: np.ndarray,
            layer_bounds: Sequence[tuple[Bounds, Bounds, Bounds | None]],
            splits: Mapping[tuple[str, int, int], int]) -> DiffLp:
    """The LP of one region; ``layer_bounds`` are that region's (``(lo, hi)`` 1-d arrays)."""
    reason = lp_supported(fl, gl)
    if reason:
        raise ValueError(reason)
    n_in = int(np.asarray(lower).size)
    sizes = [n_in] + [n for lf, lg in zip(fl, gl) for n in (lf.n_out, lf.n_out, lg.n_out, lg.n_out)]
    starts = np.cumsum([0] + sizes)
    total = int(starts[-1])
    blocks, row_lo, row_hi = [], [], []
    col_lo, col_hi = [np.asarray(lower, np.float64)], [np.asarray(upper, np.float64)]
    prev = {"f": np.arange(n_in), "g": np.arange(n_in)}
    cols: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for k, (lf, lg) in enumerate(zip(fl, gl)):
        base = 1 + 4 * k
        for offset, (net, layer, (lo, hi)) in enumerate((("f", lf, layer_bounds[k][0]),
                                                         ("g", lg, layer_bounds[k][1]))):
            z = np.arange(starts[base + 2 * offset], starts[base + 2 * offset + 1])
            y = np.arange(starts[base + 2 * offset + 1], starts[base + 2 * offset + 2])
            lo, hi = _split_bounds(np.asarray(lo, np.float64), np.asarray(hi, np.float64), splits, net, k)
            linear = layer.slope == 1.0
            a, beta = _chord_above(lo, hi, linear)
            n = layer.n_out
            rows = np.zeros((3 * n, total))
            index = np.arange(n)
            rows[index, z] = 1.0
            rows[np.ix_(index, prev[net])] = -layer.weight
            rows[n + index, y], rows[n + index, z] = 1.0, -1.0
            rows[2 * n + index, y], rows[2 * n + index, z] = 1.0, -a
            blocks.append(rows)
            row_lo += [layer.bias, np.zeros(n), np.full(n, -np.inf)]
            row_hi += [layer.bias, np.where(linear, 0.0, np.inf), beta]
            col_lo += [lo, np.where(linear, lo, np.maximum(lo, 0.0))]
            col_hi += [hi, np.where(linear, hi, np.maximum(hi, 0.0))]
            prev[net] = y
            cols[net] = (z, y)
        delta = layer_bounds[k][2]
        if delta is not None:
            same = np.flatnonzero(lf.slope == lg.slope)
            cut, lo_cut, hi_cut = _difference_cuts(cols["f"], cols["g"], delta, same, total)
            blocks.append(cut)
            row_lo.append(lo_cut)
            row_hi.append(hi_cut)
    return DiffLp(np.vstack(blocks), np.concatenate(row_lo), np.concatenate(row_hi), np.concatenate(col_lo),
                  np.concatenate(col_hi), prev["f"], prev["g"])


def _split_bounds(lo, hi, splits, net: str, layer: int) -> Bounds:
    """A phase split cuts the pre-activation range at 0 (the region is ``z >= 0`` / ``z <= 0``)."""
    lo, hi = lo.copy(), hi.copy()
    for (which, k, j), side in splits.items():
        if which == net and k == layer:
            if side > 0:
                lo[j] = max(lo[j], 0.0)
            else:
                hi[j] = min(hi[j], 0.0)
    return lo, hi


def _chord_above(lo: np.ndarray, hi: np.ndarray, linear: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``a, beta`` with ``relu(z) <= a z + beta`` on ``[lo, hi]`` (D1): a line on or above ``relu``
    at both ends is above it in between; linear neurons and active ones get ``y <= z``."""
    active = linear | (lo >= 0.0)
    inactive = ~active & (hi <= 0.0)
    unstable = ~active & ~inactive
    width = np.where(unstable, hi - lo, 1.0)
    a = np.where(active, 1.0, np.where(inactive, 0.0, np.clip(hi / width, 0.0, 1.0)))
    left = np.where(unstable, up(a * np.maximum(-lo, 0.0)), 0.0)
    right = np.where(unstable, up(add_up(1.0, -a) * np.maximum(hi, 0.0)), 0.0)
    return a, np.maximum(left, right)


def _difference_cuts(f_cols, g_cols, delta: Bounds, neurons: np.ndarray, total: int):
    """Rows ``d - a delta <= beta`` and ``d - a' delta >= -beta'`` for ``d = y_g - y_f``,
    ``delta = z_g - z_f`` (D2: ``d = t delta`` with ``t in [0, 1]``; D3: the chords of
    ``max(0, delta)`` and ``min(0, delta)`` over ``[min(dl, 0), max(du, 0)]``)."""
    (zf, yf), (zg, yg) = f_cols, g_cols
    dl = np.minimum(np.asarray(delta[0], np.float64)[neurons], 0.0)
    du = np.maximum(np.asarray(delta[1], np.float64)[neurons], 0.0)
    width = np.where(du > dl, du - dl, 1.0)
    a_up = np.where(du > dl, np.clip(du / width, 0.0, 1.0), 0.0)
    a_lo = np.where(du > dl, np.clip(-dl / width, 0.0, 1.0), 0.0)
    beta_up = np.maximum(up(a_up * -dl), up(add_up(1.0, -a_up) * du))
    beta_lo = np.maximum(up(a_lo * du), up(add_up(1.0, -a_lo) * -dl))
    m = neurons.size
    rows = np.zeros((2 * m, total))
    for block, a in ((0, a_up), (m, a_lo)):
        index = block + np.arange(m)
        rows[index, yg[neurons]], rows[index, yf[neurons]] = 1.0, -1.0
        rows[index, zg[neurons]], rows[index, zf[neurons]] = -a, a
    lo = np.concatenate([np.full(m, -np.inf), -beta_lo])
    hi = np.concatenate([beta_up, np.full(m, np.inf)])
    return rows, lo, hi
