"""``simplify``: remove zeroed neurons / channels (the EIDOSlab Simplify pipeline, certified).

A fixed point of two rewrites, each written as its own certificate step and materialised
with the checker's replay code (``proofs/simplify.md``), on *channel spaces* (a producer's
output closed under per-channel nodes and residual Adds, :mod:`nnequiv.checker.channels`):

1. ``bias_propagation`` -- a channel whose incoming weights are all exactly zero in every
   producer of its space is a constant; its contribution moves into the readers' biases (a
   spatial bias ``Add`` after a padded Conv) and the readers' weights from it become zero.
   Spaces are visited in topological order (of their last producer), so constants cascade.
2. ``channel_removal`` -- a channel that every reader of its space weighs with exact zeros is
   deleted from all producers, per-channel constants (bias ``Add``, BatchNorm) and readers.
   Spaces are visited from the output back, so a removal that leaves an earlier channel
   unread is seen in the same sweep.

Without a box only exact propagations are kept: a reader whose new bias would be rounded
is excluded and the sweep is redone.  With a box a rounded bias is certified with the
checker's deviation bound (``certified_epsilon``).  What is kept, and why, is in
``PassStats.refused``; ``details["spatial_bias_adds"]`` counts the spatial biases emitted.
"""

from __future__ import annotations

import numpy as np

from ..checker import removal as rm
from ..checker import simplify_rewrites as sr
from ..checker.channels import LINEAR, ChannelPath, channel_path
from ..checker.rewrites import RewriteError
from ..checker.rounding import add_up
from ..errors import NnequivError
from ..interpret import infer_shapes
from ..ir import Network, Node
from . import register_pass
from .base import INEXACT_WITHOUT_BOX, PassOptions, PassResult, PassStats, Refusal, certified_epsilon


def _incoming_zero(weight: np.ndarray, node: Node) -> np.ndarray:
    """Per output channel: are all incoming weights exactly zero?"""
    if node.op == "Conv":
        return ~np.any(weight.reshape(weight.shape[0], -1) != 0, axis=1)
    view = sr.matrix_view(weight, node)
    return ~np.any(view != 0, axis=0)


def _linear(net: Network) -> list[Node]:
    return [n for n in net.nodes if n.op in LINEAR and len(n.inputs) > 1 and n.inputs[1] in net.initializers]


def _spaces(net: Network, space_of, weight_of, refused: dict[str, Refusal]) -> list[ChannelPath]:
    """The channel spaces of the producers, ordered by their last producer; a producer whose
    space is unsupported is reported when it has zero-input channels (kept)."""
    found: dict[tuple[str, ...], ChannelPath] = {}
    for node in _linear(net):
        try:
            path = space_of(node)
        except RewriteError as exc:
            if np.any(_incoming_zero(weight_of(node), node)):
                refused[node.name] = Refusal(node.name, f"zero-input channels kept: {exc.reason}")
            continue
        found.setdefault(path.key, path)
    position = {n.name: i for i, n in enumerate(net.nodes)}
    return sorted(found.values(), key=lambda p: max(position[q.name] for q in p.producers))


def _propagation_sweep(net: Network, excluded: dict[str, str], refused: dict[str, Refusal]) -> sr.Propagator:
    """One sweep over the channel spaces; ``excluded``: readers whose bias must not be rounded, and why."""
    state = sr.Propagator(net)
    for path in _spaces(net, lambda node: state.path(node, node.name), state.current, refused):
        blocked = [r.node.name for r in path.readers if r.node.name in excluded]
        zeros = [_incoming_zero(state.current(p), p) for p in path.producers]
        zero = np.logical_and.reduce(zeros)
        name = path.producers[0].name
        for k in np.flatnonzero(np.logical_or.reduce(zeros) & ~zero).tolist():
            alive = [p.name for p, z in zip(path.producers, zeros) if not z[k]]
            refused[f"{name}:{k}"] = Refusal(f"{name} channel {k}", f"zero on some branches of a residual Add but "
                                                                    f"not on {alive[0]!r}: not constant, kept")
        for k in np.flatnonzero(zero).tolist():
            if _read_with_zeros(state, path, k):
                continue
            if blocked:
                refused[f"{name}:{k}"] = Refusal(f"{name} channel {k}", f"not propagated into {blocked[0]!r}: "
                                                                        f"{excluded[blocked[0]]}")
                continue
            try:
                state.apply(sr.Propagation(name, k), name)
            except RewriteError as exc:
                refused[f"{name}:{k}"] = Refusal(f"{name} channel {k}", exc.reason)
    return state


def _read_with_zeros(state: sr.Propagator, path: ChannelPath, k: int) -> bool:
    """Do all readers already weigh channel ``k`` with zeros (nothing to propagate)?"""
    return all(_weighs_with_zeros(state.current(r.node), r.node, k, path.channels) for r in path.readers)


