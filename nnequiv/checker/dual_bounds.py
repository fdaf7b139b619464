"""Tighter pre-activation bounds by weak duality on the network graph (trusted; ``proofs/dual_bounds.md``).

For layer ``k`` of a Relu / linear chain and a row objective ``c . z_k`` (``c = +-e_i``), ANY
float multipliers ``nu_j`` (one per neuron of each earlier layer ``j``) give

    c . z_k  <=  c . b_k + sum_j nu_j . b_j + max_x (W_0^T nu_0) . x
                 + sum_j sum_i max_{z in [l_ji, u_ji]} (mu_ji act(z) - nu_ji z),
    mu_j = W_{j+1}^T nu_{j+1}  (mu_{k-1} = W_k^T c),

over every input of the box whose pre-activations lie in the (already sound) bounds ``[l, u]``
(lemma B1).  Each one-dimensional maximum is attained at ``l``, ``u`` or ``0`` (B2); the real
``mu`` is enclosed from its float product with the dot-product allowance of ``proofs/rounding.md``
and every product / sum is rounded up (B3).  The multipliers are chosen CROWN-style (chord slope
where ``mu >= 0``, the better of the lines 0 and ``z`` where ``mu < 0``), which only affects
tightness.  The result is intersected with the zonotope's own bounds.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..pwl import PwlLayer
from .rounding import ETA, UNIT, gamma, upper_sum_abs

Bounds = tuple[np.ndarray, np.ndarray]


def applies(layers: Sequence[PwlLayer], k: int) -> bool:
    """The lemma is used for hidden layers ``k >= 1`` with an activation, after exact layers with
    Relu or linear neurons only (weight radii and LeakyReLU keep the zonotope bounds)."""
    if k < 1 or np.all(layers[k].slope == 1.0):
        return False
    return all(layer.is_exact for layer in layers[:k + 1]) and all(
        np.all((layer.slope == 0.0) | (layer.slope == 1.0)) for layer in layers[:k])


def tighten(layers: Sequence[PwlLayer], k: int, lowers: np.ndarray, uppers: np.ndarray,
            earlier: Sequence[Bounds], current: Bounds) -> Bounds:
    """``current`` (sound bounds of ``z_k`` per region, each (R, n_k)) intersected with the dual
    bounds built from the sound bounds ``earlier[j]`` of layers ``j < k`` (each (R, n_j))."""
    if not applies(layers, k):
        return current
    rows = _unstable_rows(current, layers[k].slope == 0.0)     # (R, c): neuron of each row, -1 unused
    if rows.shape[1] == 0:
        return current
    regions, c = rows.shape
    picked = np.maximum(rows, 0)
    weight, bias = layers[k].weight[picked], layers[k].bias[picked]
    mu = np.concatenate([weight, -weight], axis=1)  # mu_{k-1} = +-W_k rows, exactly
    mu_err = np.zeros(mu.shape)
    terms = [np.concatenate([bias, -bias], axis=1)[:, :, None]]
    for j in range(k - 1, -1, -1):
        lo, hi = earlier[j]
        lo, hi = lo[:, None, :], hi[:, None, :]
        relu = layers[j].slope == 0.0
        nu = mu * _slopes(mu, lo, hi, relu)
        terms.append(_neuron_max(mu, mu_err, nu, lo, hi, relu))
        terms.append(_dot_up(nu, layers[j].bias))
        mu, mu_err = _times_weight(nu, layers[j].weight)
    a_lo, a_hi = -_up(mu_err - mu), _up(mu + mu_err)
    x_lo, x_hi = lowers[:, None, :], uppers[:, None, :]
    terms.append(np.maximum(np.maximum(_product_up(a_lo, x_lo), _product_up(a_lo, x_hi)),
                            np.maximum(_product_up(a_hi, x_lo), _product_up(a_hi, x_hi))))
    total = _sum_up(np.concatenate(terms, axis=2))
    lower, upper = current[0].copy(), current[1].copy()
    region, slot = np.nonzero(rows >= 0)
    neuron = rows[region, slot]
    high, low = total[region, slot], -total[region, c + slot]
    upper[region, neuron] = np.where(np.isfinite(high), np.minimum(upper[region, neuron], high),
                                     upper[region, neuron])
    lower[region, neuron] = np.where(np.isfinite(low), np.maximum(lower[region, neuron], low),
                                     lower[region, neuron])
    return lower, upper


def _unstable_rows(current: Bounds, relu: np.ndarray) -> np.ndarray:
    """Per region the Relu neurons whose current bounds straddle 0, packed (-1 pads): only their
    bounds decide a relaxation; the other neurons keep their bounds."""
    mask = relu[None, :] & (current[0] < 0.0) & (current[1] > 0.0)
    counts = mask.sum(axis=1)
    rows = np.full((mask.shape[0], int(counts.max()) if counts.size else 0), -1, dtype=np.int64)
    region, neuron = np.nonzero(mask)
    rows[region, np.arange(region.size) - np.repeat(np.cumsum(counts) - counts, counts)] = neuron
    return rows


def _slopes(mu: np.ndarray, lo: np.ndarray, hi: np.ndarray, relu: np.ndarray) -> np.ndarray:
    """CROWN's multipliers ``nu = slope * mu`` (any choice is sound; this one is tight): 1 for
    active or linear neurons, 0 for dead ones, else the chord slope where ``mu >= 0`` and the
    better of the lines 0 and ``z`` where ``mu < 0``."""
    linear = ~relu | (lo >= 0.0)
    dead = relu & (hi <= 0.0)
    gap = np.where(linear | dead, 1.0, hi - lo)
    chord = np.where(linear, 1.0, np.where(dead, 0.0, np.clip(hi / gap, 0.0, 1.0)))
    lower_line = np.where(linear, 1.0, np.where(dead, 0.0, (hi >= -lo).astype(np.float64)))
    return np.where(mu >= 0.0, chord, lower_line)


def _neuron_max(mu, mu_err, nu, lo, hi, relu) -> np.ndarray:
    """Upper bound of ``max_{z in [lo, hi]} mu act(z) - nu z`` for every real ``mu`` within
    ``mu_err`` of the float ``mu``: the largest of the values at ``lo``, ``hi`` and (where
    ``lo < 0 < hi``) at the kink 0, each bounded over the ``mu`` interval (B2, B3).  At ``z >= 0``
    the value is ``(mu - nu) z``, largest at the largest ``mu``; at ``z < 0`` it is ``-nu z`` for
    a Relu and ``(mu - nu) z``, largest at the smallest ``mu``, for a linear neuron."""
    r_hi = _up(_up(mu - nu) + mu_err)                 # >= real mu - nu
    negative = -nu
    if not np.all(relu):
        r_lo = -_up(_up(nu - mu) + mu_err)            # <= real mu - nu
        negative = np.where(relu, negative, r_lo)
    at_lo = _product_up(np.where(lo >= 0.0, r_hi, negative), lo)
    at_hi = _product_up(np.where(hi >= 0.0, r_hi, negative), hi)
    kink = np.where((lo < 0.0) & (hi > 0.0), 0.0, -np.inf)
    return np.maximum(np.maximum(at_lo, at_hi), kink)


def _dot_up(nu: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Upper bound of the real ``nu . bias`` per row, shape (R, m, 1) (``proofs/rounding.md``)."""
    n_terms = bias.size
    dot = nu @ bias
    err = _up((np.abs(nu) @ np.abs(bias)) * (2.0 * gamma(n_terms + 2)) + (n_terms + 2) * ETA)
    return _up(dot + err)[:, :, None]


def _times_weight(nu: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``nu W`` in float and a bound on its distance to the real product (``proofs/rounding.md``)."""
    n_terms = weight.shape[0]
    product = nu @ weight
    err = _up((np.abs(nu) @ np.abs(weight)) * (2.0 * gamma(n_terms + 2)) + (n_terms + 2) * ETA)
    return product, err


def _up(x: np.ndarray) -> np.ndarray:
    """At least one ulp above every finite float ``x`` (B4): an upper bound of the real result
    of the single operation that produced ``x``, also when it underflowed."""
    return x + (np.abs(x) * (2.0 * UNIT) + ETA)


def _product_up(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Upper bounds on the real products of floats (B4)."""
    return _up(a * b)


def _sum_up(terms: np.ndarray) -> np.ndarray:
    """An upper bound on the real sum along the last axis: ``|fl(sum) - sum| <= gamma(N) sum |t|``."""
    n_terms = terms.shape[-1]
    with np.errstate(invalid="ignore"):
        total = terms.sum(axis=-1)
        slack = _up(upper_sum_abs(terms, axis=2) * gamma(n_terms))
        return _up(total + slack)
