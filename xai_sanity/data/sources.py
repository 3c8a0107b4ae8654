"""Raw material of the semi-natural dataset: source digits, background photographs, geometry.

This module only sources and prepares ingredients; :mod:`xai_sanity.data.semi_natural`
draws the random parameters and composes the images from them.

* Source digits: scikit-learn's bundled 8x8 ``load_digits`` images, scaled to ``[0, 1]``,
  and their fixed train/test partition (:func:`digit_split_indices`).
* Backgrounds: the scikit-image photographs named in :data:`BACKGROUND_NAMES`, as float32
  RGB, and for each output size a pyramid of resized copies to cut crops from.
* Geometry and colour: the ``affine_grid`` matrices that place a distorted digit inside
  the image, and a vectorised HSV to RGB conversion for the digit colours.

Nothing here draws random numbers except the seeded permutation of the digit partition;
no file is downloaded. The loaded arrays are cached and read-only.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["BACKGROUND_NAMES", "N_SOURCE_DIGITS", "digit_split_indices"]

#: scikit-image images used as backgrounds (all bundled with scikit-image, no download).
BACKGROUND_NAMES: tuple[str, ...] = (
    "astronaut",
    "coffee",
    "chelsea",
    "rocket",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "camera",
    "moon",
    "grass",
    "gravel",
    "brick",
    "coins",
    "clock",
)

#: Number of source digits in ``sklearn.datasets.load_digits``.
N_SOURCE_DIGITS = 1797

# Background crops are cut from copies of each photograph whose shorter side is this many
# times the output size (bigger factor = more zoomed-in crop).
_CROP_ZOOMS = (1.25, 2.0, 3.0, 4.5)
_SPLITS = ("train", "test")


def _seed_int(seed: object, name: str) -> int:
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {seed!r}")
    return int(seed)


@functools.lru_cache(maxsize=1)
def _source_digits() -> tuple[np.ndarray, np.ndarray]:
    """The ``load_digits`` images as read-only float32 in [0, 1], and their int64 labels."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (np.asarray(digits.images, dtype=np.float32) / 16.0).clip(0.0, 1.0)
    images.setflags(write=False)
    labels = np.asarray(digits.target, dtype=np.int64)
    labels.setflags(write=False)
    return images, labels


def digit_split_indices(split: str | None, split_seed: int = 0, test_fraction: float = 0.2) -> np.ndarray:
    """Indices of the ``load_digits`` source digits that belong to ``split``.

    The 1797 source digits are partitioned by a permutation seeded with ``split_seed``;
    the first ``round(test_fraction * 1797)`` go to ``"test"``, the rest to ``"train"``.
    ``split=None`` returns all indices. Train and test never share a digit.

    Examples
    --------
    >>> train, test = digit_split_indices("train"), digit_split_indices("test")
    >>> len(train), len(test), len(np.intersect1d(train, test))
    (1438, 359, 0)
    """
    if split is not None and split not in _SPLITS:
        raise ValueError(f"split must be 'train', 'test' or None, got {split!r}")
    if not 0.0 < float(test_fraction) < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    if split is None:
        return np.arange(N_SOURCE_DIGITS)
    perm = np.random.default_rng(
        np.random.SeedSequence([_seed_int(split_seed, "split_seed"), 7919])
    ).permutation(N_SOURCE_DIGITS)
    n_test = int(round(float(test_fraction) * N_SOURCE_DIGITS))
    chosen = perm[:n_test] if split == "test" else perm[n_test:]
    return np.sort(chosen)


@functools.lru_cache(maxsize=1)
def _raw_backgrounds() -> tuple[tuple[str, np.ndarray], ...]:
    """Load the bundled photographs as float32 RGB arrays in [0, 1] (skipping unavailable ones)."""
    import skimage.data
    from skimage.util import img_as_float32

    loaded = []
    missing = []
    for name in BACKGROUND_NAMES:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                image = getattr(skimage.data, name)()
        except Exception:  # noqa: BLE001 - any failure (e.g. needs a download) means "skip"
            missing.append(name)
            continue
        image = img_as_float32(image)
        if image.ndim == 2:
            image = np.repeat(image[:, :, None], 3, axis=2)
        image = np.ascontiguousarray(image[:, :, :3], dtype=np.float32).clip(0.0, 1.0)
        loaded.append((name, image))
    if missing:
        warnings.warn(
            f"skimage background images not available offline and skipped: {missing}; "
            "generated data will differ from other installations",
            RuntimeWarning,
            stacklevel=3,
        )
    if not loaded:
        raise RuntimeError("none of the scikit-image background images could be loaded")
    return tuple(loaded)


