"""Fixtures shared by the tests: thin wrappers around the builders of ``helpers.py``.

Each fixture has the name of the ``helpers`` function it calls with default arguments;
call the function itself for other sizes, seeds or class counts. Nothing here draws from
the global RNGs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import helpers
import numpy as np
import pytest
import torch
from torch import nn

Batch = tuple[np.ndarray, np.ndarray]


# -- the tiny CNN on (4, 3, 16, 16) images -------------------------------------------------


@pytest.fixture
def make_cnn() -> Callable[..., nn.Sequential]:
    """Factory for the tiny CNN: ``make_cnn(inplace=False, seed=0)``."""
    return helpers.build_cnn


@pytest.fixture
def cnn() -> nn.Sequential:
    """The tiny CNN (out-of-place ReLUs, eval mode, fixed weights)."""
    return helpers.build_cnn()


@pytest.fixture
def images() -> torch.Tensor:
    """A float32 batch of shape (4, 3, 16, 16) with values in [0, 1)."""
    return helpers.images()


@pytest.fixture
def labels() -> torch.Tensor:
    """One distinct class index per image of ``images``."""
    return helpers.labels()


# -- models of other layouts and input shapes, each with a matching (x, y) batch -----------


@pytest.fixture
def resnet18_model() -> nn.Module:
    """ResNet-18 (torchvision's layout, 10 classes, random weights), eval mode."""
    return helpers.resnet18_model()


@pytest.fixture
def resnet18_batch() -> Batch:
    """Two 3 x 32 x 32 images and labels for ``resnet18_model``."""
    return helpers.resnet18_batch()


@pytest.fixture
def conv1d_model() -> nn.Sequential:
    """A Conv1d classifier for (N, 3, T) series, eval mode."""
    return helpers.conv1d_model()


@pytest.fixture
def conv1d_batch() -> Batch:
    """Four series of shape (3, 32) and labels for ``conv1d_model``."""
    return helpers.conv1d_batch()


@pytest.fixture
def tabular_model() -> nn.Sequential:
    """A Linear-ReLU-Linear classifier for (N, 8) rows, eval mode."""
    return helpers.tabular_model()


@pytest.fixture
def tabular_batch() -> Batch:
    """Eight rows of 8 features and labels for ``tabular_model``."""
    return helpers.tabular_batch()


@pytest.fixture
def dropout_model() -> nn.Sequential:
    """The small CNN with a Dropout layer, in train mode (see ``helpers.dropout_model``)."""
    return helpers.dropout_model()


@pytest.fixture
def dropout_batch() -> Batch:
    """Four 3 x 8 x 8 images and labels for ``dropout_model``."""
    return helpers.dropout_batch()


@pytest.fixture
def frozen_model() -> nn.Sequential:
    """The small CNN with its first convolution frozen (``requires_grad=False``)."""
    return helpers.frozen_model()


@pytest.fixture
def frozen_batch() -> Batch:
    """Four 3 x 8 x 8 images and labels for ``frozen_model``."""
    return helpers.frozen_batch()


# -- environment ---------------------------------------------------------------------------


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Run the test on one torch thread (tiny models train faster without thread start-up
    and spin costs per op); the previous thread count is put back afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
