"""A thin base over ``quantus.Metric`` that supplies Quantus's call defaults once.

Quantus's ``Metric.__call__`` has no defaults on its call arguments, so every Quantus metric
repeats about 25 keyword lines. Our metrics inherit them from :class:`Metric` and keep their
own files about their own parameters. The base also: checks the batch arguments with clear
errors, hands the user's model back untouched (also on error), and records class-level
metadata (``score_direction``, ``evaluation_category``) used by tables and reports.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import quantus
from quantus.helpers.enums import DataType, EvaluationCategory, ModelType, ScoreDirection
from torch import nn

from .._safety import model_guard
from .._validation import check_model


class Metric(quantus.Metric):
    """Base of xai_sanity's metrics: a ``quantus.Metric`` with defaults on every call argument.

    Subclasses set the class attributes below and implement ``evaluate_batch`` (vectorised
    over the batch); they may set ``requires_s_batch = True`` for metrics that need masks.
    """

    name: ClassVar[str] = ""
    data_applicability: ClassVar[set] = {DataType.IMAGE}
    model_applicability: ClassVar[set] = {ModelType.TORCH}
    score_direction: ClassVar[ScoreDirection] = ScoreDirection.HIGHER
    evaluation_category: ClassVar[EvaluationCategory] = EvaluationCategory.NONE
    #: Whether the metric needs ground-truth masks (``s_batch``).
    requires_s_batch: ClassVar[bool] = False
    #: Whether ``xai-sanity demo`` runs it with default parameters on one test batch
    #: (False for protocols that retrain models, such as ROAR).
    in_default_suite: ClassVar[bool] = True
    #: Whether a call needs the model / an explain function even when ``a_batch`` is given.
    requires_model: ClassVar[bool] = False
    requires_explain_func: ClassVar[bool] = False
    #: Whether a call returns one score per sample (or per sample and key). ``False`` for
    #: protocols that score the whole batch, such as ROAR's one accuracy per threshold.
    scores_per_sample: ClassVar[bool] = True
    #: Constructor arguments for the default suite (``xai-sanity demo``, reproductions),
    #: where one number per sample and method is wanted and maps are signed or not.
    suite_params: ClassVar[dict[str, Any]] = {}
    #: Constructor arguments for a cheap run (``xai-sanity demo --quick``, smoke tests),
    #: e.g. fewer perturbation samples; applied by :func:`xai_sanity.demo.default_metrics`.
    quick_params: ClassVar[dict[str, Any]] = {}

    def __init__(
        self,
        abs: bool = False,
        normalise: bool = True,
        normalise_func: Callable[[np.ndarray], np.ndarray] | None = None,
        normalise_func_kwargs: dict[str, Any] | None = None,
        return_aggregate: bool = False,
        aggregate_func: Callable | None = None,
        default_plot_func: Callable | None = None,
        disable_warnings: bool = True,
        display_progressbar: bool = False,
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

    def __call__(
        self,
        model: nn.Module | None,
        x_batch: np.ndarray,
        y_batch: np.ndarray,
        a_batch: np.ndarray | None = None,
        s_batch: np.ndarray | None = None,
        channel_first: bool | None = None,
        explain_func: Callable | None = None,
        explain_func_kwargs: dict[str, Any] | None = None,
        model_predict_kwargs: dict[str, Any] | None = None,
        softmax: bool | None = None,
        device: str | None = None,
        batch_size: int = 64,
        custom_batch: Any = None,
        **kwargs: Any,
    ) -> Any:
        """Score explanations of ``model`` on a batch; Quantus's signature with defaults.

        Either ``a_batch`` (precomputed attributions) or ``explain_func`` must be given.
        Returns a list of per-sample scores (or ``[aggregate]`` with ``return_aggregate``).
        """
        x, y, a, s = check_batch(x_batch, y_batch, a_batch, s_batch, requires_s_batch=self.requires_s_batch)
        if model is None and self.requires_model:
            raise ValueError(f"{type(self).__name__} needs the model")
        if explain_func is None and (a is None or self.requires_explain_func):
            raise ValueError(
                f"{type(self).__name__} needs explain_func"
                if self.requires_explain_func
                else "give either a_batch (precomputed attributions) or explain_func"
            )
        if model is not None:
            check_model(model)
        return self._evaluate(
            model=model,
            x_batch=x,
            y_batch=y,
            a_batch=a,
            s_batch=s,
            channel_first=channel_first,
            explain_func=explain_func,
            # Quantus adds ``device`` to this dict in place: give it a copy of the caller's.
            explain_func_kwargs=dict(explain_func_kwargs or {}),
            model_predict_kwargs=model_predict_kwargs,
            softmax=softmax,
            device=device,
            batch_size=batch_size,
            custom_batch=custom_batch,
            **kwargs,
        )

    def _evaluate(self, *, model: nn.Module | None, **call: Any) -> Any:
        """The checked call. Default: Quantus's batched path, the model guarded.

        Subclasses that run a whole protocol (or a faster direct path) override this, so
        Quantus's call signature and the argument checks exist once, in :meth:`__call__`.
        """
        if model is None:
            return super().__call__(model=model, **call)
        # Quantus's model wrapper switches the model to eval(); hand it back as it came.
        with model_guard(model, eval_mode=False, freeze=False):
            return super().__call__(model=model, **call)


def check_batch(
    x_batch: Any,
    y_batch: Any,
    a_batch: Any = None,
    s_batch: Any = None,
    *,
    requires_s_batch: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Validate a metric's batch arguments; return them as numpy arrays.

    Raises ``ValueError``/``TypeError`` naming the argument: non-finite or wrongly shaped
    inputs, labels of the wrong length, attributions or masks that do not match the inputs,
    masks that are not binary.
    """
    x = _as_array(x_batch, "x_batch")
    if x.ndim < 2 or x.shape[0] == 0:
        raise ValueError(f"x_batch must have shape (N, C, ...) with N > 0, got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("x_batch contains NaN or Inf values")
    y = _as_array(y_batch, "y_batch")
    if y.ndim != 1 or y.shape[0] != x.shape[0]:
        raise ValueError(f"y_batch must have shape ({x.shape[0]},) to match x_batch, got {y.shape}")
    a = None
    if a_batch is not None:
        a = _as_array(a_batch, "a_batch")
        if a.ndim == x.ndim - 1 and a.shape[0] == x.shape[0]:
            a = a[:, None]  # (N, H, W) maps, e.g. from ``.sum(axis=1)``: add the channel axis
        if a.shape[0] != x.shape[0] or a.ndim != x.ndim or not _spatial_match(a.shape, x.shape):
            raise ValueError(f"a_batch of shape {a.shape} does not match x_batch of shape {x.shape}")
        if not np.all(np.isfinite(a)):
            raise ValueError("a_batch contains NaN or Inf values")
    s = None
    if s_batch is not None:
        s = _as_array(s_batch, "s_batch")
        if s.shape[0] != x.shape[0] or s.ndim != x.ndim or not _spatial_match(s.shape, x.shape):
            raise ValueError(
                f"s_batch of shape {s.shape} does not match x_batch of shape {x.shape}; expected "
                f"({x.shape[0]}, 1 or {x.shape[1]}, {', '.join(map(str, x.shape[2:]))})"
            )
        if s.dtype != bool and not np.all((s == 0) | (s == 1)):
            raise ValueError("s_batch must be a binary mask (values 0 and 1 only)")
    elif requires_s_batch:
        raise ValueError("this metric needs ground-truth masks: pass s_batch")
    return x, y, a, s


def _as_array(value: Any, name: str) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    try:
        arr = np.asarray(value)
    except Exception as err:  # pragma: no cover - defensive
        raise TypeError(f"{name} must be array-like") from err
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    return arr


def _spatial_match(shape: tuple[int, ...], x_shape: tuple[int, ...]) -> bool:
    return shape[1] in (1, x_shape[1]) and tuple(shape[2:]) == tuple(x_shape[2:])
