"""Top-K Intersection: the fraction of the k most relevant features inside the mask."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import functional
from .base import LocalisationMetric, check_bool, with_common_parameters

__all__ = ["TopKIntersection"]


class TopKIntersection(LocalisationMetric):
    """Top-K Intersection: the fraction of the k most relevant features inside the mask.

    The score is ``|top_k ∩ mask| / k`` where ``top_k`` are the k features with the largest
    attributions (Theiner et al., 2022). With ``concept_influence`` it is divided by the
    mask's relative size ``|mask| / |features|``, so that a random ranking scores about 1.

    Parameters
    ----------
    k : int
        How many top features to take; at most the number of features per sample.
        Default 1000 (as in Quantus; too many for images smaller than 32 x 32).
    concept_influence : bool
        Whether to divide by the mask's relative size.
    abs : bool, default False
        With ``abs=True`` the top features are the largest magnitudes.
        The other common parameters: see :class:`LocalisationMetric`.

    Notes
    -----
    Ties: features are ordered as Quantus orders them, with numpy's default (unstable)
    ``argsort`` of the negated map, so where tied values straddle the k-th place the same
    features are chosen as in Quantus.

    Differences from Quantus: ``k`` equal to the number of features is accepted (Quantus
    requires ``k`` to be strictly smaller); an empty mask gives NaN with one warning
    (Quantus: NaN, and a numpy division warning with ``concept_influence``).

    References
    ----------
    J. Theiner, E. Müller-Budack and R. Ewerth, "Interpretable semantic photo
    geolocation", IEEE/CVF Winter Conference on Applications of Computer Vision (WACV),
    pp. 750-760, 2022 (arXiv:2104.14995).

    """

    name = "TopKIntersection"
    _function = staticmethod(functional.top_k_intersection)

    @with_common_parameters()
    def __init__(self, k: int = 1000, concept_influence: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k must be a positive int, got {k!r}")
        self.k = int(k)
        self.concept_influence = check_bool(concept_influence, "concept_influence")