def _weighs_with_zeros(w: np.ndarray, node: Node, k: int, channels: int) -> bool:
    """Are the reader's weights from input channel ``k`` (of ``channels``) all exactly zero?"""
    if node.op == "Conv":
        per_group = w.shape[1]
        outputs = w.shape[0] * per_group // channels if channels % per_group == 0 else 0
        block = slice((k // per_group) * outputs, (k // per_group + 1) * outputs)
        return outputs > 0 and not np.any(w[block, k % per_group] != 0)
    view = sr.matrix_view(w, node)
    block = view.shape[0] // channels
    return block > 0 and not np.any(view[k * block:(k + 1) * block] != 0)


def _propagate(net: Network, options: PassOptions, refused: dict[str, Refusal]):
    """The propagation step: (network, entries, epsilon) -- exact unless a box certifies the rounding."""
    excluded: dict[str, str] = {}
    while True:
        state = _propagation_sweep(net, excluded, refused)
        result = state.build()
        if result.exact:
            return result.network, list(state.applied), 0.0
        why = INEXACT_WITHOUT_BOX
        if options.box is not None:
            try:
                epsilon = certified_epsilon(net, result.network, options.box)
                why = "the rounded bias makes the step inexact and its deviation on the box is unbounded"
            except NnequivError as exc:
                epsilon, why = float("inf"), f"the rounded bias's deviation cannot be bounded: {exc.message}"
            if epsilon < float("inf"):
                return result.network, list(state.applied), epsilon
        if not state.inexact - set(excluded):
            return net, [], 0.0
        excluded.update({name: why for name in state.inexact})


def _removal_sweep(net: Network, refused: dict[str, Refusal]) -> tuple[Network, list[rm.Removal]]:
    """Remove unread channels space by space, from the output back (a removal can leave channels of an
    earlier space unread); each removal is the checker's own ``remove_channels``."""
    shapes = dict(infer_shapes(net))
    weight_of = lambda node: net.initializers[node.inputs[1]]
    order = [path.producers[0].name for path in _spaces(net, lambda n: channel_path(net, n, shapes, n.name),
                                                         weight_of, refused)]
    removals = []
    for name in reversed(order):
        node = net.node(name)
        try:
            path = channel_path(net, node, shapes, name)
        except RewriteError as exc:
            refused.setdefault(f"{name}:removal", Refusal(name, f"channels kept: {exc.reason}"))
            continue
        unread = [k for k in range(path.channels) if all(
            _weighs_with_zeros(net.initializers[r.node.inputs[1]], r.node, k, path.channels) for r in path.readers)]
        if len(unread) == path.channels:
            refused[f"{name}:all"] = Refusal(name, "no channel is read; one is kept so the graph stays well formed")
            unread = unread[1:]
        if not unread:
            continue
        entry = rm.Removal(name, tuple(unread))
        try:
            net = rm.remove_channels(net, entry, shapes, name)
        except RewriteError as exc:
            refused[f"{name}:removal"] = Refusal(name, f"unread channels {unread[:8]} kept: {exc.reason}")
            continue
        removals.append(entry)
    return net, removals


@register_pass("simplify")
def simplify(net: Network, options: PassOptions) -> PassResult:
    refused: dict[str, Refusal] = {}
    steps: list[tuple[dict, Network]] = []
    current, propagated, removed, epsilon_total = net, 0, 0, 0.0
    while True:
        after, entries, epsilon = _propagate(current, options, refused)
        if entries:
            steps.append(({"kind": "bias_propagation", "epsilon": epsilon.hex(),
                           "propagations": [{"node": e.node, "channel": e.channel} for e in entries]}, after))
            current, propagated, epsilon_total = after, propagated + len(entries), float(add_up(epsilon_total, epsilon))
        after, removals = _removal_sweep(current, refused)
        if removals:
            steps.append(({"kind": "channel_removal", "epsilon": (0.0).hex(),
                           "removals": [{"node": r.node, "channels": list(r.channels)} for r in removals]}, after))
            current = after
            removed += sum(len(r.channels) for r in removals)
        if not entries and not removals:
            break
    if not steps:
        steps.append(({"kind": "channel_removal", "epsilon": (0.0).hex(), "removals": []}, current))
    details = {"propagated": propagated, "removed_channels": removed,
               "spatial_bias_adds": len({n.name for n in current.nodes} - {n.name for n in net.nodes}),
               "steps": len(steps)}
    stats = PassStats(propagated + removed, tuple(refused.values()), epsilon_total, details)
    return PassResult(steps[-1][1], steps[-1][0], stats, tuple(steps[:-1]))
