"""Structural similarity (SSIM) of maps, batched, equal to skimage's per-sample SSIM.

The Gaussian filtering is computed only where the whole window lies inside the map, the
pixels skimage keeps after cropping its border, so no padding is needed. Samples are
processed in chunks that bound the memory: a small working set on the CPU (cache), a
larger one on an accelerator.
"""

from __future__ import annotations

import math
import sys

import numpy as np
import torch

from ._inputs import ArrayLike, _as_images, _check_bool, _finish, _pair

__all__ = ["ssim"]

_SSIM_K1 = 0.01
_SSIM_K2 = 0.03
_SSIM_TRUNCATE = 3.5  # skimage: an 11-tap window for sigma = 1.5


def _gaussian_window(sigma: float, device: torch.device) -> torch.Tensor:
    """The normalised 1-D Gaussian taps scipy's ``gaussian_filter`` uses (truncate=3.5)."""
    radius = int(_SSIM_TRUNCATE * sigma + 0.5)
    x = torch.arange(-radius, radius + 1, dtype=torch.float64, device=device)
    taps = torch.exp(-0.5 / (sigma * sigma) * x * x)
    return taps / taps.sum()


def _band_matrix(taps: torch.Tensor, size: int) -> torch.Tensor:
    """``(size - k + 1, size)`` matrix whose product with a vector is its 'valid' filtering."""
    k = taps.shape[0]
    out = size - k + 1
    rows = torch.arange(out, device=taps.device)
    matrix = torch.zeros(out, size, dtype=taps.dtype, device=taps.device)
    for j in range(k):
        matrix[rows, rows + j] = taps[j]
    return matrix


class _ValidGaussian:
    """Separable Gaussian filtering of the last two axes, window positions inside the map only.

    Only the outputs whose whole window lies inside the map are computed: exactly the
    pixels that remain after skimage crops its radius-wide border, where its reflect
    padding plays no part. On the CPU the taps are accumulated slice by slice (cheap and
    cache-friendly in small chunks); elsewhere the filtering is two products with banded
    matrices (fast on GPUs).
    """

    def __init__(self, taps: torch.Tensor, height: int, width: int, use_matmul: bool | None = None) -> None:
        self.use_matmul = taps.device.type != "cpu" if use_matmul is None else use_matmul
        if self.use_matmul:
            self.rows = _band_matrix(taps, height)
            self.cols = _band_matrix(taps, width)
        else:
            self.taps = [float(t) for t in taps]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_matmul:
            return self.rows @ x @ self.cols.T
        k = len(self.taps)
        out_h = x.shape[-2] - k + 1
        out = x[..., :out_h, :] * self.taps[0]
        for j in range(1, k):
            out.add_(x[..., j : j + out_h, :], alpha=self.taps[j])
        out_w = x.shape[-1] - k + 1
        result = out[..., :out_w] * self.taps[0]
        for j in range(1, k):
            result.add_(out[..., j : j + out_w], alpha=self.taps[j])
        return result


def _ssim_chunk(
    x: torch.Tensor, y: torch.Tensor, gaussian: _ValidGaussian, c1: torch.Tensor, c2: torch.Tensor
) -> torch.Tensor:
    """Mean SSIM over channels of ``(n, C, H, W)`` float64 maps; constants shaped (n, 1, 1, 1)."""
    stacked = torch.stack((x, y, x * x, y * y, x * y), dim=2)  # (n, C, 5, H, W)
    ux, uy, uxx, uyy, uxy = gaussian(stacked).unbind(dim=2)  # each (n, C, H', W')
    vx = uxx - ux * ux
    vy = uyy - uy * uy
    vxy = uxy - ux * uy
    s_map = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return s_map.mean(dim=(-2, -1)).mean(dim=1)


def _chunk_values(device: torch.device) -> int:
    """The most float64 values :func:`ssim` filters per chunk of samples on ``device``.

    The budgets are attributes of the package, ``xai_sanity.similarity._SSIM_CHUNK_VALUES``
    (accelerators) and ``_SSIM_CHUNK_VALUES_CPU``, read at each call so that changing them
    there takes effect.
    """
    package = sys.modules[__package__]
    return package._SSIM_CHUNK_VALUES_CPU if device.type == "cpu" else package._SSIM_CHUNK_VALUES


def _data_range_tensor(data_range: object, n: int, device: torch.device) -> torch.Tensor:
    if isinstance(data_range, torch.Tensor):
        values = data_range.detach().to(device=device, dtype=torch.float64)
    else:
        try:
            values = torch.as_tensor(np.asarray(data_range, dtype=np.float64), device=device)
        except (TypeError, ValueError) as err:
            raise TypeError(
                f"data_range must be a number or an array of N numbers, got {data_range!r}"
            ) from err
    if values.ndim == 0:
        values = values.expand(n)
    if values.shape != (n,):
        raise ValueError(f"data_range must be a number or have shape ({n},), got shape {tuple(values.shape)}")
    if not bool(torch.isfinite(values).all()) or bool((values <= 0).any()):
        raise ValueError(f"data_range must be finite and > 0, got {data_range!r}")
    return values


