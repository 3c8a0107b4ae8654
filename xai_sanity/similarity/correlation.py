"""Correlation of maps: Spearman rank correlation (plain and of ``|map|``) and Pearson.

Each sample pair is flattened and correlated over all its elements. Ranks are average
ranks for ties (as ``scipy.stats.spearmanr``), computed for the whole batch with one sort
per row; the Spearman score is the Pearson correlation of the ranks. A constant map has
no defined correlation: its score is NaN.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from .._validation import as_input_tensor
from ._inputs import (
    ArrayLike,
    _check_bool,
    _check_same_shape,
    _compare_rows,
    _constant_rows,
    _device_of,
    _finish,
    _flat,
    _flat64,
    _flat_abs,
)

__all__ = ["pearson", "spearman", "spearman_abs", "spearman_against"]


def _average_ranks(x: torch.Tensor) -> torch.Tensor:
    """1-based float64 ranks of each row of ``(N, M)``; tied values share their average rank.

    One sort per row; in sorted order each run of equal values spans the positions
    ``first..last``, found with a running max of run starts and a reversed running min of
    run ends, and every member of the run gets rank ``(first + last) / 2 + 1``. On the CPU
    the sort is numpy's (several times faster than ``torch.sort`` there); the rest is shared.
    Tied values are all given the same rank, so the order the sort leaves them in is irrelevant.
    """
    if x.device.type == "cpu":
        # Any order of tied values gives the same average ranks, so the fastest sort will do.
        order_np = np.argsort(x.numpy(), axis=1)
        order = torch.from_numpy(order_np)
        ordered = torch.gather(x, 1, order)
    else:
        ordered, order = torch.sort(x, dim=1)
    n, m = x.shape
    position = torch.arange(m, device=x.device).expand(n, m)
    change = ordered[:, 1:] != ordered[:, :-1]
    edge = torch.ones(n, 1, dtype=torch.bool, device=x.device)
    first = torch.where(torch.cat((edge, change), dim=1), position, 0).cummax(dim=1).values
    last = torch.where(torch.cat((change, edge), dim=1), position, m).flip(1).cummin(dim=1).values.flip(1)
    sorted_ranks = (first + last).to(torch.float64) / 2.0 + 1.0
    return torch.empty_like(sorted_ranks).scatter_(1, order, sorted_ranks)


def _pearson_rows(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Pearson correlation of each row pair of two ``(N, M)`` float64 tensors."""
    xc = x - x.mean(dim=1, keepdim=True)
    yc = y - y.mean(dim=1, keepdim=True)
    xc = xc / torch.linalg.vector_norm(xc, dim=1, keepdim=True)
    yc = yc / torch.linalg.vector_norm(yc, dim=1, keepdim=True)
    return (xc * yc).sum(dim=1).clamp(-1.0, 1.0)


def _rank_correlation(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Spearman correlation of each row pair of two ``(N, M)`` tensors (NaN if undefined)."""
    return _pearson_rows(_average_ranks(x), _average_ranks(y))


def spearman(
    a: ArrayLike, b: ArrayLike, absolute: bool = False, *, return_tensor: bool = False
) -> np.ndarray | torch.Tensor:
    """Spearman rank correlation of each pair of maps, over all their elements.

    The rank correlation Adebayo et al. (2018) use to compare an explanation with the
    explanation of a randomised model. Tied values get their average rank (as
    ``scipy.stats.spearmanr``); the score is the Pearson correlation of the ranks.

    Parameters
    ----------
    a, b : array or tensor of shape (N, ...)
        Two batches of maps of the same shape; each sample is flattened.
    absolute : bool, default False
        Rank ``|a|`` and ``|b|`` instead (Adebayo et al.'s "absolute value" variant, which
        ignores the sign of the attribution; registered as ``"spearman_abs"``).
    return_tensor : bool, default False
        Return a float64 tensor on the inputs' device instead of a numpy array.

    Returns
    -------
    numpy.ndarray or torch.Tensor of shape (N,), float64
        Scores in [-1, 1]; NaN (with one ``RuntimeWarning``) for a sample whose map (or
        ``|map|``) in ``a`` or ``b`` is constant.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> spearman(a, a**3)
    array([1.])
    >>> spearman(a, -a)
    array([-1.])
    """
    rows = _flat_abs if _check_bool(absolute, "absolute") else _flat
    return _compare_rows("spearman", a, b, return_tensor, rows, _rank_correlation, "constant map")


def spearman_abs(a: ArrayLike, b: ArrayLike, *, return_tensor: bool = False) -> np.ndarray | torch.Tensor:
    """Spearman rank correlation of ``|a|`` and ``|b|``: ``spearman(a, b, absolute=True)``.

    The absolute-value variant of Adebayo et al. (2018). See :func:`spearman`.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.array([[-3.0, 1.0, 2.0, -4.0]])
    >>> spearman_abs(a, np.abs(a))
    array([1.])
    """
    return _compare_rows("spearman_abs", a, b, return_tensor, _flat_abs, _rank_correlation, "constant |map|")


def pearson(a: ArrayLike, b: ArrayLike, *, return_tensor: bool = False) -> np.ndarray | torch.Tensor:
    """Pearson correlation of each pair of maps, over all their elements.

    Parameters
    ----------
    a, b : array or tensor of shape (N, ...)
        Two batches of maps of the same shape; each sample is flattened.
    return_tensor : bool, default False
        Return a float64 tensor on the inputs' device instead of a numpy array.

    Returns
    -------
    numpy.ndarray or torch.Tensor of shape (N,), float64
        Scores in [-1, 1] (equal to ``scipy.stats.pearsonr``); NaN (with one
        ``RuntimeWarning``) for a sample whose map in ``a`` or ``b`` is constant.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.arange(8.0).reshape(2, 4)
    >>> pearson(a, 2 * a + 1)
    array([1., 1.])
    """
    return _compare_rows("pearson", a, b, return_tensor, _flat64, _pearson_rows, "constant map")


def spearman_against(a: ArrayLike, absolute: bool = False) -> Callable[..., np.ndarray | torch.Tensor]:
    """``compare(b)`` equal to ``spearman(a, b, absolute)``, with ``a`` ranked once.

    For a metric that compares one reference batch with many (MPRT compares the original
    explanation with one explanation per randomised layer), this halves the ranking work.
    ``compare(b, return_tensor=False)`` checks ``b`` as :func:`spearman` does and gives the
    same scores and warnings.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> compare = spearman_against(a)
    >>> compare(a**3), compare(-a)
    (array([1.]), array([-1.]))
    """
    name, rows, reason = (
        ("spearman_abs", _flat_abs, "constant |map|")
        if _check_bool(absolute, "absolute")
        else ("spearman", _flat, "constant map")
    )
    home = _device_of(a, None)
    ta = as_input_tensor(a, home, name="a", min_ndim=2)
    x = rows(ta, "a")
    ranks, constant = _average_ranks(x), _constant_rows(x)

    def compare(b: ArrayLike, *, return_tensor: bool = False) -> np.ndarray | torch.Tensor:
        return_tensor = _check_bool(return_tensor, "return_tensor")
        device = _device_of(a, b)
        tb = as_input_tensor(b, device, name="b", min_ndim=2)
        _check_same_shape(ta, tb)
        y = rows(tb, "b")
        scores = _pearson_rows(ranks.to(device), _average_ranks(y))
        return _finish(name, scores, constant.to(device), _constant_rows(y), reason, return_tensor)

    return compare
