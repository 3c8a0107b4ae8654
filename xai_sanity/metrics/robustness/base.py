"""The shared base of the robustness metrics: argument checks, the batch loop, predictions.

:class:`RobustnessMetric` perturbs a batch ``nr_samples`` times, explains the stacked
perturbed inputs in chunks, compares their explanations with the original ones one group
of perturbation indices at a time (:meth:`RobustnessMetric._step_scores`) and reduces the
``(N, nr_samples)`` table of step scores to one score per sample.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import torch
from quantus.helpers.enums import EvaluationCategory, ScoreDirection
from quantus.helpers.model.model_interface import ModelInterface
from torch import nn

from ..._validation import model_device
from .._plumbing import explain_in_chunks
from ..base import Metric
from . import perturbation

__all__ = ["CHUNK_VALUE_BUDGET", "DEFAULT_CHUNK_SIZE", "RobustnessMetric", "repeat_rows", "shared_arguments"]

#: Inputs per explain call when ``chunk_size`` is None, for small inputs.
DEFAULT_CHUNK_SIZE = 1024
#: When ``chunk_size`` is None, a chunk holds at most this many input values (64 MiB of
#: float32), so large images get smaller chunks.
CHUNK_VALUE_BUDGET = 2**24

#: Constructor parameters every robustness metric has; :func:`shared_arguments` hands them
#: on to :class:`RobustnessMetric`.
SHARED_PARAMETERS = tuple(
    "nr_samples abs normalise normalise_func normalise_func_kwargs perturb_func perturb_func_kwargs "
    "return_aggregate aggregate_func default_plot_func disable_warnings display_progressbar "
    "return_nan_when_prediction_changes seed chunk_size".split()
)


def shared_arguments(arguments: dict[str, Any]) -> dict[str, Any]:
    """The shared constructor arguments, from a metric constructor's ``locals()``.

    Each metric spells out its full signature (so its parameters and defaults stay visible
    and positional calls keep working) and hands :data:`SHARED_PARAMETERS` and its
    ``**kwargs`` on with ``super().__init__(noise, **shared_arguments(locals()))``.
    """
    return {**{name: arguments[name] for name in SHARED_PARAMETERS}, **arguments["kwargs"]}


def repeat_rows(arr: np.ndarray, k: int) -> np.ndarray:
    """``arr`` ``(N, ...)`` flattened per sample and repeated for ``k`` perturbation indices, ``(k * N, F)``."""
    return np.tile(arr.reshape(len(arr), -1), (k, 1))


def _check_int(value: Any, name: str, minimum: int = 1) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _check_real(value: Any, name: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    if not math.isfinite(float(value)):
        raise ValueError(f"{name} must be finite, got {value}")
    return float(value)


def _check_noise(kind: str, params: dict[str, Any]) -> None:
    """Raise a clear error for noise parameters that do not define a distribution."""
    if kind == "uniform":
        low = _check_real(params["lower_bound"], "lower_bound")
        high = params["upper_bound"]
        if high is None:
            if low < 0:
                raise ValueError(
                    f"lower_bound must be >= 0 when upper_bound is None (the noise is drawn from "
                    f"[-lower_bound, lower_bound]), got {low}"
                )
        elif _check_real(high, "upper_bound") <= low:
            raise ValueError(f"upper_bound must be larger than lower_bound, got {high} <= {low}")
    else:
        _check_real(params["perturb_mean"], "perturb_mean")
        if _check_real(params["perturb_std"], "perturb_std") < 0:
            raise ValueError(f"perturb_std must be >= 0, got {params['perturb_std']}")


class RobustnessMetric(Metric):
    """Base of the robustness metrics: stacked perturbations, chunked explanations, step scores.

    Subclasses implement :meth:`_step_scores` (the scores of ``k`` perturbation indices at
    once) and may change how the ``(N, nr_samples)`` table of step scores is reduced to
    ``(N,)`` scores (:attr:`reduce_scores`, :attr:`reduce_scores_skipping_nan`).

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
        nr_samples: int,
        perturb_func: Callable | str | None,
        perturb_func_kwargs: dict[str, Any] | None,
        return_nan_when_prediction_changes: bool,
        seed: int | None,
        chunk_size: int | None,
        normalise_func: Callable[[np.ndarray], np.ndarray] | None = None,
        **metric_kwargs: Any,
    ) -> None:
        if normalise_func is None:
            normalise_func = self.default_normalise_func
        super().__init__(normalise_func=normalise_func, **metric_kwargs)
        self.nr_samples = _check_int(nr_samples, "nr_samples")
        if not isinstance(return_nan_when_prediction_changes, (bool, np.bool_)):
            raise TypeError(
                f"return_nan_when_prediction_changes must be a bool, got {return_nan_when_prediction_changes!r}"
            )
        self.return_nan_when_prediction_changes = bool(return_nan_when_prediction_changes)
        if seed is not None:
            _check_int(seed, "seed", minimum=0)
        self.seed = seed
        self.chunk_size = None if chunk_size is None else _check_int(chunk_size, "chunk_size")
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
            _check_noise(kind, self._noise_params)

    # -- the call -----------------------------------------------------------------------
    def _evaluate(self, *, model: Any, device: str | None = None, **call: Any) -> Any:
        """Quantus's batched path, with ``device`` defaulting to the model's."""
        if device is None and isinstance(model, nn.Module):
            device = str(model_device(model))
        return super()._evaluate(model=model, device=device, **call)

    # Quantus calls custom_preprocess once before the batches, custom_postprocess after.
    def custom_preprocess(self, *, model: Any = None, **kwargs: Any) -> None:
        # Predictions need eval mode (Quantus's wrapper refuses a training model); the base
        # class's model guard restores the caller's flags afterwards.
        raw = model.get_model() if isinstance(model, ModelInterface) else model
        if isinstance(raw, nn.Module):
            raw.eval()
        self._offset = 0  # position of the running batch in x_batch (seeds its noise)
        self._unchanged = [0, 0]  # perturbed inputs equal to their original, of all
        return None

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

    def evaluate_batch(
        self, *, model: Any, x_batch: np.ndarray, y_batch: np.ndarray, a_batch: np.ndarray, **kwargs: Any
    ) -> np.ndarray:
        """Scores of one batch of (preprocessed) inputs and attributions, shape ``(N,)``."""
        x, y, a = np.asarray(x_batch), np.asarray(y_batch), np.asarray(a_batch)
        n = len(x)
        offset = self.__dict__.get("_offset", 0)
        if "_offset" in self.__dict__:
            self._offset = offset + n
        chunk = self._resolve_chunk_size(x)
        steps_per_group = max(1, chunk // n)
        generators = (
            perturbation.sample_generators(self.seed, offset, n) if self._noise_kind is not None else None
        )
        labels = self._predict_labels(model, x, chunk) if self.return_nan_when_prediction_changes else None
        scores = np.full((n, self.nr_samples), np.nan)
        for start in range(0, self.nr_samples, steps_per_group):
            k = min(steps_per_group, self.nr_samples - start)
            x_pert = self._perturb(x, k, generators)  # (k, N, ...)
            rows = x_pert.reshape(k * n, *x.shape[1:])
            a_pert = self._explain(model, rows, np.tile(y, k), chunk)
            if a_pert.shape[1:] != a.shape[1:]:
                raise ValueError(
                    f"explanations of the perturbed inputs have shape {a_pert.shape[1:]} per sample, "
                    f"those of the original inputs {a.shape[1:]}; they must match"
                )
            a_pert = self._postprocess(a_pert.reshape(k, n, *a.shape[1:]))
            step = np.asarray(self._step_scores(x, x_pert, a, a_pert), dtype=np.float64)
            if labels is not None:
                changed = self._predict_labels(model, rows, chunk).reshape(k, n) != labels[None]
                step[changed] = np.nan
            scores[:, start : start + k] = step.T
        reduce = (
            self.reduce_scores if self.return_nan_when_prediction_changes else self.reduce_scores_skipping_nan
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows give NaN quietly
            return np.asarray(reduce(scores, axis=1), dtype=np.float64)

    # -- steps --------------------------------------------------------------------------
    def _resolve_chunk_size(self, x: np.ndarray) -> int:
        if self.chunk_size is not None:
            return self.chunk_size
        per_input = max(1, int(np.prod(x.shape[1:])))
        return max(1, min(DEFAULT_CHUNK_SIZE, CHUNK_VALUE_BUDGET // per_input))

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

    def _explain(self, model: Any, rows: np.ndarray, targets: np.ndarray, chunk: int) -> np.ndarray:
        """Explain ``rows`` in calls of at most ``chunk`` inputs (no normalisation yet)."""
        if isinstance(model, ModelInterface):
            # Quantus's wrapper hands channel-first batches back as they are (and refuses a
            # channel-last torch model); the explain function gets the unwrapped model.
            rows = model.shape_input(x=rows, shape=rows.shape, channel_first=True, batched=True)
            model = model.get_model()
        # The kwargs are bound here so that none of them can clash with the loop's own.
        return explain_in_chunks(
            self.explain_func, model, rows, targets, chunk, dtype=None, kwargs=self.explain_func_kwargs
        )

    def _postprocess(self, a_pert: np.ndarray) -> np.ndarray:
        """Normalise each perturbation index's N maps together (as Quantus does), then |a|."""
        if self.normalise:
            a_pert = np.stack([np.asarray(self.normalise_func(step)) for step in a_pert])
        if self.abs:
            a_pert = np.abs(a_pert)
        return a_pert

    def _predict_labels(self, model: Any, x: np.ndarray, chunk: int) -> np.ndarray:
        """Predicted classes of ``x``, in forward passes of at most ``chunk`` inputs."""
        labels = []
        for start in range(0, len(x), chunk):
            piece = x[start : start + chunk]
            if isinstance(model, ModelInterface):
                out = model.predict(piece)
            else:  # evaluate_batch called directly with a torch module
                with torch.no_grad():
                    inputs = torch.as_tensor(piece, device=model_device(model))
                    out = model(inputs).cpu().numpy()
            labels.append(np.asarray(out).argmax(axis=-1))
        return np.concatenate(labels)

    def _step_scores(
        self, x: np.ndarray, x_pert: np.ndarray, a: np.ndarray, a_pert: np.ndarray
    ) -> np.ndarray:  # pragma: no cover - abstract
        """Scores of ``k`` perturbation indices, shape ``(k, N)``, from ``(k, N, ...)`` perturbations."""
        raise NotImplementedError


#: The former private name of :class:`RobustnessMetric`.
_RobustnessMetric = RobustnessMetric
