"""Human-readable reports of certificates and verdicts for safety reviewers.

Public API::

    data = build_report(certificate="cert.json", original="f.onnx", reduced="g.onnx")
    text = render(data, "html")            # or "md", "json"
    write_report("report.html", certificate="cert.json", original="f.onnx", reduced="g.onnx")

The report re-runs the trusted checker whenever both models are given and never
presents a claim the checker rejects; without models it says the certificate was
NOT re-checked.  Facts are computed once (:mod:`.model`); the renderers only lay
them out (HTML with inline CSS and SVG, Markdown, JSON).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import UsageError
from .model import ReportData, build_report

__all__ = ["FORMATS", "ReportData", "build_report", "render", "write_report", "format_for"]

FORMATS = ("html", "md", "json")


def render(report: ReportData, fmt: str = "html") -> str:
    """The report as text in ``fmt`` (``html``, ``md`` or ``json``)."""
    if fmt == "html":
        from .render_html import render_html

        return render_html(report)
    if fmt == "md":
        from .render_md import render_md

        return render_md(report)
    if fmt == "json":
        return report.dumps(indent=1) + "\n"
    raise UsageError(f"unknown report format {fmt!r} (expected one of {', '.join(FORMATS)})")


def format_for(path: str | os.PathLike[str]) -> str:
    """The format a file name asks for: ``.md`` -> md, ``.json`` -> json, anything else -> html."""
    suffix = Path(path).suffix.lower()
    return {".md": "md", ".markdown": "md", ".json": "json"}.get(suffix, "html")


def write_report(path: str | os.PathLike[str], report: ReportData | None = None, *, fmt: str | None = None,
                 **build: Any) -> ReportData:
    """Build (unless ``report`` is given) and write a report; the format follows the file name."""
    data = report if report is not None else build_report(**build)
    text = render(data, fmt or format_for(path))
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write the report ({exc.strerror})", file=str(path)) from None
    return data
