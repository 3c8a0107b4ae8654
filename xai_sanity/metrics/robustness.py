"""Robustness metrics: how much does an explanation move when the input moves a little?

Each metric perturbs every input ``nr_samples`` times, explains the perturbed copies and
compares their explanations with the original one:

* :class:`MaxSensitivity` / :class:`AvgSensitivity` — the largest / mean relative change
  of the explanation (Yeh et al. 2019);
* :class:`LocalLipschitzEstimate` — the largest ratio of explanation change to input
  change (Alvarez-Melis & Jaakkola 2018);
* :class:`RelativeInputStability` — the largest ratio of the *relative* explanation change
  to the *relative* input change (Agarwal et al. 2022).

They are drop-in replacements for the Quantus metrics of the same names, with the same
constructor parameters and defaults, and give the same scores for the same perturbations.
What differs is how the work is done:

* **Batched explanations.** Quantus explains the batch once per perturbation index
  (``nr_samples`` explain calls of N inputs each). Here the N x ``nr_samples`` perturbed
  inputs of a batch are stacked and explained in chunks of up to ``chunk_size`` inputs, so
  a batch of 64 with 200 samples needs 13 explain calls instead of 200. The predictions for
  ``return_nan_when_prediction_changes`` are batched the same way, and every norm and
  similarity is computed for a whole chunk at once.
* **Private, seeded noise.** The default perturbations (Quantus's uniform or Gaussian
  noise, with the same parameters) are drawn from :func:`numpy.random.default_rng`
  generators seeded from ``seed``, one per sample (by its position in ``x_batch``), never
  from the global random state. A call is therefore deterministic, and a sample's noise
  does not depend on ``batch_size`` or ``chunk_size``.
* **Quantus-style perturbation functions still work.** A callable ``perturb_func`` is
  called exactly as Quantus calls it — once per perturbation index with the whole batch,
  ``perturb_func(arr=x.reshape(N, -1), indices=..., **perturb_func_kwargs)`` — so the
  same deterministic function fed to both implementations gives the same scores. Passing
  Quantus's own ``batch_uniform_noise`` or ``batch_gaussian_noise`` selects the seeded
  equivalent (same distribution, private generator).

As in Quantus, attributions are normalised by ``normalise_func`` per explain batch of N
(the original ones per ``batch_size`` batch, the perturbed ones per perturbation index),
so with ``normalise=True`` and Quantus's default ``normalise_by_max`` a score depends on
which other samples share its batch.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import torch
from quantus.functions.norm_func import fro_norm
from quantus.functions.normalise_func import normalise_by_average_second_moment_estimate
from quantus.functions.perturb_func import batch_gaussian_noise, batch_uniform_noise
from quantus.functions.similarity_func import difference, distance_euclidean, lipschitz_constant
from quantus.helpers import utils as quantus_utils
from quantus.helpers.enums import EvaluationCategory, ScoreDirection
from quantus.helpers.model.model_interface import ModelInterface
from torch import nn

from .._validation import model_device
from ..registry import METRICS
from .base import Metric

__all__ = [
    "AvgSensitivity",
    "LocalLipschitzEstimate",
    "MaxSensitivity",
    "RelativeInputStability",
]

#: Inputs per explain call when ``chunk_size`` is None, for small inputs.
DEFAULT_CHUNK_SIZE = 1024
#: When ``chunk_size`` is None, a chunk holds at most this many input values (64 MiB of
#: float32), so large images get smaller chunks.
CHUNK_VALUE_BUDGET = 2**24

# Names of the seeded noises; Quantus's batch_uniform_noise / batch_gaussian_noise select
# the same ones (same distribution, private generator).
_NOISE_NAMES = {"uniform": "uniform", "gaussian": "gaussian"}
# The defaults of Quantus's batch_uniform_noise / batch_gaussian_noise.
_NOISE_DEFAULTS = {
    "uniform": {"lower_bound": 0.02, "upper_bound": None},
    "gaussian": {"perturb_mean": 0.0, "perturb_std": 0.01},
}


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


class _RobustnessMetric(Metric):
    """Shared machinery: stacked perturbations, chunked explanations, per-step scores.

    Subclasses implement :meth:`_step_scores` (scores of k perturbation indices at once)
    and :meth:`_reduce` (from the ``(N, nr_samples)`` score table to ``(N,)`` scores).
    """

    evaluation_category: ClassVar[EvaluationCategory] = EvaluationCategory.ROBUSTNESS
    score_direction: ClassVar[ScoreDirection] = ScoreDirection.LOWER
    # Each metric explains N x nr_samples inputs: the default suite uses a few samples.
    in_default_suite: ClassVar[bool] = True
    suite_params: ClassVar[dict[str, Any]] = {"nr_samples": 3}
    quick_params: ClassVar[dict[str, Any]] = {"nr_samples": 2}
    #: The default noise of the Quantus metric: "uniform" or "gaussian".
    default_noise: ClassVar[str] = "uniform"

    def _init_robustness(
        self,
        *,
        nr_samples: int,
        perturb_func: Callable | str | None,
        perturb_func_kwargs: dict[str, Any] | None,
        bound_kwargs: dict[str, Any],
        return_nan_when_prediction_changes: bool,
        seed: int | None,
        chunk_size: int | None,
    ) -> None:
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
        # As in Quantus: the constructor's noise parameters, updated by perturb_func_kwargs.
        self.perturb_func_kwargs = {**bound_kwargs, **(perturb_func_kwargs or {})}
        if perturb_func is None:
            perturb_func = self.default_noise
        if isinstance(perturb_func, str):
            kind = _NOISE_NAMES.get(perturb_func)
            if kind is None:
                raise ValueError(
                    f"perturb_func must be 'uniform', 'gaussian' or a callable, got {perturb_func!r}"
                )
        elif perturb_func is batch_uniform_noise or perturb_func is batch_gaussian_noise:
            kind = "uniform" if perturb_func is batch_uniform_noise else "gaussian"
        elif callable(perturb_func):
            kind = None
        else:
            raise TypeError(f"perturb_func must be 'uniform', 'gaussian' or a callable, got {perturb_func!r}")
        self.perturb_func = perturb_func
        #: "uniform"/"gaussian" for the seeded noise, None for a Quantus-style callable.
        self._noise_kind = kind
        if kind is not None:
            self._noise_params = {**_NOISE_DEFAULTS[kind], **self.perturb_func_kwargs}
            _check_noise(kind, self._noise_params)

    # -- the call -----------------------------------------------------------------------
    # The perturbed inputs must be explained: the model and explain_func are always needed
    # (``a_batch`` may still give the explanations of the unperturbed inputs).
    requires_model: ClassVar[bool] = True
    requires_explain_func: ClassVar[bool] = True

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
        self,
        *,
        model: Any,
        x_batch: np.ndarray,
        y_batch: np.ndarray,
        a_batch: np.ndarray,
        **kwargs: Any,
    ) -> np.ndarray:
        """Scores of one batch of (preprocessed) inputs and attributions, shape ``(N,)``."""
        x = np.asarray(x_batch)
        y = np.asarray(y_batch)
        a = np.asarray(a_batch)
        n = len(x)
        offset = self.__dict__.get("_offset", 0)
        if "_offset" in self.__dict__:
            self._offset = offset + n
        chunk = self._resolve_chunk_size(x)
        steps_per_group = max(1, chunk // n)
        generators = self._generators(offset, n) if self._noise_kind is not None else None
        labels = self._predict_labels(model, x, chunk) if self.return_nan_when_prediction_changes else None
        prepared = self._prepare(x, a)
        scores = np.full((n, self.nr_samples), np.nan)
        for start in range(0, self.nr_samples, steps_per_group):
            k = min(steps_per_group, self.nr_samples - start)
            x_pert = self._perturb(x, k, generators)  # (k, N, ...)
            self._note_unchanged(x, x_pert)
            rows = x_pert.reshape(k * n, *x.shape[1:])
            a_pert = self._explain_rows(model, rows, np.tile(y, k), chunk)
            if a_pert.shape[1:] != a.shape[1:]:
                raise ValueError(
                    f"explanations of the perturbed inputs have shape {a_pert.shape[1:]} per sample, "
                    f"those of the original inputs {a.shape[1:]}; they must match"
                )
            a_pert = a_pert.reshape(k, n, *a.shape[1:])
            a_pert = self._postprocess(a_pert)
            step = np.asarray(self._step_scores(x, x_pert, a, a_pert, prepared), dtype=np.float64)
            if labels is not None:
                changed = self._predict_labels(model, rows, chunk).reshape(k, n) != labels[None]
                step[changed] = np.nan
            scores[:, start : start + k] = step.T
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows give NaN quietly
            return np.asarray(self._reduce(scores), dtype=np.float64)

    # -- steps --------------------------------------------------------------------------
    def _resolve_chunk_size(self, x: np.ndarray) -> int:
        if self.chunk_size is not None:
            return self.chunk_size
        per_input = max(1, int(np.prod(x.shape[1:])))
        return max(1, min(DEFAULT_CHUNK_SIZE, CHUNK_VALUE_BUDGET // per_input))

    def _generators(self, offset: int, n: int) -> list[np.random.Generator]:
        """One generator per sample, seeded by ``seed`` and the sample's position."""
        entropy = self.seed if self.seed is not None else np.random.SeedSequence().entropy
        return [
            np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=(offset + i,))) for i in range(n)
        ]

    def _perturb(self, x: np.ndarray, k: int, generators: list[np.random.Generator] | None) -> np.ndarray:
        """The next ``k`` perturbed copies of the batch, shape ``(k, N, *x.shape[1:])``."""
        n = len(x)
        flat = x.reshape(n, -1)
        if generators is None:  # a Quantus-style perturbation function, called as Quantus does
            indices = np.tile(np.arange(flat.shape[1]), (n, 1))
            copies = [
                np.asarray(self.perturb_func(arr=flat.copy(), indices=indices, **self.perturb_func_kwargs))
                for _ in range(k)
            ]
            for copy in copies:
                if copy.size != flat.size:
                    raise ValueError(
                        f"perturb_func returned an array of shape {copy.shape} for inputs of shape {flat.shape}"
                    )
            return np.stack([c.reshape(x.shape) for c in copies])
        noise = np.empty((k, n, flat.shape[1]))
        params = self._noise_params
        for i, gen in enumerate(generators):
            if self._noise_kind == "uniform":
                low, high = params["lower_bound"], params["upper_bound"]
                if high is None:
                    low, high = -low, low
                noise[:, i] = gen.uniform(low, high, size=(k, flat.shape[1]))
            else:
                noise[:, i] = gen.normal(
                    params["perturb_mean"], params["perturb_std"], size=(k, flat.shape[1])
                )
        noise += flat[None]  # in float64, then cast to the inputs' dtype (as Quantus does)
        dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float32
        return noise.astype(dtype, copy=False).reshape(k, *x.shape)

    def _note_unchanged(self, x: np.ndarray, x_pert: np.ndarray) -> None:
        if self._disable_warnings or "_unchanged" not in self.__dict__:
            return
        same = np.isclose(x_pert, x[None], equal_nan=True).reshape(x_pert.shape[0] * len(x), -1).all(axis=1)
        self._unchanged[0] += int(same.sum())
        self._unchanged[1] += int(same.size)

    def _explain_rows(self, model: Any, rows: np.ndarray, targets: np.ndarray, chunk: int) -> np.ndarray:
        """Explain ``rows`` in calls of at most ``chunk`` inputs (no normalisation yet)."""
        raw = model.get_model() if isinstance(model, ModelInterface) else model
        pieces = []
        for start in range(0, len(rows), chunk):
            inputs = rows[start : start + chunk]
            if isinstance(model, ModelInterface):
                inputs = model.shape_input(x=inputs, shape=inputs.shape, channel_first=True, batched=True)
            a = self.explain_func(
                model=raw, inputs=inputs, targets=targets[start : start + chunk], **self.explain_func_kwargs
            )
            if isinstance(a, torch.Tensor):
                a = a.detach().cpu().numpy()
            a = quantus_utils.expand_attribution_channel(np.asarray(a), inputs)
            if a.shape[0] != len(inputs) or a.ndim != inputs.ndim:
                raise ValueError(
                    f"explain_func returned attributions of shape {a.shape} for inputs of shape {inputs.shape}"
                )
            pieces.append(a)
        return np.concatenate(pieces) if len(pieces) > 1 else pieces[0]

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

    # -- per metric ---------------------------------------------------------------------
    def _prepare(self, x: np.ndarray, a: np.ndarray) -> Any:
        """Anything computed once per batch from the originals (e.g. a denominator)."""
        return None

    def _step_scores(
        self, x: np.ndarray, x_pert: np.ndarray, a: np.ndarray, a_pert: np.ndarray, prepared: Any
    ) -> np.ndarray:  # pragma: no cover - abstract
        """Scores of ``k`` perturbation indices, shape ``(k, N)``."""
        raise NotImplementedError

    def _reduce(self, scores: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError


def _rows(arr: np.ndarray, k: int) -> np.ndarray:
    """``arr`` (N, ...) repeated for k perturbation indices, as a ``(k * N, F)`` array."""
    flat = arr.reshape(len(arr), -1)
    return np.tile(flat, (k, 1))


class _Sensitivity(_RobustnessMetric):
    """Max- and Avg-Sensitivity: ``||similarity(a, a')|| / ||a||`` over the perturbations."""

    def __init__(
        self,
        similarity_func: Callable | None = None,
        norm_numerator: Callable | None = None,
        norm_denominator: Callable | None = None,
        nr_samples: int = 200,
        abs: bool = False,
        normalise: bool = False,
        normalise_func: Callable[[np.ndarray], np.ndarray] | None = None,
        normalise_func_kwargs: dict[str, Any] | None = None,
        perturb_func: Callable | str | None = None,
        lower_bound: float = 0.2,
        upper_bound: float | None = None,
        perturb_func_kwargs: dict[str, Any] | None = None,
        return_aggregate: bool = False,
        aggregate_func: Callable | None = None,
        default_plot_func: Callable | None = None,
        disable_warnings: bool = True,
        display_progressbar: bool = False,
        return_nan_when_prediction_changes: bool = False,
        seed: int | None = 42,
        chunk_size: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            abs=abs,
            normalise=normalise,
            normalise_func=normalise_func,
            normalise_func_kwargs=normalise_func_kwargs,
            return_aggregate=return_aggregate,
            aggregate_func=aggregate_func,
            default_plot_func=default_plot_func,
            disable_warnings=disable_warnings,
            display_progressbar=display_progressbar,
            **kwargs,
        )
        self.similarity_func = similarity_func if similarity_func is not None else difference
        self.norm_numerator = norm_numerator if norm_numerator is not None else fro_norm
        self.norm_denominator = norm_denominator if norm_denominator is not None else fro_norm
        self.lower_bound = lower_bound
        self.upper_bound = upper_bound
        self._init_robustness(
            nr_samples=nr_samples,
            perturb_func=perturb_func,
            perturb_func_kwargs=perturb_func_kwargs,
            bound_kwargs={"lower_bound": lower_bound, "upper_bound": upper_bound},
            return_nan_when_prediction_changes=return_nan_when_prediction_changes,
            seed=seed,
            chunk_size=chunk_size,
        )

    def _prepare(self, x: np.ndarray, a: np.ndarray) -> np.ndarray:
        return np.asarray(self.norm_denominator(a=a.reshape(len(a), -1)))

    def _step_scores(
        self, x: np.ndarray, x_pert: np.ndarray, a: np.ndarray, a_pert: np.ndarray, prepared: np.ndarray
    ) -> np.ndarray:
        k, n = a_pert.shape[:2]
        change = self.similarity_func(a=_rows(a, k), b=a_pert.reshape(k * n, -1))
        numerator = np.asarray(self.norm_numerator(a=change)).reshape(k, n)
        with np.errstate(divide="ignore", invalid="ignore"):
            return numerator / prepared[None]


class MaxSensitivity(_Sensitivity):
    """Max-Sensitivity: the largest relative change of an explanation under small noise.

    For each input ``x`` with explanation ``a``, ``nr_samples`` perturbed inputs
    ``x + δ`` are drawn and explained; the score is ``max over δ of
    ||similarity_func(a, a(x + δ))|| / ||a||`` (by default the Frobenius norm of the
    difference over the Frobenius norm of the original map). This is the Monte-Carlo
    estimate of the max-sensitivity of Yeh et al. (2019); lower is more robust.

    Reference: C.-K. Yeh, C.-Y. Hsieh, A. S. Suggala, D. I. Inouye and P. Ravikumar, "On
    the (in)fidelity and sensitivity of explanations", Advances in Neural Information
    Processing Systems 32 (NeurIPS), 2019.

    Parameters
    ----------
    similarity_func : callable, optional
        ``f(a=(M, F), b=(M, F)) -> (M, F)``, the change between original and perturbed
        maps. Default ``quantus.similarity_func.difference`` (``a - b``).
    norm_numerator, norm_denominator : callable, optional
        ``f(a=(M, F)) -> (M,)`` norms of the change and of the original map. Default
        ``quantus.norm_func.fro_norm``.
    nr_samples : int, default 200
        Perturbations per input (>= 1).
    lower_bound, upper_bound : float, default 0.2, None
        Uniform noise from ``[-lower_bound, lower_bound]`` when ``upper_bound`` is None,
        else from ``[lower_bound, upper_bound]`` (Quantus's ``batch_uniform_noise``).
    perturb_func : callable or {"uniform", "gaussian"}, optional
        None (default) or ``"uniform"``: seeded uniform noise as above; ``"gaussian"``:
        seeded Gaussian noise (``perturb_mean``, ``perturb_std`` in
        ``perturb_func_kwargs``). A callable is used as Quantus uses it:
        ``perturb_func(arr=(N, F), indices=(N, F), **perturb_func_kwargs)`` returning the
        perturbed ``(N, F)`` batch, called once per perturbation index.
    perturb_func_kwargs : dict, optional
        Updates the noise parameters (``lower_bound``, ``upper_bound`` ...).
    return_nan_when_prediction_changes : bool, default False
        If True, a perturbation that changes the predicted class makes the score NaN
        (Quantus's rule: then the max is NaN). If False, NaN steps are skipped (nanmax).
    seed : int or None, default 42
        Seeds the noise (one private generator per sample). None: fresh OS entropy.
    chunk_size : int or None, default None
        Most perturbed inputs per explain call (and per forward pass for the prediction
        check); bounds memory. None: 1024, or fewer for large inputs (at most 2**24 input
        values per chunk).
    abs, normalise, normalise_func, normalise_func_kwargs, return_aggregate,
    aggregate_func, default_plot_func, disable_warnings, display_progressbar
        As in :class:`xai_sanity.metrics.Metric` (Quantus defaults here: ``abs=False``,
        ``normalise=False``).

    Differences from Quantus: explanations are computed in chunks of ``chunk_size``
    rather than once per perturbation index, and the default noise comes from private
    seeded generators rather than the global numpy random state; with the same
    (deterministic) ``perturb_func`` the scores agree to floating-point precision.

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

    def _reduce(self, scores: np.ndarray) -> np.ndarray:
        return (
            np.max(scores, axis=1) if self.return_nan_when_prediction_changes else np.nanmax(scores, axis=1)
        )


class AvgSensitivity(_Sensitivity):
    """Avg-Sensitivity: the mean relative change of an explanation under small noise.

    As :class:`MaxSensitivity`, but the score is the *mean* over the ``nr_samples``
    perturbations of ``||similarity_func(a, a(x + δ))|| / ||a||`` — the average
    sensitivity of Yeh et al. (2019); lower is more robust.

    Reference: C.-K. Yeh, C.-Y. Hsieh, A. S. Suggala, D. I. Inouye and P. Ravikumar, "On
    the (in)fidelity and sensitivity of explanations", NeurIPS 32, 2019.

    Parameters
    ----------
    similarity_func, norm_numerator, norm_denominator, nr_samples, lower_bound,
    upper_bound, perturb_func, perturb_func_kwargs, seed, chunk_size
        As in :class:`MaxSensitivity` (same defaults: uniform noise on [-0.2, 0.2]).
    return_nan_when_prediction_changes : bool, default False
        If True, one perturbation that changes the predicted class makes the score NaN
        (Quantus's rule: then the mean is NaN); if False, NaN steps are skipped (nanmean).
    abs, normalise, ...
        As in :class:`xai_sanity.metrics.Metric` (``abs=False``, ``normalise=False``).

    Examples
    --------
    >>> import numpy as np, torch, xai_sanity as xs
    >>> from xai_sanity.metrics import AvgSensitivity
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(48, 8), torch.nn.ReLU(),
    ...                             torch.nn.Linear(8, 3))
    >>> x = np.random.default_rng(0).random((4, 3, 4, 4), dtype=np.float32)
    >>> scores = AvgSensitivity(nr_samples=10, seed=0)(model, x, np.array([0, 1, 2, 0]),
    ...                                                explain_func=xs.Saliency())
    >>> len(scores)
    4
    """

    name = "AvgSensitivity"

    def _reduce(self, scores: np.ndarray) -> np.ndarray:
        return (
            np.mean(scores, axis=1) if self.return_nan_when_prediction_changes else np.nanmean(scores, axis=1)
        )


class LocalLipschitzEstimate(_RobustnessMetric):
    """Local Lipschitz estimate: the largest explanation change per unit of input change.

    For each input ``x`` with explanation ``a``, ``nr_samples`` perturbed inputs
    ``x' = x + δ`` (Gaussian noise by default) are explained and the score is ``max over
    δ of ||a - a(x')|| / ||x - x'||`` (Euclidean distances by default): the Monte-Carlo
    estimate of the local Lipschitz constant of the explanation map of Alvarez-Melis &
    Jaakkola (2018). Lower is more robust.

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
        Gaussian noise ``N(perturb_mean, perturb_std²)`` (Quantus's ``batch_gaussian_noise``).
    perturb_func : callable or {"uniform", "gaussian"}, optional
        None (default) or ``"gaussian"``: the seeded Gaussian noise above; otherwise as
        in :class:`MaxSensitivity`.
    perturb_func_kwargs : dict, optional
        Updates the noise parameters.
    return_nan_when_prediction_changes : bool, default False
        As in :class:`MaxSensitivity`.
    seed, chunk_size
        As in :class:`MaxSensitivity`.
    abs, normalise, ...
        As in :class:`xai_sanity.metrics.Metric` (Quantus defaults here: ``abs=False``,
        ``normalise=True``).

    Examples
    --------
    >>> import numpy as np, torch, xai_sanity as xs
    >>> from xai_sanity.metrics import LocalLipschitzEstimate
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(48, 8), torch.nn.ReLU(),
    ...                             torch.nn.Linear(8, 3))
    >>> x = np.random.default_rng(0).random((4, 3, 4, 4), dtype=np.float32)
    >>> scores = LocalLipschitzEstimate(nr_samples=10)(model, x, np.array([0, 1, 2, 0]),
    ...                                                explain_func=xs.Saliency())
    >>> bool(np.all(np.asarray(scores) >= 0))
    True
    """

    name = "LocalLipschitzEstimate"
    default_noise = "gaussian"

    def __init__(
        self,
        similarity_func: Callable | None = None,
        norm_numerator: Callable | None = None,
        norm_denominator: Callable | None = None,
        nr_samples: int = 200,
        abs: bool = False,
        normalise: bool = True,
        normalise_func: Callable[[np.ndarray], np.ndarray] | None = None,
        normalise_func_kwargs: dict[str, Any] | None = None,
        perturb_func: Callable | str | None = None,
        perturb_mean: float = 0.0,
        perturb_std: float = 0.1,
        perturb_func_kwargs: dict[str, Any] | None = None,
        return_aggregate: bool = False,
        aggregate_func: Callable | None = None,
        default_plot_func: Callable | None = None,
        disable_warnings: bool = True,
        display_progressbar: bool = False,
        return_nan_when_prediction_changes: bool = False,
        seed: int | None = 42,
        chunk_size: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            abs=abs,
            normalise=normalise,
            normalise_func=normalise_func,
            normalise_func_kwargs=normalise_func_kwargs,
            return_aggregate=return_aggregate,
            aggregate_func=aggregate_func,
            default_plot_func=default_plot_func,
            disable_warnings=disable_warnings,
            display_progressbar=display_progressbar,
            **kwargs,
        )
        self.similarity_func = similarity_func if similarity_func is not None else lipschitz_constant
        self.norm_numerator = norm_numerator if norm_numerator is not None else distance_euclidean
        self.norm_denominator = norm_denominator if norm_denominator is not None else distance_euclidean
        self.perturb_mean = perturb_mean
        self.perturb_std = perturb_std
        self._init_robustness(
            nr_samples=nr_samples,
            perturb_func=perturb_func,
            perturb_func_kwargs=perturb_func_kwargs,
            bound_kwargs={"perturb_mean": perturb_mean, "perturb_std": perturb_std},
            return_nan_when_prediction_changes=return_nan_when_prediction_changes,
            seed=seed,
            chunk_size=chunk_size,
        )

    def _step_scores(
        self, x: np.ndarray, x_pert: np.ndarray, a: np.ndarray, a_pert: np.ndarray, prepared: Any
    ) -> np.ndarray:
        k, n = a_pert.shape[:2]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = self.similarity_func(
                a=_rows(a, k),
                b=a_pert.reshape(k * n, -1),
                c=_rows(x, k),
                d=x_pert.reshape(k * n, -1),
                norm_numerator=self.norm_numerator,
                norm_denominator=self.norm_denominator,
            )
        return np.asarray(ratio).reshape(k, n)

    def _reduce(self, scores: np.ndarray) -> np.ndarray:
        return (
            np.max(scores, axis=1) if self.return_nan_when_prediction_changes else np.nanmax(scores, axis=1)
        )


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


class RelativeInputStability(_RobustnessMetric):
    """Relative Input Stability: relative explanation change over relative input change.

    For each input ``x`` with explanation ``e``, ``nr_samples`` perturbed inputs ``x'``
    are explained and the score is the maximum over them of

    ``|| (e - e') / e ||  /  max(|| (x - x') / x ||, eps_min)``

    (element-wise ratios; a zero in ``e`` or ``x`` is replaced by ``eps_min`` in the
    division), the relative input stability of Agarwal et al. (2022). Lower is more
    stable.

    Reference: C. Agarwal, N. Johnson, M. Pawelczyk, S. Krishna, E. Saxena, M. Zitnik and
    H. Lakkaraju, "Rethinking stability for attribution-based explanations", ICLR 2022
    Workshop on PAIR2Struct (arXiv:2203.06877).

    Parameters
    ----------
    nr_samples : int, default 200
    perturb_func : callable or {"uniform", "gaussian"}, optional
        None (default): seeded uniform noise with Quantus's parameters for this metric,
        ``upper_bound=0.2`` and ``batch_uniform_noise``'s ``lower_bound=0.02``, i.e.
        noise from ``[0.02, 0.2]`` (every feature shifted up). Otherwise as in
        :class:`MaxSensitivity`.
    perturb_func_kwargs : dict, optional
        Updates the noise parameters (e.g. ``{"lower_bound": -0.2}`` for ``[-0.2, 0.2]``).
    eps_min : float, default 1e-6
        Floor of the denominator and stand-in for zeros in the element-wise divisions.
    return_nan_when_prediction_changes : bool, default True
        If True, a perturbation that changes the predicted class makes the score NaN.
        (If False, no step is NaN; the max is never NaN-skipping, as in Quantus.)
    seed, chunk_size
        As in :class:`MaxSensitivity`.
    abs, normalise : bool, default False, False
    normalise_func : callable, optional
        Default ``quantus.normalise_func.normalise_by_average_second_moment_estimate``.
    normalise_func_kwargs, return_aggregate, aggregate_func, default_plot_func,
    disable_warnings, display_progressbar
        As in :class:`xai_sanity.metrics.Metric`.

    Differences from Quantus: with ``return_aggregate=True`` the scores are aggregated
    once over all samples (Quantus aggregates each batch and then the batch aggregates).

    Examples
    --------
    >>> import numpy as np, torch, xai_sanity as xs
    >>> from xai_sanity.metrics import RelativeInputStability
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(48, 8), torch.nn.ReLU(),
    ...                             torch.nn.Linear(8, 3))
    >>> x = np.random.default_rng(0).random((4, 3, 4, 4), dtype=np.float32)
    >>> scores = RelativeInputStability(nr_samples=10, return_nan_when_prediction_changes=False)(
    ...     model, x, np.array([0, 1, 2, 0]), explain_func=xs.Saliency())
    >>> len(scores)
    4
    """

    name = "RelativeInputStability"

    def __init__(
        self,
        nr_samples: int = 200,
        abs: bool = False,
        normalise: bool = False,
        normalise_func: Callable[[np.ndarray], np.ndarray] | None = None,
        normalise_func_kwargs: dict[str, Any] | None = None,
        perturb_func: Callable | str | None = None,
        perturb_func_kwargs: dict[str, Any] | None = None,
        return_aggregate: bool = False,
        aggregate_func: Callable | None = None,
        disable_warnings: bool = True,
        display_progressbar: bool = False,
        eps_min: float = 1e-6,
        default_plot_func: Callable | None = None,
        return_nan_when_prediction_changes: bool = True,
        seed: int | None = 42,
        chunk_size: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            abs=abs,
            normalise=normalise,
            normalise_func=(
                normalise_func if normalise_func is not None else normalise_by_average_second_moment_estimate
            ),
            normalise_func_kwargs=normalise_func_kwargs,
            return_aggregate=return_aggregate,
            aggregate_func=aggregate_func,
            default_plot_func=default_plot_func,
            disable_warnings=disable_warnings,
            display_progressbar=display_progressbar,
            **kwargs,
        )
        if _check_real(eps_min, "eps_min") <= 0:
            raise ValueError(f"eps_min must be > 0, got {eps_min}")
        self.eps_min = float(eps_min)
        self._init_robustness(
            nr_samples=nr_samples,
            perturb_func=perturb_func,
            perturb_func_kwargs=perturb_func_kwargs,
            bound_kwargs={"upper_bound": 0.2},
            return_nan_when_prediction_changes=return_nan_when_prediction_changes,
            seed=seed,
            chunk_size=chunk_size,
        )

    def _step_scores(
        self, x: np.ndarray, x_pert: np.ndarray, a: np.ndarray, a_pert: np.ndarray, prepared: Any
    ) -> np.ndarray:
        eps = self.eps_min
        sample_ndim = x.ndim - 1
        # Relative change of the explanation, in float64 (zeros of ``a`` stand in as eps).
        a_safe = np.where(a == 0, eps, a.astype(np.float64))
        rel_a = (a[None] - a_pert) / a_safe[None]
        numerator = _stacked_norm(rel_a, sample_ndim)
        # Relative change of the input, in the inputs' dtype (as Quantus computes it).
        rel_x = x[None] - x_pert
        np.divide(rel_x, np.where(x == 0, eps, x.astype(np.float64))[None], out=rel_x, casting="same_kind")
        denominator = _stacked_norm(rel_x, sample_ndim)
        denominator[denominator == 0] = eps
        return numerator / denominator

    def _reduce(self, scores: np.ndarray) -> np.ndarray:
        return np.max(scores, axis=1)


# Registered under their class names, with Quantus's names as aliases.
for _cls, _aliases in (
    (MaxSensitivity, ("Max-Sensitivity",)),
    (AvgSensitivity, ("Avg-Sensitivity", "Average Sensitivity")),
    (LocalLipschitzEstimate, ("Local Lipschitz Estimate",)),
    (RelativeInputStability, ("Relative Input Stability",)),
):
    METRICS.register(_cls, name=_cls.name, aliases=_aliases)
