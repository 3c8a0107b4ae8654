"""Relevance Rank Accuracy: how many of the |mask| top-ranked features are in the mask."""

from __future__ import annotations

from . import functional
from .base import LocalisationMetric

__all__ = ["RelevanceRankAccuracy"]


class RelevanceRankAccuracy(LocalisationMetric):
    """Relevance Rank Accuracy: how many of the |mask| top-ranked features are in the mask.

    With ``K = |mask|``, the score is ``|top_K ∩ mask| / K`` (Arras et al., 2022): 1 when the
    K most relevant features are exactly the mask.

    Parameters
    ----------
    abs : bool, default False
        With ``abs=True`` features are ranked by magnitude.
        The other common parameters: see :class:`LocalisationMetric`.

    Notes
    -----
    Ties: features are ranked as in Quantus, by numpy's default (unstable) ``argsort`` of
    the negated map, so ties across the K-th place are broken the same way.

    Differences from Quantus: an empty mask gives NaN with one warning per call (Quantus:
    NaN with a numpy division warning and its own warning once per chunk).

    References
    ----------
    Arras et al. (2022), CLEVR-XAI; cited in full in :class:`RelevanceMassAccuracy`.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    >>> s = np.zeros((1, 1, 4, 4), np.float32)
    >>> s[0, 0, 3, 2:] = 1  # the two largest values: 14 and 15
    >>> s[0, 0, 0, 0] = 1  # and the smallest
    >>> scores = RelevanceRankAccuracy()(model=None, x_batch=np.zeros((1, 3, 4, 4), np.float32),
    ...                                  y_batch=np.array([0]), a_batch=a, s_batch=s)
    >>> np.round(scores, 3)
    array([0.667])
    """

    name = "RelevanceRankAccuracy"
    _function = staticmethod(functional.relevance_rank_accuracy)
