"""Issue 8's example: build two small models in code, check them, and render reviewer reports.

    .venv/bin/python examples/report/make_example_report.py [--out DIR] [--no-screenshots]

1. original: a 4-16-16-3 ReLU MLP followed by a 3x3 affine "calibration" layer;
   reduced: the calibration folded into the last dense layer, and the second layer's
   weights quantised to float16 values (stored as float32);
2. ``nnequiv check ... --eps 6e-4 --cert certificate.json``        -> EQUIVALENT (exit 0);
3. ``nnequiv report certificate.json --original ... --reduced ...`` -> report.html, report.md;
4. ``nnequiv check ... --eps 2e-4 --json --report counterexample.html`` -> NOT EQUIVALENT (exit 1);
5. if ``/usr/bin/chromium`` exists: screenshots of the report's first page and of its per-layer
   chart, written next to this script (``report_first_page.png``, ``report_layer_chart.png``).

The commands run inside the output directory, so the reports show relative file names.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from nnequiv.ir import Network, Node, TensorSpec
from nnequiv.onnx_io import save_onnx

HERE = Path(__file__).resolve().parent
CHROMIUM = Path("/usr/bin/chromium")
BOX = "--box=-1:1"


def mlp(layers, name: str, relu_after: set[int]) -> Network:
    """``Gemm`` layers (float32 weights) with ``Relu`` after the layers in ``relu_after``."""
    nodes, init, current = [], {}, "input"
    for k, (w, b) in enumerate(layers):
        init[f"W{k}"], init[f"b{k}"] = np.asarray(w, np.float32), np.asarray(b, np.float32)
        out = "logits" if k == len(layers) - 1 else f"z{k}"
        nodes.append(Node(f"dense{k}", "Gemm", (current, f"W{k}", f"b{k}"), (out,), {"transB": 1}))
        current = out
        if k in relu_after:
            nodes.append(Node(f"relu{k}", "Relu", (out,), (f"h{k}",)))
            current = f"h{k}"
    return Network.create(inputs=[TensorSpec("input", (1, layers[0][0].shape[1]), "float32", (0,))],
                          outputs=[TensorSpec("logits", (1, layers[-1][0].shape[0]), "float32", (0,))],
                          nodes=nodes, initializers=init, name=name)


def build_models(out: Path) -> None:
    rng = np.random.default_rng(2024)
    widths = [4, 16, 16, 3]
    layers = [(rng.normal(0, 1 / np.sqrt(a), (b, a)).astype(np.float32), rng.normal(0, 0.1, b).astype(np.float32))
              for a, b in zip(widths[:-1], widths[1:])]
    calibration = ((np.eye(3) + rng.normal(0, 0.1, (3, 3))).astype(np.float32),
                   rng.normal(0, 0.05, 3).astype(np.float32))
    original = mlp(layers + [calibration], "original", {0, 1})
    a, c = (np.asarray(v, np.float64) for v in calibration)
    w2, b2 = (np.asarray(v, np.float64) for v in layers[2])
    quantised = layers[1][0].astype(np.float16).astype(np.float32)
    reduced = mlp([layers[0], (quantised, layers[1][1]), (a @ w2, a @ b2 + c)], "folded_fp16", {0, 1})
    save_onnx(original, out / "original.onnx")
    save_onnx(reduced, out / "reduced.onnx")


def nnequiv(out: Path, *args: str, expect: int) -> None:
    command = [str(Path(sys.executable).with_name("nnequiv")), *args]
    print("$ nnequiv " + " ".join(args), flush=True)
    code = subprocess.run(command, cwd=out).returncode
    if code != expect:
        raise SystemExit(f"expected exit code {expect}, got {code}")


def screenshot(page: Path, png: Path, width: int, height: int) -> None:
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                        "--no-first-run", "--disable-background-networking", "--disable-component-update",
                        "--disable-sync", "--hide-scrollbars", f"--user-data-dir={profile}",
                        f"--screenshot={png}", f"--window-size={width},{height}", page.as_uri()],
                       check=True, capture_output=True, timeout=120)
    print(f"screenshot {png.relative_to(HERE.parent.parent) if png.is_relative_to(HERE.parent.parent) else png}")


def chart_page(report: Path, out: Path) -> Path:
    """The report's per-layer figure alone, with the report's own stylesheet."""
    html = report.read_text(encoding="utf-8")
    style = re.search(r"<style>.*?</style>", html, re.S).group(0)
    figure = re.search(r'<figure id="layer-chart">.*?</figure>', html, re.S).group(0)
    page = out / "layer_chart.html"
    page.write_text(f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">{style}</head>'
                    f'<body style="padding:8px 12px;margin:0">{figure}</body></html>', encoding="utf-8")
    return page


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "output", help="where models, certificate and reports go")
    parser.add_argument("--no-screenshots", action="store_true")
    args = parser.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    build_models(out)
    nnequiv(out, "check", "original.onnx", "reduced.onnx", BOX, "--eps", "6e-4", "--cert", "certificate.json",
            expect=0)
    for name in ("report.html", "report.md"):
        nnequiv(out, "report", "certificate.json", "--original", "original.onnx", "--reduced", "reduced.onnx",
                "-o", name, expect=0)
    with open(out / "verdict.json", "w") as verdict:
        command = [str(Path(sys.executable).with_name("nnequiv")), "check", "original.onnx", "reduced.onnx", BOX,
                   "--eps", "2e-4", "--json", "--report", "counterexample.html"]
        print("$ nnequiv " + " ".join(command[1:]) + " > verdict.json", flush=True)
        if subprocess.run(command, cwd=out, stdout=verdict).returncode != 1:
            raise SystemExit("expected NOT EQUIVALENT (exit 1) for eps 2e-4")
    print(f"reports in {out}")
    if args.no_screenshots or not CHROMIUM.exists():
        print("no screenshots (" + ("--no-screenshots" if args.no_screenshots else f"{CHROMIUM} not found") + ")")
        return 0
    screenshot(out / "report.html", HERE / "report_first_page.png", 1100, 1400)
    screenshot(chart_page(out / "report.html", out), HERE / "report_layer_chart.png", 760, 640)
    return 0


if __name__ == "__main__":
    sys.exit(main())
