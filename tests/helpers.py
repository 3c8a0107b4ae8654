"""Models, data and checks shared by the tests: the one home for test fixtures.

Plain functions, importable from any test module (``from helpers import small_cnn``);
``conftest.py`` wraps the common ones as pytest fixtures of the same name.

Every builder is deterministic given its ``seed`` and leaves the global RNGs alone:
modules are constructed inside :func:`torch.random.fork_rng` (their default
initialisation draws from the global generator) and then given weights from a private
``torch.Generator``; data come from ``np.random.default_rng(seed)`` or a private
``torch.Generator``.
"""

from __future__ import annotations

import contextlib
import math
from collections import OrderedDict
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from xai_sanity._safety import snapshot
from xai_sanity.data.reference_nets import resnet18
from xai_sanity.testing import snapshot_differences

N_CLASSES = 10
IMAGE_SHAPE = (4, 3, 16, 16)
IMAGE_LABELS = (1, 4, 7, 9)


def _private_init() -> contextlib.AbstractContextManager[None]:
    """Context in which module constructors may draw from the global CPU generator."""
    return torch.random.fork_rng(devices=[])


# ---------------------------------------------------------------------------------------
# weights
# ---------------------------------------------------------------------------------------


def seeded_(module: nn.Module, seed: int, scale: float = 0.3) -> nn.Module:
    """Overwrite every parameter, in ``parameters()`` order, with ``scale * N(0, 1)`` draws
    from a generator seeded with ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * scale)
    return module


def fan_in_uniform_(model: nn.Module, seed: int) -> nn.Module:
    """Overwrite conv/linear weights and biases with U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    draws (PyTorch's default bounds) from a generator seeded with ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Linear)):
                bound = 1.0 / math.sqrt(module.weight[0].numel())
                module.weight.uniform_(-bound, bound, generator=gen)
                if module.bias is not None:
                    module.bias.uniform_(-bound, bound, generator=gen)
    return model


# ---------------------------------------------------------------------------------------
# image models
# ---------------------------------------------------------------------------------------


def build_cnn(inplace: bool = False, seed: int = 0) -> nn.Sequential:
    """The tiny CNN of the ``cnn`` fixture, for (3, 16, 16) inputs and 10 classes, in eval
    mode: conv1-relu1-pool-conv2-relu2-flatten-fc1-relu3-fc2 (named modules), fan-in
    uniform weights."""
    with _private_init():
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
    return fan_in_uniform_(model, seed).eval()


def _small_cnn_layers(n_classes: int, dropout: float | None = None) -> list[nn.Module]:
    head = [nn.Linear(8 * 4 * 4, 16), nn.ReLU()]
    if dropout is not None:
        head.append(nn.Dropout(dropout))
    return [
        nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 8, 3, padding=1), nn.ReLU(), nn.Flatten(),
        *head, nn.Linear(16, n_classes),
    ]  # fmt: skip


def small_cnn(seed: int = 0, n_classes: int = N_CLASSES) -> nn.Sequential:
    """A CNN for (3, 8, 8) inputs (train mode, ``0.3 * N(0, 1)`` weights). Layers with
    weights: conv ``0``, conv ``3``, linear ``6``, linear ``8``."""
    with _private_init():
        model = nn.Sequential(*_small_cnn_layers(n_classes))
    return seeded_(model, seed)


def dropout_model(seed: int = 0, n_classes: int = N_CLASSES, p: float = 0.5) -> nn.Sequential:
    """:func:`small_cnn` with ``nn.Dropout(p)`` (index ``8``) after the hidden linear layer's
    ReLU; the last linear layer moves to index ``9``. Same weights as ``small_cnn(seed)``,
    so in eval mode it computes the same function. Returned in train mode: the forward
    pass is stochastic (and draws from the global RNG) until ``.eval()`` is called."""
    with _private_init():
        model = nn.Sequential(*_small_cnn_layers(n_classes, dropout=p))
    return seeded_(model, seed)


def frozen_model(seed: int = 0, n_classes: int = N_CLASSES) -> nn.Sequential:
    """``small_cnn(seed)`` whose first convolution (weight and bias) has
    ``requires_grad=False``."""
    model = small_cnn(seed, n_classes)
    model[0].requires_grad_(False)
    return model


def resnet18_model(num_classes: int = N_CLASSES, seed: int = 0) -> nn.Module:
    """torchvision's ResNet-18 layout (:mod:`xai_sanity.data.reference_nets`) with random
    weights from ``seed`` and a ``num_classes``-way ``fc``, in eval mode."""
    return resnet18(num_classes, seed=seed).eval()


# ---------------------------------------------------------------------------------------
# models of other input shapes and closed-form models
# ---------------------------------------------------------------------------------------


def conv1d_model(in_channels: int = 3, n_classes: int = N_CLASSES, seed: int = 0) -> nn.Sequential:
    """A time-series classifier for (N, C, T) inputs, any T >= 1, in eval mode:
    conv1-relu1-conv2-relu2-pool-flatten-fc (Conv1d kernels 5 and 3, 'same' padding,
    8 channels, global average pool), fan-in uniform weights."""
    with _private_init():
        model = nn.Sequential(
            OrderedDict(
                conv1=nn.Conv1d(in_channels, 8, 5, padding=2),
                relu1=nn.ReLU(),
                conv2=nn.Conv1d(8, 8, 3, padding=1),
                relu2=nn.ReLU(),
                pool=nn.AdaptiveAvgPool1d(1),
                flatten=nn.Flatten(),
                fc=nn.Linear(8, n_classes),
            )
        )
    return fan_in_uniform_(model, seed).eval()


