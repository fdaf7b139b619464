"""Certificates: check -> certificate -> verify round trips; every tampered item is rejected with a
reason naming it; the checker imports no solver, search or pass; a golden certificate stays valid."""

import copy
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nnequiv.certificate import load_certificate, save_certificate
from nnequiv.checker import verify
from nnequiv.engine.check import check
from nnequiv.spec.box import Box
from nnequiv.spec.relation import Relation
from tests.helpers.pairs import mlp, random_layers

GOLDEN = Path(__file__).parent / "golden" / "mlp_pruned_eps.json"


def golden_pair():
    """Deterministic pair behind the golden certificate (do not change: the file depends on it)."""
    rng = np.random.default_rng(2024)
    layers = random_layers(rng, [2, 5, 5, 2])
    pruned = [(np.where(np.abs(w) < 0.15, 0.0, w), b) for w, b in layers]
    return mlp(layers, name="original"), mlp(pruned, name="pruned")


GOLDEN_BOX = Box.uniform(-0.5, 0.5, 2)
GOLDEN_RELATION = Relation.epsilon(0.04)


@pytest.fixture(scope="module")
def proved():
    f, g = golden_pair()
    verdict = check(f, g, GOLDEN_BOX, GOLDEN_RELATION, timeout=60)
    assert verdict.verdict == "equivalent"
    return f, g, verdict.certificate


def _problems(certificate, f, g):
    report = verify(certificate, f, g)
    assert not report.valid
    return [str(p) for p in report.problems]


def _leaves(tree):
    stack, found = [tree], []
    while stack:
        node = stack.pop()
        if "leaf" in node:
            found.append(node)
        else:
            stack.extend(node["children"])
    return found


def _inner(tree):
    stack = [tree]
    while stack:
        node = stack.pop()
        if "split" in node:
            return node
    return None


def test_round_trip_through_a_file(proved, tmp_path):
    f, g, certificate = proved
    path = tmp_path / "cert.json"
    save_certificate(certificate, path)
    assert verify(load_certificate(path), f, g).valid


def test_certificate_for_another_pair_is_rejected(proved):
    f, g, certificate = proved
    rng = np.random.default_rng(7)
    other = mlp(random_layers(rng, [2, 5, 5, 2]))
    problems = _problems(certificate, f, other)
    assert any(p.startswith("models/reduced/sha256") for p in problems)


def _tamper(certificate, edit):
    changed = copy.deepcopy(certificate)
    edit(changed)
    return changed


def _set_leaf_value(c):
    leaf = _leaves(c["steps"][0]["tree"])[0]
    leaf["value"] = (float.fromhex(leaf["value"]) * 0.5 - 1e-3).hex()   # a claim the leaf does not support


def _move_split(c):
    node = _inner(c["steps"][0]["tree"])
    split = node["split"]
    if "input" in split:
        split["at"] = (float.fromhex(split["at"]) + 0.01).hex()


def _change_split_dim(c):
    node = _inner(c["steps"][0]["tree"])
    node["split"]["input"] = 1 - node["split"]["input"]


def _prune_subtree(c):
    tree = c["steps"][0]["tree"]
    c["steps"][0]["tree"] = {"leaf": "bound", "value": _leaves(tree)[0]["value"]}


def _widen_box(c):
    c["claim"]["box"]["upper_hex"][0] = (1.5).hex()
    c["claim"]["box"]["upper"][0] = 1.5


def _lower_eps(c):
    c["claim"]["relation"]["eps"] = 1e-4
    c["claim"]["relation"]["eps_hex"] = (1e-4).hex()


def _claim_exact(c):
    c["claim"]["relation"] = Relation.exact().to_json()
    c["steps"][0]["epsilon"] = (0.0).hex()
    c["claim"]["bound"] = (0.0).hex()


def _hash(c):
    digest = c["models"]["original"]["sha256"]
    c["models"]["original"]["sha256"] = ("0" if digest[0] != "0" else "1") + digest[1:]


