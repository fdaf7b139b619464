"""Benchmark certified lumping and its trusted re-check on MLPs of 10 k .. 10 M parameters (issue 4).

For each size an MLP ``input(h) -> 4 x [Gemm + Relu](h) -> Gemm(10)`` with float32 weights is
built in code (seeded), with about 3 % of every hidden layer's neurons exact duplicates: a copy of
neuron ``j`` with incoming row and bias times ``rho`` (2 or 1/2, alternating) and half of ``j``'s
outgoing column moved onto it divided by ``rho`` -- so the merge ``c/2 + rho * (c/2/rho) = c`` is
exact in float32 and ``lump`` must remove every duplicate, giving back the base network.

Stages, each timed separately with the process's peak RSS (``VmHWM``, reset before every stage via
``/proc/self/clear_refs``; tracemalloc is not used -- its per-allocation hook would distort the
Fraction-heavy code several-fold):

* ``hash_original`` / ``hash_reduced``: :func:`nnequiv.onnx_io.canonical_sha256` of each model;
* ``lump``: ``compress(net, ["lump"])`` (the pass itself plus the pipeline's two hashes and
  summaries; the pass's own time is reported as ``lump_pass`` from the certificate metadata);
* ``verify``: ``nnequiv.checker.verify(certificate, original, reduced)`` -- the trusted checker
  (schema, both hashes, exact replay of the lumping, hash of the replayed network).

Each size runs in its own child process; a stage longer than ``--timeout`` seconds is stopped
(SIGALRM) and recorded as "did not finish in N s".  If ``lump`` does not finish, the checker is
timed on a hand-built certificate (same evidence, built from the known duplicates; its reduced
network is the base network) so the verify number still exists.  ``--profile SIZE[,SIZE]`` reruns
those sizes under cProfile (separate child, not timed) and reports the top 10 functions by own
time for ``lump`` and ``verify``.

Usage (from the repository root)::

    .venv/bin/python benchmarks/checker/run_checker_bench.py                      # all sizes, ~10-20 min
    .venv/bin/python benchmarks/checker/run_checker_bench.py --sizes 10k,100k --profile none   # smoke

Writes ``benchmarks/results/checker.md`` and ``checker.json`` (``--out DIR``), rewritten after
every size.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"           # one core, before numpy is imported

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import shlex  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from fractions import Fraction  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

SIZES = {"10k": 10_000, "100k": 100_000, "1m": 1_000_000, "10m": 10_000_000}
HIDDEN_LAYERS = 4
OUTPUTS = 10
DUP_FRACTION = 0.03
TARGET_SIZE, TARGET_SECONDS = "10m", 5.0
STAGES = ("build", "hash_original", "lump", "hash_reduced", "verify")


# ------------------------------------------------------------------------------ models
def width_for(target: int) -> int:
    """Width ``h`` with input h, 4 hidden layers of h and 10 outputs: params = 4h^2 + 14h + 10."""
    a, b, c = HIDDEN_LAYERS, HIDDEN_LAYERS + OUTPUTS, OUTPUTS - target
    return int(round((-b + math.sqrt(b * b - 4 * a * c)) / (2 * a)))


def build(target: int, seed: int = 0):
    """(original, base, classes): the duplicated float32 MLP, its exact quotient, and the expected
    lumping evidence per hidden layer (``[(representative, duplicate, rho)]``)."""
    from nnequiv.ir import Network, Node, TensorSpec

    h = width_for(target)
    k = max(2, int(round(DUP_FRACTION * h)))
    base_width = h - k
    rng = np.random.default_rng(seed)
    widths = [h] + [base_width] * HIDDEN_LAYERS + [OUTPUTS]
    base = [(rng.normal(0, 1 / np.sqrt(a), (b, a)).astype(np.float32), rng.normal(0, 0.2, b).astype(np.float32))
            for a, b in zip(widths[:-1], widths[1:])]
    layers = [(w.copy(), b.copy()) for w, b in base]
    classes: list[list[tuple[int, int, Fraction]]] = []
    for layer in range(HIDDEN_LAYERS):
        chosen = np.sort(rng.choice(base_width, size=k, replace=False))
        w, b = layers[layer]
        w_next, b_next = layers[layer + 1]
        new_rows, new_bias, new_cols, found = [], [], [], []
        for t, j in enumerate(chosen.tolist()):
            factor = np.float32(2.0 if t % 2 == 0 else 0.5)
            new_rows.append(factor * w[j])
            new_bias.append(factor * b[j])
            half = w_next[:, j] / np.float32(2)
            new_cols.append(half / factor)
            w_next[:, j] = half
            found.append((j, base_width + t, Fraction(float(factor))))
        layers[layer] = (np.vstack([w, np.array(new_rows)]), np.append(b, np.array(new_bias, np.float32)))
        layers[layer + 1] = (np.hstack([w_next, np.array(new_cols).T]), b_next)
        classes.append(found)
    # the exact-merge precondition the duplicates were built for (no rounding anywhere)
    for layer in range(HIDDEN_LAYERS):
        w_next = layers[layer + 1][0].astype(np.float64)
        for j, dup, rho in classes[layer]:
            merged = w_next[:, j] + float(rho) * w_next[:, dup]
            assert np.array_equal(merged.astype(np.float32).astype(np.float64), merged), "merge would round"
    for layer, (w, b) in enumerate(layers):
        assert w.dtype == np.float32 and b.dtype == np.float32

    def network(ls, name):
        nodes, init, current = [], {}, "input"
        for i, (w, b) in enumerate(ls):
            init[f"w{i}"], init[f"b{i}"] = w, b
            out = "output" if i == len(ls) - 1 else f"z{i}"
            nodes.append(Node(f"gemm{i}", "Gemm", (current, f"w{i}", f"b{i}"), (out,), {"transB": 1}))
            current = out
            if i < len(ls) - 1:
                nodes.append(Node(f"act{i}", "Relu", (out,), (f"h{i}",)))
                current = f"h{i}"
        return Network.create(inputs=[TensorSpec("input", (1, h), "float32", (0,))],
                              outputs=[TensorSpec("output", (1, OUTPUTS), "float32", (0,))],
                              nodes=nodes, initializers=init, name=name)

    info = {"width": h, "duplicates_per_layer": k, "hidden_layers": HIDDEN_LAYERS,
            "parameters": int(sum(w.size + b.size for w, b in layers)),
            "parameters_reduced": int(sum(w.size + b.size for w, b in base)),
            "duplicates": k * HIDDEN_LAYERS}
    return network(layers, "dup_mlp"), network(base, "base_mlp"), classes, info


def evidence_layers(classes) -> list[dict[str, Any]]:
    return [{"activation": 2 * layer + 1, "name": f"act{layer}", "classes": [
        {"representative": j, "members": [{"neuron": dup, "rho": str(rho)}]} for j, dup, rho in found]}
        for layer, found in enumerate(classes)]


def hand_certificate(original, reduced, h_orig: str, h_red: str, classes) -> dict[str, Any]:
    """The certificate ``compress(original, ["lump"])`` should produce (metadata left out)."""
    import sys as _sys

    from nnequiv.spec.box import Box
    from nnequiv.spec.relation import Relation

    box = Box.uniform(-_sys.float_info.max, _sys.float_info.max, original.input.size)
    return {"schema": "nnequiv/certificate@1",
            "claim": {"verdict": "equivalent", "relation": Relation.exact().to_json(), "box": box.to_json(),
                      "bound": (0.0).hex()},
            "models": {"original": {"sha256": h_orig, "name": original.name},
                       "reduced": {"sha256": h_red, "name": reduced.name}},
            "steps": [{"kind": "lumping", "from": h_orig, "to": h_red, "epsilon": (0.0).hex(), "pass": "lump",
                       "layers": evidence_layers(classes)}],
            "metadata": {"tool": "benchmarks/checker hand-built"}}


# ------------------------------------------------------------------------------ child side
class StageTimeout(Exception):
    pass


def _alarm(signum, frame):  # noqa: ARG001
    raise StageTimeout()


def _status(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _stage(result: dict, name: str, timeout: float, function, log):
    """Run ``function()`` with a SIGALRM timeout; record seconds and peak RSS; return its value or None."""
    _reset_peak()
    rss0 = _status("VmRSS")
    signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    start = time.perf_counter()
    row: dict[str, Any] = {"rss_start_mb": round(rss0, 1), "loadavg_1min_at_start": os.getloadavg()[0]}
    cpu0 = time.process_time()
    value = None
    try:
        value = function()
        row["seconds"] = time.perf_counter() - start
        row["cpu_seconds"] = time.process_time() - cpu0
        row["status"] = "ok"
    except StageTimeout:
        row["seconds"] = None
        row["status"] = f"did not finish in {timeout:g} s"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    row["peak_rss_mb"] = round(_status("VmHWM"), 1)
    row["peak_delta_mb"] = round(row["peak_rss_mb"] - rss0, 1)
    result["stages"][name] = row
    log(f"  {name:14s} {row['status']:>22s} {row['seconds'] if row['seconds'] is not None else float('nan'):9.3f} s"
        f"  cpu {row.get('cpu_seconds', float('nan')):9.3f} s  peak {row['peak_rss_mb']:8.1f} MB"
        f"  load {row['loadavg_1min_at_start']:.2f}")
    return value


def child_run(size: str, timeout: float, out: Path) -> None:
    from nnequiv.checker import verify
    from nnequiv.onnx_io import canonical_sha256
    from nnequiv.passes.pipeline import compress

    def log(text):
        print(text, file=sys.stderr, flush=True)

    result: dict[str, Any] = {"size": size, "stages": {}, "notes": []}

    def save():
        out.write_text(json.dumps(result, indent=1, default=str))

    built = _stage(result, "build", timeout, lambda: build(SIZES[size]), log)
    original, base, classes, info = built
    result["model"] = info
    save()
    h_orig = _stage(result, "hash_original", timeout, lambda: canonical_sha256(original), log)
    h_base = canonical_sha256(base)
    save()
    done = _stage(result, "lump", timeout, lambda: compress(original, ["lump"]), log)
    save()
    if done is not None:
        reduced, cert = done
        meta = cert["metadata"]["passes"][0]
        result["lump_pass_seconds"] = meta["seconds"]
        result["lump_removed"] = meta["applied"]
        result["lump_refused"] = len(meta["refused"])
        result["evidence_matches_expected"] = cert["steps"][0]["layers"] == evidence_layers(classes)
        result["reduced_is_base"] = cert["models"]["reduced"]["sha256"] == h_base
        if meta["applied"] != info["duplicates"]:
            result["notes"].append(f"lump removed {meta['applied']} neurons, expected {info['duplicates']}")
        result["certificate"] = "from compress"
    else:
        reduced = base
        cert = hand_certificate(original, base, h_orig, h_base, classes)
        result["certificate"] = "hand-built (lump did not finish)"
        result["notes"].append("lump did not finish: verify timed on a hand-built certificate with the same "
                               "evidence (reduced network = the base network)")
    _stage(result, "hash_reduced", timeout, lambda: canonical_sha256(reduced), log)
    save()
    report = _stage(result, "verify", timeout, lambda: verify(cert, original, reduced), log)
    if report is not None:
        result["verify_valid"] = report.valid
        result["verify_problems"] = [f"{p.item}: {p.reason}" for p in report.problems][:5]
    result["done"] = True
    save()


def child_profile(size: str, timeout: float, out: Path) -> None:
    import cProfile
    import pstats

    from nnequiv.checker import verify
    from nnequiv.passes.pipeline import compress

    original, base, classes, info = build(SIZES[size])
    result: dict[str, Any] = {"size": size, "model": info, "profiles": {}}
    state: dict[str, Any] = {}
    for stage in ("lump", "verify"):
        profiler = cProfile.Profile()
        signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, timeout)
        start = time.perf_counter()
        status = "ok"
        try:
            profiler.enable()
            if stage == "lump":
                state["reduced"], state["cert"] = compress(original, ["lump"])
            else:
                if "cert" not in state:
                    from nnequiv.onnx_io import canonical_sha256
                    state["reduced"] = base
                    state["cert"] = hand_certificate(original, base, canonical_sha256(original),
                                                     canonical_sha256(base), classes)
                verify(state["cert"], original, state["reduced"])
        except StageTimeout:
            status = f"did not finish in {timeout:g} s (profile of the part that ran)"
        finally:
            profiler.disable()
            signal.setitimer(signal.ITIMER_REAL, 0)
        wall = time.perf_counter() - start
        stats = pstats.Stats(profiler)
        rows = []
        for (file, line, func), (cc, nc, tt, ct, _) in stats.stats.items():
            rows.append({"function": f"{_short(file)}:{line}({func})", "ncalls": nc, "tottime": tt, "cumtime": ct})
        top = sorted(rows, key=lambda r: -r["tottime"])[:10]
        cum = sorted(rows, key=lambda r: -r["cumtime"])[:15]
        result["profiles"][stage] = {"status": status, "wall_under_profile": wall,
                                     "total_tottime": stats.total_tt, "top_tottime": top, "top_cumtime": cum}
        print(f"  profiled {stage}: {status}, {wall:.1f} s under cProfile", file=sys.stderr, flush=True)
        out.write_text(json.dumps(result, indent=1, default=str))


def _short(file: str) -> str:
    import re

    if "/nnequiv/" in file:
        return "nnequiv/" + file.rsplit("/nnequiv/", 1)[1]
    match = re.search(r"/lib/python3\.\d+/(.*)$", file)
    return match.group(1) if match else file


# ------------------------------------------------------------------------------ parent side
def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        # GNU nproc honours OMP_NUM_THREADS, which this script sets to 1: ask without it
        env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
        nproc = subprocess.run(["nproc"], capture_output=True, text=True, check=True, env=env).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        nproc = str(os.cpu_count())
    mem = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return {"nproc": nproc, "cpu": cpu, "memory": mem, "platform": platform.platform(),
            "python": platform.python_version(), "numpy": np.__version__}


def versions() -> dict[str, Any]:
    import hashlib

    import nnequiv

    h = hashlib.sha256()
    for path in sorted((REPO / "nnequiv").rglob("*.py")):
        h.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes() + b"\0")

    def git(*args):
        try:
            return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return "unknown"
    dirty = git("status", "--porcelain", "--", "nnequiv")
    return {"nnequiv": nnequiv.__version__, "commit": git("rev-parse", "--short", "HEAD"),
            "nnequiv_tree_sha256_16": h.hexdigest()[:16], "nnequiv_dirty": bool(dirty and dirty != "unknown")}


def spawn(mode: str, size: str, timeout: float, hard: float) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as tmp:
        path = Path(tmp.name)
    cmd = [sys.executable, str(Path(__file__).resolve()), f"--{mode}", size, "--timeout", str(timeout),
           "--child-out", str(path)]
    proc = subprocess.Popen(cmd, cwd=REPO)
    try:
        proc.wait(timeout=hard)
    except subprocess.TimeoutExpired:
        proc.kill()          # only our own child, by its handle
        proc.wait()
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        data = {"size": size, "stages": {}, "notes": []}
    finally:
        path.unlink(missing_ok=True)
    if proc.returncode != 0:
        data.setdefault("notes", []).append(f"child process exited with code {proc.returncode}")
    return data


def fmt_time(row: dict | None) -> str:
    if not row:
        return "not run"
    if row.get("seconds") is None:
        return row["status"]
    return f"{row['seconds']:.3f}" + (f" / {row['cpu_seconds']:.3f}" if row.get("cpu_seconds") is not None else "")


def fmt_mem(row: dict | None) -> str:
    return f"{row['peak_rss_mb']:.0f} (+{row['peak_delta_mb']:.0f})" if row else "-"


def table(results: list[dict]) -> str:
    head = ("| size | params (orig → reduced) | width | dups | hash orig s | lump s (pass s) | hash reduced s "
            "| verify s | valid | peak RSS MB (+Δ): lump | peak RSS MB (+Δ): verify | load at verify |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|---|\n")
    lines = []
    for r in results:
        s, m = r.get("stages", {}), r.get("model", {})
        lump = fmt_time(s.get("lump"))
        if r.get("lump_pass_seconds") is not None:
            lump += f" ({r['lump_pass_seconds']:.3f})"
        valid = r.get("verify_valid")
        cert_note = "" if r.get("certificate", "from compress") == "from compress" else " (hand-built cert)"
        lines.append(f"| {r['size']} | {m.get('parameters', '?'):,} → {m.get('parameters_reduced', '?'):,} "
                     f"| {m.get('width', '?')} | {m.get('duplicates', '?')} | {fmt_time(s.get('hash_original'))} "
                     f"| {lump} | {fmt_time(s.get('hash_reduced'))} | {fmt_time(s.get('verify'))}{cert_note} "
                     f"| {'-' if valid is None else valid} | {fmt_mem(s.get('lump'))} | {fmt_mem(s.get('verify'))} "
                     f"| {s.get('verify', {}).get('loadavg_1min_at_start', float('nan')):.2f} |")
    return head + "\n".join(lines) + "\n"


def target_verdict(results: list[dict]) -> str:
    r = next((x for x in results if x["size"] == TARGET_SIZE), None)
    if r is None:
        return f"not assessed: the {TARGET_SIZE} size was not run"
    row = r.get("stages", {}).get("verify")
    if not row:
        return "not assessed: verify did not run at 10 M"
    if row.get("seconds") is None:
        return f"NOT MET: verify of the 10 M-parameter lumping certificate {row['status']} (target < {TARGET_SECONDS:g} s)"
    ok = row["seconds"] < TARGET_SECONDS and r.get("verify_valid") is True
    return (f"{'MET' if ok else 'NOT MET'}: 10 M-parameter lumping certificate verified in {row['seconds']:.2f} s "
            f"wall / {row.get('cpu_seconds', float('nan')):.2f} s CPU "
            f"(target < {TARGET_SECONDS:g} s, valid = {r.get('verify_valid')}; "
            f"{min(row['seconds'], row.get('cpu_seconds', row['seconds'])) / TARGET_SECONDS:.1f}x the target "
            "even on CPU time)")


def profile_md(profiles: list[dict]) -> str:
    out = []
    for p in profiles:
        for stage, prof in p.get("profiles", {}).items():
            out.append(f"### {stage} at {p['size']} ({p.get('model', {}).get('parameters', 0):,} parameters) — {prof['status']}, "
                       f"{prof['wall_under_profile']:.1f} s wall under cProfile\n")
            out.append("Top 10 by own time (tottime):\n")
            out.append("| function | ncalls | tottime s | cumtime s |\n|---|---|---|---|")
            for row in prof["top_tottime"]:
                out.append(f"| `{row['function']}` | {row['ncalls']:,} | {row['tottime']:.2f} | {row['cumtime']:.2f} |")
            out.append("\nTop by cumulative time (call chain):\n")
            out.append("| function | ncalls | cumtime s |\n|---|---|---|")
            for row in prof["top_cumtime"]:
                out.append(f"| `{row['function']}` | {row['ncalls']:,} | {row['cumtime']:.2f} |")
            out.append("")
    return "\n".join(out)


def write(out_dir: Path, meta: dict, results: list[dict], profiles: list[dict], partial: bool,
          findings: str) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    verdict = target_verdict(results)
    doc = {**meta, "partial": partial, "target": {"size": TARGET_SIZE, "seconds": TARGET_SECONDS, "verdict": verdict},
           "results": results, "profiles": profiles}
    (out_dir / "checker.json").write_text(json.dumps(doc, indent=1, default=str) + "\n")
    m = meta["machine"]
    md = [f"# Checker benchmark: certified lumping and its trusted re-check (issue 4)\n",
          "**PARTIAL — the run did not finish.**\n" if partial else "",
          f"* date: {meta['date']}",
          f"* machine: `nproc` = {m['nproc']}, CPU: {m['cpu']}, memory {m['memory']}, {m['platform']}",
          f"* Python {m['python']}, numpy {m['numpy']}, nnequiv {meta['versions']['nnequiv']} at commit "
          f"{meta['versions']['commit']} (nnequiv/ tree sha256 {meta['versions']['nnequiv_tree_sha256_16']}, "
          f"uncommitted changes in nnequiv/: {meta['versions']['nnequiv_dirty']})",
          f"* command: `{meta['command']}`",
          f"* one core: OMP/OPENBLAS/MKL_NUM_THREADS=1; per-stage timeout {meta['timeout']:g} s; one child process "
          "per size",
          f"* models: input h → {HIDDEN_LAYERS} × [Gemm + Relu](h) → Gemm({OUTPUTS}), float32, seeded; "
          f"~{DUP_FRACTION:.0%} of each hidden layer exact duplicates (rho = 2 and 1/2 alternating), "
          "so `lump` must return exactly the base network\n",
          "## Results\n",
          "Times in seconds, wall clock / CPU time of the process. `lump` is `compress(net, [\"lump\"])`; in brackets the pass's own "
          "time from the certificate metadata (includes the target's hash). `verify` is "
          "`nnequiv.checker.verify(cert, original, reduced)` (schema + two model hashes + exact replay + "
          "hash of the replayed network). Peak RSS is the process's VmHWM during that stage (reset before "
          "each stage), Δ over the RSS at the stage's start. The last column is the 1-minute load average when "
          "verify started: a load above 1 on this machine means another process competed for the cores, "
          "inflating wall time (CPU time is the steadier number).\n",
          table(results),
          f"**Target (10 M-parameter lumping certificate verified in < {TARGET_SECONDS:g} s): {verdict}**\n"]
    checks = []
    for r in results:
        bits = []
        if "lump_removed" in r:
            bits.append(f"lump removed {r['lump_removed']}/{r['model']['duplicates']} duplicates, "
                        f"{r['lump_refused']} refusals")
        if "evidence_matches_expected" in r:
            bits.append(f"evidence = expected classes: {r['evidence_matches_expected']}")
        if "reduced_is_base" in r:
            bits.append(f"reduced hash = base network's hash: {r['reduced_is_base']}")
        if r.get("verify_problems"):
            bits.append(f"problems: {r['verify_problems']}")
        bits += r.get("notes", [])
        checks.append(f"* {r['size']}: " + "; ".join(bits))
    md += ["Sanity checks:\n", "\n".join(checks), ""]
    if findings:
        md += ["## Where the time goes\n", findings, ""]
    if profiles:
        md += ["## Profiles (cProfile; separate run, times inflated by profiling)\n", profile_md(profiles)]
    (out_dir / "checker.md").write_text("\n".join(md) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10k,100k,1m,10m", help="comma-separated subset of 10k,100k,1m,10m")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per stage before it is stopped")
    parser.add_argument("--profile", default="1m,10m",
                        help="sizes to profile under cProfile afterwards (comma-separated, or 'none')")
    parser.add_argument("--findings", default="", help="a Markdown file whose text goes under 'Where the time goes'")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    parser.add_argument("--rerender", action="store_true",
                        help="only rewrite checker.md from the checker.json in --out (e.g. with --findings)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-profile", help=argparse.SUPPRESS)
    parser.add_argument("--child-out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child_run(args.child, args.timeout, Path(args.child_out))
        return 0
    if args.child_profile:
        child_profile(args.child_profile, args.timeout, Path(args.child_out))
        return 0

    if args.rerender:
        doc = json.loads((Path(args.out) / "checker.json").read_text())
        meta = {k: doc[k] for k in ("date", "machine", "versions", "timeout", "command")}
        findings = Path(args.findings).read_text() if args.findings else ""
        write(Path(args.out), meta, doc["results"], doc["profiles"], doc["partial"], findings)
        return 0
    sizes = [s.strip().lower() for s in args.sizes.split(",") if s.strip()]
    profile_sizes = [] if args.profile.strip().lower() == "none" else \
        [s.strip().lower() for s in args.profile.split(",") if s.strip()]
    for s in sizes + profile_sizes:
        if s not in SIZES:
            parser.error(f"unknown size {s!r}; choose from {', '.join(SIZES)}")
    findings = Path(args.findings).read_text() if args.findings else ""
    meta = {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"), "machine": machine(),
            "versions": versions(), "timeout": args.timeout,
            "command": "OMP_NUM_THREADS=1 " + " ".join(shlex.quote(a) for a in
                                                       [os.path.relpath(sys.executable, REPO), *sys.argv])}
    out_dir = Path(args.out)
    results: list[dict] = []
    profiles: list[dict] = []
    hard = args.timeout * len(STAGES) + 120
    for size in sizes:
        print(f"== {size}", file=sys.stderr, flush=True)
        results.append(spawn("child", size, args.timeout, hard))
        write(out_dir, meta, results, profiles, True, findings)
    for size in profile_sizes:
        print(f"== profile {size}", file=sys.stderr, flush=True)
        profiles.append(spawn("child-profile", size, args.timeout, 2 * args.timeout + 300))
        write(out_dir, meta, results, profiles, True, findings)
    write(out_dir, meta, results, profiles, False, findings)
    print(table(results))
    print(target_verdict(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
