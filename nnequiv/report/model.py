"""The report's facts: a plain, immutable :class:`ReportData` built from a certificate,
an optional verdict and optional model files.

This is the only place facts are computed; the renderers only lay them out.  The
trusted checker is re-run here whenever both models are given, and the outcome
(:attr:`ReportData.outcome`) follows the checker, never the certificate's claim:

* ``equivalent``      -- a certificate the checker accepts for the given models;
* ``invalid``         -- a certificate the checker rejects (each problem is listed);
* ``not_rechecked``   -- a certificate shown without models: its claims are claims only;
* ``not_equivalent``  -- a verdict with a counterexample (replayed exactly when models are given);
* ``unconfirmed``     -- a counterexample that the given models do NOT violate when replayed;
* ``unknown``         -- a verdict that decided nothing;
* ``unproved``        -- a verdict that says "equivalent" but comes without a certificate.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields, is_dataclass
from typing import Any, Mapping

from .tree import TreeFacts

__all__ = ["REPORT_SCHEMA", "ReportData", "build_report", "Headline", "ModelFacts", "LayerFacts", "LayerPair",
           "DomainFacts", "IntervalRun", "RelationFacts", "ProofFacts", "StepFacts", "ProblemFacts",
           "CheckFacts", "CounterexampleFacts", "SearchFacts", "CommandFacts", "TensorFacts", "SourceFacts"]

REPORT_SCHEMA = "nnequiv/report@1"


@dataclass(frozen=True)
class TensorFacts:
    name: str
    shape: tuple[int, ...]
    dtype: str


@dataclass(frozen=True)
class LayerFacts:
    index: int                # position among the model's layers (Gemm, MatMul, Conv, ConvTranspose), from 1
    name: str
    op: str
    neurons: int              # output size of the layer
    parameters: int           # floating-point initializer elements the node reads
    activation: str | None    # the activation the layer feeds, if any


@dataclass(frozen=True)
class ModelFacts:
    role: str                         # "original" | "reduced"
    given: bool                       # the model itself was available to the report
    file: str | None
    file_bytes: int | None
    file_sha256: str | None           # SHA-256 of the file bytes (sha256sum)
    format: str | None
    certified_name: str | None        # name recorded in the certificate (an untrusted label)
    certified_sha256: str | None      # canonical SHA-256 the certificate binds
    sha256: str | None                # canonical SHA-256 computed now from the model
    hash_matches: bool | None         # None when either side is unknown
    opset: int | None
    inputs: tuple[TensorFacts, ...]
    outputs: tuple[TensorFacts, ...]
    weight_dtypes: tuple[str, ...]
    nodes: int | None
    layer_count: int | None
    neurons: int | None               # hidden neurons (layers that feed an activation)
    parameters: int | None
    flops: int | None
    layers: tuple[LayerFacts, ...]
    error: str | None                 # why the model could not be summarised


@dataclass(frozen=True)
class LayerPair:
    index: int
    original: LayerFacts | None
    reduced: LayerFacts | None


@dataclass(frozen=True)
class IntervalRun:
    first: int
    last: int
    lower: float
    upper: float
    lower_hex: str
    upper_hex: str


@dataclass(frozen=True)
class DomainFacts:
    known: bool
    origin: str                       # where the box comes from (certificate claim, given, ...)
    source: str | None                # a VNN-LIB / box file it was read from, when known
    size: int | None
    input_shape: tuple[int, ...] | None
    min_lower: float | None
    max_lower: float | None
    min_upper: float | None
    max_upper: float | None
    min_width: float | None
    max_width: float | None
    distinct_intervals: int | None
    runs: tuple[IntervalRun, ...]     # consecutive dimensions with the same interval (capped)
    runs_total: int
    rows: tuple[IntervalRun, ...]     # one per dimension (first FULL_TABLE_LIMIT)
    large: bool
    unbounded: bool                   # bounds at +-max float64: every finite input
    error: str | None


@dataclass(frozen=True)
class RelationFacts:
    known: bool
    origin: str
    kind: str | None
    eps: float | None
    eps_hex: str | None
    outputs: tuple[int, ...] | None
    description: str
    statement: str
    error: str | None


@dataclass(frozen=True)
class ProblemFacts:
    item: str
    reason: str


@dataclass(frozen=True)
class ProofFacts:
    claimed_verdict: str | None
    status: str                       # "proved" | "rejected" | "claimed, not re-checked"
    bound: float | None
    bound_hex: str | None
    eps: float | None
    slack: float | None               # eps - bound (eps relation)
    margin: float | None              # -bound (top-1 relation)
    steps_total: float | None         # sum of the steps' epsilons (rounded up)
    reached_lower: float | None       # deviation reached at a confirmed input (from the verdict)
    schema_problems: tuple[ProblemFacts, ...]


@dataclass(frozen=True)
class StepFacts:
    index: int
    kind: str
    from_hash: str
    to_hash: str
    from_label: str
    to_label: str
    change: str
    evidence: str
    method: str | None
    epsilon: float | None
    epsilon_hex: str | None
    status: str                       # "accepted" | "rejected" | "not reached" | "not re-checked"
    problems: tuple[ProblemFacts, ...]
    tree: TreeFacts | None
    details: tuple[tuple[str, str], ...]   # the step's other fields (kind-specific data), as short JSON


@dataclass(frozen=True)
class CheckFacts:
    status: str                       # "valid" | "invalid" | "not_rechecked" | "no_certificate"
    ran: bool
    problems: tuple[ProblemFacts, ...]
    step_results: tuple[bool, ...]    # per step the checker examined, in order: its evidence held
    seconds: float | None
    checker: str
    explanation: str


@dataclass(frozen=True)
class CounterexampleFacts:
    input: tuple[float, ...]
    original_output: tuple[float, ...]
    reduced_output: tuple[float, ...]
    deviations: tuple[float, ...]     # |g_i - f_i| of the outputs shown (float64)
    compared: tuple[int, ...]
    deviation: float | None           # exact-arithmetic deviation recorded by the check
    float32_deviation: float | None
    exact_arithmetic: bool
    argmax_original: tuple[int, ...]
    argmax_reduced: tuple[int, ...]
    recheck: str                      # "confirmed" | "not confirmed" | "not re-checked" | "error"
    recheck_detail: str
    replay: str = "rational"          # how the check confirmed it: "rational" | "rigorous" | "float64"
    deviation_lower: float | None = None  # "rigorous": proved lower bound on the deviation


@dataclass(frozen=True)
class SearchFacts:
    verdict: str
    lower: float | None
    upper: float | None
    seconds: float | None
    regions: int | None
    stage: str | None


@dataclass(frozen=True)
class CommandFacts:
    purpose: str
    command: str


@dataclass(frozen=True)
class SourceFacts:
    certificate: str | None
    certificate_sha256: str | None
    certificate_sha256_of: str | None     # "file bytes" | "JSON serialisation"
    verdict: str | None


@dataclass(frozen=True)
class Headline:
    tone: str                             # "ok" | "bad" | "warn"
    title: str
    detail: str


@dataclass(frozen=True)
class ReportData:
    schema: str
    generated_at: str
    outcome: str
    headline: Headline
    sources: SourceFacts
    models: tuple[ModelFacts, ModelFacts]
    layers: tuple[LayerPair, ...]
    domain: DomainFacts
    relation: RelationFacts
    semantics: tuple[str, ...]
    float32: tuple[str, ...]
    proof: ProofFacts | None
    steps: tuple[StepFacts, ...]
    check: CheckFacts
    counterexample: CounterexampleFacts | None
    search: SearchFacts | None
    reproduce: tuple[CommandFacts, ...]
    versions: tuple[tuple[str, str], ...]
    recorded: tuple[tuple[str, str], ...]  # certificate / verdict metadata: untrusted
    notes: tuple[str, ...]
    limits: tuple[str, ...]
    glossary: tuple[tuple[str, str], ...]

    @property
    def original(self) -> ModelFacts:
        return self.models[0]

    @property
    def reduced(self) -> ModelFacts:
        return self.models[1]

    def to_json(self) -> dict[str, Any]:
        """A JSON-compatible dict (tuples become lists; non-finite floats become None)."""
        return _plain(self)

    def dumps(self, indent: int | None = 1) -> str:
        return json.dumps(self.to_json(), indent=indent, allow_nan=False)


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def build_report(certificate: Any = None, verdict: Any = None, original: Any = None, reduced: Any = None, *,
                 certificate_path: str | None = None, verdict_path: str | None = None,
                 original_path: str | None = None, reduced_path: str | None = None, box: Any = None,
                 domain_source: str | None = None, generated_at: str | None = None,
                 recheck: bool = True) -> ReportData:
    """Collect the facts of a report.

    ``certificate``: a certificate dict or the path of its JSON file.
    ``verdict``: a :class:`~nnequiv.engine.verdict.Verdict`, its ``to_json()`` dict (as printed by
    ``nnequiv check --json``) or the path of such a file.  A ``Verdict`` carrying a certificate
    supplies it when ``certificate`` is not given.
    ``original`` / ``reduced``: :class:`~nnequiv.ir.Network` objects or model paths; give both
    (the checker then re-verifies the certificate and a counterexample is replayed) or neither.

    Options: ``certificate_path``, ``verdict_path``, ``original_path``, ``reduced_path`` (file names
    to show when objects rather than paths are given), ``box`` (a :class:`~nnequiv.spec.box.Box` or
    its JSON; used when there is no certificate, since a verdict file records no box),
    ``domain_source`` (the VNN-LIB or box file it came from), ``generated_at`` (ISO time, default
    now) and ``recheck`` (default True).
    """
    from .build import assemble

    return assemble(certificate, verdict, original, reduced, certificate_path=certificate_path,
                    verdict_path=verdict_path, original_path=original_path, reduced_path=reduced_path, box=box,
                    domain_source=domain_source, generated_at=generated_at, recheck=recheck)
