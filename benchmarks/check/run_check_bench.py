"""Benchmark ``nnequiv.check`` against peer methods on the same pairs, in one process and run.

Methods (see ``baselines.py``): nnequiv ``check``; a plain product-network MILP solved by
HiGHS (float, uncertified); the same encoding in z3 (exact rationals); Marabou 2.0 on the
product network.  Every counterexample a method returns is replayed in exact arithmetic
(:func:`nnequiv.engine.confirm.replay`); an unconfirmed one is a WRONG answer, and so is an
"equivalent" on an instance where some method holds a confirmed counterexample.

Usage (from the repository root)::

    .venv/bin/python benchmarks/check/run_check_bench.py --quick     # smoke run, < 3 min
    .venv/bin/python benchmarks/check/run_check_bench.py             # default run, ~20 min
    .venv/bin/python benchmarks/check/run_check_bench.py --full      # hours

Writes ``benchmarks/results/check.md`` and ``check.json`` (``--out DIR`` to change); both are
rewritten after every instance, so an interrupted run leaves its partial results.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"           # one core, before numpy is imported

import argparse  # noqa: E402
import datetime  # noqa: E402
import importlib.metadata  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import shlex  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))

import baselines  # noqa: E402
import pairs  # noqa: E402

from nnequiv.engine.check import check  # noqa: E402
from nnequiv.engine.confirm import replay  # noqa: E402
from nnequiv.lowering import to_pwl  # noqa: E402



def _preload_nnequiv() -> None:
    """Import every nnequiv module now: the code a run measures is fixed at its start, even if
    the working tree changes while it runs (some modules are otherwise imported lazily)."""
    import importlib
    import pkgutil

    import nnequiv

    for info in pkgutil.walk_packages(nnequiv.__path__, "nnequiv."):
        try:
            importlib.import_module(info.name)
        except Exception:  # noqa: BLE001 - optional extras (torch) may be missing
            pass


def _tree_hash() -> str:
    """sha256 over the nnequiv package sources (identifies uncommitted states too)."""
    import hashlib

    h = hashlib.sha256()
    for path in sorted((REPO / "nnequiv").rglob("*.py")):
        h.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


METHODS = ("nnequiv", "milp-highs", "z3", "marabou")
FAMILIES = ("acas-sized", "mnist-sized", "acas-shared", "mnist-shared", "lhc-shared")
TARGET_LIMIT = 120.0

MODES = {
    # mode: (nnequiv timeout, peer cap) defaults
    "quick": (10.0, 3.0),
    "default": (120.0, 5.0),
    "full": (120.0, None),           # None: peers get the same limit as nnequiv
}


# ------------------------------------------------------------------ setup
def ensure_marabou(install: bool) -> str:
    """'' if maraboupy is importable (installing maraboupy==2.0.0 if allowed), else why not."""
    reason = baselines.marabou_status()
    if not reason or not install:
        return reason
    print("maraboupy not importable; trying: pip install maraboupy==2.0.0", flush=True)
    try:
        proc = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "maraboupy==2.0.0"],
                              capture_output=True, text=True, timeout=600)
    except Exception as exc:  # noqa: BLE001
        return f"pip install failed: {exc}"
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["(no output)"]
        return f"pip install maraboupy==2.0.0 failed: {tail[0][:200]}"
    import importlib

    importlib.invalidate_caches()
    baselines._MARABOU.clear()
    return baselines.marabou_status()


def machine_facts() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_THREAD_LIMIT")}
    try:   # nproc honours OMP_NUM_THREADS, which this script sets to 1
        nproc = subprocess.run(["nproc"], capture_output=True, text=True, env=env).stdout.strip()
    except OSError:
        nproc = str(os.cpu_count())
    versions = {}
    for pkg in ("numpy", "highspy", "z3-solver", "onnx", "onnxruntime", "maraboupy"):
        try:
            versions[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            versions[pkg] = None
    try:
        commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "nnequiv"],
                                    capture_output=True, text=True).stdout.strip())
    except OSError:
        commit, dirty = "", False
    return {"nproc": nproc, "cpu_model": model, "python": platform.python_version(),
            "platform": platform.platform(), "versions": versions,
            "git_commit": commit, "nnequiv_dirty": dirty, "nnequiv_sources_sha256": _tree_hash()}


# ------------------------------------------------------------------ one instance
def _replay(inst: pairs.Instance, x: np.ndarray | None) -> dict[str, Any] | None:
    if x is None:
        return None
    x = np.asarray(x, np.float64).ravel()
    inside = bool(np.all(x >= inst.box.lower) and np.all(x <= inst.box.upper))
    found = replay(inst.original, inst.reduced, x, inst.relation) if inside else None
    return {"confirmed": found is not None, "in_box": inside,
            "deviation": None if found is None or inst.relation.kind == "top1" else found.deviation,
            "float32_deviation": None if found is None else found.float32_deviation}


def run_nnequiv(inst: pairs.Instance, timeout: float) -> dict[str, Any]:
    cpu0 = time.process_time()
    try:
        v = check(inst.original, inst.reduced, inst.box, inst.relation, timeout=timeout, seed=0)
    except Exception as exc:  # noqa: BLE001 - a crash is a result too
        return {"verdict": "error", "time_s": None, "note": f"{type(exc).__name__}: {exc}"}
    cpu = time.process_time() - cpu0
    x = None if v.counterexample is None else np.array(v.counterexample.input)
    return {"verdict": v.verdict, "time_s": v.time_s, "cpu_s": cpu,
            "regions": v.stats.get("regions"), "stage": v.stats.get("stage"),
            "lower": v.lower, "upper": v.upper, "x": x,
            "note": "; ".join(v.stats.get("self_check", []))}


def run_peer(name: str, inst: pairs.Instance, f, g, lowering_s: float, limit: float) -> dict[str, Any]:
    fn = {"milp-highs": baselines.milp_highs, "z3": baselines.z3_exact, "marabou": baselines.marabou}[name]
    budget = max(limit - lowering_s, 0.0)
    try:
        r = fn(f, g, inst.box, inst.relation, budget)
    except Exception as exc:  # noqa: BLE001
        return {"verdict": "error", "time_s": None, "note": f"{type(exc).__name__}: {exc}"}
    return {"verdict": r.verdict, "time_s": r.time_s + lowering_s, "regions": r.nodes, "x": r.x,
            "clipped": r.clipped, "note": r.note}


def run_instance(inst: pairs.Instance, methods: list[str], timeout: float, peer_cap: float,
                 marabou_reason: str) -> dict[str, Any]:
    row: dict[str, Any] = {"name": inst.name, "family": inst.family, "params": inst.params,
                           "relation": inst.relation.describe(),
                           "relation_short": "top-1" if inst.relation.kind == "top1" else
                           f"{inst.relation.kind} {inst.relation.eps:g}", "load_before": os.getloadavg()[0],
                           "results": {}}
    t0 = time.monotonic()
    f, g = to_pwl(inst.original), to_pwl(inst.reduced)
    lowering_s = time.monotonic() - t0
    row["size"] = {"inputs": f.input_size, "relus": int(sum(l.n_out for l in f.layers[:-1]))}
    for method in methods:
        if method == "nnequiv":
            res = run_nnequiv(inst, timeout)
        elif method == "marabou" and marabou_reason:
            res = {"verdict": "n/a", "time_s": None, "note": f"not installable here: {marabou_reason}"}
        else:
            res = run_peer(method, inst, f, g, lowering_s, peer_cap)
        res["cex"] = _replay(inst, res.pop("x", None))
        row["results"][method] = res
        print(f"  {method:<11} {res['verdict']:<15} {_fmt_time(res.get('time_s')):>8}  "
              f"regions={res.get('regions')}  cex={_cex_word(res)}  {res.get('note') or ''}", flush=True)
    judge(row)
    return row


def judge(row: dict[str, Any]) -> None:
    """Mark wrong answers and count decisions (see the module docstring)."""
    results = row["results"]
    confirmed = [m for m, r in results.items() if r.get("cex") and r["cex"]["confirmed"]]
    row["truth"] = "not_equivalent" if confirmed else (
        "equivalent" if results.get("nnequiv", {}).get("verdict") == "equivalent" else "open")
    for method, r in results.items():
        wrong = None
        if r["verdict"] == "not_equivalent" and not (r.get("cex") and r["cex"]["confirmed"]):
            wrong = "counterexample not confirmed by exact replay"
        elif r["verdict"] == "equivalent" and confirmed:
            wrong = f"'equivalent' but {', '.join(confirmed)} holds a replayed counterexample"
        r["wrong"] = wrong
        r["decided"] = wrong is None and r["verdict"] in ("equivalent", "not_equivalent")


def _fmt_time(t: float | None) -> str:
    return "-" if t is None else f"{t:.2f}s"


def _cex_word(res: dict[str, Any]) -> str:
    c = res.get("cex")
    if c is None:
        return "-"
    if not c["in_box"]:
        return "outside box"
    return "confirmed" if c["confirmed"] else "UNCONFIRMED"


# ------------------------------------------------------------------ reporting
def summarize(rows: list[dict[str, Any]], methods: list[str]) -> list[dict[str, Any]]:
    out = []
    families = [f for f in FAMILIES if any(r["family"] == f for r in rows)]
    for method in methods:
        for family in families:
            rs = [r["results"][method] for r in rows if r["family"] == family and method in r["results"]]
            if not rs:
                continue
            times = [r["time_s"] for r in rs if r.get("time_s") is not None]
            decided = [r for r in rs if r["decided"]]
            decided_in = [r for r in decided if r["time_s"] is not None and r["time_s"] <= TARGET_LIMIT]
            out.append({
                "method": method, "family": family, "total": len(rs), "decided": len(decided),
                "decided_within_120s": len(decided_in),
                "equivalent": sum(r["decided"] and r["verdict"] == "equivalent" for r in rs),
                "not_equivalent": sum(r["decided"] and r["verdict"] == "not_equivalent" for r in rs),
                "unknown": sum(r["verdict"] == "unknown" for r in rs),
                "errors": sum(r["verdict"] in ("error", "n/a") for r in rs),
                "wrong": sum(r["wrong"] is not None for r in rs),
                "median_s": statistics.median(times) if times else None,
                "max_s": max(times) if times else None,
                "median_decided_s": statistics.median([r["time_s"] for r in decided]) if decided else None,
            })
    return out


def targets(rows: list[dict[str, Any]], timeout: float = TARGET_LIMIT) -> list[dict[str, Any]]:
    """The issue-3 targets, over every ACAS-sized (resp. MNIST-sized) instance: the generated
    family and the shared VeryDiff pair(s) together; ``met`` is None (not assessed) when nnequiv
    ran with a shorter limit."""
    out = []
    assessed = timeout >= TARGET_LIMIT
    groups = (("ACAS-sized (generated + shared)", ("acas-sized", "acas-shared"), "acas"),
              ("MNIST-sized (generated + shared)", ("mnist-sized", "mnist-shared"), "mnist"))
    for label, families, kind in groups:
        rs = [r["results"]["nnequiv"] for r in rows if r["family"] in families and "nnequiv" in r["results"]]
        if not rs:
            continue
        within = [r for r in rs if r["decided"] and r["time_s"] <= TARGET_LIMIT]
        if kind == "acas":
            med = statistics.median(r["time_s"] for r in rs if r["time_s"] is not None)
            out.append({"target": f"{label}: every instance decided within 120 s, median < 0.5 s (one core)",
                        "measured": f"{len(within)}/{len(rs)} decided within 120 s; median {med:.2f} s",
                        "met": (len(within) == len(rs) and med < 0.5) if assessed else None})
        else:
            frac = len(within) / len(rs)
            out.append({"target": f"{label}: >= 90 % of instances decided within 120 s",
                        "measured": f"{len(within)}/{len(rs)} = {100 * frac:.0f} % decided within 120 s",
                        "met": (frac >= 0.9) if assessed else None})
    return out


def _met_word(met: bool | None) -> str:
    return "not assessed (nnequiv timeout < 120 s)" if met is None else "**yes**" if met else "**no**"


def _md_num(x: float | None, digits: int = 2) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _md_cell(res: dict[str, Any] | None) -> str:
    if res is None:
        return ""
    v = {"equivalent": "EQ", "not_equivalent": "NEQ", "unknown": "unk", "error": "err", "n/a": "n/a"}.get(
        res["verdict"], res["verdict"])
    parts = [v, _md_num(res.get("time_s"))]
    if res.get("regions") is not None:
        parts.append(f"r={res['regions']}")
    if res["verdict"] == "unknown" and res.get("upper") is not None:
        lower = "-" if res.get("lower") is None else f"{res['lower']:.3g}"
        parts.append(f"dev in [{lower}, {res['upper']:.3g}]")
    if res.get("cex"):
        parts.append("cex ok" if res["cex"]["confirmed"] else "cex UNCONFIRMED")
    if res.get("wrong"):
        parts.append("**WRONG**")
    return " ".join(parts)


def _params_text(row: dict[str, Any]) -> str:
    p = row["params"]
    if row["family"] == "acas-sized":
        return f"net {p['net']}, prune {int(p['prune'] * 100)} %, eps {p['eps']:g}, max width {p['max_width']:.2f}"
    if row["family"] == "mnist-sized":
        return f"net {p['net']}, prune {int(p['prune'] * 100)} %, eps 1, radius {p['radius']:.3f}"
    rel = row["relation_short"]
    return f"{p.get('spec', '')}, {rel}"


def write_reports(out_dir: Path, meta: dict[str, Any], rows: list[dict[str, Any]], methods: list[str],
                  finished: bool) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = summarize(rows, methods)
    goals = targets(rows, meta["timeout_s"])
    loads = [r["load_before"] for r in rows]
    nq = [r["results"]["nnequiv"] for r in rows if r["results"].get("nnequiv", {}).get("cpu_s") is not None]
    wall = sum(r["time_s"] for r in nq)
    cpu_ratio = sum(r["cpu_s"] for r in nq) / wall if wall > 0 else None
    meta = dict(meta, finished=finished, instances_done=len(rows),
                nnequiv_cpu_over_wall=cpu_ratio,
                load_1min={"min": min(loads), "mean": sum(loads) / len(loads), "max": max(loads)} if loads else None)
    clean_rows = json.loads(json.dumps(rows, default=_json_default))
    (out_dir / "check.json").write_text(json.dumps({"meta": meta, "summary": summary, "targets": goals,
                                                    "instances": clean_rows}, indent=1, default=_json_default))
    lines = [f"# `check` benchmark: nnequiv vs peer methods", ""]
    if not finished:
        lines += [f"**PARTIAL: {len(rows)} instances done, the run did not finish.**", ""]
    peer = meta["peer_cap_s"]
    lines += [
        f"- Date: {meta['date']}",
        f"- Command: `{meta['command']}` (mode `{meta['mode']}`)",
        f"- Machine: {meta['machine']['cpu_model']}, `nproc` = {meta['machine']['nproc']}; one core used "
        f"(`OMP_NUM_THREADS=1`, HiGHS `threads=1`, Marabou one worker); Python {meta['machine']['python']}",
        f"- Load (1-min load average before each instance): "
        + (f"min {meta['load_1min']['min']:.2f}, mean {meta['load_1min']['mean']:.2f}, "
           f"max {meta['load_1min']['max']:.2f}" if meta["load_1min"] else "-")
        + f"; load at start (before this run's work): {meta['load_at_start']:.2f}; nnequiv's CPU time / "
        f"wall time, summed over instances: {_md_num(meta['nnequiv_cpu_over_wall'])} (1.00 = it had a core "
        f"to itself)",
        f"- nnequiv: git {meta['machine']['git_commit']}"
        + (" with uncommitted changes under nnequiv/" if meta['machine']['nnequiv_dirty'] else "")
        + f" (sources sha256 {meta['machine']['nnequiv_sources_sha256']}; all modules imported at start)",
        f"- Versions: " + ", ".join(f"{k} {v}" for k, v in meta["machine"]["versions"].items()),
        f"- Time limits: nnequiv `timeout={meta['timeout_s']:g}` s (its final MILP search may add up to "
        f"min(30 s, timeout) after the deadline); **peers capped at {peer:g} s per instance**"
        + (" (lower than nnequiv's limit, to keep the run short; `--full` gives peers the same limit)"
           if peer < meta["timeout_s"] else " (the same limit)")
        + ". A method's budget is shared by all its queries on an instance.",
        f"- Marabou: " + ("maraboupy " + str(meta['machine']['versions'].get('maraboupy'))
                          if not meta["marabou"] else f"not installable here: {meta['marabou']}"),
        "",
        "## Targets (issue 3)", "",
        "| target | measured (nnequiv) | met? |", "| --- | --- | --- |",
    ]
    for t in goals:
        lines.append(f"| {t['target']} | {t['measured']} | {_met_word(t['met'])} |")
    lines += ["", "## Summary", "",
              "decided = a verdict that is not wrong (counterexamples replayed exactly); times are "
              "wall-clock seconds over all instances of the family (undecided ones count with the time "
              "they used); wrong = unconfirmed counterexample, or 'equivalent' where another method "
              "holds a replayed counterexample.", "",
              "| method | family | decided / total | EQ / NEQ / unknown / error | median s | max s | "
              "median s (decided) | wrong |",
              "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for s in summary:
        lines.append(f"| {s['method']} | {s['family']} | {s['decided']} / {s['total']} | "
                     f"{s['equivalent']} / {s['not_equivalent']} / {s['unknown']} / {s['errors']} | "
                     f"{_md_num(s['median_s'])} | {_md_num(s['max_s'])} | {_md_num(s['median_decided_s'])} | "
                     f"{s['wrong']} |")
    lines += ["", "## Instances", "",
              "Cell: verdict, seconds, regions (nnequiv: analysed regions; HiGHS: B&B nodes; "
              "Marabou: splits), for nnequiv's unknowns the deviation interval it had (reached lower "
              "bound, proved upper bound), counterexample status.", "",
              "| instance | family | parameters | size | " + " | ".join(methods) + " |",
              "| --- | --- | --- | --- | " + " | ".join("---" for _ in methods) + " |"]
    for r in rows:
        size = f"{r['size']['inputs']} in, {r['size']['relus']} ReLU"
        lines.append(f"| {r['name']} | {r['family']} | {_params_text(r)} | {size} | "
                     + " | ".join(_md_cell(r["results"].get(m)) for m in methods) + " |")
    notes = [f"- {r['name']} / {m}: {res['wrong']}" for r in rows for m, res in r["results"].items()
             if res.get("wrong")]
    if notes:
        lines += ["", "## Wrong answers", ""] + notes
    lines += ["", "## Method notes", "", *[f"- {n}" for n in METHOD_NOTES], ""]
    (out_dir / "check.md").write_text("\n".join(lines))


METHOD_NOTES = [
    "nnequiv: `nnequiv.engine.check.check(original, reduced, box, relation, timeout, seed=0)`; "
    "'equivalent' carries a certificate the trusted checker accepted; counterexamples are replayed "
    "exactly inside `check` and again by this script.",
    "milp-highs: `encode_equivalence` (big-M from interval bounds, no bound tightening) on the "
    "product network, every objective solved by HiGHS with one thread and `mip_rel_gap = 0`; "
    "stops at the first objective with a feasible value above the threshold. Its 'equivalent' is "
    "float64 and uncertified.",
    "z3: the same encoding in exact rationals, one feasibility query per objective with "
    "`objective >= nextafter(threshold)`; its time includes building the z3 model, which happens "
    "before z3's own timeout starts, so it can exceed the cap.",
    "marabou: Marabou 2.0 (`maraboupy`, `read_onnx`) on the product network as a Gemm/Relu ONNX "
    "graph (output `f - g` for eps, `[f; g]` for top-1), one query per output and sign "
    "(bound `nextafter(eps)`), or per ordered class pair for top-1; `timeoutInSeconds` = remaining "
    "budget (whole seconds).",
    "Peer counterexamples are clipped to the box (the distance is recorded in the JSON) and replayed "
    "with `nnequiv.engine.confirm.replay` (exact rationals).",
    "Peers' times include lowering both networks to the piecewise-linear form.",
    "Generated families: see `benchmarks/check/pairs.py` (trained-like random nets, magnitude "
    "pruning without fine-tuning, seeded).",
]


def _json_default(o: Any) -> Any:
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, tuple):
        return list(o)
    return str(o)


# ------------------------------------------------------------------ main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="a handful of instances, < 3 minutes")
    mode.add_argument("--full", action="store_true", help="all instances; peers get nnequiv's limit")
    ap.add_argument("--timeout", type=float, default=None,
                    help="nnequiv time limit per instance in seconds (default 120; --quick: 10)")
    ap.add_argument("--peer-timeout", type=float, default=None,
                    help="peer time cap per instance (default run: 5; --quick: 3; --full: = --timeout)")
    ap.add_argument("--methods", default=",".join(METHODS),
                    help=f"comma-separated subset of {','.join(METHODS)}")
    ap.add_argument("--only", default=None, help="run only instances whose name contains this")
    ap.add_argument("--no-install", action="store_true", help="don't try to pip install maraboupy")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results"), help="output directory")
    ap.add_argument("--rerender", action="store_true",
                    help="rewrite check.md from the check.json in --out (no benchmark run)")
    args = ap.parse_args(argv)
    if args.rerender:
        data = json.loads((Path(args.out) / "check.json").read_text())
        meta, rows = data["meta"], data["instances"]
        write_reports(Path(args.out), meta, rows, meta["methods"], finished=meta.get("finished", True))
        print(f"rewrote {Path(args.out) / 'check.md'} from check.json")
        return 0

    mode_name = "quick" if args.quick else "full" if args.full else "default"
    timeout, peer_cap = MODES[mode_name]
    timeout = args.timeout if args.timeout is not None else timeout
    peer_cap = args.peer_timeout if args.peer_timeout is not None else (peer_cap or timeout)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        ap.error(f"unknown methods: {', '.join(unknown)}")
    if "nnequiv" in methods:
        methods = ["nnequiv"] + [m for m in methods if m != "nnequiv"]

    load_at_start = os.getloadavg()[0]
    _preload_nnequiv()
    marabou_reason = ensure_marabou(not args.no_install) if "marabou" in methods else ""
    if marabou_reason:
        print(f"Marabou: not installable here: {marabou_reason}", flush=True)
    meta = {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "command": " ".join(shlex.quote(a) for a in [".venv/bin/python", "benchmarks/check/run_check_bench.py",
                                                          *(sys.argv[1:] if argv is None else argv)]),
            "mode": mode_name, "timeout_s": timeout, "peer_cap_s": peer_cap, "methods": methods,
            "marabou": marabou_reason, "load_at_start": load_at_start, "machine": machine_facts()}

    items = pairs.instances(mode_name)
    if args.only:
        items = [i for i in items if args.only in i.name]
    print(f"{len(items)} instances; nnequiv timeout {timeout:g} s, peers {peer_cap:g} s; "
          f"methods {', '.join(methods)}; load {load_at_start:.2f}", flush=True)
    rows: list[dict[str, Any]] = []
    out_dir = Path(args.out)
    started = time.monotonic()
    for k, inst in enumerate(items, 1):
        print(f"[{k}/{len(items)}] {inst.name} ({inst.family}; {inst.relation.describe()}) "
              f"t={time.monotonic() - started:.0f}s load={os.getloadavg()[0]:.2f}", flush=True)
        rows.append(run_instance(inst, methods, timeout, peer_cap, marabou_reason))
        write_reports(out_dir, dict(meta, wall_s=time.monotonic() - started), rows, methods, finished=False)
    meta["wall_s"] = time.monotonic() - started
    write_reports(out_dir, meta, rows, methods, finished=True)
    print_summary(rows, methods, timeout)
    print(f"total wall time {meta['wall_s']:.0f} s; wrote {out_dir / 'check.md'} and {out_dir / 'check.json'}")
    return 0


def print_summary(rows: list[dict[str, Any]], methods: list[str], timeout: float) -> None:
    print()
    print(f"{'method':<11} {'family':<13} {'decided':>9} {'EQ/NEQ/unk/err':>15} {'median':>8} {'max':>8} {'wrong':>5}")
    for s in summarize(rows, methods):
        counts = f"{s['equivalent']}/{s['not_equivalent']}/{s['unknown']}/{s['errors']}"
        print(f"{s['method']:<11} {s['family']:<13} {s['decided']:>4}/{s['total']:<4} {counts:>15} "
              f"{_md_num(s['median_s']):>8} {_md_num(s['max_s']):>8} {s['wrong']:>5}")
    print()
    for t in targets(rows, timeout):
        word = "not assessed" if t["met"] is None else "MET" if t["met"] else "NOT MET"
        print(f"target: {t['target']}: {t['measured']} -> {word}")


if __name__ == "__main__":
    raise SystemExit(main())
