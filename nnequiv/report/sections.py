"""Report sections about the models, the domain, the relation and the proof (facts from :mod:`.model`)."""

from __future__ import annotations

import json
import math
import os
import sys
from typing import Any, Sequence

import numpy as np

from ..errors import NnequivError
from ..ir import Network
from ..spec.relation import Relation
from .tree import hex_or_none
from .model import (CheckFacts, DomainFacts, IntervalRun, LayerFacts, LayerPair, ModelFacts, ProblemFacts,
                    ProofFacts, RelationFacts, StepFacts, TensorFacts)
from .text import RELATION_STATEMENT, evidence_text
from .tree import tree_facts

LARGE_BOX = 16           # more dimensions than this: summarise, full table collapsed
FULL_TABLE_LIMIT = 4096  # at most this many per-dimension rows
RUNS_LIMIT = 64
STEP_FIELDS = {"kind", "from", "to", "epsilon", "method", "tree"}  # shown by their own rows
DETAIL_CHARS = 240


# ------------------------------------------------------------------------------------- models
def model_facts(role: str, net: Network | None, path: str | None, cert: dict[str, Any] | None) -> ModelFacts:
    entry = get_path(cert, "models", role)
    certified_sha = entry.get("sha256") if isinstance(entry, dict) and isinstance(entry.get("sha256"), str) else None
    certified_name = entry.get("name") if isinstance(entry, dict) and isinstance(entry.get("name"), str) else None
    file_ok = path is not None and os.path.isfile(path)
    base = dict(role=role, file=path, file_bytes=os.path.getsize(path) if file_ok else None,
                file_sha256=_file_sha(path) if file_ok else None, format=_format(path, net),
                certified_name=certified_name, certified_sha256=certified_sha)
    empty = dict(opset=None, inputs=(), outputs=(), weight_dtypes=(), nodes=None, layer_count=None,
                 neurons=None, parameters=None, flops=None, layers=())
    if net is None:
        return ModelFacts(given=False, sha256=None, hash_matches=None, error=None, **base, **empty)
    from ..onnx_io import canonical_sha256

    digest = canonical_sha256(net)
    matches = None if certified_sha is None else certified_sha == digest
    try:
        from ..summary import LAYER_OPS, summarize

        summary = summarize(net)
    except NnequivError as exc:
        return ModelFacts(given=True, sha256=digest, hash_matches=matches, error=exc.one_line(), **base, **empty)
    layers = tuple(LayerFacts(k, row.name, row.op, row.neurons, row.parameters, row.activation)
                   for k, row in enumerate((r for r in summary.layers if r.op in LAYER_OPS), start=1))
    dtypes = sorted({str(a.dtype) for a in net.initializers.values() if np.issubdtype(a.dtype, np.floating)})
    return ModelFacts(
        given=True, sha256=digest, hash_matches=matches, error=None, opset=summary.opset,
        inputs=tuple(TensorFacts(t.name, tuple(t.shape), t.dtype) for t in summary.inputs),
        outputs=tuple(TensorFacts(t.name, tuple(t.shape), t.dtype) for t in summary.outputs),
        weight_dtypes=tuple(dtypes), nodes=summary.nodes, layer_count=summary.layer_count,
        neurons=summary.neurons, parameters=summary.parameters, flops=summary.flops, layers=layers, **base)


def layer_pairs(models: Sequence[ModelFacts]) -> tuple[LayerPair, ...]:
    """Layers side by side by position (the k-th layer of each model)."""
    f, g = models[0].layers, models[1].layers
    return tuple(LayerPair(k + 1, f[k] if k < len(f) else None, g[k] if k < len(g) else None)
                 for k in range(max(len(f), len(g))))


def _file_sha(path: str) -> str:
    from .inputs import file_sha256

    return file_sha256(path)


def _format(path: str | None, net: Network | None) -> str | None:
    if path is not None:
        suffix = os.path.splitext(path)[1].lower()
        if suffix in (".onnx", ".nnet"):
            return suffix[1:]
    return None if net is None else "in-memory network"


