"""The relation two networks ``f`` (original) and ``g`` (compressed) must satisfy on a box.

Semantics (``x`` ranges over the whole input box; ``O`` is the set of chosen
output indices, all outputs when ``outputs is None``):

``eps``
    ``max_{x in box} max_{i in O} |f_i(x) - g_i(x)| <= eps`` (L-infinity norm).

``exact``
    ``f_i(x) = g_i(x)`` for every ``x`` in the box and ``i in O``, in real
    arithmetic (both networks read as exact functions of their stored floats).

``top1``
    ``argmax_{i in O} f_i(x) = argmax_{i in O} g_i(x)`` for every ``x``, read
    strictly: with ``M_f(x) = {i in O : f_i(x) = max_{j in O} f_j(x)}`` and
    ``M_g(x)`` likewise, the relation holds at ``x`` iff ``M_f(x) == M_g(x)``.
    So a tie in either network's maximum counts as a violation unless both
    networks have exactly the same set of maximal indices.

Exactness: ``eps`` is a float64 taken at its exact value.  When it is given as
an exact number (decimal string, Fraction, Decimal, int) that is not a float64
it is rounded DOWN, so the verified statement ``|f - g| <= eps_float`` always
implies the stated one; it is never weaker.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Literal, Mapping

import numpy as np

from ..hexfloat import parse_hex
from ..errors import SpecError
from .box import brief, loads_exact, nearest_float, round_down, to_fraction

__all__ = ["Relation"]

_KINDS = ("eps", "exact", "top1")
_MAX_INDEX = 1 << 31


def _exact_eps(value: Any) -> float:
    if isinstance(value, float) and math.isfinite(value):
        return value
    q = to_fraction(value, "eps")
    if q < 0:
        raise SpecError(f"eps must be >= 0, got {brief(value)}")
    return round_down(q)


def _outputs(outputs: Any) -> tuple[int, ...] | None:
    if outputs is None:
        return None
    if isinstance(outputs, (str, bytes)) or not isinstance(outputs, Iterable):
        raise SpecError(f"outputs must be a list of output indices, got {brief(outputs)}")
    out: list[int] = []
    for i in outputs:
        if isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer)):
            raise SpecError(f"output index must be an integer, got {brief(i)}")
        if i < 0:
            raise SpecError(f"output index must be >= 0, got {brief(int(i))}")
        if i >= _MAX_INDEX:
            raise SpecError(f"output index {brief(int(i))} is too large")
        out.append(int(i))
    if not out:
        raise SpecError("outputs must name at least one output (use None for all outputs)")
    if len(set(out)) != len(out):
        dup = next(i for i in out if out.count(i) > 1)
        raise SpecError(f"output index {dup} is listed more than once")
    return tuple(sorted(out))


def _format_outputs(outputs: tuple[int, ...] | None) -> str:
    if outputs is None:
        return "all outputs"
    if len(outputs) == 1:
        return f"output {outputs[0]}"
    if outputs == tuple(range(outputs[0], outputs[-1] + 1)):
        return f"outputs {outputs[0]}..{outputs[-1]}"
    shown = ", ".join(map(str, outputs[:8]))
    more = f", ... ({len(outputs)} outputs)" if len(outputs) > 8 else ""
    return f"outputs {shown}{more}"


@dataclass(frozen=True)
class Relation:
    """What "``g`` is equivalent to ``f``" means; see the module docstring for semantics."""

    kind: Literal["eps", "exact", "top1"]
    eps: float = 0.0
    outputs: tuple[int, ...] | None = None
    norm: Literal["linf"] = "linf"

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise SpecError(f"unknown relation kind {brief(self.kind)} (expected one of {', '.join(_KINDS)})")
        if self.norm != "linf":
            raise SpecError(f"unsupported norm {brief(self.norm)} (only 'linf')")
        eps = _exact_eps(self.eps)
        if eps < 0:
            raise SpecError(f"eps must be >= 0, got {eps!r}")
        if self.kind != "eps" and eps != 0:
            raise SpecError(f"a {self.kind!r} relation takes no eps (got {eps!r})")
        object.__setattr__(self, "eps", eps + 0.0)  # also turns -0.0 into 0.0
        object.__setattr__(self, "outputs", _outputs(self.outputs))

    # constructors -------------------------------------------------------------

    @classmethod
    def epsilon(cls, e: Any, outputs: Iterable[int] | None = None) -> "Relation":
        """``max |f_i - g_i| <= e`` over the chosen outputs (``e`` rounded down if not a float)."""
        return cls("eps", e, None if outputs is None else tuple(outputs))

    @classmethod
    def exact(cls, outputs: Iterable[int] | None = None) -> "Relation":
        """``f_i = g_i`` everywhere on the box, in real arithmetic."""
        return cls("exact", 0.0, None if outputs is None else tuple(outputs))

    @classmethod
    def top1(cls, outputs: Iterable[int] | None = None) -> "Relation":
        """Same set of maximal outputs everywhere on the box (strict tie rule)."""
        return cls("top1", 0.0, None if outputs is None else tuple(outputs))

    # checks -------------------------------------------------------------------

    def check_outputs(self, n_outputs: int) -> tuple[int, ...]:
        """The chosen output indices for a network with ``n_outputs`` outputs.

        Raises :class:`SpecError` if an index is out of range.
        """
        if isinstance(n_outputs, bool) or not isinstance(n_outputs, (int, np.integer)) or n_outputs < 1:
            raise SpecError(f"number of outputs must be a positive integer, got {brief(n_outputs)}")
        if self.outputs is None:
            return tuple(range(int(n_outputs)))
        bad = [i for i in self.outputs if i >= n_outputs]
        if bad:
            raise SpecError(f"output index {bad[0]} is out of range: the networks have {n_outputs} "
                            f"output(s), indices 0..{n_outputs - 1}")
        return self.outputs

    def holds_at(self, fy: Any, gy: Any) -> np.ndarray:
        """Evaluate the relation on concrete float outputs.

        ``fy``, ``gy``: arrays of shape ``(n, n_outputs)`` (or 1-D for one sample).
        Returns a bool array of length ``n``; NaN outputs never satisfy it.
        """
        f = np.atleast_2d(np.asarray(fy, dtype=np.float64))
        g = np.atleast_2d(np.asarray(gy, dtype=np.float64))
        if f.shape != g.shape or f.ndim != 2:
            raise SpecError(f"output arrays differ in shape: {f.shape} vs {g.shape}")
        idx = list(self.check_outputs(f.shape[1]))
        f, g = f[:, idx], g[:, idx]
        finite = np.all(np.isfinite(f) & np.isfinite(g), axis=1)
        with np.errstate(invalid="ignore"):
            if self.kind == "eps":
                ok = np.all(np.abs(f - g) <= self.eps, axis=1)
            elif self.kind == "exact":
                ok = np.all(f == g, axis=1)
            else:
                mf = f == np.max(f, axis=1, keepdims=True)
                mg = g == np.max(g, axis=1, keepdims=True)
                ok = np.all(mf == mg, axis=1)
        return ok & finite

    # text / JSON ---------------------------------------------------------------

    def describe(self) -> str:
        """One readable line."""
        where = _format_outputs(self.outputs)
        if self.kind == "eps":
            return f"max_i |f_i(x) - g_i(x)| <= {_show_eps(self.eps)} over {where}, for all x in the box"
        if self.kind == "exact":
            return f"f_i(x) = g_i(x) exactly (real arithmetic) over {where}, for all x in the box"
        return (f"argmax_i f_i(x) = argmax_i g_i(x) over {where}, for all x in the box "
                f"(a tie counts as a violation unless both networks have the same set of maximal outputs)")

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict; ``eps`` is stored as a readable decimal and exactly as ``eps_hex``."""
        return {"kind": self.kind, "eps": self.eps, "eps_hex": self.eps.hex(),
                "outputs": None if self.outputs is None else list(self.outputs), "norm": self.norm}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | str) -> "Relation":
        """Inverse of :meth:`to_json` (accepts the dict or its JSON text).

        ``eps_hex`` is read when present (and ``eps`` must then agree with it);
        an ``eps`` decimal alone is rounded down.
        """
        if isinstance(data, str):
            data = loads_exact(data)
        if not isinstance(data, Mapping):
            raise SpecError(f"a relation must be a JSON object, got {type(data).__name__}")
        unknown = sorted(set(data) - {"kind", "eps", "eps_hex", "outputs", "norm"})
        if unknown:
            raise SpecError(f"unknown key(s) in relation: {', '.join(map(repr, unknown))}")
        if "kind" not in data:
            raise SpecError("relation is missing 'kind'")
        eps: Any = data.get("eps", 0.0)
        if data.get("eps_hex") is not None:
            h = data["eps_hex"]
            if not isinstance(h, str):
                raise SpecError(f"eps_hex must be a string, got {brief(h)}")
            try:
                hv = parse_hex(h)
            except (ValueError, OverflowError):
                raise SpecError(f"eps_hex is not a hex float: {h[:40]!r}") from None
            if "eps" in data:
                q = to_fraction(data["eps"], "eps")
                if nearest_float(q) != hv:
                    raise SpecError(f"eps = {brief(data['eps'])} disagrees with eps_hex = {h[:40]} "
                                    f"(edit both, or delete eps_hex)")
            eps = hv
        outputs = data.get("outputs")
        if outputs is not None and isinstance(outputs, list):
            outputs = [_json_int(v) for v in outputs]
        return cls(data["kind"], eps, outputs, data.get("norm", "linf"))


def _json_int(v: Any) -> Any:
    """JSON integers arrive as exact Fractions from :func:`loads_exact`; turn whole ones into int."""
    if not isinstance(v, (bool, int)) and hasattr(v, "denominator") and v.denominator == 1:
        return int(v)
    return v


def _show_eps(eps: float) -> str:
    """``0.05`` is not a float; the relation keeps the float just below it.  Show the short decimal
    the user most likely typed next to the value actually used."""
    above = float(np.nextafter(eps, math.inf))
    typed = repr(above)
    if (math.isfinite(above) and len(typed) < len(repr(eps))
            and to_fraction(eps) < to_fraction(typed) < to_fraction(above)):
        return f"{typed} (as the float below it, {eps!r})"
    return repr(eps)

