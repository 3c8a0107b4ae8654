"""Small reference CNNs for 3-channel square images (32x32 by default).

All models use separate, non-in-place :class:`torch.nn.ReLU` modules (Guided Backprop hooks
them), contain no dropout (training them never draws from the global RNG), and register
their modules so that the last :class:`torch.nn.Conv2d` in ``model.modules()`` is the last
convolution applied in the forward pass (the usual Grad-CAM target layer, see
:func:`last_conv_layer`).

Build models with :func:`make_model` for weights that depend only on ``seed``; the global
torch random state is left exactly as it was.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from .._safety import make_generator, preserve_global_rng
from .._signatures import parameters_of, with_parameters

__all__ = [
    "MODEL_NAMES",
    "LeNet",
    "SmallResNet",
    "SmallVGG",
    "last_conv_layer",
    "make_model",
]

MODEL_NAMES: tuple[str, ...] = ("lenet", "vgg", "resnet")


def _check_dims(num_classes: int, in_channels: int, image_size: int, min_size: int) -> None:
    for value, name, low in (
        (num_classes, "num_classes", 2),
        (in_channels, "in_channels", 1),
        (image_size, "image_size", min_size),
    ):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")


class _ReferenceCNN(nn.Module):
    """Base of the reference models: the dimensions all of them take, checked."""

    #: The smallest input side length the architecture takes.
    _min_image_size: ClassVar[int] = 8

    def __init__(self, num_classes: int = 10, in_channels: int = 3, image_size: int = 32) -> None:
        super().__init__()
        _check_dims(num_classes, in_channels, image_size, self._min_image_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``classifier(features(x))``: LeNet's and SmallVGG's layout (SmallResNet has its own)."""
        return self.classifier(self.features(x))


#: Gives a reference model's ``__init__``, which names only its architecture's parameters and
#: receives the dimensions in ``**dims``, the full signature: ``num_classes``,
#: ``in_channels``, ``image_size``, then its own parameters.
_with_dimensions = with_parameters(
    parameters_of(_ReferenceCNN.__init__),
    order=("num_classes", "in_channels", "image_size", ...),
    extra_keywords=False,
)


def _classifier(in_features: int, hidden: Sequence[int], num_classes: int) -> nn.Sequential:
    """Flatten, then a fully connected ReLU layer per width in ``hidden``, then the logits."""
    widths = [in_features, *hidden]
    layers: list[nn.Module] = [nn.Flatten()]
    for width_in, width_out in zip(widths[:-1], widths[1:]):
        layers += [nn.Linear(width_in, width_out), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(widths[-1], num_classes))


class LeNet(_ReferenceCNN):
    """LeNet-5 style CNN: (conv5x5-ReLU-maxpool) x 2, then FC-ReLU, FC-ReLU, FC.

    Parameters
    ----------
    num_classes, in_channels, image_size : int
        Output classes, input channels, input side length (>= 16).
    channels : tuple of int
        Output channels of the two convolutions.
    hidden : tuple of int
        Widths of the two hidden fully connected layers.

    Examples
    --------
    >>> LeNet()(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 10])
    """

    _min_image_size = 16

    @_with_dimensions
    def __init__(
        self, channels: tuple[int, int] = (16, 32), hidden: tuple[int, int] = (120, 84), **dims: int
    ) -> None:
        super().__init__(**dims)
        c1, c2 = channels
        self.features = nn.Sequential(
            nn.Conv2d(dims["in_channels"], c1, kernel_size=5),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, kernel_size=5),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        side = ((dims["image_size"] - 4) // 2 - 4) // 2
        self.classifier = _classifier(c2 * side * side, hidden, dims["num_classes"])


class SmallVGG(_ReferenceCNN):
    """VGG-style CNN: conv3x3 blocks 32-32-pool-64-64-pool-128-pool, then FC-ReLU-FC.

    Examples
    --------
    >>> SmallVGG(image_size=28)(torch.zeros(1, 3, 28, 28)).shape
    torch.Size([1, 10])
    """

    @_with_dimensions
    def __init__(self, widths: tuple[int, int, int] = (32, 64, 128), hidden: int = 256, **dims: int) -> None:
        super().__init__(**dims)
        w1, w2, w3 = widths

        def conv(cin: int, cout: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, kernel_size=3, padding=1), nn.ReLU()]

        self.features = nn.Sequential(
            *conv(dims["in_channels"], w1),
            *conv(w1, w1),
            nn.MaxPool2d(2),
            *conv(w1, w2),
            *conv(w2, w2),
            nn.MaxPool2d(2),
            *conv(w2, w3),
            nn.MaxPool2d(2),
        )
        side = dims["image_size"] // 8
        self.classifier = _classifier(w3 * side * side, (hidden,), dims["num_classes"])


