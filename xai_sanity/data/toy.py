"""A tiny seeded problem for examples and quick checks: a small MLP and a batch it can explain."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

__all__ = ["toy_problem"]


def toy_problem(
    n: int = 4, shape: tuple[int, ...] = (3, 4, 4), n_classes: int = 3, seed: int = 0
) -> tuple[nn.Module, np.ndarray, np.ndarray]:
    """A small untrained MLP, ``n`` random inputs of ``shape`` and their labels.

    The model is ``Flatten → Linear(F, 8) → ReLU → Linear(8, n_classes)`` with weights from a
    private generator seeded by ``seed`` (the global RNG is not touched); inputs are uniform
    on [0, 1), float32, ``(n, *shape)``; labels cycle through the classes. ``shape`` may be
    an image ``(C, H, W)``, a series ``(C, T)`` or a table row ``(F,)``.

    Examples
    --------
    >>> model, x, y = toy_problem()
    >>> x.shape, y.tolist(), tuple(model(torch.from_numpy(x)).shape)
    ((4, 3, 4, 4), [0, 1, 2, 0], (4, 3))
    """
    features = int(np.prod(shape))
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):  # layer construction draws from the global RNG
        model = nn.Sequential(nn.Flatten(), nn.Linear(features, 8), nn.ReLU(), nn.Linear(8, n_classes))
    with torch.no_grad():
        for param in model.parameters():
            bound = 1.0 / np.sqrt(param.shape[-1])
            param.copy_((torch.rand(param.shape, generator=gen) * 2 - 1) * bound)
    x = np.random.default_rng(seed).random((n, *shape), dtype=np.float32)
    y = np.arange(n) % n_classes
    return model.eval(), x, y
