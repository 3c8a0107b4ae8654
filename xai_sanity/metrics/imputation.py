"""Filling in removed features: the mean fill of ROAR and ROAD's noisy linear imputation.

Metrics that remove features (ROAR/KAR, deletion curves) have to put *something* where the
features were. Two choices:

* ``"mean"`` — every removed value becomes a fixed value per channel (by default the
  channel's mean). This is what Hooker et al. ("A Benchmark for Interpretability Methods in
  Deep Neural Networks", NeurIPS 2019) do. The flat patch it leaves has the shape of the
  removed region, and that shape alone can tell a retrained model the class.
* ``"noisy_linear"`` — the imputation of Rong et al. ("A Consistent and Efficient Evaluation
  Strategy for Attribution Methods", ICML 2022, "ROAD"): each removed value equals the
  weighted mean of its neighbours (direct neighbours weight 1/6, diagonal neighbours 1/12;
  neighbours outside the image are left out and the weights renormalised), removed
  neighbours included, so that all removed values are found together as the solution of
  one sparse linear system; then small Gaussian noise is added. The filled region continues
  its surroundings smoothly and leaves far less trace of its outline.

The linear system is solved for a whole batch at once: one block-diagonal sparse matrix
whose blocks are the images (or, for a mask that differs between channels, the channels of
each image), with one right-hand side per channel that shares the mask.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import product

import numpy as np
import scipy.sparse as sp
from scipy.linalg import solveh_banded
from scipy.sparse.linalg import spsolve

__all__ = [
    "IMPUTATIONS",
    "NOISE_SCALE",
    "add_noise",
    "channel_stat",
    "check_imputation",
    "check_layout",
    "impute",
    "neighbour_weights",
]

#: The imputation methods :func:`impute` knows.
IMPUTATIONS = ("mean", "noisy_linear")
#: ROAD's noise level, as a fraction of each channel's standard deviation (see :func:`impute`).
NOISE_SCALE = 0.01
#: Most unknowns solved in one sparse system (whole images are never split).
_MAX_UNKNOWNS = 1 << 17
#: Widest band (in unknowns) solved as a banded system (rows up to 64 pixels wide); wider: sparse LU.
_MAX_BAND = 66


def check_imputation(method: object, name: str = "imputation") -> str:
    """``method`` if it names an imputation of :data:`IMPUTATIONS`, else ``ValueError``."""
    if not isinstance(method, str) or method not in IMPUTATIONS:
        raise ValueError(f"{name} must be one of {IMPUTATIONS}, got {method!r}")
    return method


def neighbour_weights(n_spatial: int) -> list[tuple[tuple[int, ...], float]]:
    """The neighbour offsets and weights of noisy linear imputation on ``n_spatial`` axes.

    Images (two spatial axes): the four direct neighbours weigh 1/6 and the four diagonal
    ones 1/12 (Rong et al. 2022). Sequences (one axis): the two direct neighbours, 1/6 each
    (only the ratio of the weights matters, since each pixel's weights are renormalised over
    the neighbours inside the image).

    Raises
    ------
    ValueError
        For other numbers of spatial axes (ROAD defines no neighbourhood for them).
    """
    if n_spatial not in (1, 2):
        raise ValueError(
            f"noisy_linear imputation needs inputs (N, C, T) or (N, C, H, W), with a neighbourhood "
            f"along 1 or 2 spatial axes; got {n_spatial} spatial axes"
        )
    offsets = [o for o in product((-1, 0, 1), repeat=n_spatial) if any(o)]
    return [(o, 1 / 6 if sum(map(abs, o)) == 1 else 1 / 12) for o in offsets]


def _as_mask(removed: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``removed`` as a bool array ``(N, 1 or C, *spatial)``; ``ValueError`` if it does not fit."""
    mask = np.asarray(removed)
    if mask.dtype != bool:
        if mask.size and not np.isin(mask, (0, 1)).all():
            raise ValueError("removed must be a boolean mask (or hold only 0 and 1)")
        mask = mask.astype(bool)
    if mask.ndim != len(shape):
        raise ValueError(f"removed must have {len(shape)} axes like x {shape}, got shape {mask.shape}")
    channels = mask.shape[1] if mask.shape[1] in (1, shape[1]) else None
    try:
        target = (shape[0], channels, *shape[2:]) if channels is not None else None
        if target is None:
            raise ValueError
        return np.broadcast_to(mask, target)
    except ValueError:
        raise ValueError(
            f"removed {mask.shape} must broadcast to (N, 1, *spatial) or (N, C, *spatial) of x {shape}"
        ) from None


