"""Long soundness campaign (issue 10): generated small pairs with independent ground truth.

Every pair is generated from ``(seed, index)`` by ``tests/campaign/generator.py``, its ground truth
computed exactly in rational arithmetic (``tests/campaign/ground_truth.py``; 1-D exact, 2-D a lower
bound on grid lines), ``nnequiv.check`` run with a short timeout and the result classified
(``tests/campaign/runner.py``).  UNSOUND and CRASH pairs are saved as reproducers under
``tests/regressions/`` (``--save DIR`` to change), which ``tests/test_campaign_slice.py`` re-runs.

Usage (from the repository root)::

    .venv/bin/python benchmarks/fuzz/run_campaign.py --pairs 2000 --seed 1
    .venv/bin/python benchmarks/fuzz/run_campaign.py --minutes 15          # as many pairs as fit

Writes ``benchmarks/results/campaign.md`` and ``campaign.json`` (``--out DIR``), rewritten every
``--every`` pairs so an interrupted run leaves its partial counts.
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
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.campaign.generator import generate  # noqa: E402
from tests.campaign.runner import run_case  # noqa: E402

CLASSES = ("CORRECT", "UNCONFIRMED", "UNKNOWN", "UNSOUND", "CRASH", "INPUT_ERROR")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--start", type=int, default=0, help="first pair index")
    ap.add_argument("--timeout", type=float, default=2.0, help="seconds per check")
    ap.add_argument("--minutes", type=float, default=None, help="stop starting new pairs after this long")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    ap.add_argument("--save", type=Path, default=ROOT / "tests" / "regressions")
    ap.add_argument("--every", type=int, default=25, help="rewrite the results every N pairs")
    args = ap.parse_args(argv)

    started = time.monotonic()
    deadline = None if args.minutes is None else started + 60 * args.minutes
    classes: Counter = Counter()
    verdicts: Counter = Counter()
    by_edit: dict[str, Counter] = {}
    by_relation: dict[str, Counter] = {}
    by_tag: dict[str, Counter] = {}
    failures: list[dict] = []
    check_time = 0.0
    done = 0
    stopped = "completed"
    for index in range(args.start, args.start + args.pairs):
        if deadline is not None and time.monotonic() > deadline:
            stopped = f"time limit ({args.minutes} min)"
            break
        case = generate(args.seed, index)
        outcome = run_case(case, args.timeout, args.save)
        done += 1
        check_time += outcome.time_s
        classes[outcome.klass] += 1
        verdicts[outcome.verdict or "none"] += 1
        by_edit.setdefault(case.edit, Counter())[outcome.klass] += 1
        by_relation.setdefault(outcome.relation["kind"] + (f"/{case.eps_mode}" if case.eps_mode else ""),
                               Counter())[outcome.klass] += 1
        for tag in case.tags:
            by_tag.setdefault(tag, Counter())[outcome.klass] += 1
        if outcome.klass in ("UNSOUND", "CRASH", "INPUT_ERROR"):
            failures.append(outcome.to_json())
            print(f"[{index}] {outcome.klass} {outcome.name}: {outcome.reasons[0].splitlines()[0]}", flush=True)
        if done % args.every == 0:
            _write(args, done, classes, verdicts, by_edit, by_relation, by_tag, failures, started, check_time,
                   "running")
            print(f"{done} pairs, {time.monotonic() - started:.0f} s: {dict(classes)}", flush=True)
    _write(args, done, classes, verdicts, by_edit, by_relation, by_tag, failures, started, check_time, stopped)
    print(f"done: {done} pairs in {time.monotonic() - started:.0f} s: {dict(classes)}")
    return 1 if classes["UNSOUND"] or classes["CRASH"] else 0


def _write(args, done, classes, verdicts, by_edit, by_relation, by_tag, failures, started, check_time, status):
    elapsed = time.monotonic() - started
    data = {
        "status": status, "seed": args.seed, "start": args.start, "pairs_requested": args.pairs, "pairs": done,
        "timeout_s": args.timeout, "time_s": round(elapsed, 1), "check_time_s": round(check_time, 1),
        "mean_s_per_pair": round(elapsed / done, 3) if done else None,
        "verdicts": dict(verdicts), "classes": {k: classes.get(k, 0) for k in CLASSES},
        "disagreements": classes.get("UNSOUND", 0), "crashes": classes.get("CRASH", 0),
        "by_edit": {k: dict(v) for k, v in sorted(by_edit.items())},
        "by_relation": {k: dict(v) for k, v in sorted(by_relation.items())},
        "by_tag": {k: dict(v) for k, v in sorted(by_tag.items())},
        "failures": failures,
        "host": {"python": platform.python_version(), "machine": platform.machine(), "cpu_threads": 1},
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "campaign.json").write_text(json.dumps(data, indent=1, default=str))
    lines = [
        "# Soundness campaign (issue 10)", "",
        f"Status: **{status}** — {done} of {args.pairs} pairs (seed {args.seed}, from index {args.start}), "
        f"timeout {args.timeout} s per check, {elapsed:.0f} s wall ({data['mean_s_per_pair']} s/pair), "
        f"{data['date']}.", "",
        "Generator, ground truth and classes: `tests/campaign/` (1-D pairs: exact maximum deviation and "
        "exact top-1 by breakpoint enumeration in rationals; 2-D pairs: a lower bound on grid lines, so "
        "only violations are checked there).", "",
        f"**UNSOUND (disagreements with ground truth or checker): {classes.get('UNSOUND', 0)}** — "
        f"**CRASH: {classes.get('CRASH', 0)}** — input errors: {classes.get('INPUT_ERROR', 0)}", "",
        "| verdict | pairs |", "|---|---:|",
        *[f"| {k} | {verdicts.get(k, 0)} |" for k in ("equivalent", "not_equivalent", "unknown", "none")], "",
        "| class | pairs |", "|---|---:|", *[f"| {k} | {classes.get(k, 0)} |" for k in CLASSES], "",
        "| edit | " + " | ".join(CLASSES) + " |", "|---|" + "---:|" * len(CLASSES),
        *[f"| {e} | " + " | ".join(str(c.get(k, 0)) for k in CLASSES) + " |" for e, c in sorted(by_edit.items())],
        "",
        "| relation | " + " | ".join(CLASSES) + " |", "|---|" + "---:|" * len(CLASSES),
        *[f"| {e} | " + " | ".join(str(c.get(k, 0)) for k in CLASSES) + " |"
          for e, c in sorted(by_relation.items())],
        "",
        "Architecture tags (a pair counts once under each of its tags: mlp/cnn, input dimension, "
        "BatchNormalization, residual Add, LeakyReLU):", "",
        "| tag | " + " | ".join(CLASSES) + " |", "|---|" + "---:|" * len(CLASSES),
        *[f"| {e} | " + " | ".join(str(c.get(k, 0)) for k in CLASSES) + " |" for e, c in sorted(by_tag.items())],
        "",
    ]
    if failures:
        lines += ["## Failures", ""]
        lines += [f"* {f['klass']} `{f['name']}` ({f['verdict']}): {f['reasons'][0].splitlines()[0]} "
                  f"— reproducer `{f['saved']}`" for f in failures]
        lines.append("")
    (args.out / "campaign.md").write_text("\n".join(lines))


if __name__ == "__main__":
    raise SystemExit(main())
