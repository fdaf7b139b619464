"""CI slice of the soundness campaign (issue 10): a fixed-seed set of small pairs with independent
ground truth (``tests/campaign``), zero UNSOUND and zero CRASH allowed; every saved reproducer in
``tests/regressions/`` is re-run; and a deliberately weakened relaxation must be caught."""

from __future__ import annotations

from pathlib import Path

import pytest

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
    # the slice must exercise every outcome, or it tests nothing
    assert summary.verdicts["equivalent"] > 0 and summary.verdicts["not_equivalent"] > 0, _report(summary)


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
