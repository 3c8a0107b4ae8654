"""Top-K Intersection: the fraction of the k most relevant features inside the mask."""

from __future__ import annotations

from typing import Any, ClassVar

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
    k : int or float
        How many top features to take: an int, at most the number of features per sample,
        or a float in (0, 1), that fraction of each sample's features,
        ``max(1, round(k * n_features))``. Default 1000 (as in Quantus; too many for images
        smaller than 32 x 32); the default suite uses ``k=0.02`` (2 %: Quantus's 1000 is
        2 % of a 224 x 224 map), which fits tables and short series too.
    concept_influence : bool
        Whether to divide by the mask's relative size.
    abs : bool, default False
        With ``abs=True`` the top features are the largest magnitudes.
        The other common parameters: see :class:`LocalisationMetric`.

    Notes
    -----
    Ties: features are ordered as Quantus orders them, with numpy's default (unstable)
    ``argsort`` of the negated map, so where tied values straddle the k-th place the same
    features are chosen as in Quantus. A constant map (every value equal, e.g. all zero,
    after ``normalise`` and ``abs``) has no top features, and scores NaN.

    Differences from Quantus: ``k`` equal to the number of features is accepted (Quantus
    requires ``k`` to be strictly smaller), and ``k`` may be a fraction (Quantus takes ints
    only); an empty mask gives NaN with one warning (Quantus: NaN, and a numpy division
    warning with ``concept_influence``). A constant map gives NaN with one warning per
    call: Quantus raises a bare ``AssertionError`` when a whole batch from an
    ``explain_func`` is all zero or constant, and otherwise (a constant map among others,
    or in a given ``a_batch``) takes the first k features in raster order, so that its
    score depends only on where the mask lies.

    References
    ----------
    J. Theiner, E. Müller-Budack and R. Ewerth, "Interpretable semantic photo
    geolocation", IEEE/CVF Winter Conference on Applications of Computer Vision (WACV),
    pp. 750-760, 2022 (arXiv:2104.14995).

    """

    name = "TopKIntersection"
    _function = staticmethod(functional.top_k_intersection)
    # 2 % of the features: Quantus's default k=1000 is 2 % of a 224 x 224 map, and more
    # than a table, a short series or a 28 x 28 image has.
    suite_params: ClassVar[dict[str, Any]] = {**LocalisationMetric.suite_params, "k": 0.02}

    @with_common_parameters()
    def __init__(self, k: int | float = 1000, concept_influence: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.k = functional.check_k(k)
        self.concept_influence = check_bool(concept_influence, "concept_influence")
