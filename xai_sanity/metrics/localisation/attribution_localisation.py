"""Attribution Localisation: the share of the total attribution that falls in the mask."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import functional
from .base import LocalisationMetric, check_bool, with_common_parameters

__all__ = ["AttributionLocalisation"]


class AttributionLocalisation(LocalisationMetric):
    """Attribution Localisation: the share of the total attribution that falls in the mask.

    The score is the inside-total relevance ratio ``R_in / R_tot`` of Kohlbrenner et al.
    (2020): the sum of the attributions inside the mask over the sum of all attributions.
    It is meant for non-negative attributions (hence the default ``abs=True``); 1 means
    that all relevance is on the object.

    Parameters
    ----------
    weighted : bool
        If True, the ratio is multiplied by the mask's relative size
        ``|mask| / |features|`` (Quantus's convention, kept for parity).
    max_size : float
        A warning is emitted for samples whose mask covers more than this fraction of the
        features (the paper restricts the evaluation to objects that are not too large);
        their scores are still returned. Default 1.0 (never).
    positive_attributions : bool
        If True, negative attributions are set to 0 before the ratio is taken.
    abs : bool, default True
        With ``abs=False`` signed maps can give ratios outside [0, 1].
        The other common parameters: see :class:`LocalisationMetric`.

    Notes
    -----
    Kept for parity with Quantus: the denominator is ``R_tot + 1e-9``; with signed
    attributions a ratio above 1 is reported as NaN with a warning, while a negative ratio
    is returned as it is. A map whose attributions sum to exactly 0 (an all-zero map,
    after ``normalise``, ``abs`` and ``positive_attributions``) has no relevance to
    localise, and scores NaN.

    Differences from Quantus: Quantus measures the image size as ``x_batch[2:].size``,
    which slices the *batch* axis, so its ``weighted`` scores and its ``max_size``
    warnings depend on how many samples are in the chunk (for a chunk of one or two
    samples the size is 0, the ratio infinite and the warning always raised). Here the
    size is the number of features of one sample, so ``weighted`` scores differ from
    Quantus's; unweighted scores agree. Empty masks give NaN with one warning per call
    (Quantus: NaN without a warning). Attributions that sum to exactly 0 give NaN with one
    warning per call: Quantus raises a bare ``AssertionError`` when a whole batch from an
    ``explain_func`` is all zero, and otherwise (an all-zero map among others, or in a
    given ``a_batch``) scores it ``0 / (0 + 1e-9) = 0``, as if all relevance lay outside
    the mask (and a signed map that sums to 0 ``R_in / 1e-9``, NaN where above 1).

    References
    ----------
    M. Kohlbrenner, A. Bauer, S. Nakajima, A. Binder, W. Samek and
    S. Lapuschkin, "Towards best practice in explaining neural network decisions with
    LRP", International Joint Conference on Neural Networks (IJCNN), pp. 1-7, 2020
    (arXiv:1910.09840).

    """

    name = "AttributionLocalisation"
    _function = staticmethod(functional.attribution_localisation)

    # Quantus's AttributionLocalisation lists display_progressbar before disable_warnings.
    @with_common_parameters(
        abs=True,
        order=(
            "abs", "normalise", "normalise_func", "normalise_func_kwargs", "return_aggregate",
            "aggregate_func", "default_plot_func", "display_progressbar", "disable_warnings",
        ),
    )  # fmt: skip
    def __init__(
        self,
        weighted: bool = False,
        max_size: float = 1.0,
        positive_attributions: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.weighted = check_bool(weighted, "weighted")
        self.positive_attributions = check_bool(positive_attributions, "positive_attributions")
        if (
            isinstance(max_size, bool)
            or not isinstance(max_size, (int, float, np.number))
            or not max_size > 0
        ):
            raise ValueError(f"max_size must be a number > 0, got {max_size!r}")
        self.max_size = float(max_size)
