"""Localisation metrics: does an explanation put its relevance on the ground-truth region?

Each metric compares an attribution map with a binary mask ``s_batch`` (1 = the object or
region that should explain the prediction) and is a drop-in replacement for the Quantus
metric of the same name, with the same constructor parameters and defaults. The scores are
computed for a whole batch at once with numpy (no loop over samples) and agree with
Quantus 0.6 to within 1e-6, except where Quantus is wrong; each class documents its
differences under "Differences from Quantus".

Common conventions:

* Attributions are preprocessed exactly as Quantus does it (Quantus's own
  ``general_preprocess``): a missing channel axis is added, then ``normalise_func``
  (default ``quantus.normalise_func.normalise_by_max``) is applied if ``normalise``, then
  the absolute value is taken if ``abs``.
* A mask may have one channel (``(N, 1, ...)``, the usual case) or as many as the inputs.
  With one-channel attributions, a many-channel mask must repeat the same mask in every
  channel; with many-channel attributions, a one-channel mask applies to every channel
  and each (channel, position) pair is a feature.
* A score that is undefined for a sample (for example an empty mask) is NaN, and each
  call emits one ``RuntimeWarning`` per kind of problem that names how many samples are
  affected. These warnings are emitted whatever ``disable_warnings`` says, because they
  explain NaNs in the result; silence them with :mod:`warnings` filters if needed.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
from quantus.helpers.enums import EvaluationCategory, ScoreDirection
from scipy.stats import rankdata

from .base import Metric

__all__ = [
    "AUC",
    "AttributionLocalisation",
    "PointingGame",
    "RelevanceMassAccuracy",
    "RelevanceRankAccuracy",
    "TopKIntersection",
]

_INTERNAL = frozenset({"xai_sanity", "quantus"})
_EMPTY = "have an empty mask (no foreground); their scores are NaN"


class _LocalisationMetric(Metric):
    """Shared plumbing: mask handling and one aggregated warning per problem and call."""

    evaluation_category: ClassVar[EvaluationCategory] = EvaluationCategory.LOCALISATION
    score_direction: ClassVar[ScoreDirection] = ScoreDirection.HIGHER
    requires_s_batch: ClassVar[bool] = True
    # In the default suite, localisation is scored on |a|: for signed maps (Gradient, IG)
    # relevance mass inside the mask is otherwise ill-posed (Quantus's default is abs=False).
    suite_params: ClassVar[dict[str, Any]] = {"abs": True}
    #: Problems seen during the running ``__call__``: message -> [affected, seen]. ``None``
    #: outside a call, where ``evaluate_batch`` warns at once.
    _pending: dict[str, list[int]] | None = None

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

    # Quantus calls custom_preprocess once before the batches and custom_postprocess once
    # after them: collect the problems of every batch in between and warn once per call.
    def custom_preprocess(self, **kwargs: Any) -> None:
        self._pending = {}
        return None

    def custom_postprocess(self, **kwargs: Any) -> None:
        pending = self.__dict__.pop("_pending", None) or {}
        for message, (affected, seen) in pending.items():
            self._warn(message, affected, seen)

    def _note(self, mask: np.ndarray, message: str) -> None:
        """Record that the samples flagged in ``mask`` have the problem ``message``."""
        affected, seen = int(np.count_nonzero(mask)), int(mask.shape[0])
        pending = self.__dict__.get("_pending")
        if pending is None:  # evaluate_batch called directly
            if affected:
                self._warn(message, affected, seen)
            return
        counts = pending.setdefault(message, [0, 0])
        counts[0] += affected
        counts[1] += seen

    def _warn(self, message: str, affected: int, seen: int) -> None:
        if affected:
            message = f"{type(self).__name__}: {affected} of {seen} samples {message}"
            warnings.warn(message, RuntimeWarning, stacklevel=_caller_stacklevel())

    def _nan_where(self, scores: np.ndarray, mask: np.ndarray, message: str) -> np.ndarray:
        self._note(mask, message)
        scores[mask] = np.nan
        return scores


def _caller_stacklevel() -> int:
    """The ``stacklevel`` that points a warning at the first frame outside xai_sanity/quantus."""
    frame, level = sys._getframe(1), 1  # the frame that calls warnings.warn
    while frame is not None and frame.f_globals.get("__name__", "").partition(".")[0] in _INTERNAL:
        frame, level = frame.f_back, level + 1
    return level


def _flatten(a_batch: np.ndarray, s_batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Attributions and masks as ``(N, F)`` arrays over the same F features (masks bool)."""
    a = np.asarray(a_batch)
    s = np.asarray(s_batch)
    if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.signedinteger)):
        a = a.astype(np.float64)  # bool and unsigned maps cannot be negated for ranking
    if a.ndim != s.ndim or a.shape[0] != s.shape[0] or a.shape[2:] != s.shape[2:]:
        raise ValueError(f"s_batch of shape {s.shape} does not match the attributions' shape {a.shape}")
    if s.shape[1] != a.shape[1]:
        if a.shape[1] == 1:
            if not np.array_equal(s, np.broadcast_to(s[:, :1], s.shape)):
                raise ValueError(
                    f"s_batch has {s.shape[1]} channels that differ while the attributions have one "
                    "channel; pass one mask per sample, of shape (N, 1, ...)"
                )
            s = s[:, :1]
        elif s.shape[1] == 1:
            s = np.broadcast_to(s, a.shape)
        else:
            raise ValueError(f"s_batch of shape {s.shape} does not match the attributions' shape {a.shape}")
    n = a.shape[0]
    return a.reshape(n, -1), s.reshape(n, -1).astype(bool)


