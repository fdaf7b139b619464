"""Benchmark the certified ``simplify`` pass on VGG- and ResNet-shaped CNNs with 50 % of the channels zeroed.

Models (seeded, built in code by ``tests/helpers/simplify_nets.py``; 3 x 32 x 32 input, 10 classes):

* ``*-pruned``: float32 weights, 50 % of every Conv's output channels zeroed *with their biases*
  (magnitude pruning): the zeroed channels are the constant 0, so propagation only zeroes the
  readers' weights -- exact;
* ``*-const``: dyadic weights (``k / 32``), 50 % of the kernels zeroed, biases kept: the zeroed
  channels are constants ``relu(b)`` whose contributions become (spatial) biases -- exact because
  the weights have few bits;
* ``vgg10m-*``: a ~10 M-parameter VGG (widths 64..512) for the checker's time target (< 5 s);
* ResNets (stem + 4 residual blocks of width 64, GlobalAveragePool): the residual stream (stem and
  every block's second conv) is pruned at the *same* channels (structured pruning), so those
  channels are removed through the Adds; ``resnet-untied-pruned`` prunes every conv at random
  channels: a residual channel zero on one branch only is kept (refused), only the channels
  inside the blocks go.

For each: parameters before / after, onnxruntime CPU latency (one thread, batch 1, median of
``--runs``) before / after, the pass time (``compress(net, ["simplify"])``), the verify time
(``nnequiv.checker.verify``), the claim and the refusals.  A spatial bias ``Add`` (after a padded
Conv reading a non-zero constant channel) is counted in the parameters: it has ``O * H' * W'``
entries.

Usage (from the repository root; about 2-4 minutes on one core)::

    .venv/bin/python benchmarks/compress/simplify_bench.py
    .venv/bin/python benchmarks/compress/simplify_bench.py --only vgg-pruned --runs 20   # smoke

Writes ``benchmarks/results/compress_simplify.md`` and ``compress_simplify.json`` (``--out DIR``).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"           # one core, before numpy is imported

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))

from nnequiv.checker import verify  # noqa: E402
from nnequiv.onnx_io import to_onnx_model  # noqa: E402
from nnequiv.passes.pipeline import run  # noqa: E402
from nnequiv.summary import summarize  # noqa: E402
from tests.helpers.simplify_nets import residual_convs, resnet, vgg, zero_channels  # noqa: E402

IMAGE, CLASSES, TARGET_SECONDS = (3, 32, 32), 10, 5.0


def _vgg(dense: bool, rng):
    return vgg(rng, widths=(32, 64, 128), image=IMAGE, classes=CLASSES, hidden=256, dense=dense)


def _vgg10m(dense: bool, rng):
    return vgg(rng, widths=(64, 128, 256, 512, 512), image=IMAGE, classes=CLASSES, hidden=512, dense=dense)


def _resnet(dense: bool, rng):
    return resnet(rng, width=64, blocks=4, image=IMAGE, classes=CLASSES, dense=dense)


# name -> (builder, dense float32 weights with zeroed biases?, same channels on the residual stream?)
MODELS = {f"{name}-{kind}": (build, kind == "pruned", name == "resnet")
          for name, build in (("vgg", _vgg), ("resnet", _resnet), ("vgg10m", _vgg10m))
          for kind in ("pruned", "const")}
MODELS["resnet-untied-pruned"] = (_resnet, True, False)


def latency(net, runs: int) -> float:
    """Median seconds of one batch-1 inference with onnxruntime on one CPU thread."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(to_onnx_model(net).SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).normal(size=(1, *IMAGE)).astype(np.float32)
    name = session.get_inputs()[0].name
    for _ in range(3):
        session.run(None, {name: x})
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        session.run(None, {name: x})
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def measure(name: str, runs: int) -> dict:
    build, dense, tied = MODELS[name]
    rng = np.random.default_rng(0)
    base = build(dense, rng)
    net, zeroed = zero_channels(base, rng, 0.5, zero_bias=dense, tied=residual_convs(base) if tied else ())
    start = time.perf_counter()
    done = run(net, ["simplify"])
    pass_seconds = time.perf_counter() - start
    start = time.perf_counter()
    report = verify(done.certificate, net, done.reduced)
    verify_seconds = time.perf_counter() - start
    x = np.random.default_rng(1).normal(size=(4, *net.input.shape))
    stats = done.reports[0].stats
    return {
        "model": name, "zeroed_channels": sum(len(v) for v in zeroed.values()),
        "parameters": [summarize(net).parameters, summarize(done.reduced).parameters],
        "latency_ms": [1e3 * latency(net, runs), 1e3 * latency(done.reduced, runs)],
        "pass_s": pass_seconds, "verify_s": verify_seconds, "valid": report.valid,
        "relation": done.certificate["claim"]["relation"]["kind"],
        "max_float_difference": float(np.max(np.abs(net.evaluate(x) - done.reduced.evaluate(x)))),
        "details": dict(stats.details), "refused": [str(r) for r in stats.refused],
    }


