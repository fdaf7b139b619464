"""Top-level certificate verification (trusted).

Checks, in order: the JSON schema; that the certificate names these two models
(canonical SHA-256); that the claim's box and relation parse; that the steps form
a chain from the original to the reduced model; each step's evidence with its
registered checker (a structural step -- ``structural.REPLAYS`` -- is replayed on its
source and the replayed network, whose hash must be the step's ``to``, continues the
chain, so intermediate models are never shipped); and that the steps' epsilons
(non-negative; NaN is refused, it would make every comparison false) add up to at most
the claimed bound (triangle inequality, ``proofs/composition.md``).
Metadata is ignored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..hexfloat import parse_hex
from ..certificate.io import schema_problems
from ..errors import NnequivError
from ..ir import Network
from ..onnx_io import canonical_sha256
from ..spec.box import Box
from ..spec.relation import Relation
from . import bab_tree  # noqa: F401  (registers the evidence kind)
from . import composition  # noqa: F401  (registers the evidence kind)
from . import linear_merge  # noqa: F401  (registers the replay of linear_merge)
from . import simplify_rewrites  # noqa: F401  (its replays are registered in structural.py)
from . import perturbation, permutation  # noqa: F401  (register their kinds)
from . import stable_relu_evidence  # noqa: F401  (registers the replay of stable_relu)
from .registry import EVIDENCE, Problem, StepContext
from .rounding import add_up
from .structural import REPLAYS, ReplayContext


@dataclass(frozen=True)
class CheckReport:
    valid: bool
    problems: tuple[Problem, ...] = ()
    steps: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        return {"valid": self.valid, "problems": [{"item": p.item, "reason": p.reason} for p in self.problems],
                "steps": list(self.steps)}


def verify(certificate: Any, original: Network, reduced: Network) -> CheckReport:
    problems = [Problem(*p.split(": ", 1)) for p in schema_problems(certificate)]
    if problems:
        return CheckReport(False, tuple(problems))
    models = {"original": original, "reduced": reduced}
    hashes = {role: canonical_sha256(net) for role, net in models.items()}
    for role, digest in hashes.items():
        if certificate["models"][role]["sha256"] != digest:
            problems.append(Problem(f"models/{role}/sha256",
                                    f"certificate is for model {certificate['models'][role]['sha256'][:12]}…, "
                                    f"this model is {digest[:12]}…"))
    claim = certificate["claim"]
    try:
        relation = Relation.from_json(claim["relation"])
        box = Box.from_json(claim["box"])
        bound = parse_hex(claim["bound"])
    except (NnequivError, ValueError, OverflowError, TypeError) as exc:
        return CheckReport(False, tuple(problems) + (Problem("claim", f"unreadable claim: {exc}"),))
    if box.size != original.input.size or box.size != reduced.input.size:
        problems.append(Problem("claim/box", f"box has {box.size} bounds, models take "
                                             f"{original.input.size} and {reduced.input.size} inputs"))
    if math.isnan(bound) or bound < 0:
        problems.append(Problem("claim/bound", f"claimed bound {bound!r} is not a bound on a deviation"))
    elif relation.kind != "eps" and bound != 0.0:
        problems.append(Problem("claim/bound", f"an {relation.kind} claim states no deviation bound: "
                                               f"expected 0, got {bound!r}"))
    if relation.kind == "eps" and bound > relation.eps:
        problems.append(Problem("claim/bound", f"claimed bound {bound!r} exceeds eps {relation.eps!r}"))
    if problems:
        return CheckReport(False, tuple(problems))
    by_hash = {hashes["original"]: original, hashes["reduced"]: reduced}
    current = hashes["original"]
    total = 0.0
    step_reports = []
    for index, step in enumerate(certificate["steps"]):
        item = f"steps/{index}"
        if step["from"] != current:
            problems.append(Problem(f"{item}/from", "the chain of steps is broken here"))
            break
        if step["kind"] in REPLAYS:  # structural: the checker computes the target itself
            found = _replay(ReplayContext(index, step, by_hash[current], box, relation), by_hash)
            problems += found
            step_reports.append({"kind": step["kind"], "valid": not found})
            if found:
                break
        else:
            if step["to"] not in by_hash:
                problems.append(Problem(f"{item}/to", "intermediate model not available to the checker"))
                break
            checker = EVIDENCE.get(step["kind"])
            if checker is None:
                problems.append(Problem(f"{item}/kind", f"unknown evidence kind {step['kind']!r}"))
                break
            context = StepContext(index, step, by_hash[step["from"]], by_hash[step["to"]], box, relation)
            found = checker(context)
            problems += found
            step_reports.append({"kind": step["kind"], "valid": not found})
        try:
            epsilon = parse_hex(step["epsilon"])
        except (ValueError, OverflowError, TypeError):
            problems.append(Problem(f"{item}/epsilon", "not a hex float"))
        else:
            if not epsilon >= 0:  # NaN too: it would make every later comparison false
                problems.append(Problem(f"{item}/epsilon", f"{epsilon!r} is not a non-negative deviation"))
            elif relation.kind != "eps" and epsilon != 0.0:
                problems.append(Problem(f"{item}/epsilon", f"a step of an {relation.kind} claim contributes "
                                                           f"epsilon 0, not {epsilon!r}"))
            else:
                total = add_up(total, epsilon)
        current = step["to"]
    if not problems and current != hashes["reduced"]:
        problems.append(Problem("steps", "the chain does not end at the reduced model"))
    if not problems and relation.kind == "eps" and total > bound:
        problems.append(Problem("claim/bound", f"steps add up to {float(total)!r}, more than the claimed {bound!r}"))
    return CheckReport(not problems, tuple(problems), tuple(step_reports))


def _replay(context: ReplayContext, by_hash: dict[str, Network]) -> list[Problem]:
    """Run a structural step's replay; its target must hash to the step's ``to`` (then it joins ``by_hash``)."""
    found, target = REPLAYS[context.step["kind"]](context)
    if found or target is None:
        return found or [Problem(context.where, "the rewrite could not be replayed")]
    digest = canonical_sha256(target)
    if digest != context.step["to"]:
        return [Problem(f"{context.where}/to", f"the replayed rewrite gives model {digest[:12]}…, "
                                               f"the step names {context.step['to'][:12]}…")]
    by_hash.setdefault(digest, target)
    return []
