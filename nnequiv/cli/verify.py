"""``nnequiv verify CERT ORIGINAL REDUCED``: re-check a certificate (exit 0 valid, 1 invalid, 3 bad input)."""

from __future__ import annotations

import json

import click


@click.command("verify")
@click.argument("cert", type=click.Path(dir_okay=False))
@click.argument("original", type=click.Path(dir_okay=False))
@click.argument("reduced", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
def command(cert: str, original: str, reduced: str, as_json: bool) -> int:
    """Re-verify CERT for ORIGINAL and REDUCED with the trusted checker (no solvers, no search)."""
    from ..certificate import load_certificate
    from ..checker import verify
    from ..loading import load

    document = load_certificate(cert)
    report = verify(document, load(original), load(reduced))
    if as_json:
        click.echo(json.dumps(report.to_json()))
    elif report.valid:
        click.echo(f"VALID: {cert} proves the claim for {original} and {reduced}")
    else:
        click.echo(f"INVALID: {cert}")
        for problem in report.problems:
            click.echo(f"  {problem}")
    return 0 if report.valid else 1
