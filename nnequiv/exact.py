"""Rational arithmetic helpers: numpy object arrays of :class:`fractions.Fraction`.

Every float converts exactly (``Fraction(float)`` is the float's exact value).
The two irrational functions the op set needs, ``sqrt`` and ``exp``, are
approximated to about :data:`DIGITS` significant decimal digits; callers must
report that their result is no longer exact.
"""

from __future__ import annotations

import decimal
import math
from fractions import Fraction
from typing import Any

import numpy as np

__all__ = ["DIGITS", "as_float", "exp_array", "sqrt_array", "to_fractions"]

DIGITS = 60
_SQRT_BITS = 256  # fractional bits kept by the integer square root

_to_fraction = np.frompyfunc(lambda v: v if isinstance(v, Fraction) else Fraction(v), 1, 1)


def to_fractions(values: Any) -> np.ndarray:
    """An object array of Fractions holding the exact values of ``values`` (floats, ints or Fractions)."""
    array = np.asarray(values)
    if array.dtype == object:
        result = _to_fraction(array) if array.size else array.copy()
    elif array.dtype.kind in "fiub":
        # .tolist() yields Python floats/ints, whose Fraction is exact
        flat = [Fraction(v) for v in array.ravel().tolist()]
        result = np.empty(array.size, dtype=object)
        result[:] = flat
        result = result.reshape(array.shape)
    else:
        raise TypeError(f"cannot take the exact value of a {array.dtype} array")
    return np.asarray(result, dtype=object).reshape(array.shape)


def as_float(values: np.ndarray) -> np.ndarray:
    """Nearest float64 of each rational (``float(Fraction)`` rounds correctly)."""
    return np.asarray(values, dtype=object).astype(np.float64)


def _sqrt(value: Fraction) -> Fraction:
    if value < 0:
        raise ValueError(f"square root of a negative number {float(value)}")
    # sqrt(p/q) = sqrt(p*q)/q; isqrt of the scaled value keeps _SQRT_BITS fractional bits
    p, q = value.numerator, value.denominator
    scale = 1 << _SQRT_BITS
    return Fraction(math.isqrt(p * q * scale * scale), q * scale)


def _exp(value: Fraction) -> Fraction:
    with decimal.localcontext() as context:
        context.prec = DIGITS
        context.Emax, context.Emin = decimal.MAX_EMAX, decimal.MIN_EMIN
        exponent = decimal.Decimal(value.numerator) / decimal.Decimal(value.denominator)
        return Fraction(exponent.exp())


_sqrt_u = np.frompyfunc(_sqrt, 1, 1)
_exp_u = np.frompyfunc(_exp, 1, 1)


def sqrt_array(values: np.ndarray) -> np.ndarray:
    """Elementwise square root of rationals, truncated to ``_SQRT_BITS`` fractional bits."""
    return np.asarray(_sqrt_u(to_fractions(values)), dtype=object)


def exp_array(values: np.ndarray) -> np.ndarray:
    """Elementwise ``exp`` of rationals, correct to :data:`DIGITS` significant digits."""
    return np.asarray(_exp_u(to_fractions(values)), dtype=object)
