"""Reference interpreter for :class:`~nnequiv.ir.Network`.

Two arithmetics share one implementation per op (:mod:`nnequiv.ops`):

* float64 on batches (:func:`evaluate`, :func:`evaluate_all`, :func:`infer_shapes`);
* exact rationals on one sample (:func:`evaluate_exact`): every stored float is
  taken as its exact value and every op except ``sqrt``/``exp`` is exact.

Variable tensors carry a leading batch axis; constants (initializers and
anything computed from constants only) do not.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import numpy as np

from . import exact as rational
from .errors import GraphError, NnequivError, ShapeError, UnsupportedOpError, UsageError
from .ir import Network, Node
from .ops import OpContext, Value, lookup
from .ops.context import to_batched

__all__ = ["ExactResult", "evaluate", "evaluate_all", "evaluate_constant", "evaluate_exact",
           "infer_shapes"]


@dataclass(frozen=True, eq=False)
class ExactResult:
    """The output of one sample in rational arithmetic.

    ``values`` is a read-only object array of Fractions with the output's per-sample
    shape.  ``exact`` is False when an irrational op (BatchNormalization's sqrt,
    Softmax's exp) was approximated to about 60 digits; ``irrational_ops`` names
    those nodes.
    """

    values: np.ndarray
    exact: bool
    irrational_ops: tuple[str, ...] = ()

    def as_float(self) -> np.ndarray:
        """The nearest float64 of every value."""
        return rational.as_float(self.values)


# ------------------------------------------------------------------------------ public API
def evaluate(net: Network, x: Any) -> np.ndarray:
    """Float64 output for a batch ``x`` of shape ``(B, *input.shape)`` or ``(B, input.size)``.

    Returns ``(B, *output.shape)``.
    """
    spec = net.input
    batch = _batch(net, np.asarray(x, dtype=np.float64))
    env, _ = _execute(net, {spec.name: Value(batch, True)}, OpContext(net.opset), (net.output.name,))
    return _output(net, env[net.output.name], batch.shape[0]).astype(np.float64)


def evaluate_all(net: Network, x: Any) -> dict[str, np.ndarray]:
    """Every tensor (input, used initializers, node outputs) of a float64 run on batch ``x``.

    Variable tensors have shape ``(B, *per_sample)``; constants keep their own shape.
    """
    spec = net.input
    batch = _batch(net, np.asarray(x, dtype=np.float64))
    env, _ = _execute(net, {spec.name: Value(batch, True)}, OpContext(net.opset), None)
    return {name: value.data for name, value in env.items()}


_SHAPES: "weakref.WeakKeyDictionary[Network, dict[str, tuple[int, ...]]]" = weakref.WeakKeyDictionary()


def infer_shapes(net: Network) -> dict[str, tuple[int, ...]]:
    """Per-sample shape of every tensor, by a dry run on one all-zero sample (remembered per
    network object: networks are immutable, and the size guard, the structural stage, the
    lowering and the summaries all ask; a fresh dict each call).

    Op failures surface as ShapeError / UnsupportedOpError naming the node and file.
    """
    if net not in _SHAPES:
        _SHAPES[net] = _infer_shapes(net)
    return dict(_SHAPES[net])


def _infer_shapes(net: Network) -> dict[str, tuple[int, ...]]:
    feeds = {spec.name: Value(np.zeros((1,) + spec.shape), True) for spec in net.inputs}
    with np.errstate(all="ignore"):
        env, _ = _execute(net, feeds, OpContext(net.opset), None)
    shapes = {name: tuple(array.shape) for name, array in net.initializers.items()}
    shapes.update({name: value.shape for name, value in env.items()})
    return shapes


def evaluate_exact(net: Network, x: Any) -> ExactResult:
    """The output for ONE sample ``x`` (``input.shape`` or ``input.size`` floats, ints or
    Fractions) in rational arithmetic."""
    spec = net.input
    sample = np.asarray(x, dtype=object)
    if sample.size != spec.size:
        raise ShapeError(f"exact evaluation needs one sample of {spec.size} values, got shape {sample.shape}",
                         file=net.source, fix=f"pass an array of shape {spec.shape}")
    try:
        batch = rational.to_fractions(sample).reshape((1,) + spec.shape)
    except (ValueError, OverflowError, TypeError):
        raise UsageError("exact evaluation needs finite real input values", file=net.source,
                         fix="pass finite floats, ints or Fractions") from None
    ctx = OpContext(net.opset, exact=True)
    env, approximated = _execute(net, {spec.name: Value(batch, True)}, ctx, (net.output.name,))
    values = rational.to_fractions(_output(net, env[net.output.name], 1)[0])
    values.setflags(write=False)
    return ExactResult(values, not approximated, approximated)


def evaluate_constant(net: Network, node: Node) -> np.ndarray:
    """The first output of a node that depends on constants only (float64 or int64)."""
    try:
        env, _ = _execute(net, {}, OpContext(net.opset), node.outputs[:1])
    except _NeedsInput:
        raise UsageError(f"{node.op} depends on the network input, it is not a constant",
                         file=net.source, node=node.name) from None
    return np.asarray(env[node.outputs[0]].data)


# ------------------------------------------------------------------------------ the loop
class _NeedsInput(GraphError):
    """A tensor needed by the run is a graph input that was not fed."""


def _execute(net: Network, feeds: Mapping[str, Value], ctx: OpContext,
             targets: tuple[str, ...] | None) -> tuple[dict[str, Value], tuple[str, ...]]:
    """Run the nodes needed for ``targets`` (all nodes if None).

    Returns the environment (only ``targets`` survive when given, everything
    otherwise) and the names of the nodes that were evaluated approximately.
    """
    nodes = net.nodes if targets is None else _ancestors(net, targets)
    last_use = {} if targets is None else _last_use(nodes, targets)
    constants = _constants(net, ctx)
    env: dict[str, Value] = dict(feeds)
    approximated: list[str] = []

    def fetch(name: str) -> Value | None:
        if not name:
            return None
        if name not in env:
            if name in net.initializers:
                env[name] = Value(constants(name), False)
            elif any(name == spec.name for spec in net.inputs):
                raise _NeedsInput(f"tensor {name!r} is a graph input", file=net.source)
            else:
                raise GraphError(f"tensor {name!r} is never defined", file=net.source)
        return env[name]

    for position, node in enumerate(nodes):
        impl = _implementation(net, node)
        args = tuple(fetch(name) for name in node.inputs)
        results = _apply(net, node, impl.function, args, ctx)
        batched = any(a is not None and a.batched for a in args)
        for name, data in zip(node.outputs, results):
            if name:
                env[name] = Value(np.asarray(data), batched)
        if ctx.exact and not impl.exact:
            approximated.append(node.name)
        for name in node.inputs:
            if last_use and last_use.get(name) == position:
                env.pop(name, None)
    for name in targets or ():
        fetch(name)  # a target may be an input or initializer
    return env, tuple(approximated)


def _implementation(net: Network, node: Node):
    try:
        return lookup(node.op)
    except UnsupportedOpError as exc:
        raise _located(exc, node, net.source) from None


def _apply(net: Network, node: Node, function, args, ctx: OpContext) -> tuple[np.ndarray, ...]:
    try:
        results = tuple(function(node, args, ctx))
    except NnequivError as exc:
        raise _located(exc, node, net.source) from None
    except (ValueError, IndexError, TypeError) as exc:  # numpy's shape and dtype errors
        shapes = ", ".join(str(a.shape) if a is not None else "-" for a in args)
        raise ShapeError(f"{node.op} cannot be applied to per-sample input shapes {shapes}: {exc}",
                         file=net.source, node=node.name,
                         fix="check the tensor shapes and attributes of this node") from None
    except ZeroDivisionError:
        raise UsageError(f"{node.op} divides by zero in exact arithmetic", file=net.source,
                         node=node.name) from None
    wanted = [i for i, name in enumerate(node.outputs) if name]
    if wanted and wanted[-1] >= len(results):
        raise UnsupportedOpError(f"{node.op} output #{wanted[-1]} ({node.outputs[wanted[-1]]!r}) is not supported",
                                 file=net.source, node=node.name, fix="use only the op's main output")
    return results


def _located(exc: NnequivError, node: Node, source: str | None) -> NnequivError:
    """The same error with the node and file filled in where unknown."""
    return type(exc)(exc.message, file=exc.file or source, node=exc.node or node.name, fix=exc.fix)


def _ancestors(net: Network, targets: Iterable[str]) -> tuple[Node, ...]:
    needed: set[str] = set()
    stack = list(targets)
    while stack:
        producer = net.producer.get(stack.pop())
        if producer is not None and producer.name not in needed:
            needed.add(producer.name)
            stack.extend(n for n in producer.inputs if n)
    return tuple(n for n in net.nodes if n.name in needed)


def _last_use(nodes: tuple[Node, ...], keep: Iterable[str]) -> dict[str, int]:
    last = {name: position for position, node in enumerate(nodes) for name in node.inputs if name}
    for name in keep:
        last.pop(name, None)
    return last


# Exact-mode copies of the initializers, converted once per network (networks are immutable).
_EXACT_CACHE: "weakref.WeakKeyDictionary[Network, dict[str, np.ndarray]]" = weakref.WeakKeyDictionary()


def _constants(net: Network, ctx: OpContext):
    """``name -> initializer in the arithmetic of ctx`` (cached for exact mode)."""
    if not ctx.exact:
        return lambda name: ctx.tensor(net.initializers[name])
    cache = _EXACT_CACHE.setdefault(net, {})

    def convert(name: str) -> np.ndarray:
        if name not in cache:
            try:
                array = ctx.tensor(net.initializers[name])
            except (ValueError, OverflowError):
                raise UsageError(f"initializer {name!r} holds inf or NaN, which has no exact value",
                                 file=net.source, fix="exact evaluation needs finite weights") from None
            array.setflags(write=False)
            cache[name] = array
        return cache[name]
    return convert


# ------------------------------------------------------------------------------ shapes in/out
def _batch(net: Network, x: np.ndarray) -> np.ndarray:
    spec = net.input
    if x.ndim >= 1 and x.shape[1:] == spec.shape:
        return x
    if x.ndim == 2 and x.shape[1] == spec.size:
        return x.reshape((x.shape[0],) + spec.shape)
    raise ShapeError(f"input of shape {x.shape} does not fit {spec.name!r} of per-sample shape {spec.shape}",
                     file=net.source, fix=f"pass a batch of shape (B, {', '.join(map(str, spec.shape))}) "
                                          f"or (B, {spec.size})")


def _output(net: Network, value: Value, batch: int) -> np.ndarray:
    spec = net.output
    data = np.asarray(to_batched(value, batch))
    if data.shape[1:] != spec.shape:
        if int(np.prod(data.shape[1:])) != spec.size:
            raise ShapeError(f"the output {spec.name!r} has per-sample shape {data.shape[1:]}, "
                             f"the graph declares {spec.shape}", file=net.source,
                             fix="fix the declared output shape")
        data = data.reshape((batch,) + spec.shape)
    return data
