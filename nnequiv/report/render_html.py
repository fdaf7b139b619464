"""Render :class:`~nnequiv.report.model.ReportData` as one self-contained HTML page.

Jinja2 with autoescaping ON: every name that comes from a model, certificate or verdict
is escaped by the template.  The only markup not produced by the template is the SVG
from :mod:`.charts`, which escapes its own text.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from .. import __version__
from . import charts
from .model import ReportData
from .text import evidence_text

__all__ = ["render_html", "KIND_NAMES"]

KIND_NAMES = {"eps": "ε-equivalence", "exact": "exact equivalence", "top1": "top-1 agreement"}


@lru_cache(maxsize=1)
def _environment():
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("nnequiv.report", "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(num=num, exact=exact, count=count, shape=shape, size=size, change=change)
    return env


def render_html(report: ReportData) -> str:
    from markupsafe import Markup

    svg = {name: Markup(text) for name, text in _charts(report).items()}
    template = _environment().get_template("report.html.j2")
    return template.render(r=report, charts=svg, version=__version__, kind_names=KIND_NAMES,
                           evidence_text=evidence_text)


def _charts(report: ReportData) -> dict[str, str]:
    out: dict[str, str] = {}
    if report.original.given and report.reduced.given and report.layers:
        labels = [f"L{p.index}" for p in report.layers]
        tips = [_layer_tip(p) for p in report.layers]
        for key, title in (("neurons", "Neurons per layer (output size)"),
                           ("parameters", "Parameters per layer")):
            series = [charts.Series(role, [getattr(getattr(p, role), key) if getattr(p, role) else None
                                           for p in report.layers], colour)
                      for role, colour in (("original", charts.COLOURS[0]), ("reduced", charts.COLOURS[1]))]
            out[key] = charts.grouped_bars(title, labels, series, tooltips=tips, y_label=key)
    cex = report.counterexample
    if cex is not None and cex.original_output:
        n = len(cex.original_output)
        out["outputs"] = charts.grouped_bars(
            "Outputs at the counterexample", [str(i) for i in range(n)],
            [charts.Series("original f", cex.original_output, charts.COLOURS[0]),
             charts.Series("reduced g", cex.reduced_output, charts.COLOURS[1])],
            tooltips=[f"output {i}" for i in range(n)], y_label="output value")
        eps = report.relation.eps if report.relation.kind == "eps" else None
        out["deviations"] = charts.deviation_bars("Output deviations |f_i - g_i| at the counterexample",
                                                  cex.deviations, cex.compared, eps)
    return out


def _layer_tip(pair) -> str:
    parts = [f"layer {pair.index}"]
    for role in ("original", "reduced"):
        layer = getattr(pair, role)
        parts.append(f"{role}: {layer.name} ({layer.op})" if layer else f"{role}: none")
    return "; ".join(parts)


# ------------------------------------------------------------------------------------- filters
def num(value: Any, digits: int = 6) -> str:
    """A readable number (``n/a`` for None)."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.{digits}g}"


def exact(value: Any) -> str:
    """The shortest decimal that identifies the float (``repr``)."""
    return "n/a" if value is None else repr(float(value))


def count(value: Any) -> str:
    return "n/a" if value is None else f"{int(value):,}"


def shape(dims: Any) -> str:
    return "×".join(str(d) for d in dims) if dims else "scalar"


def size(n: Any) -> str:
    if n is None:
        return "n/a"
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n:,} bytes ({n / scale:.1f} {unit})"
    return f"{n:,} bytes"


def change(before: Any, after: Any) -> str:
    if before is None or after is None:
        return ""
    diff = after - before
    if diff == 0:
        return "unchanged"
    pct = f" ({diff / before * 100:+.1f} %)" if before else ""
    return f"{diff:+,}{pct}"
