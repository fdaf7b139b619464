"""Fuzzing ``nnequiv verify`` with mutated certificates (a branch-and-bound proof and a structural
compression chain): every single-point JSON mutation (delete/duplicate/retype keys, numbers, hex
floats, hashes, nested lists) and seeded random byte flips and truncations.

Metadata (ignored by the checker by design) is mutated only as a whole.

Outcome: exit 1 (INVALID, with at least one reason) or 3 (one ``error:`` line); never a traceback, never
an internal error; exit 0 only when the mutated certificate still makes the same claim or a weaker one
(same models, same relation with an eps at least as large, a box inside the original, a bound at least as
large): then it is a valid proof of a true statement (the checker re-checked every step), e.g. a
metadata edit, a split point moved by one ulp, a leaf value within the recomputation tolerance.
"""

from __future__ import annotations

import copy
import json
from fractions import Fraction
from pathlib import Path

import pytest
from click.testing import CliRunner

from nnequiv.checker import verify
from nnequiv.cli import main
from nnequiv.errors import EXIT_INPUT_ERROR
from nnequiv.onnx_io import save_onnx
from nnequiv.passes.pipeline import compress
from nnequiv.spec.box import Box
from nnequiv.spec.relation import Relation
from tests.helpers.limits import time_limit
from tests.helpers.json_mutations import Mutation, byte_mutations, json_mutations
from tests.test_certificates import GOLDEN, golden_pair
from tests.test_structural_certificates import chain_net

SECONDS_PER_RUN = 30          # a mutated certificate must not make the checker hang


@pytest.fixture(scope="module")
def proofs(tmp_path_factory):
    """name -> (certificate, original.onnx, reduced.onnx); both certificates verify unmutated."""
    folder = tmp_path_factory.mktemp("fuzz_cert")
    f, g = golden_pair()
    net = chain_net()
    reduced, chain = compress(net)
    out = {}
    for name, doc, (a, b) in (("bab", json.loads(GOLDEN.read_text()), (f, g)), ("chain", chain, (net, reduced))):
        paths = folder / f"{name}_original.onnx", folder / f"{name}_reduced.onnx"
        save_onnx(a, paths[0])
        save_onnx(b, paths[1])
        out[name] = (doc, *paths)
    return out


def _claim(doc) -> tuple:
    claim = doc["claim"]
    relation = Relation.from_json(claim["relation"])
    box = Box.from_json(claim["box"])
    return (doc["models"]["original"]["sha256"], doc["models"]["reduced"]["sha256"], relation, box,
            float.fromhex(claim["bound"]))


def same_or_weaker_claim(original: dict, data: bytes) -> bool:
    """The mutated document claims (at most) what the original proved."""
    try:
        mutated = json.loads(data)
        f0, g0, rel0, box0, bound0 = _claim(original)
        f1, g1, rel1, box1, bound1 = _claim(mutated)
    except Exception:  # noqa: BLE001 - an unreadable claim is not "the same claim"
        return False
    if (f1, g1) != (f0, g0) or (rel1.kind, rel1.outputs) != (rel0.kind, rel0.outputs):
        return False
    if rel1.kind == "eps" and not Fraction(rel1.eps) >= Fraction(rel0.eps):
        return False
    inside = all(a0 <= a1 and b1 <= b0 for a0, a1, b0, b1 in zip(box0.lower, box1.lower, box0.upper, box1.upper))
    return box1.size == box0.size and inside and bound1 >= bound0    # NaN compares False


def _run_verify(runner: CliRunner, cert: Path, f: Path, g: Path):
    with time_limit(SECONDS_PER_RUN):
        return runner.invoke(main, ["verify", str(cert), str(f), str(g)])


def _judge(result, mutation: Mutation, original: dict) -> str | None:
    """Why this outcome is wrong, or None."""
    text = result.stdout + result.stderr
    if "Traceback" in text or result.exit_code not in (0, 1, EXIT_INPUT_ERROR):
        return f"exit {result.exit_code}: {text.strip()[:300]}"
    if result.exit_code == 0 and not same_or_weaker_claim(original, mutation.data):
        return "accepted, although the claim changed: " + text.strip()[:200]
    if result.exit_code == 1 and not (result.stdout.startswith("INVALID") and len(result.stdout.splitlines()) >= 2):
        return f"exit 1 without a reason: {result.stdout[:200]!r}"
    if result.exit_code == EXIT_INPUT_ERROR:
        lines = result.stderr.splitlines()
        if len(lines) != 1 or not lines[0].startswith("error: "):
            return f"exit 3 without one error line: {result.stderr[:300]!r}"
    return None


