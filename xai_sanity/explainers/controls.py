"""Control 'explanations' that ignore the model: a random map and a Sobel edge map.

Hooker et al. (2019) use both as controls in ROAR; an evaluation metric that cannot tell a
real explanation from these is not measuring the model.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .._safety import make_generator
from .base import Explainer


class RandomAttribution(Explainer):
    """Independent ``U(0, 1)`` values per input element, from a seeded generator."""

    name = "Random"
    stochastic = True
    uses_model = False

    def __init__(self, seed: int | None = 0) -> None:
        self.seed = seed

    def attribute(self, model, inputs, targets, generator=None):
        gen = generator if generator is not None else make_generator(self.seed, inputs.device)
        return torch.rand(inputs.shape, generator=gen, device=inputs.device, dtype=inputs.dtype)


def sobel_magnitude(images: torch.Tensor) -> torch.Tensor:
    """Sobel gradient magnitude per channel of ``(N, C, H, W)`` images.

    Same definition as ``skimage.filters.sobel``: derivative kernel ``[1, 0, -1]`` along one
    axis, smoothing ``[1, 2, 1] / 4`` along the other, edges by mirror reflection, and
    magnitude ``sqrt((g_h² + g_v²) / 2)``.
    """
    n, c, h, w = images.shape
    flat = images.reshape(n * c, 1, h, w)
    # A one-pixel 'reflect' border in scipy.ndimage's sense repeats the edge pixel.
    padded = F.pad(flat, (1, 1, 1, 1), mode="replicate")
    smooth = torch.tensor([1.0, 2.0, 1.0], dtype=images.dtype, device=images.device) / 4
    edge = torch.tensor([1.0, 0.0, -1.0], dtype=images.dtype, device=images.device)
    kernel_v = (edge[:, None] * smooth[None, :]).view(1, 1, 3, 3)
    kernel_h = (smooth[:, None] * edge[None, :]).view(1, 1, 3, 3)
    grad_v = F.conv2d(padded, kernel_v)
    grad_h = F.conv2d(padded, kernel_h)
    return torch.sqrt((grad_v**2 + grad_h**2) / 2).view(n, c, h, w)


class SobelEdges(Explainer):
    """The Sobel edge magnitude of each input channel (the ROAR 'Sobel' control)."""

    name = "SobelEdges"
    uses_model = False
    min_ndim = 4

    def __init__(self) -> None:
        pass

    def attribute(self, model, inputs, targets, generator=None):
        if inputs.shape[-1] < 2 or inputs.shape[-2] < 2:
            raise ValueError("SobelEdges needs inputs at least 2x2 pixels")
        return sobel_magnitude(inputs)
