"""The CLI shell (version, help, exit codes, error handling) and ``nnequiv info`` / summary numbers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner

import nnequiv
from nnequiv.cli import main
from nnequiv.cli.main import NnequivGroup
from nnequiv.summary import summarize
from tests.helpers.models import random_cnn, random_mlp

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
EXAMPLES = SHARED / "verydiff-examples"


def invoke(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, list(args), env=env)


@pytest.fixture
def mlp_file(tmp_path) -> Path:
    from nnequiv.onnx_io import save_onnx

    path = tmp_path / "mlp.onnx"
    save_onnx(random_mlp(np.random.default_rng(0), [4, 8, 8, 2]), path)
    return path


# ----------------------------------------------------------------------------- shell
def test_version():
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"nnequiv {nnequiv.__version__}"


def test_help_lists_commands_without_heavy_imports():
    code = ("import sys\nfrom nnequiv.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit as e:\n    assert e.code == 0, e.code\n"
            "print(sorted(m for m in ('numpy', 'onnx', 'torch', 'rich') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "info" in out.stdout and "Exit codes" in out.stdout
    heavy = out.stdout.strip().splitlines()[-1]
    assert heavy == "[]", f"`nnequiv --help` imported {heavy}: command modules must import them lazily"


@pytest.mark.parametrize("args", [["--bogus"], ["frobnicate"], ["info"], ["info", "a", "b"],
                                  ["info", "--json=3", "x.onnx"]])
def test_usage_errors_exit_3(args):
    result = invoke(*args)
    assert result.exit_code == 3, result.output
    assert "Error:" in result.stderr and "Traceback" not in result.stderr


def test_internal_error_exit_4(monkeypatch, tmp_path):
    import nnequiv.cli.info as info

    def explode(path):
        raise RuntimeError("kaboom\nwith detail")

    monkeypatch.setattr(info, "collect", explode)
    result = invoke("info", str(tmp_path / "x.onnx"), env={"NNEQUIV_DEBUG": ""})
    assert result.exit_code == 4
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("internal error: RuntimeError: kaboom with detail")
    assert "please report" in lines[0] and "NNEQUIV_DEBUG=1" in lines[0]
    result = invoke("info", str(tmp_path / "x.onnx"), env={"NNEQUIV_DEBUG": "1"})
    assert result.exit_code == 4
    assert "Traceback" in result.stderr and "kaboom" in result.stderr


def test_command_return_value_is_exit_code():
    group = NnequivGroup("t")

    @group.command("verdict")
    @click.argument("code", type=int)
    def verdict(code: int) -> int:
        return code

    @group.command("fails")
    def fails() -> None:
        raise nnequiv.NnequivError("bad box", file="spec.vnnlib", fix="widen it")

    for code in (0, 1, 2):
        assert CliRunner().invoke(group, ["verdict", str(code)]).exit_code == code
    result = CliRunner().invoke(group, ["fails"])
    assert result.exit_code == 3
    assert result.stderr == "error: spec.vnnlib: bad box (widen it)\n"


# ----------------------------------------------------------------------------- summary numbers
def test_summary_of_mlp():
    summary = summarize(random_mlp(np.random.default_rng(0), [4, 8, 8, 2]))
    assert summary.layer_count == 3 and summary.nodes == 5
    assert summary.neurons == 16                       # the two hidden layers
    assert summary.parameters == 4 * 8 + 8 + 8 * 8 + 8 + 8 * 2 + 2
    assert summary.flops == (2 * 4 * 8 + 8) + (2 * 8 * 8 + 8) + (2 * 8 * 2 + 2)
    gemm = summary.layers[0]
    assert (gemm.op, gemm.output_shape, gemm.neurons, gemm.parameters, gemm.activation) == \
        ("Gemm", (1, 8), 8, 40, "Relu")
    assert summary.layers[-1].activation is None
    data = json.loads(summary.to_json())
    assert data == summary.to_dict() and data["inputs"] == [{"name": "input", "shape": [1, 4], "dtype": "float32"}]


def test_summary_of_residual_cnn():
    summary = summarize(random_cnn(np.random.default_rng(0), image=(1, 6, 6), channels=3, classes=4))
    rows = {r.name: r for r in summary.layers}
    assert rows["conv1"].output_shape == (1, 3, 6, 6) and rows["conv1"].activation == "Relu"
    assert rows["conv2"].activation == "Relu"          # through BatchNorm and the residual Add
    assert rows["bn1"].parameters == 12 and rows["bn1"].neurons == 0
    assert summary.neurons == 2 * 3 * 36
    assert summary.parameters == 30 + 12 + 84 + 12 + 436
    assert summary.flops == (2 * 9 * 108 + 108) + (2 * 27 * 108 + 108) + (2 * 108 * 4 + 4)


# ----------------------------------------------------------------------------- info
def test_info_json_on_mlp(mlp_file):
    from nnequiv.onnx_io import canonical_sha256, load_onnx

    result = invoke("info", str(mlp_file), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["file"] == str(mlp_file) and data["format"] == "onnx"
    assert data["sha256"] == canonical_sha256(load_onnx(mlp_file))
    assert len(data["sha256"]) == 64
    assert [i["shape"] for i in data["inputs"]] == [[1, 4]] and [o["shape"] for o in data["outputs"]] == [[1, 2]]
    assert (data["layer_count"], data["neurons"], data["parameters"]) == (3, 16, 130)
    assert [row["op"] for row in data["layers"]] == ["Gemm", "Relu", "Gemm", "Relu", "Gemm"]


def test_info_human_on_mlp(mlp_file):
    result = invoke("info", str(mlp_file))
    assert result.exit_code == 0, result.output
    text = result.stdout
    for needle in ("sha256", "Gemm", "Relu", "16 hidden neurons", "130 parameters", "input", "output"):
        assert needle in text, needle
    assert result.stderr == ""


def test_info_on_nnet(tmp_path):
    from nnequiv.nnet_io import save_nnet

    path = tmp_path / "net.NNET"  # extension case does not matter
    net = random_mlp(np.random.default_rng(3), [3, 5, 2], input_mean=[0, 1, 2], input_range=[1, 2, 3])
    save_nnet(net, path, input_min=-1, input_max=1)
    data = json.loads(invoke("info", "--json", str(path)).stdout)
    assert data["format"] == "nnet" and data["neurons"] == 5
    assert data["nnet"]["input_min"] == [-1.0] * 3 and "not modelled" in data["nnet"]["note"]
    human = invoke("info", str(path))
    assert human.exit_code == 0 and "not modelled" in human.stdout


SHARED_CASES = {
    "ACASXU_run2a_1_1_batch_2000.onnx": (5, 5, 300, 13305),
    "ACASXU_run2a_1_1_batch_2000_pruned5.onnx": (5, 5, 300, 13305),
    "mnist_relu_3_100.onnx": (784, 10, 210, 89720),     # 784 -> 100 -> 100 -> 10 (Relu) -> 10
    "mnist_relu_3_100_pruned5.onnx": (784, 10, 210, 89720),
    "2_80-1.onnx": (16, 5, 80, 2525),
    "2_80-1-0.1.onnx": (16, 5, 80, 2525),
}


@pytest.mark.shared_data
@pytest.mark.parametrize("name", sorted(SHARED_CASES))
def test_info_json_on_shared_models(name):
    path = EXAMPLES / name
    if not path.exists():
        pytest.skip(f"shared data not found: {path} (clone ../shared beside the repository)")
    from nnequiv.onnx_io import canonical_sha256

    n_in, n_out, neurons, parameters = SHARED_CASES[name]
    result = invoke("info", "--json", str(path))
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert int(np.prod(data["inputs"][0]["shape"])) == n_in
    assert int(np.prod(data["outputs"][0]["shape"])) == n_out
    assert (data["neurons"], data["parameters"]) == (neurons, parameters)
    assert data["sha256"] == canonical_sha256(path)
    assert data["flops"] > 2 * parameters - 4 * neurons


@pytest.mark.shared_data
def test_pruned_models_hash_differently():
    pairs = [("ACASXU_run2a_1_1_batch_2000.onnx", "ACASXU_run2a_1_1_batch_2000_pruned5.onnx"),
             ("2_80-1.onnx", "2_80-1-0.1.onnx")]
    if not EXAMPLES.exists():
        pytest.skip(f"shared data not found: {EXAMPLES}")
    for a, b in pairs:
        ha, hb = (json.loads(invoke("info", "--json", str(EXAMPLES / n)).stdout)["sha256"] for n in (a, b))
        assert ha != hb
