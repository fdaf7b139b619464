"""Run-time values and the evaluation context shared by every op implementation.

Batch convention: a *batched* value (one derived from the network input) holds
``(B, *per_sample_shape)``; a constant holds its ONNX shape with no batch axis.
Ops reason about per-sample shapes and axes and use the helpers below to map
them onto the arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Callable, Sequence

import numpy as np

from .. import exact as rational
from ..errors import ShapeError, UnsupportedOpError, UsageError


@dataclass(frozen=True, eq=False)
class Value:
    """An array plus whether its first axis is the batch axis."""

    data: np.ndarray
    batched: bool = False

    @property
    def shape(self) -> tuple[int, ...]:
        """The per-sample (ONNX) shape."""
        return tuple(self.data.shape[1:] if self.batched else self.data.shape)

    @property
    def rank(self) -> int:
        return self.data.ndim - int(self.batched)

    def axis(self, axis: int) -> int:
        """The array axis of per-sample axis ``axis`` (negative counts from the end)."""
        if not -self.rank <= axis < self.rank:
            raise ShapeError(f"axis {axis} is out of range for a tensor of shape {self.shape}")
        return axis % self.rank + int(self.batched)

    def per_sample(self, function: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """Apply a whole-tensor ``function`` (e.g. Conv on ``(N, C, H, W)``) per sample.

        The batch axis is merged into the tensor's own first axis and split again.
        """
        if not self.batched:
            return function(self.data)
        batch, own = self.data.shape[0], self.data.shape[1]
        result = function(self.data.reshape((batch * own,) + self.data.shape[2:]))
        return result.reshape((batch, own) + result.shape[1:])

    def constant(self, what: str) -> np.ndarray:
        """The data of an operand that must not depend on the network input."""
        if self.batched:
            raise UnsupportedOpError(f"{what} depends on the network input",
                                     fix=f"nnequiv needs {what} to be a constant")
        return self.data


def aligned(values: Sequence[Value]) -> list[np.ndarray]:
    """Arrays ready for numpy broadcasting with ONNX semantics on the per-sample shapes.

    Batched arrays get size-1 axes inserted after the batch axis up to the largest
    per-sample rank; numpy left-pads constants, which lands their leading axes
    opposite the batch axis.
    """
    if not any(v.batched for v in values):
        return [v.data for v in values]
    rank = max(v.rank for v in values)
    arrays = []
    for v in values:
        data = v.data
        if v.batched and v.rank < rank:
            data = data.reshape(data.shape[:1] + (1,) * (rank - v.rank) + data.shape[1:])
        arrays.append(data)
    return arrays


def to_batched(value: Value, batch: int) -> np.ndarray:
    """``value`` as a ``(batch, *shape)`` array (constants are broadcast)."""
    if value.batched:
        return value.data
    return np.broadcast_to(value.data, (batch,) + value.data.shape)


@dataclass(frozen=True)
class OpContext:
    """What an op needs besides its node and inputs.

    ``exact`` selects rational arithmetic: float tensors are object arrays of
    Fractions instead of float64 arrays.  The same op code serves both modes by
    going through :meth:`number`, :meth:`tensor`, :meth:`sqrt` and :meth:`exp`.
    """

    opset: int = 17
    exact: bool = False

    def number(self, value: float) -> float | Fraction:
        """A scalar attribute in the arithmetic of this mode (exact value of the float)."""
        if not self.exact:
            return float(value)
        try:
            return Fraction(value)
        except (ValueError, OverflowError):
            raise UsageError(f"attribute value {value!r} has no exact value",
                             fix="exact evaluation needs finite attributes") from None

    def tensor(self, array: Any) -> np.ndarray:
        """A stored tensor in the arithmetic of this mode; integer and bool tensors stay as they are."""
        array = np.asarray(array)
        if array.dtype.kind in "iub":
            return array.astype(np.int64) if array.dtype.kind in "iu" else array
        if self.exact:
            return rational.to_fractions(array)
        return array.astype(np.float64)

    def sqrt(self, array: np.ndarray) -> np.ndarray:
        return rational.sqrt_array(array) if self.exact else np.sqrt(array)

    def exp(self, array: np.ndarray) -> np.ndarray:
        return rational.exp_array(array) if self.exact else np.exp(array)
