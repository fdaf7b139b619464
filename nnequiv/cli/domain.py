"""The input box from the mutually exclusive options ``--box``, ``--box-file`` and ``--vnnlib``."""

from __future__ import annotations

from typing import Any

from ..errors import UsageError


def input_box(size: int, box_text: str | None, box_file: str | None, vnnlib: str | None,
              required: bool = True) -> tuple[Any, Any]:
    """``(box, relation)``: the box (None when no option is given and ``required`` is False) and the
    relation a VNN-LIB file states (None otherwise)."""
    given = [name for name, value in (("--box", box_text), ("--box-file", box_file), ("--vnnlib", vnnlib))
             if value]
    if len(given) > 1 or (required and not given):
        raise UsageError(("give exactly one of --box, --box-file, --vnnlib" if required else
                          "give at most one of --box, --box-file, --vnnlib") +
                         (f" (got {', '.join(given)})" if given else ""))
    if box_text:
        from ..spec.box_file import parse_box_option

        return parse_box_option(box_text, size), None
    if box_file:
        from ..spec.box_file import load_box_json

        return load_box_json(box_file, size), None
    if vnnlib:
        from ..spec.vnnlib import load_vnnlib

        spec = load_vnnlib(vnnlib)
        return spec.box, spec.relation
    return None, None
