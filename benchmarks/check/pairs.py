"""Instances for the ``check`` benchmark: the shared VeryDiff pairs and seeded generated families.

Every instance is ``(original, reduced, box, relation)`` with IR networks, so every method in
``run_check_bench.py`` sees exactly the same problem.

Generated families (all seeded, reproducible):

* ``acas-sized``: 5 inputs -> 6 hidden layers x 50 ReLU -> 5 outputs;
* ``mnist-sized``: 784 inputs -> 3 hidden layers x 100 ReLU -> 10 outputs.

Base networks are "trained-like": He-initialised (weights ~ N(0, 2/fan_in), small biases),
then fitted for a few hundred full-batch Adam steps (plain numpy, float64) to a random smooth
target ``y_j = sum_k a_jk sin(b_k . x + c_k)`` on samples from the input domain
([-0.5, 0.5]^5, resp. [0, 1]^784), so that outputs have unit scale and the weights are no
longer i.i.d.  The weights are stored as float32 (as ONNX models are), and the reduced
network is the original magnitude-pruned per layer: the smallest ``p`` fraction of ``|w|`` of
every weight matrix (biases kept) set to 0, with ``p`` in {5, 10, 30} %, and no fine-tuning.

Boxes: ACAS-sized -- a random sub-box of [-0.5, 0.5]^5 with a width drawn in [0.05, 0.3]
per dimension (like the ACAS Xu property boxes); MNIST-sized -- an L-infinity ball of
radius 0.01-0.03 around a uniform random point of [0, 1]^784, clipped to [0, 1].
Relations: eps in {0.05, 0.5} for ACAS-sized, eps = 1.0 for MNIST-sized.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from nnequiv.ir import Network, Node, TensorSpec
from nnequiv.spec import Box, Relation

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "verydiff-examples"

ACAS_WIDTHS = (5, 50, 50, 50, 50, 50, 50, 5)
MNIST_WIDTHS = (784, 100, 100, 100, 10)
PRUNE_LEVELS = (0.05, 0.10, 0.30)


@dataclass
class Instance:
    name: str
    family: str
    original: Network
    reduced: Network
    box: Box
    relation: Relation
    params: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------ networks
def mlp_network(weights: Sequence[np.ndarray], biases: Sequence[np.ndarray], name: str) -> Network:
    """``(Gemm Relu)* Gemm`` with float32 initializers; input ``input`` (N, n), output ``output``."""
    nodes: list[Node] = []
    init: dict[str, np.ndarray] = {}
    current = "input"
    for k, (w, b) in enumerate(zip(weights, biases), start=1):
        init[f"w{k}"] = np.asarray(w, np.float32)
        init[f"b{k}"] = np.asarray(b, np.float32)
        out = "output" if k == len(weights) else f"gemm{k}"
        nodes.append(Node(f"gemm{k}", "Gemm", (current, f"w{k}", f"b{k}"), (out,), {"transB": 1}))
        current = out
        if k < len(weights):
            nodes.append(Node(f"relu{k}", "Relu", (current,), (f"relu{k}",)))
            current = f"relu{k}"
    n_in, n_out = weights[0].shape[1], weights[-1].shape[0]
    return Network.create(inputs=(TensorSpec("input", (1, n_in), "float32", (0,)),),
                          outputs=(TensorSpec("output", (1, n_out), "float32", (0,)),),
                          nodes=nodes, initializers=init, name=name)


def trained_like(rng: np.random.Generator, widths: Sequence[int], domain: tuple[float, float],
                 steps: int = 300, samples: int = 512, lr: float = 3e-3,
                 frequency: float = 1.0) -> tuple[list[np.ndarray], list[np.ndarray], float]:
    """He init + ``steps`` full-batch Adam steps on a random smooth target; float32 weights.

    Returns weights, biases and the final relative training error (for the record)."""
    n_in, n_out = widths[0], widths[-1]
    lo, hi = domain
    ws = [rng.normal(0, np.sqrt(2.0 / a), (b, a)) for a, b in zip(widths[:-1], widths[1:])]
    bs = [rng.normal(0, 0.05, b) for b in widths[1:]]
    # random smooth target: 16 sinusoidal ridge functions of the (centred, scaled) input
    n_terms = 16
    proj = rng.normal(0, frequency / np.sqrt(n_in * ((hi - lo) ** 2) / 12.0), (n_terms, n_in))
    phase = rng.uniform(0, 2 * np.pi, n_terms)
    mix = rng.normal(0, 1.0 / np.sqrt(n_terms / 2), (n_out, n_terms))
    x = rng.uniform(lo, hi, (samples, n_in))
    y = np.sin((x - (lo + hi) / 2) @ proj.T + phase) @ mix.T
    params = ws + bs
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    b1, b2 = 0.9, 0.999
    err = np.inf
    for t in range(1, steps + 1):
        hs, zs = [x], []
        h = x
        for k, (w, b) in enumerate(zip(ws, bs)):
            z = h @ w.T + b
            zs.append(z)
            h = np.maximum(z, 0.0) if k < len(ws) - 1 else z
            hs.append(h)
        diff = h - y
        err = float(np.sqrt(np.mean(diff ** 2) / np.mean(y ** 2)))
        grad = 2.0 * diff / diff.size
        gw, gb = [None] * len(ws), [None] * len(ws)
        for k in range(len(ws) - 1, -1, -1):
            if k < len(ws) - 1:
                grad = grad * (zs[k] > 0)
            gw[k] = grad.T @ hs[k]
            gb[k] = grad.sum(axis=0)
            grad = grad @ ws[k]
        for i, g in enumerate(gw + gb):
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            step = lr * (m[i] / (1 - b1 ** t)) / (np.sqrt(v[i] / (1 - b2 ** t)) + 1e-8)
            params[i] -= step            # in place: ws / bs hold the same arrays
    return ([w.astype(np.float32) for w in ws], [b.astype(np.float32) for b in bs], err)


def magnitude_prune(weights: Sequence[np.ndarray], fraction: float) -> list[np.ndarray]:
    """Zero the smallest ``fraction`` of ``|w|`` in every weight matrix (ties: lowest index first)."""
    out = []
    for w in weights:
        flat = np.abs(w).ravel()
        k = int(round(fraction * flat.size))
        pruned = w.copy().ravel()
        if k:
            pruned[np.argsort(flat, kind="stable")[:k]] = 0.0
        out.append(pruned.reshape(w.shape).astype(np.float32))
    return out


# ------------------------------------------------------------------ families
def acas_sized(n_nets: int, boxes_per_setting: int, seed: int = 1) -> list[Instance]:
    out = []
    for net_index in range(n_nets):
        rng = np.random.default_rng([seed, 5, net_index])
        ws, bs, err = trained_like(rng, ACAS_WIDTHS, (-0.5, 0.5))
        original = mlp_network(ws, bs, f"acas_sized_{net_index}")
        for prune in PRUNE_LEVELS:
            reduced = mlp_network(magnitude_prune(ws, prune), bs, f"acas_sized_{net_index}_p{int(prune * 100)}")
            for eps in (0.05, 0.5):
                for b in range(boxes_per_setting):
                    box_rng = np.random.default_rng([seed, 6, net_index, int(prune * 100), int(eps * 100), b])
                    width = box_rng.uniform(0.05, 0.3, 5)
                    lower = box_rng.uniform(-0.5, 0.5 - width)
                    upper = lower + width
                    name = f"acas_n{net_index}_p{int(prune * 100)}_e{eps:g}_b{b}"
                    out.append(Instance(name, "acas-sized", original, reduced, Box.of(lower, upper),
                                        Relation.epsilon(eps),
                                        {"net": net_index, "prune": prune, "eps": eps, "box": b,
                                         "max_width": float(width.max()), "fit_error": round(err, 3)}))
    return out


def mnist_sized(n_nets: int, boxes_per_setting: int, seed: int = 1) -> list[Instance]:
    out = []
    for net_index in range(n_nets):
        rng = np.random.default_rng([seed, 784, net_index])
        ws, bs, err = trained_like(rng, MNIST_WIDTHS, (0.0, 1.0), steps=300, samples=256)
        original = mlp_network(ws, bs, f"mnist_sized_{net_index}")
        for prune in PRUNE_LEVELS:
            reduced = mlp_network(magnitude_prune(ws, prune), bs, f"mnist_sized_{net_index}_p{int(prune * 100)}")
            for b in range(boxes_per_setting):
                box_rng = np.random.default_rng([seed, 785, net_index, int(prune * 100), b])
                radius = float(box_rng.uniform(0.01, 0.03))
                centre = box_rng.uniform(0.0, 1.0, 784)
                lower = np.clip(centre - radius, 0.0, 1.0)
                upper = np.clip(centre + radius, 0.0, 1.0)
                name = f"mnist_n{net_index}_p{int(prune * 100)}_r{radius:.3f}_b{b}"
                out.append(Instance(name, "mnist-sized", original, reduced, Box.of(lower, upper),
                                    Relation.epsilon(1.0),
                                    {"net": net_index, "prune": prune, "eps": 1.0, "box": b,
                                     "radius": round(radius, 4), "fit_error": round(err, 3)}))
    return out


def shared_pairs(root: Path = SHARED) -> list[Instance]:
    """The VeryDiff example pairs in ``shared/data/verydiff-examples`` ([] if absent)."""
    from nnequiv.onnx_io import load_onnx
    from nnequiv.spec import load_vnnlib

    if not root.is_dir():
        print(f"note: {root} not found; skipping the shared VeryDiff pairs")
        return []
    specs = [
        ("acas-shared", "ACASXU_run2a_1_1_batch_2000.onnx", "ACASXU_run2a_1_1_batch_2000_pruned5.onnx",
         "prop_1.vnnlib", Relation.epsilon(0.05)),
        ("mnist-shared", "mnist_relu_3_100.onnx", "mnist_relu_3_100_pruned5.onnx",
         "mnist_0_local_15.vnnlib", Relation.epsilon(1.0)),
        ("mnist-shared", "mnist_relu_3_100.onnx", "mnist_relu_3_100_pruned5.onnx",
         "mnist_7_local_15.vnnlib", Relation.epsilon(1.0)),
        ("lhc-shared", "2_80-1.onnx", "2_80-1-0.1.onnx", "sigma_0.1.vnnlib", Relation.top1()),
    ]
    out = []
    for family, a, b, spec, relation in specs:
        paths = [root / a, root / b, root / spec]
        missing = [p.name for p in paths if not p.exists()]
        if missing:
            print(f"note: skipping {a} vs {b} on {spec}: missing {', '.join(missing)}")
            continue
        box = load_vnnlib(paths[2]).box
        name = f"{Path(a).stem}__{Path(b).stem}__{Path(spec).stem}"
        out.append(Instance(name, family, load_onnx(paths[0]), load_onnx(paths[1]), box, relation,
                            {"original": a, "reduced": b, "spec": spec, "relation": relation.describe()}))
    return out


def instances(mode: str) -> list[Instance]:
    """All instances of a run: ``quick``, ``default`` or ``full``."""
    sizes = {"quick": (1, 1, 1, 1), "default": (2, 2, 2, 2), "full": (4, 4, 3, 3)}[mode]
    acas_nets, acas_boxes, mnist_nets, mnist_boxes = sizes
    items = shared_pairs()
    if mode == "quick":   # one shared pair per family kind, the cheap ones
        items = [i for i in items if i.family == "lhc-shared" or i.params.get("spec") == "mnist_0_local_15.vnnlib"]
    acas = acas_sized(acas_nets, acas_boxes)
    mnist = mnist_sized(mnist_nets, mnist_boxes)
    if mode == "quick":
        acas = [i for i in acas if i.params["prune"] in (0.05, 0.30)][:4]
        mnist = mnist[:2]
    return items + acas + mnist
