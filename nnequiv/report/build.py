"""Compute every section of a :class:`~nnequiv.report.model.ReportData` (see that module)."""

from __future__ import annotations

import time
from typing import Any

from .. import __version__
from ..errors import NnequivError
from ..ir import Network
from . import outcomes, sections
from .inputs import Inputs, read_inputs
from .model import (REPORT_SCHEMA, CheckFacts, Headline, ModelFacts, ProblemFacts, ReportData, SourceFacts)
from .text import GLOSSARY, LIMITS, SEMANTICS

CHECKER = f"nnequiv.checker.verify (nnequiv {__version__})"


def assemble(certificate: Any, verdict: Any, original: Any, reduced: Any, *,
             certificate_path: str | None = None, verdict_path: str | None = None,
             original_path: str | None = None, reduced_path: str | None = None,
             box: Any = None, domain_source: str | None = None, generated_at: str | None = None,
             recheck: bool = True) -> ReportData:
    data = read_inputs(certificate, verdict, original, reduced, certificate_path=certificate_path,
                       verdict_path=verdict_path, original_path=original_path, reduced_path=reduced_path)
    cert = data.certificate
    models = (sections.model_facts("original", data.original, data.original_path, cert),
              sections.model_facts("reduced", data.reduced, data.reduced_path, cert))
    check = _recheck(data, recheck)
    relation = sections.relation_facts(cert, data.verdict)
    domain = sections.domain_facts(cert, box, domain_source, data.original)
    proof = sections.proof_facts(cert, check, data.verdict) if cert is not None else None
    steps = sections.step_facts(cert, check, models) if cert is not None else ()
    cex = outcomes.counterexample_facts(data.verdict, data.original, data.reduced, relation)
    search = outcomes.search_facts(data.verdict)
    outcome, headline = _outcome(data, check, cex)
    return ReportData(
        schema=REPORT_SCHEMA,
        generated_at=generated_at or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        outcome=outcome,
        headline=headline,
        sources=SourceFacts(data.certificate_path, data.certificate_sha256, data.certificate_sha256_of,
                            data.verdict_path),
        models=models,
        layers=sections.layer_pairs(models),
        domain=domain,
        relation=relation,
        semantics=SEMANTICS,
        float32=outcomes.float32_facts(models, cex, relation, cert is not None),
        proof=proof,
        steps=steps,
        check=check,
        counterexample=cex,
        search=search,
        reproduce=outcomes.commands(data, domain, relation),
        versions=outcomes.versions(),
        recorded=outcomes.recorded(cert, data.verdict),
        notes=_notes(data, models, relation),
        limits=LIMITS,
        glossary=GLOSSARY,
    )


def _recheck(data: Inputs, recheck: bool) -> CheckFacts:
    """The trusted checker's verdict on the certificate, recomputed now (never the claim)."""
    if data.certificate is None:
        return CheckFacts("no_certificate", False, (), (), None, CHECKER,
                          "No certificate was given, so there is no proof to check.")
    if data.original is None or data.reduced is None or not recheck:
        why = "no model files were given" if data.original is None else "re-checking was switched off"
        return CheckFacts("not_rechecked", False, _schema_problems(data.certificate), (), None, CHECKER,
                          f"The certificate was NOT re-checked: {why}. Everything it claims is shown "
                          f"as a claim only.")
    started = time.monotonic()
    problems, steps = _verify(data.certificate, data.original, data.reduced)
    seconds = time.monotonic() - started
    if problems:
        return CheckFacts("invalid", True, problems, steps, seconds, CHECKER,
                          f"The checker REJECTS this certificate for the given models "
                          f"({len(problems)} problem{'s' if len(problems) != 1 else ''}). Nothing it claims "
                          f"is established.")
    return CheckFacts("valid", True, (), steps, seconds, CHECKER,
                      "The checker re-verified the certificate against the given models at report time "
                      "and accepts it.")


