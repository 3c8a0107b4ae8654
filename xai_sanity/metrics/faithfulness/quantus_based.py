"""Quantus's ``FaithfulnessCorrelation`` and ``PixelFlipping``, run with the package's guarantees.

Quantus computes both correctly on the inputs its tests cover, so the maths stays Quantus's;
the classes here add what the package promises around them: seeded and free of global RNG
side effects (Quantus draws ``FaithfulnessCorrelation``'s subsets from NumPy's global
generator; here it runs under a fixed seed and the global state is restored), the model
handed back untouched, explanations computed without Quantus's assertions on map values,
samples with non-finite maps scored NaN with a warning, and three repairs:

* ``FaithfulnessCorrelation`` on tables ``(N, F)``: Quantus 0.6 checks ``subset_size``
  against the size of the axes after the second (1 for a table) and so refuses every table;
  here it is checked against the number of features.
* ``PixelFlipping``'s per-sample area (``return_auc_per_sample=True``) calls ``np.trapz``,
  which NumPy 2 removed; here the area is computed from Quantus's curves with the same rule
  (trapezoids of unit width).
* ``PixelFlipping``'s default of one feature per step costs one forward pass per input value
  (3072 for a 32 x 32 RGB image, 150528 at 224 x 224); ``features_in_step=None`` (this
  package's default) picks the smallest step that Quantus accepts with at most
  ``max_steps`` steps.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, ClassVar

import numpy as np
import quantus
from quantus.helpers.enums import ScoreDirection

from ..._safety import preserve_global_rng
from ..._signatures import parameters_of, with_parameters
from .._plumbing import MetricCall
from .._problems import constant_samples
from ..base import COMMON_PARAMETERS
from .base import FaithfulnessMetric

__all__ = ["FaithfulnessCorrelation", "PixelFlipping", "auto_features_in_step"]

#: The common parameters handed on to the Quantus metric.
_COMMON = (
    "abs", "normalise", "normalise_func", "normalise_func_kwargs", "default_plot_func", "disable_warnings",
    "display_progressbar",
)  # fmt: skip


class _TableSafeFaithfulnessCorrelation(quantus.FaithfulnessCorrelation):
    """Quantus's metric with its ``subset_size`` check left to the caller (see the module docstring)."""

    def custom_preprocess(self, x_batch: np.ndarray, **kwargs: Any) -> None:
        return None


def _check_int(value: Any, name: str, minimum: int = 1) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