def _min_max_scale(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Scale each sample of ``(N, ...)`` to [0, 1]; also return the constant-sample mask."""
    flat = x.reshape(x.shape[0], -1)
    low = flat.min(dim=1).values
    span = flat.max(dim=1).values - low
    constant = span == 0
    span = torch.where(constant, torch.ones_like(span), span)
    shape = (-1,) + (1,) * (x.ndim - 1)
    return (x - low.view(shape)) / span.view(shape), constant


def ssim(
    a: ArrayLike,
    b: ArrayLike,
    data_range: float | ArrayLike | None = None,
    sigma: float = 1.5,
    scale: bool = True,
    *,
    return_tensor: bool = False,
) -> np.ndarray | torch.Tensor:
    """Structural similarity (SSIM) of each pair of maps, as in Adebayo et al. (2018).

    Wang et al.'s (2004) SSIM with a Gaussian window (``sigma=1.5``, 11 taps),
    K1 = 0.01, K2 = 0.03 and population (co)variances, averaged over the pixels at least a
    window radius away from the border. Equal, per 2-D sample, to
    ``skimage.metrics.structural_similarity(a_i, b_i, gaussian_weights=True, sigma=sigma,
    use_sample_covariance=False, data_range=...)``; a multi-channel sample
    ``(C, H, W)`` gives the mean over its channels (skimage's ``channel_axis=0``).

    Parameters
    ----------
    a, b : array or tensor of shape (N, H, W) or (N, C, H, W)
        Two batches of maps of the same shape (extra leading axes ``(N, C1, C2, H, W)``
        are treated as channels). H and W must be at least the window size
        ``2 * int(3.5 * sigma + 0.5) + 1`` (11 for ``sigma=1.5``).
    data_range : float or array of shape (N,), optional
        The value range ``R`` in the constants ``(K1 R)^2`` and ``(K2 R)^2``. Defaults to 1
        with ``scale=True``; required with ``scale=False``.
    sigma : float, default 1.5
        Standard deviation of the Gaussian window.
    scale : bool, default True
        Min-max scale each map (``a_i`` and ``b_i`` separately, over all its channels) to
        [0, 1] first, as Adebayo et al. do. A constant map cannot be scaled: its score is
        NaN (with one ``RuntimeWarning``).
    return_tensor : bool, default False
        Return a float64 tensor on the inputs' device instead of a numpy array.

    Returns
    -------
    numpy.ndarray or torch.Tensor of shape (N,), float64
        Mean SSIM of each sample, at most 1 (identical maps).

    Notes
    -----
    Computed in float64 whatever the input precision (skimage filters float32 input in
    float32, so for float32 maps this is the more accurate of the two).

    References
    ----------
    Wang et al. (2004), Image quality assessment: from error visibility to structural
    similarity, IEEE TIP. Adebayo et al. (2018), Sanity checks for saliency maps, NeurIPS.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> a = rng.random((2, 1, 16, 16))
    >>> ssim(a, a)
    array([1., 1.])
    >>> bool(ssim(a, rng.random((2, 1, 16, 16))).max() < 0.5)
    True
    """
    scale = _check_bool(scale, "scale")
    return_tensor = _check_bool(return_tensor, "return_tensor")
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float, np.integer, np.floating)):
        raise TypeError(f"sigma must be a number, got {sigma!r}")
    if not math.isfinite(sigma) or sigma <= 0:
        raise ValueError(f"sigma must be finite and > 0, got {sigma!r}")
    if data_range is None and not scale:
        raise ValueError("data_range is required with scale=False (the value range of the maps)")
    ta, tb = _pair(a, b, min_ndim=3)
    x = _as_images(ta, "a").to(torch.float64)
    y = _as_images(tb, "b").to(torch.float64)
    n, _, height, width = x.shape
    taps = _gaussian_window(float(sigma), x.device)
    win = taps.shape[0]
    if height < win or width < win:
        raise ValueError(
            f"a and b have maps of {height}x{width} pixels, smaller than the {win}x{win} SSIM "
            f"window (sigma={sigma}); SSIM needs maps of at least {win}x{win}"
        )
    const_a = const_b = None
    if scale:
        x, const_a = _min_max_scale(x)
        y, const_b = _min_max_scale(y)
    r = _data_range_tensor(1.0 if data_range is None else data_range, n, x.device).view(-1, 1, 1, 1)
    c1 = (_SSIM_K1 * r) ** 2
    c2 = (_SSIM_K2 * r) ** 2
    gaussian = _ValidGaussian(taps, height, width)
    chunk_values = _chunk_values(x.device)
    step = max(1, chunk_values // (5 * x[0].numel()))
    scores = torch.cat(
        [
            _ssim_chunk(x[i : i + step], y[i : i + step], gaussian, c1[i : i + step], c2[i : i + step])
            for i in range(0, n, step)
        ]
    )
    return _finish("ssim", scores, const_a, const_b, "constant map, cannot be min-max scaled", return_tensor)
