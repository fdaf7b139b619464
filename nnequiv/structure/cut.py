"""Find the longest common prefix and suffix of two networks at single-tensor cuts (untrusted search).

A prefix of ``k`` nodes is common when the first ``k`` nodes of both topological orders agree
node by node (the checker's :func:`nnequiv.checker.cut.node_difference`: op, attributes, wiring,
identical stored constants; names never matter) and position ``k`` cuts both networks at one
tensor; the suffix likewise from the end.  Graphs whose shared part has no single-tensor cut
(a residual block spanning the difference) get the nearest cut outside it, or none.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..checker.cut import crossing, node_difference, sequence_difference
from ..ir import Network

__all__ = ["CommonCut", "common_cut"]


@dataclass(frozen=True)
class CommonCut:
    prefix_nodes: int                   # 0 when the networks differ from their first node
    suffix_nodes: tuple[int, ...]       # common suffix lengths at single-tensor cuts, longest first; ends with 0
    reason: str = ""                    # why there is no useful cut (empty when there is one)

    @property
    def useful(self) -> bool:
        return self.prefix_nodes > 0 or self.suffix_nodes[0] > 0


def _single(net: Network, position: int) -> str | None:
    found = crossing(net, position)
    return found[0] if len(found) == 1 else None


def _common_prefix(f: Network, g: Network) -> int:
    limit = min(len(f.nodes), len(g.nodes)) - 1          # leave a middle node in both
    mapping = {f.input.name: g.input.name, "": ""}
    best = 0
    for k, (a, b) in enumerate(zip(f.nodes[:limit], g.nodes[:limit]), start=1):
        if node_difference(f, g, a, b, mapping) is not None:
            break
        mapping.update(zip(a.outputs, b.outputs))
        tf, tg = _single(f, k), _single(g, k)
        if tf is not None and tg is not None and mapping.get(tf) == tg:
            best = k
    return best


def _common_suffixes(f: Network, g: Network, prefix: int) -> tuple[int, ...]:
    found = []
    for m in range(min(len(f.nodes), len(g.nodes)) - prefix - 1, 0, -1):
        tf, tg = _single(f, len(f.nodes) - m), _single(g, len(g.nodes) - m)
        if tf is None or tg is None or f.nodes[-m].op != g.nodes[-m].op:
            continue
        if sequence_difference(f, g, f.nodes[-m:], g.nodes[-m:], {tf: tg}, f.output.name, g.output.name) is None:
            found.append(m)
    return tuple(found) + (0,)


def common_cut(f: Network, g: Network) -> CommonCut:
    if f.opset != g.opset or f.input.shape != g.input.shape or f.output.shape != g.output.shape:
        return CommonCut(0, (0,), "the networks differ in opset or input / output shape")
    prefix = _common_prefix(f, g)
    suffixes = _common_suffixes(f, g, prefix)
    cut = CommonCut(prefix, suffixes)
    if not cut.useful:
        return CommonCut(0, (0,), "no common prefix or suffix ends at a single tensor of both graphs "
                                  "(differing first and last layers, or a residual block spans the difference)")
    return cut
