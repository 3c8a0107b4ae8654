"""Small models and checks shared by the core tests."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from xai_sanity._safety import snapshot
from xai_sanity.testing import snapshot_differences


def seeded_(module: nn.Module, seed: int, scale: float = 0.3) -> nn.Module:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * scale)
    return module


def linear_model(in_shape=(3, 4, 4), n_classes=5, seed=0) -> nn.Sequential:
    """``f(x) = W x + b``: the gradient of class k is the constant ``W[k]``."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(int(np.prod(in_shape)), n_classes))
    return seeded_(model, seed)


class Quadratic(nn.Module):
    """``f_k(x) = Σ a_k ⊙ x²``: the gradient of class k is ``2 a_k ⊙ x``."""

    def __init__(self, in_shape=(2, 3, 3), n_classes=3, seed=0) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.a = nn.Parameter(torch.randn((n_classes, *in_shape), generator=gen))

    def forward(self, x):
        return torch.einsum("nchw,kchw->nk", x * x, self.a)


def small_cnn(seed=0, n_classes=10) -> nn.Sequential:
    model = nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 8, 3, padding=1), nn.ReLU(), nn.Flatten(),
        nn.Linear(8 * 4 * 4, 16), nn.ReLU(), nn.Linear(16, n_classes),
    )  # fmt: skip
    return seeded_(model, seed)


def batch(n=4, shape=(3, 8, 8), n_classes=10, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, *shape), dtype=np.float32), rng.integers(0, n_classes, n)


def rng_states():
    return torch.random.get_rng_state().clone(), np.random.get_state()


def assert_rng_unchanged(before) -> None:
    torch_state, np_state = rng_states()
    assert torch.equal(torch_state, before[0]), "global torch RNG state changed"
    assert np.array_equal(np_state[1], before[1][1]) and np_state[2:] == before[1][2:], (
        "global numpy RNG state changed"
    )


class ModelWatch:
    """Snapshot a model now; ``assert_unchanged()`` later."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.snap = snapshot(model)

    def assert_unchanged(self) -> None:
        diffs = snapshot_differences(self.model, self.snap)
        assert not diffs, diffs
