"""Report sections about refutations, the search, float32 execution, reproduction and provenance."""

from __future__ import annotations

import platform
import shlex
from fractions import Fraction
from importlib import metadata as importlib_metadata
from typing import Any, Sequence

import numpy as np

from .. import __version__
from ..ir import Network
from .inputs import Inputs
from .model import CommandFacts, CounterexampleFacts, DomainFacts, ModelFacts, RelationFacts, SearchFacts
from .sections import as_relation, finite, get_path, pass_summary
from .text import FLOAT32_CAVEAT

PACKAGES = ("numpy", "onnx", "onnxruntime", "jinja2", "jsonschema")
MAX_RECORDED = 200


# ------------------------------------------------------------------------------------- counterexample
def counterexample_facts(verdict: dict[str, Any] | None, f: Network | None, g: Network | None,
                         relation: RelationFacts) -> CounterexampleFacts | None:
    raw = (verdict or {}).get("counterexample")
    if not isinstance(raw, dict):
        return None
    x, fy, gy = (_floats(raw.get(key)) for key in ("input", "original_output", "reduced_output"))
    deviation, f32 = finite(raw.get("deviation")), finite(raw.get("float32_deviation"))
    exact = bool(raw.get("exact_arithmetic", False))
    replayed, proved = str(raw.get("replay", "rational")), finite(raw.get("deviation_lower"))
    status, detail = "not re-checked", ("No model files were given, so the counterexample was not replayed; "
                                        "it is shown as the check recorded it.")
    if f is not None and g is not None:
        status, detail, found = _replay(f, g, x, relation)
        if found is not None:  # the values recomputed now, for these models
            fy, gy = found.original_output, found.reduced_output
            deviation, f32, exact = float(found.deviation), found.float32_deviation, found.exact
            replayed, proved = found.replay, found.deviation_lower
    compared = _compared(relation, len(fy))
    return CounterexampleFacts(
        input=x, original_output=fy, reduced_output=gy,
        deviations=tuple(abs(b - a) for a, b in zip(fy, gy)), compared=compared,
        deviation=deviation, float32_deviation=f32, exact_arithmetic=exact,
        argmax_original=_argmax(fy, compared), argmax_reduced=_argmax(gy, compared),
        recheck=status, recheck_detail=detail, replay=replayed, deviation_lower=proved)


def _replay(f: Network, g: Network, x: tuple[float, ...], relation: RelationFacts):
    from ..engine.confirm import replay

    parsed = as_relation(relation)
    if parsed is None:
        return "error", "The relation is unreadable, so the counterexample could not be replayed.", None
    try:
        found = replay(f, g, np.asarray(x, dtype=np.float64), parsed)
    except Exception as exc:  # noqa: BLE001 - a failed replay confirms nothing
        return "error", f"Replaying the counterexample on the given models failed: {type(exc).__name__}: {exc}", None
    if found is None:
        return ("not confirmed", "Replayed at report time in exact rational arithmetic on the given models, "
                                 "the relation HOLDS at this input: it is not a counterexample for these models.",
                None)
    return ("confirmed", "Replayed at report time in exact rational arithmetic on the given models: the "
                         "relation is violated at this input.", found)


def _floats(values: Any) -> tuple[float, ...]:
    if not isinstance(values, list):
        return ()
    return tuple(float(v) if isinstance(v, (int, float)) else float("nan") for v in values)


def _compared(relation: RelationFacts, n: int) -> tuple[int, ...]:
    chosen = relation.outputs if relation.outputs is not None else range(n)
    return tuple(i for i in chosen if 0 <= i < n)


def _argmax(values: Sequence[float], compared: Sequence[int]) -> tuple[int, ...]:
    if not compared:
        return ()
    best = max(values[i] for i in compared)
    return tuple(i for i in compared if values[i] == best)


# ------------------------------------------------------------------------------------- search / float32
def search_facts(verdict: dict[str, Any] | None) -> SearchFacts | None:
    if verdict is None:
        return None
    regions, stage = get_path(verdict, "stats", "regions"), get_path(verdict, "stats", "stage")
    return SearchFacts(str(verdict.get("verdict")), finite(get_path(verdict, "max_deviation", "lower")),
                       finite(get_path(verdict, "max_deviation", "upper")), finite(verdict.get("time_s")),
                       regions if isinstance(regions, int) and not isinstance(regions, bool) else None,
                       stage if isinstance(stage, str) else None)


def float32_facts(models: Sequence[ModelFacts], cex: CounterexampleFacts | None, relation: RelationFacts,
                  has_certificate: bool) -> tuple[str, ...]:
    out = [FLOAT32_CAVEAT]
    if cex is not None and cex.float32_deviation is not None:
        if relation.kind == "top1":
            agree = "also disagree" if cex.float32_deviation else "agree"
            out.append(f"Known: at the counterexample input, both networks run in float32 by onnxruntime "
                       f"{agree} on the top-1 class.")
        else:
            out.append(f"Known: at the counterexample input, running both networks in float32 with "
                       f"onnxruntime gives a deviation of {cex.float32_deviation:.9g}; in exact arithmetic "
                       f"it is {_num(cex.deviation)}.")
    elif cex is not None:
        out.append("Known: no float32 measurement was recorded at the counterexample.")
    if has_certificate:
        out.append("Known: the certificate contains no float32 measurement; it makes no statement about "
                   "float32 execution.")
    stored = [f"{m.role}: {', '.join(m.weight_dtypes) or 'no floating-point weights'}"
              for m in models if m.given]
    if stored:
        out.append(f"Stored weights ({'; '.join(stored)}) are taken at their exact values; the real-arithmetic "
                   f"semantics does not round them.")
    return tuple(out)


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.9g}"


