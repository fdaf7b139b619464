"""Frozen network IR: a topologically ordered graph of ONNX-named ops.

Semantics (see ``proofs/README.md``): a network is a function over the reals in
which every stored float (initializer, attribute) is taken as its exact value.

Conventions
-----------
* ``TensorSpec.shape`` is the *per-sample* shape: the ONNX shape with dynamic
  dimensions (``dim_param`` / 0 / -1) replaced by 1.  ``dynamic_axes`` remembers
  which axes were dynamic so export can write them back.
* At run time every variable tensor carries one extra leading batch axis in
  front of its per-sample shape (the interpreter's job, not the IR's).
* Op names are ONNX op types verbatim (``Gemm``, ``Relu`` ...); attribute values
  are plain Python scalars, tuples, strings, or read-only numpy arrays.
"""

from __future__ import annotations

import graphlib
import heapq
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any, Mapping

import numpy as np

from .errors import GraphError


def readonly(array: np.ndarray) -> np.ndarray:
    """Return a read-only float/int array (copied if it was writeable)."""
    result = np.array(array, copy=True)
    result.setflags(write=False)
    return result


def _freeze_attr(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return readonly(value)
    if isinstance(value, (list, tuple)):
        return tuple(_freeze_attr(v) for v in value)
    return value


@dataclass(frozen=True)
class TensorSpec:
    """A graph input or output: name, per-sample shape, element type."""

    name: str
    shape: tuple[int, ...]
    dtype: str = "float32"
    dynamic_axes: tuple[int, ...] = ()

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


@dataclass(frozen=True)
class Node:
    """One ONNX op application."""

    name: str
    op: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attrs: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "outputs", tuple(self.outputs))
        frozen = {k: _freeze_attr(v) for k, v in dict(self.attrs).items()}
        object.__setattr__(self, "attrs", MappingProxyType(frozen))

    def attr(self, key: str, default: Any = None) -> Any:
        return self.attrs.get(key, default)

    def __hash__(self) -> int:  # attrs may hold arrays; identity by name is enough
        return hash((self.name, self.op, self.inputs, self.outputs))


@dataclass(frozen=True, eq=False)
class Network:
    """An immutable network.  Construct through :meth:`create` (which validates)."""

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    nodes: tuple[Node, ...]
    initializers: Mapping[str, np.ndarray]
    name: str = "network"
    opset: int = 17
    source: str | None = None

    # ------------------------------------------------------------------ build
    @classmethod
    def create(cls, *, inputs, outputs, nodes, initializers, name: str = "network",
               opset: int = 17, source: str | None = None) -> "Network":
        """Validate names, order nodes topologically and freeze everything."""
        frozen_init = MappingProxyType({k: readonly(v) for k, v in dict(initializers).items()})
        ordered = _topological_order(tuple(nodes), tuple(i.name for i in inputs), frozen_init, source)
        return cls(inputs=tuple(inputs), outputs=tuple(outputs), nodes=ordered,
                   initializers=frozen_init, name=name, opset=int(opset), source=source)

    def replace(self, **changes: Any) -> "Network":
        """A new validated network with some fields changed."""
        fields = dict(inputs=self.inputs, outputs=self.outputs, nodes=self.nodes,
                      initializers=self.initializers, name=self.name, opset=self.opset,
                      source=self.source)
        fields.update(changes)
        return Network.create(**fields)

    # ---------------------------------------------------------------- queries
    @cached_property
    def producer(self) -> Mapping[str, Node]:
        """Tensor name -> the node that writes it."""
        return MappingProxyType({out: n for n in self.nodes for out in n.outputs})

    @cached_property
    def consumers(self) -> Mapping[str, tuple[Node, ...]]:
        """Tensor name -> nodes that read it (in topological order)."""
        table: dict[str, list[Node]] = {}
        for node in self.nodes:
            for name in node.inputs:
                if name:
                    table.setdefault(name, []).append(node)
        return MappingProxyType({k: tuple(v) for k, v in table.items()})

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def is_constant(self, tensor: str) -> bool:
        return tensor in self.initializers

    @property
    def ops(self) -> tuple[str, ...]:
        return tuple(n.op for n in self.nodes)

    @property
    def input(self) -> TensorSpec:
        """The single variable input (verification needs exactly one)."""
        if len(self.inputs) != 1:
            raise GraphError(f"expected one input, found {len(self.inputs)}", file=self.source,
                             fix="verification supports single-input networks")
        return self.inputs[0]

    @property
    def output(self) -> TensorSpec:
        if len(self.outputs) != 1:
            raise GraphError(f"expected one output, found {len(self.outputs)}", file=self.source,
                             fix="verification supports single-output networks")
        return self.outputs[0]

    # ------------------------------------------------------------ evaluation
    def evaluate(self, x: Any) -> np.ndarray:
        """Float64 outputs for a batch ``x`` of shape ``(B, *input.shape)`` or ``(B, input.size)``."""
        from .interpret import evaluate

        return evaluate(self, x)


def _topological_order(nodes: tuple[Node, ...], input_names: tuple[str, ...],
                       initializers: Mapping[str, np.ndarray], source: str | None) -> tuple[Node, ...]:
    producer: dict[str, Node] = {}
    names: set[str] = set()
    for node in nodes:
        if node.name in names:
            raise GraphError(f"duplicate node name {node.name!r}", file=source, node=node.name,
                             fix="give every node a unique name")
        names.add(node.name)
        for out in node.outputs:
            if out in producer or out in input_names or out in initializers:
                raise GraphError(f"tensor {out!r} is written more than once", file=source,
                                 node=node.name, fix="every tensor must have one producer")
            producer[out] = node
    available = set(input_names) | set(initializers)
    graph: dict[str, set[str]] = {}
    for node in nodes:
        deps = set()
        for name in node.inputs:
            if not name or name in available:
                continue
            if name not in producer:
                raise GraphError(f"input tensor {name!r} is never defined", file=source,
                                 node=node.name, fix="add the missing initializer or graph input")
            deps.add(producer[name].name)
        graph[node.name] = deps
    sorter = graphlib.TopologicalSorter(graph)
    position = {n.name: i for i, n in enumerate(nodes)}
    try:
        sorter.prepare()
    except graphlib.CycleError as exc:
        cycle = exc.args[1] if len(exc.args) > 1 else []
        raise GraphError(f"the graph has a cycle through {' -> '.join(map(str, cycle))}",
                         file=source, node=str(cycle[0]) if cycle else None,
                         fix="a feed-forward network must be acyclic") from None
    # Kahn's algorithm, preferring the file's own order among ready nodes (stable output)
    ready: list[tuple[int, str]] = []
    order: list[str] = []
    while sorter.is_active():
        for name in sorter.get_ready():
            heapq.heappush(ready, (position[name], name))
        _, name = heapq.heappop(ready)
        order.append(name)
        sorter.done(name)
    by_name = {n.name: n for n in nodes}
    return tuple(by_name[name] for name in order)
