"""Values as multi-limb float64 expansions plus a radius (proofs: ``proofs/rigorous_eval.md``).

An :class:`Enclosure` holds ``limbs`` (float64 arrays whose exact real SUM is the midpoint) and
``radius`` (float64, >= 0): the exact real value ``v`` of every entry satisfies
``|v - sum(limbs)| <= radius``.  Two limbs ("double-double") give ~106 bits of midpoint.

Every helper is error-free (TwoSum, Veltkamp splitting) or adds its rounding error to the
radius, rounded upward (Lemmas 1-4 of the proof).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..checker.rounding import ETA, add_down, add_up, gamma, up
from ..errors import UnsupportedOpError

LIMBS = 3
_SPLITTER = 2.0 ** 27 + 1.0       # Veltkamp: splits a double into two 26-bit halves
_SPLIT_SAFE = 2.0 ** 995          # above this sigma * a could overflow
_PRODUCT_SAFE = 2.0 ** -1021      # a half-product this small may have been rounded (underflow)


@dataclass(frozen=True, eq=False)
class Enclosure:
    """Exact value within ``radius`` of ``sum(limbs)`` (all arrays of one shape)."""

    limbs: tuple[np.ndarray, ...]
    radius: np.ndarray

    @property
    def shape(self) -> tuple[int, ...]:
        return self.radius.shape

    def approx(self) -> np.ndarray:
        """The midpoint rounded to float64 (for choices and display, never for bounds)."""
        return sum(self.limbs[1:], self.limbs[0].copy())

    def lower(self) -> np.ndarray:
        """A float64 lower bound of every exact value."""
        return add_down(_sum_down(self.limbs), -self.radius)

    def upper(self) -> np.ndarray:
        return add_up(_sum_up(self.limbs), self.radius)

    def map(self, function) -> "Enclosure":
        """Apply an exact data-movement ``function`` (reshape, window, gather) to every array."""
        return Enclosure(tuple(function(limb) for limb in self.limbs), function(self.radius))


def point(values: np.ndarray) -> Enclosure:
    """The exact float64 values (radius zero)."""
    values = np.asarray(values, dtype=np.float64)
    _finite(values)
    return Enclosure((values,) + tuple(np.zeros_like(values) for _ in range(LIMBS - 1)), np.zeros_like(values))


def two_sum(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Knuth's TwoSum: ``s + e == a + b`` exactly, ``s = fl(a + b)`` (Lemma 1)."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def compress(terms, shape, starts=None) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """``LIMBS`` limbs and an upper bound ``err`` with ``|sum(terms) - sum(limbs)| <= err``.

    Each term is added through a TwoSum cascade over the limbs from limb ``starts[i]`` on (a
    small term may skip the top limbs: the invariant holds wherever the cascade starts); only the
    carry out of the last limb is dropped (Lemma 2).  The dropped carries are summed in plain
    float64 (nonnegative terms, no underflow loss in sums) and the sum is raised by
    ``2 gamma(n + 1)`` relative, rounded up.  A second pass over the limbs renormalises them."""
    err, count = np.zeros(shape), 0
    for _ in range(2):
        limbs = [np.zeros(shape) for _ in range(LIMBS)]
        for index, term in enumerate(terms):
            carry = np.broadcast_to(term, shape)
            for position in range(0 if starts is None else min(starts[index], LIMBS - 1), LIMBS):
                limbs[position], carry = two_sum(limbs[position], carry)
            err = err + np.abs(carry)
            count += 1
        terms, starts = limbs, None
    return tuple(limbs), np.where(err > 0, up(err * (1.0 + 2.0 * gamma(count + 1))), 0.0)


def add(a: Enclosure, b: Enclosure, sign: float = 1.0) -> Enclosure:
    """``a + b`` (``sign=-1``: ``a - b``); negation is exact."""
    shape = np.broadcast_shapes(a.shape, b.shape)
    limbs, err = compress(a.limbs + tuple(sign * limb for limb in b.limbs), shape)
    return Enclosure(limbs, add_up(add_up(np.broadcast_to(a.radius, shape), np.broadcast_to(b.radius, shape)), err))


def veltkamp(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``a == hi + lo`` exactly, each with at most 26 significant bits (Lemma 3)."""
    if np.any(np.abs(a) >= _SPLIT_SAFE):
        raise UnsupportedOpError("a value above 2**995 cannot be split exactly",
                                 fix="rigorous evaluation needs moderate magnitudes")
    gamma = _SPLITTER * a
    hi = gamma + (a - gamma)
    return hi, a - hi


