"""ONNX op implementations for the reference interpreter (float64 and exact rational).

Importing this package registers every op; see :mod:`nnequiv.ops.registry`.
"""

from __future__ import annotations

from . import activation, conv, elementwise, linear, norm, pool, scatter, shape  # noqa: F401  (register ops)
from .context import OpContext, Value
from .registry import OpImpl, lookup, register

__all__ = ["OpContext", "OpImpl", "Value", "lookup", "register"]
