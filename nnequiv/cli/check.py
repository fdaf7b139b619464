"""``nnequiv check ORIGINAL REDUCED``: decide equivalence on an input box (exit 0/1/2, 3 on bad input)."""

from __future__ import annotations

import json
from typing import Any

import click

from ..errors import EXIT_EQUIVALENT, EXIT_NOT_EQUIVALENT, EXIT_UNKNOWN, UsageError
from .domain import input_box
from .progress import TransientStatus

EXIT_CODES = {"equivalent": EXIT_EQUIVALENT, "not_equivalent": EXIT_NOT_EQUIVALENT, "unknown": EXIT_UNKNOWN}


@click.command("check")
@click.argument("original", type=click.Path(dir_okay=False))
@click.argument("reduced", type=click.Path(dir_okay=False))
@click.option("--box", "box_text", metavar="LO:HI", help="one interval for every input")
@click.option("--box-file", type=click.Path(dir_okay=False), help="JSON box: lower/upper arrays")
@click.option("--vnnlib", type=click.Path(dir_okay=False), help="input box (and relation) from VNN-LIB")
@click.option("--eps", type=str, default=None, help="max |f - g| allowed (default relation, eps 0)")
@click.option("--exact", is_flag=True, help="f = g everywhere on the box (real arithmetic)")
@click.option("--top1", is_flag=True, help="same top-1 class everywhere on the box")
@click.option("--outputs", type=str, default=None, metavar="I,J,...", help="compare only these outputs")
@click.option("--timeout", type=float, default=60.0, show_default=True, help="seconds")
@click.option("--seed", type=int, default=0, show_default=True, help="falsification seed")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@click.option("--cert", type=click.Path(dir_okay=False), help="write the certificate of a proof here")
@click.option("--report", "report_path", type=click.Path(dir_okay=False),
              help="also write a report for reviewers (.html, .md or .json)")
def command(original: str, reduced: str, box_text: str | None, box_file: str | None, vnnlib: str | None,
            eps: str | None, exact: bool, top1: bool, outputs: str | None, timeout: float, seed: int,
            as_json: bool, cert: str | None, report_path: str | None) -> int:
    """Prove or refute that REDUCED computes the same function as ORIGINAL on a box."""
    from ..engine.check import check
    from ..loading import load

    f, g = load(original), load(reduced)
    box, relation = _domain_and_relation(f, box_text, box_file, vnnlib, eps, exact, top1, outputs)
    with TransientStatus(enabled=not as_json) as status:
        verdict = check(f, g, box, relation, timeout=timeout, seed=seed,
                        progress=lambda regions, _elapsed: status.update(f"branch and bound: {regions} regions"))
    if cert and verdict.certificate is not None:
        from ..certificate import save_certificate

        verdict.certificate["models"]["original"]["name"] = original
        verdict.certificate["models"]["reduced"]["name"] = reduced
        save_certificate(verdict.certificate, cert)
    if report_path:
        from ..report import write_report

        write_report(report_path, verdict=verdict, original=f, reduced=g, original_path=original,
                     reduced_path=reduced, certificate_path=cert if verdict.certificate is not None else None,
                     box=box, domain_source=vnnlib or box_file)
    if as_json:
        click.echo(json.dumps(verdict.to_json(), allow_nan=False))
    else:
        _print_human(verdict, relation, cert if verdict.certificate is not None else None)
    return EXIT_CODES[verdict.verdict]


def _domain_and_relation(net, box_text, box_file, vnnlib, eps, exact, top1, outputs):
    from ..spec.relation import Relation

    flags = [name for name, on in (("--eps", eps is not None), ("--exact", exact), ("--top1", top1)) if on]
    if len(flags) > 1:
        raise UsageError(f"choose one relation, not {' and '.join(flags)}")
    chosen = None if outputs is None else _parse_outputs(outputs)
    box, relation = input_box(net.input.size, box_text, box_file, vnnlib)
    if exact:
        relation = Relation.exact(chosen)
    elif top1:
        relation = Relation.top1(chosen)
    elif eps is not None or relation is None:
        relation = Relation.epsilon(eps if eps is not None else 0.0, chosen)
    return box, relation


def _parse_outputs(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise UsageError(f"--outputs takes comma-separated indices, got {text!r}") from None


def _print_human(verdict, relation, cert_path: str | None) -> None:
    from rich.console import Console

    console = Console(highlight=False)
    colour = {"equivalent": "green", "not_equivalent": "red", "unknown": "yellow"}[verdict.verdict]
    console.print(f"[bold {colour}]{verdict.verdict.upper()}[/]  ({relation.describe()})")
    lower, upper = verdict.lower, verdict.upper
    if relation.kind != "top1":
        console.print(f"max deviation: proved <= {_num(upper)}, reached >= {_num(lower)}")
    cex = verdict.counterexample
    if cex is not None:
        method = verdict.stats.get("counterexample_replay")
        console.print(f"counterexample (replayed {method})" if method else
                      f"counterexample (replayed exactly{'' if cex.exact else ', irrational ops approximated'}):")
        console.print(f"  input    {_short(cex.input)}")
        console.print(f"  original {_short(cex.original_output)}")
        console.print(f"  reduced  {_short(cex.reduced_output)}")
        console.print(f"  deviation {cex.deviation:.6g} (float32 onnxruntime: {_num(cex.float32_deviation)})")
        if cex.deviation_lower is not None:
            console.print(f"  deviation proved >= {cex.deviation_lower:.9g} (rigorous enclosures of the exact outputs)")
    console.print(f"time {verdict.time_s:.2f} s, regions {verdict.stats.get('regions', 0)}")
    structural = verdict.stats.get("structural")
    if structural and structural.get("matched"):
        console.print(f"decided by the structural match ({' -> '.join(structural['steps'])}), "
                      f"{structural['time_s']:.2f} s")
    elif structural and structural.get("failure"):
        console.print(f"structural match failed, numeric engine used: {structural['failure']}")
    composition = verdict.stats.get("composition")
    if composition:
        console.print(_composition_line(composition))
    if verdict.stats.get("unknown_reason"):
        console.print(f"numeric engine skipped: {verdict.stats['unknown_reason']}")
    if cert_path:
        console.print(f"certificate written to {cert_path} (re-check: nnequiv verify {cert_path} ORIGINAL REDUCED)")


def _composition_line(info: dict) -> str:
    """Which layers the composition matched (``nnequiv.engine.compose``), or why it was not used."""
    if "prefix_nodes" not in info:
        return f"composition not tried: {info.get('reason')}"
    shared = (f"shared prefix {_layers(info['prefix_nodes'])}, shared suffix {_layers(info['suffix_nodes'])}, "
              f"middle {info['middle']}")
    if info.get("used"):
        return f"decided by composition: {shared}; middle proved on the prefix's {info['enclosure']} enclosure"
    return f"composition not used ({shared}): {info.get('reason')}"


def _layers(names) -> str:
    if not names:
        return "none"
    return f"{len(names)} nodes ({names[0]})" if len(names) == 1 else f"{len(names)} nodes ({names[0]} .. {names[-1]})"


def _num(value) -> str:
    return "n/a" if value is None else f"{value:.6g}"


def _short(values, keep: int = 8) -> str:
    shown = ", ".join(f"{v:.6g}" for v in values[:keep])
    return f"[{shown}{', …' if len(values) > keep else ''}] ({len(values)} values)"
