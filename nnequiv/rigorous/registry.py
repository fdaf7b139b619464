"""Enclosure rules keyed by ONNX op name (``@rule("Conv")``), in the style of :mod:`nnequiv.ops`.

A rule is ``fn(node, args) -> Enclosure``: ``args`` holds, per node input, an
:class:`~.expansion.Enclosure` (the value depends on the network input), a float64/int64
array (a constant: initializer or constant subgraph), or None (omitted optional input).
Per-sample tensors carry no batch axis.
"""

from __future__ import annotations

from typing import Callable

from ..errors import UnsupportedOpError
from ..registering import registrar

_RULES: dict[str, Callable] = {}


rule = registrar(_RULES, "enclosure rule for")


def lookup_rule(op: str) -> Callable:
    try:
        return _RULES[op]
    except KeyError:
        raise UnsupportedOpError(f"no rigorous enclosure rule for {op}",
                                 fix=f"rigorous evaluation supports {', '.join(sorted(_RULES))}"
                                     + ("; compare the logits before Softmax" if op == "Softmax" else "")) from None


def supported_rules() -> frozenset[str]:
    return frozenset(_RULES)