class _QuantusFaithfulness(FaithfulnessMetric):
    """Runs a Quantus faithfulness metric on the finite maps of a batch, seeded and guarded.

    Owns the perturbation parameters both metrics take (Quantus's ``perturb_func``,
    ``perturb_baseline``, ``perturb_func_kwargs``).
    """

    #: Quantus's default of ``softmax`` for the metric (used when a call passes None).
    default_softmax: ClassVar[bool] = False
    undefined: ClassVar[str] = "have an undefined score (NaN)"
    seed: int = 0

    def __init__(
        self,
        perturb_func: Any = None,
        perturb_baseline: str = "black",
        perturb_func_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        # Quantus's constructor wraps normalise_func with its kwargs; the inner metric gets the
        # user's function and kwargs and wraps them the same way.
        self._user_normalise_func = kwargs.get("normalise_func")
        self.perturb_func = perturb_func
        self.perturb_baseline = perturb_baseline
        self.perturb_func_kwargs = perturb_func_kwargs

    def _quantus_metric(self, x: np.ndarray) -> quantus.Metric:  # pragma: no cover - abstract
        raise NotImplementedError

    def _finish(self, scores: list[Any], keep: np.ndarray, n: int) -> np.ndarray:
        """Quantus's output for the samples ``keep`` (of ``n``) as ``(len(keep), ...)`` float scores."""
        return np.asarray(scores, dtype=np.float64).reshape(-1)

    def _common(self) -> dict[str, Any]:
        params = {name: getattr(self, name, None) for name in _COMMON}
        params["normalise_func"] = self._user_normalise_func
        params["normalise_func_kwargs"] = self.normalise_func_kwargs or None
        params["disable_warnings"] = True
        return params

    def _score_samples(self, call: MetricCall, a: np.ndarray, finite: np.ndarray) -> np.ndarray:
        scores = np.full(len(call.x), np.nan)  # (N, ...) once the kept samples' scores are known
        # A constant map (e.g. all zero: a dead Grad-CAM) orders no pixel and has constant
        # subset sums: its score is undefined (NaN, counted by the caller); Quantus raises a
        # bare AssertionError on all-zero maps, for the whole call.
        keep = np.flatnonzero(finite & ~constant_samples(a))
        if keep.size:
            metric = self._quantus_metric(call.x)
            softmax = self.default_softmax if call.softmax is None else call.softmax
            with preserve_global_rng(), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Quantus's and scipy's; NaN is counted by the caller
                np.random.seed(self.seed)
                out = metric(
                    model=call.model, x_batch=call.x[keep], y_batch=call.y[keep], a_batch=a[keep],
                    explain_func=None, softmax=softmax, device=call.device, batch_size=call.batch_size,
                    model_predict_kwargs=call.model_predict_kwargs,
                )  # fmt: skip
            kept = self._finish(out, keep, len(call.x))
            scores = np.full((len(call.x), *kept.shape[1:]), np.nan)
            scores[keep] = kept
        return scores


#: The constructor parameters the two metrics share: Quantus's common metric parameters and
#: the perturbation's (see :func:`xai_sanity._signatures.with_parameters`).
_SHARED_PARAMETERS = (*COMMON_PARAMETERS, *parameters_of(_QuantusFaithfulness.__init__))
#: Quantus's order of the shared parameters, after the metric's own (``...``).
_QUANTUS_ORDER = (
    ...,
    *"abs normalise normalise_func normalise_func_kwargs perturb_func perturb_baseline perturb_func_kwargs".split(),
    *"return_aggregate aggregate_func default_plot_func disable_warnings display_progressbar".split(),
)


class FaithfulnessCorrelation(_QuantusFaithfulness):
    """Quantus's ``FaithfulnessCorrelation`` (Bhatt et al., IJCAI 2020), seeded (higher is better).

    For each sample, ``nr_runs`` random subsets of ``subset_size`` input values are set to a
    baseline; the score is the Pearson correlation, over the runs, between the attribution
    summed over each subset and the drop of the target's output (logit, as in Quantus).
    The maths is Quantus's; see the module docstring for what this class adds.

    Parameters
    ----------
    similarity_func : callable, optional
        Quantus's; default Pearson correlation.
    nr_runs : int, default 100
        Random subsets per sample.
    subset_size : int or float, default 224
        Input values per subset (Quantus counts the values of all channels); a float in
        ``(0, 1)`` is a fraction of them (so one setting suits 32 x 32 and 224 x 224 inputs).
    perturb_func, perturb_baseline, perturb_func_kwargs
        Quantus's (default: replace by the sample's minimum, ``"black"``).
    seed : int, default 0
        Seeds NumPy's global generator for the call (its previous state is restored after):
        the subsets, and so the scores, are reproducible. The draws are made batch by batch,
        so they depend on ``batch_size`` as in Quantus.
    return_aggregate : bool, default True
        As in Quantus: one number for the call, ``aggregate_func`` (mean) of the per-sample
        correlations. ``return_aggregate=False`` gives one score per sample (what tables and
        :func:`xai_sanity.evaluate` need; the default suite sets it).
    abs, normalise, normalise_func, normalise_func_kwargs, aggregate_func,
    default_plot_func, disable_warnings, display_progressbar
        As in :class:`xai_sanity.metrics.Metric`.

    Notes
    -----
    A sample whose subset sums or output drops do not vary over the runs (e.g. an all-zero
    map) has no correlation: NaN, with a ``RuntimeWarning`` counting such samples.

    References
    ----------
    U. Bhatt, A. Weller and J. M. F. Moura, "Evaluating and Aggregating Feature-based Model
    Explanations", IJCAI 2020.
    """

    name = "FaithfulnessCorrelation"
    score_direction: ClassVar[ScoreDirection] = ScoreDirection.HIGHER
    undefined: ClassVar[str] = (
        "have attribution sums or output drops that do not vary (e.g. a constant or all-zero map); "
        "their correlation is NaN"
    )
    per_sample_params: ClassVar[dict[str, Any]] = {"return_aggregate": False}
    suite_params: ClassVar[dict[str, Any]] = {"nr_runs": 20, "subset_size": 0.02, **per_sample_params}
    quick_params: ClassVar[dict[str, Any]] = {"nr_runs": 5, "subset_size": 0.02}

    @with_parameters(_SHARED_PARAMETERS, order=(*_QUANTUS_ORDER, "seed"), return_aggregate=True)
    def __init__(
        self,
        similarity_func: Any = None,
        nr_runs: int = 100,
        subset_size: int | float = 224,
        seed: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.similarity_func = similarity_func
        self.nr_runs = _check_int(nr_runs, "nr_runs", minimum=2)
        if isinstance(subset_size, (float, np.floating)):
            if not 0.0 < subset_size < 1.0:
                raise ValueError(f"subset_size as a float is a fraction in (0, 1), got {subset_size!r}")
            self.subset_size: int | float = float(subset_size)
        else:
            self.subset_size = _check_int(subset_size, "subset_size")
        self.seed = _check_int(seed, "seed", minimum=0)

    def subset_values(self, x: np.ndarray) -> int:
        """``subset_size`` as a number of input values for inputs like ``x`` (``ValueError`` if too large)."""
        n_values = int(np.prod(np.shape(x)[1:]))
        size = self.subset_size
        count = max(1, int(round(size * n_values))) if isinstance(size, float) else size
        if count >= n_values:
            raise ValueError(f"subset_size ({count}) must be smaller than the {n_values} values of an input")
        return count

    def _quantus_metric(self, x: np.ndarray) -> quantus.Metric:
        return _TableSafeFaithfulnessCorrelation(
            similarity_func=self.similarity_func, nr_runs=self.nr_runs, subset_size=self.subset_values(x),
            perturb_func=self.perturb_func, perturb_baseline=self.perturb_baseline,
            perturb_func_kwargs=self.perturb_func_kwargs, return_aggregate=False, **self._common(),
        )  # fmt: skip


def auto_features_in_step(x_shape: tuple[int, ...], max_steps: int) -> int:
    """The smallest step Quantus's ``PixelFlipping`` accepts for inputs ``x_shape`` with at most
    ``max_steps`` steps (or the largest step it accepts, if none has so few).

    Quantus flips ``features_in_step`` of the ``prod(x_shape[1:])`` input values per step
    and requires the step to divide ``prod(x_shape[2:])`` (the values per channel).

    Examples
    --------
    >>> auto_features_in_step((8, 3, 32, 32), 32)  # 3072 values: 24 steps of 128
    128
    """
    n_values = int(np.prod(x_shape[1:]))
    per_channel = int(np.prod(x_shape[2:]))
    divisors = [d for d in range(1, per_channel + 1) if per_channel % d == 0]
    fitting = [d for d in divisors if math.ceil(n_values / d) <= max_steps]
    return fitting[0] if fitting else divisors[-1]


class PixelFlipping(_QuantusFaithfulness):
    """Quantus's ``PixelFlipping`` (Bach et al., PLoS ONE 2015): area under the deletion curve (lower is better).

    Input values are replaced by a baseline in order of decreasing attribution,
    ``features_in_step`` per step, and the target's probability is recorded after each
    step. As in Quantus, a call returns each sample's curve (a list of floats), or with
    ``return_auc_per_sample=True`` the area under it (trapezoids of unit width), one score
    per sample (what tables need; the default suite sets it). The maths is Quantus's; see
    the module docstring for what this class adds. :attr:`curves` holds the curves of the
    last call.

    Parameters
    ----------
    features_in_step : int or None, default None
        Input values flipped per step (Quantus's default is 1: one forward pass per value).
        None: :func:`auto_features_in_step` with ``max_steps``.
    perturb_func, perturb_baseline, perturb_func_kwargs
        Quantus's (default: replace by the sample's minimum, ``"black"``).
    return_auc_per_sample : bool, default False
        Return the area under each sample's curve instead of the curve (Quantus's keyword;
        its own area needs NumPy < 2).
    abs, normalise, normalise_func, normalise_func_kwargs, return_aggregate,
    aggregate_func, default_plot_func, disable_warnings, display_progressbar
        As in :class:`xai_sanity.metrics.Metric` (with curves, ``return_aggregate`` gives
        ``aggregate_func`` of all their points, as in Quantus).
    max_steps : int, default 32
        Most steps when ``features_in_step`` is None.

    Notes
    -----
    The area grows with the number of steps, so compare scores computed with the same
    ``features_in_step`` on inputs of the same size. A constant map (e.g. all zero) orders
    no pixel: NaN (its curve too), with a ``RuntimeWarning`` counting such samples (Quantus
    raises an ``AssertionError`` for the whole call).

    References
    ----------
    S. Bach, A. Binder, G. Montavon, F. Klauschen, K.-R. Müller and W. Samek, "On Pixel-Wise
    Explanations for Non-Linear Classifier Decisions by Layer-Wise Relevance Propagation",
    PLoS ONE 10(7): e0130140, 2015.
    """

    name = "PixelFlipping"
    score_direction: ClassVar[ScoreDirection] = ScoreDirection.LOWER
    undefined: ClassVar[str] = (
        "have a constant map (e.g. all zero), which orders no pixel; their scores are NaN"
    )
    default_softmax: ClassVar[bool] = True
    per_sample_params: ClassVar[dict[str, Any]] = {"return_auc_per_sample": True}
    suite_params: ClassVar[dict[str, Any]] = {"features_in_step": None, "max_steps": 32, **per_sample_params}
    quick_params: ClassVar[dict[str, Any]] = {"max_steps": 8}

    # Quantus's order: its own features_in_step first, return_auc_per_sample after
    # aggregate_func; this package's max_steps last.
    @with_parameters(
        _SHARED_PARAMETERS,
        order=(
            "features_in_step", *_QUANTUS_ORDER[1:-3], "return_auc_per_sample", *_QUANTUS_ORDER[-3:], "max_steps",
        ),
    )  # fmt: skip
    def __init__(
        self,
        features_in_step: int | None = None,
        return_auc_per_sample: bool = False,
        max_steps: int = 32,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(return_auc_per_sample, (bool, np.bool_)):
            raise ValueError(f"return_auc_per_sample must be True or False, got {return_auc_per_sample!r}")
        self.return_auc_per_sample = bool(return_auc_per_sample)
        self.features_in_step = (
            None if features_in_step is None else _check_int(features_in_step, "features_in_step")
        )
        self.max_steps = _check_int(max_steps, "max_steps")
        #: The deletion curves of the last call, ``(N, steps)`` (NaN rows for non-finite maps).
        self.curves: np.ndarray | None = None

    def step_for(self, x: np.ndarray) -> int:
        """``features_in_step`` for inputs like ``x``; ``ValueError`` if Quantus would refuse it."""
        shape = np.shape(x)
        if self.features_in_step is None:
            return auto_features_in_step(shape, self.max_steps)
        per_channel = int(np.prod(shape[2:]))
        if per_channel % self.features_in_step:
            raise ValueError(
                f"features_in_step ({self.features_in_step}) must divide the {per_channel} values per "
                "channel of an input (Quantus's requirement); or pass features_in_step=None"
            )
        return self.features_in_step

    def _quantus_metric(self, x: np.ndarray) -> quantus.Metric:
        step = self.step_for(x)
        self._n_steps = math.ceil(int(np.prod(np.shape(x)[1:])) / step)
        return quantus.PixelFlipping(
            features_in_step=step, perturb_func=self.perturb_func, perturb_baseline=self.perturb_baseline,
            perturb_func_kwargs=self.perturb_func_kwargs, return_aggregate=False,
            return_auc_per_sample=False, **self._common(),
        )  # fmt: skip

    def _finish(self, scores: list[Any], keep: np.ndarray, n: int) -> np.ndarray:
        kept = np.asarray(scores, dtype=np.float64)
        self.curves = np.full((n, kept.shape[1]), np.nan)
        self.curves[keep] = kept
        return np.trapezoid(kept, dx=1.0, axis=1) if self.return_auc_per_sample else kept
