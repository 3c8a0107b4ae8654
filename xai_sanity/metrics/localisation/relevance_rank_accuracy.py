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
    the negated map, so ties across the K-th place are broken the same way.

    Differences from Quantus: an empty mask gives NaN with one warning per call (Quantus:
    NaN with a numpy division warning and its own warning once per chunk).

    References
    ----------
    Arras et al. (2022), CLEVR-XAI; cited in full in :class:`RelevanceMassAccuracy`.

    """

    name = "RelevanceRankAccuracy"
    _function = staticmethod(functional.relevance_rank_accuracy)
