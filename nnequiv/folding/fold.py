"""Load-time constant folding: static shape subgraphs become initializers.

Exporters write shape arithmetic into the graph (``Shape -> Gather -> Unsqueeze -> Concat ->
Reshape``; torch-simplify's pinned BatchNorms as ``Shape -> Expand -> ScatterElements``).
Walking the nodes in topological order, a node with a rule in
:data:`~nnequiv.folding.rules.FOLD_RULES` whose inputs are all constants is evaluated in the
ONNX semantics of its op and its outputs become initializers; a ``Shape`` of a variable
tensor (and a ``Size``) is its static shape, found by a float64 dry run of the nodes before it on one
all-zero sample (shapes never depend on values here).  A ``Shape`` of a tensor computed from
an input with dynamic dimensions is refused: its value would depend on the batch size.

Both ``nnequiv check`` and ``nnequiv verify`` read models through
:func:`nnequiv.onnx_io.from_onnx_model`, so certificate hashes always refer to the folded IR.
"""

from __future__ import annotations

from collections import ChainMap
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from ..errors import NnequivError, ShapeError, UnsupportedOpError
from ..ir import Node, TensorSpec, _topological_order
from ..ops import OpContext, Value, lookup, registry
from ..ops.scatter import is_identity
from . import batch
from .rules import FOLD_RULES, STATIC_SHAPE_RULES

__all__ = ["Folded", "fold_constants", "identity_scatters"]


@dataclass(frozen=True)
class Folded:
    nodes: tuple[Node, ...]                  # the nodes that stay, in topological order
    initializers: Mapping[str, np.ndarray]   # the old ones plus every folded output
    folded: tuple[str, ...]                  # names of the nodes folded away
    shapes: Mapping[str, tuple[int, ...]] | None = None   # every tensor's shape, when a dry run was needed


class _DryRun:
    """Per-sample shapes of variable tensors, evaluating the kept nodes only when asked."""

    def __init__(self, inputs: Sequence[TensorSpec], constants: Mapping[str, np.ndarray], opset: int,
                 source: str | None) -> None:
        self.ctx = OpContext(opset)
        self.env = {s.name: Value(np.zeros((1,) + s.shape), True) for s in inputs}
        self.constants, self.source = constants, source
        self.pending: list[Node] = []
        self.started = False

    def all_shapes(self) -> dict[str, tuple[int, ...]]:
        """Run what is left (the same dry run as ``infer_shapes`` on the folded network) and return
        every tensor's per-sample shape."""
        if self.pending:
            self.shape(self.pending[-1].outputs[0])
        shapes = {name: tuple(np.shape(array)) for name, array in self.constants.items()}
        shapes.update({name: value.shape for name, value in self.env.items()})
        return shapes

    def shape(self, tensor: str) -> tuple[int, ...]:
        self.started = True
        for node in self.pending:
            args = tuple(self._fetch(name) for name in node.inputs)
            try:
                with np.errstate(all="ignore"):
                    results = lookup(node.op).function(node, args, self.ctx)
            except NnequivError as exc:
                raise type(exc)(exc.message, file=exc.file or self.source, node=exc.node or node.name,
                                fix=exc.fix) from None
            batched = any(a is not None and a.batched for a in args)
            self.env.update({name: Value(np.asarray(r), batched) for name, r in zip(node.outputs, results) if name})
        self.pending = []
        return self._fetch(tensor).shape

    def _fetch(self, name: str) -> Value | None:
        if not name:
            return None
        if name not in self.env:
            self.env[name] = Value(self.ctx.tensor(self.constants[name]), False)
        return self.env[name]


