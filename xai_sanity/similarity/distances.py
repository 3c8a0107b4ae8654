"""Distances between maps, where lower means more similar: the mean squared error."""

from __future__ import annotations

import numpy as np
import torch

from ._inputs import ArrayLike, _check_bool, _finish, _flat64, _pair

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

    References
    ----------
    Adebayo et al. (2018), Sanity checks for saliency maps, NeurIPS.

    Examples
    --------
    >>> import numpy as np
    >>> mse(np.zeros((2, 3)), np.array([[1.0, 1.0, 1.0], [0.0, 0.0, 3.0]]))
    array([1., 3.])
    """
    return_tensor = _check_bool(return_tensor, "return_tensor")
    ta, tb = _pair(a, b)
    scores = (_flat64(ta) - _flat64(tb)).square().mean(dim=1)
    return _finish("mse", scores, None, None, "", return_tensor)
