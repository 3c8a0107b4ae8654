"""Relevance Rank Accuracy: how many of the |mask| top-ranked features are in the mask."""

from __future__ import annotations

from . import functional
from .base import LocalisationMetric

__all__ = ["RelevanceRankAccuracy"]


class RelevanceRankAccuracy(LocalisationMetric):
    """Relevance Rank Accuracy: how many of the |mask| top-ranked features are in the mask.

    With ``K = |mask|``, the score is ``|top_K ∩ mask| / K`` (Arras et al., 2022): 1 when the
    K most relevant features are exactly the mask.

    The parameters are those of :class:`LocalisationMetric`; with ``abs=True`` features are
    ranked by magnitude.

    Notes
    -----
    Ties: features are ranked as in Quantus, by numpy's default (unstable) ``argsort`` of
    the negated map, so ties across the K-th place are broken the same way. A constant map
    (every value equal, e.g. all zero, after ``normalise`` and ``abs``) ranks no feature,
    and scores NaN.

    Differences from Quantus: an empty mask gives NaN with one warning per call (Quantus:
    NaN with a numpy division warning and its own warning once per chunk). A constant map
    gives NaN with one warning per call: Quantus raises a bare ``AssertionError`` when a
    whole batch from an ``explain_func`` is all zero or constant, and otherwise (a constant
    map among others, or in a given ``a_batch``) takes the first K features in raster
    order, so that its score depends only on where the mask lies.

    References
    ----------
    Arras et al. (2022), CLEVR-XAI; cited in full in :class:`RelevanceMassAccuracy`.

    """

    name = "RelevanceRankAccuracy"
    _function = staticmethod(functional.relevance_rank_accuracy)
