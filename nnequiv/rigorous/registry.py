"""Enclosure rules keyed by ONNX op name (``@rule("Conv")``), in the style of :mod:`nnequiv.ops`.

A rule is ``fn(node, args) -> Enclosure``: ``args`` holds, per node input, an
:class:`~.expansion.Enclosure` (the value depends on the network input), a float64/int64
array (a constant: initializer or constant subgraph), or None (omitted optional input).
Per-sample tensors carry no batch axis.
"""

from __future__ import annotations

from typing import Callable

from ..errors import UnsupportedOpError

_RULES: dict[str, Callable] = {}


def rule(*ops: str) -> Callable[[Callable], Callable]:
    def decorate(function: Callable) -> Callable:
        for op in ops:
            if op in _RULES:
                raise ValueError(f"enclosure rule for {op} registered twice")
            _RULES[op] = function
        return function
    return decorate


def lookup_rule(op: str) -> Callable:
    try:
        return _RULES[op]
    except KeyError:
        raise UnsupportedOpError(f"no rigorous enclosure rule for {op}",
                                 fix=f"rigorous evaluation supports {', '.join(sorted(_RULES))}"
                                     + ("; compare the logits before Softmax" if op == "Softmax" else "")) from None


def supported_rules() -> frozenset[str]:
    return frozenset(_RULES)
