"""Semi-natural digit images with pixel-exact localisation ground truth.

Real handwritten digits (scikit-learn's bundled 8x8 ``load_digits`` set) are upscaled to a
random size (65-85 % of the image side), slightly rotated, sheared and stretched, coloured,
and alpha-blended at a random position onto a random crop of one of scikit-image's bundled
natural photographs, whose contrast is reduced so the digit stays visible. The class
evidence lives only in the digit: the background, crop, flip, colour, polarity (bright digit
on a darkened background or dark digit on a lightened one), size, distortion and position are
all drawn independently of the label. The returned ``masks`` mark exactly the pixels that the digit changed, so they can
serve as the ``s_batch`` of Quantus localisation metrics.

Everything is generated from a private :class:`numpy.random.Generator`; the global numpy and
torch random states are never read or changed. No file is downloaded: only images that ship
with scikit-image are used.
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from numpy.lib.stride_tricks import sliding_window_view

__all__ = [
    "BACKGROUND_NAMES",
    "DATASET_VERSION",
    "SemiNaturalData",
    "digit_split_indices",
    "load_default_splits",
    "make_semi_natural",
]

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

#: Bump whenever a change to this module changes the generated images.
DATASET_VERSION = 1

#: Number of source digits in ``sklearn.datasets.load_digits``.
N_SOURCE_DIGITS = 1797

# Background crops are cut from copies of each photograph whose shorter side is this many
# times the output size (bigger factor = more zoomed-in crop).
_CROP_ZOOMS = (1.25, 2.0, 3.0, 4.5)
# Side of the (8x8) source digit's square after upscaling, as a fraction of the image side.
_DIGIT_SCALE = (0.65, 0.85)
# Ranges of the random digit distortions used with ``augment=True``.
_MAX_ROTATION = math.radians(12.0)
_MAX_SHEAR = 0.15
_MAX_LOG_ASPECT = 0.1
# Upscaled digit intensity (0..1) above which a pixel belongs to the digit (and the mask).
_MASK_THRESHOLD = 0.25
# Intensity at which the digit becomes fully opaque; alpha = min(1, intensity / this).
_ALPHA_FULL = 0.6
# Ranges of the HSV value of bright and dark digit colours.
_BRIGHT_VALUE = (0.85, 1.0)
_DARK_VALUE = (0.0, 0.15)
_SPLITS = ("train", "test")
_MIN_IMAGE_SIZE = 16


@dataclass
class SemiNaturalData:
    """A batch of semi-natural digit images.

    Attributes
    ----------
    x : numpy.ndarray
        Images, shape ``(N, 3, H, W)``, ``float32`` in ``[0, 1]``.
    y : numpy.ndarray
        Digit labels, shape ``(N,)``, ``int64`` in ``0..9``.
    masks : numpy.ndarray
        Localisation ground truth, shape ``(N, 1, H, W)``, ``float32`` with values 0/1; 1
        exactly where the digit was blended in (with ``background_only=True`` it marks where
        the digit *would* have been).
    digit_ids : numpy.ndarray
        Index of the source digit in ``sklearn.datasets.load_digits``, shape ``(N,)``.
    background_ids : numpy.ndarray
        Index into :data:`BACKGROUND_NAMES` of each image's background photograph.
    params : dict
        The arguments the data was generated with.

    Examples
    --------
    >>> data = make_semi_natural(8, seed=1)
    >>> len(data), data.x.shape, data.masks.shape
    (8, (8, 3, 32, 32), (8, 1, 32, 32))
    >>> data[:2].y.shape
    (2,)
    """

    x: np.ndarray
    y: np.ndarray
    masks: np.ndarray
    digit_ids: np.ndarray
    background_ids: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def __getitem__(self, index: Any) -> SemiNaturalData:
        """Select samples (slice, integer array or boolean mask); returns a new object."""
        if isinstance(index, (int, np.integer)):
            index = slice(int(index), int(index) + 1 if int(index) != -1 else None)
        return SemiNaturalData(
            x=self.x[index],
            y=self.y[index],
            masks=self.masks[index],
            digit_ids=self.digit_ids[index],
            background_ids=self.background_ids[index],
            params=dict(self.params),
        )

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return ``(x, y, masks)`` as CPU tensors sharing memory with the arrays."""
        return torch.from_numpy(self.x), torch.from_numpy(self.y), torch.from_numpy(self.masks)


@functools.lru_cache(maxsize=1)
def _source_digits() -> tuple[np.ndarray, np.ndarray]:
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


def _seed_int(seed: object, name: str) -> int:
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {seed!r}")
    return int(seed)


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


