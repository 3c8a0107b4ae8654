"""Relevance Mass Accuracy: the attribution inside the mask over the total attribution."""

from __future__ import annotations

from . import functional
from .base import LocalisationMetric

__all__ = ["RelevanceMassAccuracy"]


class RelevanceMassAccuracy(LocalisationMetric):
    """Relevance Mass Accuracy: the attribution inside the mask over the total attribution.

    The score is ``R_within / R_total`` (Arras et al., 2022); for non-negative attributions
    it lies in [0, 1], 1 meaning that all relevance is on the ground truth. With signed
    attributions (the default ``abs=False``) it can leave that range, as in Quantus.

    The parameters are those of :class:`LocalisationMetric`; with ``abs=True`` the score lies
    in [0, 1].

    Notes
    -----
    Differences from Quantus: an empty mask gives NaN with one warning per call; a sample
    whose attributions sum to exactly 0 (e.g. an all-zero map) gives NaN with a warning
    (Quantus returns NaN or ±inf there, with a numpy division warning, and raises a bare
    ``AssertionError`` when a whole batch from an ``explain_func`` is all zero).

    References
    ----------
    L. Arras, A. Osman and W. Samek, "CLEVR-XAI: A benchmark dataset for the
    ground truth evaluation of neural network explanations", Information Fusion
    81:14-40, 2022 (arXiv:2003.07258).

    """

    name = "RelevanceMassAccuracy"
    _function = staticmethod(functional.relevance_mass_accuracy)
