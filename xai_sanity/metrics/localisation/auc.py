"""AUC: the area under the ROC curve of the attributions as a detector of the mask."""

from __future__ import annotations

from . import functional
from .base import LocalisationMetric

__all__ = ["AUC"]


class AUC(LocalisationMetric):
    """AUC: the area under the ROC curve of the attributions as a detector of the mask.

    Each feature's attribution is a score for "this feature is in the mask"; the AUC is
    the probability that a random feature inside the mask has a larger attribution than a
    random one outside it, ties counting one half (Fawcett, 2006). 0.5 is chance level.
    It is computed for the whole batch from average ranks with the Mann-Whitney identity
    ``AUC = (sum of the ranks inside - P (P + 1) / 2) / (P Q)`` for P features inside and
    Q outside, which equals scikit-learn's ``roc_auc_score`` (what Quantus uses).

    The parameters are those of :class:`LocalisationMetric`; with ``abs=True`` the
    magnitudes detect the mask.

    Notes
    -----
    Ties count one half, so a constant map (every value equal, e.g. all zero, after
    ``normalise`` and ``abs``) scores exactly 0.5: by AUC's definition, no information
    about the mask, the same as chance. It is therefore a score, not NaN.

    Differences from Quantus: none in the numbers, except that Quantus raises a bare
    ``AssertionError`` when a whole batch from an ``explain_func`` is all zero or constant
    (ours scores each of those maps 0.5, as both do for a constant map otherwise). An
    empty mask or a mask that covers every feature (no negatives) makes the AUC
    undefined: both give NaN, as in Quantus, but with one ``RuntimeWarning`` per call
    instead of scikit-learn's warnings per sample.

    References
    ----------
    T. Fawcett, "An introduction to ROC analysis", Pattern Recognition Letters
    27(8):861-874, 2006; J. A. Hanley and B. J. McNeil, "The meaning and use of the area
    under a receiver operating characteristic (ROC) curve", Radiology 143(1):29-36, 1982.

    """

    name = "AUC"
    _function = staticmethod(functional.auc)
