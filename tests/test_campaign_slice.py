"""CI slice of the soundness campaign (issue 10): a fixed-seed set of small pairs with independent
ground truth (``tests/campaign``), zero UNSOUND and zero CRASH allowed; every saved reproducer in
``tests/regressions/`` is re-run; and a deliberately weakened relaxation must be caught."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests.campaign.generator import generate
from tests.campaign.runner import rerun_reproducer, run_campaign

SLICE_SEED = 10
SLICE_PAIRS = 140
SLICE_TIMEOUT = 1.5          # seconds per check; the slice takes ~60-80 s on one core
REGRESSIONS = Path(__file__).parent / "regressions"


def _report(summary) -> str:
    lines = [f"{summary.pairs} pairs in {summary.time_s:.1f} s: {dict(summary.classes)}"]
    for o in summary.failures:
        lines.append(f"  {o.klass} {o.name} verdict={o.verdict} relation={o.relation['kind']} "
                     f"eps={o.relation['eps']!r} saved={o.saved}")
        lines += ["    " + r.splitlines()[0] if o.klass != "CRASH" else "    " + r for r in o.reasons]
    return "\n".join(lines)


@pytest.mark.slow
def test_campaign_slice_is_sound():
    # a real failure is kept as a reproducer (re-run by test_saved_reproducers from then on)
    summary = run_campaign(SLICE_SEED, SLICE_PAIRS, SLICE_TIMEOUT, save_dir=REGRESSIONS)
    assert summary.pairs == SLICE_PAIRS
    assert summary.unsound == 0, _report(summary)
    assert summary.crashes == 0, _report(summary)
    assert summary.classes.get("INPUT_ERROR", 0) == 0, _report(summary)
    # the slice must exercise every outcome, or it tests nothing -- on the MLPs and on the CNNs
    assert summary.verdicts["equivalent"] > 0 and summary.verdicts["not_equivalent"] > 0, _report(summary)
    cnn = Counter(o.verdict for o in summary.outcomes if _is_cnn_edit(o.edit))
    assert cnn["equivalent"] > 0 and cnn["not_equivalent"] > 0, cnn


def _is_cnn_edit(edit: str) -> bool:
    return edit.startswith("c_") or edit == "bn_fold"


def test_slice_covers_cnn_batchnorm_residual_and_leaky_pairs():
    """The slice's fixed cases include CNN pairs with BatchNormalization, residual Adds and LeakyReLU, and
    the CNN edits (BN fold, channel permutation / scaling / duplicate / dead channel, near misses)."""
    cases = [generate(SLICE_SEED, i) for i in range(SLICE_PAIRS)]
    tags = Counter(t for case in cases for t in case.tags)
    assert tags["cnn"] >= 20 and tags["bn"] >= 5 and tags["residual"] >= 5 and tags["leaky"] >= 10, tags
    edits = {case.edit for case in cases if "cnn" in case.tags}
    assert {"bn_fold", "c_perturb", "c_bump"} <= edits and len(edits) >= 8, edits


def _reproducers() -> list[Path]:
    if not REGRESSIONS.is_dir():
        return []
    return sorted(p.parent for p in REGRESSIONS.glob("*/case.json"))


@pytest.mark.parametrize("folder", _reproducers(), ids=lambda p: p.name)
def test_saved_reproducers(folder):
    outcome = rerun_reproducer(folder)
    assert outcome.klass not in ("UNSOUND", "CRASH"), f"{folder.name}: {outcome.klass}: {outcome.reasons}"


def test_saved_reproducers_collected():
    """Runs even when ``tests/regressions/`` is empty (then there is nothing to re-run)."""
    for folder in _reproducers():
        for name in ("original.onnx", "reduced.onnx", "box.json", "case.json"):
            assert (folder / name).is_file(), f"{folder.name} lacks {name}"


@pytest.mark.slow
def test_slice_catches_a_dropped_relaxation_height(monkeypatch, tmp_path):
    """The campaign has teeth: with the DeepZ relaxation height dropped (an unsound ReLU bound in the
    trusted analysis, which the engine and the checker then share) the slice reports UNSOUND."""
    import nnequiv.checker.diffzono as dz

    original = dz._activate

    def broken(z, phase, slope, lo, hi):
        out, fresh = original(z, phase, slope, lo, hi)
        return out, dz.Fresh(fresh.neurons, fresh.radii * 0.0)

    monkeypatch.setattr(dz, "_activate", broken)
    summary = run_campaign(SLICE_SEED, 40, SLICE_TIMEOUT, save_dir=tmp_path)
    assert summary.unsound > 0, _report(summary)
    assert summary.crashes == 0, _report(summary)
    saved = [o.saved for o in summary.failures if o.klass == "UNSOUND"]
    assert saved and all((Path(s) / "case.json").is_file() for s in saved)
    # a saved reproducer re-runs (still unsound while the weakness is in place)
    assert rerun_reproducer(Path(saved[0])).klass == "UNSOUND"


def test_ground_truth_on_hand_cases():
    """The independent ground truth on cases whose answer is known by hand."""
    from fractions import Fraction

    import numpy as np

    from tests.campaign.generator import Spec
    from tests.campaign.ground_truth import ground_truth

    ident = [(np.array([[1.0], [-1.0]]), np.zeros(2)), (np.array([[1.0, 0.0], [0.0, 1.0]]), np.zeros(2))]
    f = Spec(ident)  # (relu(x), relu(-x))
    # a bump of height 8 and radius 2**-6 at x = 0.25: max deviation 8 * 2**-6 = 1/8, exactly
    g = Spec(ident, bump=(np.array([0.25]), 2.0 ** -6, 8.0))
    truth = ground_truth(f, g, [-1.0], [1.0])
    assert truth.exact and truth.deviation == Fraction(1, 8) and truth.witness == (Fraction(1, 4),)
    assert not truth.top1_violation  # the bump lifts every output equally: the top sets never change
    same = ground_truth(f, f, [-1.0], [1.0])
    assert same.deviation == 0 and not same.top1_violation
    # g2 = (relu(x), relu(-x) + 2**-10): f ties at 0 ({0,1}), g2 does not; and top sets differ on (0, 2**-10)
    g2 = Spec([ident[0], (ident[1][0], np.array([0.0, 2.0 ** -10]))])
    t2 = ground_truth(f, g2, [-1.0], [1.0])
    assert t2.deviation == Fraction(1, 1024) and t2.top1_violation
    assert 0 <= t2.top1_witness[0] <= Fraction(1, 1024)
    # LeakyReLU with alpha 1/8: f(x) = leaky(x) vs g(x) = leaky(x - 2**-4) on [-1, 1]: max |f - g| = 2**-4
    leaky_f = Spec([(np.array([[1.0]]), np.zeros(1)), (np.array([[1.0]]), np.zeros(1))], "LeakyRelu", 0.125)
    leaky_g = Spec([(np.array([[1.0]]), np.array([-0.0625])), (np.array([[1.0]]), np.zeros(1))], "LeakyRelu", 0.125)
    t3 = ground_truth(leaky_f, leaky_g, [-1.0], [1.0])
    assert t3.deviation == Fraction(1, 16)


def test_exact_conv_evaluator_on_a_hand_case_and_against_the_interpreter():
    """The campaign's own exact CNN evaluator: a BatchNormalization case worked by hand, and agreement
    with nnequiv's exact interpreter (a separate implementation) wherever that one is exact."""
    from dataclasses import replace
    from fractions import Fraction

    import numpy as np

    from nnequiv.interpret import evaluate_exact
    from tests.campaign.conv_generator import random_conv_spec
    from tests.campaign.conv_spec import BN_EPSILON, BatchNorm, ConvBlock, ConvSpec, conv_network
    from tests.campaign.ground_truth import exact_net

    # conv 1x1 (w 2, b 1/2) -> BN (gamma 3, beta -1, mean 1/4, root 3/2) -> ReLU -> Gemm (1, 0): at x = 1
    # z = 5/2, (5/2 - 1/4) / (3/2) * 3 - 1 = 7/2
    bn = BatchNorm(np.array([3.0]), np.array([-1.0]), np.array([0.25]), np.array([2.25 - BN_EPSILON]), np.array([1.5]))
    spec = ConvSpec((1, 1, 1), (ConvBlock(np.full((1, 1, 1, 1), 2.0), np.array([0.5]), (0, 0, 0, 0), bn),),
                    (np.array([[1.0]]), np.array([0.0])))
    assert exact_net(spec)([Fraction(1)]) == [Fraction(7, 2)]
    assert exact_net(spec)([Fraction(-1)]) == [Fraction(0)]          # z = -3/2 -> BN -4.75 -> ReLU 0
    compared = 0
    for seed in range(12):
        rng = np.random.default_rng(seed)
        n_in = 1 + seed % 2
        spec = random_conv_spec(rng, n_in, 2, "LeakyRelu" if seed % 3 else "Relu", 0.125)
        if seed % 4:   # the interpreter's BatchNormalization is exact only when its sqrt happens to be
            spec = spec.with_(blocks=tuple(replace(b, bn=None) for b in spec.blocks))
        net = conv_network(spec)
        for _ in range(3):
            x = [Fraction(float(v)) for v in rng.uniform(-2, 2, n_in)]
            result = evaluate_exact(net, x)
            if result.exact:
                assert list(np.ravel(result.values)) == exact_net(spec)(x), seed
                compared += 1
    assert compared >= 27
