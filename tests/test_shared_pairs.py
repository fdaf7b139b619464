"""The published pairs in ../shared/data/verydiff-examples are decided, with certificates that
verify and counterexamples that replay (skipped with a reason when ../shared is absent)."""

from pathlib import Path

import numpy as np
import pytest

from nnequiv.checker import verify
from nnequiv.engine.check import check
from nnequiv.engine.confirm import replay
from nnequiv.onnx_io import load_onnx
from nnequiv.spec.relation import Relation
from nnequiv.spec.vnnlib import load_vnnlib

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "verydiff-examples"
pytestmark = [pytest.mark.shared_data, pytest.mark.slow,
              pytest.mark.skipif(not DATA.is_dir(), reason=f"shared data not found at {DATA}")]

CASES = {
    "acas-prop1-eps0.05": ("ACASXU_run2a_1_1_batch_2000", "ACASXU_run2a_1_1_batch_2000_pruned5", "prop_1",
                           Relation.epsilon(0.05)),
    "mnist0-eps1": ("mnist_relu_3_100", "mnist_relu_3_100_pruned5", "mnist_0_local_15", Relation.epsilon(1.0)),
    "mnist7-eps1": ("mnist_relu_3_100", "mnist_relu_3_100_pruned5", "mnist_7_local_15", Relation.epsilon(1.0)),
    "lhc-top1": ("2_80-1", "2_80-1-0.1", "sigma_0.1", Relation.top1()),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_shared_pair_is_decided(case):
    a, b, spec, relation = CASES[case]
    f, g = load_onnx(DATA / f"{a}.onnx"), load_onnx(DATA / f"{b}.onnx")
    box = load_vnnlib(DATA / f"{spec}.vnnlib").box
    verdict = check(f, g, box, relation, timeout=240)
    assert verdict.verdict != "unknown", verdict.stats
    if verdict.verdict == "equivalent":
        assert verify(verdict.certificate, f, g).valid
        if relation.kind == "eps":
            assert verdict.lower <= verdict.upper <= relation.eps
    else:
        cex = verdict.counterexample
        x = np.array(cex.input)
        assert box.contains(x)
        assert replay(f, g, x, relation) is not None
