"""Control 'explanations' that ignore the model: a random map and a Sobel edge map.

Hooker et al. (2019) use both as controls in ROAR; an evaluation metric that cannot tell a
real explanation from these is not measuring the model.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .._safety import make_generator
from .._validation import check_input_layout
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
    magnitude ``sqrt((g_h² + g_v²) / 2)``, the root mean square of the two directional
    derivatives.
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


def sobel_magnitude_1d(series: torch.Tensor) -> torch.Tensor:
    """The 1-D analogue of :func:`sobel_magnitude` for ``(N, C, T)`` time series.

    With one axis there is nothing to smooth across and one directional derivative, so the
    root mean square of the derivatives is the absolute value of the central difference:
    ``|x[t + 1] - x[t - 1]|``, the derivative kernel ``[1, 0, -1]`` with the same border
    as the 2-D version (mirror reflection, so ``x[-1] = x[0]`` and ``x[T] = x[T - 1]``).
    This equals ``abs(scipy.ndimage.sobel(x))`` of each series on its own.
    """
    padded = F.pad(series, (1, 1), mode="replicate")
    return (padded[..., 2:] - padded[..., :-2]).abs()


def _spatial_dims(model: nn.Module, inputs: torch.Tensor, method: str) -> int:
    """1 for time series, 2 for images; ``ValueError`` for other layouts, or for a layout
    the model's first convolution does not take (a 3-D batch for an image model)."""
    dims = inputs.ndim - 2
    if dims not in (1, 2):
        raise ValueError(
            f"{method} needs images (N, C, H, W) or time series (N, C, T); got inputs of shape "
            f"{tuple(inputs.shape)}"
        )
    first = next((m for m in model.modules() if any(True for _ in m.parameters(recurse=False))), None)
    if isinstance(first, nn.modules.conv._ConvNd) and len(first.kernel_size) != dims:
        check_input_layout(model, inputs.shape)  # raises: names the layout the model takes
    return dims


class SobelEdges(Explainer):
    """The Sobel edge magnitude of each input channel (the ROAR 'Sobel' control).

    Images ``(N, C, H, W)`` get :func:`sobel_magnitude` (``skimage.filters.sobel``), time
    series ``(N, C, T)`` its 1-D analogue :func:`sobel_magnitude_1d`; tabular rows and
    other layouts raise ``ValueError``. The model's weights are not used, but a batch whose
    number of axes its first convolution cannot take is refused (an image model's 3-D
    batch is not read as time series).
    """

    name = "SobelEdges"
    uses_model = False

    def __init__(self) -> None:
        pass

    def attribute(self, model, inputs, targets, generator=None):
        if _spatial_dims(model, inputs, self.name) == 1:
            if inputs.shape[-1] < 2:
                raise ValueError("SobelEdges needs time series at least 2 steps long")
            return sobel_magnitude_1d(inputs)
        if inputs.shape[-1] < 2 or inputs.shape[-2] < 2:
            raise ValueError("SobelEdges needs inputs at least 2x2 pixels")
        return sobel_magnitude(inputs)
