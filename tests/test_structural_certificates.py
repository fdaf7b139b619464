"""Certificates of compression chains (fuse-bn, fold-affine, lump): the checker replays every step;
each tampered item is rejected with a reason naming it; the CLI writes, re-checks and exits non-zero
on failure."""

from __future__ import annotations

import copy
from fractions import Fraction

import numpy as np
import pytest
from click.testing import CliRunner

from nnequiv.certificate import load_certificate, save_certificate
from nnequiv.checker import verify
from nnequiv.cli import main
from nnequiv.errors import UsageError
from nnequiv.ir import Node
from nnequiv.onnx_io import canonical_sha256, save_onnx
from nnequiv.passes import get_pass
from nnequiv.passes.pipeline import compress
from nnequiv.spec.box import Box
from nnequiv.summary import summarize
from tests.helpers.pairs import mlp
from tests.test_passes_nets import EXACT_VAR, add_scaled_copy, gemm_bn_net, q, quantized_layers, same_function


def chain_net(seed: int = 40):
    """gemm0 (with a copy scaled by 2) -> relu -> gemm1 -> BN -> relu -> gemm2 -> gemm3."""
    rng = np.random.default_rng(seed)
    layers = add_scaled_copy(quantized_layers(rng, [3, 5, 4, 3]), 0, 1, 2.0, rng)
    base = mlp(layers)
    nodes = list(base.nodes)
    init = dict(base.initializers)
    init.update({"g": q(rng, 4), "beta": q(rng, 4), "mu": q(rng, 4), "var": EXACT_VAR, "w3": q(rng, 2, 3),
                 "b3": q(rng, 2)})
    gemm1 = nodes[2]
    nodes[2] = Node(gemm1.name, "Gemm", gemm1.inputs, ("z1_pre",), dict(gemm1.attrs))
    nodes.insert(3, Node("bn", "BatchNormalization", ("z1_pre", "g", "beta", "mu", "var"), ("z1",),
                         {"epsilon": 0.0625}))
    last = nodes[-1]
    nodes[-1] = Node(last.name, "Gemm", last.inputs, ("pre_out",), dict(last.attrs))
    nodes.append(Node("gemm3", "Gemm", ("pre_out", "w3", "b3"), ("output",), {"transB": 1}))
    outputs = (base.output.__class__(base.output.name, (1, 2), "float64", (0,)),)
    return base.replace(nodes=tuple(nodes), initializers=init, outputs=outputs)


@pytest.fixture(scope="module")
def chain():
    net = chain_net()
    reduced, certificate = compress(net)
    return net, reduced, certificate


def _problems(certificate, f, g):
    report = verify(certificate, f, g)
    assert not report.valid
    return [str(p) for p in report.problems]


def test_the_whole_chain_verifies_and_keeps_the_function(chain):
    net, reduced, certificate = chain
    assert [s["kind"] for s in certificate["steps"]] == ["batchnorm_fold", "affine_fold", "lumping"]
    assert certificate["steps"][0]["from"] == certificate["models"]["original"]["sha256"]
    assert certificate["steps"][-1]["to"] == certificate["models"]["reduced"]["sha256"]
    assert all(a["to"] == b["from"] for a, b in zip(certificate["steps"], certificate["steps"][1:]))
    assert verify(certificate, net, reduced).valid
    assert [n.op for n in reduced.nodes] == ["Gemm", "Relu", "Gemm", "Relu", "Gemm"]
    assert summarize(reduced).neurons == summarize(net).neurons - 1
    same_function(net, reduced, np.random.default_rng(41), exact=True)


def _layer_class(c):
    return c["steps"][2]["layers"][0]["classes"][0]


def _move_member(c):
    _layer_class(c)["members"][0]["neuron"] = 0 if _layer_class(c)["representative"] else 2


def _change_representative(c):
    _layer_class(c)["representative"] = (_layer_class(c)["representative"] + 2) % 5


def _change_rho(c):
    _layer_class(c)["members"][0]["rho"] = str(Fraction(_layer_class(c)["members"][0]["rho"]) * 3 / 2)


def _negative_rho(c):
    _layer_class(c)["members"][0]["rho"] = "-" + _layer_class(c)["members"][0]["rho"]


def _drop_class(c):
    c["steps"][2]["layers"][0]["classes"] = []


def _fold_index(c):
    c["steps"][0]["folds"][0]["into"] = 0


def _short_chain(c):
    c["steps"][1]["chains"][0] = c["steps"][1]["chains"][0][:1]


def _to_hash(c):
    digest = c["steps"][1]["to"]
    c["steps"][1]["to"] = ("0" if digest[0] != "0" else "1") + digest[1:]


def _skip_step(c):
    del c["steps"][1]


TAMPERS = {
    "partition: member moved": (_move_member, "steps/2/layers/0/classes/0"),
    "partition: representative changed": (_change_representative, "steps/2/layers/0/classes/0"),
    "partition: class dropped": (_drop_class, "steps/2/to"),
    "rho": (_change_rho, "steps/2/layers/0/classes/0/members/0"),
    "negative rho": (_negative_rho, "steps/2/layers/0/classes/0/members/0/rho"),
    "fold target": (_fold_index, "steps/0/folds/0"),
    "affine chain": (_short_chain, "steps/1/chains/0"),
    "to hash": (_to_hash, "steps/1/to"),
    "missing step": (_skip_step, "steps/1"),
}


