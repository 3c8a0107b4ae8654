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

    Parameters
    ----------
    abs : bool, default False
        With ``abs=True`` the score lies in [0, 1].
        The other common parameters: see :class:`LocalisationMetric`.

    Notes
    -----
    Differences from Quantus: an empty mask gives NaN with one warning per call; a sample
    whose attributions sum to exactly 0 gives NaN with a warning (Quantus returns NaN or
    ±inf there, with a numpy division warning).

    References
    ----------
    L. Arras, A. Osman and W. Samek, "CLEVR-XAI: A benchmark dataset for the
    ground truth evaluation of neural network explanations", Information Fusion
    81:14-40, 2022 (arXiv:2003.07258).

    Examples
    --------
    >>> import numpy as np
    >>> a = np.zeros((1, 1, 4, 4), np.float32)
    >>> a[0, 0, 0, 0], a[0, 0, 3, 3] = 1.0, 3.0
    >>> s = np.zeros((1, 1, 4, 4), np.float32)
    >>> s[:, :, :2, :2] = 1
    >>> scores = RelevanceMassAccuracy()(model=None, x_batch=np.zeros((1, 3, 4, 4), np.float32),
    ...                                  y_batch=np.array([0]), a_batch=a, s_batch=s)
    >>> np.round(scores, 3)
    array([0.25])
    """

    name = "RelevanceMassAccuracy"
    _function = staticmethod(functional.relevance_mass_accuracy)
