"""Max- and Avg-Sensitivity (Yeh et al. 2019): the relative change of an explanation under noise."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from quantus.functions.norm_func import fro_norm
from quantus.functions.similarity_func import difference

from ..._signatures import with_parameters
from .base import SHARED_PARAMETERS, SIMILARITY_ORDER, RobustnessMetric, repeat_rows

__all__ = ["AvgSensitivity", "MaxSensitivity", "sensitivity"]

#: The problem of a sample whose original map has norm 0 (``norm_denominator``).
ZERO_NORM = "have an original map of norm 0 (e.g. all zero), relative to which no change is defined; their scores are NaN"


def sensitivity(
    a: np.ndarray,
    a_pert: np.ndarray,
    *,
    similarity_func: Callable = difference,
    norm_numerator: Callable = fro_norm,
    norm_denominator: Callable = fro_norm,
) -> np.ndarray:
    """Relative change ``||similarity_func(a, a')|| / ||a||`` of each map under each perturbation.

    Parameters
    ----------
    a : numpy.ndarray
        The original maps, ``(N, ...)``.
    a_pert : numpy.ndarray
        The maps of ``k`` perturbed copies of the inputs, ``(k, N, ...)``.
    similarity_func : callable, default ``quantus.similarity_func.difference``
        ``f(a=(M, F), b=(M, F)) -> (M, F)``, the change between original and perturbed maps.
    norm_numerator, norm_denominator : callable, default ``quantus.norm_func.fro_norm``
        ``f(a=(M, F)) -> (M,)``, the norms of the change and of the original map.

    Returns
    -------
    numpy.ndarray
        ``(k, N)``; a map of norm zero gives inf or NaN, without a warning.

    Examples
    --------
    >>> a = np.array([[3.0, 4.0]])
    >>> sensitivity(a, np.array([[[3.0, 4.0]], [[0.0, 4.0]]]))
    array([[0. ],
           [0.6]])
    """
    k, n = a_pert.shape[:2]
    change = similarity_func(a=repeat_rows(a, k), b=a_pert.reshape(k * n, -1))
    numerator = np.asarray(norm_numerator(a=change)).reshape(k, n)
    denominator = np.asarray(norm_denominator(a=a.reshape(n, -1)))
    with np.errstate(divide="ignore", invalid="ignore"):
        return numerator / denominator[None]


class _Sensitivity(RobustnessMetric):
    """Max- and Avg-Sensitivity: :func:`sensitivity` of each perturbation, reduced per sample."""

    default_measures = {
        "similarity_func": difference,
        "norm_numerator": fro_norm,
        "norm_denominator": fro_norm,
    }

    @with_parameters(SHARED_PARAMETERS, order=SIMILARITY_ORDER, normalise=False, store_own=True)
    def __init__(self, lower_bound: float = 0.2, upper_bound: float | None = None, **kwargs: Any) -> None:
        super().__init__({"lower_bound": lower_bound, "upper_bound": upper_bound}, **kwargs)

    def _undefined_scores(self, a: np.ndarray) -> dict[str, np.ndarray]:
        # The relative change of a map of norm 0 (all zero, for the default norm) is 0 / 0
        # or x / 0: undefined, not infinite.
        norms = np.asarray(self.norm_denominator(a=a.reshape(len(a), -1)))
        return {ZERO_NORM: norms == 0}

    def _step_scores(
        self, x: np.ndarray, x_pert: np.ndarray, a: np.ndarray, a_pert: np.ndarray
    ) -> np.ndarray:
        return sensitivity(
            a,
            a_pert,
            similarity_func=self.similarity_func,
            norm_numerator=self.norm_numerator,
            norm_denominator=self.norm_denominator,
        )


class MaxSensitivity(_Sensitivity):
    """Max-Sensitivity: the largest relative change of an explanation under small noise.

    Each input ``x`` with explanation ``a`` is perturbed ``nr_samples`` times and the
    perturbed copies ``x + δ`` are explained; the score is the maximum over them of
    ``||similarity_func(a, a(x + δ))|| / ||a||``, by default the Frobenius norm of the
    change of the map over the Frobenius norm of the map. It estimates, by sampling, the
    max-sensitivity of Yeh et al. (2019). Lower is more robust.

    Reference: C.-K. Yeh, C.-Y. Hsieh, A. S. Suggala, D. I. Inouye and P. Ravikumar, "On
    the (in)fidelity and sensitivity of explanations", Advances in Neural Information
    Processing Systems 32 (NeurIPS), 2019.

    Parameters
    ----------
    similarity_func : callable, optional
        ``f(a=(M, F), b=(M, F)) -> (M, F)``, the change between original and perturbed
        maps. Default ``quantus.similarity_func.difference`` (``a - b``).
    norm_numerator, norm_denominator : callable, optional
        ``f(a=(M, F)) -> (M,)``, the norms of the change and of the original map. Default
        ``quantus.norm_func.fro_norm``.
    nr_samples : int, default 200
        Perturbations per input (>= 1).
    lower_bound, upper_bound : float, default 0.2, None
        Uniform noise from ``[-lower_bound, lower_bound]`` if ``upper_bound`` is None, else
        from ``[lower_bound, upper_bound]`` (the noise of Quantus's ``batch_uniform_noise``).
    perturb_func : callable or {"uniform", "gaussian"}, optional
        None (default) or ``"uniform"``: seeded uniform noise as above. ``"gaussian"``:
        seeded Gaussian noise (``perturb_mean`` and ``perturb_std`` go in
        ``perturb_func_kwargs``). A callable is used the way Quantus uses it:
        ``perturb_func(arr=(N, F), indices=(N, F), **perturb_func_kwargs)`` returns the
        perturbed ``(N, F)`` batch and is called once per perturbation index. Quantus's
        ``batch_uniform_noise`` / ``batch_gaussian_noise`` select the seeded noises.
    perturb_func_kwargs : dict, optional
        Updates the noise parameters (``lower_bound``, ``upper_bound`` ...).
    return_nan_when_prediction_changes : bool, default False
        If True, a perturbation that changes the predicted class makes the score NaN (the
        maximum of Quantus, which keeps NaN). If False, NaN steps are skipped (nanmax).
    seed : int or None, default 42
        Seeds the noise (one private generator per sample). None: fresh OS entropy.
    chunk_size : int or None, default None
        Most perturbed inputs per explain call (and per forward pass for the prediction
        check); bounds the memory used. None: 1024, fewer for large inputs (a chunk holds
        at most 2**24 input values).
    abs, normalise, normalise_func, normalise_func_kwargs, return_aggregate,
    aggregate_func, default_plot_func, disable_warnings, display_progressbar
        As in :class:`xai_sanity.metrics.Metric` (with Quantus's defaults for this metric,
        ``abs=False``, ``normalise=False``).

    Differences from Quantus: the perturbed inputs are explained in chunks of
    ``chunk_size`` rather than once per perturbation index, and the default noise comes
    from private seeded generators rather than the global numpy random state. Given the
    same deterministic ``perturb_func``, both give the same scores up to floating-point
    precision. A sample whose original map has norm 0 (an all-zero map) scores NaN with a
    ``RuntimeWarning`` (Quantus: inf or NaN, and an ``AssertionError`` when the whole
    ``a_batch`` is zero or constant).

    Examples
    --------
    >>> import numpy as np, torch, xai_sanity as xs
    >>> from xai_sanity.metrics import MaxSensitivity
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(48, 3))
    >>> x = np.random.default_rng(0).random((4, 3, 4, 4), dtype=np.float32)
    >>> scores = MaxSensitivity(nr_samples=10)(model, x, np.array([0, 1, 2, 0]),
    ...                                        explain_func=xs.Saliency())
    >>> np.asarray(scores)  # a linear model's gradient does not move with its input
    array([0., 0., 0., 0.])
    """

    name = "MaxSensitivity"


class AvgSensitivity(_Sensitivity):
    """Avg-Sensitivity: the mean relative change of an explanation under small noise.

    Like :class:`MaxSensitivity`, but the score is the *mean* over the ``nr_samples``
    perturbations of ``||similarity_func(a, a(x + δ))|| / ||a||``, the average sensitivity
    of Yeh et al. (2019). Lower is more robust.

    Reference: C.-K. Yeh, C.-Y. Hsieh, A. S. Suggala, D. I. Inouye and P. Ravikumar, "On
    the (in)fidelity and sensitivity of explanations", NeurIPS 32, 2019.

    Parameters
    ----------
    similarity_func, norm_numerator, norm_denominator, nr_samples, lower_bound,
    upper_bound, perturb_func, perturb_func_kwargs, seed, chunk_size
        As in :class:`MaxSensitivity`, with the same defaults (uniform noise on
        ``[-0.2, 0.2]``).
    return_nan_when_prediction_changes : bool, default False
        If True, a single perturbation that changes the predicted class makes the score
        NaN (the mean of Quantus, which keeps NaN). If False, NaN steps are skipped
        (nanmean).
    abs, normalise, ...
        As in :class:`xai_sanity.metrics.Metric` (``abs=False``, ``normalise=False``).

    Examples
    --------
    >>> from xai_sanity import Saliency, data
    >>> model, x, y = data.toy_problem(shape=(2, 16))  # a time series (N, C, T)
    >>> len(AvgSensitivity(nr_samples=10, seed=0)(model, x, y, explain_func=Saliency()))
    4
    """

    name = "AvgSensitivity"
    reduce_scores = staticmethod(np.mean)
    reduce_scores_skipping_nan = staticmethod(np.nanmean)
