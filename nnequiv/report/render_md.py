"""Render :class:`~nnequiv.report.model.ReportData` as Markdown (GitHub flavour).

Every text that comes from a model, certificate or verdict goes through :func:`md`, which
escapes Markdown syntax and HTML (a node named ``<script>`` stays text).  Charts are
HTML-only; the same numbers are in the tables here.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Sequence

from .. import __version__
from .model import ReportData, StepFacts
from .render_html import KIND_NAMES, change, count, exact, num, shape, size

__all__ = ["render_md", "md"]

_SPECIAL = re.compile(r"([\\`*_\[\]|~])")
_LEADING = re.compile(r"^(\s*)(\d*)([#+-]|(?<=\d)[.)])(?=\s|$)")  # would start a heading or a list
CHECK_TITLE = {"valid": "VALID", "invalid": "INVALID", "not_rechecked": "NOT RE-CHECKED",
               "no_certificate": "NO CERTIFICATE"}


def md(value: Any) -> str:
    """Escape a value for Markdown text and table cells (also turns ``<``, ``>``, ``&`` into entities)."""
    text = str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _SPECIAL.sub(r"\\\1", " ".join(text.splitlines()))
    return _LEADING.sub(lambda m: m.group(1) + m.group(2) + "\\" + m.group(3), text)


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    out = ["| " + " | ".join(md(h) for h in header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(md(c) for c in row) + " |" for row in rows]
    return out + [""]


def _facts(rows: Iterable[tuple[str, Any]]) -> list[str]:
    return _table(("", ""), rows)


def render_md(r: ReportData) -> str:
    out = [f"# nnequiv equivalence report", "",
           f"Generated {md(r.generated_at)} by nnequiv {md(__version__)} (report format {md(r.schema)}).", "",
           f"> **{md(r.headline.title)}**", ">", f"> {md(r.headline.detail)}", ""]
    out += _models(r) + _domain(r) + _relation(r) + _semantics(r) + _verdict(r)
    out += _steps(r.steps, r) + _checker(r) + _counterexample(r) + _reproduce(r)
    out += ["## What this report does not cover", ""] + [f"- {md(item)}" for item in r.limits] + [""]
    out += ["## Glossary", ""] + [f"- **{md(term)}**: {md(meaning)}" for term, meaning in r.glossary] + [""]
    return "\n".join(out)


def _models(r: ReportData) -> list[str]:
    f, g = r.models
    out = ["## Models", ""]
    if not f.given:
        out += ["*Model files not given: sizes, layers and per-layer counts need them. Only the hashes the "
                "certificate binds are shown.*", ""]
    rows: list[tuple[str, Any, Any]] = [
        ("file given to this report", f.file or "not given", g.file or "not given"),
        ("name recorded in the certificate", f.certified_name or "n/a", g.certified_name or "n/a"),
        ("canonical SHA-256 bound by the certificate", f.certified_sha256 or "n/a", g.certified_sha256 or "n/a"),
        ("canonical SHA-256 computed now", f.sha256 or "not computed (no model)",
         g.sha256 or "not computed (no model)"),
        ("hash matches the certificate", _match(f.hash_matches), _match(g.hash_matches))]
    if f.given:
        rows += [("file size", size(f.file_bytes), size(g.file_bytes)),
                 ("file SHA-256 (sha256sum)", f.file_sha256 or "n/a", g.file_sha256 or "n/a"),
                 ("inputs", _tensors(f.inputs), _tensors(g.inputs)),
                 ("outputs", _tensors(f.outputs), _tensors(g.outputs)),
                 ("hidden neurons", count(f.neurons), f"{count(g.neurons)} {change(f.neurons, g.neurons)}"),
                 ("parameters", count(f.parameters), f"{count(g.parameters)} {change(f.parameters, g.parameters)}"),
                 ("stored weight types", ", ".join(f.weight_dtypes), ", ".join(g.weight_dtypes))]
    out += _table(("", "original (f)", "reduced (g)"), rows)
    if r.layers:
        out += ["### Per layer", ""]
        out += _table(("#", "original: node (op)", "neurons", "parameters", "reduced: node (op)", "neurons",
                       "parameters"),
                      [(p.index, *_layer(p.original), *_layer(p.reduced)) for p in r.layers])
    return out


def _layer(layer) -> tuple[str, str, str]:
    if layer is None:
        return "none", "", ""
    return f"{layer.name} ({layer.op})", count(layer.neurons), count(layer.parameters)


def _match(value: bool | None) -> str:
    return "not compared" if value is None else "yes" if value else "NO: a different model"


def _tensors(tensors) -> str:
    return "; ".join(f"{t.name} {shape(t.shape)} {t.dtype}" for t in tensors)


def _domain(r: ReportData) -> list[str]:
    d = r.domain
    out = ["## Input domain", ""]
    if not d.known:
        return out + [f"**The input box is not known** ({md(d.origin)}){': ' + md(d.error) if d.error else ''}.", ""]
    out += _facts([("taken from", d.origin), ("specification file", d.source or "n/a"),
                   ("dimensions", count(d.size)),
                   ("lower bounds range", f"{exact(d.min_lower)} … {exact(d.max_lower)}"),
                   ("upper bounds range", f"{exact(d.min_upper)} … {exact(d.max_upper)}"),
                   ("interval widths", f"{exact(d.min_width)} … {exact(d.max_width)}"),
                   ("distinct intervals", count(d.distinct_intervals))]
                  + ([("note", "the bounds are the largest finite float64 numbers: every finite input")]
                     if d.unbounded else []))
    rows = d.runs if d.large else d.rows
    out += _table(("dimensions", "lower", "upper", "lower (hex)", "upper (hex)"),
                  [(f"{x.first}" + (f" … {x.last}" if x.last != x.first else ""), exact(x.lower), exact(x.upper),
                    x.lower_hex, x.upper_hex) for x in rows])
    if d.large:
        out += [f"Runs of equal intervals: {len(d.runs)} of {d.runs_total} shown; the full box is in the "
                f"certificate and in the HTML report.", ""]
    return out


def _relation(r: ReportData) -> list[str]:
    rel = r.relation
    out = ["## Relation and ε", ""]
    if not rel.known:
        return out + [f"The relation ({md(rel.origin)}) cannot be read: {md(rel.error)}", ""]
    rows = [("relation", KIND_NAMES[rel.kind or ""]), ("statement", rel.statement)]
    if rel.kind == "eps":
        rows.append(("ε", f"{exact(rel.eps)} = {rel.eps_hex} (exact)"))
    rows += [("compared outputs", "all" if rel.outputs is None else ", ".join(map(str, rel.outputs))),
             ("taken from", rel.origin)]
    return out + _facts(rows)


def _semantics(r: ReportData) -> list[str]:
    out = ["## Semantics: what kind of statement this is", ""]
    for para in r.semantics:
        out += [md(para), ""]
    out += ["### Finite-precision execution (float32)", ""] + [f"- {md(item)}" for item in r.float32] + [""]
    return out


def _verdict(r: ReportData) -> list[str]:
    out = ["## Verdict", "", f"**{md(r.headline.title)}**: {md(r.headline.detail)}", ""]
    p = r.proof
    if p is not None:
        if p.status == "rejected":
            out += [f"**Rejected claim.** The certificate claims “{md(p.claimed_verdict)}”; the checker rejects "
                    f"it, so none of these values is established.", ""]
        elif p.status != "proved":
            out += ["**Claimed, not re-checked.** The values below are what the certificate says.", ""]
        rows = [("claimed verdict", p.claimed_verdict or "n/a"), ("status", p.status),
                ("bound", f"{exact(p.bound)} = {p.bound_hex or 'n/a'}")]
        if r.relation.kind == "eps":
            rows += [("ε", exact(p.eps)), ("ε − bound", num(p.slack))]
        if p.margin is not None:
            rows.append(("certified margin", num(p.margin)))
        rows.append(("steps' ε added up", exact(p.steps_total)))
        if p.reached_lower is not None:
            rows.append(("deviation actually reached", f"≥ {num(p.reached_lower)}"))
        out += _facts(rows)
    if r.search is not None:
        s = r.search
        out += _facts([("verdict recorded", s.verdict), ("deviation reached (lower)", num(s.lower)),
                       ("upper bound found", num(s.upper)), ("time (s)", num(s.seconds)),
                       ("regions", count(s.regions)), ("decided by", s.stage or "n/a")])
    if r.notes:
        out += ["Notes:", ""] + [f"- {md(n)}" for n in r.notes] + [""]
    return out


def _steps(steps: Sequence[StepFacts], r: ReportData) -> list[str]:
    if not steps:
        return []
    out = ["## Evidence, step by step", ""]
    for s in steps:
        rows = [("from → to", f"{s.from_label} → {s.to_label}"), ("what changed", s.change),
                ("evidence", s.evidence)] + ([("method", s.method)] if s.method else [])
        rows += [("ε contributed", f"{exact(s.epsilon)} = {s.epsilon_hex or 'n/a'}"), ("checker result", s.status)]
        rows += [(f"step data: {key}", value) for key, value in s.details]
        if s.tree is not None:
            t = s.tree
            rows += [("regions (tree nodes)", count(t.regions)),
                     ("leaves", f"{count(t.leaves)} ({t.bound_leaves} bound, {t.empty_leaves} empty)"),
                     ("tree depth", count(t.depth)), ("input splits", count(t.input_splits)),
                     ("activation splits", f"{count(t.activation_splits)} (original "
                                           f"{t.activation_splits_original}, reduced {t.activation_splits_reduced})"),
                     ("largest leaf value vs step ε", f"{exact(t.max_leaf_value)} vs {exact(s.epsilon)}")]
        out += [f"### Step {s.index + 1}: {md(s.kind)}", ""] + _facts(rows)
        out += [f"- problem at {md(p.item)}: {md(p.reason)}" for p in s.problems] + ([""] if s.problems else [])
    return out


def _checker(r: ReportData) -> list[str]:
    c = r.check
    out = ["## Checker result (recomputed at report time)", "", f"**{CHECK_TITLE[c.status]}**: {md(c.explanation)}", ""]
    rows = [("checker", c.checker), ("ran", f"yes, {num(c.seconds, 3)} s" if c.ran else "no")]
    if r.sources.certificate_sha256:
        rows.append((f"certificate SHA-256 ({r.sources.certificate_sha256_of})", r.sources.certificate_sha256))
    out += _facts(rows)
    if c.problems:
        out += _table(("item", "problem"), [(p.item, p.reason) for p in c.problems])
    return out


REPLAYS = {"rational": "exact arithmetic", "rigorous": "midpoint of rigorous enclosures of the exact outputs",
           "float64": "float64 evaluation, not a proof"}


def _counterexample(r: ReportData) -> list[str]:
    x = r.counterexample
    if x is None:
        return []
    out = ["## Counterexample", "", f"**{md(x.recheck)}**: {md(x.recheck_detail)}", ""]
    label = f"deviation ({REPLAYS.get(x.replay, x.replay)})"
    out += _facts([(label, exact(x.deviation)),
                   *([("deviation, proved lower bound", exact(x.deviation_lower))] if x.deviation_lower is not None
                     else []),
                   ("deviation in float32 (onnxruntime)", exact(x.float32_deviation)),
                   ("top-1 original / reduced", f"{x.argmax_original} / {x.argmax_reduced}"),
                   ("input", ", ".join(exact(v) for v in x.input))])
    out += _table(("output", "original f", "reduced g", "|f − g|", "compared"),
                  [(i, exact(a), exact(b), num(d, 9), "yes" if i in x.compared else "no")
                   for i, (a, b, d) in enumerate(zip(x.original_output, x.reduced_output, x.deviations))])
    return out


def _reproduce(r: ReportData) -> list[str]:
    out = ["## Reproduce and tool versions", ""]
    for cmd in r.reproduce:
        fence = "`" * max(3, 1 + max((len(run) for run in re.findall("`+", cmd.command)), default=0))
        out += [md(cmd.purpose), "", fence + "sh", " ".join(cmd.command.splitlines()), fence, ""]
    out += _table(("tool", "version at report time"), r.versions)
    if r.recorded:
        out += ["Recorded by the tool that made the inputs (untrusted, informative only):", ""]
        out += _table(("item", "value"), r.recorded)
    return out
