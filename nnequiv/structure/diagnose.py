"""Name the first layer and channels where two graphs stop corresponding (untrusted, for messages).

Used when the graphs do not align even after dead channels were removed: at the first stage
whose output width differs, each reduced channel is paired with its nearest original channel
(rows of weights + bias, the input axis restricted to the channels that matched upstream); the
original channels left over are the ones the reduced model dropped although they are not dead
-- e.g. a simplifier that removed a channel whose weights *sum* to zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..checker.graph_align import INPUT, Stage

CHANNELWISE = ("Relu", "LeakyRelu", "MaxPool", "AddConst")


def _channels(stage: Stage) -> int:
    return int(stage.shape[1]) if len(stage.shape) > 1 else int(stage.shape[-1])


def _rows(stage: Stage, kept: np.ndarray | None) -> np.ndarray:
    weight = stage.linear.weight
    if stage.op == "Conv":
        weight = weight if kept is None else weight[:, kept]
        rows = weight.reshape(weight.shape[0], -1)
    else:
        weight = weight if kept is None else weight[kept]
        rows = weight.T
    return np.hstack([rows, stage.linear.bias[:, None]])


@dataclass(frozen=True)
class Mismatch:
    node: str                    # the original's node whose channels have no counterpart
    channels: tuple[int, ...]    # their indices in the original model
    kernels: tuple[np.ndarray, ...]   # their incoming weights (BatchNorm folded), for a targeted search
    reads_input: bool            # the node reads the network input directly
    message: str


def first_mismatch(f: tuple[Stage, ...], g: tuple[Stage, ...], steps=()) -> Mismatch | None:
    """The first layer whose channels differ and the original channels without a counterpart
    (with a message naming them), or None when no such layer is found (the graphs differ otherwise).  ``steps``
    (the ``channel_removal`` steps already applied to the original) map the channel indices back
    to the original model's numbering."""
    kept: dict[int, np.ndarray | None] = {INPUT: None}   # original channels matched by the reduced ones
    for k, (a, b) in enumerate(zip(f, g)):
        if a.op != b.op or a.inputs != b.inputs:
            return None
        incoming = kept.get(a.inputs[0]) if a.inputs else None
        if a.linear is None:
            if a.op not in CHANNELWISE and incoming is not None:
                return None
            kept[k] = incoming
            continue
        if _channels(a) == _channels(b):
            kept[k] = None
            continue
        fr, gr = _rows(a, incoming), _rows(b, None)
        if fr.shape[1] != gr.shape[1]:
            return None
        distance = (np.sum(gr ** 2, 1)[:, None] - 2 * gr @ fr.T + np.sum(fr ** 2, 1)[None, :])
        chosen = np.argmin(distance, axis=1)
        dropped = sorted(set(range(fr.shape[0])) - set(chosen.tolist()))
        detail = ", ".join(f"{original_channel(c, a.node.name, steps)} (incoming weights sum "
                           f"{float(np.sum(fr[c, :-1])):.3g}, max |w| {float(np.max(np.abs(fr[c, :-1]))):.3g})"
                           for c in dropped[:5])
        message = (f"first mismatch at stage {k}, {a.op} node {a.node.name!r}: {_channels(a)} channels (dead ones "
                   f"removed) against {_channels(b)}; original channel(s) {detail} have no counterpart and are not "
                   "dead (non-zero incoming weights, BatchNorm folded), so removing them changes the function")
        weight = a.linear.weight
        kernels = tuple((weight[c] if a.op == "Conv" else weight[:, c]) for c in dropped[:5])
        return Mismatch(a.node.name, tuple(original_channel(c, a.node.name, steps) for c in dropped),
                        kernels, a.inputs == (INPUT,), message)
    return None


def original_channel(channel: int, node: str, steps) -> int:
    """The index in the original model of ``channel`` of ``node`` after the ``channel_removal`` steps."""
    for step in reversed(list(steps)):
        for removal in reversed(step.get("removals", ()) if step.get("kind") == "channel_removal" else ()):
            if removal["node"] == node:
                for removed in sorted(removal["channels"]):
                    if removed <= channel:
                        channel += 1
    return channel
