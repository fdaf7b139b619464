"""Third-party channel simplifiers, when installed: EIDOSlab ``simplify`` (PyPI ``torch-simplify``).

``torch-simplify`` imports ``torchvision`` only for three ``isinstance`` tests
(``MobileNetV3``, ``ShuffleNetV2``, ``_DenseLayer``).  The torchvision wheels this machine can
install are built against another torch, so when torchvision does not import, empty stand-in
classes are registered under those names (no model here is an instance of them, so the
library's behaviour is unchanged).
"""

from __future__ import annotations

import copy
import sys
import types


def _torchvision_stand_in() -> None:
    try:
        import torchvision.models  # noqa: F401
        return
    except Exception:  # noqa: BLE001 - any import failure means: use the stand-in
        for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
            del sys.modules[name]
    root, models, densenet = (types.ModuleType(n) for n in ("torchvision", "torchvision.models",
                                                           "torchvision.models.densenet"))
    models.MobileNetV3 = type("MobileNetV3", (), {})
    models.ShuffleNetV2 = type("ShuffleNetV2", (), {})
    densenet._DenseLayer = type("_DenseLayer", (), {})
    root.models, models.densenet = models, densenet
    sys.modules.update({"torchvision": root, "torchvision.models": models, "torchvision.models.densenet": densenet})


def torch_simplify():
    """The ``simplify.simplify`` function, or None when torch-simplify is not installed."""
    try:
        _torchvision_stand_in()
        from simplify import simplify
    except ImportError:
        return None
    return simplify


def simplified(model, image: int, fuse_bn: bool = False):
    """A simplified deep copy of ``model`` (eval mode) by torch-simplify, or None if not installed."""
    import torch

    run = torch_simplify()
    if run is None:
        return None
    copied = copy.deepcopy(model).eval()
    with torch.no_grad():
        return run(copied, torch.zeros(1, 3, image, image), fuse_bn=fuse_bn).eval()


def torch_pruned(model, zeroed: dict, image: int):
    """A deep copy of ``model`` with the channels ``zeroed`` (conv module name -> output channel
    indices) physically removed by Torch-Pruning's dependency graph (the conv, its BatchNorm
    and the readers' input channels), or None when torch-pruning is not installed."""
    import torch

    try:
        import torch_pruning as tp
    except ImportError:
        return None
    copied = copy.deepcopy(model).eval()
    modules = dict(copied.named_modules())
    graph = tp.DependencyGraph().build_dependency(copied, example_inputs=torch.zeros(1, 3, image, image))
    for name, channels in zeroed.items():
        group = graph.get_pruning_group(modules[name], tp.prune_conv_out_channels, idxs=list(channels))
        if not graph.check_pruning_group(group):
            raise ValueError(f"Torch-Pruning refuses to prune {name} channels {channels}")
        group.prune()
    return copied.eval()
