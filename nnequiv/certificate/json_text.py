"""Certificate JSON laid out for reading and diffing: objects one key per line, scalar arrays on one line.

``json.dumps(indent=1)`` puts every number of a weight or multiplier list on its own line,
which more than doubles a certificate's size; this layout keeps the structure visible and
the numbers compact.  The text parses to the same document (``json.loads``).
"""

from __future__ import annotations

import json
from typing import Any


def readable_json(document: Any, indent: int = 1) -> str:
    """``document`` as JSON text (NaN and infinities refused, like ``allow_nan=False``)."""
    return _render(document, 0, indent)


def _render(value: Any, depth: int, indent: int) -> str:
    if isinstance(value, dict) and value:
        if not all(isinstance(key, str) for key in value):
            raise TypeError("certificate object keys must be strings")
        items = [f"{json.dumps(key)}: {_render(item, depth + 1, indent)}" for key, item in value.items()]
        return _block("{", items, "}", depth, indent)
    if isinstance(value, (list, tuple)) and any(isinstance(v, (dict, list, tuple)) for v in value):
        return _block("[", [_render(item, depth + 1, indent) for item in value], "]", depth, indent)
    return json.dumps(value, allow_nan=False, separators=(", ", ": "))


def _block(opening: str, items: list[str], closing: str, depth: int, indent: int) -> str:
    """``items`` one per line, indented one level deeper than the brackets."""
    inner = " " * (indent * (depth + 1))
    return opening + "\n" + ",\n".join(inner + item for item in items) + "\n" + " " * (indent * depth) + closing