def tabular_model(
    n_features: int = 8, n_classes: int = N_CLASSES, hidden: int = 16, seed: int = 0
) -> nn.Sequential:
    """A classifier for (N, F) inputs, in eval mode: fc1-relu-fc2, fan-in uniform weights."""
    with _private_init():
        model = nn.Sequential(
            OrderedDict(fc1=nn.Linear(n_features, hidden), relu=nn.ReLU(), fc2=nn.Linear(hidden, n_classes))
        )
    return fan_in_uniform_(model, seed).eval()


def linear_model(in_shape=(3, 4, 4), n_classes=5, seed=0, scale=0.3) -> nn.Sequential:
    """``f(x) = W x + b`` on flattened inputs (train mode; ``W`` and ``b`` drawn by
    :func:`seeded_` with ``scale``): the gradient of class k is the constant ``W[k]``."""
    with _private_init():
        model = nn.Sequential(nn.Flatten(), nn.Linear(int(np.prod(in_shape)), n_classes))
    return seeded_(model, seed, scale)


class Quadratic(nn.Module):
    """``f_k(x) = Σ a_k ⊙ x²``: the gradient of class k is ``2 a_k ⊙ x``."""

    def __init__(self, in_shape=(2, 3, 3), n_classes=3, seed=0) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.a = nn.Parameter(torch.randn((n_classes, *in_shape), generator=gen))

    def forward(self, x):
        return torch.einsum("nchw,kchw->nk", x * x, self.a)


# ---------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------


def images(shape=IMAGE_SHAPE, seed: int = 1234) -> torch.Tensor:
    """The ``images`` fixture: float32 tensor, uniform in [0, 1), (4, 3, 16, 16) by default."""
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed))


def labels() -> torch.Tensor:
    """The ``labels`` fixture: one distinct class per image of :func:`images`."""
    return torch.tensor(IMAGE_LABELS)


def batch(n=4, shape=(3, 8, 8), n_classes=N_CLASSES, seed=0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` float32 inputs of ``shape`` uniform in [0, 1), then ``n`` int64 labels below
    ``n_classes``, both from ``np.random.default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    return rng.random((n, *shape), dtype=np.float32), rng.integers(0, n_classes, n)


def resnet18_batch(n=2, side=32, n_classes=N_CLASSES, seed=0) -> tuple[np.ndarray, np.ndarray]:
    """Images for :func:`resnet18_model`: 32 x 32 is the smallest side that keeps a 1 x 1
    map after the network's five halvings."""
    return batch(n, (3, side, side), n_classes, seed)


def conv1d_batch(n=4, channels=3, length=32, n_classes=N_CLASSES, seed=0) -> tuple[np.ndarray, np.ndarray]:
    """Series of shape (n, channels, length) for :func:`conv1d_model`."""
    return batch(n, (channels, length), n_classes, seed)


def tabular_batch(n=8, n_features=8, n_classes=N_CLASSES, seed=0) -> tuple[np.ndarray, np.ndarray]:
    """Rows of shape (n, n_features) for :func:`tabular_model`."""
    return batch(n, (n_features,), n_classes, seed)


def dropout_batch(n=4, n_classes=N_CLASSES, seed=0) -> tuple[np.ndarray, np.ndarray]:
    """(3, 8, 8) images for :func:`dropout_model` (the same as ``batch(n)``)."""
    return batch(n, (3, 8, 8), n_classes, seed)


def frozen_batch(n=4, n_classes=N_CLASSES, seed=0) -> tuple[np.ndarray, np.ndarray]:
    """(3, 8, 8) images for :func:`frozen_model` (the same as ``batch(n)``)."""
    return batch(n, (3, 8, 8), n_classes, seed)


# ---------------------------------------------------------------------------------------
# checks
# ---------------------------------------------------------------------------------------


def predict(model: nn.Module, x: np.ndarray) -> np.ndarray:
    """The model's predicted classes for the numpy batch ``x`` (no grad, mode unchanged)."""
    with torch.no_grad():
        return model(torch.from_numpy(x)).argmax(1).numpy()


def fails_on_call(explain_func: Callable, n: int, message: str) -> Callable:
    """An explain function that calls ``explain_func(model, inputs, targets)`` but raises
    ``RuntimeError(message)`` on its ``n``-th call."""
    calls = {"n": 0}

    def failing(model, inputs, targets, **kwargs):
        calls["n"] += 1
        if calls["n"] == n:
            raise RuntimeError(message)
        return explain_func(model, inputs, targets)

    return failing


def rng_states():
    """The global torch (CPU) and numpy RNG states, to compare with later."""
    return torch.random.get_rng_state().clone(), np.random.get_state()


def assert_rng_unchanged(before) -> None:
    """Neither global RNG has moved since ``before = rng_states()``."""
    torch_state, np_state = rng_states()
    assert torch.equal(torch_state, before[0]), "global torch RNG state changed"
    assert (
        np_state[0] == before[1][0]
        and np.array_equal(np_state[1], before[1][1])
        and np_state[2:] == before[1][2:]
    ), "global numpy RNG state changed"


class ModelWatch:
    """Snapshot a model now; ``assert_unchanged()`` later."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.snap = snapshot(model)

    def assert_unchanged(self) -> None:
        diffs = snapshot_differences(self.model, self.snap)
        assert not diffs, diffs
