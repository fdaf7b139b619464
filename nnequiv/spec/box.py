"""Input boxes over the flattened network input, with exact float64 bounds.

A :class:`Box` is the set ``{x : lower[i] <= x[i] <= upper[i] for all i}`` over
the *flattened* (C order) per-sample network input.  Its bounds are float64
numbers and are taken as their exact real values.

Outward rounding -- the verified domain is a superset of the stated one
----------------------------------------------------------------------
Users state bounds as decimals (``0.1``, ``1e-3``) or as exact rationals.  Most
of those are not float64 numbers.  nnequiv never rounds a stated bound
*inward*: a lower bound is rounded *down* and an upper bound *up* to the
nearest float64 (decimals are parsed exactly with :class:`fractions.Fraction`,
then the neighbouring float is chosen with :func:`math.nextafter`).  So the box
that is verified always CONTAINS the stated real interval; it is never a
subset of it.  Float inputs (Python ``float``, numpy float16/32/64) are already
exact and are kept as they are.  Emptiness (``lower > upper``) is checked on
the exact stated values, before rounding.

All user-caused problems raise :class:`~nnequiv.errors.SpecError`.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass
from decimal import Decimal, Inexact, localcontext
from fractions import Fraction
from numbers import Rational
from typing import Any, Iterable, Mapping

import numpy as np

from ..hexfloat import parse_hex
from ..errors import SpecError

__all__ = ["Box", "parse_decimal", "to_fraction", "round_down", "round_up", "describe_number",
           "loads_exact", "nearest_float", "brief"]

_MAX = sys.float_info.max
_MAX_RATIO = _MAX.as_integer_ratio()  # (max float as an integer, 1)
_MAX_DIGITS = 4000          # below CPython's int/str conversion limit (4300)
_MAX_EXPONENT = 10_000      # |exponent| cap for decimal literals (keeps 10**e cheap)
_BOX_FORMAT = "nnequiv-box"


# --------------------------------------------------------------------------- exact numbers

def parse_decimal(text: str) -> Fraction:
    """Parse a decimal literal (``-0.5``, ``.5``, ``1e-3``, ``+2``, ``5.``) exactly.

    Raises :class:`SpecError` for anything else (including ``nan``/``inf``,
    hex floats, ``1/3``, underscores, absurdly long literals or exponents).
    """
    if not isinstance(text, str):
        raise SpecError(f"expected a number as text, got {type(text).__name__}")
    s = text.strip()
    shown = s if len(s) <= 40 else s[:37] + "..."
    if not s:
        raise SpecError("empty number")
    sign = 1
    i = 0
    if s[0] in "+-":
        sign = -1 if s[0] == "-" else 1
        i = 1
    j = i
    while j < len(s) and s[j].isdigit() and s[j].isascii():
        j += 1
    int_digits = s[i:j]
    frac_digits = ""
    if j < len(s) and s[j] == ".":
        k = j + 1
        while k < len(s) and s[k].isdigit() and s[k].isascii():
            k += 1
        frac_digits = s[j + 1:k]
        j = k
    if not int_digits and not frac_digits:
        raise SpecError(f"not a number: {shown!r}")
    exponent = 0
    if j < len(s) and s[j] in "eE":
        k = j + 1
        if k < len(s) and s[k] in "+-":
            k += 1
        m = k
        while m < len(s) and s[m].isdigit() and s[m].isascii():
            m += 1
        if m == k:
            raise SpecError(f"not a number: {shown!r} (exponent has no digits)")
        if m - k > 8:
            raise SpecError(f"exponent out of range in {shown!r}")
        exponent = int(s[j + 1:m])
        j = m
    if j != len(s):
        raise SpecError(f"not a number: {shown!r}")
    digits = (int_digits + frac_digits).lstrip("0") or "0"
    if len(digits) > _MAX_DIGITS:
        raise SpecError(f"number literal has more than {_MAX_DIGITS} digits")
    exponent -= len(frac_digits)
    if abs(exponent) > _MAX_EXPONENT:
        if digits == "0":
            return Fraction(0)
        raise SpecError(f"exponent out of range in {shown!r} (|exponent| > {_MAX_EXPONENT})")
    mantissa = sign * int(digits)
    if exponent >= 0:
        return Fraction(mantissa * 10 ** exponent)
    return Fraction(mantissa, 10 ** -exponent)


def to_fraction(value: Any, what: str = "value") -> Fraction:
    """Exact rational value of a finite number (float, int, Fraction, Decimal, numpy scalar, str).

    ``what`` names the value in the error message.  NaN, infinities, booleans,
    ``None`` and non-numbers raise :class:`SpecError`.
    """
    if isinstance(value, (bool, np.bool_)) or value is None:
        raise SpecError(f"{what} must be a number, got {brief(value)}")
    if isinstance(value, str):
        try:
            return parse_decimal(value)
        except SpecError as exc:
            raise SpecError(f"{what}: {exc.message}") from None
    if isinstance(value, (float, np.floating)):
        f = float(value)  # float16/32 -> float64 is exact
        if math.isnan(f):
            raise SpecError(f"{what} is NaN")
        if math.isinf(f):
            raise SpecError(f"{what} is infinite ({f})")
        return Fraction(f)
    if isinstance(value, (int, np.integer)):
        return Fraction(int(value))
    if isinstance(value, Rational):
        return Fraction(value.numerator, value.denominator)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise SpecError(f"{what} is not finite ({value})")
        return Fraction(value)
    raise SpecError(f"{what} must be a number, got {type(value).__name__}")


def _nearest(q: Fraction) -> float:
    """Round-to-nearest of a rational with ``|q| <= max float`` (correctly rounded int division)."""
    return q.numerator / q.denominator


def nearest_float(q: Fraction) -> float | None:
    """The float64 nearest to ``q`` (ties to even), or None if ``q`` is beyond the float range."""
    try:
        f = q.numerator / q.denominator
    except OverflowError:
        return None
    return f if math.isfinite(f) else None


def round_down(q: Fraction) -> float:
    """Largest float64 ``<= q`` (``-inf`` when ``q`` is below ``-max float``)."""
    n, d = q.numerator, q.denominator
    if n > _MAX_RATIO[0] * d:  # q > max float
        return _MAX
    if -n > _MAX_RATIO[0] * d:
        return -math.inf
    f = n / d  # correctly rounded
    a, b = f.as_integer_ratio()
    if a * d > n * b:  # f > q (exact integer comparison; b, d > 0)
        f = math.nextafter(f, -math.inf)
    return f


def round_up(q: Fraction) -> float:
    """Smallest float64 ``>= q`` (``inf`` when ``q`` is above ``max float``)."""
    return -round_down(-q) + 0.0  # + 0.0 turns -0.0 into 0.0


# --------------------------------------------------------------------------- conversion

def _float_array(values: Any, direction: int, what: str) -> tuple[np.ndarray, list[Fraction] | None]:
    """Float64 array for ``values``, rounding inexact entries outward.

    ``direction`` is -1 for lower bounds (round down), +1 for upper bounds.
    Returns the array and, when some entry was not a float, the exact values
    (so emptiness can be judged before rounding).
    """
    if isinstance(values, np.ndarray) and values.dtype.kind == "f" and values.dtype.itemsize <= 8:
        return np.array(values, dtype=np.float64).reshape(-1), None
    if isinstance(values, np.ndarray) and values.dtype.kind in "iu":
        if values.size == 0 or int(np.max(np.abs(values.astype(object)))) <= 2 ** 53:
            return values.astype(np.float64).reshape(-1), None
    try:
        flat = np.asarray(values, dtype=object).reshape(-1)
    except (ValueError, TypeError) as exc:  # ragged nesting and similar
        raise SpecError(f"{what} bounds are not a rectangular array of numbers ({exc})") from None
    if all(type(v) is float for v in flat):
        return np.array(list(flat), dtype=np.float64), None
    exact = []
    for i, v in enumerate(flat):
        if isinstance(v, (list, tuple, np.ndarray)):
            raise SpecError(f"{what} bounds are not a rectangular array of numbers (index {i} is a sequence)")
        exact.append(to_fraction(v, f"{what} bound at index {i}"))
    rounded = [round_down(q) if direction < 0 else round_up(q) for q in exact]
    for i, r in enumerate(rounded):
        if math.isinf(r):
            raise SpecError(f"{what} bound at index {i} = {describe_number(exact[i])} is outside the float64 range")
    return np.array(rounded, dtype=np.float64), exact


def _shape(values: Any, what: str) -> tuple[int, ...]:
    try:
        return np.shape(values)
    except (ValueError, TypeError) as exc:
        raise SpecError(f"{what} bounds are not a rectangular array of numbers ({exc})") from None


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=np.float64, copy=True) + 0.0  # also turns -0.0 into 0.0 (same real)
    a.setflags(write=False)
    return a


def _sub_up(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a - b`` rounded up (elementwise), via the error-free TwoSum transformation."""
    with np.errstate(over="ignore", invalid="ignore"):
        nb = -b
        s = a + nb
        bb = s - a
        err = (a - (s - bb)) + (nb - bb)
        up = np.isfinite(s) & (err > 0)
        return np.where(up, np.nextafter(s, np.inf), s)


