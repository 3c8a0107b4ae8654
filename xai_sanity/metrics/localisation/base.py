"""The class machinery the localisation metrics share.

:class:`LocalisationMetric` scores precomputed attributions directly (no model, no
Quantus loop), collects the problems :mod:`.functional` reports for every chunk of a call
and warns once per problem and call (with :class:`._problems.SampleProblems`); a sample
whose map holds NaN or Inf scores NaN without touching the others' scores.
:func:`with_common_parameters` gives a metric's ``__init__``, which names only the
metric's own parameters, the full Quantus signature.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
from quantus.helpers.enums import DataType, EvaluationCategory, ScoreDirection

from ..._signatures import with_parameters
from .._problems import NON_FINITE, SampleProblems, finite_samples
from ..base import COMMON_PARAMETERS, Metric
from .functional import Problems

__all__ = ["LocalisationMetric", "check_bool", "with_common_parameters"]


def check_bool(value: Any, name: str) -> bool:
    """``value`` as a bool; a ``TypeError`` naming ``name`` for anything but a bool."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {value!r}")
    return bool(value)


def with_common_parameters(*, order: tuple[str, ...] | None = None, **defaults: Any) -> Callable:
    """Decorate an ``__init__`` that names only its own parameters with the full signature.

    Quantus's localisation metrics take their own parameters first, then the parameters
    every metric has (those of :class:`xai_sanity.metrics.Metric`: ``abs``, ``normalise``,
    ``normalise_func``, ``normalise_func_kwargs``, ``return_aggregate``,
    ``aggregate_func``, ``default_plot_func``, ``disable_warnings``,
    ``display_progressbar``), then ``**kwargs``. The decorated
    ``__init__(self, <own parameters>, **kwargs)`` gets that whole signature: it is what
    :func:`inspect.signature` and ``help`` show, and every call is bound to it, so the
    common parameters can be passed by position too. The common arguments, their defaults
    applied, arrive in ``kwargs`` together with any extra keywords, to be handed to
    ``super().__init__``.

    Parameters
    ----------
    order : tuple of str, optional
        The common parameters in the metric's order, where it differs from Metric's.
    **defaults
        Defaults of common parameters that differ from Metric's (e.g. ``abs=True``).

    Returns
    -------
    callable
        The decorator.
    """
    names = [param.name for param in COMMON_PARAMETERS]
    if order is not None and sorted(order) != sorted(names):
        raise TypeError(f"order must name the common parameters {tuple(names)}")
    return with_parameters(COMMON_PARAMETERS, order=None if order is None else (..., *order), **defaults)


@functools.cache
def _options_of(function: Callable) -> tuple[str, ...]:
    """The parameters of a :mod:`.functional` score after ``a_batch`` and ``s_batch``."""
    return tuple(inspect.signature(function).parameters)[2:]


