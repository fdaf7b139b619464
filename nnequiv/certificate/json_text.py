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
        inner = " " * (indent * (depth + 1))
        items = ",\n".join(f"{inner}{json.dumps(key)}: {_render(item, depth + 1, indent)}"
                           for key, item in value.items())
        return "{\n" + items + "\n" + " " * (indent * depth) + "}"
    if isinstance(value, (list, tuple)) and value and any(isinstance(v, (dict, list, tuple)) for v in value):
        inner = " " * (indent * (depth + 1))
        items = ",\n".join(inner + _render(item, depth + 1, indent) for item in value)
        return "[\n" + items + "\n" + " " * (indent * depth) + "]"
    return json.dumps(value, allow_nan=False, separators=(", ", ": "))