def exact_products(a: np.ndarray, b: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Four float products whose exact sum is ``a * b`` up to an underflow allowance (Lemma 3)."""
    a_parts, b_parts = veltkamp(a), veltkamp(b)
    products = [x * y for x in a_parts for y in b_parts]
    shape = np.broadcast_shapes(np.shape(a), np.shape(b))
    allowance = np.zeros(shape)
    for p in products:  # a half-product below the normal range may have been rounded by <= ETA/2
        allowance = allowance + np.where(np.abs(p) < _PRODUCT_SAFE, ETA, 0.0)
    return products, allowance


def scale(x: Enclosure, c: Enclosure) -> Enclosure:
    """``x * c`` elementwise (broadcast), ``c`` an enclosure of constants (Lemma 4):
    ``|xc - mx mc| <= rx (|mc| + rc) + |mx| rc``."""
    shape = np.broadcast_shapes(x.shape, c.shape)
    terms, starts, allowance = [], [], np.zeros(shape)
    for i, xl in enumerate(x.limbs):
        for j, cl in enumerate(c.limbs):
            if i + j >= LIMBS:   # ~2**(-53 LIMBS) relative: bounded, not computed
                allowance = add_up(allowance, up(np.abs(xl) * np.abs(cl)))
                continue
            products, extra = exact_products(xl, cl)
            terms += products
            starts += [i + j] * len(products)
            allowance = add_up(allowance, extra)
    limbs, err = compress(terms, shape, starts)
    c_abs, x_abs = add_up(_abs_up(c), c.radius), _abs_up(x)
    radius = add_up(up(x.radius * c_abs), up(x_abs * c.radius))
    return Enclosure(limbs, add_up(add_up(radius, err), allowance))


def from_interval(low: np.ndarray, high: np.ndarray) -> Enclosure:
    """An enclosure of every real in ``[low, high]`` (floats, low <= high)."""
    mid = 0.5 * low + 0.5 * high
    radius = np.maximum(add_up(high, -mid), add_up(mid, -low))
    return Enclosure((mid,) + tuple(np.zeros_like(mid) for _ in range(LIMBS - 1)), radius)


def constant(mids, radii) -> Enclosure:
    """Enclosure of rationals: each exact value within ``radii`` (Fractions) of ``mids`` (Fractions)."""
    mids = np.asarray(mids, dtype=object)
    flat_mid, flat_rad = mids.ravel(), np.asarray(radii, dtype=object).ravel()
    limbs, rest = [], [Fraction(v) for v in flat_mid]
    for _ in range(LIMBS):
        limb = [float(v) for v in rest]
        rest = [v - Fraction(f) for v, f in zip(rest, limb)]
        limbs.append(np.array(limb, dtype=np.float64).reshape(mids.shape))
    radius = [float_up(abs(r) + Fraction(q)) for r, q in zip(rest, flat_rad)]
    return Enclosure(tuple(limbs), np.array(radius, dtype=np.float64).reshape(mids.shape))


def float_up(q: Fraction) -> float:
    """The smallest float64 >= q."""
    f = float(q)
    return float(np.nextafter(f, np.inf)) if Fraction(f) < q else f


def _abs_up(x: Enclosure) -> np.ndarray:
    """An upper bound on ``|sum(limbs)|`` (the midpoint's magnitude)."""
    return np.maximum(np.abs(_sum_up(x.limbs)), np.abs(_sum_down(x.limbs)))


def _sum_up(limbs) -> np.ndarray:
    total = limbs[0]
    for limb in limbs[1:]:
        total = add_up(total, limb)
    return total


def _sum_down(limbs) -> np.ndarray:
    total = limbs[0]
    for limb in limbs[1:]:
        total = add_down(total, limb)
    return total


def _finite(values: np.ndarray) -> None:
    if not np.all(np.isfinite(values)):
        raise UnsupportedOpError("inf or NaN has no exact value", fix="rigorous evaluation needs finite numbers")
