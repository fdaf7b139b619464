"""Fuzzing the ONNX loader and the CLI with mutated models (an MLP and a Conv/BatchNormalization/residual
net): structured mutations (wrong dtypes, missing initializers, cycles, huge dims, external data outside
the folder, bad attributes, opsets, NaN weights, ...), seeded random byte flips and truncations.

Outcome: ``nnequiv.loading.load`` returns a Network or raises an ``NnequivError`` (nothing else);
``nnequiv info`` exits 0 when it loads and 3 otherwise with one ``error:`` line naming the file;
``nnequiv check`` exits 0/1/2 or 3, never 4 (internal error); never a traceback; never a hang.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from click.testing import CliRunner

from nnequiv.cli import main
from nnequiv.errors import EXIT_INPUT_ERROR, NnequivError
from nnequiv.loading import load
from nnequiv.onnx_io import save_onnx
from tests.campaign.conv_generator import random_conv_spec
from tests.campaign.conv_spec import conv_network
from tests.helpers.limits import time_limit
from tests.helpers.json_mutations import byte_mutations
from tests.helpers.onnx_mutations import MUTATIONS
from tests.test_certificates import golden_pair

SECONDS = 60                   # per load / CLI run: far above the normal < 2 s, far below a hang
CHECK_ARGS = ["--box", "-0.5:0.5", "--eps", "0.1", "--timeout", "1"]
REFUSED_WITH = {               # mutations that must be refused, with a word of the reason
    "cycle": "cycle", "self_loop": "cycle", "external_outside_relative": "outside",
    "external_absolute": "outside", "external_symlink_outside": "outside", "external_missing_file": "missing",
    "external_negative_offset": "too short", "external_bad_offset": "offset", "external_too_long": "too short",
    "external_nul_in_name": "outside", "missing_initializer": "", "no_nodes": "no nodes",
    "dangling_input": "", "init_dims_huge": "", "input_dims_huge": "",
}


def _cnn():
    spec = random_conv_spec(np.random.default_rng(3), 2, 2, "LeakyRelu", 0.125)
    return conv_network(spec, "cnn")


@pytest.fixture(scope="module")
def bases(tmp_path_factory):
    """name -> (valid ONNX bytes, path of an unmutated copy used as the other model of ``check``)."""
    folder = tmp_path_factory.mktemp("fuzz_onnx_bases")
    out = {}
    for name, net in (("mlp", golden_pair()[0]), ("cnn", _cnn())):
        path = folder / f"{name}.onnx"
        save_onnx(net, path)
        out[name] = (path.read_bytes(), path)
    return out


def _single_error_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    return lines[0]


def _outcome(path: Path, other: Path) -> tuple[bool, str]:
    """Load ``path`` and run ``info`` and ``check`` on it; assert the contract; (loaded, error line)."""
    with time_limit(SECONDS):
        try:
            load(path)
            loaded, message = True, ""
        except NnequivError as exc:
            loaded, message = False, str(exc)
    runner = CliRunner()
    with time_limit(SECONDS):
        info = runner.invoke(main, ["info", str(path)])
    assert "Traceback" not in info.output, info.output
    assert info.exit_code == (0 if loaded else EXIT_INPUT_ERROR), (info.exit_code, info.output, message)
    line = ""
    if not loaded:
        line = _single_error_line(info.stderr)
        assert path.name in line, line
    with time_limit(SECONDS):
        check = runner.invoke(main, ["check", str(path), str(other), *CHECK_ARGS])
    assert "Traceback" not in check.output, check.output
    assert check.exit_code in ((0, 1, 2, EXIT_INPUT_ERROR) if loaded else (EXIT_INPUT_ERROR,)), \
        (check.exit_code, check.output)
    if check.exit_code == EXIT_INPUT_ERROR:
        _single_error_line(check.stderr)
    return loaded, line


@pytest.mark.parametrize("base", ["mlp", "cnn"])
@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_structured_onnx_mutation(bases, tmp_path, base, mutation):
    data, other = bases[base]
    folder = tmp_path / "model"
    folder.mkdir()
    model = onnx.load_from_string(data)
    MUTATIONS[mutation](model, folder)
    path = folder / f"{mutation}.onnx"
    path.write_bytes(model.SerializeToString())
    loaded, line = _outcome(path, other)
    if mutation in REFUSED_WITH:
        assert not loaded, f"{mutation} was accepted"
        assert REFUSED_WITH[mutation] in line, line


@pytest.mark.parametrize("base", ["mlp", "cnn"])
def test_byte_flipped_and_truncated_onnx(bases, tmp_path, base):
    data, other = bases[base]
    refused = 0
    for index, mutation in enumerate(byte_mutations(data, seed=11, count=40)):
        path = tmp_path / f"m{index}.onnx"
        path.write_bytes(mutation.data)
        loaded, _ = _outcome(path, other)
        refused += not loaded
    assert refused > 0          # the mutations reach the error paths, not only harmless bytes


def _cli_command() -> list[str]:
    script = Path(sys.executable).with_name("nnequiv")
    return [str(script)] if script.exists() else [sys.executable, "-c", "from nnequiv.cli import main; main()"]


def test_real_subprocess_check_and_verify_of_bad_files(bases, tmp_path):
    """One real process each: a model with a cycle through ``check``, a truncated certificate through ``verify``."""
    data, other = bases["mlp"]
    model = onnx.load_from_string(data)
    MUTATIONS["cycle"](model, tmp_path)
    bad_model = tmp_path / "cyclic.onnx"
    bad_model.write_bytes(model.SerializeToString())
    proc = subprocess.run([*_cli_command(), "check", str(bad_model), str(other), *CHECK_ARGS],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == EXIT_INPUT_ERROR and "Traceback" not in proc.stderr, proc.stderr
    assert "cyclic.onnx" in _single_error_line(proc.stderr)
    cert = tmp_path / "cut.json"
    cert.write_text('{"schema": "nnequiv/certificate@1", "claim": {"verdict": "equiv')
    proc = subprocess.run([*_cli_command(), "verify", str(cert), str(other), str(other)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == EXIT_INPUT_ERROR and "Traceback" not in proc.stderr, proc.stderr
    assert "cut.json" in _single_error_line(proc.stderr)


@pytest.mark.parametrize("where", ["graph", "node_input"])
def test_regression_names_that_are_not_utf8_are_refused(bases, tmp_path, where):
    """A byte flip left the graph name invalid UTF-8: protobuf returned ``bytes`` and ``info`` crashed
    serialising it (exit 4)."""
    model = onnx.load_from_string(bases["mlp"][0])
    marker = "Zq7marker"
    if where == "graph":
        model.graph.name = marker
    else:
        old = model.graph.node[1].input[0]
        model.graph.node[0].output[0] = model.graph.node[1].input[0] = marker
        assert old != marker
    data = model.SerializeToString().replace(marker.encode(), b"\xe9" + marker.encode()[1:])
    path = tmp_path / "latin1.onnx"
    path.write_bytes(data)
    loaded, line = _outcome(path, bases["mlp"][1])
    assert not loaded and "UTF-8" in line, line
