"""Every bad input gives one clear ``error: ...`` line on stderr and exit code 3, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Callable

import numpy as np
import onnx
import pytest
from click.testing import CliRunner

from nnequiv.cli import main
from nnequiv.errors import EXIT_INPUT_ERROR, ModelFormatError
from nnequiv.loading import load
from tests.helpers.models import onnx_model

UNSUPPORTED = ("Sin", "Cos")  # two real ONNX ops nnequiv does not handle


def _valid_model() -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    return onnx_model([("Gemm", ("x", "w", "b"), ("h",), {"transB": 1}), ("Relu", ("h",), ("y",))],
                      inputs={"x": ["N", 20]}, outputs={"y": ["N", 30]},
                      initializers={"w": rng.normal(size=(30, 20)).astype(np.float32),
                                    "b": np.zeros(30, np.float32)})


def _write(path: Path, model: onnx.ModelProto) -> None:
    path.write_bytes(model.SerializeToString())


def make_missing(tmp: Path) -> Path:
    return tmp / "missing.onnx"


def make_garbage(tmp: Path) -> Path:
    path = tmp / "garbage.onnx"
    path.write_bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    return path


def make_empty(tmp: Path) -> Path:
    path = tmp / "empty.onnx"
    path.write_bytes(b"")
    return path


def make_truncated(tmp: Path) -> Path:
    path = tmp / "truncated.onnx"
    data = _valid_model().SerializeToString()
    path.write_bytes(data[: len(data) // 2])
    return path


def make_cyclic(tmp: Path) -> Path:
    path = tmp / "cyclic.onnx"
    _write(path, onnx_model([("Add", ("x", "t2"), ("t1",)), ("Relu", ("t1",), ("t2",))],
                            inputs={"x": ["N", 3]}, outputs={"t2": ["N", 3]}))
    return path


def make_shape_mismatch(tmp: Path) -> Path:
    path = tmp / "shape.onnx"
    _write(path, onnx_model([("Gemm", ("x", "w", "b"), ("y",), {"transB": 1})],
                            inputs={"x": ["N", 4]}, outputs={"y": ["N", 3]},
                            initializers={"w": np.ones((3, 5), np.float32), "b": np.zeros(3, np.float32)}))
    return path


def make_unsupported(tmp: Path) -> Path:
    path = tmp / "unsupported.onnx"
    _write(path, onnx_model([(UNSUPPORTED[0], ("x",), ("a",)), ("Relu", ("a",), ("b",)),
                             (UNSUPPORTED[1], ("b",), ("y",))],
                            inputs={"x": ["N", 3]}, outputs={"y": ["N", 3]}))
    return path


def make_unknown_extension(tmp: Path) -> Path:
    path = tmp / "model.pt"
    path.write_bytes(b"\x80\x02torch")
    return path


def make_no_extension(tmp: Path) -> Path:
    path = tmp / "model"
    _write(path, _valid_model())
    return path


def make_directory(tmp: Path) -> Path:
    path = tmp / "folder.onnx"
    path.mkdir()
    return path


def make_bad_nnet(tmp: Path) -> Path:
    path = tmp / "bad.nnet"
    path.write_text("1,2,1,2,\n2,1,\n0,\n0,0,\n1,1,\n0,0,0,\n1,1,1,\n0.5,zero,\n0.0,\n")
    return path


# (factory, substrings the single error line must contain)
CASES: dict[str, tuple[Callable[[Path], Path], tuple[str, ...]]] = {
    "missing": (make_missing, ("missing.onnx", "no such file")),
    "garbage": (make_garbage, ("garbage.onnx",)),
    "empty": (make_empty, ("empty.onnx",)),
    "truncated": (make_truncated, ("truncated.onnx",)),
    "cyclic": (make_cyclic, ("cyclic.onnx", "cycle")),
    "shape_mismatch": (make_shape_mismatch, ("shape.onnx", "gemm0")),
    "unsupported": (make_unsupported, ("unsupported.onnx", *UNSUPPORTED)),
    "unknown_extension": (make_unknown_extension, ("model.pt", "'.pt'", ".onnx", ".nnet")),
    "no_extension": (make_no_extension, ("no extension", ".onnx")),
    "directory": (make_directory, ("folder.onnx", "directory")),
    "bad_nnet": (make_bad_nnet, ("bad.nnet", "line 8", "'zero' is not a number")),
}


def _single_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("as_json", [False, True])
def test_bad_input_through_cli(tmp_path, case, as_json):
    factory, needles = CASES[case]
    path = factory(tmp_path)
    args = ["info", str(path)] + (["--json"] if as_json else [])
    result = CliRunner().invoke(main, args)
    assert result.exit_code == EXIT_INPUT_ERROR, (result.exit_code, result.output, result.exception)
    line = _single_error_line(result.stderr)
    assert result.stdout == ""
    for needle in needles:
        assert needle in line, (needle, line)


def test_unsupported_ops_are_really_unsupported():
    pytest.importorskip("nnequiv.ops")
    from nnequiv.ops import registry

    assert registry.SUPPORTED_OPS and not set(UNSUPPORTED) & set(registry.SUPPORTED_OPS)


def test_loading_errors_without_cli(tmp_path):
    with pytest.raises(ModelFormatError, match="no such file"):
        load(tmp_path / "nope.nnet")
    with pytest.raises(ModelFormatError, match=r"unknown model file extension '\.txt'.*from_torch"):
        load(make_unknown_extension(tmp_path).rename(tmp_path / "m.txt"))
    with pytest.raises(ModelFormatError, match="is a directory"):
        load(make_directory(tmp_path))


def _cli_command() -> list[str]:
    script = Path(sys.executable).with_name("nnequiv")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from nnequiv.cli import main; main()"]


@pytest.mark.parametrize("case", ["garbage", "unsupported"])
def test_real_subprocess_prints_no_traceback(tmp_path, case):
    path = CASES[case][0](tmp_path)
    proc = subprocess.run([*_cli_command(), "info", str(path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == EXIT_INPUT_ERROR, proc.stderr
    line = _single_error_line(proc.stderr)
    assert path.name in line
    assert proc.stdout == ""
