"""Distances between maps, where lower means more similar: the mean squared error."""

from __future__ import annotations

import numpy as np
import torch

from ._inputs import ArrayLike, _compare_rows, _flat64

__all__ = ["mse"]


def mse(a: ArrayLike, b: ArrayLike, *, return_tensor: bool = False) -> np.ndarray | torch.Tensor:
    """Mean squared difference of each pair of maps (lower means more similar).

    Parameters
    ----------
    a, b : array or tensor of shape (N, ...)
        Two batches of maps of the same shape.
    return_tensor : bool, default False
        Return a float64 tensor on the inputs' device instead of a numpy array.

    Returns
    -------
    numpy.ndarray or torch.Tensor of shape (N,), float64
        ``mean((a_i - b_i) ** 2)`` for each sample ``i``. ``mse.higher_is_similar`` is
        False.

    Examples
    --------
    >>> import numpy as np
    >>> mse(np.zeros((2, 3)), np.array([[1.0, 1.0, 1.0], [0.0, 0.0, 3.0]]))
    array([1., 3.])
    """
    return _compare_rows("mse", a, b, return_tensor, _flat64, _mean_squared_difference, None)


def _mean_squared_difference(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (x - y).square().mean(dim=1)