class LocalisationMetric(SampleProblems, Metric):
    """Base of the localisation metrics: a direct path and one warning per problem and call.

    Every localisation metric takes, after its own parameters, the common parameters of
    :class:`xai_sanity.metrics.Metric` (``abs``, ``normalise``, ``normalise_func``,
    ``normalise_func_kwargs``, ``return_aggregate``, ``aggregate_func``,
    ``default_plot_func``, ``disable_warnings``, ``display_progressbar``) with Quantus's
    defaults for that metric (``normalise=True``; ``abs`` as each metric documents).

    A subclass names its function of :mod:`.functional` as :attr:`_function`; its own
    constructor parameters are that function's keyword parameters, under the same names,
    and :meth:`_score` passes them on. :meth:`evaluate_batch` returns the scores and
    records the problems. ``normalise_func`` sees the finite maps of a batch only
    (:class:`._problems.FiniteSamplesNormaliser`), so a map with NaN or Inf, from a
    faulty explanation function, leaves the other maps and their scores as they would be
    without it.
    """

    evaluation_category: ClassVar[EvaluationCategory] = EvaluationCategory.LOCALISATION
    score_direction: ClassVar[ScoreDirection] = ScoreDirection.HIGHER
    # As Quantus declares: masks (N, 1, ...) for images and series, (N, F) for tables
    # (which Quantus 0.6's mask check refuses; here they are scored as Quantus's maths would).
    data_applicability: ClassVar[set] = {DataType.IMAGE, DataType.TIMESERIES, DataType.TABULAR}
    requires_s_batch: ClassVar[bool] = True
    # In the default suite, localisation is scored on |a|: for signed maps (Gradient, IG)
    # relevance mass inside the mask is otherwise ill-posed (Quantus's default is abs=False).
    suite_params: ClassVar[dict[str, Any]] = {"abs": True}

    #: The function of :mod:`.functional` that scores the metric (a ``staticmethod``).
    _function: ClassVar[Callable[..., tuple[np.ndarray, Problems]]]

    def _score(self, a_batch: np.ndarray, s_batch: np.ndarray) -> tuple[np.ndarray, Problems]:
        """Scores ``(N,)`` and problems of preprocessed attributions and masks.

        :attr:`_function` of them, with the metric's parameters of the same names as the
        function's keyword parameters.
        """
        options = {name: getattr(self, name) for name in _options_of(self._function)}
        return self._function(a_batch, s_batch, **options)

    def evaluate_batch(self, *, a_batch: np.ndarray, s_batch: np.ndarray, **kwargs: Any) -> np.ndarray:
        """Scores for a batch of preprocessed attributions and masks, shape ``(N,)``.

        A sample whose map holds NaN or Inf scores NaN and counts only as having
        non-finite attributions; its map is scored as zeros, out of sight, so that it
        cannot disturb the computation for the others.
        """
        a = np.asarray(a_batch)
        finite = finite_samples(a)
        if not finite.all():
            a = np.where(finite.reshape(-1, *(1,) * (a.ndim - 1)), a, 0)
        scores, problems = self._score(a, s_batch)
        scores = np.asarray(scores, dtype=np.float64)
        scores[~finite] = np.nan
        self._note(~finite, NON_FINITE)
        for message, mask in problems.items():
            self._note(mask & finite, message)
        return scores

    def _evaluate(
        self,
        *,
        model: Any,
        x_batch: np.ndarray,
        y_batch: np.ndarray,
        a_batch: np.ndarray | None,
        s_batch: np.ndarray,
        batch_size: int = 64,
        **call: Any,
    ) -> Any:
        """With precomputed ``a_batch``, a direct path that skips the model.

        Localisation needs no model when the attributions are given, so that case does what
        Quantus's preprocessing does — normalise the whole batch with ``normalise_func``,
        then ``abs`` — and scores chunks of ``batch_size`` directly, without Quantus's
        per-value attribution checks (``check_batch`` has validated the arrays) and without
        snapshotting the model. Otherwise (explanations to compute) Quantus's path runs.
        """
        if a_batch is None:
            return super()._evaluate(
                model=model, x_batch=x_batch, y_batch=y_batch, a_batch=a_batch, s_batch=s_batch,
                batch_size=batch_size, **call,
            )  # fmt: skip
        a = self.normalise_func(a_batch) if self.normalise else a_batch
        if self.abs:
            a = np.abs(a)
        self.custom_preprocess(x_batch=x_batch, s_batch=s_batch)
        try:
            scores: list[float] = []
            for start in range(0, len(x_batch), batch_size):
                chunk = slice(start, start + batch_size)
                scores.extend(
                    self.evaluate_batch(
                        model=model,
                        x_batch=x_batch[chunk],
                        y_batch=y_batch[chunk],
                        a_batch=a[chunk],
                        s_batch=s_batch[chunk],
                    )  # fmt: skip
                )
        finally:
            self.custom_postprocess()
        if self.return_aggregate:
            scores = [self.aggregate_func(scores)]
        self.evaluation_scores = scores
        self.all_evaluation_scores.extend(scores)
        return scores
