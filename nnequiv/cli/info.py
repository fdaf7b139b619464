"""``nnequiv info MODEL [--json]``: inputs, outputs, layers, neurons, parameters, SHA-256."""

from __future__ import annotations

import json
from typing import Any

import click

__all__ = ["command", "collect"]

NNET_NOTE = ("NNet input clipping to [min, max] is not modelled: keep verification boxes "
             "inside these bounds")


def collect(path: str) -> dict[str, Any]:
    """Everything ``info`` shows, as one JSON-compatible dict."""
    from ..loading import load, model_format
    from ..onnx_io import canonical_sha256
    from ..summary import summarize

    fmt = model_format(path)
    extra: dict[str, Any] = {}
    if fmt == "nnet":
        from ..nnet_io import load_nnet_with_info

        net, nnet = load_nnet_with_info(path)
        extra["nnet"] = {"input_min": list(nnet.input_min), "input_max": list(nnet.input_max),
                         "note": NNET_NOTE}
    else:
        net = load(path)
    summary = summarize(net)
    return {"file": str(path), "format": fmt, "sha256": canonical_sha256(net),
            **summary.to_dict(), **extra}


def _shape(shape: Any) -> str:
    return "x".join(str(d) for d in shape) if shape is not None else "?"


def _box(lo: list[float], hi: list[float]) -> str:
    if len(lo) <= 8:
        return f"[{', '.join(map(str, lo))}] .. [{', '.join(map(str, hi))}]"
    return f"{len(lo)} intervals within [{min(lo)}, {max(hi)}]"


def _render(data: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False, markup=False, emoji=False)
    if not console.is_terminal:  # files and pipes: do not squeeze the table into 80 columns
        console.width = 200
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    head.add_row("model", f"{data['file']} ({data['format']}, opset {data['opset']})")
    head.add_row("sha256", data["sha256"])
    for key in ("inputs", "outputs"):
        for spec in data[key]:
            head.add_row(key[:-1], f"{spec['name']}  {_shape(spec['shape'])}  {spec['dtype']}")
    if "nnet" in data:
        lo, hi = data["nnet"]["input_min"], data["nnet"]["input_max"]
        head.add_row("input box", _box(lo, hi))
        head.add_row("note", data["nnet"]["note"])
    console.print(head)

    table = Table(title=None, show_edge=False, pad_edge=False)
    table.add_column("#", justify="right")
    table.add_column("node")
    table.add_column("op")
    table.add_column("output shape")
    table.add_column("neurons", justify="right")
    table.add_column("parameters", justify="right")
    table.add_column("activation")
    for i, row in enumerate(data["layers"], start=1):
        table.add_row(str(i), row["name"], row["op"], _shape(row["output_shape"]),
                      f"{row['neurons']:,}" if row["neurons"] else "",
                      f"{row['parameters']:,}" if row["parameters"] else "",
                      row["activation"] or "")
    console.print(table)
    console.print(f"{data['nodes']} nodes, {data['layer_count']} layers, "
                  f"{data['neurons']:,} hidden neurons, {data['parameters']:,} parameters, "
                  f"~{data['flops']:,} FLOPs per sample")


@click.command("info", short_help="Show a model's inputs, outputs, layers and size.")
@click.argument("model", metavar="MODEL")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")
def command(model: str, as_json: bool) -> None:
    """Show MODEL's inputs, outputs, layers, neurons, parameters and canonical SHA-256.

    MODEL is an .onnx or .nnet file.  Neurons count the hidden units (layers
    followed by an activation); the SHA-256 identifies the network independently
    of how the file was serialised.
    """
    data = collect(model)
    if as_json:
        click.echo(json.dumps(data, indent=2))
    else:
        _render(data)
