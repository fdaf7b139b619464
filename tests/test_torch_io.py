"""from_torch: eval-mode modules become Networks that agree with torch; BatchNorm stays a node."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from nnequiv.errors import ModelFormatError, UnsupportedOpError, UsageError
from tests.helpers.models import torch_cnn, torch_mlp

def _agree(net, module, x) -> None:
    import torch

    with torch.no_grad():
        expected = module(torch.as_tensor(x, dtype=torch.float32)).numpy().astype(np.float64)
    # per-sample shapes keep ONNX's batch axis as a 1: feed flat samples, compare flat outputs
    actual = net.evaluate(np.asarray(x).reshape(len(x), -1)).reshape(expected.shape)
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.torch
def test_mlp_agrees_with_torch():
    torch = pytest.importorskip("torch")
    from nnequiv import from_torch

    module = torch_mlp([5, 16, 16, 3], seed=1)
    net = from_torch(module, torch.zeros(1, 5))
    assert net.input.shape == (1, 5) and net.output.shape == (1, 3)  # ONNX [N, 5] per sample
    assert 0 in net.input.dynamic_axes
    assert net.ops.count("Relu") == 2
    assert net.name == "Sequential" and net.source == "<torch Sequential>"
    x = np.random.default_rng(0).normal(size=(17, 5)).astype(np.float32)
    _agree(net, module, x)


@pytest.mark.torch
def test_residual_cnn_with_batchnorm_agrees_with_torch():
    torch = pytest.importorskip("torch")
    from nnequiv.torch_io import from_torch

    module = torch_cnn(seed=2)
    net = from_torch(module, np.zeros((1, 1, 6, 6)))  # float64 numpy example: cast to the module's dtype
    assert net.ops.count("BatchNormalization") == 2
    assert "Conv" in net.ops and "Add" in net.ops
    assert net.input.shape == (1, 1, 6, 6) and net.output.shape == (1, 3)
    x = np.random.default_rng(1).normal(size=(9, 1, 6, 6)).astype(np.float32)
    _agree(net, module, x)
    del torch


@pytest.mark.torch
def test_torchscript_fallback(monkeypatch):
    torch = pytest.importorskip("torch")
    from nnequiv import torch_io

    def broken(*args, **kwargs):
        raise RuntimeError("dynamo exporter exploded")

    monkeypatch.setattr(torch_io, "_EXPORTERS", (broken, torch_io._export_torchscript))
    module = torch_cnn(seed=3)
    net = torch_io.from_torch(module, torch.zeros(2, 1, 6, 6))
    assert net.ops.count("BatchNormalization") == 2
    _agree(net, module, np.random.default_rng(2).normal(size=(4, 1, 6, 6)).astype(np.float32))


@pytest.mark.torch
def test_all_exporters_fail(monkeypatch):
    torch = pytest.importorskip("torch")
    from nnequiv import torch_io

    def broken(*args, **kwargs):
        raise RuntimeError("cannot trace this\nsecond line")

    monkeypatch.setattr(torch_io, "_EXPORTERS", (broken, broken))
    with pytest.raises(ModelFormatError, match="PyTorch could not export Sequential to ONNX: cannot trace this") as info:
        torch_io.from_torch(torch_mlp([2, 2]), torch.zeros(1, 2))
    assert "\n" not in str(info.value)


@pytest.mark.torch
def test_training_mode_is_refused():
    torch = pytest.importorskip("torch")
    from nnequiv.torch_io import from_torch

    module = torch_mlp([3, 4, 2])
    module.train()
    with pytest.raises(UsageError, match=r"training mode.*module.eval\(\)"):
        from_torch(module, torch.zeros(1, 3))
    module.eval()
    module[0].train()  # one submodule left in training mode is enough
    with pytest.raises(UsageError, match="training mode"):
        from_torch(module, torch.zeros(1, 3))


@pytest.mark.torch
def test_bad_arguments():
    torch = pytest.importorskip("torch")
    from nnequiv.torch_io import from_torch

    with pytest.raises(UsageError, match="torch.nn.Module"):
        from_torch(lambda x: x, torch.zeros(1, 3))
    with pytest.raises(UsageError, match="batch axis"):
        from_torch(torch_mlp([3, 2]), torch.tensor(1.0))


@pytest.mark.torch
def test_unsupported_ops_surface_as_unsupported_op_error():
    torch = pytest.importorskip("torch")
    from nnequiv.torch_io import from_torch

    class Wavy(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(3, 3)

        def forward(self, x):
            return torch.sin(self.fc(x))

    with pytest.raises(UnsupportedOpError, match="Sin"):
        from_torch(Wavy().eval(), torch.zeros(1, 3))


def test_core_does_not_import_torch():
    code = ("import sys, nnequiv, nnequiv.loading, nnequiv.nnet_io, nnequiv.torch_io, nnequiv.cli.main\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.torch
def test_dynamo_path_folds_batch_arithmetic_but_keeps_batchnorm(monkeypatch):
    torch = pytest.importorskip("torch")
    from nnequiv import torch_io

    monkeypatch.setattr(torch_io, "_EXPORTERS", (torch_io._export_dynamo,))
    module = torch_cnn(seed=4)
    net = torch_io.from_torch(module, torch.zeros(1, 1, 6, 6))
    assert not {"Shape", "Concat", "Squeeze", "Constant"} & set(net.ops), net.ops
    assert net.ops.count("BatchNormalization") == 2
    _agree(net, module, np.random.default_rng(5).normal(size=(3, 1, 6, 6)).astype(np.float32))
