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
import torch
from quantus.helpers.enums import DataType, EvaluationCategory, ModelType, ScoreDirection
from torch import nn

from .._safety import model_guard
from .._signatures import parameters_of
from .._validation import check_batch, check_input_layout, check_model
from ._plumbing import MetricCall


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
    #: Constructor arguments that turn Quantus's default output into one score per sample
    #: (e.g. ``FaithfulnessCorrelation``'s ``return_aggregate=False``): applied, under the
    #: user's own, wherever a metric is named for a table (studies, configs, the default suite).
    per_sample_params: ClassVar[dict[str, Any]] = {}
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
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        if model is not None:
            model = check_model(model)  # a Quantus model wrapper is unwrapped
            check_input_layout(model, x.shape, name="x_batch")
        # The call's arguments in their order, the caller's dict copied (Quantus writes to it).
        explain_func_kwargs = dict(explain_func_kwargs or {})
        call = MetricCall(
            model,
            x,
            y,
            a,
            s,
            channel_first,
            explain_func,
            explain_func_kwargs,
            model_predict_kwargs,
            softmax,
            device,
            batch_size,
            custom_batch,
            extra=kwargs,
        )
        # Explaining needs autograd: a caller's torch.inference_mode() is left for the call.
        with torch.inference_mode(False):
            return self._score_call(call)

    def _score_call(self, call: MetricCall) -> Any:
        """Score the checked call. Default: :meth:`_evaluate` with Quantus's keyword names.

        Metrics that run a whole protocol (or a faster direct path) override this and read
        what they need from ``call``; metrics that adjust Quantus's own loop override
        :meth:`_evaluate`. Either way Quantus's call signature and the argument checks exist
        once, in :meth:`__call__`.
        """
        return self._evaluate(**call.quantus_keywords())

    def _evaluate(self, *, model: nn.Module | None, **call: Any) -> Any:
        """The checked call under Quantus's keyword names: Quantus's batched path, the model guarded."""
        if model is None:
            return super().__call__(model=model, **call)
        # Quantus's model wrapper switches the model to eval(); hand it back as it came.
        with model_guard(model, eval_mode=False, freeze=False):
            return super().__call__(model=model, **call)


#: ``abs`` ... ``display_progressbar``: the constructor parameters every metric has, in
#: Quantus's order (for :func:`xai_sanity._signatures.with_parameters`).
COMMON_PARAMETERS = parameters_of(Metric.__init__)