def _step_epsilon(c):
    c["steps"][0]["epsilon"] = (1e-9).hex()


def _unknown_kind(c):
    c["steps"][0]["kind"] = "magic"


def _drop_claim(c):
    del c["claim"]["bound"]


TAMPERS = {
    "leaf value": (_set_leaf_value, "steps/0/tree"),
    "split point": (_move_split, "steps/0/tree"),
    "split dimension": (_change_split_dim, "steps/0/tree"),
    "pruned subtree": (_prune_subtree, "steps/0/tree"),
    "box": (_widen_box, "steps/0/tree"),
    "eps": (_lower_eps, "claim/bound"),
    "exactness claim": (_claim_exact, "steps/0/tree"),
    "hash": (_hash, "models/original/sha256"),
    "step epsilon": (_step_epsilon, "steps/0/epsilon"),
    "evidence kind": (_unknown_kind, "steps/0/kind"),
    "schema": (_drop_claim, "claim"),
}


@pytest.mark.parametrize("name", sorted(TAMPERS))
def test_tampered_item_is_rejected_with_its_name(proved, name):
    f, g, certificate = proved
    edit, item = TAMPERS[name]
    problems = _problems(_tamper(certificate, edit), f, g)
    assert any(p.startswith(item) for p in problems), problems


@pytest.mark.parametrize("model", ["original", "reduced"])
def test_changed_weight_is_rejected(proved, model):
    f, g, certificate = proved
    net = f if model == "original" else g
    name = "w1"
    weights = dict(net.initializers)
    weights[name] = np.array(weights[name]) + np.eye(*weights[name].shape) * 1e-7
    changed = net.replace(initializers=weights)
    problems = _problems(certificate, changed if model == "original" else f,
                         g if model == "original" else changed)
    assert any(p.startswith(f"models/{model}/sha256") for p in problems)


def test_verify_cli_exit_codes(proved, tmp_path):
    from click.testing import CliRunner

    from nnequiv.cli import main
    from nnequiv.onnx_io import save_onnx

    f, g, certificate = proved
    save_onnx(f, tmp_path / "f.onnx")
    save_onnx(g, tmp_path / "g.onnx")
    save_certificate(certificate, tmp_path / "ok.json")
    save_certificate(_tamper(certificate, _set_leaf_value), tmp_path / "bad.json")
    runner = CliRunner()
    ok = runner.invoke(main, ["verify", str(tmp_path / "ok.json"), str(tmp_path / "f.onnx"), str(tmp_path / "g.onnx")],
                       standalone_mode=False)
    assert ok.return_value == 0, ok.output
    bad = runner.invoke(main, ["verify", str(tmp_path / "bad.json"), str(tmp_path / "f.onnx"), str(tmp_path / "g.onnx")],
                        standalone_mode=False)
    assert bad.return_value == 1 and "steps/0/tree" in bad.output


def test_checker_imports_no_solver_search_or_pass():
    code = ("import sys, nnequiv.checker.verification, nnequiv.checker.bab_tree; "
            "bad = [m for m in sys.modules if m.startswith(('nnequiv.solvers', 'nnequiv.engine', "
            "'nnequiv.passes', 'highspy', 'z3'))]; print(bad); assert not bad")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_golden_certificate_is_readable_json_and_valid():
    f, g = golden_pair()
    text = GOLDEN.read_text()
    certificate = json.loads(text)
    assert certificate["schema"] == "nnequiv/certificate@1"
    assert verify(certificate, f, g).valid


def write_golden() -> None:  # pragma: no cover - run by hand when the format changes on purpose
    f, g = golden_pair()
    verdict = check(f, g, GOLDEN_BOX, GOLDEN_RELATION, timeout=60)
    certificate = verdict.certificate
    certificate["metadata"] = {"note": "golden test certificate; regenerate with tests/test_certificates.py:write_golden"}
    save_certificate(certificate, GOLDEN)
