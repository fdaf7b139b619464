"""Shared sympy helpers for the machine checks.

An identity ``lhs == rhs`` is accepted when ``simplify(expand(lhs - rhs))`` is exactly
zero (``0`` or a ``ZeroMatrix``; explicit matrices entrywise).  A wrong variant must
leave a non-zero difference *and*, when a witness substitution is given, the
difference must evaluate to a non-zero exact number there (so a failure is never
just sympy being unable to simplify).
"""

from __future__ import annotations

import sympy as sp


def _reduce(expr):
    if isinstance(expr, sp.MatrixBase):
        return expr.applyfunc(lambda e: sp.simplify(sp.expand(e)))
    if isinstance(expr, sp.MatrixExpr):
        return sp.simplify(sp.expand(expr))
    return sp.simplify(sp.expand(expr))


def _is_zero(expr) -> bool:
    if isinstance(expr, sp.MatrixBase):
        return all(e == 0 for e in expr)
    if isinstance(expr, sp.MatrixExpr):
        return expr == 0 or isinstance(expr, sp.ZeroMatrix) or bool(expr.is_ZeroMatrix)
    return expr == 0


def difference(lhs, rhs):
    return _reduce(lhs - rhs)


def assert_identity(lhs, rhs) -> None:
    diff = difference(lhs, rhs)
    assert _is_zero(diff), f"not an identity; simplified difference: {diff}"


def assert_not_identity(lhs, rhs, witness: dict | None = None):
    """The difference must not simplify to zero; at ``witness`` (a substitution of exact
    numbers, or explicit matrices for MatrixSymbols) it must be a non-zero number.
    Returns the difference at the witness (or the symbolic difference)."""
    diff = difference(lhs, rhs)
    assert not _is_zero(diff), "wrong variant unexpectedly simplifies to an identity"
    if witness is None:
        return diff
    at = (lhs - rhs).subs(witness)
    if isinstance(at, sp.MatrixExpr) and not isinstance(at, sp.MatrixBase):
        at = at.doit()
        if hasattr(at, "as_explicit"):
            at = at.as_explicit()
    at = _reduce(at)
    if isinstance(at, sp.MatrixBase):
        assert all(e.is_number for e in at), f"witness leaves free symbols: {at}"
        assert any(e != 0 for e in at), "difference vanishes at the witness"
    else:
        assert at.is_number, f"witness leaves free symbols: {at}"
        assert at != 0, "difference vanishes at the witness"
    return at


def entries(prefix: str, rows: int, cols: int | None = None):
    """An explicit matrix (or column vector) of fresh real symbols."""
    if cols is None:
        return sp.Matrix(rows, 1, lambda r, _c: sp.Symbol(f"{prefix}{r}", real=True))
    return sp.Matrix(rows, cols, lambda r, c: sp.Symbol(f"{prefix}{r}_{c}", real=True))


def conv2d(x, kernel, bias, pad: int = 0, stride: int = 1):
    """ONNX ``Conv`` (NCHW, one sample, group 1, dilation 1) on explicit sympy data.

    ``x[d]`` is an H x W ``sp.Matrix`` per input channel, ``kernel[c][d]`` a kh x kw matrix,
    ``bias[c]`` a scalar (added at every output position, as ONNX does) or an
    output-shaped matrix (a *spatial* bias).  Zero padding of ``pad`` on every side.
    """
    height, width = x[0].shape
    kh, kw = kernel[0][0].shape
    out_h = (height + 2 * pad - kh) // stride + 1
    out_w = (width + 2 * pad - kw) // stride + 1
    out = []
    for c, kc in enumerate(kernel):
        def entry(r, q, c=c, kc=kc):
            total = bias[c][r, q] if isinstance(bias[c], sp.MatrixBase) else bias[c]
            for d, kcd in enumerate(kc):
                for u in range(kh):
                    for v in range(kw):
                        rr, qq = r * stride + u - pad, q * stride + v - pad
                        if 0 <= rr < height and 0 <= qq < width:
                            total += kcd[u, v] * x[d][rr, qq]
            return total
        out.append(sp.Matrix(out_h, out_w, entry))
    return out
