"""Benchmark the ``lump`` pass and the checker's replay: a ~10 M-parameter MLP with planted
proportional neurons and a CNN with planted proportional Conv channels.

* ``mlp``: the 10 M model of ``benchmarks/checker`` (``input(h) -> 4 x [Gemm + Relu](h) ->
  Gemm(10)``, float32, ~3 % of every hidden layer planted copies with rho = 2 or 1/2).
* ``cnn``: ``Conv 3x3 (3 -> C + P) -> Relu -> MaxPool 2 -> Conv 3x3 (-> 2C + P) -> Relu ->
  MaxPool 2 -> Flatten -> Gemm(10)`` on 3x32x32, float32, with ``P`` planted channel copies in
  both conv layers (rho = 2 / 1/2 / 4, next-layer weights split so the merge is exact).

Stages: ``pass`` (``lump(net, PassOptions())`` alone), ``compress`` (the pipeline: pass +
hashes + summaries), ``verify`` (the trusted checker: hashes + exact replay); wall and CPU
seconds.  ``--baseline DIR`` also times the pass of another checkout (e.g. ``git archive HEAD``
unpacked into DIR) in a child process, for a before/after comparison.

Usage (repository root)::

    .venv/bin/python benchmarks/compress/lump_bench.py [--baseline /tmp/head] [--quick]

Writes ``benchmarks/results/compress_lump.md`` and ``compress_lump.json`` (``--out DIR``).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path[:0] = [str(REPO), str(REPO / "benchmarks" / "checker")]


def mlp_model(quick: bool):
    from run_checker_bench import build

    net, _, classes, info = build(1_000_000 if quick else 10_000_000)
    return net, {"kind": "mlp", "parameters": info["parameters"], "planted": info["duplicates"],
                 "width": info["width"]}


def cnn_model(quick: bool, seed: int = 0):
    from nnequiv.ir import Network, Node, TensorSpec

    rng = np.random.default_rng(seed)
    c1, planted = (16, 4) if quick else (64, 16)
    c2 = 2 * c1
    side = 32

    def plant(filters, bias, next_w, axis_block):
        """Append ``planted`` copies of channels 0.. with rho 2, 1/2, 4; split the next weights."""
        factors = (2.0, 0.5, 4.0)
        for t in range(planted):
            j, rho = t, np.float32(factors[t % 3])
            filters = np.concatenate([filters, rho * filters[j:j + 1]])
            bias = np.append(bias, rho * bias[j]).astype(np.float32)
            block = axis_block(next_w, j)
            half = (block / np.float32(2)).astype(np.float32)
            next_w = axis_block(next_w, j, half)
            next_w = np.concatenate([next_w, (half / rho).astype(np.float32)], axis=1)
        return filters, bias, next_w

    def conv_channel(w, j, value=None):
        if value is None:
            return w[:, j:j + 1]
        w = w.copy()
        w[:, j:j + 1] = value
        return w

    k1 = rng.normal(0, 0.3, (c1, 3, 3, 3)).astype(np.float32)
    b1 = rng.normal(0, 0.1, c1).astype(np.float32)
    k2 = rng.normal(0, 0.05, (c2, c1, 3, 3)).astype(np.float32)
    b2 = rng.normal(0, 0.1, c2).astype(np.float32)
    pixels = (side // 4) ** 2
    w3 = rng.normal(0, 0.02, (10, c2 * pixels)).astype(np.float32)
    k1, b1, k2 = plant(k1, b1, k2, conv_channel)
    # the second conv's planted channels: split blocks of the Gemm after Flatten
    flat = w3.reshape(10, c2, pixels)
    k2, b2, flat = plant(k2, b2, flat, conv_channel)
    w3 = np.ascontiguousarray(flat.reshape(10, -1))
    init = {"k1": k1, "b1": b1, "k2": k2, "b2": b2, "w3": w3, "b3": np.zeros(10, np.float32)}
    pool = {"kernel_shape": (2, 2), "strides": (2, 2)}
    nodes = [Node("conv1", "Conv", ("x", "k1", "b1"), ("z1",), {"pads": (1, 1, 1, 1)}),
             Node("relu1", "Relu", ("z1",), ("h1",)), Node("pool1", "MaxPool", ("h1",), ("p1",), pool),
             Node("conv2", "Conv", ("p1", "k2", "b2"), ("z2",), {"pads": (1, 1, 1, 1)}),
             Node("relu2", "Relu", ("z2",), ("h2",)), Node("pool2", "MaxPool", ("h2",), ("p2",), pool),
             Node("flat", "Flatten", ("p2",), ("f",), {"axis": 1}),
             Node("fc", "Gemm", ("f", "w3", "b3"), ("o",), {"transB": 1})]
    net = Network.create(inputs=[TensorSpec("x", (1, 3, side, side), "float32", (0,))],
                         outputs=[TensorSpec("o", (1, 10), "float32", (0,))], nodes=nodes, initializers=init,
                         name="planted_cnn")
    params = int(sum(a.size for a in init.values()))
    return net, {"kind": "cnn", "parameters": params, "planted": 2 * planted, "channels": [c1, c2]}


def timed(function):
    wall, cpu = time.perf_counter(), time.process_time()
    value = function()
    return value, {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu}


def run_model(name: str, quick: bool) -> dict[str, Any]:
    from nnequiv.checker import verify
    from nnequiv.passes import PassOptions, get_pass
    from nnequiv.passes.pipeline import compress

    (net, info), build = timed(lambda: (mlp_model if name == "mlp" else cnn_model)(quick))
    lump = get_pass("lump")
    result, pass_time = timed(lambda: lump(net, PassOptions()))
    (reduced, certificate), compress_time = timed(lambda: compress(net, ["lump"]))
    report, verify_time = timed(lambda: verify(certificate, net, reduced))
    x = np.random.default_rng(1).normal(size=(8,) + net.input.shape).astype(np.float32)
    deviation = float(np.abs(net.evaluate(x).astype(np.float64) - reduced.evaluate(x).astype(np.float64)).max())
    return {**info, "model": name, "build_s": build, "pass_s": pass_time, "compress_s": compress_time,
            "verify_s": verify_time, "valid": report.valid, "removed": result.stats.applied,
            "refused": [str(r) for r in result.stats.refused], "float_deviation_8_samples": deviation}


def tol_experiment(quick: bool, seed: int = 2) -> dict[str, Any]:
    """``--tol``: an MLP (float64, 20 -> 2 x 200 -> 10) with 10 nearly proportional neurons per hidden
    layer (relative perturbation 1e-6), box [-1, 1]^20: claimed epsilon vs the sampled deviation."""
    from nnequiv.checker import verify
    from nnequiv.ir import Network, Node, TensorSpec
    from nnequiv.passes.pipeline import compress
    from nnequiv.spec.box import Box

    rng = np.random.default_rng(seed)
    width, near, n_in = (60, 4, 10) if quick else (200, 10, 20)
    widths = [n_in, width, width, 10]
    layers = [(rng.normal(0, 1 / np.sqrt(a), (b, a)), rng.normal(0, 0.1, b)) for a, b in zip(widths[:-1], widths[1:])]
    for layer in (0, 1):
        w, b = layers[layer]
        chosen = rng.choice(w.shape[0], near, replace=False)
        factors = rng.uniform(0.5, 2.0, near)
        copies = factors[:, None] * w[chosen] * (1 + 1e-6 * rng.normal(size=(near, w.shape[1])))
        layers[layer] = (np.vstack([w, copies]), np.append(b, factors * b[chosen]))
        w_next, b_next = layers[layer + 1]
        layers[layer + 1] = (np.hstack([w_next, rng.normal(0, 0.05, (w_next.shape[0], near))]), b_next)
    nodes, init, current = [], {}, "x"
    for i, (w, b) in enumerate(layers):
        init[f"w{i}"], init[f"b{i}"] = w, b
        out = "o" if i == len(layers) - 1 else f"z{i}"
        nodes.append(Node(f"gemm{i}", "Gemm", (current, f"w{i}", f"b{i}"), (out,), {"transB": 1}))
        current = out
        if i < len(layers) - 1:
            nodes.append(Node(f"relu{i}", "Relu", (out,), (f"h{i}",)))
            current = f"h{i}"
    net = Network.create(inputs=[TensorSpec("x", (1, n_in), "float64", (0,))],
                         outputs=[TensorSpec("o", (1, 10), "float64", (0,))], nodes=nodes, initializers=init)
    box = Box.uniform(-1, 1, n_in)
    (reduced, certificate), compress_time = timed(lambda: compress(net, ["lump"], box, tol=1e-4))
    report, verify_time = timed(lambda: verify(certificate, net, reduced))
    x = rng.uniform(-1, 1, size=(20000, 1, n_in))
    sampled = float(np.abs(net.evaluate(x) - reduced.evaluate(x)).max())
    removed = certificate["metadata"]["passes"][0]["applied"]
    return {"widths": widths, "planted": 2 * near, "removed": removed, "tol": 1e-4,
            "epsilon": float.fromhex(certificate["claim"]["bound"]), "sampled_max_deviation_20000": sampled,
            "compress_s": compress_time, "verify_s": verify_time, "valid": report.valid}


def baseline_pass(name: str, quick: bool, checkout: str) -> dict[str, Any] | None:
    """Time the pass of another checkout on the same model (child process; that checkout's nnequiv is
    imported before this script puts the repository on the path)."""
    code = ("import sys, json, time; sys.path.insert(0, sys.argv[1]); sys.path.insert(1, sys.argv[2]); "
            "from nnequiv.passes import PassOptions, get_pass; import lump_bench as b; "
            "net, _ = (b.mlp_model if sys.argv[3] == 'mlp' else b.cnn_model)(sys.argv[4] == '1'); "
            "w, c = time.perf_counter(), time.process_time(); r = get_pass('lump')(net, PassOptions()); "
            "print(json.dumps({'wall': time.perf_counter() - w, 'cpu': time.process_time() - c, "
            "'removed': r.stats.applied}))")
    done = subprocess.run([sys.executable, "-c", code, checkout, str(HERE), name, "1" if quick else "0"],
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": checkout})
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def markdown(meta: dict, rows: list[dict]) -> str:
    lines = ["# `lump` pass and checker replay: 10 M-parameter MLP and a CNN with planted channels", "",
             f"* date: {meta['date']}", f"* command: `{meta['command']}`",
             f"* machine: {meta['machine']}; one core (OMP/OPENBLAS/MKL_NUM_THREADS=1); "
             f"load average before the run: {meta['load']}",
             f"* commit {meta['commit']} (uncommitted changes: {meta['dirty']})", "",
             "Seconds, wall / CPU. `pass`: `lump(net, PassOptions())`; `compress`: the pipeline (pass, "
             "hashes, summaries); `verify`: the trusted checker (both hashes, exact replay, replayed hash). "
             "`before`: the pass of the baseline checkout on the same model (a baseline that lumps Gemm / "
             "MatMul layers only removes nothing from the CNN). With a load average above 2 on this 2-core "
             "machine wall time exceeds CPU time; CPU time is the steadier number.", "",
             "| model | params | planted | removed | pass s | compress s | verify s | valid | before: pass s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        before = r.get("baseline")
        before_text = "--" if not before else (before.get("error") or
                                               f"{before['wall']:.2f} / {before['cpu']:.2f} "
                                               f"(removed {before['removed']})")
        lines.append(f"| {r['model']} | {r['parameters']:,} | {r['planted']} | {r['removed']} | "
                     f"{r['pass_s']['wall']:.2f} / {r['pass_s']['cpu']:.2f} | "
                     f"{r['compress_s']['wall']:.2f} / {r['compress_s']['cpu']:.2f} | "
                     f"{r['verify_s']['wall']:.2f} / {r['verify_s']['cpu']:.2f} | {r['valid']} | {before_text} |")
    lines += ["", "Refusals and float deviation on 8 random inputs (the lumping is exact in reals; float "
              "evaluation order differs):", ""]
    lines += [f"* {r['model']}: refusals {r['refused'] or 'none'}; max |f - g| = {r['float_deviation_8_samples']:.3g}"
              for r in rows]
    t = meta.get("tol")
    if t:
        lines += ["", "## `--tol` (nearly proportional neurons, certified epsilon)", "",
                  f"MLP {' -> '.join(map(str, t['widths']))} (float64) with {t['planted']} planted neurons "
                  f"proportional up to a relative 1e-6, `--tol {t['tol']}`, box [-1, 1]: removed {t['removed']}, "
                  f"claimed epsilon {t['epsilon']:.3g}, largest deviation on 20000 random inputs "
                  f"{t['sampled_max_deviation_20000']:.3g} (ratio {t['epsilon'] / max(t['sampled_max_deviation_20000'], 1e-300):.2g}); "
                  f"compress {t['compress_s']['wall']:.2f} / {t['compress_s']['cpu']:.2f} s, verify "
                  f"{t['verify_s']['wall']:.2f} / {t['verify_s']['cpu']:.2f} s, valid {t['valid']}."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 M MLP and a small CNN")
    parser.add_argument("--baseline", help="a checkout whose pass to time too (before/after)")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    args = parser.parse_args(argv)
    from run_checker_bench import machine, versions

    info, ver = machine(), versions()
    meta = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "command": " ".join([".venv/bin/python", "benchmarks/compress/lump_bench.py", *(argv or sys.argv[1:])]),
            "machine": f"nproc {info['nproc']}, {info['cpu']}, {info['memory']}, Python {info['python']}, "
                       f"numpy {info['numpy']}",
            "load": os.getloadavg()[0], "commit": ver["commit"], "dirty": ver["nnequiv_dirty"]}
    rows = []
    for name in ("mlp", "cnn"):
        row = run_model(name, args.quick)
        if args.baseline:
            row["baseline"] = baseline_pass(name, args.quick, args.baseline)
        rows.append(row)
        print(json.dumps(row, default=str), flush=True)
    meta["tol"] = tol_experiment(args.quick)
    print(json.dumps(meta["tol"], default=str), flush=True)
    out = Path(args.out)
    suffix = "_quick" if args.quick else ""
    (out / f"compress_lump{suffix}.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    (out / f"compress_lump{suffix}.md").write_text(markdown(meta, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
