"""The course of a faithfulness metric's call, shared by :class:`~.road.ROAD` and the Quantus-based metrics.

Explain (unless ``a_batch`` is given) with the model in eval mode and handed back as it came,
score the samples whose maps are finite, score the others NaN and count them (one
``RuntimeWarning`` per problem and call), and record the scores as Quantus does.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from quantus.helpers.enums import DataType, EvaluationCategory

from ..._safety import model_guard
from ..._validation import check_targets_in_range, count_classes
from .._plumbing import MetricCall
from .._problems import NON_FINITE, SampleProblems, finite_samples
from ..base import Metric

__all__ = ["FaithfulnessMetric"]


class FaithfulnessMetric(SampleProblems, Metric):
    """Base of the faithfulness metrics: subclasses score the samples with finite maps.

    Subclasses implement :meth:`_score_samples` and may refuse a call before any work in
    :meth:`_check_call`.
    """

    evaluation_category: ClassVar[EvaluationCategory] = EvaluationCategory.FAITHFULNESS
    data_applicability: ClassVar[set] = {DataType.IMAGE, DataType.TIMESERIES, DataType.TABULAR}
    requires_model: ClassVar[bool] = True
    #: How the warning about samples with finite maps but a NaN score ends ("": no warning).
    undefined: ClassVar[str] = ""

    def _check_call(self, call: MetricCall) -> None:
        """Refuse a call before any work (``ValueError``); by default every call is accepted."""

    def _score_samples(self, call: MetricCall, a: np.ndarray, finite: np.ndarray) -> np.ndarray:
        """Scores ``(N,)`` of the call's samples, NaN where ``finite`` is False.

        ``a`` holds the attributions of ``call.x`` (``a_batch`` or the explanations), ``finite``
        whether each sample's map is finite. Runs with the model in eval mode.
        """
        raise NotImplementedError  # pragma: no cover - abstract

    def _score_call(self, call: MetricCall) -> Any:
        self._check_call(call)
        self.custom_preprocess()
        try:
            # Predictions need eval mode (Quantus's wrapper refuses a model in training mode);
            # the guard hands the model back as it came.
            with model_guard(call.model, eval_mode=True, freeze=False):
                n_classes = count_classes(call.model, call.x[:1])
                if n_classes is not None:  # labels must index the model's outputs (an IndexError later)
                    check_targets_in_range(torch.as_tensor(call.y), n_classes, "y_batch")
                a = np.asarray(call.attributions())
                finite = finite_samples(a)
                scores = np.asarray(self._score_samples(call, a, finite), dtype=np.float64)
            self._note(~finite, NON_FINITE)
            if self.undefined:
                defined = np.isfinite(scores).reshape(len(scores), -1).all(axis=1)
                self._note(finite & ~defined, self.undefined)
        finally:
            self.custom_postprocess()
        result = self._result(scores)
        if self.return_aggregate:
            values = list(result.values()) if isinstance(result, dict) else result
            result = [self.aggregate_func(values)]
        self.evaluation_scores = result
        self.all_evaluation_scores.extend(result)
        return result

    def _result(self, scores: np.ndarray) -> Any:
        """What a call returns, from :meth:`_score_samples`'s array: a float per sample, or a
        list of floats per sample (a curve) where it is ``(N, k)``."""
        return [[float(v) for v in row] if np.ndim(row) else float(row) for row in scores]