def _midpoint(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """A float in ``[lo, hi]`` close to the midpoint (never overflows)."""
    return np.clip(lo / 2 + hi / 2, lo, hi)


def _show(x: float) -> str:
    return repr(float(x))


# --------------------------------------------------------------------------- Box

@dataclass(frozen=True, eq=False)
class Box:
    """Axis-aligned box over the flattened network input; exact float64 bounds.

    Construct with :meth:`Box.of` (or ``Box(lower, upper)``, which validates the
    same way).  ``lower`` and ``upper`` are 1-D read-only float64 arrays.
    """

    lower: np.ndarray
    upper: np.ndarray

    def __post_init__(self) -> None:
        lo_shape, hi_shape = _shape(self.lower, "lower"), _shape(self.upper, "upper")
        if lo_shape != hi_shape:
            raise SpecError(f"lower and upper bounds differ in shape: {lo_shape} vs {hi_shape}")
        lo, lo_exact = _float_array(self.lower, -1, "lower")
        hi, hi_exact = _float_array(self.upper, +1, "upper")
        if lo.size == 0:
            raise SpecError("a box needs at least one dimension (got empty bounds)")
        _check_bounds(lo, hi, lo_exact, hi_exact)
        object.__setattr__(self, "lower", _readonly(lo))
        object.__setattr__(self, "upper", _readonly(hi))

    # construction -----------------------------------------------------------

    @classmethod
    def of(cls, lower: Any, upper: Any) -> "Box":
        """Validated box.  Entries may be floats (kept exactly) or exact numbers
        (int, Fraction, Decimal, decimal strings), which are rounded outward."""
        return cls(lower, upper)

    @classmethod
    def uniform(cls, lo: Any, hi: Any, size: int) -> "Box":
        """The box ``[lo, hi]^size``."""
        size = _check_size(size)
        return cls([lo] * size, [hi] * size)

    def broadcast_to(self, size: int) -> "Box":
        """This box repeated to ``size`` dimensions (only for a box of size 1)."""
        size = _check_size(size)
        if self.size == size:
            return self
        if self.size != 1:
            raise SpecError(f"cannot broadcast a box of size {self.size} to size {size} "
                            f"(only size-1 boxes broadcast)")
        return Box(np.repeat(self.lower, size), np.repeat(self.upper, size))

    # queries ----------------------------------------------------------------

    @property
    def size(self) -> int:
        return int(self.lower.shape[0])

    def __len__(self) -> int:
        return self.size

    @property
    def center(self) -> np.ndarray:
        """A float point inside the box, at (or next to) the midpoint."""
        return _readonly(_midpoint(self.lower, self.upper))

    @property
    def radius(self) -> np.ndarray:
        """Half-widths rounded up: ``[center - radius, center + radius]`` contains the box
        in real arithmetic."""
        c = self.center
        return _readonly(np.maximum(_sub_up(self.upper, c), _sub_up(c, self.lower)))

    @property
    def widths(self) -> np.ndarray:
        """``upper - lower`` rounded up (``inf`` if the difference overflows)."""
        return _readonly(_sub_up(self.upper, self.lower))

    def contains(self, x: Any, tol: float = 0.0) -> bool | np.ndarray:
        """Whether ``x`` lies in the box enlarged by ``tol`` on every side.

        A 1-D ``x`` of length ``size`` is one point -> ``bool``.  An array of
        shape ``(n, ...)`` whose trailing axes hold ``size`` elements is a batch
        -> bool array of length ``n``.  NaN is never contained.
        """
        a = np.asarray(x, dtype=np.float64)
        tol = float(tol)
        if not (tol >= 0 and math.isfinite(tol)):
            raise SpecError(f"tolerance must be finite and >= 0, got {tol}")
        if a.ndim == 1 and a.size == self.size:
            pts, single = a.reshape(1, -1), True
        elif a.ndim >= 2 and int(np.prod(a.shape[1:])) == self.size:
            pts, single = a.reshape(a.shape[0], -1), False
        else:
            raise SpecError(f"point of shape {a.shape} does not fit a box of size {self.size}")
        ok = np.all((pts >= self.lower - tol) & (pts <= self.upper + tol), axis=1)
        return bool(ok[0]) if single else ok

    def corners(self, max_count: int, rng: np.random.Generator | int | None = None) -> np.ndarray:
        """Up to ``max_count`` distinct vertices, shape ``(k, size)``.

        All vertices if there are at most ``max_count`` of them (flat dimensions
        do not multiply the count); otherwise the all-lower and all-upper vertex
        plus random ones (seeded by ``rng``, default seed 0).
        """
        if isinstance(max_count, bool) or not isinstance(max_count, (int, np.integer)) or max_count < 1:
            raise SpecError(f"max_count must be a positive integer, got {brief(max_count)}")
        free = np.flatnonzero(self.lower < self.upper)
        d = len(free)
        if d < 63 and (1 << d) <= max_count:
            bits = (np.arange(1 << d, dtype=np.int64)[:, None] >> np.arange(d, dtype=np.int64)) & 1
            return self._vertices(free, bits.astype(bool))
        gen = np.random.default_rng(0 if rng is None else rng)
        rows = [np.zeros(d, dtype=bool), np.ones(d, dtype=bool)]
        seen = {r.tobytes() for r in rows}
        attempts = 0
        while len(rows) < max_count and attempts < 20 * max_count:
            attempts += 1
            r = gen.integers(0, 2, d).astype(bool)
            if r.tobytes() not in seen:
                seen.add(r.tobytes())
                rows.append(r)
        return self._vertices(free, np.array(rows[:max_count]))

    def _vertices(self, free: np.ndarray, bits: np.ndarray) -> np.ndarray:
        out = np.repeat(self.lower[None, :], len(bits), axis=0)
        out[:, free] = np.where(bits, self.upper[free], self.lower[free])
        return out

    def sample(self, n: int, rng: np.random.Generator | int | None = None) -> np.ndarray:
        """``n`` points drawn uniformly from the box, shape ``(n, size)``, all inside."""
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise SpecError(f"sample count must be a non-negative integer, got {brief(n)}")
        gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        c = _midpoint(self.lower, self.upper)
        half = self.upper / 2 - self.lower / 2
        u = gen.uniform(-1.0, 1.0, (int(n), self.size))
        return np.clip(c + half * u, self.lower, self.upper)

    def split(self, dim: int) -> tuple["Box", "Box"]:
        """Split at a float midpoint ``m`` of dimension ``dim``: ``[lo, m]`` and ``[m, hi]``.

        ``m`` is a float64 in ``[lo, hi]``, so the halves are exact boxes, lie inside
        this one and together cover it.  A flat dimension yields two copies.
        """
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or not 0 <= dim < self.size:
            raise SpecError(f"split dimension {brief(dim)} out of range for a box of size {self.size}")
        lo, hi = self.lower[dim], self.upper[dim]
        m = float(_midpoint(np.float64(lo), np.float64(hi)))
        left_hi, right_lo = self.upper.copy(), self.lower.copy()
        left_hi[dim] = m
        right_lo[dim] = m
        return Box(self.lower, left_hi), Box(right_lo, self.upper)

    # equality / display -----------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Box):
            return NotImplemented
        return bool(np.array_equal(self.lower, other.lower) and np.array_equal(self.upper, other.upper))

    def __hash__(self) -> int:
        return hash((self.lower.tobytes(), self.upper.tobytes()))

    def __repr__(self) -> str:
        opts = dict(threshold=8, edgeitems=3, precision=6)
        return (f"Box(size={self.size}, lower={np.array2string(self.lower, **opts)}, "
                f"upper={np.array2string(self.upper, **opts)})")

    # JSON -------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict.  Each bound is stored twice: ``lower_hex`` (exact,
        ``float.hex``) and ``lower`` (readable shortest decimal)."""
        return {
            "format": _BOX_FORMAT,
            "version": 1,
            "size": self.size,
            "lower": [float(v) for v in self.lower],
            "upper": [float(v) for v in self.upper],
            "lower_hex": [float(v).hex() for v in self.lower],
            "upper_hex": [float(v).hex() for v in self.upper],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | str) -> "Box":
        """Inverse of :meth:`to_json` (accepts the dict or its JSON text).

        Hex values are read when present (exact).  If a readable decimal is also
        present it must agree with the hex (else the file was edited
        inconsistently -> :class:`SpecError`).  Decimals alone are rounded outward.
        """
        if isinstance(data, str):
            data = loads_exact(data)
        if not isinstance(data, Mapping):
            raise SpecError(f"a box must be a JSON object, got {type(data).__name__}")
        allowed = {"format", "version", "size", "lower", "upper", "lower_hex", "upper_hex"}
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise SpecError(f"unknown key(s) in box: {', '.join(map(repr, unknown))}")
        if "format" in data and data["format"] != _BOX_FORMAT:
            raise SpecError(f"box format must be {_BOX_FORMAT!r}, got {brief(data['format'])}")
        if "version" in data and data["version"] != 1:
            raise SpecError(f"unsupported box version {brief(data['version'])} (expected 1)")
        sides = {}
        for side in ("lower", "upper"):
            hexes, decimals = data.get(side + "_hex"), data.get(side)
            if hexes is None and decimals is None:
                raise SpecError(f"box is missing {side!r}")
            sides[side] = _read_hex(hexes, decimals, side) if hexes is not None else decimals
        box = cls(sides["lower"], sides["upper"])
        if "size" in data and data["size"] != box.size:
            raise SpecError(f"box says size {brief(data['size'])} but has {box.size} bounds")
        return box


def _read_hex(hexes: Any, decimals: Any, side: str) -> list[float]:
    if not isinstance(hexes, list):
        raise SpecError(f"{side}_hex must be a list of float.hex() strings")
    if decimals is not None and (not isinstance(decimals, list) or len(decimals) != len(hexes)):
        raise SpecError(f"{side} and {side}_hex must be lists of the same length")
    out = []
    for i, h in enumerate(hexes):
        if not isinstance(h, str):
            raise SpecError(f"{side}_hex[{i}] must be a string, got {brief(h)}")
        try:
            v = parse_hex(h)
        except (ValueError, OverflowError):
            raise SpecError(f"{side}_hex[{i}] is not a hex float: {h[:40]!r}") from None
        if decimals is not None:
            d = decimals[i]
            try:
                near = nearest_float(to_fraction(d)) if not isinstance(d, float) else d
            except SpecError:
                near = None
            if not math.isfinite(v) or near != v:
                raise SpecError(f"{side}[{i}] = {brief(d)} disagrees with {side}_hex[{i}] = {h[:40]} "
                                f"(edit both, or delete the hex list)")
        out.append(v)
    return out


def loads_exact(text: str) -> Any:
    """``json.loads`` that keeps numbers exact (as :class:`Fraction`); NaN/Infinity become
    floats so validation names them.  Errors become :class:`SpecError`."""
    try:
        return json.loads(text, parse_float=parse_decimal, parse_int=parse_decimal,
                          parse_constant=float)
    except json.JSONDecodeError as exc:
        raise SpecError(f"malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise SpecError("malformed JSON: nested too deeply") from None


# --------------------------------------------------------------------------- validation

def _check_size(size: Any) -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise SpecError(f"box size must be a positive integer, got {brief(size)}")
    return int(size)


def _check_bounds(lo: np.ndarray, hi: np.ndarray,
                  lo_exact: list[Any] | None, hi_exact: list[Any] | None) -> None:
    for name, arr in (("lower", lo), ("upper", hi)):
        bad = np.flatnonzero(~np.isfinite(arr))
        if bad.size:
            i = int(bad[0])
            what = "NaN" if np.isnan(arr[i]) else f"infinite ({_show(arr[i])})"
            raise SpecError(f"{name} bound at index {i} is {what}")
    if lo_exact is None and hi_exact is None:
        bad = np.flatnonzero(lo > hi)
        if bad.size:
            i = int(bad[0])
            raise SpecError(f"empty box: lower bound {_show(lo[i])} > upper bound {_show(hi[i])} at index {i}")
        return
    lq: Iterable[Any] = lo_exact if lo_exact is not None else (Fraction(float(v)) for v in lo)
    hq: Iterable[Any] = hi_exact if hi_exact is not None else (Fraction(float(v)) for v in hi)
    for i, (a, b) in enumerate(zip(lq, hq)):
        if a > b:
            raise SpecError(f"empty box: lower bound {describe_number(a)} > upper bound {describe_number(b)} at index {i}")


def brief(value: Any) -> str:
    """Short, always-safe text of a user-given value for error messages (huge numbers included)."""
    if isinstance(value, Fraction) or (isinstance(value, int) and not isinstance(value, bool)):
        return describe_number(Fraction(value))
    try:
        text = repr(value)
    except (ValueError, RecursionError):  # e.g. a list holding a 10000-digit number
        text = f"<{type(value).__name__}>"
    return text if len(text) <= 60 else text[:57] + "..."


def describe_number(q: Fraction) -> str:
    """Short readable text of an exact rational: the integer, the shortest float repr when
    that is exact, else 17 significant digits followed by ``...``."""
    if q.denominator == 1 and abs(q.numerator) < 10 ** 20:
        return str(q.numerator)
    if abs(q) <= _MAX and Fraction(_nearest(q)) == q:
        return repr(_nearest(q))
    with localcontext() as ctx:
        ctx.prec = 17
        ctx.clear_flags()
        value = (Decimal(q.numerator) / Decimal(q.denominator)).normalize()
        inexact = ctx.flags[Inexact]
    return str(value) + ("..." if inexact else "")
