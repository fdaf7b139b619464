"""The pytest plugin (``nnequiv_check``, certificates, summary, options) and ``nnequiv.testing``.

The plugin tests run small test suites with ``pytester`` on tiny MLPs (3 inputs, box
[-1, 1]) whose ONNX files are written here.  Undecided checks are simulated with a
stubbed engine so they do not depend on how strong the engine is.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nnequiv.ir import Network, Node
from nnequiv.onnx_io import save_onnx
from nnequiv.spec.box import Box
from nnequiv.spec.relation import Relation
from nnequiv.testing import (CheckResult, EquivalenceUnknownError, NotEquivalentError, assert_equivalent)
from nnequiv.testing_cache import certificate_path, write_atomic
from tests.helpers.models import random_mlp

pytest_plugins = ["pytester"]

# pytester's in-process runs drop the modules they import from sys.modules afterwards: keep the
# heavy ones imported out here (hypothesis's plugin imports hypothesis in every terminal summary,
# ~1.5 s; the engine imports onnxruntime for its float32 replay)
pytest.importorskip("hypothesis")
pytest.importorskip("onnxruntime")
SUBPROCESS = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest")  # lighter pytest subprocesses

REPO = Path(__file__).resolve().parents[1]
VNNLIB_EPS = REPO / "tests" / "data" / "vnnlib2" / "eps_query.vnnlib"  # 3 inputs, 2 outputs, eps 0.05


# ------------------------------------------------------------------------------ model pairs
def relaid(net: Network, name: str = "relaid") -> Network:
    """The same function with every Gemm weight stored transposed (transB=0): a different file."""
    init, nodes = dict(net.initializers), []
    for node in net.nodes:
        if node.op == "Gemm":
            init[node.inputs[1]] = np.ascontiguousarray(init[node.inputs[1]].T)
            node = Node(node.name, node.op, node.inputs, node.outputs, {**node.attrs, "transB": 0})
        nodes.append(node)
    return net.replace(initializers=init, nodes=tuple(nodes), name=name)


def shifted(net: Network, delta: float, name: str = "shifted") -> Network:
    """The output bias moved by ``delta``: deviation exactly |delta| (in float32) everywhere."""
    init = dict(net.initializers)
    last = max(k for k in init if k.startswith("b"))
    init[last] = (init[last] + np.float32(delta)).astype(np.float32)
    return net.replace(initializers=init, name=name)


def original(widths=(3, 6, 3), seed=0) -> Network:
    return random_mlp(np.random.default_rng(seed), list(widths))


def write_models(directory: Path) -> None:
    f = original()
    for name, net in {"f": f, "f_relaid": relaid(f), "f_close": shifted(f, 1e-3),
                      "f_close2": shifted(f, 2e-3, "shifted2"), "f_far": shifted(f, 0.1, "far")}.items():
        save_onnx(net, directory / f"{name}.onnx")


SUITE = """
    import onnx
    import nnequiv

    def test_relaid_is_exact(nnequiv_check):
        nnequiv_check("f.onnx", "f_relaid.onnx", (-1.0, 1.0), exact=True)

    def test_close_within_eps(nnequiv_check):
        nnequiv_check(nnequiv.load("f.onnx"), onnx.load("f_close.onnx"), (-1.0, 1.0), eps=1e-2)
"""

FAILING = """
    import onnx

    def test_far(nnequiv_check):
        nnequiv_check(onnx.load("f.onnx"), onnx.load("f_far.onnx"), (-1.0, 1.0), eps=1e-2)
"""

UNDECIDED_CONFTEST = """
    import pytest
    import nnequiv.engine.check as engine
    from nnequiv.engine.verdict import Verdict

    @pytest.fixture(autouse=True)
    def undecided(monkeypatch):
        def check(original, reduced, box, relation, timeout=60.0, seed=0, progress=None):
            return Verdict("unknown", relation.to_json(), lower=0.004, upper=0.02, counterexample=None,
                           time_s=timeout, stats={})
        monkeypatch.setattr(engine, "check", check)