class BasicBlock(nn.Module):
    """Residual block: conv3x3-BN-ReLU-conv3x3-BN, plus shortcut, then ReLU.

    The projection shortcut (1x1 conv + BN, only when the shape changes) is registered
    *before* the main branch, so the block's last ``Conv2d`` in ``modules()`` order is
    ``conv2``; it is also evaluated first in ``forward``.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        if stride != 1 or in_channels != out_channels:
            self.shortcut: nn.Module = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )
        else:
            self.shortcut = nn.Identity()
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu2 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = self.shortcut(x)
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu2(out + identity)


class SmallResNet(_ReferenceCNN):
    """ResNet-style CNN with BatchNorm: stem, three stages of basic blocks, global pool, FC.

    Examples
    --------
    Two blocks per stage; each stage after the first halves the side:

    >>> model = SmallResNet(image_size=64, blocks_per_stage=2)
    >>> sum(isinstance(m, BasicBlock) for m in model.modules())
    6
    >>> model.layers(model.stem(torch.zeros(2, 3, 64, 64))).shape
    torch.Size([2, 64, 16, 16])
    >>> model(torch.zeros(2, 3, 64, 64)).shape
    torch.Size([2, 10])
    """

    @_with_dimensions
    def __init__(
        self, widths: tuple[int, int, int] = (16, 32, 64), blocks_per_stage: int = 1, **dims: int
    ) -> None:
        super().__init__(**dims)
        w1, w2, w3 = widths
        self.stem = nn.Sequential(
            nn.Conv2d(dims["in_channels"], w1, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(w1),
            nn.ReLU(),
        )
        layers: list[nn.Module] = []
        cin = w1
        for i, width in enumerate((w1, w2, w3)):
            for j in range(blocks_per_stage):
                stride = 2 if (i > 0 and j == 0) else 1
                layers.append(BasicBlock(cin, width, stride))
                cin = width
        self.layers = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(w3, dims["num_classes"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.flatten(self.pool(self.layers(self.stem(x)))))


_REGISTRY: dict[str, type[nn.Module]] = {"lenet": LeNet, "vgg": SmallVGG, "resnet": SmallResNet}


def _reinitialise(model: nn.Module, gen: torch.Generator) -> None:
    """Draw every conv/linear parameter from ``gen`` with PyTorch's default scheme.

    Weights: ``kaiming_uniform_(a=sqrt(5))``, i.e. ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``;
    biases: the same bound. Norm layers get weight 1, bias 0 and fresh running statistics.
    """
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                weight = module.weight
                fan_in = weight.shape[1] * math.prod(weight.shape[2:])
                nn.init.kaiming_uniform_(weight, a=math.sqrt(5), generator=gen)
                if module.bias is not None:
                    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
                    nn.init.uniform_(module.bias, -bound, bound, generator=gen)
            elif isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.reset_parameters()
            elif any(True for _ in module.parameters(recurse=False)):
                raise TypeError(f"no deterministic initialiser for {type(module).__name__}")


def make_model(
    name: str,
    num_classes: int = 10,
    in_channels: int = 3,
    image_size: int = 32,
    seed: int = 0,
) -> nn.Module:
    """Build a reference model with weights determined by ``seed``.

    Parameters
    ----------
    name : {"lenet", "vgg", "resnet"}
        :class:`LeNet`, :class:`SmallVGG` or :class:`SmallResNet`.
    num_classes, in_channels, image_size : int
        Output classes, input channels, input side length.
    seed : int
        Seed of a private :class:`torch.Generator` that draws all weights; the global torch
        (and numpy) random states are unchanged afterwards.

    Returns
    -------
    torch.nn.Module
        The model on the CPU, in training mode.

    Examples
    --------
    >>> a, b = make_model("lenet", seed=3), make_model("lenet", seed=3)
    >>> all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    True
    """
    if not isinstance(name, str) or name.lower() not in _REGISTRY:
        raise ValueError(f"name must be one of {MODEL_NAMES}, got {name!r}")
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    # Module constructors draw default weights from the global RNG; those draws are undone
    # and then overwritten from the private generator.
    with preserve_global_rng():
        model = _REGISTRY[name.lower()](
            num_classes=num_classes, in_channels=in_channels, image_size=image_size
        )
    _reinitialise(model, make_generator(int(seed)))
    return model


def last_conv_layer(model: nn.Module) -> nn.Conv2d:
    """The last :class:`torch.nn.Conv2d` in ``model.modules()`` order (Grad-CAM layer).

    Examples
    --------
    >>> last_conv_layer(make_model("vgg")).out_channels
    128
    """
    last = None
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            last = module
    if last is None:
        raise ValueError("model has no nn.Conv2d layer")
    return last
