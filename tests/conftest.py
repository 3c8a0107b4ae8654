"""Small shared fixtures: a tiny CNN with fixed weights, an image batch and class labels.

Everything is built from private ``torch.Generator`` objects; the global torch RNG is
forked while modules run their default initialisation, so no fixture changes the global
RNG state seen by a test.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable

import pytest
import torch
from torch import nn

N_CLASSES = 10
IMAGE_SHAPE = (4, 3, 16, 16)


def _fill_weights(model: nn.Module, seed: int) -> nn.Module:
    """Overwrite conv/linear weights with U(-1/sqrt(fan_in), 1/sqrt(fan_in)) from ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                bound = 1.0 / math.sqrt(module.weight[0].numel())
                module.weight.uniform_(-bound, bound, generator=gen)
                if module.bias is not None:
                    module.bias.uniform_(-bound, bound, generator=gen)
    return model


def build_cnn(inplace: bool = False, seed: int = 0) -> nn.Sequential:
    """Conv-ReLU-MaxPool-Conv-ReLU-Flatten-Linear-ReLU-Linear for (3, 16, 16) inputs, eval mode."""
    with torch.random.fork_rng(devices=[]):
        model = nn.Sequential(
            OrderedDict(
                conv1=nn.Conv2d(3, 6, 3, padding=1),
                relu1=nn.ReLU(inplace=inplace),
                pool=nn.MaxPool2d(2),
                conv2=nn.Conv2d(6, 8, 3, padding=1),
                relu2=nn.ReLU(inplace=inplace),
                flatten=nn.Flatten(),
                fc1=nn.Linear(8 * 8 * 8, 16),
                relu3=nn.ReLU(inplace=inplace),
                fc2=nn.Linear(16, N_CLASSES),
            )
        )
    return _fill_weights(model, seed).eval()


@pytest.fixture
def make_cnn() -> Callable[..., nn.Sequential]:
    """Factory for the tiny CNN: ``make_cnn(inplace=False, seed=0)``."""
    return build_cnn


@pytest.fixture
def cnn() -> nn.Sequential:
    """The tiny CNN (out-of-place ReLUs, eval mode, fixed weights)."""
    return build_cnn()


@pytest.fixture
def images() -> torch.Tensor:
    """A float32 batch of shape (4, 3, 16, 16) with values in [0, 1)."""
    return torch.rand(IMAGE_SHAPE, generator=torch.Generator().manual_seed(1234))


@pytest.fixture
def labels() -> torch.Tensor:
    """One distinct class index per image of ``images``."""
    return torch.tensor([1, 4, 7, 9])
