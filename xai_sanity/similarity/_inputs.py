"""Input handling shared by the similarity functions.

Two batches of maps become two tensors on one device (:func:`_pair`), 2-D maps become an
image batch (:func:`_as_images`), and :func:`_finish` turns the float64 scores into what
the caller asked for, marking undefined samples as NaN with one warning per call.
:func:`_compare_rows` is the whole course of a similarity that scores two batches of
feature rows.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from .._validation import as_input_tensor

ArrayLike = Any  # numpy array or torch tensor


def _device_of(a: object, b: object) -> torch.device:
    da = a.device if isinstance(a, torch.Tensor) else None
    db = b.device if isinstance(b, torch.Tensor) else None
    if da is not None and db is not None and da != db:
        raise ValueError(f"a and b must be on the same device, got a on {da} and b on {db}")
    return da or db or torch.device("cpu")


def _pair(a: ArrayLike, b: ArrayLike, min_ndim: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate ``a`` and ``b`` and return them as float tensors on one device.

    Floating tensors keep their precision (float32 or float64; half precision and integers
    become float32) so that HOG can compute its gradients in the input's precision as
    skimage does; every score itself is computed in float64.
    """
    device = _device_of(a, b)
    ta = as_input_tensor(a, device, name="a", min_ndim=min_ndim)
    tb = as_input_tensor(b, device, name="b", min_ndim=min_ndim)
    _check_same_shape(ta, tb)
    return ta, tb


def _check_same_shape(ta: torch.Tensor, tb: torch.Tensor) -> None:
    if ta.shape != tb.shape:
        raise ValueError(
            f"a and b must have the same shape, got a: {tuple(ta.shape)} and b: {tuple(tb.shape)}"
        )


def _check_bool(value: object, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def _as_images(x: torch.Tensor, name: str) -> torch.Tensor:
    """``(N, H, W)`` → ``(N, 1, H, W)``; ``(N, C, ..., H, W)`` → ``(N, C', H, W)``."""
    if x.ndim < 3:
        raise ValueError(
            f"{name} must be a batch of 2-D maps, shape (N, H, W) or (N, C, H, W), got shape {tuple(x.shape)}"
        )
    if x.ndim == 3:
        return x.unsqueeze(1)
    return x.reshape(x.shape[0], -1, x.shape[-2], x.shape[-1])


def _finish(
    func: str,
    scores: torch.Tensor,
    undefined_a: torch.Tensor | None,
    undefined_b: torch.Tensor | None,
    reason: str,
    return_tensor: bool,
    stacklevel: int = 3,
) -> np.ndarray | torch.Tensor:
    """Set undefined samples to NaN (one warning per call) and convert the scores.

    ``stacklevel`` is the warning's, counted from here: the default 3 points at the caller
    of the public function that calls :func:`_finish`.
    """
    masks = [m for m in (undefined_a, undefined_b) if m is not None]
    if masks:
        undefined = masks[0] if len(masks) == 1 else masks[0] | masks[1]
        n_bad = int(undefined.sum())
        if n_bad:
            counts = []
            for label, mask in (("a", undefined_a), ("b", undefined_b)):
                if mask is not None and bool(mask.any()):
                    counts.append(f"{int(mask.sum())} in {label}")
            warnings.warn(
                f"{func} is undefined for {n_bad} of {scores.shape[0]} samples ({reason}: "
                f"{', '.join(counts)}); their scores are NaN",
                RuntimeWarning,
                stacklevel=stacklevel,
            )
            scores = scores.masked_fill(undefined, float("nan"))
    if return_tensor:
        return scores
    return scores.detach().cpu().numpy().astype(np.float64, copy=False)


# Rows for :func:`_compare_rows` (which also passes the argument's name, unused here).


def _flat(x: torch.Tensor, name: str = "") -> torch.Tensor:
    """Each sample flattened, ``(N, F)``, in the input's precision."""
    return x.reshape(x.shape[0], -1)


def _flat_abs(x: torch.Tensor, name: str = "") -> torch.Tensor:
    """``|x|``, each sample flattened, in the input's precision."""
    return _flat(x).abs()


def _flat64(x: torch.Tensor, name: str = "") -> torch.Tensor:
    """Each sample flattened, in float64."""
    return _flat(x).to(torch.float64)


def _constant_rows(x: torch.Tensor) -> torch.Tensor:
    """Rows of ``(N, M)`` whose values are all equal (exactly)."""
    return (x == x[:, :1]).all(dim=1)


def _compare_rows(
    func: str,
    a: ArrayLike,
    b: ArrayLike,
    return_tensor: bool,
    rows: Callable[[torch.Tensor, str], torch.Tensor],
    score: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    reason: str | None,
    min_ndim: int = 2,
) -> np.ndarray | torch.Tensor:
    """Score each sample pair of ``a`` and ``b`` through feature rows, for the public ``func``.

    Checks ``return_tensor``, pairs ``a`` and ``b`` (:func:`_pair`), turns each into rows
    ``(N, F)`` with ``rows(tensor, "a" or "b")`` and scores the row pairs with ``score``.
    With a ``reason``, a sample whose rows are constant in ``a`` or ``b`` has no defined
    score: NaN, with one warning that gives the reason (see :func:`_finish`).
    """
    return_tensor = _check_bool(return_tensor, "return_tensor")
    ta, tb = _pair(a, b, min_ndim=min_ndim)
    x, y = rows(ta, "a"), rows(tb, "b")
    undefined = (None, None) if reason is None else (_constant_rows(x), _constant_rows(y))
    return _finish(func, score(x, y), *undefined, reason or "", return_tensor, stacklevel=4)
