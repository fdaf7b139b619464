"""Hexadecimal float text, strictly (certificates and box files store exact floats this way).

``float.fromhex`` also accepts decimal-looking text and reads it as hexadecimal
(``"10"`` is 16.0, ``"0.04"`` is 0.015625); a certificate written with decimals would then
silently state another number.  :func:`parse_hex` accepts only what ``float.hex`` writes
(``[-]0x<hex>[.<hex>]p<exp>``, ``inf``, ``-inf``, ``nan``) and raises ValueError otherwise.
"""

from __future__ import annotations

import re

__all__ = ["parse_hex"]

_HEX = re.compile(r"[+-]?(0x[0-9a-f]+(\.[0-9a-f]*)?(p[+-]?[0-9]+)?|inf|nan)", re.IGNORECASE)


def parse_hex(text: object) -> float:
    if not isinstance(text, str) or len(text) > 64 or not _HEX.fullmatch(text.strip()):
        raise ValueError(f"not a hexadecimal float (as float.hex writes it): {str(text)[:40]!r}")
    return float.fromhex(text)
