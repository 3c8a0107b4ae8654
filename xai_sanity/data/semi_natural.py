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

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from numpy.lib.stride_tricks import sliding_window_view

from .sources import (
    _CROP_ZOOMS,
    _SPLITS,
    BACKGROUND_NAMES,
    _background_pyramid,
    _digit_transforms,
    _hsv_to_rgb,
    _seed_int,
    _source_digits,
    digit_split_indices,
)

# Re-exported: code that imports these from this module keeps working.
from .sources import N_SOURCE_DIGITS as N_SOURCE_DIGITS
from .sources import _raw_backgrounds as _raw_backgrounds

__all__ = [
    "BACKGROUND_NAMES",
    "DATASET_VERSION",
    "SemiNaturalData",
    "digit_split_indices",
    "load_default_splits",
    "make_semi_natural",
]

#: Bump whenever a change to this module or to :mod:`.sources` changes the generated images.
DATASET_VERSION = 1

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
