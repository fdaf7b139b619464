"""Run ``nnequiv.check`` on generated pairs and classify each result against the ground truth.

Classes: ``CORRECT`` (decisive and confirmed by the ground truth), ``UNCONFIRMED`` (decisive, not
contradicted, but the ground truth is a lower bound only and cannot confirm it), ``UNKNOWN``,
``UNSOUND`` (contradicts the ground truth or the checker), ``CRASH`` (an exception other than
nnequiv's input errors), ``INPUT_ERROR``.

A result is UNSOUND when:

* ``equivalent`` while the ground truth holds a violation (deviation > eps / != 0 for exact, or a
  top-1 violation);
* ``not_equivalent`` with a counterexample at which the independent evaluator sees no violation, or
  when the exact (1-D) ground truth says the relation holds;
* a proved ``upper`` below a known deviation, or a reported ``lower`` above the exact maximum;
* an ``equivalent`` certificate that ``nnequiv.checker.verify`` rejects (or no certificate).

Failures are written as reproducers (``save_reproducer``): ``original.onnx``, ``reduced.onnx``,
``box.json`` (``Box.to_json``) and ``case.json`` (relation, ground truth, the Specs, what was seen).
"""

from __future__ import annotations

import json
import math
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from nnequiv.errors import NnequivError
from nnequiv.spec.box import Box
from nnequiv.spec.relation import Relation

from .generator import Case, Spec, generate, spec_from_json, to_network
from .ground_truth import Truth, ground_truth, relation_violated_at

# a float64 ``lower`` is the exact deviation rounded to nearest: allow that half ulp
_LOWER_SLACK = Fraction(1) + Fraction(1, 2 ** 51)


@dataclass
class Outcome:
    name: str
    edit: str
    relation: dict[str, Any]
    truth: dict[str, Any]
    verdict: str | None
    klass: str
    reasons: list[str] = field(default_factory=list)
    time_s: float = 0.0
    lower: float | None = None
    upper: float | None = None
    saved: str | None = None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def choose_relation(case: Case, truth: Truth) -> Relation:
    """The relation of a case; an eps is placed relative to the ground-truth deviation ``D``."""
    if case.relation_hint == "exact":
        return Relation.exact()
    if case.relation_hint == "top1":
        return Relation.top1()
    d = truth.deviation
    df = float(d)
    mode = case.eps_mode
    if d == 0:
        eps = {"zero": 0.0, "fixed": 0.1, "double": 1e-6, "half": 0.0, "above": 2.0 ** -40, "below": 0.0}[mode]
    elif mode == "above":    # just above D (relative 2**-30), rounded up
        eps = float(np.nextafter(df * (1 + 2.0 ** -30), np.inf))
    elif mode == "below":    # just below D
        eps = float(np.nextafter(df * (1 - 2.0 ** -30), -np.inf))
    elif mode == "double":
        eps = 2 * df
    elif mode == "half":
        eps = df / 2
    elif mode == "zero":
        eps = 0.0
    else:
        eps = 1e-3
    return Relation.epsilon(eps, case.outputs)


def violation_known(truth: Truth, relation: Relation) -> bool:
    """The ground truth holds a real violation of ``relation``."""
    if relation.kind == "top1":
        return truth.top1_violation
    if relation.kind == "exact":
        return truth.deviation > 0
    return truth.deviation > Fraction(relation.eps)


def classify(verdict, relation: Relation, truth: Truth, original: Spec, reduced: Spec,
             f_net, g_net) -> tuple[str, list[str]]:
    reasons: list[str] = []
    bad = violation_known(truth, relation)
    d = truth.deviation
    if relation.kind != "top1":
        if verdict.upper is not None and math.isfinite(verdict.upper) and Fraction(verdict.upper) < d:
            reasons.append(f"proved upper {verdict.upper!r} < known deviation {float(d)!r} ({d})")
        if truth.exact and verdict.lower is not None and (not math.isfinite(verdict.lower)
                                                          or Fraction(verdict.lower) > d * _LOWER_SLACK):
            reasons.append(f"reported lower {verdict.lower!r} > exact maximum {float(d)!r}")
    if verdict.verdict == "equivalent":
        if bad:
            reasons.append(f"equivalent, but the ground truth has a violation (deviation {float(d)!r}, "
                           f"top1 violation {truth.top1_violation})")
        if verdict.certificate is None:
            reasons.append("equivalent without a certificate")
        else:
            from nnequiv.checker import verify

            report = verify(verdict.certificate, f_net, g_net)
            if not report.valid:
                reasons.append("checker rejects the certificate: " + "; ".join(map(str, report.problems[:3])))
    elif verdict.verdict == "not_equivalent":
        cex = verdict.counterexample
        if cex is None:
            reasons.append("not_equivalent without a counterexample")
        else:
            ok, dev = relation_violated_at(original, reduced, cex.input, relation)
            if not ok:
                reasons.append(f"counterexample {list(cex.input)} does not reproduce (deviation {float(dev)!r})")
        if truth.exact and not bad:
            reasons.append(f"not_equivalent, but the exact ground truth says the relation holds "
                           f"(max deviation {float(d)!r})")
    if reasons:
        return "UNSOUND", reasons
    if verdict.verdict == "unknown":
        return "UNKNOWN", reasons
    if verdict.verdict == "not_equivalent" or truth.exact:
        return "CORRECT", reasons
    return "UNCONFIRMED", reasons


