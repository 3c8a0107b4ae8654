"""ImageNet-sized reference architectures with torchvision's layout, without torchvision.

torchvision's wheels are built against one torch build each and often fail to import next
to another (a CPU-only torch, for instance). The builders here re-create two of its
classification networks module by module, so that code written against torchvision's
models (layer names such as ``layer4.1.conv2`` or ``features.28``, parameter shapes,
``state_dict`` keys) runs on them unchanged:

* :func:`resnet18`: ResNet-18 (He et al., 2016), 11,689,512 parameters at 1000 classes;
* :func:`vgg16`: VGG-16, configuration "D" without batch normalisation (Simonyan and
  Zisserman, 2015), 138,357,544 parameters at 1000 classes.

Weights are random and follow torchvision's initialisation. The modules are created in
the same order as torchvision creates them and the same initialisers run over them in
the same order, so that a builder called with ``seed=s`` draws the numbers torchvision's
constructor draws after ``torch.manual_seed(s)`` on the CPU. The draws come from the CPU
generator, seeded inside :func:`torch.random.fork_rng`: the global RNG states (CPU and
CUDA) are the same after a call as before it. Models are returned in training mode, as
torchvision returns them.

Examples
--------
>>> import torch
>>> from xai_sanity.data.reference_nets import resnet18
>>> model = resnet18(num_classes=10, seed=0).eval()
>>> model.get_submodule("layer4.1.conv2")
Conv2d(512, 512, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False)
>>> with torch.no_grad():
...     model(torch.zeros(1, 3, 64, 64)).shape
torch.Size([1, 10])
"""

from __future__ import annotations

import contextlib
import numbers
from collections.abc import Iterator

import torch
from torch import nn

__all__ = ["RESNET18_PARAMETERS", "VGG16_PARAMETERS", "BasicBlock", "ResNet", "VGG", "resnet18", "vgg16"]

#: Parameter counts at ``num_classes=1000`` (torchvision's published figures).
RESNET18_PARAMETERS = 11_689_512
VGG16_PARAMETERS = 138_357_544

# VGG configuration "D": output channels of each 3x3 convolution, "M" for a 2x2 max-pool.
_VGG16_CONFIG: tuple[int | str, ...] = (
    64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M",
)  # fmt: skip


@contextlib.contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Draw from the CPU generator seeded with ``seed``; every global RNG state is put back."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    with torch.random.fork_rng(devices=[]):
        torch.random.default_generator.manual_seed(int(seed))
        yield


def _check_classes(num_classes: int) -> int:
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
    return int(num_classes)


# ---------------------------------------------------------------------------------------
# ResNet-18
# ---------------------------------------------------------------------------------------


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch normalisation and an identity (or 1x1) shortcut.

    Attributes are registered in torchvision's order: ``conv1, bn1, relu, conv2, bn2,
    downsample``; one in-place ReLU serves both activations. ``downsample`` is built by
    the caller (before the block's own convolutions, as torchvision does), or ``None``.
    """

    expansion = 1

    def __init__(
        self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        # The shortcut runs after the main branch, as in torchvision (the order hooks see).
        out += x if self.downsample is None else self.downsample(x)
        return self.relu(out)


class ResNet(nn.Module):
    """ResNet with :class:`BasicBlock` stages: a 7x7/2 stem with max-pool, four stages of
    64, 128, 256 and 512 channels (the last three start with stride 2), global average
    pooling and one linear layer."""

    def __init__(self, layers: tuple[int, int, int, int] = (2, 2, 2, 2), num_classes: int = 1000) -> None:
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(64, layers[0])
        self.layer2 = self._make_layer(128, layers[1], stride=2)
        self.layer3 = self._make_layer(256, layers[2], stride=2)
        self.layer4 = self._make_layer(512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * BasicBlock.expansion, num_classes)
        # torchvision's scheme: He-normal convolutions (fan_out), unit BatchNorm; the linear
        # layer keeps PyTorch's default initialisation.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def _make_layer(self, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * BasicBlock.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * BasicBlock.expansion, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * BasicBlock.expansion),
            )
        stage = [BasicBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * BasicBlock.expansion
        stage += [BasicBlock(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*stage)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resnet18(num_classes: int = 1000, *, seed: int = 0) -> ResNet:
    """ResNet-18 with random weights drawn from ``seed``, laid out as torchvision's
    ``resnet18(weights=None, num_classes=num_classes)``: ``conv1, bn1, relu, maxpool,
    layer1`` ... ``layer4`` (two :class:`BasicBlock` each), ``avgpool, fc``.

    Any input of at least 3 x 32 x 32 works (the average pool is adaptive). The model is
    in training mode; call ``.eval()`` for BatchNorm's running statistics.
    """
    num_classes = _check_classes(num_classes)
    with _seeded(seed):
        return ResNet((2, 2, 2, 2), num_classes=num_classes)


# ---------------------------------------------------------------------------------------
# VGG-16
# ---------------------------------------------------------------------------------------


class VGG(nn.Module):
    """``features`` (convolutions, ReLUs and max-pools), ``avgpool`` to 7 x 7 and a
    three-layer ``classifier`` with dropout, initialised as torchvision does."""

    def __init__(self, features: nn.Sequential, num_classes: int = 1000, dropout: float = 0.5) -> None:
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096),
            nn.ReLU(True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, num_classes),
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.constant_(m.bias, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


def _vgg_features(config: tuple[int | str, ...]) -> nn.Sequential:
    layers: list[nn.Module] = []
    in_channels = 3
    for v in config:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(in_channels, int(v), kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            in_channels = int(v)
    return nn.Sequential(*layers)


def vgg16(num_classes: int = 1000, *, seed: int = 0, dropout: float = 0.5) -> VGG:
    """VGG-16 with random weights drawn from ``seed``, laid out as torchvision's
    ``vgg16(weights=None, num_classes=num_classes)``.

    ``features`` holds 31 modules: the 13 convolutions sit at indices 0, 2, 5, 7, 10, 12,
    14, 17, 19, 21, 24, 26 and 28 (``features.28`` is the last one), each followed by an
    in-place ReLU, and the five max-pools at 4, 9, 16, 23 and 30. ``classifier`` is
    Linear-ReLU-Dropout-Linear-ReLU-Dropout-Linear (``classifier.6`` gives the logits).
    Inputs of at least 3 x 32 x 32 work (the 7 x 7 average pool is adaptive). The model is
    in training mode, so dropout is active until ``.eval()`` is called.
    """
    num_classes = _check_classes(num_classes)
    with _seeded(seed):
        return VGG(_vgg_features(_VGG16_CONFIG), num_classes=num_classes, dropout=dropout)
