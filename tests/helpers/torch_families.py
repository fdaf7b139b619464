"""Seeded torch VGG-, ResNet- and DenseNet-shaped CNNs (eval mode) and channel zeroing.

``scale="full"`` gives ResNet-18-sized models (~11 M parameters, 224x224x3 input) for
``benchmarks/structural``; ``scale="small"`` the same shapes at a size the tests can afford.
``zero_channels`` zeroes a fraction of every prunable conv's output channels the way a pruner
does: the conv's kernels (and bias) of those channels, and the following BatchNorm made to
output a constant (``gamma = 0``, ``beta`` = the given constant).
"""

from __future__ import annotations

from typing import Any

import numpy as np

SCALES = {"full": {"image": 224, "vgg": (64, 128, 256, 512), "resnet": (64, 128, 256, 512),
                   "densenet": (64, 32, (6, 12, 24, 16)), "classes": 1000},
          "small": {"image": 16, "vgg": (4, 8), "resnet": (4, 8), "densenet": (4, 4, (2, 2)), "classes": 5}}


def _conv_bn(cin: int, cout: int, k: int = 3, stride: int = 1):
    from torch import nn

    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


def vgg(scale: str = "small"):
    from torch import nn

    spec = SCALES[scale]
    layers, cin = [], 3
    for w in spec["vgg"]:
        layers += [_conv_bn(cin, w), _conv_bn(w, w), nn.MaxPool2d(2)]
        cin = w
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, 4 * cin), nn.ReLU(),
                         nn.Linear(4 * cin, spec["classes"]))


def resnet(scale: str = "small"):
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int) -> None:
            super().__init__()
            self.conv1, self.bn1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout)
            self.conv2, self.bn2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout)
            self.down = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                         if stride != 1 or cin != cout else None)

        def forward(self, x):
            h = torch.relu(self.bn1(self.conv1(x)))
            return torch.relu(self.bn2(self.conv2(h)) + (x if self.down is None else self.down(x)))

    spec = SCALES[scale]
    widths = spec["resnet"]
    blocks, cin = [], widths[0]
    for k, w in enumerate(widths):
        blocks += [Block(cin, w, 1 if k == 0 else 2), Block(w, w, 1)]
        cin = w
    return nn.Sequential(nn.Conv2d(3, widths[0], 7, 2, 3, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU(),
                         nn.MaxPool2d(3, 2, 1), *blocks, nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(cin, spec["classes"]))


def densenet(scale: str = "small"):
    import torch
    from torch import nn

    class Dense(nn.Module):
        def __init__(self, cin: int, growth: int) -> None:
            super().__init__()
            self.body = nn.Sequential(nn.BatchNorm2d(cin), nn.ReLU(), nn.Conv2d(cin, 2 * growth, 1, bias=False),
                                      nn.BatchNorm2d(2 * growth), nn.ReLU(),
                                      nn.Conv2d(2 * growth, growth, 3, 1, 1, bias=False))

        def forward(self, x):
            return torch.cat([x, self.body(x)], 1)

    spec = SCALES[scale]
    stem, growth, blocks = spec["densenet"]
    layers, cin = [nn.Conv2d(3, stem, 7, 2, 3, bias=False), nn.BatchNorm2d(stem), nn.ReLU(), nn.MaxPool2d(3, 2, 1)], stem
    for b, count in enumerate(blocks):
        for _ in range(count):
            layers.append(Dense(cin, growth))
            cin += growth
        if b < len(blocks) - 1:
            layers += [nn.BatchNorm2d(cin), nn.ReLU(), nn.Conv2d(cin, cin // 2, 1, bias=False), nn.AvgPool2d(2)]
            cin //= 2
    return nn.Sequential(*layers, nn.BatchNorm2d(cin), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(cin, spec["classes"]))


FAMILIES = {"vgg": vgg, "resnet": resnet, "densenet": densenet}
# convs whose channels a structured pruner zeroes: residual-stream and Concat-fed outputs are kept
PRUNABLE = {"vgg": lambda name: True, "resnet": lambda name: name.endswith("conv1") and "." in name,
            "densenet": lambda name: ".body." in name}


def build(family: str, scale: str = "small", seed: int = 0):
    """The model in eval mode with random (seeded) BatchNorm statistics."""
    import torch

    torch.manual_seed(seed)
    return randomise_batchnorm(FAMILIES[family](scale))


def randomise_batchnorm(model):
    """Random running statistics and affine parameters for every BatchNorm2d (from torch's current
    seed), so that folding them is not the identity; returns the model in eval mode."""
    import torch
    from torch import nn

    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.3, 0.8)
                m.bias.uniform_(-0.1, 0.1)
    return model.eval()


def zero_channels(model, family: str, fraction: float = 0.5, seed: int = 0, constant: float = 0.0) -> dict[str, Any]:
    """Zero ``fraction`` of the output channels of every conv directly followed by a BatchNorm
    (whole channels: kernels, conv bias, BN gamma; BN beta set to ``constant``).  Returns the
    zeroed channel indices per conv module name."""
    import torch
    from torch import nn

    rng = np.random.default_rng(seed)
    modules = list(model.named_modules())
    zeroed: dict[str, Any] = {}
    with torch.no_grad():
        for (name, m), (_, nxt) in zip(modules, modules[1:]):
            if (isinstance(m, nn.Conv2d) and isinstance(nxt, nn.BatchNorm2d) and nxt.num_features == m.out_channels
                    and PRUNABLE[family](name)):
                chosen = np.sort(rng.choice(m.out_channels, int(m.out_channels * fraction), replace=False))
                index = torch.from_numpy(chosen)
                m.weight[index] = 0.0
                if m.bias is not None:
                    m.bias[index] = 0.0
                nxt.weight[index] = 0.0
                nxt.bias[index] = constant
                zeroed[name] = chosen.tolist()
    return zeroed


def export(model, path, image: int, names: tuple[str, str] = ("input", "logits")) -> None:
    import torch

    torch.onnx.export(model, (torch.zeros(1, 3, image, image),), str(path), dynamo=False, opset_version=17,
                      input_names=[names[0]], output_names=[names[1]], do_constant_folding=False)


def parameters(model) -> int:
    return int(sum(p.numel() for p in model.parameters()))


def signed_sum_channel(model, family: str, channel: int = 0) -> str:
    """Give ``channel`` of the first prunable conv a kernel of +-1/4 entries that SUM to exactly
    zero (dyadic: exact in float32 in any order) but are not zero, with its BatchNorm's mean and
    beta zero: on a constant image the channel reads 0 away from the padding, so a simplifier
    that tests ``weight.sum() == 0`` (instead of every weight) removes a live channel.  Returns
    the conv's module name."""
    import torch
    from torch import nn

    modules = list(model.named_modules())
    for (name, m), (_, nxt) in zip(modules, modules[1:]):
        if isinstance(m, nn.Conv2d) and isinstance(nxt, nn.BatchNorm2d) and PRUNABLE[family](name):
            kernel = np.full(m.weight[channel].numel(), 0.25)
            kernel[1::2] = -0.25
            if kernel.size % 2:
                kernel[-1] = 0.0
            with torch.no_grad():
                m.weight[channel] = torch.from_numpy(kernel.reshape(m.weight[channel].shape)).float()
                if m.bias is not None:
                    m.bias[channel] = 0.0
                nxt.running_mean[channel] = 0.0
                nxt.bias[channel] = 0.0
                nxt.weight[channel] = 1.0
            return name
    raise ValueError(f"no prunable conv in the {family} model")
