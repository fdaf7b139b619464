"""``nnequiv compress MODEL -o REDUCED --cert CERT``: apply passes, write the reduced model and the
certificate of the chain, then re-verify it with the trusted checker (exit 0 valid, 1 invalid, 3 bad input)."""

from __future__ import annotations

import click


@click.command("compress")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="reduced ONNX model")
@click.option("--passes", "pass_list", default="fuse-bn,fold-affine,lump", show_default=True,
              help="comma-separated pass ids, applied in order")
@click.option("--box", "box_text", metavar="LO:HI",
              help="input box; allows inexact rewrites, certified with an epsilon on it")
@click.option("--box-file", type=click.Path(dir_okay=False), help="JSON box: lower/upper arrays")
@click.option("--vnnlib", type=click.Path(dir_okay=False), help="input box from a VNN-LIB file")
@click.option("--tol", "tol", type=float, default=0.0, show_default=True,
              help="lump also nearly proportional neurons (relative difference <= TOL after normalisation); "
                   "inexact, certified with an epsilon on --box (required)")
@click.option("--cert", required=True, type=click.Path(dir_okay=False), help="write the certificate here")
@click.option("--report", "report_path", type=click.Path(dir_okay=False),
              help="also write a report for reviewers (.html, .md or .json)")
def command(model: str, output: str, pass_list: str, box_text: str | None, box_file: str | None,
            vnnlib: str | None, tol: float, cert: str, report_path: str | None) -> int:
    """Compress MODEL with certified rewrites; the certificate is checked before the command ends."""
    from ..certificate import save_certificate
    from ..checker import verify
    from ..errors import UsageError
    from ..loading import load
    from ..onnx_io import save_onnx
    from ..passes.pipeline import run
    from .domain import input_box

    passes = [p.strip() for p in pass_list.split(",") if p.strip()]
    if not passes:
        raise UsageError("--passes is empty", fix="e.g. --passes fuse-bn,fold-affine,lump")
    net = load(model)
    box, _ = input_box(net.input.size, box_text, box_file, vnnlib, required=False)
    if tol and box is None:
        raise UsageError("--tol merges neurons that are only nearly proportional: the deviation is certified on "
                         "an input box", fix="add --box LO:HI (or --box-file / --vnnlib), or drop --tol")
    from .progress import TransientStatus

    with TransientStatus(enabled=True, after=0.0) as status:
        done = run(net, passes, box, tol,
                   progress=lambda pass_id, i, n: status.update(f"pass {pass_id} ({i + 1}/{n})"))
    save_onnx(done.reduced, output)
    done.certificate["models"]["original"]["name"] = model
    done.certificate["models"]["reduced"]["name"] = output
    save_certificate(done.certificate, cert)
    report = verify(done.certificate, load(model), load(output))
    _print(done, report, output, cert)
    if report_path:
        from ..report import write_report

        write_report(report_path, certificate=done.certificate, original=net, reduced=done.reduced,
                     original_path=model, reduced_path=output, certificate_path=cert, box=box)
    return 0 if report.valid else 1


def _print(done, report, output: str, cert: str) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    table = Table(title="compress")
    for column in ("pass", "applied", "neurons", "parameters", "FLOPs", "epsilon", "time"):
        table.add_column(column, justify="left" if column == "pass" else "right")
    for r in done.reports:
        table.add_row(r.pass_id, str(r.stats.applied), f"{r.neurons[0]} -> {r.neurons[1]}",
                      f"{r.parameters[0]} -> {r.parameters[1]}", f"{r.flops[0]:,} -> {r.flops[1]:,}",
                      "0 (exact)" if r.stats.epsilon == 0 else f"{r.stats.epsilon:.3g}", f"{r.seconds:.2f} s")
    console.print(table)
    for r in done.reports:
        for refusal in r.stats.refused:
            console.print(f"  {r.pass_id}: left in place: {refusal}")
    claim = done.certificate["claim"]
    console.print(f"reduced model written to {output}; certificate to {cert} "
                  f"(claim: {claim['relation']['kind']}, bound {float.fromhex(claim['bound']):.3g})")
    if report.valid:
        console.print(f"[bold green]VALID[/]: the checker accepts the chain of {len(done.certificate['steps'])} steps")
    else:
        console.print("[bold red]INVALID[/]: the checker rejects the certificate")
        for problem in report.problems:
            console.print(f"  {problem}")