@functools.lru_cache(maxsize=4)
def _background_pyramid(image_size: int) -> tuple[tuple[str, ...], tuple[tuple[np.ndarray, ...], ...]]:
    """Each background resized so its shorter side is ``zoom * image_size`` for each zoom."""
    names = []
    levels = []
    for name, image in _raw_backgrounds():
        short = min(image.shape[:2])
        chw = torch.from_numpy(image).permute(2, 0, 1)[None]
        per_image = []
        for zoom in _CROP_ZOOMS:
            target_short = max(image_size, int(round(zoom * image_size)))
            factor = target_short / short
            shape = (
                max(image_size, int(round(image.shape[0] * factor))),
                max(image_size, int(round(image.shape[1] * factor))),
            )
            # Antialiased bilinear resampling (a triangle filter as wide as the scale factor).
            out = F.interpolate(chw, size=shape, mode="bilinear", align_corners=False, antialias=True)
            resized = np.ascontiguousarray(out[0].permute(1, 2, 0).numpy()).clip(0.0, 1.0)
            resized.setflags(write=False)
            per_image.append(resized)
        names.append(name)
        levels.append(tuple(per_image))
    return tuple(names), tuple(levels)


def _digit_transforms(
    scale: np.ndarray,
    angle: np.ndarray,
    shear: np.ndarray,
    log_aspect: np.ndarray,
    pos_u: np.ndarray,
    image_size: int,
) -> np.ndarray:
    """``affine_grid`` matrices mapping output coordinates to source-digit coordinates.

    The unit square of the source digit (coordinates ``v`` in ``[0, 1]^2``, as ``(x, y)``) is
    placed at output pixel coordinates ``u = c + M (v - 1/2)`` with
    ``M = k R(angle) Shear(shear) diag(a, 1/a)``. The centre ``c`` is drawn so that the whole
    transformed square lies inside the image. In the normalised coordinates of
    :func:`torch.nn.functional.affine_grid` (``align_corners=False``) the inverse map is
    ``x_in = S M^-1 x_out + M^-1 (S - 2c)``.
    """
    n = scale.shape[0]
    size = float(image_size)
    cos, sin = np.cos(angle), np.sin(angle)
    aspect = np.exp(log_aspect)
    rot = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], -2)
    shear_m = np.zeros((n, 2, 2))
    shear_m[:, 0, 0] = 1.0
    shear_m[:, 0, 1] = shear
    shear_m[:, 1, 1] = 1.0
    stretch = np.zeros((n, 2, 2))
    stretch[:, 0, 0] = aspect
    stretch[:, 1, 1] = 1.0 / aspect
    mat = (scale * size)[:, None, None] * (rot @ shear_m @ stretch)
    half = 0.5 * np.abs(mat).sum(axis=2)  # half-extent of the bounding box, (x, y)
    # Shrink the rare digits whose distorted square would not fit into the image.
    shrink = np.minimum(1.0, size / (2.0 * half.max(axis=1)))
    mat *= shrink[:, None, None]
    half *= shrink[:, None]
    centre = half + pos_u * (size - 2.0 * half)
    inv = np.linalg.inv(mat)
    theta = np.empty((n, 2, 3))
    theta[:, :, :2] = size * inv
    theta[:, :, 2] = (inv @ (size - 2.0 * centre)[:, :, None])[:, :, 0]
    return theta.astype(np.float32)


def _hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Vectorised HSV -> RGB for arrays of shape (N,), returns (N, 3)."""
    k = np.stack([(5.0 + h * 6.0) % 6.0, (3.0 + h * 6.0) % 6.0, (1.0 + h * 6.0) % 6.0], axis=1)
    ramp = np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)
    return (v[:, None] - v[:, None] * s[:, None] * ramp).astype(np.float32)