"""


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    write_models(pytester.path)
    return pytester


def summary(result: pytest.RunResult) -> str:
    text = result.stdout.str()
    assert "nnequiv equivalence checks" in text, text
    return text[text.index("nnequiv equivalence checks"):]


def cert_files(root: Path) -> list[Path]:
    return sorted(p for p in (root / ".nnequiv" / "certificates").rglob("*.json"))


# ------------------------------------------------------------------------------ plugin basics
def test_importing_the_plugin_is_cheap():
    code = ("import sys, nnequiv.pytest_plugin, nnequiv.testing, nnequiv.testing_cache; "
            "heavy = [m for m in ('numpy', 'onnx', 'onnxruntime', 'torch') if m in sys.modules]; "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_options_and_marker_are_registered(pytester: pytest.Pytester):
    help_text = pytester.runpytest("--help").stdout.str()
    for option in ("--nnequiv-cert-dir", "--nnequiv-update-certificates", "--nnequiv-unknown",
                   "--nnequiv-timeout", "--nnequiv-report"):
        assert option in help_text
    assert "neural network equivalence (nnequiv)" in help_text
    pytester.runpytest("--markers").stdout.fnmatch_lines(["@pytest.mark.nnequiv(timeout=None, seed=None, *"])


def test_no_summary_without_checks(pytester: pytest.Pytester):
    pytester.makepyfile("def test_plain():\n    assert True\n")
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    assert "nnequiv equivalence checks" not in result.stdout.str()


# ------------------------------------------------------------------------------ proofs and the cache
def test_equivalent_pairs_pass_and_certificates_are_reverified(suite: pytest.Pytester):
    suite.makepyfile(test_models=SUITE)
    first = suite.runpytest()
    first.assert_outcomes(passed=2)
    text = summary(first)
    assert "proved       test_models.py::test_relaid_is_exact" in text
    assert "proved       test_models.py::test_close_within_eps" in text
    assert "2 proved, 0 re-verified, 0 failed, 0 unknown" in text
    files = cert_files(suite.path)
    assert [p.name for p in files] == ["test_close_within_eps.json", "test_relaid_is_exact.json"]
    assert all(p.parent.name == "test_models.py" for p in files)

    second = suite.runpytest()
    second.assert_outcomes(passed=2)
    text = summary(second)
    assert "re-verified  test_models.py::test_relaid_is_exact" in text
    assert "0 proved, 2 re-verified, 0 failed, 0 unknown" in text


def test_stored_certificate_is_an_ordinary_certificate(suite: pytest.Pytester):
    from nnequiv.checker import verify
    from nnequiv.loading import load

    suite.makepyfile(test_models=SUITE)
    suite.runpytest().assert_outcomes(passed=2)
    path = suite.path / ".nnequiv/certificates/test_models.py/test_relaid_is_exact.json"
    document = json.loads(path.read_text())
    assert document["metadata"]["pytest"] == {"node": "test_models.py::test_relaid_is_exact", "check": 1}
    assert document["models"]["original"]["name"] == "f.onnx"
    assert verify(document, load(suite.path / "f.onnx"), load(suite.path / "f_relaid.onnx")).valid


def test_changing_a_model_invalidates_its_certificate(suite: pytest.Pytester):
    suite.makepyfile(test_models=SUITE)
    suite.runpytest().assert_outcomes(passed=2)
    shutil.copy(suite.path / "f_close2.onnx", suite.path / "f_close.onnx")
    result = suite.runpytest()
    result.assert_outcomes(passed=2)
    text = summary(result)
    assert "proved       test_models.py::test_close_within_eps" in text
    assert "re-proved: reduced model changed" in text
    assert "re-verified  test_models.py::test_relaid_is_exact" in text


def test_changing_the_relation_invalidates_the_certificate(suite: pytest.Pytester):
    suite.makepyfile(test_models=SUITE)
    suite.runpytest().assert_outcomes(passed=2)
    suite.makepyfile(test_models=SUITE.replace("eps=1e-2", "eps=2e-2"))
    text = summary(suite.runpytest())
    assert "re-proved: relation changed" in text


def test_tampered_certificate_is_rejected_and_reproved(suite: pytest.Pytester):
    suite.makepyfile(test_models=SUITE)
    suite.runpytest().assert_outcomes(passed=2)
    path = suite.path / ".nnequiv/certificates/test_models.py/test_close_within_eps.json"
    document = json.loads(path.read_text())
    document["claim"]["bound"] = (1e-6).hex()  # claims more than the evidence shows
    document["steps"][0]["epsilon"] = (1e-6).hex()
    path.write_text(json.dumps(document))
    text = summary(suite.runpytest())
    assert "re-proved: certificate rejected by the checker" in text
    assert json.loads(path.read_text())["claim"]["bound"] != (1e-6).hex()


def test_update_certificates_reproves_and_rewrites(suite: pytest.Pytester):
    suite.makepyfile(test_models=SUITE)
    suite.runpytest().assert_outcomes(passed=2)
    path = suite.path / ".nnequiv/certificates/test_models.py/test_relaid_is_exact.json"
    before = path.stat().st_ino, path.read_text()
    result = suite.runpytest("--nnequiv-update-certificates")
    result.assert_outcomes(passed=2)
    text = summary(result)
    assert "2 proved, 0 re-verified" in text
    assert "certificate updated" in text
    assert path.stat().st_ino != before[0]  # replaced, not edited in place
    assert json.loads(path.read_text())["models"] == json.loads(before[1])["models"]


def test_cert_dir_option(suite: pytest.Pytester):
    suite.makepyfile(test_models=SUITE)
    suite.runpytest("--nnequiv-cert-dir", "proofs").assert_outcomes(passed=2)
    assert not (suite.path / ".nnequiv").exists()
    assert (suite.path / "proofs/test_models.py/test_relaid_is_exact.json").is_file()


def test_several_checks_in_one_test_get_one_file_each(suite: pytest.Pytester):
    suite.makepyfile(test_two="""
        def test_two(nnequiv_check):
            nnequiv_check("f.onnx", "f_relaid.onnx", (-1.0, 1.0), exact=True)
            nnequiv_check("f.onnx", "f_close.onnx", (-1.0, 1.0), eps=1e-2)
    """)
    suite.runpytest().assert_outcomes(passed=1)
    assert [p.name for p in cert_files(suite.path)] == ["test_two.2.json", "test_two.json"]
    assert "0 proved, 2 re-verified" in summary(suite.runpytest())


# ------------------------------------------------------------------------------ failures
def test_failing_pair_reports_the_counterexample_and_a_working_command(suite: pytest.Pytester):
    suite.makepyfile(test_far=FAILING)
    result = suite.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "E *NotEquivalentError: NOT EQUIVALENT: max_i |f_i(x) - g_i(x)| <= 0.01 over all outputs*",
        "E *box        [[]-1, 1] for each of 3 inputs",
        "E *counterexample (replayed in exact arithmetic):",
        "E *input      [[]*, *, *[]]",
        "E *original   [[]*, *, *[]]",
        "E *reduced    [[]*, *, *[]]",
        "E *deviation  0.1 > eps 0.01, largest at output *: original *, reduced *",
        "E *reproduce:",
        "E *nnequiv check .nnequiv/certificates/models/*.onnx .nnequiv/certificates/models/far-*.onnx "
        "--box -1.0:1.0 --eps 0.01",
    ])
    text = summary(result)
    assert "failed       test_far.py::test_far" in text and "deviation 0.1 > eps 0.01" in text
    assert not list((suite.path / ".nnequiv/certificates").glob("test_far.py/*"))  # no proof, no certificate
    command = next(line for line in result.stdout.lines if "nnequiv check " in line).split("nnequiv check ")[1]
    run = subprocess.run([sys.executable, "-c", "from nnequiv.cli import main; main()", "check",
                          *command.split(), "--json"], cwd=suite.path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stderr
    assert json.loads(run.stdout)["verdict"] == "not_equivalent"


def test_expected_failure_with_xfail(suite: pytest.Pytester):
    suite.makepyfile(test_far="""
        import pytest
        from nnequiv.testing import NotEquivalentError

        @pytest.mark.xfail(raises=NotEquivalentError, strict=True)
        def test_far(nnequiv_check):
            nnequiv_check("f.onnx", "f_far.onnx", (-1.0, 1.0), eps=1e-2)
    """)
    suite.runpytest().assert_outcomes(xfailed=1)


@pytest.mark.parametrize("policy, outcome", [("fail", "failed"), ("skip", "skipped"), ("xfail", "xfailed")])
def test_unknown_policy(suite: pytest.Pytester, policy, outcome):
    suite.makeconftest(UNDECIDED_CONFTEST)
    suite.makepyfile(test_slow=SUITE)
    args = [] if policy == "fail" else [f"--nnequiv-unknown={policy}"]
    result = suite.runpytest("-rsx", *args)
    result.assert_outcomes(**{outcome: 2})
    text = result.stdout.str()
    if policy == "fail":
        result.stdout.fnmatch_lines(["E *EquivalenceUnknownError: EQUIVALENCE UNKNOWN: f_i(x) = g_i(x) exactly*",
                                     "E *max deviation: proved <= 0.02, reached >= 0.004, needed <= 0 (exact)",
                                     "E *reproduce:", "E *nnequiv check f.onnx f_relaid.onnx --box -1.0:1.0 --exact",
                                     "E *EquivalenceUnknownError: EQUIVALENCE UNKNOWN: max_i |f_i(x) - g_i(x)|*",
                                     "E *max deviation: proved <= 0.02, reached >= 0.004, needed <= 0.01"])
    else:
        assert "nnequiv: equivalence unknown (eps 0.01; proved <= 0.02, reached >= 0.004)" in text
    assert "0 proved, 0 re-verified, 0 failed, 2 unknown" in summary(result)
    assert not cert_files(suite.path)


def test_marker_sets_timeout_and_unknown_policy(suite: pytest.Pytester):
    suite.makeconftest(UNDECIDED_CONFTEST)
    suite.makepyfile(test_marked="""
        import pytest

        @pytest.mark.nnequiv(timeout=0.5, unknown="xfail")
        def test_marked(nnequiv_check):
            nnequiv_check("f.onnx", "f_relaid.onnx", (-1.0, 1.0), exact=True)

        @pytest.mark.nnequiv(timeout=2.5)
        def test_timeout_only(nnequiv_check):
            nnequiv_check("f.onnx", "f_relaid.onnx", (-1.0, 1.0), exact=True)

        @pytest.mark.nnequiv(timeot=1)
        def test_typo(nnequiv_check):
            pass
    """)
    result = suite.runpytest("--nnequiv-timeout", "7")
    result.assert_outcomes(xfailed=1, failed=1, errors=1)
    text = result.stdout.str()
    assert "undecided after 2.50 s (timeout 2.5 s)" in text
    assert "--exact --timeout 2.5" in text
    assert "@pytest.mark.nnequiv got unexpected argument(s) timeot" in text


def test_timeout_option_is_the_default(suite: pytest.Pytester):
    suite.makeconftest(UNDECIDED_CONFTEST)
    suite.makepyfile(test_slow=SUITE)
    result = suite.runpytest("--nnequiv-timeout", "3")
    assert "undecided after 3.00 s (timeout 3 s)" in result.stdout.str()


# ------------------------------------------------------------------------------ xdist, torch, reports
def test_xdist_workers(suite: pytest.Pytester):
    pytest.importorskip("xdist")
    suite.makepyfile(test_models=SUITE, test_more="""
        def test_relaid_again(nnequiv_check):
            nnequiv_check("f_relaid.onnx", "f.onnx", (-0.5, 0.5), exact=True)

        def test_close_again(nnequiv_check):
            nnequiv_check("f.onnx", "f_close2.onnx", (-0.5, 0.5), eps=1e-2)
    """)
    first = suite.runpytest_subprocess("-n", "2", *SUBPROCESS)
    first.assert_outcomes(passed=4)
    assert "4 proved, 0 re-verified, 0 failed, 0 unknown" in summary(first)
    assert len(cert_files(suite.path)) == 4
    second = suite.runpytest_subprocess("-n", "2", *SUBPROCESS)
    second.assert_outcomes(passed=4)
    assert "0 proved, 4 re-verified, 0 failed, 0 unknown" in summary(second)
    leftovers = [p for p in (suite.path / ".nnequiv").rglob("*") if p.name.endswith(".tmp")]
    assert not leftovers


@pytest.mark.torch
def test_torch_modules(tmp_path):
    """Run in this process: an in-process pytester run would drop torch from sys.modules."""
    torch = pytest.importorskip("torch")
    from nnequiv.errors import UsageError
    from nnequiv.testing import EquivalenceChecker
    from tests.helpers.models import torch_mlp

    f = torch_mlp([3, 6, 2], seed=0)
    g = torch_mlp([3, 6, 2], seed=0)
    with torch.no_grad():
        g[2].bias += 1e-3
    seen = []
    checker = EquivalenceChecker(name="t.py::test_torch", cert_dir=tmp_path, on_result=seen.append)
    result = checker(f, g, (-1.0, 1.0), eps=1e-2, example_input=torch.zeros(1, 3))
    assert result.outcome == "proved" and seen == [result]
    assert (tmp_path / "t.py" / "test_torch.json").is_file()
    with pytest.raises(UsageError, match="example_input"):
        checker(f, g, (-1.0, 1.0), eps=1e-2)


def test_report_dir(suite: pytest.Pytester):
    suite.makepyfile(test_models=SUITE, test_far=FAILING)
    result = suite.runpytest("--nnequiv-report", "audit")
    result.assert_outcomes(passed=2, failed=1)
    written = sorted(p.relative_to(suite.path / "audit").as_posix()
                     for p in (suite.path / "audit").rglob("*") if p.is_file())
    reports = [p for p in written if not p.startswith("models/")]
    assert any(p.startswith("test_models.py/test_relaid_is_exact.") for p in reports), written
    assert any(p.startswith("test_far.py/test_far.") for p in reports), written
    assert any(p.startswith("models/") for p in written)  # the failing pair's models, for the command
    assert "nnequiv check audit/models/" in result.stdout.str()


def test_report_without_the_report_package(tmp_path, monkeypatch):
    """Without nnequiv.report the verdict and the certificate are written as JSON."""
    monkeypatch.setitem(sys.modules, "nnequiv.report", None)  # makes the import fail
    f = original()
    assert_equivalent(f, shifted(f, 1e-3), (-1.0, 1.0), eps=1e-2, report_dir=tmp_path, name="t.py::test_r")
    verdict = json.loads((tmp_path / "t.py" / "test_r.verdict.json").read_text())
    assert verdict["verdict"] == "equivalent"
    certificate = json.loads((tmp_path / "t.py" / "test_r.certificate.json").read_text())
    assert certificate["schema"] == "nnequiv/certificate@1"


def test_quiet_summary_lists_only_problems(suite: pytest.Pytester):
    suite.makepyfile(test_models=SUITE, test_far=FAILING)
    text = summary(suite.runpytest("-qq"))
    assert "test_far.py::test_far" in text and "test_relaid_is_exact" not in text
    assert "2 proved, 0 re-verified, 1 failed, 0 unknown" in text


def test_error_pickles():
    import pickle

    error = pickle.loads(pickle.dumps(NotEquivalentError("message", None, "nnequiv check a b")))
    assert str(error) == "message" and isinstance(error, AssertionError)


def test_example_suite_runs(pytester: pytest.Pytester):
    """examples/pytest_demo as a user would run it: two proofs and one expected failure."""
    example = REPO / "examples" / "pytest_demo"
    for item in example.iterdir():
        if item.suffix == ".py":
            shutil.copy(item, pytester.path / item.name)
    result = pytester.runpytest_subprocess(*SUBPROCESS)
    result.assert_outcomes(passed=2, xfailed=1)
    text = summary(result)
    assert "2 proved" in text and "1 failed" in text


# ------------------------------------------------------------------------------ nnequiv.testing directly
def test_assert_equivalent_accepts_every_box_form(tmp_path):
    f = original()
    g = shifted(f, 1e-3)
    lower, upper = np.full((1, 3), -1.0), np.full((1, 3), 1.0)
    for box in ((-1.0, 1.0), (-1, 1), (lower, upper), (-1.0, upper), Box.uniform(-1.0, 1.0, 3),
                Box.uniform(-1.0, 1.0, 1)):
        result = assert_equivalent(f, g, box, eps=1e-2, timeout=30)
        assert isinstance(result, CheckResult) and result.outcome == "proved"
        assert result.box == Box.uniform(-1.0, 1.0, 3)
    box_file = tmp_path / "box.json"
    box_file.write_text(json.dumps({"lower": -1, "upper": 1}))
    assert assert_equivalent(f, g, box_file, eps=1e-2).box == Box.uniform(-1.0, 1.0, 3)


def test_assert_equivalent_takes_box_and_relation_from_vnnlib(tmp_path):
    f = original((3, 6, 2), seed=4)
    save_onnx(f, tmp_path / "f.onnx")
    save_onnx(shifted(f, 1e-2), tmp_path / "g.onnx")
    result = assert_equivalent(tmp_path / "f.onnx", tmp_path / "g.onnx", VNNLIB_EPS)
    assert result.relation.kind == "eps" and 0.0499 < result.relation.eps <= 0.05
    with pytest.raises(NotEquivalentError) as info:
        assert_equivalent(tmp_path / "f.onnx", str(tmp_path / "g.onnx"), str(VNNLIB_EPS), eps=1e-3)
    assert f"--vnnlib {VNNLIB_EPS}" in info.value.command and "--eps 0.001" in info.value.command


def test_not_equivalent_message_shortens_long_inputs(tmp_path):
    f = random_mlp(np.random.default_rng(5), [20, 4, 2])
    with pytest.raises(NotEquivalentError) as info:
        assert_equivalent(f, shifted(f, 0.5), (-0.5, 0.25), eps=0.1, cert_dir=tmp_path)
    error = info.value
    assert isinstance(error, AssertionError)
    message = str(error)
    assert "(20 values, shape (1, 20), min " in message
    assert "[-0.5, 0.25] for each of 20 inputs" in message
    assert "deviation  0.5 > eps 0.1" in message
    assert error.result.outcome == "not_equivalent" and error.result.verdict.counterexample is not None
    # in-memory models were saved so the command can be run
    assert error.command.startswith("nnequiv check ") and str(tmp_path) in error.command
    assert len(list((tmp_path / "models").glob("*.onnx"))) == 2


def test_non_uniform_box_goes_to_a_box_file(tmp_path):
    f = original()
    box = Box.of([-1.0, -0.5, 0.0], [1.0, 0.5, 0.25])
    with pytest.raises(NotEquivalentError) as info:
        assert_equivalent(f, shifted(f, 0.1), box, eps=1e-2, report_dir=tmp_path)
    command = info.value.command
    assert "--box-file " in command
    box_file = Path(command.split("--box-file ")[1].split()[0])
    assert Box.from_json(box_file.read_text()) == box


def test_top1_and_exact_messages():
    f = original()
    far = shifted(f, 0.1)
    with pytest.raises(NotEquivalentError, match=r"deviation  0\.1 > 0 \(exact equality\)") as info:
        assert_equivalent(f, far, (-1.0, 1.0), exact=True)
    assert "--exact" in info.value.command
    flipped = f.replace(initializers={**f.initializers, "b2": -np.asarray(f.initializers["b2"]) * 10})
    with pytest.raises(NotEquivalentError, match=r"top-1      original picks output \d+ .*reduced picks output \d+"):
        assert_equivalent(f, flipped, (-1.0, 1.0), top1=True, outputs=[0, 1, 2])


def test_certificate_reuse_outside_pytest(tmp_path):
    f = original()
    results = [assert_equivalent(f, relaid(f), (-1.0, 1.0), exact=True, cert_dir=tmp_path) for _ in range(2)]
    assert [r.outcome for r in results] == ["proved", "re-verified"]
    assert results[0].certificate_path == results[1].certificate_path
    assert results[0].certificate_path.name.startswith("check-")


def test_usage_errors():
    from nnequiv.errors import ShapeError, UsageError

    f = original()
    with pytest.raises(UsageError, match="choose one relation"):
        assert_equivalent(f, f, (-1.0, 1.0), eps=0.1, exact=True)
    with pytest.raises(UsageError, match="no input box"):
        assert_equivalent(f, f, eps=0.1)
    with pytest.raises(UsageError, match="the reduced model must be"):
        assert_equivalent(f, 42, (-1.0, 1.0), eps=0.1)
    with pytest.raises(UsageError, match="unknown= must be one of"):
        assert_equivalent(f, f, (-1.0, 1.0), unknown="ignore")
    with pytest.raises(ShapeError, match="the box has 2 bounds"):
        assert_equivalent(f, f, ([-1.0, -1.0], [1.0, 1.0]), eps=0.1)


def test_unknown_error_carries_the_bounds(monkeypatch):
    import nnequiv.engine.check as engine
    from nnequiv.engine.verdict import Verdict

    monkeypatch.setattr(engine, "check", lambda f, g, box, relation, timeout, seed: Verdict(
        "unknown", relation.to_json(), lower=0.001, upper=0.5, counterexample=None, time_s=0.1, stats={}))
    f = original()
    with pytest.raises(EquivalenceUnknownError, match=r"proved <= 0\.5, reached >= 0\.001, needed <= 0\.01"):
        assert_equivalent(f, f, (-1.0, 1.0), eps=0.01, timeout=0.1)


# ------------------------------------------------------------------------------ files
def test_certificate_paths_are_safe_and_distinct(tmp_path):
    plain = certificate_path(tmp_path, "tests/test_a.py::TestX::test_y[1-2]")
    assert plain == tmp_path / "tests" / "test_a.py" / "TestX.test_y[1-2].json"
    assert certificate_path(tmp_path, "tests/test_a.py::test_y", 2).name == "test_y.3.json"
    odd = [certificate_path(tmp_path, f"../t.py::test[{p}]") for p in ("a/b", "a:b", "a b", "a_b")]
    assert len(set(odd)) == 4
    for path in odd:
        assert path.parent == tmp_path / "t.py" and "/" not in path.name and ":" not in path.name
    long = certificate_path(tmp_path, "t.py::test[" + "x" * 500 + "]")
    assert len(long.name) <= 110


def test_write_atomic_replaces_and_cleans_up(tmp_path):
    target = tmp_path / "deep" / "file.json"
    write_atomic(target, "one")
    inode = target.stat().st_ino
    write_atomic(target, b"two")
    assert target.read_text() == "two" and target.stat().st_ino != inode
    assert os.listdir(target.parent) == ["file.json"]


def test_relation_object_and_outputs():
    f = original()
    result = assert_equivalent(f, shifted(f, 1e-3), (-1.0, 1.0), relation=Relation.epsilon(1e-2, [0, 2]))
    assert result.relation.outputs == (0, 2)
    assert "eps 0.01 on outputs 0,2" in result.detail()


def test_fixture_is_listed(pytester: pytest.Pytester):
    pytester.runpytest("--fixtures").stdout.fnmatch_lines(["nnequiv_check*", "*Assert that two models are equivalent*"])
