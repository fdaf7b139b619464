"""Chain passes and build the certificate of the whole chain.

``compress(net, passes, box=None) -> (reduced, certificate)``.  One step per pass
application (also when the pass changed nothing; a pass may write several:
``PassResult.steps``), each with the canonical hashes of its source and target;
intermediate models are not shipped -- the checker replays every structural step.
The claim is ``exact`` when every step is exact, else ``eps`` with the steps'
epsilons summed with upward rounding (as the checker does).
Without a box only exact rewrites are made, and the claim's box is every finite
float64 input (the rewrites are identities over all of R^n).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from ..certificate.build import certificate as build_certificate
from ..checker.rounding import add_up
from ..ir import Network
from ..onnx_io import canonical_sha256
from ..spec.box import Box
from ..spec.relation import Relation
from ..summary import summarize
from . import get_pass
from .base import PassOptions, PassStats

__all__ = ["DEFAULT_PASSES", "Compression", "PassReport", "compress", "run"]

DEFAULT_PASSES: tuple[str, ...] = ("fuse-bn", "fold-affine", "lump")


@dataclass(frozen=True)
class PassReport:
    pass_id: str
    stats: PassStats
    neurons: tuple[int, int]          # before, after
    parameters: tuple[int, int]
    seconds: float
    flops: tuple[int, int] = (0, 0)   # per sample, estimated (nnequiv.summary)


@dataclass(frozen=True, eq=False)
class Compression:
    reduced: Network
    certificate: dict[str, Any]
    reports: tuple[PassReport, ...]


def run(net: Network, passes: Sequence[str] = DEFAULT_PASSES, box: Box | None = None,
        tol: float = 0.0, progress: Callable[[str, int, int], None] | None = None) -> Compression:
    """Apply ``passes`` in order; the certificate binds ``net`` to the result.  ``tol``: see
    :class:`PassOptions` (needs a box).  ``progress(pass_id, position, count)`` is called as
    each pass starts."""
    functions = [(pass_id, get_pass(pass_id)) for pass_id in passes]
    if box is not None:
        box = box.broadcast_to(net.input.size)
    options = PassOptions(box=box, tol=tol)
    current, current_hash = net, canonical_sha256(net)
    original_hash = current_hash
    before = summarize(net)
    steps, reports, total = [], [], 0.0
    for position, (pass_id, function) in enumerate(functions):
        if progress is not None:
            progress(pass_id, position, len(functions))
        start = time.perf_counter()
        result = function(current, options)
        for step, target in result.steps:
            target_hash = canonical_sha256(target)
            evidence = dict(step)
            steps.append({"kind": evidence.pop("kind"), "from": current_hash, "to": target_hash,
                          "epsilon": evidence.pop("epsilon"), "pass": pass_id, **evidence})
            total = float(add_up(total, float.fromhex(steps[-1]["epsilon"])))
            current_hash = target_hash
        seconds = time.perf_counter() - start
        after = summarize(result.network)
        reports.append(PassReport(pass_id, result.stats, (before.neurons, after.neurons),
                                  (before.parameters, after.parameters), seconds, (before.flops, after.flops)))
        current, before = result.network, after
    certificate = _certificate(net, original_hash, current, current_hash, steps, total, box, reports)
    return Compression(current, certificate, tuple(reports))


def compress(net: Network, passes: Sequence[str] = DEFAULT_PASSES,
             box: Box | None = None, tol: float = 0.0) -> tuple[Network, dict[str, Any]]:
    """The reduced network and the certificate of the chain ``net -> ... -> reduced``."""
    done = run(net, passes, box, tol)
    return done.reduced, done.certificate


def _certificate(original: Network, original_hash: str, reduced: Network, reduced_hash: str,
                 steps: list[dict[str, Any]], total: float, box: Box | None,
                 reports: list[PassReport]) -> dict[str, Any]:
    relation = Relation.exact() if total == 0.0 else Relation.epsilon(total)
    claim_box = box if box is not None else Box.uniform(-sys.float_info.max, sys.float_info.max,
                                                        original.input.size)
    return build_certificate(original, reduced, claim_box, relation, total, steps, {
        "command": "compress",
        "passes": [{"pass": r.pass_id, "applied": r.stats.applied, "epsilon": r.stats.epsilon,
                    "refused": [str(x) for x in r.stats.refused], "neurons": list(r.neurons),
                    "parameters": list(r.parameters), "seconds": r.seconds} for r in reports]},
        (original_hash, reduced_hash))