def run_case(case: Case, timeout: float, save_dir: Path | None = None, check_seed: int = 0) -> Outcome:
    from nnequiv.engine.check import check

    truth = ground_truth(case.original, case.reduced, case.lower, case.upper, case.outputs,
                         want_top1=case.relation_hint == "top1")
    relation = choose_relation(case, truth)
    f_net, g_net = to_network(case.original, "original"), to_network(case.reduced, "reduced")
    box = Box.of(case.lower, case.upper)
    started = time.monotonic()
    verdict = None
    try:
        verdict = check(f_net, g_net, box, relation, timeout=timeout, seed=check_seed)
        klass, reasons = classify(verdict, relation, truth, case.original, case.reduced, f_net, g_net)
    except NnequivError as exc:
        klass, reasons = "INPUT_ERROR", [str(exc)]
    except Exception:  # noqa: BLE001 - a crash is a finding
        klass, reasons = "CRASH", [traceback.format_exc(limit=8)]
    out = Outcome(case.name, case.edit, relation.to_json(), truth.to_json(),
                  None if verdict is None else verdict.verdict, klass, reasons,
                  time.monotonic() - started,
                  None if verdict is None else verdict.lower, None if verdict is None else verdict.upper)
    if klass in ("UNSOUND", "CRASH") and save_dir is not None:
        out.saved = str(save_reproducer(Path(save_dir), case, relation, truth, out, f_net, g_net, timeout))
    return out


def save_reproducer(root: Path, case: Case, relation: Relation, truth: Truth, outcome: Outcome,
                    f_net, g_net, timeout: float) -> Path:
    from nnequiv.onnx_io import save_onnx

    folder = root / case.name
    folder.mkdir(parents=True, exist_ok=True)
    save_onnx(f_net, folder / "original.onnx")
    save_onnx(g_net, folder / "reduced.onnx")
    (folder / "box.json").write_text(json.dumps(Box.of(case.lower, case.upper).to_json(), indent=1))
    (folder / "case.json").write_text(json.dumps({
        "relation": relation.to_json(), "expected": truth.to_json(), "timeout": timeout,
        "seed": case.seed, "index": case.index, "edit": case.edit, "notes": _jsonable(case.notes),
        "observed": {"verdict": outcome.verdict, "class": outcome.klass, "reasons": outcome.reasons,
                     "lower": outcome.lower, "upper": outcome.upper},
        "original_spec": case.original.to_json(), "reduced_spec": case.reduced.to_json(),
    }, indent=1))
    return folder


def rerun_reproducer(folder: Path, timeout: float | None = None) -> Outcome:
    """Run a saved reproducer again: models from its ONNX files, ground truth from ``case.json``."""
    from nnequiv import load
    from nnequiv.engine.check import check

    folder = Path(folder)
    data = json.loads((folder / "case.json").read_text())
    relation = Relation.from_json(data["relation"])
    truth = Truth.from_json(data["expected"])
    box = Box.from_json((folder / "box.json").read_text())
    original, reduced = spec_from_json(data["original_spec"]), spec_from_json(data["reduced_spec"])
    f_net, g_net = load(folder / "original.onnx"), load(folder / "reduced.onnx")
    started = time.monotonic()
    verdict = None
    try:
        verdict = check(f_net, g_net, box, relation, timeout=timeout or data.get("timeout", 3.0))
        klass, reasons = classify(verdict, relation, truth, original, reduced, f_net, g_net)
    except NnequivError as exc:
        klass, reasons = "INPUT_ERROR", [str(exc)]
    except Exception:  # noqa: BLE001
        klass, reasons = "CRASH", [traceback.format_exc(limit=8)]
    return Outcome(folder.name, data.get("edit", "?"), relation.to_json(), truth.to_json(),
                   None if verdict is None else verdict.verdict, klass, reasons, time.monotonic() - started)


@dataclass
class Summary:
    seed: int
    pairs: int
    timeout: float
    time_s: float
    classes: Counter
    verdicts: Counter
    by_edit: dict[str, Counter]
    failures: list[Outcome]
    outcomes: list[Outcome]

    @property
    def unsound(self) -> int:
        return self.classes.get("UNSOUND", 0)

    @property
    def crashes(self) -> int:
        return self.classes.get("CRASH", 0)

    def to_json(self, with_outcomes: bool = False) -> dict[str, Any]:
        data = {"seed": self.seed, "pairs": self.pairs, "timeout_s": self.timeout, "time_s": round(self.time_s, 2),
                "classes": dict(self.classes), "verdicts": dict(self.verdicts),
                "disagreements": self.unsound, "crashes": self.crashes,
                "by_edit": {k: dict(v) for k, v in sorted(self.by_edit.items())},
                "failures": [o.to_json() for o in self.failures]}
        if with_outcomes:
            data["outcomes"] = [o.to_json() for o in self.outcomes]
        return data


def run_campaign(seed: int, pairs: int, timeout: float = 2.0, save_dir: Path | None = None,
                 start: int = 0, progress=None, deadline: float | None = None) -> Summary:
    started = time.monotonic()
    outcomes: list[Outcome] = []
    for index in range(start, start + pairs):
        if deadline is not None and time.monotonic() > deadline:
            break
        case = generate(seed, index)
        outcome = run_case(case, timeout, save_dir)
        outcomes.append(outcome)
        if progress is not None:
            progress(index, outcome)
    classes = Counter(o.klass for o in outcomes)
    verdicts = Counter(o.verdict or "none" for o in outcomes)
    by_edit: dict[str, Counter] = {}
    for o in outcomes:
        by_edit.setdefault(o.edit, Counter())[o.klass] += 1
    failures = [o for o in outcomes if o.klass in ("UNSOUND", "CRASH", "INPUT_ERROR")]
    return Summary(seed, len(outcomes), timeout, time.monotonic() - started, classes, verdicts, by_edit,
                   failures, outcomes)


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=lambda v: v.tolist() if hasattr(v, "tolist") else str(v)))
