"""The trusted checker.  It re-verifies certificates using only: the IR and ONNX
reader, the interpreter's shape inference and window geometry, lowering to the
piecewise-linear form, and the rigorous bound rules in this package.  It imports no
solver, no compression pass and no search code (a test enforces this).  ``verify`` is
imported lazily so the bound modules can be used alone."""

from __future__ import annotations

from typing import Any

__all__ = ["CheckReport", "verify"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import verification as module

        return getattr(module, name)
    raise AttributeError(name)
