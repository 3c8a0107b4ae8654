"""Removing features by rank: the ranking, tie-breaking and imputation of ROAR/KAR.

Features are ranked by an attribution map; ties are broken by a seeded random order (the
original ROAR code breaks them by pixel index, which biases flat maps towards the top-left).
The removed features are then imputed (:mod:`xai_sanity.metrics.imputation`): by a fill
value per channel (``"mean"``, the training set's channel mean in Hooker et al. 2019), or by
ROAD's noisy linear imputation (``"noisy_linear"``, Rong et al. 2022), which hides the shape
of the removed region.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..imputation import impute

__all__ = [
    "channel_means",
    "check_fractions",
    "degrade",
    "noise_generator",
    "removal_mask",
    "remove_features",
]


def check_fractions(values: Any, name: str = "fractions") -> tuple[float, ...]:
    """The distinct fractions in ``values``, sorted; ``ValueError`` naming ``name`` unless
    they are numbers in ``[0, 1]`` (at least one)."""
    try:
        fractions = [float(t) for t in np.atleast_1d(np.asarray(values, dtype=float))]
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be numbers in [0, 1], got {values!r}") from err
    if not fractions:
        raise ValueError(f"{name} must not be empty")
    bad = [t for t in fractions if not (math.isfinite(t) and 0.0 <= t <= 1.0)]
    if bad:
        raise ValueError(f"{name} must lie in [0, 1], got {bad}")
    return tuple(sorted(set(fractions)))


def channel_means(x: np.ndarray) -> np.ndarray:
    """Per-channel mean of ``x`` ``(N, C, ...)``, shape ``(C,)``, in float64: ROAR's fill value."""
    return np.asarray(x).mean(axis=(0, *range(2, np.ndim(x))), dtype=np.float64)


def noise_generator(seed: int, stream: int) -> np.random.Generator:
    """The private generator of the imputation noise of ``(seed, stream)`` (stream 0: training
    images, 1: test images)."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), 0x1A9E, int(stream)]))


def _tie_keys(n: int, n_features: int, seed: int, stream: int) -> np.ndarray:
    """Seeded random secondary sort keys (one per feature), from a private generator."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x70A2, int(stream)]))
    return rng.random((n, n_features))


def _feature_scores(a: np.ndarray, x_shape: tuple[int, ...], per_pixel: bool) -> np.ndarray:
    """Attribution per feature, flattened to ``(N, n_features)``."""
    a = np.asarray(a, dtype=np.float64)
    if per_pixel:
        return a.sum(axis=1).reshape(x_shape[0], -1)
    return np.broadcast_to(a, x_shape).reshape(x_shape[0], -1)


def removal_mask(
    a: np.ndarray,
    x_shape: tuple[int, ...],
    fraction: float,
    *,
    keep: bool = False,
    per_pixel: bool = True,
    seed: int = 0,
    stream: int = 0,
) -> np.ndarray:
    """Boolean mask of the features to replace, ``(N, 1, ...)`` per pixel or ``x_shape``.

    Exactly ``round(fraction * n_features)`` features per image are marked: the highest
    ranked ones (ROAR) or, with ``keep=True``, the lowest ranked ones (KAR). Ties are broken
    by a random order drawn from ``(seed, stream)``.
    """
    scores = _feature_scores(a, x_shape, per_pixel)
    n, n_features = scores.shape
    k = int(round(float(fraction) * n_features))
    keys = _tie_keys(n, n_features, seed, stream)
    # np.lexsort sorts by the last key first: descending score, then the random key.
    order = np.lexsort((keys, -scores if not keep else scores), axis=-1)
    flat = np.zeros((n, n_features), dtype=bool)
    np.put_along_axis(flat, order[:, :k], True, axis=-1)
    shape = (n, 1, *x_shape[2:]) if per_pixel else tuple(x_shape)
    return flat.reshape(shape)


def degrade(
    x: np.ndarray,
    a: np.ndarray,
    fraction: float,
    fill: np.ndarray,
    *,
    imputation: str = "mean",
    keep: bool = False,
    per_pixel: bool = True,
    seed: int = 0,
    stream: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """The removal mask of :func:`removal_mask` and ``x`` imputed there, *without* noise.

    The noise of ``"noisy_linear"`` is drawn later, per retraining, with
    :func:`xai_sanity.metrics.imputation.add_noise` (see :meth:`.cells.Cell.inputs`).
    Returns ``(x_degraded (float32), mask)``.
    """
    x = np.asarray(x, dtype=np.float32)
    mask = removal_mask(a, x.shape, fraction, keep=keep, per_pixel=per_pixel, seed=seed, stream=stream)
    return impute(x, mask, imputation, fill=fill, noise=0.0), mask


def remove_features(
    x: np.ndarray,
    a: np.ndarray,
    fraction: float,
    fill: np.ndarray,
    *,
    keep: bool = False,
    per_pixel: bool = True,
    seed: int = 0,
    stream: int = 0,
    imputation: str = "mean",
    noise: float | np.ndarray | None = None,
) -> np.ndarray:
    """Replace a fraction of each image's features, ranked by ``a``, by imputed values.

    Parameters
    ----------
    x : numpy.ndarray
        Images ``(N, C, ...)``.
    a : numpy.ndarray
        Attributions ``(N, 1 or C, ...)``.
    fraction : float
        Fraction of features replaced, in ``[0, 1]``; exactly ``round(fraction *
        n_features)`` per image.
    fill : numpy.ndarray
        Replacement value per channel, shape ``(C,)`` (the training set's channel means);
        with ``"noisy_linear"`` only for images whose features are all removed.
    keep : bool, default False
        ``False`` (ROAR): replace the most important features; ``True`` (KAR): replace the
        least important ones.
    per_pixel : bool, default True
        Rank pixels (attributions summed over channels; all channels of a pixel are
        replaced together) instead of single elements.
    seed, stream : int
        Seed the random order that breaks ties (``stream`` separates e.g. train and test),
        and the imputation noise.
    imputation : {"mean", "noisy_linear"}, default "mean"
        See :func:`xai_sanity.metrics.imputation.impute`.
    noise : float or array of shape (C,), optional
        Noise level of the imputation (see :func:`~xai_sanity.metrics.imputation.impute`).

    Returns
    -------
    numpy.ndarray
        A new float32 array; ``x`` is not modified.

    Examples
    --------
    >>> x = np.ones((1, 3, 2, 2), dtype=np.float32)
    >>> out = remove_features(x, np.zeros((1, 1, 2, 2)), 0.5, np.zeros(3))
    >>> int((out == 0).all(axis=1).sum())  # two of the four pixels, all channels
    2
    """
    x = np.asarray(x, dtype=np.float32)
    mask = removal_mask(a, x.shape, fraction, keep=keep, per_pixel=per_pixel, seed=seed, stream=stream)
    return impute(x, mask, imputation, fill=fill, noise=noise, seed=noise_generator(seed, stream))
