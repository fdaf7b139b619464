"""Structural matching at ResNet-18 scale: a torch ResNet-18 (BatchNorm, eval mode, ~11.7 M
parameters, 224x224x3 input) against the same network with every Conv+BN pair folded by
``torch.nn.utils.fusion.fuse_conv_bn_eval`` (float32, as onnxsim / torch do), both exported
to ONNX.  Runs ``nnequiv check`` (structural stage) and ``nnequiv verify`` on the certificate,
on the full box [0, 1]^150528 and on a small L-inf ball around one image, and writes
``benchmarks/results/structural.md``.

    .venv/bin/python benchmarks/structural/run_structural_bench.py [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
EPS = "1e12"   # far above the interval bounds: the table reports the bound actually proved
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def resnet18(seed: int = 0):
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int) -> None:
            super().__init__()
            self.conv1, self.bn1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout)
            self.conv2, self.bn2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout)
            self.down = None
            if stride != 1 or cin != cout:
                self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x):
            h = torch.relu(self.bn1(self.conv1(x)))
            h = self.bn2(self.conv2(h))
            return torch.relu(h + (x if self.down is None else self.down(x)))

    class ResNet18(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1, self.bn1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64)
            self.pool = nn.MaxPool2d(3, 2, 1)
            widths, blocks, cin = (64, 128, 256, 512), [], 64
            for k, w in enumerate(widths):
                blocks += [Block(cin, w, 1 if k == 0 else 2), Block(w, w, 1)]
                cin = w
            self.blocks = nn.Sequential(*blocks)
            self.avg = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(512, 1000)

        def forward(self, x):
            h = self.pool(torch.relu(self.bn1(self.conv1(x))))
            return self.fc(torch.flatten(self.avg(self.blocks(h)), 1))

    from tests.helpers.torch_families import randomise_batchnorm

    torch.manual_seed(seed)
    return randomise_batchnorm(ResNet18())


def fold_all(model):
    from torch.nn.utils.fusion import fuse_conv_bn_eval
    import torch

    fused = copy.deepcopy(model)
    pairs = [(fused, "conv1", "bn1")]
    for block in fused.blocks:
        pairs += [(block, "conv1", "bn1"), (block, "conv2", "bn2")]
        if block.down is not None:
            block.down = torch.nn.Sequential(fuse_conv_bn_eval(block.down[0], block.down[1]))
    for owner, conv, bn in pairs:
        setattr(owner, conv, fuse_conv_bn_eval(getattr(owner, conv), getattr(owner, bn)))
        setattr(owner, bn, torch.nn.Identity())
    return fused.eval()


def export(model, path: Path, names: tuple[str, str] = ("input", "logits")) -> None:
    import torch

    torch.onnx.export(model, (torch.zeros(1, 3, 224, 224),), str(path), dynamo=False, opset_version=17,
                      input_names=[names[0]], output_names=[names[1]], do_constant_folding=False)


CLI = [sys.executable, "-c", "import sys; from nnequiv.cli import main; sys.argv[0] = 'nnequiv'; main()"]


def run(cmd: list[str]) -> tuple[float, int, str]:
    started = time.monotonic()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
    return time.monotonic() - started, done.returncode, (done.stdout + done.stderr).strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    parser.add_argument("--only", choices=("all", "fold", "scale"), default="all",
                        help="fold: the ResNet-18 BN-fold rows; scale: the pruned VGG/ResNet/DenseNet pairs")
    args = parser.parse_args()
    import torch

    python = sys.executable
    rows = []
    with tempfile.TemporaryDirectory(prefix="nnequiv-structural-") as tmp:
        tmp = Path(tmp)
        model = resnet18()
        params = sum(p.numel() for p in model.parameters())
        export(model, tmp / "resnet18_bn.onnx")
        export(fold_all(model), tmp / "resnet18_folded.onnx")
        rng = np.random.default_rng(0)
        image = rng.uniform(0.0, 1.0, 3 * 224 * 224)
        for name, radius in (("ball", 1.0 / 255), ("point", 0.0)):
            lower, upper = np.maximum(image - radius, 0), np.minimum(image + radius, 1)
            (tmp / f"{name}.json").write_text(json.dumps({"lower": lower.tolist(), "upper": upper.tolist()}))
        with torch.no_grad():
            x = torch.from_numpy(image.reshape(1, 3, 224, 224)).float()
            observed = float((model(x) - fold_all(model)(x)).abs().max())
        export(model, tmp / "resnet18_renamed.onnx", ("data", "scores"))
        domains = (("re-exported, renamed (exact): full box", ["--box", "0:1", "--exact"]),
                   ("full box [0,1]^150528", ["--box", "0:1"]),
                   ("L-inf ball r=1/255 around one image", ["--box-file", str(tmp / "ball.json")]),
                   ("the image itself (r=0)", ["--box-file", str(tmp / "point.json")]))
        for label, domain in (domains if args.only != "scale" else ()):
            cert = tmp / "cert.json"
            reduced = tmp / ("resnet18_renamed.onnx" if "--exact" in domain else "resnet18_folded.onnx")
            relation = [] if "--exact" in domain else ["--eps", EPS]
            seconds, code, text = run([*CLI, "check", str(tmp / "resnet18_bn.onnx"), str(reduced), *domain,
                                       *relation, "--json", "--cert", str(cert), "--timeout", "60"])
            verify_s, verify_code, verify_text = (run([*CLI, "verify", str(cert),
                                                      str(tmp / "resnet18_bn.onnx"), str(reduced)])
                                                  if cert.exists() else (0.0, -1, "no certificate"))
            try:
                verdict = json.loads(text.splitlines()[-1])
                summary = (f"{verdict['verdict']}, proved <= {verdict['max_deviation']['upper']:.3g}, "
                           f"stage {verdict['stats'].get('stage')}, steps "
                           f"{verdict['stats'].get('structural', {}).get('steps')}")
            except (ValueError, IndexError, KeyError, TypeError):
                summary = text.replace("|", "/")[:300]
            rows.append((label, seconds, code, summary, verify_s, verify_text.splitlines()[0]))
            cert.unlink(missing_ok=True)
        from scale_pairs import rows as scale_rows, table as scale_table

        scaled = scale_rows(run, CLI, tmp) if args.only != "fold" else []
    lines = ["# Structural matching at ResNet-18 scale", "",
             f"Date {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, host {platform.node()}, "
             f"Python {platform.python_version()}, torch {torch.__version__}, numpy {np.__version__}.",
             f"Command: `{Path(python).name} benchmarks/structural/run_structural_bench.py`.", "",
             f"Pair: torch ResNet-18 with BatchNorm (eval, random BN statistics, {params:,} parameters, input "
             "1x3x224x224) vs. the same network with every Conv+BN folded by `fuse_conv_bn_eval` (float32); "
             "both exported with `torch.onnx.export` (opset 17, no constant folding).",
             f"Observed max |f - g| at the random image (torch float32 forward): {observed:.3g}.",
             f"`nnequiv check ... --eps {EPS} --json --cert C` then `nnequiv verify C ...`; times are wall "
             "clock of the whole CLI process (loading both 45 MB models included).", "",
             "| box | check (s) | exit | verdict | verify (s) | verify |",
             "| --- | --- | --- | --- | --- | --- |"]
    for label, seconds, code, summary, verify_s, verify_line in rows:
        lines.append(f"| {label} | {seconds:.1f} | {code} | {summary} | {verify_s:.1f} | {verify_line[:60]} |")
    lines += ["", "Reading: every row is decided by the structural stage in well under 60 s and its certificate "
              "re-verifies. The renamed re-export is proved exactly equivalent. For the float32 fold the proved "
              "epsilon is sound but far from the observed deviation: the interval enclosure of g and the "
              "difference bound D are propagated through |W| (no sign cancellation), which grows about 10x "
              "per convolution over 20 layers -- even for the single image (r = 0) the float64 rounding radii "
              "alone grow from 1e-13 to 0.4 at the logits. A useful epsilon for deep nets needs a relational "
              "(zonotope / back-substitution) analysis of the weight difference, not yet done."]
    lines += ["", "## Pruned pairs at scale (issue 6 round 2)", "",
              f"Date {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
              "`python benchmarks/structural/run_structural_bench.py --only scale`.", "",
              "Models from `tests/helpers/torch_families.py` (`scale=\"full\"`, seeded, eval mode, random BN "
              "statistics, input 1x3x224x224): VGG (4 stages of 2 conv-BN-ReLU, 64..512 channels), ResNet-18, "
              "DenseNet-121-shaped (growth 32, blocks 6/12/24/16, BN-ReLU-Conv, Concat, AvgPool transitions). 50 % of "
              "the prunable convs' output channels zeroed (kernel, BN gamma = beta = 0; ResNet: each block's first "
              "conv, DenseNet: the dense layers' 1x1 convs -- residual / Concat streams kept). Reducers: our "
              "`simplify` pass on the ONNX original, Torch-Pruning 1.6 (DependencyGraph, the zeroed channels), "
              "torch-simplify 1.1.4 (`simplify(model, x, fuse_bn=False)`; its torchvision import is served by "
              "isinstance-only stand-ins, see `tests/helpers/third_party.py`). `nnequiv check orig reduced --box 0:1 "
              "--json --cert C` (default relation: eps 0), then `nnequiv verify C orig reduced`; wall clock of the "
              "CLI process. Signed-sum rows: conv 0 channel 3 gets a +-1/4 kernel summing to exactly 0.", "",
              *scale_table(scaled)] if scaled else []
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    target = out / "structural.md"
    if args.only == "scale" and target.exists():      # keep the fold section measured earlier
        kept = target.read_text().split("\n## Pruned pairs at scale")[0].rstrip("\n").splitlines()
        lines = kept + lines[lines.index("## Pruned pairs at scale (issue 6 round 2)") - 1:]
    target.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
