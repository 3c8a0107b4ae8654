"""Local Lipschitz Estimate (Alvarez-Melis & Jaakkola 2018): explanation change per input change."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from quantus.functions.similarity_func import distance_euclidean, lipschitz_constant

from ..._signatures import with_parameters
from .base import SHARED_PARAMETERS, SIMILARITY_ORDER, RobustnessMetric, repeat_rows

__all__ = ["LocalLipschitzEstimate", "lipschitz_ratio"]


def lipschitz_ratio(
    x: np.ndarray,
    x_pert: np.ndarray,
    a: np.ndarray,
    a_pert: np.ndarray,
    *,
    similarity_func: Callable = lipschitz_constant,
    norm_numerator: Callable = distance_euclidean,
    norm_denominator: Callable = distance_euclidean,
) -> np.ndarray:
    """Ratio of the change of each map to the change of its input, for each perturbation.

    Parameters
    ----------
    x, a : numpy.ndarray
        The original inputs and their maps, ``(N, ...)``.
    x_pert, a_pert : numpy.ndarray
        ``k`` perturbed copies of the inputs and their maps, ``(k, N, ...)``.
    similarity_func : callable, default ``quantus.similarity_func.lipschitz_constant``
        ``f(a, b, c, d, norm_numerator=..., norm_denominator=...) -> (M,)`` with ``a``, ``b``
        the original and perturbed maps and ``c``, ``d`` the original and perturbed inputs,
        each ``(M, F)``; the default is ``norm_numerator(a, b) / (norm_denominator(c, d) + 1e-10)``.
    norm_numerator, norm_denominator : callable, default ``quantus.similarity_func.distance_euclidean``
        Distances ``f(a, b) -> (M,)`` between maps and between inputs.

    Returns
    -------
    numpy.ndarray
        ``(k, N)``: row ``j`` holds the ratios of perturbation index ``j``.

    Examples
    --------
    >>> x, a = np.zeros((1, 2)), np.zeros((1, 2))
    >>> ratio = lipschitz_ratio(x, np.array([[[3.0, 4.0]]]), a, np.array([[[0.0, 10.0]]]))
    >>> np.round(ratio, 6)
    array([[2.]])
    """
    k, n = a_pert.shape[:2]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = similarity_func(
            a=repeat_rows(a, k),
            b=a_pert.reshape(k * n, -1),
            c=repeat_rows(x, k),
            d=x_pert.reshape(k * n, -1),
            norm_numerator=norm_numerator,
            norm_denominator=norm_denominator,
        )
    return np.asarray(ratio).reshape(k, n)


class LocalLipschitzEstimate(RobustnessMetric):
    """Local Lipschitz Estimate: the largest explanation change per unit of input change.

    Each input ``x`` with explanation ``a`` is perturbed ``nr_samples`` times (Gaussian
    noise by default) and the perturbed copies ``x'`` are explained; the score is the
    maximum over them of ``||a - a(x')|| / ||x - x'||`` (Euclidean distances by default),
    a sampled estimate of the local Lipschitz constant of the explanation map as defined
    by Alvarez-Melis & Jaakkola (2018). Lower is more robust.

    Reference: D. Alvarez-Melis and T. S. Jaakkola, "On the robustness of interpretability
    methods", ICML Workshop on Human Interpretability in Machine Learning, 2018
    (arXiv:1806.08049).

    Parameters
    ----------
    similarity_func : callable, optional
        ``f(a, b, c, d, norm_numerator=..., norm_denominator=...) -> (M,)`` with ``a``,
        ``b`` the original and perturbed maps and ``c``, ``d`` the original and perturbed
        inputs, each ``(M, F)``. Default ``quantus.similarity_func.lipschitz_constant``
        (``norm_numerator(a, b) / (norm_denominator(c, d) + 1e-10)``).
    norm_numerator, norm_denominator : callable, optional
        Distances ``f(a, b) -> (M,)``; default ``quantus.similarity_func.distance_euclidean``.
    nr_samples : int, default 200
    perturb_mean, perturb_std : float, default 0.0, 0.1
        Gaussian noise ``N(perturb_mean, perturb_std²)`` (the noise of Quantus's
        ``batch_gaussian_noise``).
    perturb_func : callable or {"uniform", "gaussian"}, optional
        None (default) or ``"gaussian"``: the seeded Gaussian noise above; otherwise as in
        :class:`~xai_sanity.metrics.MaxSensitivity`.
    perturb_func_kwargs : dict, optional
        Updates the noise parameters.
    return_nan_when_prediction_changes : bool, default False
        As in :class:`~xai_sanity.metrics.MaxSensitivity`.
    seed, chunk_size
        As in :class:`~xai_sanity.metrics.MaxSensitivity`.
    abs, normalise, ...
        As in :class:`xai_sanity.metrics.Metric` (with Quantus's defaults for this metric,
        ``abs=False``, ``normalise=True``).

    Examples
    --------
    >>> from xai_sanity import Saliency, data
    >>> scores = LocalLipschitzEstimate(nr_samples=10)(*data.toy_problem(), explain_func=Saliency())
    >>> bool(np.all(np.asarray(scores) >= 0))
    True
    """

    name = "LocalLipschitzEstimate"
    default_noise = "gaussian"

    default_measures = {
        "similarity_func": lipschitz_constant,
        "norm_numerator": distance_euclidean,
        "norm_denominator": distance_euclidean,
    }

    @with_parameters(SHARED_PARAMETERS, order=SIMILARITY_ORDER, normalise=True, store_own=True)
    def __init__(self, perturb_mean: float = 0.0, perturb_std: float = 0.1, **kwargs: Any) -> None:
        super().__init__({"perturb_mean": perturb_mean, "perturb_std": perturb_std}, **kwargs)

    def _step_scores(
        self, x: np.ndarray, x_pert: np.ndarray, a: np.ndarray, a_pert: np.ndarray
    ) -> np.ndarray:
        return lipschitz_ratio(
            x,
            x_pert,
            a,
            a_pert,
            similarity_func=self.similarity_func,
            norm_numerator=self.norm_numerator,
            norm_denominator=self.norm_denominator,
        )
