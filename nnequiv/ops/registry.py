"""Op registry keyed by ONNX op type (in the style of onnx2torch).

An implementation is ``fn(node, inputs, ctx) -> tuple[np.ndarray, ...]``: ``inputs``
holds one :class:`~nnequiv.ops.context.Value` per node input (``None`` for an
omitted optional input), ``ctx`` is the :class:`~nnequiv.ops.context.OpContext`.
It returns one array per output it computes; the interpreter marks the outputs
batched exactly when some input is batched, so an op must keep the batch axis
first whenever one of its inputs has it.

``SUPPORTED_OPS`` (a frozenset) is computed on access, after ``nnequiv.ops`` has
imported every op module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np

from ..errors import UnsupportedOpError
from ..ir import Node
from .context import OpContext, Value

__all__ = ["OpImpl", "SUPPORTED_OPS", "lookup", "register"]

OpFunction = Callable[[Node, Sequence[Optional[Value]], OpContext], tuple[np.ndarray, ...]]


@dataclass(frozen=True)
class OpImpl:
    op: str
    function: OpFunction
    exact: bool  # False: rational evaluation can only approximate it (sqrt, exp)


_TABLE: dict[str, OpImpl] = {}


def register(*ops: str, exact: bool = True) -> Callable[[OpFunction], OpFunction]:
    """Decorator: ``@register("Gemm")`` makes ``fn`` the implementation of ``Gemm``."""
    def decorate(function: OpFunction) -> OpFunction:
        for op in ops:
            if op in _TABLE:
                raise ValueError(f"op {op} is registered twice")
            _TABLE[op] = OpImpl(op, function, exact)
        return function
    return decorate


def lookup(op: str) -> OpImpl:
    """The implementation of ``op``; UnsupportedOpError if there is none."""
    try:
        return _TABLE[op]
    except KeyError:
        raise UnsupportedOpError(f"unsupported op {op}",
                                 fix=f"supported ops: {', '.join(sorted(_TABLE))}") from None


def __getattr__(name: str) -> frozenset[str]:
    if name == "SUPPORTED_OPS":
        return frozenset(_TABLE)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