# ------------------------------------------------------------------------------------- domain
def domain_facts(cert: dict[str, Any] | None, box: Any, source: str | None, net: Network | None) -> DomainFacts:
    from ..spec.box import Box

    metadata = get_path(cert, "metadata")
    if source is None and isinstance(metadata, dict):
        named = metadata.get("vnnlib") or metadata.get("spec")
        source = named if isinstance(named, str) else None
    shape = tuple(net.input.shape) if net is not None and len(net.inputs) == 1 else None
    raw, origin = (get_path(cert, "claim", "box"), "certificate claim") if cert is not None else (box, "given")
    if raw is None:
        why = ("the verdict file does not record the input box" if cert is None
               else "the certificate records no box")
        return _unknown_domain(why, source, shape, None)
    try:
        parsed = raw if isinstance(raw, Box) else Box.from_json(raw)
    except NnequivError as exc:
        return _unknown_domain(origin, source, shape, exc.one_line())
    lo, hi = np.asarray(parsed.lower), np.asarray(parsed.upper)
    runs = _runs(lo, hi)
    rows = tuple(_interval(i, i, lo[i], hi[i]) for i in range(min(lo.size, FULL_TABLE_LIMIT)))
    widths = parsed.widths
    return DomainFacts(
        known=True, origin=origin, source=source, size=parsed.size, input_shape=shape,
        min_lower=float(lo.min()), max_lower=float(lo.max()), min_upper=float(hi.min()), max_upper=float(hi.max()),
        min_width=float(np.min(widths)), max_width=float(np.max(widths)),
        distinct_intervals=len({(float(a), float(b)) for a, b in zip(lo, hi)}),
        runs=tuple(runs[:RUNS_LIMIT]), runs_total=len(runs), rows=rows, large=parsed.size > LARGE_BOX,
        unbounded=bool(lo.min() <= -sys.float_info.max and hi.max() >= sys.float_info.max), error=None)


def _unknown_domain(origin: str, source: str | None, shape, error: str | None) -> DomainFacts:
    return DomainFacts(False, origin, source, None, shape, None, None, None, None, None, None, None, (), 0, (),
                       False, False, error)


def _interval(first: int, last: int, lower: float, upper: float) -> IntervalRun:
    return IntervalRun(first, last, float(lower), float(upper), float(lower).hex(), float(upper).hex())


def _runs(lo: np.ndarray, hi: np.ndarray) -> list[IntervalRun]:
    change = np.flatnonzero((lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change - 1, [lo.size - 1]])
    return [_interval(int(a), int(b), lo[a], hi[a]) for a, b in zip(starts, ends)]


# ------------------------------------------------------------------------------------- relation
def relation_facts(cert: dict[str, Any] | None, verdict: dict[str, Any] | None) -> RelationFacts:
    from ..spec.relation import Relation

    raw, origin = ((get_path(cert, "claim", "relation"), "certificate claim") if cert is not None
                   else ((verdict or {}).get("relation"), "verdict file"))
    try:
        relation = Relation.from_json(raw)
    except (NnequivError, TypeError, ValueError) as exc:
        message = exc.one_line() if isinstance(exc, NnequivError) else str(exc)
        return RelationFacts(False, origin, None, None, None, None, "unreadable relation", "", message)
    eps = relation.eps if relation.kind == "eps" else None
    return RelationFacts(True, origin, relation.kind, eps, None if eps is None else eps.hex(), relation.outputs,
                         relation.describe(), RELATION_STATEMENT[relation.kind], None)


def as_relation(facts: RelationFacts) -> Relation | None:
    from ..spec.relation import Relation

    if not facts.known or facts.kind is None:
        return None
    return Relation(facts.kind, facts.eps or 0.0, facts.outputs)


# ------------------------------------------------------------------------------------- proof and steps
def proof_facts(cert: dict[str, Any], check: CheckFacts, verdict: dict[str, Any] | None) -> ProofFacts:
    from ..checker.rounding import add_up

    claim = get_path(cert, "claim")
    claim = claim if isinstance(claim, dict) else {}
    bound = hex_or_none(claim.get("bound"))
    relation = relation_facts(cert, None)
    eps = relation.eps
    steps = cert.get("steps") if isinstance(cert.get("steps"), list) else []
    total: float | None = 0.0
    for step in steps:
        value = hex_or_none(step.get("epsilon")) if isinstance(step, dict) else None
        total = None if value is None or total is None else float(add_up(total, value))
    status = {"valid": "proved", "invalid": "rejected"}.get(check.status, "claimed, not re-checked")
    lower = get_path(verdict, "max_deviation", "lower")
    schema = check.problems if check.status == "not_rechecked" else ()
    return ProofFacts(
        claimed_verdict=claim.get("verdict") if isinstance(claim.get("verdict"), str) else None,
        status=status, bound=bound, bound_hex=None if bound is None else bound.hex(), eps=eps,
        slack=None if eps is None or bound is None else eps - bound,
        margin=-bound if relation.kind == "top1" and bound is not None else None,
        steps_total=total if steps else None,
        reached_lower=finite(lower),
        schema_problems=schema)


