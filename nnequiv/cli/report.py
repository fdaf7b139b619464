"""``nnequiv report [CERT] [--verdict FILE] [--original A --reduced B] -o OUT``: a report for reviewers.

Exit 0 when the report was written (whatever it says: an INVALID certificate gives a
report that says so), 3 on bad input (missing or unreadable files, bad options).
"""

from __future__ import annotations

import click

FORMATS = ("html", "md", "json")


@click.command("report", short_help="Write an HTML, Markdown or JSON report of a certificate or verdict.")
@click.argument("cert", required=False, type=click.Path(dir_okay=False))
@click.option("--verdict", "verdict", type=click.Path(dir_okay=False), default=None,
              help="verdict JSON printed by `nnequiv check --json` (counterexamples, unknown results)")
@click.option("--original", type=click.Path(dir_okay=False), default=None, help="original model (.onnx/.nnet)")
@click.option("--reduced", type=click.Path(dir_okay=False), default=None, help="reduced model (.onnx/.nnet)")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="file to write ('-' for standard output)")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
              help="html, md or json (default: from the output file name, else html)")
def command(cert: str | None, verdict: str | None, original: str | None, reduced: str | None, output: str,
            fmt: str | None) -> int:
    """Write a self-contained report on CERT (and/or a --verdict) for a safety reviewer.

    With --original and --reduced the trusted checker re-verifies the certificate now
    and a counterexample is replayed in exact arithmetic; without them the report says
    the certificate was NOT re-checked and shows its claims as claims only.
    """
    from ..errors import UsageError
    from ..report import build_report, format_for, render, write_report

    if cert is None and verdict is None:
        raise UsageError("give a certificate (CERT) or --verdict FILE")
    if (original is None) != (reduced is None):
        raise UsageError("give both --original and --reduced, or neither")
    data = build_report(certificate=cert, verdict=verdict, original=original, reduced=reduced)
    if output == "-":
        click.echo(render(data, fmt or "html"), nl=False)
    else:
        write_report(output, data, fmt=fmt or format_for(output))
        click.echo(f"{data.headline.title}: report written to {output}", err=True)
    return 0