def _verify(certificate: dict[str, Any], original: Network,
            reduced: Network) -> tuple[tuple[ProblemFacts, ...], tuple[bool, ...]]:
    """The checker's problems (none: accepted) and its per-step evidence results."""
    from ..checker import verify

    try:
        report = verify(certificate, original, reduced)
    except NnequivError as exc:
        return (ProblemFacts("(checker)", f"the checker could not run: {exc.one_line()}"),), ()
    except Exception as exc:  # noqa: BLE001 - a crash is a rejection, never an acceptance
        return (ProblemFacts("(checker)", f"the checker failed with {type(exc).__name__}: {exc}"),), ()
    steps = tuple(bool(s.get("valid")) for s in report.steps)
    if report.valid:
        return (), steps
    return tuple(ProblemFacts(p.item, p.reason) for p in report.problems) or (
        ProblemFacts("(checker)", "rejected without a reason"),), steps


def _schema_problems(certificate: dict[str, Any]) -> tuple[ProblemFacts, ...]:
    from ..certificate.io import schema_problems

    return tuple(ProblemFacts(*p.split(": ", 1)) if ": " in p else ProblemFacts("(document)", p)
                 for p in schema_problems(certificate))


def _outcome(data: Inputs, check: CheckFacts, cex) -> tuple[str, Headline]:
    if data.certificate is not None:
        if check.status == "valid":
            return "equivalent", Headline("ok", "EQUIVALENT: proof re-checked", check.explanation)
        if check.status == "invalid":
            return "invalid", Headline("bad", "INVALID CERTIFICATE: nothing is proved", check.explanation)
        return "not_rechecked", Headline(
            "warn", "NOT RE-CHECKED: the certificate's claims only",
            check.explanation + " Give --original and --reduced to have the checker verify it.")
    verdict = (data.verdict or {}).get("verdict")
    if verdict == "not_equivalent":
        if cex is None:
            return "not_equivalent", Headline("bad", "NOT EQUIVALENT (no counterexample recorded)",
                                              "The verdict file says not equivalent but records no input.")
        if cex.recheck == "confirmed":
            return "not_equivalent", Headline("bad", "NOT EQUIVALENT: counterexample re-confirmed",
                                              cex.recheck_detail)
        if cex.recheck == "not re-checked":
            return "not_equivalent", Headline("bad", "NOT EQUIVALENT: counterexample not re-checked",
                                              cex.recheck_detail)
        return "unconfirmed", Headline("warn", "UNCONFIRMED COUNTEREXAMPLE", cex.recheck_detail)
    if verdict == "unknown":
        return "unknown", Headline("warn", "UNKNOWN: neither proved nor refuted",
                                   "The check ran out of time or could not close every region; no "
                                   "equivalence is established and no violation was found.")
    return "unproved", Headline("warn", "UNPROVED: no certificate",
                                "The verdict says equivalent, but without its certificate nothing can be "
                                "re-checked. Report on the certificate written by `nnequiv check --cert`.")


def _notes(data: Inputs, models: tuple[ModelFacts, ModelFacts], relation) -> tuple[str, ...]:
    notes = []
    cert, verdict = data.certificate, data.verdict
    if cert is not None and verdict is not None:
        if verdict.get("verdict") != "equivalent":
            notes.append(f"The verdict file says {verdict.get('verdict')!r}, but a certificate was given; "
                         f"the report follows the certificate and the checker.")
        claimed = (cert.get("claim") or {}).get("relation") if isinstance(cert.get("claim"), dict) else None
        if claimed is not None and verdict.get("relation") not in (None, claimed):
            notes.append("The verdict file's relation differs from the certificate's; the certificate's is shown.")
    for model in models:
        if model.file and model.certified_name and model.certified_name != model.file:
            notes.append(f"The certificate records the {model.role} model as {model.certified_name!r}; "
                         f"the report was given {model.file!r}. Names are labels only: the canonical "
                         f"SHA-256 decides which model a certificate is about.")
    if cert is None and verdict is not None and relation.known is False:
        notes.append("The verdict file records no readable relation.")
    return tuple(notes)
