"""`nnequiv compress --report` writes a report that shows the checker's acceptance of the chain."""

import numpy as np
from click.testing import CliRunner

from nnequiv.cli import main
from nnequiv.onnx_io import save_onnx
from tests.helpers.pairs import duplicated_scaled, mlp, random_layers


def test_compress_writes_a_rechecked_report(tmp_path):
    layers = random_layers(np.random.default_rng(0), [3, 6, 2])
    save_onnx(mlp(duplicated_scaled(layers, 0, 2, 2.0)), tmp_path / "m.onnx")
    result = CliRunner().invoke(main, ["compress", str(tmp_path / "m.onnx"), "-o", str(tmp_path / "r.onnx"),
                                       "--passes", "lump", "--cert", str(tmp_path / "c.json"),
                                       "--report", str(tmp_path / "r.md")], standalone_mode=False)
    assert result.return_value == 0, result.output
    text = (tmp_path / "r.md").read_text()
    assert "lumping" in text and "EQUIVALENT" in text.upper()


def test_compress_table_shows_flops_before_and_after(tmp_path):
    from nnequiv.loading import load
    from nnequiv.summary import summarize

    layers = random_layers(np.random.default_rng(1), [3, 6, 2])
    save_onnx(mlp(duplicated_scaled(layers, 0, 2, 2.0)), tmp_path / "m.onnx")
    result = CliRunner().invoke(main, ["compress", str(tmp_path / "m.onnx"), "-o", str(tmp_path / "r.onnx"),
                                       "--passes", "lump", "--cert", str(tmp_path / "c.json")],
                                standalone_mode=False)
    assert result.return_value == 0, result.output
    before, after = (summarize(load(str(tmp_path / name))).flops for name in ("m.onnx", "r.onnx"))
    assert after < before
    assert "FLOPs" in result.output and f"{before:,} -> {after:,}" in result.output
