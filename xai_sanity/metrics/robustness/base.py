"""The shared base of the robustness metrics: argument checks, the batch loop, predictions.

:class:`RobustnessMetric` perturbs a batch ``nr_samples`` times, explains the stacked
perturbed inputs in chunks, compares their explanations with the original ones one group
of perturbation indices at a time (:meth:`RobustnessMetric._step_scores`) and reduces the
``(N, nr_samples)`` table of step scores to one score per sample. Samples with NaN or Inf
in an explanation, or whose score is undefined, score NaN and are counted for one warning
per problem and call (:class:`xai_sanity.metrics._problems.SampleProblems`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
from quantus.helpers.enums import DataType, EvaluationCategory, ScoreDirection
from quantus.helpers.model.model_interface import ModelInterface
from torch import nn

from ..._signatures import parameters_of
from ..._validation import model_device
from .._problems import SampleProblems, finite_samples
from ..base import COMMON_PARAMETERS, Metric
from . import chunks, perturbation
from .chunks import CHUNK_VALUE_BUDGET, DEFAULT_CHUNK_SIZE
from .perturbation import check_int, check_noise

__all__ = [
    "CHUNK_VALUE_BUDGET",
    "DEFAULT_CHUNK_SIZE",
    "SHARED_PARAMETERS",
    "SIMILARITY_ORDER",
    "RobustnessMetric",
    "repeat_rows",
]

#: The problems of samples whose original map, or the map of a perturbed copy, is not finite.
NON_FINITE_ORIGINAL = "have non-finite attributions (NaN or Inf) of the original input; their scores are NaN"
NON_FINITE_PERTURBED = "have non-finite attributions (NaN or Inf) of a perturbed input; their scores are NaN"


def repeat_rows(arr: np.ndarray, k: int) -> np.ndarray:
    """``arr`` ``(N, ...)`` flattened per sample and repeated for ``k`` perturbation indices, ``(k * N, F)``."""
    return np.tile(arr.reshape(len(arr), -1), (k, 1))


class RobustnessMetric(SampleProblems, Metric):
    """Base of the robustness metrics: stacked perturbations, chunked explanations, step scores.

    Subclasses implement :meth:`_step_scores` (the scores of ``k`` perturbation indices at
    once), may change how the ``(N, nr_samples)`` table of step scores is reduced to
    ``(N,)`` scores (:attr:`reduce_scores`, :attr:`reduce_scores_skipping_nan`) and may
    name the samples whose score is undefined (:meth:`_undefined_scores`).

    A bad map (NaN or Inf) costs only its own sample's score, which is NaN, with one
    ``RuntimeWarning`` per call that counts such samples: a sample whose original map is
    not finite is left out of the batch (neither perturbed nor normalised with the others);
    a non-finite map of a perturbed input makes its sample's score NaN and is left out of
    the normalisation of its perturbation index. See the package documentation.

    Parameters
    ----------
    noise_kwargs : dict
        The metric's own noise parameters (e.g. ``lower_bound``); ``perturb_func_kwargs``
        updates them, as in Quantus. Positional only.
    nr_samples, perturb_func, perturb_func_kwargs, return_nan_when_prediction_changes, seed, chunk_size
        As documented by the metrics.
    normalise_func : callable, optional
        None selects :attr:`default_normalise_func`.
    **metric_kwargs
        Passed to :class:`xai_sanity.metrics.Metric`.
    """

    evaluation_category: ClassVar[EvaluationCategory] = EvaluationCategory.ROBUSTNESS
    score_direction: ClassVar[ScoreDirection] = ScoreDirection.LOWER
    # As Quantus declares for all four; inputs (N, C, H, W), (N, C, T) or (N, F).
    data_applicability: ClassVar[set] = {DataType.IMAGE, DataType.TIMESERIES, DataType.TABULAR}
    # Each metric explains N x nr_samples inputs: the default suite uses a few samples.
    in_default_suite: ClassVar[bool] = True
    suite_params: ClassVar[dict[str, Any]] = {"nr_samples": 3}
    quick_params: ClassVar[dict[str, Any]] = {"nr_samples": 2}
    # The perturbed inputs must be explained: the model and explain_func are always needed
    # (``a_batch`` may still give the explanations of the unperturbed inputs).
    requires_model: ClassVar[bool] = True
    requires_explain_func: ClassVar[bool] = True
    #: The default noise of the Quantus metric: "uniform" or "gaussian".
    default_noise: ClassVar[str] = "uniform"
    #: ``similarity_func``, ``norm_numerator``, ``norm_denominator`` when given as None.
    default_measures: ClassVar[dict[str, Callable]] = {}
    #: The normalisation when ``normalise_func`` is None (None: the base class's default).
    default_normalise_func: ClassVar[Callable | None] = None
    #: Reduces the ``(N, nr_samples)`` step scores to ``(N,)`` scores.
    reduce_scores = staticmethod(np.max)
    #: The reduction when ``return_nan_when_prediction_changes`` is False (NaN steps skipped).
    reduce_scores_skipping_nan = staticmethod(np.nanmax)

    def __init__(
        self,
        noise_kwargs: dict[str, Any],
        /,
        *,
        similarity_func: Callable | None = None,
        norm_numerator: Callable | None = None,
        norm_denominator: Callable | None = None,
        nr_samples: int = 200,
        perturb_func: Callable | str | None = None,
        perturb_func_kwargs: dict[str, Any] | None = None,
        return_nan_when_prediction_changes: bool = False,
        seed: int | None = 42,
        chunk_size: int | None = None,
        normalise_func: Callable[[np.ndarray], np.ndarray] | None = None,
        **metric_kwargs: Any,
    ) -> None:
        if normalise_func is None:
            normalise_func = self.default_normalise_func
        super().__init__(normalise_func=normalise_func, **metric_kwargs)
        # None selects the metric's default measure (Quantus's defaults, per metric).
        defaults = self.default_measures
        for name, value in (
            ("similarity_func", similarity_func),
            ("norm_numerator", norm_numerator),
            ("norm_denominator", norm_denominator),
        ):
            if value is not None or name in defaults:
                setattr(self, name, value if value is not None else defaults[name])
        self.nr_samples = check_int(nr_samples, "nr_samples")
        if not isinstance(return_nan_when_prediction_changes, (bool, np.bool_)):
            raise TypeError(
                f"return_nan_when_prediction_changes must be a bool, got {return_nan_when_prediction_changes!r}"
            )
        self.return_nan_when_prediction_changes = bool(return_nan_when_prediction_changes)
        if seed is not None:
            check_int(seed, "seed", minimum=0)
        self.seed = seed
        self.chunk_size = None if chunk_size is None else check_int(chunk_size, "chunk_size")
        if perturb_func_kwargs is not None and not isinstance(perturb_func_kwargs, dict):
            raise TypeError(f"perturb_func_kwargs must be a dict, got {type(perturb_func_kwargs).__name__}")
        # As in Quantus: the metric's noise parameters, updated by perturb_func_kwargs.
        self.perturb_func_kwargs = {**noise_kwargs, **(perturb_func_kwargs or {})}
        if perturb_func is None:
            perturb_func = self.default_noise
        kind = perturbation.noise_kind(perturb_func)
        self.perturb_func = perturb_func
        #: "uniform"/"gaussian" for the seeded noise, None for a Quantus-style callable.
        self._noise_kind = kind
        if kind is not None:
            self._noise_params = {**perturbation.NOISE_DEFAULTS[kind], **self.perturb_func_kwargs}
            check_noise(kind, self._noise_params)

    # -- the call -----------------------------------------------------------------------
    def _evaluate(
        self, *, model: Any, device: str | None = None, a_batch: np.ndarray | None = None, **call: Any
    ) -> Any:
        """Quantus's batched path, with ``device`` defaulting to the model's.

        A given ``a_batch`` (validated by ``check_batch``) reaches the batches through
        :meth:`custom_preprocess` rather than through Quantus, which asserts on its values
        (an all-zero or constant batch raises a bare ``AssertionError``); it is normalised
        and made absolute there as Quantus would, for the whole batch at once.
        """
        if device is None and isinstance(model, nn.Module):
            device = str(model_device(model))
        self._given_a_batch = a_batch
        try:
            return super()._evaluate(model=model, device=device, a_batch=None, **call)
        finally:
            self.__dict__.pop("_given_a_batch", None)

    # Quantus calls custom_preprocess once before the batches, custom_postprocess after.
    def custom_preprocess(self, *, model: Any = None, **kwargs: Any) -> dict[str, np.ndarray] | None:
        super().custom_preprocess(**kwargs)
        # Predictions need eval mode (Quantus's wrapper refuses a training model); the base
        # class's model guard restores the caller's flags afterwards.
        raw = model.get_model() if isinstance(model, ModelInterface) else model
        if isinstance(raw, nn.Module):
            raw.eval()
        self._offset = 0  # position of the running batch in x_batch (seeds its noise)
        self._unchanged = [0, 0]  # perturbed inputs equal to their original, of all
        given = self.__dict__.pop("_given_a_batch", None)
        if given is None:
            return None
        a = self.normalise_func(given) if self.normalise else given
        return {"a_batch": np.abs(a) if self.abs else a}

    def custom_postprocess(self, **kwargs: Any) -> None:
        self.__dict__.pop("_offset", None)
        unchanged, seen = self.__dict__.pop("_unchanged", None) or (0, 0)
        if unchanged and not self._disable_warnings:
            warnings.warn(
                f"{type(self).__name__}: {unchanged} of {seen} perturbed inputs equal their original "
                "input; check the perturbation parameters",
                RuntimeWarning,
                stacklevel=2,
            )
        super().custom_postprocess(**kwargs)

    def evaluate_batch(
        self, *, model: Any, x_batch: np.ndarray, y_batch: np.ndarray, a_batch: np.ndarray, **kwargs: Any
    ) -> np.ndarray:
        """Scores of one batch of (preprocessed) inputs and attributions, shape ``(N,)``.

        NaN for the samples whose original map is not finite (left out of the batch), whose
        perturbed maps are not all finite, or whose score :meth:`_undefined_scores` names.
        """
        x, y, a = np.asarray(x_batch), np.asarray(y_batch), np.asarray(a_batch)
        n = len(x)
        offset = self.__dict__.get("_offset", 0)
        if "_offset" in self.__dict__:
            self._offset = offset + n
        scores = np.full(n, np.nan)
        kept = finite_samples(a)
        problems = {NON_FINITE_ORIGINAL: ~kept, NON_FINITE_PERTURBED: np.zeros(n, dtype=bool)}
        if kept.any():
            idx = np.flatnonzero(kept)
            if len(idx) == n:  # the usual case: no copies
                idx, x_kept, y_kept, a_kept = slice(None), x, y, a
            else:
                x_kept, y_kept, a_kept = x[idx], y[idx], a[idx]
            scores[idx], problems[NON_FINITE_PERTURBED][idx] = self._score_samples(
                model, x_kept, y_kept, a_kept, offset + np.arange(n)[idx]
            )
            for message, mask in self._undefined_scores(a_kept).items():
                problems[message] = np.zeros(n, dtype=bool)
                problems[message][idx] = mask
        seen = np.zeros(n, dtype=bool)
        for message, mask in problems.items():
            mask = mask & ~seen  # each sample counts once, for its first problem
            scores[mask] = np.nan
            seen |= mask
            self._note(mask, message)
        return scores

    def _score_samples(
        self, model: Any, x: np.ndarray, y: np.ndarray, a: np.ndarray, positions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Scores ``(M,)`` of samples with finite original maps, and which had a non-finite perturbed map.

        ``positions`` are the samples' positions in ``x_batch``, which seed their noise.
        """
        n = len(x)
        chunk = chunks.resolve_chunk_size(self.chunk_size, x, model)
        steps_per_group = max(1, chunk // n)
        generators = (
            perturbation.sample_generators(self.seed, positions) if self._noise_kind is not None else None
        )
        labels = chunks.predict_labels(model, x, chunk) if self.return_nan_when_prediction_changes else None
        scores = np.full((n, self.nr_samples), np.nan)
        bad = np.zeros(n, dtype=bool)
        for start in range(0, self.nr_samples, steps_per_group):
            k = min(steps_per_group, self.nr_samples - start)
            x_pert = self._perturb(x, k, generators)  # (k, N, ...)
            rows = x_pert.reshape(k * n, *x.shape[1:])
            a_pert = chunks.explain_rows(
                self.explain_func, self.explain_func_kwargs, model, rows, np.tile(y, k), chunk
            )
            if a_pert.shape[1:] != a.shape[1:]:
                raise ValueError(
                    f"explanations of the perturbed inputs have shape {a_pert.shape[1:]} per sample, "
                    f"those of the original inputs {a.shape[1:]}; they must match"
                )
            a_pert = self._postprocess(a_pert.reshape(k, n, *a.shape[1:]))
            finite = finite_samples(a_pert.reshape(k * n, -1)).reshape(k, n)
            if not finite.all():  # scored as zeros, out of sight: the sample's score is NaN
                bad |= ~finite.all(axis=0)
                a_pert = np.where(finite.reshape(k, n, *(1,) * (a.ndim - 1)), a_pert, 0)
            step = np.asarray(self._step_scores(x, x_pert, a, a_pert), dtype=np.float64)
            if labels is not None:
                changed = chunks.predict_labels(model, rows, chunk).reshape(k, n) != labels[None]
                step[changed] = np.nan
            scores[:, start : start + k] = step.T
        reduce = (
            self.reduce_scores if self.return_nan_when_prediction_changes else self.reduce_scores_skipping_nan
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows give NaN quietly
            return np.asarray(reduce(scores, axis=1), dtype=np.float64), bad

    def _undefined_scores(self, a: np.ndarray) -> dict[str, np.ndarray]:
        """The samples whose score is undefined given their (finite) original maps, by problem.

        Each message completes the phrase "k of n samples ..."; the masks are boolean
        ``(N,)``. None by default.
        """
        return {}

    # -- steps --------------------------------------------------------------------------
    def _perturb(self, x: np.ndarray, k: int, generators: list[np.random.Generator] | None) -> np.ndarray:
        """The next ``k`` perturbed copies of the batch, ``(k, N, ...)``; counts unchanged ones."""
        if generators is None:  # a Quantus-style perturbation function
            x_pert = perturbation.perturb_with_function(self.perturb_func, x, k, self.perturb_func_kwargs)
        else:
            x_pert = perturbation.seeded_noise(x, k, generators, self._noise_kind, self._noise_params)
        if not self._disable_warnings and "_unchanged" in self.__dict__:
            for i, count in enumerate(perturbation.count_unchanged(x, x_pert)):
                self._unchanged[i] += count
        return x_pert

    def _postprocess(self, a_pert: np.ndarray) -> np.ndarray:
        """Normalise each perturbation index's N maps together (as Quantus does), then |a|."""
        if self.normalise:
            a_pert = np.stack([np.asarray(self.normalise_func(step)) for step in a_pert])
        if self.abs:
            a_pert = np.abs(a_pert)
        return a_pert

    def _step_scores(
        self, x: np.ndarray, x_pert: np.ndarray, a: np.ndarray, a_pert: np.ndarray
    ) -> np.ndarray:  # pragma: no cover - abstract
        """Scores of ``k`` perturbation indices, shape ``(k, N)``, from ``(k, N, ...)`` perturbations."""
        raise NotImplementedError


#: The former private name of :class:`RobustnessMetric`.
_RobustnessMetric = RobustnessMetric


#: The constructor parameters every robustness metric shares: Quantus's common metric
#: parameters and :class:`RobustnessMetric`'s (see :func:`xai_sanity._signatures.with_parameters`).
SHARED_PARAMETERS = (
    *COMMON_PARAMETERS,
    *parameters_of(RobustnessMetric.__init__, exclude=("noise_kwargs", "normalise_func")),
)

#: Quantus's order of the parameters of Max-/Avg-Sensitivity and the Local Lipschitz
#: Estimate; ``...`` stands for the metric's own noise parameters.
SIMILARITY_ORDER = (
    tuple(
        "similarity_func norm_numerator norm_denominator nr_samples abs normalise normalise_func "
        "normalise_func_kwargs perturb_func".split()
    )
    + (...,)
    + tuple(
        "perturb_func_kwargs return_aggregate aggregate_func default_plot_func disable_warnings "
        "display_progressbar return_nan_when_prediction_changes seed chunk_size".split()
    )
)