@pytest.mark.parametrize("name", ["bab", "chain"])
def test_mutated_certificates_are_rejected_or_claim_no_more(proofs, tmp_path, name):
    original, f, g = proofs[name]
    runner = CliRunner()
    cert = tmp_path / "cert.json"
    cert.write_text(json.dumps(original))
    assert _run_verify(runner, cert, f, g).exit_code == 0
    text = json.dumps(original, indent=1).encode()
    mutations = json_mutations(original, opaque=("metadata",)) + byte_mutations(text, seed=7, count=150)
    wrong, codes = [], {0: 0, 1: 0, EXIT_INPUT_ERROR: 0}
    for mutation in mutations:
        cert.write_bytes(mutation.data)
        result = _run_verify(runner, cert, f, g)
        codes[result.exit_code] = codes.get(result.exit_code, 0) + 1
        problem = _judge(result, mutation, original)
        if problem:
            wrong.append(f"{mutation.name}: {problem}")
    assert not wrong, f"{len(wrong)} of {len(mutations)} mutations mishandled:\n" + "\n".join(wrong[:20])
    # the fuzzing reached the checker's verdicts, not only the JSON parser
    assert codes[1] > len(mutations) // 4 and codes[EXIT_INPUT_ERROR] > 0, codes


def test_claim_mutations_that_change_the_claim_are_all_rejected(proofs):
    """Every mutation of the claim's relation, box or bound that changes the claim's meaning is rejected
    (the first test allows exit 0 for same-or-weaker claims; here only strengthening edits are made)."""
    original, f_path, g_path = proofs["bab"]
    f, g = golden_pair()
    stronger = [("eps", lambda c: c["relation"].update(eps=0.02, eps_hex=(0.02).hex())),
                ("box", lambda c: c["box"].update(lower=[-1.0, -0.5], lower_hex=[(-1.0).hex(), (-0.5).hex()])),
                ("bound", lambda c: c.update(bound=(0.001).hex())),
                ("bound_nan", lambda c: c.update(bound="nan")),
                ("outputs", lambda c: c["relation"].update(outputs=[0]))]
    for label, edit in stronger:
        doc = copy.deepcopy(original)
        edit(doc["claim"])
        report = verify(doc, f, g)
        if label == "outputs":      # fewer outputs compared is a weaker claim: still valid
            assert report.valid, label
            continue
        assert not report.valid, label
        assert any(p.item.startswith("claim") or p.item.startswith("steps/0") for p in report.problems), \
            (label, report.problems)


# ---------------------------------------------------------------- regressions found by the fuzzing

def test_regression_nan_bound_and_nan_step_epsilon_are_rejected(proofs):
    """NaN made ``bound > eps`` and ``total > bound`` false, so a NaN bound or step epsilon was accepted."""
    original, _, _ = proofs["bab"]
    f, g = golden_pair()
    for where in ("bound", "epsilon"):
        doc = copy.deepcopy(original)
        if where == "bound":
            doc["claim"]["bound"] = "nan"
        else:
            doc["steps"][0]["epsilon"] = "nan"
        report = verify(doc, f, g)
        assert not report.valid, where
        assert any(p.item in ("claim/bound", "steps/0/epsilon") for p in report.problems), report.problems


def test_regression_negative_bound_of_an_exact_claim_is_rejected(proofs):
    """An exact-relation chain was accepted with ``bound`` = -1 (a false statement about |f - g|)."""
    original, f_path, g_path = proofs["chain"]
    net = chain_net()
    reduced, _ = compress(net)
    doc = copy.deepcopy(original)
    doc["claim"]["bound"] = (-1.0).hex()
    report = verify(doc, net, reduced)
    assert not report.valid and report.problems[0].item == "claim/bound", report.problems
    doc["steps"][1]["epsilon"] = (-0.5).hex()
    doc["claim"]["bound"] = (0.0).hex()
    report = verify(doc, net, reduced)
    assert not report.valid and any(p.item == "steps/1/epsilon" for p in report.problems), report.problems


def test_regression_boolean_split_input_is_an_invalid_item_not_a_crash(proofs, tmp_path):
    """``"input": true`` passed ``isinstance(d, int)`` and crashed numpy indexing (exit 4)."""
    original, f, g = proofs["bab"]
    doc = copy.deepcopy(original)
    doc["steps"][0]["tree"]["split"]["input"] = True
    cert = tmp_path / "bool.json"
    cert.write_text(json.dumps(doc))
    result = _run_verify(CliRunner(), cert, f, g)
    assert result.exit_code == 1, result.output
    assert "steps/0/tree/split/input" in result.stdout


def test_nan_and_infinity_literals_do_not_crash(proofs, tmp_path):
    """Python's json reads ``NaN``/``Infinity``: they must be reasons, not crashes."""
    original, f, g = proofs["bab"]
    text = json.dumps(original).replace('"eps": 0.04', '"eps": NaN').replace('[-0.5, -0.5]', '[-Infinity, -0.5]')
    assert "NaN" in text and "-Infinity" in text
    cert = tmp_path / "nan.json"
    cert.write_text(text)
    result = _run_verify(CliRunner(), cert, f, g)
    assert result.exit_code in (1, EXIT_INPUT_ERROR) and "Traceback" not in result.output, result.output
