"""Seeded JSON-level and byte-level mutations of a document (certificate fuzzing).

Every mutation is a :class:`Mutation`: a name that says what was done where, and the file bytes.
JSON mutations: delete a key, retype a value, change a number (one ulp, sign, zero, huge, NaN,
Infinity), change a hex float by one ulp or break it, change one digit of a hash, reshape a list
(drop, duplicate, empty, reverse, nest, unwrap), repeat a key with another value (JSON text with
duplicate members: the parser keeps the last).  Byte mutations: random byte flips, truncation.
"""

from __future__ import annotations

import copy
import json
import math
import re
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np

Path_ = tuple[Any, ...]            # keys and list indices from the root

HEX_FLOAT = re.compile(r"^-?0x[0-9a-f]+(\.[0-9a-f]*)?p[+-]?\d+$")
HASH = re.compile(r"^[0-9a-f]{64}$")
RETYPES = (None, True, 0, -1, 1.5, "x", "", [], {})


@dataclass(frozen=True)
class Mutation:
    name: str
    data: bytes
    path: Path_ = ()
    kind: str = ""


def walk(doc: Any, path: Path_ = (), opaque: tuple[str, ...] = ()) -> Iterator[tuple[Path_, Any]]:
    """Every ``(path, value)`` below ``doc`` (the root excluded), depth first; the insides of top-level
    keys in ``opaque`` are not visited (the key itself is)."""
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    for key, value in items:
        yield path + (key,), value
        if not (path == () and key in opaque):
            yield from walk(value, path + (key,), opaque)


def _set(doc: Any, path: Path_, value: Any) -> Any:
    out = copy.deepcopy(doc)
    parent = out
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return out


def _delete(doc: Any, path: Path_) -> Any:
    out = copy.deepcopy(doc)
    parent = out
    for key in path[:-1]:
        parent = parent[key]
    del parent[path[-1]]
    return out


def _dumps(doc: Any) -> bytes:
    return json.dumps(doc, allow_nan=True).encode()


def _number_variants(value: float | int) -> list[tuple[str, Any]]:
    if isinstance(value, bool):
        return [("negated", not value)]
    if isinstance(value, int):
        return [("plus1", value + 1), ("minus1", value - 1), ("negated", -value - 1), ("huge", 2 ** 63),
                ("float", float(value) + 0.5)]
    return [("next_up", math.nextafter(value, math.inf)), ("next_down", math.nextafter(value, -math.inf)),
            ("negated", -value if value else -1.0), ("zero", 0.0), ("huge", 1e308), ("nan", math.nan),
            ("inf", math.inf), ("-inf", -math.inf), ("int", int(value) if math.isfinite(value) else 0)]


def _hex_variants(text: str) -> list[tuple[str, Any]]:
    x = float.fromhex(text)
    return [("next_up", math.nextafter(x, math.inf).hex()), ("next_down", math.nextafter(x, -math.inf).hex()),
            ("negated", (-x if x else -1.0).hex()), ("decimal", repr(x)), ("broken", text[:-1] + "z"),
            ("nan", "nan"), ("inf", "inf"), ("overflow", "0x1p+99999"), ("empty", "")]


def _string_variants(text: str) -> list[tuple[str, Any]]:
    if HASH.match(text):
        flipped = text[:-1] + ("0" if text[-1] != "0" else "1")
        return [("hash_digit", flipped), ("hash_short", text[:-2]), ("hash_upper", text.upper())]
    if HEX_FLOAT.match(text):
        return _hex_variants(text)
    return [("renamed", text + "_x"), ("empty", "")]


def _list_variants(value: list) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = [("emptied", []), ("nested", [value])]
    if value:
        out += [("dropped_last", value[:-1]), ("duplicated_first", [value[0]] + value),
                ("unwrapped", value[0])]
    if len(value) > 1:
        out.append(("reversed", value[::-1]))
    return out


def json_mutations(doc: dict[str, Any], opaque: tuple[str, ...] = ()) -> list[Mutation]:
    """Every single-point mutation of ``doc`` (deterministic, no randomness needed); inside the top-level
    keys in ``opaque`` nothing is mutated (only the key as a whole)."""
    found: list[Mutation] = []
    for path, value in walk(doc, (), opaque):
        where = "/".join(map(str, path))
        if not isinstance(path[-1], int):
            found.append(Mutation(f"delete {where}", _dumps(_delete(doc, path)), path, "delete"))
            other = _first_different(value)
            found.append(Mutation(f"duplicate key {where}", _duplicate_key_text(doc, path, other), path,
                                  "duplicate_key"))
        for new in RETYPES:
            if type(new) is not type(value):
                found.append(Mutation(f"retype {where} -> {json.dumps(new)}", _dumps(_set(doc, path, new)),
                                      path, "retype"))
        if isinstance(value, (int, float)):
            variants = _number_variants(value)
        elif isinstance(value, str):
            variants = _string_variants(value)
        elif isinstance(value, list):
            variants = _list_variants(value)
        else:
            variants = []
        for label, new in variants:
            found.append(Mutation(f"{label} {where}", _dumps(_set(doc, path, new)), path, label))
    return found


def _first_different(value: Any) -> Any:
    return next(v for v in ("other", 0, None) if v != value)


def _duplicate_key_text(doc: Any, path: Path_, other: Any) -> bytes:
    """JSON text of ``doc`` whose object at ``path[:-1]`` repeats key ``path[-1]`` with ``other`` LAST."""
    def enc(node: Any, here: Path_) -> str:
        if isinstance(node, dict):
            members = [f"{json.dumps(k)}: {enc(v, here + (k,))}" for k, v in node.items()]
            if here == path[:-1]:
                members.append(f"{json.dumps(path[-1])}: {json.dumps(other)}")
            return "{" + ", ".join(members) + "}"
        if isinstance(node, list):
            return "[" + ", ".join(enc(v, here + (i,)) for i, v in enumerate(node)) + "]"
        return json.dumps(node, allow_nan=True)
    return enc(doc, ()).encode()


def byte_mutations(data: bytes, seed: int, count: int) -> list[Mutation]:
    """``count`` random byte-flip mutations (1 to 8 flips each) and truncations of ``data``."""
    rng = np.random.default_rng(seed)
    found = []
    for k in range(count):
        flipped = bytearray(data)
        for _ in range(int(rng.integers(1, 9))):
            flipped[int(rng.integers(0, len(data)))] = int(rng.integers(0, 256))
        found.append(Mutation(f"byte flips #{k}", bytes(flipped), (), "bytes"))
    for cut in sorted({int(c) for c in rng.integers(0, len(data), 6)} | {0, len(data) - 1}):
        found.append(Mutation(f"truncated at {cut}", data[:cut], (), "truncated"))
    return found