def _check_bool(value: Any, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {value!r}")
    return bool(value)


class PointingGame(_LocalisationMetric):
    """Pointing Game: is the most relevant feature inside the ground-truth mask?

    For each sample the score is 1 if the attribution's maximum lies inside the mask and 0
    otherwise (Zhang et al., 2018). The mean over a data set is the pointing accuracy.

    Reference: J. Zhang, S. A. Bargal, Z. Lin, J. Brandt, X. Shen and S. Sclaroff,
    "Top-down neural attention by excitation backprop", International Journal of Computer
    Vision 126(10):1084-1102, 2018.

    Parameters
    ----------
    weighted : bool
        If True, a hit scores ``1 - |mask| / |features|`` instead of 1 (a hit on a small
        object is worth more than one on an object that covers the image); a miss scores 0.
        This variant is Quantus's, not the paper's.
    abs, normalise, normalise_func, normalise_func_kwargs, return_aggregate,
    aggregate_func, default_plot_func, disable_warnings, display_progressbar
        As in :class:`xai_sanity.metrics.Metric` (Quantus defaults: ``abs=False``,
        ``normalise=True``).

    Ties: as in Quantus, every feature that equals the maximum counts as a maximum, so a
    sample scores a hit if *any* of its tied maxima is inside the mask (for an all-zero
    map that means any non-empty mask). The paper's 15-pixel tolerance is not applied.

    Differences from Quantus: an empty mask gives NaN and a ``RuntimeWarning`` (Quantus
    writes NaN into a boolean array and so returns True, a hit). Scores are floats (Quantus
    returns booleans). ``weighted=True`` works (in Quantus 0.6 it raises a ``TypeError``,
    and its booleans could not hold the weights anyway).

    Examples
    --------
    >>> import numpy as np
    >>> a = np.zeros((2, 1, 4, 4), np.float32)
    >>> a[0, 0, 1, 1] = 1.0  # peak inside the mask
    >>> a[1, 0, 3, 3] = 1.0  # peak outside it
    >>> s = np.zeros((2, 1, 4, 4), np.float32)
    >>> s[:, :, :2, :2] = 1
    >>> scores = PointingGame()(model=None, x_batch=np.zeros((2, 3, 4, 4), np.float32),
    ...                         y_batch=np.array([0, 1]), a_batch=a, s_batch=s)
    >>> np.asarray(scores)
    array([1., 0.])
    """

    name = "PointingGame"

    def __init__(
        self,
        weighted: bool = False,
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
        self.weighted = _check_bool(weighted, "weighted")

    def evaluate_batch(self, *, a_batch: np.ndarray, s_batch: np.ndarray, **kwargs: Any) -> np.ndarray:
        """Scores for a batch of preprocessed attributions and masks, shape ``(N,)``."""
        a, s = _flatten(a_batch, s_batch)
        inside = s.sum(axis=1)
        peak = a == a.max(axis=1, keepdims=True)
        scores = np.any(peak & s, axis=1).astype(np.float64)
        if self.weighted:
            scores *= 1.0 - inside / s.shape[1]
        return self._nan_where(scores, inside == 0, _EMPTY)


class AttributionLocalisation(_LocalisationMetric):
    """Attribution Localisation: the share of the total attribution that falls in the mask.

    The score is the inside-total relevance ratio ``R_in / R_tot`` of Kohlbrenner et al.
    (2020): the sum of the attributions inside the mask over the sum of all attributions.
    It is meant for non-negative attributions (hence the default ``abs=True``); 1 means
    that all relevance is on the object.

    Reference: M. Kohlbrenner, A. Bauer, S. Nakajima, A. Binder, W. Samek and
    S. Lapuschkin, "Towards best practice in explaining neural network decisions with
    LRP", International Joint Conference on Neural Networks (IJCNN), pp. 1-7, 2020
    (arXiv:1910.09840).

    Parameters
    ----------
    weighted : bool
        If True, the ratio is multiplied by the mask's relative size
        ``|mask| / |features|`` (Quantus's convention, kept for parity).
    max_size : float
        A warning is emitted for samples whose mask covers more than this fraction of the
        features (the paper restricts the evaluation to objects that are not too large);
        their scores are still returned. Default 1.0 (never).
    positive_attributions : bool
        If True, negative attributions are set to 0 before the ratio is taken.
    abs, normalise, normalise_func, normalise_func_kwargs, return_aggregate,
    aggregate_func, default_plot_func, disable_warnings, display_progressbar
        As in :class:`xai_sanity.metrics.Metric` (Quantus defaults: ``abs=True``,
        ``normalise=True``).

    Kept for parity with Quantus: the denominator is ``R_tot + 1e-9`` (so an all-zero map
    scores 0); with signed attributions a ratio above 1 is reported as NaN with a
    warning, while a negative ratio is returned as it is.

    Differences from Quantus: Quantus measures the image size as ``x_batch[2:].size``,
    which slices the *batch* axis, so its ``weighted`` scores and its ``max_size``
    warnings depend on how many samples are in the chunk (for a chunk of one or two
    samples the size is 0, the ratio infinite and the warning always raised). Here the
    size is the number of features of one sample, so ``weighted`` scores differ from
    Quantus's; unweighted scores agree. Empty masks give NaN with one warning per call
    (Quantus: NaN without a warning).

    Examples
    --------
    >>> import numpy as np
    >>> a = np.zeros((1, 1, 4, 4), np.float32)
    >>> a[0, 0, 0, 0], a[0, 0, 3, 3] = 3.0, 1.0
    >>> s = np.zeros((1, 1, 4, 4), np.float32)
    >>> s[:, :, :2, :2] = 1
    >>> scores = AttributionLocalisation()(model=None, x_batch=np.zeros((1, 3, 4, 4), np.float32),
    ...                                    y_batch=np.array([0]), a_batch=a, s_batch=s)
    >>> np.round(scores, 3)
    array([0.75])
    """

    name = "AttributionLocalisation"

    def __init__(
        self,
        weighted: bool = False,
        max_size: float = 1.0,
        positive_attributions: bool = False,
        abs: bool = True,
        normalise: bool = True,
        normalise_func: Callable[[np.ndarray], np.ndarray] | None = None,
        normalise_func_kwargs: dict[str, Any] | None = None,
        return_aggregate: bool = False,
        aggregate_func: Callable | None = None,
        default_plot_func: Callable | None = None,
        display_progressbar: bool = False,
        disable_warnings: bool = True,
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
        self.weighted = _check_bool(weighted, "weighted")
        self.positive_attributions = _check_bool(positive_attributions, "positive_attributions")
        if (
            isinstance(max_size, bool)
            or not isinstance(max_size, (int, float, np.number))
            or not max_size > 0
        ):
            raise ValueError(f"max_size must be a number > 0, got {max_size!r}")
        self.max_size = float(max_size)

    def evaluate_batch(self, *, a_batch: np.ndarray, s_batch: np.ndarray, **kwargs: Any) -> np.ndarray:
        """Scores for a batch of preprocessed attributions and masks, shape ``(N,)``."""
        a, s = _flatten(a_batch, s_batch)
        if self.positive_attributions:
            a = np.clip(a, 0, None)
        inside_count = s.sum(axis=1)
        size_ratio = inside_count / s.shape[1]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = ((a * s).sum(axis=1) / (a.sum(axis=1) + 1e-9)).astype(np.float64)
        empty = inside_count == 0
        self._note(size_ratio > self.max_size, f"have a mask larger than max_size={self.max_size:g}")
        self._nan_where(
            ratio,
            ~empty & (ratio > 1),
            "have more attribution inside the mask than in total; their scores are NaN",
        )
        if self.weighted:
            ratio *= size_ratio
        return self._nan_where(ratio, empty, _EMPTY)


class TopKIntersection(_LocalisationMetric):
    """Top-K Intersection: the fraction of the k most relevant features inside the mask.

    The score is ``|top_k ∩ mask| / k`` where ``top_k`` are the k features with the largest
    attributions (Theiner et al., 2022). With ``concept_influence`` it is divided by the
    mask's relative size ``|mask| / |features|``, so that a random ranking scores about 1.

    Reference: J. Theiner, E. Müller-Budack and R. Ewerth, "Interpretable semantic photo
    geolocation", IEEE/CVF Winter Conference on Applications of Computer Vision (WACV),
    pp. 750-760, 2022 (arXiv:2104.14995).

    Parameters
    ----------
    k : int
        How many top features to take; at most the number of features per sample.
        Default 1000 (as in Quantus; too many for images smaller than 32 x 32).
    concept_influence : bool
        Whether to divide by the mask's relative size.
    abs, normalise, normalise_func, normalise_func_kwargs, return_aggregate,
    aggregate_func, default_plot_func, disable_warnings, display_progressbar
        As in :class:`xai_sanity.metrics.Metric` (Quantus defaults: ``abs=False``,
        ``normalise=True``).

    Ties: features are ordered as Quantus orders them, with numpy's default (unstable)
    ``argsort`` of the negated map, so where tied values straddle the k-th place the same
    features are chosen as in Quantus.

    Differences from Quantus: ``k`` equal to the number of features is accepted (Quantus
    requires ``k`` to be strictly smaller); an empty mask gives NaN with one warning
    (Quantus: NaN, and a numpy division warning with ``concept_influence``).

    Examples
    --------
    >>> import numpy as np
    >>> a = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)  # largest in the last row
    >>> s = np.zeros((1, 1, 4, 4), np.float32)
    >>> s[:, :, 3, :2] = 1
    >>> scores = TopKIntersection(k=4)(model=None, x_batch=np.zeros((1, 3, 4, 4), np.float32),
    ...                                y_batch=np.array([0]), a_batch=a, s_batch=s)
    >>> np.asarray(scores)
    array([0.5])
    """

    name = "TopKIntersection"

    def __init__(
        self,
        k: int = 1000,
        concept_influence: bool = False,
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
        if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k must be a positive int, got {k!r}")
        self.k = int(k)
        self.concept_influence = _check_bool(concept_influence, "concept_influence")

    def evaluate_batch(self, *, a_batch: np.ndarray, s_batch: np.ndarray, **kwargs: Any) -> np.ndarray:
        """Scores for a batch of preprocessed attributions and masks, shape ``(N,)``."""
        a, s = _flatten(a_batch, s_batch)
        n_features = a.shape[1]
        if self.k > n_features:
            raise ValueError(f"k={self.k} is larger than the number of features per sample ({n_features})")
        top = np.argsort(-a, axis=1)[:, : self.k]
        scores = np.take_along_axis(s, top, axis=1).mean(axis=1)
        inside = s.sum(axis=1)
        if self.concept_influence:
            with np.errstate(divide="ignore", invalid="ignore"):
                scores *= n_features / inside
        return self._nan_where(scores, inside == 0, _EMPTY)


class RelevanceRankAccuracy(_LocalisationMetric):
    """Relevance Rank Accuracy: how many of the |mask| top-ranked features are in the mask.

    With ``K = |mask|``, the score is ``|top_K ∩ mask| / K`` (Arras et al., 2022): 1 when the
    K most relevant features are exactly the mask.

    Reference: L. Arras, A. Osman and W. Samek, "CLEVR-XAI: A benchmark dataset for the
    ground truth evaluation of neural network explanations", Information Fusion
    81:14-40, 2022 (arXiv:2003.07258).

    Parameters
    ----------
    abs, normalise, normalise_func, normalise_func_kwargs, return_aggregate,
    aggregate_func, default_plot_func, disable_warnings, display_progressbar
        As in :class:`xai_sanity.metrics.Metric` (Quantus defaults: ``abs=False``,
        ``normalise=True``).

    Ties: features are ranked as in Quantus, by numpy's default (unstable) ``argsort`` of
    the negated map, so ties across the K-th place are broken the same way.

    Differences from Quantus: an empty mask gives NaN with one warning per call (Quantus:
    NaN with a numpy division warning and its own warning once per chunk).

    Examples
    --------
    >>> import numpy as np
    >>> a = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    >>> s = np.zeros((1, 1, 4, 4), np.float32)
    >>> s[0, 0, 3, 2:] = 1  # the two largest values: 14 and 15
    >>> s[0, 0, 0, 0] = 1  # and the smallest
    >>> scores = RelevanceRankAccuracy()(model=None, x_batch=np.zeros((1, 3, 4, 4), np.float32),
    ...                                  y_batch=np.array([0]), a_batch=a, s_batch=s)
    >>> np.round(scores, 3)
    array([0.667])
    """

    name = "RelevanceRankAccuracy"

    def evaluate_batch(self, *, a_batch: np.ndarray, s_batch: np.ndarray, **kwargs: Any) -> np.ndarray:
        """Scores for a batch of preprocessed attributions and masks, shape ``(N,)``."""
        a, s = _flatten(a_batch, s_batch)
        inside = s.sum(axis=1)
        ranked = np.take_along_axis(s, np.argsort(-a, axis=1), axis=1)
        in_top = np.arange(a.shape[1])[None, :] < inside[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            scores = (ranked & in_top).sum(axis=1) / inside
        return self._nan_where(scores.astype(np.float64), inside == 0, _EMPTY)


class RelevanceMassAccuracy(_LocalisationMetric):
    """Relevance Mass Accuracy: the attribution inside the mask over the total attribution.

    The score is ``R_within / R_total`` (Arras et al., 2022); for non-negative attributions
    it lies in [0, 1], 1 meaning that all relevance is on the ground truth. With signed
    attributions (the default ``abs=False``) it can leave that range, as in Quantus.

    Reference: L. Arras, A. Osman and W. Samek, "CLEVR-XAI: A benchmark dataset for the
    ground truth evaluation of neural network explanations", Information Fusion
    81:14-40, 2022 (arXiv:2003.07258).

    Parameters
    ----------
    abs, normalise, normalise_func, normalise_func_kwargs, return_aggregate,
    aggregate_func, default_plot_func, disable_warnings, display_progressbar
        As in :class:`xai_sanity.metrics.Metric` (Quantus defaults: ``abs=False``,
        ``normalise=True``).

    Differences from Quantus: an empty mask gives NaN with one warning per call; a sample
    whose attributions sum to exactly 0 gives NaN with a warning (Quantus returns NaN or
    ±inf there, with a numpy division warning).

    Examples
    --------
    >>> import numpy as np
    >>> a = np.zeros((1, 1, 4, 4), np.float32)
    >>> a[0, 0, 0, 0], a[0, 0, 3, 3] = 1.0, 3.0
    >>> s = np.zeros((1, 1, 4, 4), np.float32)
    >>> s[:, :, :2, :2] = 1
    >>> scores = RelevanceMassAccuracy()(model=None, x_batch=np.zeros((1, 3, 4, 4), np.float32),
    ...                                  y_batch=np.array([0]), a_batch=a, s_batch=s)
    >>> np.round(scores, 3)
    array([0.25])
    """

    name = "RelevanceMassAccuracy"

    def evaluate_batch(self, *, a_batch: np.ndarray, s_batch: np.ndarray, **kwargs: Any) -> np.ndarray:
        """Scores for a batch of preprocessed attributions and masks, shape ``(N,)``."""
        a, s = _flatten(a_batch, s_batch)
        total = a.sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            scores = ((a * s).sum(axis=1) / total).astype(np.float64)
        empty = s.sum(axis=1) == 0
        self._nan_where(
            scores, ~empty & (total == 0), "have attributions that sum to 0; their scores are NaN"
        )
        return self._nan_where(scores, empty, _EMPTY)


class AUC(_LocalisationMetric):
    """AUC: the area under the ROC curve of the attributions as a detector of the mask.

    Each feature's attribution is a score for "this feature is in the mask"; the AUC is
    the probability that a random feature inside the mask has a larger attribution than a
    random one outside it, ties counting one half (Fawcett, 2006). 0.5 is chance level.
    It is computed for the whole batch from average ranks with the Mann-Whitney identity
    ``AUC = (sum of the ranks inside - P (P + 1) / 2) / (P Q)`` for P features inside and
    Q outside, which equals scikit-learn's ``roc_auc_score`` (what Quantus uses).

    References: T. Fawcett, "An introduction to ROC analysis", Pattern Recognition Letters
    27(8):861-874, 2006; J. A. Hanley and B. J. McNeil, "The meaning and use of the area
    under a receiver operating characteristic (ROC) curve", Radiology 143(1):29-36, 1982.

    Parameters
    ----------
    abs, normalise, normalise_func, normalise_func_kwargs, return_aggregate,
    aggregate_func, default_plot_func, disable_warnings, display_progressbar
        As in :class:`xai_sanity.metrics.Metric` (Quantus defaults: ``abs=False``,
        ``normalise=True``).

    Differences from Quantus: none in the numbers. An empty mask or a mask that covers
    every feature (no negatives) makes the AUC undefined: both give NaN, as in Quantus,
    but with one ``RuntimeWarning`` per call instead of scikit-learn's warnings per sample.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    >>> s = np.zeros((1, 1, 4, 4), np.float32)
    >>> s[0, 0, 3, :] = 1  # the four largest values
    >>> scores = AUC()(model=None, x_batch=np.zeros((1, 3, 4, 4), np.float32),
    ...                y_batch=np.array([0]), a_batch=a, s_batch=s)
    >>> np.asarray(scores)
    array([1.])
    """

    name = "AUC"

    def evaluate_batch(self, *, a_batch: np.ndarray, s_batch: np.ndarray, **kwargs: Any) -> np.ndarray:
        """Scores for a batch of preprocessed attributions and masks, shape ``(N,)``."""
        a, s = _flatten(a_batch, s_batch)
        positives = s.sum(axis=1)
        negatives = s.shape[1] - positives
        ranks = rankdata(a, axis=1)  # average ranks for ties, 1-based
        rank_sum = np.where(s, ranks, 0.0).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            scores = (rank_sum - positives * (positives + 1) / 2.0) / (positives * negatives)
        scores = self._nan_where(scores, positives == 0, _EMPTY)
        return self._nan_where(
            scores,
            negatives == 0,
            "have a mask that covers every feature (no negatives, AUC undefined); their scores are NaN",
        )