def _per_channel(value: object, n_channels: int, name: str) -> np.ndarray:
    """A scalar or one value per channel as a float64 array ``(C,)``; ``ValueError`` otherwise."""
    arr = np.asarray(value, dtype=np.float64).reshape(-1)
    if arr.size == 1:
        arr = np.repeat(arr, n_channels)
    if arr.size != n_channels or not np.isfinite(arr).all():
        raise ValueError(f"{name} must be one finite value or {n_channels} (one per channel), got {value!r}")
    return arr


def _solve_blocks(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Noiseless noisy-linear values of the removed pixels of blocks that keep at least one pixel.

    ``x`` is float64 ``(B, K, P...)`` (K channels sharing each block's mask), ``mask`` bool
    ``(B, *spatial)`` with no block wholly removed. Returns ``(n_removed, K)`` in the order of
    ``np.nonzero(mask)``.
    """
    n_blocks, n_cols, spatial = x.shape[0], x.shape[1], x.shape[2:]
    n_pixels = math.prod(spatial)
    flat_mask = mask.reshape(n_blocks, n_pixels)
    block, pixel = np.nonzero(flat_mask)
    n = block.size
    if n == 0:
        return np.zeros((0, n_cols))
    unknown = np.full((n_blocks, n_pixels), -1, dtype=np.int64)
    unknown[block, pixel] = np.arange(n)
    coords = np.unravel_index(pixel, spatial)
    # (B, P, K): the K values of a pixel side by side, for the gathers below.
    values = np.ascontiguousarray(x.reshape(n_blocks, n_cols, n_pixels).transpose(0, 2, 1))
    diagonal = np.zeros(n)
    rhs = np.zeros((n, n_cols))
    rows, cols, weights = [], [], []
    for offset, weight in neighbour_weights(len(spatial)):
        moved = [c + o for c, o in zip(coords, offset)]
        inside = np.logical_and.reduce([(m >= 0) & (m < size) for m, size in zip(moved, spatial)])
        i = np.flatnonzero(inside)
        neighbour = np.ravel_multi_index(tuple(m[inside] for m in moved), spatial)
        diagonal[i] += weight
        j = unknown[block[i], neighbour]
        coupled = j >= 0
        rows.append(i[coupled])
        cols.append(j[coupled])
        weights.append(np.full(int(coupled.sum()), -weight))
        known = ~coupled
        # Each pixel has one neighbour per offset, so the rows i[known] are distinct here.
        rhs[i[known]] += weight * values[block[i[known]], neighbour[known]]
    # Row r: diagonal[r] * v_r - sum_removed w v_j = sum_known w x_k, i.e. v_r is the weighted
    # mean of its neighbours. The matrix is symmetric and, for blocks that keep a pixel,
    # positive definite (irreducibly diagonally dominant), so the solution is unique.
    return _solve_spd(diagonal, np.concatenate(rows), np.concatenate(cols), np.concatenate(weights), rhs)


def _solve_spd(
    diagonal: np.ndarray, rows: np.ndarray, cols: np.ndarray, off: np.ndarray, rhs: np.ndarray
) -> np.ndarray:
    """Solve the symmetric positive definite system ``A v = rhs``, ``A`` given by its diagonal
    and its off-diagonal entries ``A[rows, cols] = off`` (both triangles).

    The unknowns are numbered in C order of the pixels, so the matrix is banded, with a band
    about as wide as an image row: up to :data:`_MAX_BAND` a banded Cholesky solve (LAPACK
    via :func:`scipy.linalg.solveh_banded`) is several times faster than a general sparse
    LU; wider bands go to :func:`scipy.sparse.linalg.spsolve`.
    """
    n = diagonal.size
    lower = rows > cols
    band = int((rows[lower] - cols[lower]).max()) if lower.any() else 0
    if band <= _MAX_BAND:
        banded = np.zeros((band + 1, n))
        banded[0] = diagonal
        banded[rows[lower] - cols[lower], cols[lower]] = off[lower]
        solution = solveh_banded(banded, rhs, lower=True, check_finite=False)
    else:
        matrix = sp.csc_matrix(
            (
                np.concatenate([diagonal, off]),
                (np.concatenate([np.arange(n), rows]), np.concatenate([np.arange(n), cols])),
            ),
            shape=(n, n),
        )
        solution = spsolve(matrix, rhs)
    return np.asarray(solution, dtype=np.float64).reshape(n, rhs.shape[1])


def _noisy_linear(x: np.ndarray, mask: np.ndarray, fill: np.ndarray) -> np.ndarray:
    """Noiseless noisy-linear imputation of float64 ``x`` ``(N, C, *S)`` under ``mask``
    ``(N, 1 or C, *S)``; wholly removed blocks get ``fill`` (per channel)."""
    n, c = x.shape[:2]
    spatial = x.shape[2:]
    if mask.shape[1] == c and c > 1 and np.array_equal(mask, np.broadcast_to(mask[:, :1], mask.shape)):
        mask = mask[:, :1]  # one mask for all channels: one system with C right-hand sides
    if mask.shape[1] == 1:
        blocks, block_masks, block_fill = x, mask[:, 0], np.broadcast_to(fill, (n, c))
    else:  # a mask per channel: each (image, channel) is a block with one right-hand side
        blocks = x.reshape(n * c, 1, *spatial)
        block_masks = mask.reshape(n * c, *spatial)
        block_fill = np.tile(fill, n).reshape(n * c, 1)
    out = blocks.copy()
    flat_out = out.reshape(out.shape[0], out.shape[1], -1)
    flat_masks = block_masks.reshape(block_masks.shape[0], -1)
    whole = flat_masks.all(axis=1) & (flat_masks.shape[1] > 0)
    # Fallback: a block with no known pixel has nothing to interpolate from; it gets the fill.
    flat_out[whole] = block_fill[whole][:, :, None]
    solvable = np.flatnonzero(~whole & flat_masks.any(axis=1))
    per_block = flat_masks[solvable].sum(axis=1)
    start = 0
    while start < solvable.size:
        # Chunks of whole blocks with at most _MAX_UNKNOWNS unknowns (at least one block).
        stop = start + max(1, int(np.searchsorted(np.cumsum(per_block[start:]), _MAX_UNKNOWNS, "right")))
        chunk = solvable[start:stop]
        values = _solve_blocks(blocks[chunk], block_masks[chunk])
        b, p = np.nonzero(flat_masks[chunk])
        flat_out[chunk[b], :, p] = values
        start = stop
    return out.reshape(x.shape)


def impute(
    x: np.ndarray,
    removed: np.ndarray,
    method: str = "mean",
    *,
    fill: np.ndarray | Sequence[float] | float | None = None,
    noise: float | np.ndarray | None = None,
    seed: int | np.random.Generator | None = 0,
) -> np.ndarray:
    """Replace the removed features of ``x`` by imputed values.

    Parameters
    ----------
    x : numpy.ndarray
        Inputs ``(N, C, *spatial)``: images ``(N, C, H, W)`` or sequences ``(N, C, T)``
        (tables ``(N, F)`` only with ``"mean"``). Not modified.
    removed : numpy.ndarray of bool
        Which values to replace, broadcastable to ``x`` as ``(N, 1, *spatial)`` (whole
        pixels) or ``(N, C, *spatial)`` (single values; each channel is then imputed from
        its own known values).
    method : {"mean", "noisy_linear"}
        ``"mean"``: each removed value becomes ``fill`` of its channel (Hooker et al.,
        NeurIPS 2019). ``"noisy_linear"``: ROAD's noisy linear imputation (Rong et al.,
        ICML 2022): each removed value is the weighted mean of its 8 neighbours in an image
        (direct ones weight 1/6, diagonal ones 1/12) or its 2 neighbours in a sequence,
        renormalised over the neighbours inside the input and including removed
        neighbours, found for all removed values at once by one sparse linear solve per
        batch; then Gaussian noise is added. An image (or, with a mask per channel, a
        channel) whose values are *all* removed has nothing to interpolate from: it gets
        ``fill``.
    fill : float or array of shape (C,), optional
        Value per channel for ``"mean"`` (and for wholly removed images under
        ``"noisy_linear"``). Default: the channel means of ``x``.
    noise : float or array of shape (C,), optional
        Standard deviation of the Gaussian noise added to each removed value, in the units
        of ``x`` (per channel if an array). Default: none for ``"mean"``; for
        ``"noisy_linear"`` :data:`NOISE_SCALE` (0.01) times each channel's standard deviation
        over ``x`` — ROAD's 0.01 on inputs normalised to unit variance. Pass ``noise=0.01``
        for the absolute level of Quantus's ``noisy_linear_imputation``.
    seed : int, numpy.random.Generator or None, default 0
        Seeds the noise (a private generator; the global NumPy state is not used). ``None``
        draws fresh entropy.

    Returns
    -------
    numpy.ndarray
        A new array of ``x``'s floating dtype (float64 for integer input); the values not
        removed are those of ``x`` bit for bit.

    Raises
    ------
    ValueError
        For an unknown ``method`` (the message lists :data:`IMPUTATIONS`), a mask that does
        not fit ``x``, ``fill`` or ``noise`` of the wrong size, negative ``noise``, or
        ``"noisy_linear"`` on inputs without a neighbourhood (tables ``(N, F)``, or more
        than two spatial axes).

    Examples
    --------
    >>> x = np.tile(np.arange(5.0), (1, 1, 5, 1))  # a horizontal ramp, 1 image, 1 channel
    >>> hole = np.zeros_like(x, dtype=bool)
    >>> hole[..., 2, 2] = True
    >>> round(float(impute(x, hole, "noisy_linear", noise=0)[0, 0, 2, 2]), 12)  # the ramp's value
    2.0
    >>> float(impute(x, hole, "mean")[0, 0, 2, 2])  # the image's mean
    2.0
    """
    check_imputation(method, "method")
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    check_layout(x.shape, method)
    mask = _as_mask(removed, x.shape)
    n_channels = x.shape[1]
    fill_values = channel_stat(x, "mean") if fill is None else _per_channel(fill, n_channels, "fill")
    if method == "mean":
        # In x's dtype, as ROAR's mean fill always was.
        channel_shape = (1, n_channels) + (1,) * (x.ndim - 2)
        fill_full = np.broadcast_to(fill_values.astype(x.dtype).reshape(channel_shape), x.shape)
        out = np.where(np.broadcast_to(mask, x.shape), fill_full, x)
        return add_noise(out, mask, 0.0 if noise is None else noise, seed)
    solved = _noisy_linear(x.astype(np.float64), mask, fill_values)
    out = x.copy()
    full_mask = np.broadcast_to(mask, x.shape)
    out[full_mask] = solved[full_mask].astype(x.dtype)
    return add_noise(out, mask, NOISE_SCALE * channel_stat(x, "std") if noise is None else noise, seed)


def check_layout(shape: tuple[int, ...], method: str) -> None:
    """``ValueError`` unless inputs of ``shape`` can be imputed by ``method``.

    Every method needs ``(N, C, *spatial)`` or a table ``(N, F)``; ``"noisy_linear"`` needs
    a neighbourhood: sequences ``(N, C, T)`` or images ``(N, C, H, W)``.
    """
    check_imputation(method, "method")
    if len(shape) < 2:
        raise ValueError(f"x must be (N, C, *spatial) or (N, F), got shape {tuple(shape)}")
    if method == "noisy_linear" and len(shape) == 2:
        raise ValueError(
            "noisy_linear imputation needs a neighbourhood: inputs (N, C, T) or (N, C, H, W); "
            f"x is a table (N, F) = {tuple(shape)}. Use method='mean' for tables"
        )
    if method == "noisy_linear":
        neighbour_weights(len(shape) - 2)


def channel_stat(x: np.ndarray, stat: str) -> np.ndarray:
    """Per-channel ``"mean"`` or ``"std"`` of ``x`` ``(N, C, ...)`` over all other axes, float64 ``(C,)``."""
    axes = (0, *range(2, np.ndim(x)))
    return getattr(np.asarray(x), stat)(axis=axes, dtype=np.float64)


def add_noise(
    x: np.ndarray,
    removed: np.ndarray,
    noise: float | np.ndarray,
    seed: int | np.random.Generator | None = 0,
) -> np.ndarray:
    """``x`` with Gaussian noise of standard deviation ``noise`` (per channel) on the removed values.

    This is the noise step of :func:`impute`, for callers that solve an imputation once and
    draw its noise several times (ROAR draws it per retraining from the cell's seed). The
    draws follow the C order of the removed values of ``x``, computed in float64 and added
    in ``x``'s dtype. With zero noise ``x`` itself is returned (not a copy).

    Parameters
    ----------
    x : numpy.ndarray
        Imputed inputs ``(N, C, ...)`` (floating).
    removed : numpy.ndarray of bool
        The removal mask, as for :func:`impute`.
    noise : float or array of shape (C,)
        Standard deviation per channel, ``>= 0``.
    seed : int, numpy.random.Generator or None
        Seeds the private generator of the draws.
    """
    x = np.asarray(x)
    scale = _per_channel(noise, x.shape[1], "noise")
    if (scale < 0).any():
        raise ValueError(f"noise must be >= 0, got {noise!r}")
    if not scale.any():
        return x
    full_mask = np.broadcast_to(_as_mask(removed, x.shape), x.shape)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    scale_full = np.broadcast_to(scale.reshape((1, -1) + (1,) * (x.ndim - 2)), x.shape)
    draws = scale_full[full_mask] * rng.standard_normal(int(full_mask.sum()))
    out = x.copy()
    out[full_mask] += draws.astype(x.dtype)
    return out