def fold_constants(nodes: Sequence[Node], initializers: Mapping[str, np.ndarray], inputs: Sequence[TensorSpec],
                   outputs: Sequence[str], opset: int, source: str | None = None) -> Folded:
    """Fold every foldable node (see the module text).  Errors name the node.  Folded values
    that no remaining node or output reads are dropped; the given initializers all stay."""
    constants = dict(initializers)
    ordered = _topological_order(tuple(nodes), tuple(s.name for s in inputs), constants, source)
    dynamic = {s.name for s in inputs if s.dynamic_axes}
    reaches: set[str] = set(dynamic)           # tensors computed from an input with dynamic dimensions
    varying: dict[str, np.ndarray] = {}        # folded values that depend on them: the value at batch.PROBE
    dry = _DryRun(inputs, constants, opset, source)
    probe = _DryRun(batch.probe_inputs(inputs), ChainMap(varying, constants), opset, source)
    kept, folded = [], []
    for node in ordered:
        writes_output = any(o in outputs for o in node.outputs)
        rule = None if writes_output else FOLD_RULES.get(node.op)
        results = None
        if rule is not None and all(not name or name in constants for name in node.inputs):
            results = _run(rule, node, tuple(constants[name] if name else None for name in node.inputs), opset, source)
        if results is not None:
            constants.update({name: r for name, r in zip(node.outputs, results) if name})
            if any(name in varying for name in node.inputs):
                probed = _run(rule, node, tuple(probe.constants[name] if name else None for name in node.inputs),
                              opset, source)
                _note_varying(varying, node.outputs, results, probed)
            folded.append(node.name)
            continue
        if rule is not None and node.op in STATIC_SHAPE_RULES:
            tensor = node.inputs[0]
            value = STATIC_SHAPE_RULES[node.op](dry.shape(tensor), node)
            constants[node.outputs[0]] = value
            if tensor in reaches:
                _note_varying(varying, node.outputs, (value,), (STATIC_SHAPE_RULES[node.op](probe.shape(tensor), node),))
            folded.append(node.name)
            continue
        if any(name in varying for name in node.inputs):
            node = _batch_generic(node, constants, varying, dry, probe, source)
        kept.append(node)
        dry.pending.append(node)
        probe.pending.append(node)
        if any(name in reaches for name in node.inputs):
            reaches.update(name for name in node.outputs if name)
    used = {name for node in kept for name in node.inputs} | set(outputs)
    kept_constants = {name: array for name, array in constants.items() if name in initializers or name in used}
    finished = dry.started and all(node.op in registry.SUPPORTED_OPS for node in kept)  # else the loader refuses
    return Folded(tuple(kept), kept_constants, tuple(folded), dry.all_shapes() if finished else None)


def _note_varying(varying: dict[str, np.ndarray], names: Sequence[str], values, probed) -> None:
    for name, value, other in zip(names, values, probed):
        if name and (np.shape(value) != np.shape(other) or not np.array_equal(value, other)):
            varying[name] = np.asarray(other)


def _batch_generic(node: Node, constants: dict[str, np.ndarray], varying: dict[str, np.ndarray], dry: _DryRun,
                   probe: _DryRun, source: str | None) -> Node:
    """A Reshape whose target depends on the batch size, with a batch-generic constant target
    (:mod:`.batch`); any other reader of such a value is refused."""
    if node.op != "Reshape" or node.inputs[0] in varying or node.inputs[1] not in varying:
        batch.refuse(node, "only a Reshape target that copies the batch dimension is supported", source)
    target = node.inputs[1]
    generic = batch.generic_reshape_target(node, constants[target], varying[target], dry.shape(node.inputs[0]),
                                           probe.shape(node.inputs[0]), source)
    name = f"{target}/batch_generic"
    while name in constants:
        name += "_"
    constants[name] = generic
    return Node(node.name, node.op, (node.inputs[0], name) + tuple(node.inputs[2:]), node.outputs, dict(node.attrs))


def _run(rule, node: Node, args, opset: int, source: str | None) -> tuple[np.ndarray, ...] | None:
    try:
        produced = rule(node, args, opset)
        if produced is None:
            return None
        results = tuple(np.asarray(r) for r in produced)
    except NnequivError as exc:
        raise type(exc)(exc.message, file=exc.file or source, node=exc.node or node.name, fix=exc.fix) from None
    except (ValueError, IndexError, TypeError) as exc:     # numpy's shape errors
        raise ShapeError(f"{node.op} cannot be folded: {exc}", file=source, node=node.name) from None
    if len(results) < sum(1 for name in node.outputs if name):
        raise UnsupportedOpError(f"{node.op} has more outputs than it computes", file=source, node=node.name)
    return results


def identity_scatters(nodes: Sequence[Node], initializers: Mapping[str, np.ndarray],
                      shapes: Mapping[str, tuple[int, ...]]) -> tuple[Node, ...]:
    """ScatterElements that overwrite every position of a constant with the update at the same
    position (torch-simplify's scatter of all channels, in order) become ``Identity(updates)``:
    the same function exactly."""
    result = []
    for node in nodes:
        data, indices, updates = (tuple(node.inputs) + ("", "", ""))[:3]
        if (node.op == "ScatterElements" and data in initializers and indices in initializers
                and node.attr("reduction", "none") == "none"
                and tuple(shapes.get(updates, ())) == tuple(np.shape(initializers[data]))
                and is_identity(tuple(np.shape(initializers[data])), initializers[indices], int(node.attr("axis", 0)))):
            node = Node(node.name, "Identity", (updates,), node.outputs[:1], {})
        result.append(node)
    return tuple(result)
