"""Import an eval-mode PyTorch module as a :class:`~nnequiv.ir.Network` (through ONNX).

torch is imported lazily: the rest of nnequiv works without it.

The module is exported with a dynamic batch axis and *without* folding, so
BatchNormalization stays a separate node (its exact semantics, including the
square root, is then handled by nnequiv rather than baked into rounded weights):

1. the torch.export-based exporter (torch's default) with ``optimize=False``; only
   constants and the batch-size arithmetic of ``flatten``/``view`` are folded
   afterwards (``Shape -> Concat -> Reshape`` becomes ``Reshape(x, [-1, ...])``),
   never BatchNorm;
2. if that fails (or yields ops nnequiv does not support), the TorchScript
   exporter with ``do_constant_folding=False``.

Ops outside nnequiv's set surface as the :class:`~nnequiv.errors.UnsupportedOpError`
of :mod:`nnequiv.onnx_io`.
"""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from .errors import ModelFormatError, UnsupportedOpError, UsageError
from .ir import Network

if TYPE_CHECKING:  # pragma: no cover
    import onnx
    import torch

__all__ = ["from_torch"]

INPUT_NAME = "input"
OUTPUT_NAME = "output"


def from_torch(module: "torch.nn.Module", example_input: Any, *, name: str | None = None) -> Network:
    """Export ``module`` (in eval mode) to ONNX and load it as a :class:`Network`.

    ``example_input`` is one batch (a tensor or array whose first axis is the batch
    axis); only its shape and dtype matter.  The batch axis of the result is dynamic.
    """
    try:
        import torch
    except ImportError:
        raise UsageError("from_torch needs PyTorch", fix="pip install 'nnequiv[torch]'") from None
    if not isinstance(module, torch.nn.Module):
        raise UsageError(f"from_torch expects a torch.nn.Module, got {type(module).__name__}")
    label = name or type(module).__name__
    training = [n or label for n, m in module.named_modules() if m.training]
    if training:
        raise UsageError(f"module {label} is in training mode ({training[0]})",
                         fix="call module.eval() before importing it")
    example = _example_batch(torch, module, example_input)
    source = f"<torch {label}>"

    first_error: Exception | None = None
    unsupported: UnsupportedOpError | None = None
    for exporter in _EXPORTERS:
        with tempfile.TemporaryDirectory(prefix="nnequiv-torch-") as tmp:
            path = Path(tmp) / "model.onnx"
            try:
                with _quiet():
                    exporter(torch, module, example, path)
            except Exception as exc:  # exporter failures are torch's, not ours
                first_error = first_error or exc
                continue
            try:
                return _load(path, source, label)
            except UnsupportedOpError as exc:
                unsupported = unsupported or exc
                continue
    if unsupported is not None:  # an exported graph with ops we lack says more than a failed export
        raise unsupported
    detail = str(first_error).strip().splitlines()[0] if str(first_error).strip() else type(first_error).__name__
    raise ModelFormatError(f"PyTorch could not export {label} to ONNX: {detail}", file=source,
                           fix="export it yourself with torch.onnx.export and load the .onnx file")


def _example_batch(torch: Any, module: Any, example_input: Any) -> "torch.Tensor":
    if not isinstance(example_input, torch.Tensor):
        try:
            example_input = torch.as_tensor(example_input)
        except Exception:
            raise UsageError("example_input must be a tensor or an array") from None
    if example_input.ndim < 1 or example_input.shape[0] < 1:
        raise UsageError("example_input needs a leading batch axis with at least one sample",
                         fix="pass e.g. torch.zeros(1, *input_shape)")
    param = next(iter(module.parameters()), None)
    dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
    if example_input.dtype != dtype:  # e.g. a float64 numpy array for a float32 module
        example_input = example_input.to(dtype)
    # torch.export specialises axes of size 1; a batch of 2 keeps the batch axis symbolic
    if example_input.shape[0] == 1:
        example_input = torch.cat([example_input, example_input])
    return example_input.detach()


def _load(path: Path, source: str, label: str) -> Network:
    import onnx

    from .onnx_io import from_onnx_model

    try:
        model = onnx.load(str(path), load_external_data=True)
    except Exception as exc:  # pragma: no cover - torch wrote it a moment ago
        raise ModelFormatError(f"cannot read the exported ONNX model: {exc}", file=source) from None
    net = from_onnx_model(model, source=source, base_dir=str(path.parent))
    return net if net.name == label else net.replace(name=label)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the exporters' warnings, log lines and progress prints."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "torch._dynamo",
                                              "torch.fx", "onnxscript")]
    levels = [lg.level for lg in loggers]
    try:
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _export_dynamo(torch: Any, module: Any, example: Any, path: Path) -> None:
    program = torch.onnx.export(
        module, (example,), None, dynamo=True, optimize=False, verbose=False,
        input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
        dynamic_shapes=({0: "batch"},))
    _fold_shapes(program)
    program.save(str(path))


def _fold_shapes(program: Any) -> None:
    """Fold constants and batch-size arithmetic, keeping every arithmetic layer (BatchNorm too)."""
    try:
        import onnx_ir.passes.common as passes
        from onnxscript import optimizer, rewriter
        from onnxscript.rewriter.rules import common as rules
    except ImportError:  # pragma: no cover - onnxscript ships with the dynamo exporter
        return
    model = program.model
    optimizer.fold_constants_ir(model)
    model = rewriter.rewrite(model, pattern_rewrite_rules=[rules.materialize_reshape_shape_rule])
    passes.RemoveUnusedNodesPass()(model)
    passes.LiftConstantsToInitializersPass(lift_all_constants=True, size_limit=0)(model)
    program.model = model


def _export_torchscript(torch: Any, module: Any, example: Any, path: Path) -> None:
    torch.onnx.export(
        module, (example,), str(path), dynamo=False, do_constant_folding=False,
        training=torch.onnx.TrainingMode.EVAL, input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
        dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}}, opset_version=17)


# tried in order; the first whose graph loads wins
_EXPORTERS: tuple[Callable[..., None], ...] = (_export_dynamo, _export_torchscript)
