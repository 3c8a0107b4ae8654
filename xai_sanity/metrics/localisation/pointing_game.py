"""The Pointing Game: is the most relevant feature inside the ground-truth mask?"""

from __future__ import annotations

from typing import Any

from . import functional
from .base import LocalisationMetric, check_bool, with_common_parameters

__all__ = ["PointingGame"]


class PointingGame(LocalisationMetric):
    """Pointing Game: is the most relevant feature inside the ground-truth mask?

    For each sample the score is 1 if the attribution's maximum lies inside the mask and 0
    otherwise (Zhang et al., 2018). The mean over a data set is the pointing accuracy.

    Parameters
    ----------
    weighted : bool
        If True, a hit scores ``1 - |mask| / |features|`` instead of 1 (a hit on a small
        object is worth more than one on an object that covers the image); a miss scores 0.
        This variant is Quantus's, not the paper's.
    abs : bool, default False
        With ``abs=True`` the peak is the largest magnitude.
        The other common parameters: see :class:`LocalisationMetric`.

    Notes
    -----
    Ties: as in Quantus, every feature that equals the maximum counts as a maximum, so a
    sample scores a hit if *any* of its tied maxima is inside the mask. A constant map
    (every value equal, e.g. all zero, after ``normalise`` and ``abs``) has no peak, and
    scores NaN. The paper's 15-pixel tolerance is not applied.

    Differences from Quantus: an empty mask gives NaN and a ``RuntimeWarning`` (Quantus
    writes NaN into a boolean array and so returns True, a hit). A constant map gives NaN
    with one warning per call: Quantus raises a bare ``AssertionError`` when a whole batch
    from an ``explain_func`` is all zero or constant, and otherwise (a constant map among
    others, or in a given ``a_batch``) scores it a hit for any non-empty mask (every
    feature ties the maximum). Scores are floats (Quantus returns booleans).
    ``weighted=True`` works (in Quantus 0.6 it raises a ``TypeError``, and its booleans
    could not hold the weights anyway).

    References
    ----------
    J. Zhang, S. A. Bargal, Z. Lin, J. Brandt, X. Shen and S. Sclaroff,
    "Top-down neural attention by excitation backprop", International Journal of Computer
    Vision 126(10):1084-1102, 2018.

    """

    name = "PointingGame"
    _function = staticmethod(functional.pointing_game)

    @with_common_parameters()
    def __init__(self, weighted: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.weighted = check_bool(weighted, "weighted")
