"""Box specifications given by the user: the CLI ``--box LO:HI`` and JSON box files.

Decimals are read exactly and rounded outward (lower bounds down, upper bounds
up), so the resulting :class:`~nnequiv.spec.box.Box` contains the stated box.

JSON files hold one object, either

* ``{"lower": [...], "upper": [...]}`` -- lists (nested lists are flattened in
  C order) or scalars, which are broadcast to the input size; or
* ``{"center": [...] | c, "radius": [...] | r}`` -- the box
  ``[center - radius, center + radius]`` computed exactly, then rounded outward; or
* the output of :meth:`Box.to_json` (with ``lower_hex``/``upper_hex``).
"""

from __future__ import annotations

import os
from fractions import Fraction
from typing import Any

import numpy as np

from ..errors import SpecError
from .box import Box, brief, describe_number, loads_exact, parse_decimal, to_fraction

__all__ = ["parse_box_option", "load_box_json", "MAX_BOX_FILE_BYTES"]

MAX_BOX_FILE_BYTES = 50 * 1024 * 1024


def parse_box_option(text: str, size: int) -> Box:
    """``"LO:HI"`` (e.g. ``-1:1``, ``0.1:0.2``, ``-2:-1e-3``) -> the box ``[LO, HI]^size``."""
    if not isinstance(text, str):
        raise SpecError(f"--box expects LO:HI, got {brief(text)}")
    s = text.strip()
    text = brief(text)[1:-1] if len(text) > 60 else text
    if s.startswith("--box"):
        s = s[len("--box"):].lstrip("= ")
    if s.count(":") != 1:
        raise SpecError(f"--box expects LO:HI (one colon), e.g. --box -1:1; got {text!r}")
    lo_text, hi_text = (p.strip() for p in s.split(":"))
    for name, part in (("lower", lo_text), ("upper", hi_text)):
        if not part:
            raise SpecError(f"--box {text!r}: the {name} bound is missing (expected LO:HI, e.g. -1:1)")
    try:
        lo, hi = parse_decimal(lo_text), parse_decimal(hi_text)
    except SpecError as exc:
        raise SpecError(f"--box {text!r}: {exc.message}") from None
    if lo > hi:
        raise SpecError(f"--box {text!r}: lower bound {lo_text} is greater than upper bound {hi_text}")
    try:
        return Box.uniform(lo, hi, size)
    except SpecError as exc:
        raise SpecError(f"--box {text!r}: {exc.message}") from None


def load_box_json(path: str | os.PathLike[str], size: int | None) -> Box:
    """Read a JSON box file for a network with ``size`` flattened inputs.

    ``size=None`` takes the size from the file (scalars then cannot be broadcast).
    """
    where = str(path)
    try:
        return _load(path, size)
    except SpecError as exc:
        raise exc.located(file=where) from None


def _load(path: str | os.PathLike[str], size: int | None) -> Box:
    if size is not None and (isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1):
        raise SpecError(f"input size must be a positive integer, got {brief(size)}")
    try:
        if os.stat(path).st_size > MAX_BOX_FILE_BYTES:
            raise SpecError(f"file is too large (the limit is {MAX_BOX_FILE_BYTES} bytes)")
        with open(path, "rb") as fh:
            raw = fh.read(MAX_BOX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise SpecError("file not found") from None
    except IsADirectoryError:
        raise SpecError("is a directory, not a JSON box file") from None
    except OSError as exc:
        raise SpecError(f"cannot read file: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SpecError(f"not UTF-8 text (invalid byte at offset {exc.start})") from None
    if not text.strip():
        raise SpecError("file is empty (expected a JSON object with lower/upper or center/radius)")
    return box_from_data(loads_exact(text), size)


def box_from_data(data: Any, size: int | None) -> Box:
    """Build a box from parsed JSON (numbers ideally as exact Fractions, see ``loads_exact``)."""
    if not isinstance(data, dict):
        raise SpecError(f"expected a JSON object with lower/upper or center/radius, got {_json_type(data)}")
    if "lower_hex" in data or "upper_hex" in data or "format" in data:
        box = Box.from_json(data)
        return _fit(box, size)
    keys = set(data)
    if keys == {"lower", "upper"}:
        n = _length(data, ("lower", "upper"), size)
        lower = _values(data["lower"], "lower", n)
        upper = _values(data["upper"], "upper", n)
        return Box.of(lower, upper)
    if keys == {"center", "radius"}:
        n = _length(data, ("center", "radius"), size)
        center = _values(data["center"], "center", n)
        radius = _values(data["radius"], "radius", n)
        for i, r in enumerate(radius):
            if r < 0:
                raise SpecError(f"radius[{i}] is negative ({describe_number(r)})")
        return Box.of([c - r for c, r in zip(center, radius)], [c + r for c, r in zip(center, radius)])
    unknown = sorted(keys - {"lower", "upper", "center", "radius"})
    if unknown:
        raise SpecError(f"unknown key(s) {', '.join(map(repr, unknown))}; expected lower/upper or center/radius")
    raise SpecError(f"expected either lower+upper or center+radius, got {', '.join(sorted(keys)) or 'no keys'}")


def _fit(box: Box, size: int | None) -> Box:
    if size is None or box.size == size:
        return box
    if box.size == 1:
        return box.broadcast_to(size)
    raise SpecError(f"wrong number of bounds: expected {size} (the network's flattened input size), "
                    f"got {box.size}")


def _json_type(v: Any) -> str:
    if isinstance(v, list):
        return "a list"
    if isinstance(v, str):
        return "a string"
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "a boolean"
    return "a number"


def _flat(value: Any, key: str) -> list[Any] | None:
    """Flatten a rectangular nest of lists (C order); ``None`` for a scalar."""
    if not isinstance(value, list):
        return None
    try:
        arr = np.array(value, dtype=object)
    except (ValueError, TypeError, RecursionError):
        arr = None
    flat = None if arr is None else list(arr.reshape(-1))
    if flat is None or any(isinstance(v, list) for v in flat):
        raise SpecError(f"{key!r} is not a rectangular array of numbers (nested lists of unequal length?)")
    return flat


def _length(data: dict[str, Any], keys: tuple[str, str], size: int | None) -> int:
    lengths = {k: len(f) for k in keys if (f := _flat(data[k], k)) is not None}
    for k, n in lengths.items():
        if size is not None and n != size:
            raise SpecError(f"{k!r} has the wrong length: expected {size} values (the network's flattened "
                            f"input size), got {n}")
    if len(set(lengths.values())) > 1:
        a, b = keys
        raise SpecError(f"{a!r} and {b!r} differ in length ({lengths[a]} vs {lengths[b]})")
    if size is not None:
        return size
    if not lengths:
        raise SpecError("scalar bounds need the input size to broadcast to; give lists instead")
    return next(iter(lengths.values()))


def _values(value: Any, key: str, n: int) -> list[Fraction]:
    flat = _flat(value, key)
    items = [value] * n if flat is None else flat
    if not items:
        raise SpecError(f"{key!r} is empty")
    return [to_fraction(v, f"{key}[{i}]" if flat is not None else key) for i, v in enumerate(items)]