def make_semi_natural(
    n_samples: int = 20000,
    image_size: int = 32,
    seed: int = 0,
    split: str | None = "train",
    *,
    split_seed: int = 0,
    background_strength: float = 0.5,
    background_only: bool = False,
    augment: bool = True,
) -> SemiNaturalData:
    """Generate digits blended onto crops of natural photographs.

    Parameters
    ----------
    n_samples : int
        Number of images (>= 1).
    image_size : int
        Side length ``H = W`` of the square RGB images (>= 16).
    seed : int
        Seed of the private generator; the same arguments always give identical arrays.
        Train and test splits generated with the same seed use independent random streams.
    split : {"train", "test", None}
        Which source digits to draw from (see :func:`digit_split_indices`); ``None`` uses all
        1797. Train and test never share a source digit.
    split_seed : int
        Seed of the train/test partition of the source digits (keep it fixed across splits).
    background_strength : float
        Contrast kept in the background, in ``(0, 0.8]``. Bright digits are drawn on the
        background scaled into ``[0, s]``, dark digits on the background scaled into
        ``[1 - s, 1]``, so every digit pixel differs from the background. Lower = easier.
    background_only : bool
        Return the same backgrounds (same crops, labels, ``digit_ids`` and masks, i.e. the same
        random draws) without pasting the digits. Useful to show that the labels cannot be
        predicted from the backgrounds.
    augment : bool
        Randomly rotate (up to 12 degrees), shear and stretch each digit, which gives many
        more distinct digit shapes than the 1438 / 359 source digits of a split. With
        ``False`` the digits are only scaled and moved (the random draws are the same).

    Returns
    -------
    SemiNaturalData
        ``x`` ``(N, 3, H, W)`` float32 in [0, 1]; ``y`` ``(N,)`` int64; ``masks``
        ``(N, 1, H, W)`` float32 0/1 marking exactly the digit's pixels; ``digit_ids``;
        ``background_ids``; ``params``.

    Examples
    --------
    >>> data = make_semi_natural(n_samples=4, image_size=32, seed=0, split="test")
    >>> data.x.shape, data.x.dtype, data.y.dtype
    ((4, 3, 32, 32), dtype('float32'), dtype('int64'))
    >>> bool(((data.masks == 0) | (data.masks == 1)).all())
    True
    """
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
        raise ValueError(f"n_samples must be an integer >= 1, got {n_samples!r}")
    if (
        isinstance(image_size, bool)
        or not isinstance(image_size, (int, np.integer))
        or image_size < _MIN_IMAGE_SIZE
    ):
        raise ValueError(f"image_size must be an integer >= {_MIN_IMAGE_SIZE}, got {image_size!r}")
    if split is not None and split not in _SPLITS:
        raise ValueError(f"split must be 'train', 'test' or None, got {split!r}")
    seed = _seed_int(seed, "seed")
    split_seed = _seed_int(split_seed, "split_seed")
    if isinstance(background_strength, bool) or not isinstance(
        background_strength, (int, float, np.integer, np.floating)
    ):
        raise TypeError(f"background_strength must be a number, got {type(background_strength).__name__}")
    if not 0.0 < float(background_strength) <= 0.8:
        raise ValueError(f"background_strength must be in (0, 0.8], got {background_strength!r}")
    n = int(n_samples)
    size = int(image_size)
    strength = float(background_strength)

    source_images, source_labels = _source_digits()
    pool = digit_split_indices(split, split_seed)
    bg_names, pyramid = _background_pyramid(size)
    split_code = {None: 0, "train": 1, "test": 2}[split]
    rng = np.random.default_rng(np.random.SeedSequence([seed, split_code, size]))

    # All random draws happen here, up front and in a fixed order, so the images do not
    # depend on the rendering chunk size and background_only reuses exactly the same draws.
    digit_ids = pool[rng.integers(0, len(pool), size=n)]
    bg_ids = rng.integers(0, len(bg_names), size=n)
    levels = rng.integers(0, len(_CROP_ZOOMS), size=n)
    crop_u = rng.random((n, 2))
    flips = rng.random(n) < 0.5
    scale = rng.uniform(_DIGIT_SCALE[0], _DIGIT_SCALE[1], size=n)
    angle = rng.uniform(-_MAX_ROTATION, _MAX_ROTATION, size=n)
    shear = rng.uniform(-_MAX_SHEAR, _MAX_SHEAR, size=n)
    log_aspect = rng.uniform(-_MAX_LOG_ASPECT, _MAX_LOG_ASPECT, size=n)
    pos_u = rng.random((n, 2))
    bright = rng.random(n) < 0.5
    hue = rng.random(n)
    sat = rng.uniform(0.0, 1.0, size=n)
    val_u = rng.random(n)
    value = np.where(
        bright,
        _BRIGHT_VALUE[0] + val_u * (_BRIGHT_VALUE[1] - _BRIGHT_VALUE[0]),
        _DARK_VALUE[0] + val_u * (_DARK_VALUE[1] - _DARK_VALUE[0]),
    )
    colours = _hsv_to_rgb(hue, sat, value)  # (n, 3)
    if not augment:
        angle[:] = 0.0
        shear[:] = 0.0
        log_aspect[:] = 0.0
    theta = _digit_transforms(scale, angle, shear, log_aspect, pos_u, size)
    source = torch.from_numpy(np.array(source_images))

    x = np.empty((n, 3, size, size), dtype=np.float32)
    masks = np.empty((n, 1, size, size), dtype=np.float32)
    chunk = max(1, 2**22 // (size * size))
    for start in range(0, n, chunk):
        sl = slice(start, min(n, start + chunk))
        m = sl.stop - sl.start

        # Background crops, grouped by (photo, zoom level) so each group is one gather from a
        # strided (no-copy) view of all windows of the photo; shape (m, 3, size, size).
        bg = np.empty((m, 3, size, size), dtype=np.float32)
        keys = bg_ids[sl] * len(_CROP_ZOOMS) + levels[sl]
        for key in np.unique(keys):
            idx = np.flatnonzero(keys == key)
            photo = pyramid[key // len(_CROP_ZOOMS)][key % len(_CROP_ZOOMS)]
            h, w = photo.shape[:2]
            windows = sliding_window_view(photo, (size, size), axis=(0, 1))
            r0 = np.floor(crop_u[sl][idx, 0] * (h - size + 1)).astype(np.int64)
            c0 = np.floor(crop_u[sl][idx, 1] * (w - size + 1)).astype(np.int64)
            bg[idx] = windows[r0, c0]
        flip_idx = np.flatnonzero(flips[sl])
        bg[flip_idx] = bg[flip_idx, :, :, ::-1]
        # Compress the background's range away from the digit colour's range:
        # [0, s] behind bright digits, [1 - s, 1] behind dark ones.
        bg *= strength
        bg[~bright[sl]] += 1.0 - strength

        # Digit alpha maps: each source digit warped into place (bilinear, zero outside).
        grid = F.affine_grid(torch.from_numpy(theta[sl]), [m, 1, size, size], align_corners=False)
        warped = F.grid_sample(
            source[torch.from_numpy(digit_ids[sl])][:, None],
            grid,
            mode="bilinear",
            padding_mode="zeros",
            align_corners=False,
        )
        alpha = warped[:, 0].numpy()
        inside = alpha > _MASK_THRESHOLD
        alpha = np.where(inside, np.minimum(1.0, alpha / _ALPHA_FULL), 0.0).astype(np.float32)
        masks[sl, 0] = inside

        out = x[sl]
        if background_only:
            out[...] = bg
        else:
            # out = bg + alpha * (colour - bg), exactly bg wherever alpha == 0.
            np.subtract(colours[sl][:, :, None, None], bg, out=out)
            out *= alpha[:, None]
            out += bg
            np.clip(out, 0.0, 1.0, out=out)

    return SemiNaturalData(
        x=x,
        y=source_labels[digit_ids].astype(np.int64),
        masks=masks,
        digit_ids=digit_ids.astype(np.int64),
        background_ids=bg_ids.astype(np.int64),
        params={
            "n_samples": n,
            "image_size": size,
            "seed": seed,
            "split": split,
            "split_seed": split_seed,
            "background_strength": strength,
            "background_only": bool(background_only),
            "augment": bool(augment),
            "backgrounds": bg_names,
        },
    )


def load_default_splits(
    n_train: int = 20000,
    n_test: int = 2000,
    image_size: int = 32,
    seed: int = 0,
    **kwargs: Any,
) -> tuple[SemiNaturalData, SemiNaturalData]:
    """Train and test sets with disjoint source digits.

    Both splits use the same ``seed`` (their random streams differ because the split name is
    mixed into the seed) and the same digit partition; ``kwargs`` go to
    :func:`make_semi_natural`.

    Examples
    --------
    >>> train, test = load_default_splits(n_train=16, n_test=8)
    >>> len(train), len(test)
    (16, 8)
    >>> set(train.digit_ids.tolist()) & set(test.digit_ids.tolist())
    set()
    """
    train = make_semi_natural(n_train, image_size, seed, "train", **kwargs)
    test = make_semi_natural(n_test, image_size, seed, "test", **kwargs)
    return train, test
