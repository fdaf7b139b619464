"""Decorator registries keyed by name (ONNX op names, evidence kinds): one helper for all tables."""

from __future__ import annotations

from typing import Callable, TypeVar

F = TypeVar("F", bound=Callable)


def registrar(table: dict[str, F], what: str) -> Callable[..., Callable[[F], F]]:
    """``@decorator(*names)`` filing the decorated function under each name in ``table``;
    a name registered twice is an error (``what`` names the kind of entry in the message)."""
    def by_names(*names: str) -> Callable[[F], F]:
        def register(function: F) -> F:
            for name in names:
                if name in table:
                    raise ValueError(f"{what} {name} is registered twice")
                table[name] = function
            return function
        return register
    return by_names
