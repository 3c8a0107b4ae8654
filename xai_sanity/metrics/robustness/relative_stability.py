"""Relative Input Stability (Agarwal et al. 2022): relative explanation change over relative input change."""

from __future__ import annotations

from typing import Any

import numpy as np
from quantus.functions.normalise_func import normalise_by_average_second_moment_estimate

from ..._signatures import with_parameters
from .base import SHARED_PARAMETERS, RobustnessMetric
from .perturbation import check_real

__all__ = ["RelativeInputStability", "relative_input_stability_ratio"]

#: Quantus's order of RelativeInputStability's parameters (``...``: ``eps_min``).
_ORDER = tuple(
    "nr_samples abs normalise normalise_func normalise_func_kwargs perturb_func perturb_func_kwargs "
    "return_aggregate aggregate_func disable_warnings display_progressbar".split()
) + (..., "default_plot_func", "return_nan_when_prediction_changes", "seed", "chunk_size")


def _stacked_norm(arr: np.ndarray, sample_ndim: int) -> np.ndarray:
    """Euclidean norm of each sample of ``arr`` (leading axes kept), reduced as Quantus does.

    For images (``sample_ndim == 3``, (C, H, W)) the norm of each channel's (H, W) matrix
    is taken first, then the norm over channels.
    """
    if sample_ndim == 3:
        return np.linalg.norm(np.linalg.norm(arr, axis=(-1, -2)), axis=-1)
    if sample_ndim == 2:
        return np.linalg.norm(arr, axis=(-1, -2))
    if sample_ndim == 1:
        return np.linalg.norm(arr, axis=-1)
    raise ValueError(
        "RelativeInputStability supports inputs of shape (N, F), (N, C, T) or (N, C, H, W), "
        f"got samples with {sample_ndim} axes"
    )


def relative_input_stability_ratio(
    x: np.ndarray, x_pert: np.ndarray, a: np.ndarray, a_pert: np.ndarray, *, eps_min: float = 1e-6
) -> np.ndarray:
    """Relative change of each map over the relative change of its input, per perturbation.

    ``|| (a - a') / a ||  /  max(|| (x - x') / x ||, eps_min)``, the ratios taken element by
    element with ``eps_min`` standing in for zeros of ``a`` and ``x``. The map's change is
    computed in float64, the input's in the inputs' dtype (as Quantus computes them).

    Parameters
    ----------
    x, a : numpy.ndarray
        The original inputs and their maps, ``(N, F)``, ``(N, C, T)`` or ``(N, C, H, W)``.
    x_pert, a_pert : numpy.ndarray
        ``k`` perturbed copies of the inputs and their maps, ``(k, N, ...)``.
    eps_min : float, default 1e-6
        Floor of the denominator and stand-in for zeros in the divisions.

    Returns
    -------
    numpy.ndarray
        ``(k, N)`` float64 ratios, one per perturbation index and sample.

    Examples
    --------
    >>> x, a = np.ones((1, 2)), np.ones((1, 2))
    >>> ratio = relative_input_stability_ratio(x, np.full((1, 1, 2), 1.5), a, np.full((1, 1, 2), 2.0))
    >>> np.round(ratio, 6)
    array([[2.]])
    """
    eps = eps_min
    sample_ndim = x.ndim - 1
    a_safe = np.where(a == 0, eps, a.astype(np.float64))
    numerator = _stacked_norm((a[None] - a_pert) / a_safe[None], sample_ndim)
    rel_x = x[None] - x_pert
    np.divide(rel_x, np.where(x == 0, eps, x.astype(np.float64))[None], out=rel_x, casting="same_kind")
    denominator = _stacked_norm(rel_x, sample_ndim)
    denominator[denominator == 0] = eps
    return numerator / denominator


class RelativeInputStability(RobustnessMetric):
    """Relative Input Stability: relative explanation change over relative input change.

    Each input ``x`` with explanation ``e`` is perturbed ``nr_samples`` times and the
    perturbed copies ``x'`` are explained; the score is the maximum over them of

    ``|| (e - e') / e ||  /  max(|| (x - x') / x ||, eps_min)``

    (ratios taken element by element, with ``eps_min`` standing in for zeros of ``e`` and
    ``x``), the relative input stability of Agarwal et al. (2022). Lower is more stable.

    Reference: C. Agarwal, N. Johnson, M. Pawelczyk, S. Krishna, E. Saxena, M. Zitnik and
    H. Lakkaraju, "Rethinking stability for attribution-based explanations", ICLR 2022
    Workshop on PAIR2Struct (arXiv:2203.06877).

    Parameters
    ----------
    nr_samples : int, default 200
    perturb_func : callable or {"uniform", "gaussian"}, optional
        None (default): seeded uniform noise with Quantus's parameters for this metric,
        ``upper_bound=0.2`` and ``batch_uniform_noise``'s ``lower_bound=0.02``, i.e.
        noise from ``[0.02, 0.2]`` (every feature is shifted up). Otherwise as in
        :class:`~xai_sanity.metrics.MaxSensitivity`.
    perturb_func_kwargs : dict, optional
        Updates the noise parameters (e.g. ``{"lower_bound": -0.2}`` for ``[-0.2, 0.2]``).
    eps_min : float, default 1e-6
        Floor of the denominator and stand-in for zeros in the element-wise divisions.
    return_nan_when_prediction_changes : bool, default True
        If True, a perturbation that changes the predicted class makes the score NaN.
        (If False, no step is made NaN; the maximum never skips NaN, as in Quantus.)
    seed, chunk_size
        As in :class:`~xai_sanity.metrics.MaxSensitivity`.
    abs, normalise : bool, default False, False
    normalise_func : callable, optional
        Default ``quantus.normalise_func.normalise_by_average_second_moment_estimate``.
    normalise_func_kwargs, return_aggregate, aggregate_func, default_plot_func,
    disable_warnings, display_progressbar
        As in :class:`xai_sanity.metrics.Metric`.

    Differences from Quantus: with ``return_aggregate=True`` the scores are aggregated
    once over all samples (Quantus aggregates each batch, then the batch aggregates).

    Examples
    --------
    >>> from xai_sanity import Saliency, data
    >>> ris = RelativeInputStability(nr_samples=10, return_nan_when_prediction_changes=False)
    >>> model, x, y = data.toy_problem(shape=(6,))  # a table (N, F)
    >>> len(ris(model, x, y, explain_func=Saliency()))
    4
    """

    name = "RelativeInputStability"
    default_normalise_func = staticmethod(normalise_by_average_second_moment_estimate)
    # As in Quantus, the maximum never skips NaN steps, whatever return_nan_when_prediction_changes.
    reduce_scores_skipping_nan = staticmethod(np.max)

    @with_parameters(
        SHARED_PARAMETERS, order=_ORDER, normalise=False, return_nan_when_prediction_changes=True
    )
    def __init__(self, eps_min: float = 1e-6, **kwargs: Any) -> None:
        super().__init__({"upper_bound": 0.2}, **kwargs)
        if check_real(eps_min, "eps_min") <= 0:
            raise ValueError(f"eps_min must be > 0, got {eps_min}")
        self.eps_min = float(eps_min)

    def _step_scores(
        self, x: np.ndarray, x_pert: np.ndarray, a: np.ndarray, a_pert: np.ndarray
    ) -> np.ndarray:
        return relative_input_stability_ratio(x, x_pert, a, a_pert, eps_min=self.eps_min)