def render(rows: list[dict], command: str) -> str:
    lines = ["# `simplify` on CNNs with 50 % of the channels zeroed", "",
             f"Run {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC on {platform.node()} "
             f"({platform.processor() or platform.machine()}, Python {platform.python_version()}, one thread); "
             f"`{command}`.", "",
             "Parameters and onnxruntime CPU latency (batch 1, median) before -> after; pass = "
             "`compress(net, [\"simplify\"])`; verify = `nnequiv.checker.verify` (exact replay of both steps).", "",
             "| model | zeroed channels | parameters | latency ms | pass s | verify s | valid | claim | "
             "removed | spatial Adds | refusals |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        p, t = r["parameters"], r["latency_ms"]
        lines.append(f"| {r['model']} | {r['zeroed_channels']} | {p[0]:,} -> {p[1]:,} ({p[1] / p[0]:.0%}) | "
                     f"{t[0]:.2f} -> {t[1]:.2f} | {r['pass_s']:.2f} | {r['verify_s']:.2f} | {r['valid']} | "
                     f"{r['relation']} | {r['details']['removed_channels']} | {r['details']['spatial_bias_adds']} | "
                     f"{len(r['refused'])} |")
    big = [r for r in rows if r["model"].startswith("vgg10m")]
    if big:
        worst = max(r["verify_s"] for r in big)
        lines += ["", f"Target: verify a Simplify certificate of a ~10 M-parameter model in < {TARGET_SECONDS:.0f} s: "
                      f"worst {worst:.2f} s ({'met' if worst < TARGET_SECONDS else 'NOT met'})."]
    lines += ["", "Latency depends on onnxruntime's kernel choice: channel counts that are not multiples of 8 "
                  "(e.g. a residual stream of 61 channels in `resnet-untied-pruned`) lose its blocked-convolution "
                  "fast path, so fewer parameters need not mean proportionally lower latency.  On a shared "
                  "machine the latencies are noisy (a factor 2-3 between runs of the same model was seen)."]
    refusals = sorted({reason.split(': ', 1)[1] for r in rows for reason in r["refused"]})
    if refusals:
        lines += ["", "Refusal reasons seen (channels kept):", ""] + [f"* {reason}" for reason in refusals]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated model names (default: all)")
    parser.add_argument("--runs", type=int, default=50, help="timed inferences per latency")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    args = parser.parse_args()
    names = [n for n in MODELS if not args.only or n in args.only.split(",")]
    command = "python benchmarks/compress/simplify_bench.py " + " ".join(sys.argv[1:])
    rows = []
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in names:
        rows.append(measure(name, args.runs))
        (out / "compress_simplify.json").write_text(json.dumps({"command": command, "rows": rows}, indent=1))
        (out / "compress_simplify.md").write_text(render(rows, command.strip()))
        sys.stderr.write(f"{name}: done\n")
    sys.stdout.write(render(rows, command.strip()))


if __name__ == "__main__":
    main()