@pytest.mark.parametrize("name", sorted(TAMPERS))
def test_tampered_item_is_rejected_with_its_name(chain, name):
    net, reduced, certificate = chain
    edit, item = TAMPERS[name]
    changed = copy.deepcopy(certificate)
    edit(changed)
    problems = _problems(changed, net, reduced)
    assert any(p.startswith(item) for p in problems), problems


@pytest.mark.parametrize("model", ["original", "reduced"])
def test_changed_weight_of_either_model_is_rejected(chain, model):
    net, reduced, certificate = chain
    target = net if model == "original" else reduced
    name = next(n for n in target.initializers if target.initializers[n].ndim == 2)
    weights = dict(target.initializers)
    weights[name] = np.array(weights[name]) + 2.0 ** -20
    changed = target.replace(initializers=weights)
    pair = (changed, reduced) if model == "original" else (net, changed)
    assert any(p.startswith(f"models/{model}/sha256") for p in _problems(certificate, *pair))


def test_exactness_claim_for_an_epsilon_close_pair_is_rejected():
    """Rows proportional only up to 1e-12: a hand-made lumping step claiming rho = 2 is refused."""
    w0 = np.array([[1.0, -2.0], [2.0, -4.0 * (1 + 1e-12)]])
    net = mlp([(w0, np.array([0.5, 1.0])), (np.array([[1.0, 1.0]]), np.array([0.0]))])
    fake = mlp([(w0[:1], np.array([0.5])), (np.array([[3.0]]), np.array([0.0]))])
    f_hash, g_hash = canonical_sha256(net), canonical_sha256(fake)
    certificate = {
        "schema": "nnequiv/certificate@1",
        "claim": {"verdict": "equivalent", "relation": {"kind": "exact"},
                  "box": Box.uniform(-1, 1, 2).to_json(), "bound": (0.0).hex()},
        "models": {"original": {"sha256": f_hash}, "reduced": {"sha256": g_hash}},
        "steps": [{"kind": "lumping", "from": f_hash, "to": g_hash, "epsilon": (0.0).hex(),
                   "layers": [{"activation": 1, "classes": [
                       {"representative": 0, "members": [{"neuron": 1, "rho": "2"}]}]}]}],
    }
    problems = _problems(certificate, net, fake)
    assert any(p.startswith("steps/0/layers/0/classes/0/members/0") and "not exactly" in p for p in problems)


def test_inexact_fold_claiming_exactness_is_rejected():
    rng = np.random.default_rng(42)
    net = gemm_bn_net(rng, var=rng.uniform(0.5, 2.0, 4), eps=1e-5)
    reduced, certificate = compress(net, ["fuse-bn"], Box.uniform(-1, 1, 3))
    assert verify(certificate, net, reduced).valid
    low = copy.deepcopy(certificate)
    low["steps"][0]["epsilon"] = (0.0).hex()
    assert any(p.startswith("steps/0/epsilon") for p in _problems(low, net, reduced))
    exact = copy.deepcopy(low)
    exact["claim"]["relation"] = {"kind": "exact"}
    exact["claim"]["bound"] = (0.0).hex()
    assert any(p.startswith("steps/0/epsilon") for p in _problems(exact, net, reduced))


def test_unknown_pass_is_a_usage_error():
    with pytest.raises(UsageError):
        get_pass("prune-everything")


def test_cli_compress_writes_checks_and_verifies(tmp_path):
    net = chain_net(43)
    save_onnx(net, tmp_path / "net.onnx")
    runner = CliRunner()
    args = ["compress", str(tmp_path / "net.onnx"), "-o", str(tmp_path / "small.onnx"),
            "--cert", str(tmp_path / "cert.json")]
    result = runner.invoke(main, args, standalone_mode=False)
    assert result.exception is None and result.return_value == 0, result.output
    assert "VALID" in result.output and "lump" in result.output
    ok = runner.invoke(main, ["verify", str(tmp_path / "cert.json"), str(tmp_path / "net.onnx"),
                              str(tmp_path / "small.onnx")], standalone_mode=False)
    assert ok.return_value == 0, ok.output
    certificate = load_certificate(tmp_path / "cert.json")
    _to_hash(certificate)
    save_certificate(certificate, tmp_path / "bad.json")
    bad = runner.invoke(main, ["verify", str(tmp_path / "bad.json"), str(tmp_path / "net.onnx"),
                               str(tmp_path / "small.onnx")], standalone_mode=False)
    assert bad.return_value == 1 and "steps/1/to" in bad.output


def test_cli_compress_with_a_box_certifies_inexact_folds(tmp_path):
    rng = np.random.default_rng(44)
    net = gemm_bn_net(rng, var=rng.uniform(0.5, 2.0, 4), eps=1e-5)
    save_onnx(net, tmp_path / "net.onnx")
    args = ["compress", str(tmp_path / "net.onnx"), "-o", str(tmp_path / "small.onnx"), "--passes", "fuse-bn",
            "--box", "-1:1", "--cert", str(tmp_path / "cert.json")]
    result = CliRunner().invoke(main, args, standalone_mode=False)
    assert result.exception is None and result.return_value == 0, result.output
    assert load_certificate(tmp_path / "cert.json")["claim"]["relation"]["kind"] == "eps"


def test_structural_checkers_import_no_pass_solver_or_search():
    import subprocess
    import sys

    code = ("import sys, nnequiv.checker.structural, nnequiv.checker.rewrites, nnequiv.checker.verification; "
            "bad = [m for m in sys.modules if m.startswith(('nnequiv.solvers', 'nnequiv.engine', "
            "'nnequiv.passes', 'highspy', 'z3'))]; print(bad); assert not bad")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