def step_facts(cert: dict[str, Any], check: CheckFacts, models: Sequence[ModelFacts]) -> tuple[StepFacts, ...]:
    steps = cert.get("steps") if isinstance(cert.get("steps"), list) else []
    roles = {m.certified_sha256: m.role for m in models if m.certified_sha256}
    kinds = registered_kinds()
    passes = _recorded_passes(cert)
    out = []
    for index, step in enumerate(steps):
        step = step if isinstance(step, dict) else {}
        kind, source, target = (str(step.get(k, "?")) for k in ("kind", "from", "to"))
        prefix = f"steps/{index}"
        mine = tuple(p for p in check.problems if p.item == prefix or p.item.startswith(prefix + "/"))
        epsilon = hex_or_none(step.get("epsilon"))
        out.append(StepFacts(
            index=index, kind=kind, from_hash=source, to_hash=target,
            from_label=_label(source, roles), to_label=_label(target, roles),
            change=_change(source, target, roles, models, len(steps),
                           passes.get(step["pass"]) if isinstance(step.get("pass"), str) else None),
            evidence=evidence_text(kind, kind in kinds), details=_details(step),
            method=step.get("method") if isinstance(step.get("method"), str) else None,
            epsilon=epsilon, epsilon_hex=None if epsilon is None else epsilon.hex(),
            status=_step_status(check, index, mine), problems=mine,
            tree=tree_facts(step.get("tree")) if kind == "bab_tree" and "tree" in step else None))
    return tuple(out)


def _step_status(check: CheckFacts, index: int, mine: tuple[ProblemFacts, ...]) -> str:
    if check.status == "valid":
        return "accepted"
    if check.status != "invalid":
        return "not re-checked"
    if mine or (index < len(check.step_results) and not check.step_results[index]):
        return "rejected"
    if index < len(check.step_results):
        return "evidence accepted (the certificate is rejected for another reason)"
    # the checker stops at the first model, claim or chain problem; later evidence is not examined
    return "not reached (the checker stopped before this step)"


def _label(digest: str, roles: dict[str, str]) -> str:
    return roles.get(digest, f"intermediate model {digest[:12]}…")


def _change(source: str, target: str, roles: dict[str, str], models: Sequence[ModelFacts], steps: int,
            recorded: dict[str, Any] | None) -> str:
    if source == target:
        return "No change: the step's source and target are the same model (the rewrite found nothing to apply)."
    if steps == 1 and roles.get(source) == "original" and roles.get(target) == "reduced":
        f, g = models
        text = "The whole change from the original to the reduced network, compared end to end"
        if f.given and g.given and f.neurons is not None and g.neurons is not None:
            text += (f": hidden neurons {f.neurons:,} → {g.neurons:,}, parameters "
                     f"{f.parameters:,} → {g.parameters:,}")
        return text + "."
    text = f"From {_label(source, roles)} to {_label(target, roles)}."
    if recorded is not None:
        text += f" Recorded by the tool that made it (untrusted): {pass_summary(recorded)}."
    return text


def registered_kinds() -> frozenset[str]:
    """Evidence kinds the trusted checker has a rule for (both of its registries)."""
    from importlib import import_module

    from ..checker import verification  # noqa: F401  (registers the kinds)
    from ..checker.registry import EVIDENCE

    try:
        replays = getattr(import_module("nnequiv.checker.structural"), "REPLAYS", {})
    except ImportError:
        replays = {}
    return frozenset(EVIDENCE) | frozenset(replays)


def _details(step: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """The step's other fields, as short JSON (kind-specific data such as the folds or lumped classes)."""
    out = []
    for key in sorted(k for k in step if k not in STEP_FIELDS):
        text = json.dumps(step[key], separators=(", ", ": "), default=str)
        if isinstance(step[key], list):
            text = f"{len(step[key])} entr{'y' if len(step[key]) == 1 else 'ies'}: {text}"
        out.append((str(key), text if len(text) <= DETAIL_CHARS else text[:DETAIL_CHARS - 1] + "…"))
    return tuple(out)


def _recorded_passes(cert: dict[str, Any]) -> dict[Any, dict[str, Any]]:
    passes = get_path(cert, "metadata", "passes")
    if not isinstance(passes, list):
        return {}
    return {p.get("pass"): p for p in passes if isinstance(p, dict) and isinstance(p.get("pass"), str)}


def pass_summary(record: dict[str, Any]) -> str:
    parts = [f"pass {record.get('pass')}"]
    if "applied" in record:
        parts.append(f"applied {record['applied']}")
    for key in ("neurons", "parameters"):
        value = record.get(key)
        if isinstance(value, list) and len(value) == 2:
            parts.append(f"{key} {value[0]} → {value[1]}")
    return ", ".join(parts)


# ------------------------------------------------------------------------------------- helpers
def get_path(document: Any, *keys: str) -> Any:
    """``document[k1][k2]...``, or None when a level is missing or not an object."""
    for key in keys:
        if not isinstance(document, dict):
            return None
        document = document.get(key)
    return document


    try:
        return float.fromhex(value)
    except (ValueError, OverflowError):
        return None


def finite(value: Any) -> float | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None

