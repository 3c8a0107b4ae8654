"""What a ROAR/KAR call refuses before any work, and where it finds its test set.

Everything that would fail midway through a study (hours of retraining in), or cache numbers
that mean nothing, is refused here, before the first model is trained: settings of the wrong
type or range (:func:`check_settings`), a test set that is missing or does not fit the
training set (:func:`resolve_test_set`), labels the model has no class for, a model the batched
recipe cannot train, an unusable ``cache_dir`` and a trainer the cache cannot tell apart from
others (:func:`check_call`).
"""

from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from ..._validation import as_target_tensor, check_batch, check_positive_int, check_targets_in_range
from .._plumbing import MetricCall
from ..imputation import check_imputation, check_layout
from .cache import CellCache
from .cells import BATCHED_TRAIN_KWARGS, check_batchable, count_classes
from .fingerprints import trainer_fingerprint
from .removal import check_fractions

if TYPE_CHECKING:  # pragma: no cover
    from .metric import ROAR

__all__ = ["check_call", "check_settings", "estimator_name", "resolve_test_set"]


def check_settings(metric: ROAR) -> tuple[float, ...]:
    """Check the constructor arguments of ``metric``; return its thresholds, checked and sorted."""
    thresholds = check_fractions(metric.thresholds, name="thresholds")
    check_imputation(metric.imputation)
    check_positive_int(metric.n_repeats, "n_repeats")
    check_positive_int(metric.seed, "seed", minimum=0)
    if metric.train_func is not None and not callable(metric.train_func):
        raise TypeError("train_func must be callable")
    if metric.train_kwargs is not None and not isinstance(metric.train_kwargs, Mapping):
        raise TypeError("train_kwargs must be a dict")
    if metric.executor is not None and not isinstance(metric.executor, cf.Executor):
        raise TypeError("executor must be a concurrent.futures.Executor")
    if metric.cache_key is not None and not (isinstance(metric.cache_key, str) and metric.cache_key):
        raise TypeError(f"cache_key must be a non-empty string or None, got {metric.cache_key!r}")
    if metric.batched and metric.train_func is not None:
        raise ValueError("batched=True trains with the built-in recipe; it cannot use train_func")
    unknown = sorted(set(metric.train_kwargs or {}) - BATCHED_TRAIN_KWARGS)
    if metric.batched and unknown:
        raise ValueError(f"batched=True supports train_kwargs {sorted(BATCHED_TRAIN_KWARGS)}, got {unknown}")
    if metric.batch_cells is not None:
        check_positive_int(metric.batch_cells, "batch_cells")
    return thresholds


def resolve_test_set(
    call: MetricCall, test_data: tuple[np.ndarray, ...] | None, method: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``(x_test, y_test, a_test)`` of a call, checked against its training set ``call.x``.

    From ``custom_batch=(x_test, y_test[, a_test])``, else the ``x_test=``, ``y_test=``,
    ``a_test=`` keywords, else the metric's ``test_data``; ``a_test`` may be None.
    """
    custom_batch = call.custom_batch
    x_test, y_test, a_test = (call.extra.get(name) for name in ("x_test", "y_test", "a_test"))
    if custom_batch is None and x_test is None and test_data is not None:
        custom_batch = test_data
    if custom_batch is not None:
        if (
            x_test is not None
            or not isinstance(custom_batch, (tuple, list))
            or len(custom_batch) not in (2, 3)
        ):
            raise ValueError("custom_batch must be (x_test, y_test) or (x_test, y_test, a_test)")
        x_test, y_test = custom_batch[0], custom_batch[1]
        a_test = custom_batch[2] if len(custom_batch) == 3 else a_test
    if x_test is None or y_test is None:
        raise ValueError(
            f"{method} needs a test set: custom_batch=(x_test, y_test), x_test=, y_test= "
            "or test_data= at construction"
        )
    x_test, y_test, a_test, _ = check_batch(x_test, y_test, a_test, y_name="y_test")
    if x_test.shape[1:] != call.x.shape[1:]:
        raise ValueError(f"x_test images {x_test.shape[1:]} differ from x_batch images {call.x.shape[1:]}")
    return x_test, y_test, a_test


def estimator_name(explain_func: Callable | None) -> str:
    """The name of the estimator in the results: the explain function's, or ``"a_batch"``."""
    if explain_func is None:
        return "a_batch"
    return getattr(explain_func, "name", None) or getattr(
        explain_func, "__name__", type(explain_func).__name__
    )


def check_call(
    metric: ROAR,
    model: nn.Module,
    x_train: np.ndarray,
    y_train: np.ndarray,
    y_test: np.ndarray,
    trainer: tuple[Callable, dict[str, Any]],
) -> CellCache:
    """Refuse, before any work, what would fail midway or cache meaningless numbers.

    Labels outside the model's classes (a test accuracy of 0 when no estimator runs the
    model), a model the batched recipe cannot train, a ``cache_dir`` that cannot be used, a
    trainer (``(train_func, train_kwargs)``) the cache cannot tell apart from others.
    Returns the ready cache.
    """
    try:
        check_layout(x_train.shape, metric.imputation)
    except ValueError as err:
        raise ValueError(f"imputation={metric.imputation!r}: {err}") from err
    n_classes = count_classes(model, x_train[:1])
    for name, y in (("y_batch", y_train), ("y_test", y_test)):
        labels = as_target_tensor(y, len(y), torch.device("cpu"), name=name)
        if n_classes is not None:
            check_targets_in_range(labels, n_classes, name=name)
    if metric.batched and metric.retrain:
        check_batchable(model)
    if metric.cache_dir is not None and metric.retrain and metric.cache_key is None:
        trainer_fingerprint(*trainer)
    return CellCache(metric.cache_dir).prepare()