# ------------------------------------------------------------------------------------- reproduction
def commands(data: Inputs, domain: DomainFacts, relation: RelationFacts) -> tuple[CommandFacts, ...]:
    f = _model_arg(data.original_path, data.certificate, "original", "ORIGINAL.onnx")
    g = _model_arg(data.reduced_path, data.certificate, "reduced", "REDUCED.onnx")
    out = []
    if data.certificate is not None:
        cert = shlex.quote(data.certificate_path or "CERT.json")
        saved = "" if data.certificate_path else " The certificate was given as an object: save it first " \
                                                  "(e.g. `nnequiv check ... --cert CERT.json`)."
        out.append(CommandFacts("Re-run the trusted checker on the certificate (exit 0: valid, 1: invalid)." + saved,
                                f"nnequiv verify {cert} {f} {g}"))
        out.append(CommandFacts("Regenerate this report with the checker's result recomputed.",
                                f"nnequiv report {cert} --original {f} --reduced {g} -o report.html"))
    if data.verdict is not None:
        check, caveat = _check_command(f, g, domain, relation)
        out.append(CommandFacts("Re-run the check that produced the verdict" + caveat, check))
        if data.certificate is None and data.verdict_path is not None:
            verdict = shlex.quote(data.verdict_path)
            out.append(CommandFacts("Regenerate this report with the counterexample replayed on the models.",
                                    f"nnequiv report --verdict {verdict} --original {f} --reduced {g} "
                                    f"-o report.html"))
    return tuple(out)


def _model_arg(path: str | None, cert: dict[str, Any] | None, role: str, placeholder: str) -> str:
    if path:
        return shlex.quote(path)
    name = get_path(cert, "models", role, "name")
    if isinstance(name, str) and name.lower().endswith((".onnx", ".nnet")):
        return shlex.quote(name)
    return placeholder


def _check_command(f: str, g: str, domain: DomainFacts, relation: RelationFacts) -> tuple[str, str]:
    caveats = []
    if domain.source and domain.source.lower().endswith(".vnnlib"):
        where = f"--vnnlib {shlex.quote(domain.source)}"
    elif domain.source and domain.source.lower().endswith(".json"):
        where = f"--box-file {shlex.quote(domain.source)}"
    elif domain.known and domain.distinct_intervals == 1:
        where = f"--box {domain.min_lower!r}:{domain.max_upper!r}"
        if not (_parses_to(domain.min_lower, -1) and _parses_to(domain.max_upper, +1)):
            caveats.append("--box rounds these decimals outward, which widens the box by one ulp")
    else:
        where = "--box-file BOX.json"
        caveats.append("BOX.json holding the box shown in the input-domain section")
    what = ""
    if relation.kind == "eps":
        what = f"--eps {relation.eps!r}"
        if not _parses_to(relation.eps, -1):
            caveats.append("--eps rounds this decimal down, which makes epsilon one ulp smaller (stricter)")
    elif relation.kind in ("exact", "top1"):
        what = f"--{relation.kind}"
    if relation.outputs is not None:
        what += f" --outputs {','.join(map(str, relation.outputs))}"
    caveat = f" ({'; '.join(caveats)})." if caveats else "."
    return " ".join(part for part in ("nnequiv check", f, g, where, what.strip(), "--json") if part), caveat


def _parses_to(value: float | None, direction: int) -> bool:
    """Whether the CLI reads ``repr(value)`` back as ``value`` (it rounds decimals down / up)."""
    from ..spec.box import round_down, round_up

    if value is None:
        return True
    exact = Fraction(repr(value))
    return (round_down(exact) if direction < 0 else round_up(exact)) == value


# ------------------------------------------------------------------------------------- provenance
def versions() -> tuple[tuple[str, str], ...]:
    out = [("nnequiv", __version__), ("python", platform.python_version())]
    for name in PACKAGES:
        try:
            out.append((name, importlib_metadata.version(name)))
        except importlib_metadata.PackageNotFoundError:
            out.append((name, "not installed"))
    out.append(("platform", platform.platform(terse=True)))
    return tuple(out)


def recorded(cert: dict[str, Any] | None, verdict: dict[str, Any] | None) -> tuple[tuple[str, str], ...]:
    """Provenance written by the tool that made the certificate or verdict (untrusted, informative)."""
    out: list[tuple[str, str]] = []
    meta = cert.get("metadata") if isinstance(cert, dict) else None
    if isinstance(meta, dict):
        for key in ("tool", "command", "created", "host", "python", "vnnlib"):
            if key in meta:
                out.append((f"certificate metadata: {key}", _short(meta[key])))
        stats = meta.get("stats") if isinstance(meta.get("stats"), dict) else {}
        for key in ("stage", "regions"):
            if key in stats:
                out.append((f"certificate metadata: search {key}", _short(stats[key])))
        for record in meta.get("passes") if isinstance(meta.get("passes"), list) else ():
            if isinstance(record, dict):
                out.append(("certificate metadata: pass", _short(pass_summary(record))))
    if isinstance(verdict, dict):
        if "time_s" in verdict:
            out.append(("verdict: check time (s)", _short(verdict["time_s"])))
        stats = verdict.get("stats") if isinstance(verdict.get("stats"), dict) else {}
        for key in ("stage", "regions"):
            if key in stats:
                out.append((f"verdict: search {key}", _short(stats[key])))
        composition = stats.get("composition") if isinstance(stats.get("composition"), dict) else {}
        if composition.get("used"):
            out.append(("verdict: composition (shared prefix | middle | shared suffix)",
                        _short(f"{composition.get('prefix_nodes')} | {composition.get('middle')} | "
                               f"{composition.get('suffix_nodes')}")))
    return tuple(out)


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= MAX_RECORDED else text[:MAX_RECORDED - 1] + "…"
