"""Rigorous point evaluation: an enclosure of every exact output of a Network at one float input.

Stored floats are exact values; the returned :class:`~.expansion.Enclosure` contains the
real-arithmetic output (BatchNormalization's square roots included), with a double-double
midpoint and a radius typically ~1e-30 relative on small models (``proofs/rigorous_eval.md``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import NnequivError, ShapeError, UnsupportedOpError
from ..ir import Network
from ..ops import OpContext, Value, lookup
from . import rules_linear, rules_pointwise, rules_shape  # noqa: F401  (register the rules)
from .expansion import Enclosure, add, point
from .registry import lookup_rule
from .rules_shape import CONSTANT_OPS


def evaluate_enclosure(net: Network, x: Any) -> Enclosure:
    """The output enclosure (per-sample output shape) at ONE sample ``x`` (floats)."""
    spec = net.input
    sample = np.asarray(x, dtype=np.float64)
    if sample.size != spec.size:
        raise ShapeError(f"rigorous evaluation needs one sample of {spec.size} values, got shape {sample.shape}",
                         file=net.source, fix=f"pass an array of shape {spec.shape}")
    env: dict[str, Any] = {spec.name: point(sample.reshape(spec.shape))}
    for node in net.nodes:
        args = tuple(_fetch(net, env, name) for name in node.inputs)
        try:
            if any(isinstance(a, Enclosure) for a in args):
                result = lookup_rule(node.op)(node, args)
            else:
                result = _constant_node(node, args)
        except NnequivError as exc:
            raise type(exc)(exc.message, file=exc.file or net.source, node=exc.node or node.name,
                            fix=exc.fix) from None
        env[node.outputs[0]] = result
    out = _fetch(net, env, net.output.name)
    out = out if isinstance(out, Enclosure) else point(out)
    return out.map(lambda a: a.reshape(net.output.shape))


def difference(f: Enclosure, g: Enclosure) -> Enclosure:
    """An enclosure of ``g - f`` computed on the expansions (no cancellation loss)."""
    return add(g, f, -1.0)


def _fetch(net: Network, env: dict[str, Any], name: str):
    if not name:
        return None
    if name not in env:
        if name not in net.initializers:
            raise ShapeError(f"tensor {name!r} is used before it is defined", file=net.source)
        array = np.asarray(net.initializers[name])
        env[name] = array.astype(np.int64) if array.dtype.kind in "iub" else array.astype(np.float64)
    return env[name]


def _constant_node(node, args) -> np.ndarray:
    """A node on constants only, run in float64: allowed only for ops that are exact there."""
    if node.op not in CONSTANT_OPS:
        raise UnsupportedOpError(f"{node.op} on constants is not exact in float64",
                                 fix="fold constant subgraphs before checking")
    values = tuple(None if a is None else Value(np.asarray(a)) for a in args)
    return np.asarray(lookup(node.op).function(node, values, OpContext())[0])
