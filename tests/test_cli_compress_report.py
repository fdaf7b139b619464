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


def test_compress_takes_its_box_from_a_box_file_or_vnnlib(tmp_path):
    """The same box from --box, --box-file and --vnnlib gives the same certified claim; two at once is
    a usage error (exit 3)."""
    import json

    layers = random_layers(np.random.default_rng(2), [2, 5, 2])
    save_onnx(mlp(duplicated_scaled(layers, 0, 1, 2.0)), tmp_path / "m.onnx")
    (tmp_path / "b.json").write_text(json.dumps({"lower": [-1, -1], "upper": [1, 1]}))
    (tmp_path / "s.vnnlib").write_text("(declare-const X_0 Real)\n(declare-const X_1 Real)\n"
                                       "(declare-const Y_0 Real)\n(declare-const Y_1 Real)\n"
                                       "(assert (>= X_0 -1))\n(assert (<= X_0 1))\n"
                                       "(assert (>= X_1 -1))\n(assert (<= X_1 1))\n(assert (>= Y_0 Y_1))\n")
    claims = []
    for option in (["--box=-1:1"], ["--box-file", str(tmp_path / "b.json")], ["--vnnlib", str(tmp_path / "s.vnnlib")]):
        cert = tmp_path / f"c{len(claims)}.json"
        result = CliRunner().invoke(main, ["compress", str(tmp_path / "m.onnx"), "-o", str(tmp_path / "r.onnx"),
                                           "--passes", "lump", "--cert", str(cert), *option], standalone_mode=False)
        assert result.return_value == 0, result.output
        claims.append(json.loads(cert.read_text())["claim"]["box"])
    assert claims[0] == claims[1] == claims[2]
    both = CliRunner().invoke(main, ["compress", str(tmp_path / "m.onnx"), "-o", str(tmp_path / "r.onnx"),
                                     "--cert", str(tmp_path / "c.json"), "--box=-1:1",
                                     "--box-file", str(tmp_path / "b.json")])
    assert both.exit_code == 3 and "at most one of --box" in both.output


def test_python_api_compress_and_verify():
    import nnequiv

    layers = random_layers(np.random.default_rng(3), [3, 4, 2])
    net = mlp(duplicated_scaled(layers, 0, 0, 0.5))
    reduced, certificate = nnequiv.compress(net, ["lump"])
    assert reduced.initializers != net.initializers
    assert nnequiv.verify(certificate, net, reduced).valid
    assert not nnequiv.verify(certificate, reduced, net).valid
