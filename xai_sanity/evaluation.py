"""``xai_sanity.evaluate``: every method's explanations once, every metric on them, one table."""

from __future__ import annotations

import traceback
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from torch import nn
from tqdm.auto import tqdm

from ._safety import preserve_global_rng
from ._validation import check_batch, check_positive_int
from .report.labels import describe_metric

COLUMNS = ["method", "metric", "sample", "score", "error"]


def score_direction(metric: Any) -> str | None:
    """``"higher"``, ``"lower"`` or ``None`` from a metric's ``score_direction`` metadata."""
    direction = getattr(metric, "score_direction", None)
    value = getattr(direction, "value", direction)
    if isinstance(value, str) and value.lower() in ("higher", "lower"):
        return value.lower()
    return None


def _call_metric(
    metric: Callable,
    model: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    a: np.ndarray | None,
    s: np.ndarray | None,
    explain_func: Callable | None,
    explain_func_kwargs: dict[str, Any],
    device: str | None,
    batch_size: int,
    /,
    **overrides: Any,
) -> Any:
    """Call ``metric`` as Quantus calls a metric: the data and settings under Quantus's keyword
    names (``x_batch``, ``a_batch``, ...); ``overrides``, by those names, replace any of them."""
    return metric(
        **{
            "model": model,
            "x_batch": x,
            "y_batch": y,
            "a_batch": a,
            "s_batch": s,
            "explain_func": explain_func,
            "explain_func_kwargs": explain_func_kwargs,
            "device": device,
            "batch_size": batch_size,
            **overrides,
        }
    )


def evaluate(
    model: nn.Module,
    x_batch: np.ndarray,
    y_batch: np.ndarray,
    s_batch: np.ndarray | None = None,
    *,
    methods: Mapping[str, Callable],
    metrics: Mapping[str, Callable],
    a_batches: Mapping[str, np.ndarray] | None = None,
    explain_func_kwargs: dict[str, Any] | None = None,
    device: str | None = None,
    batch_size: int = 64,
    progress: bool = True,
) -> pd.DataFrame:
    """Score every explain method with every metric; one tidy DataFrame.

    Each method explains ``x_batch`` once; each metric (ours or Quantus's, mixed) then gets the
    attributions as ``a_batch`` and the method as ``explain_func`` (for metrics that must
    re-explain, e.g. robustness or randomisation). Explanations already computed can be
    passed in ``a_batches`` (``{method name: array}``). A metric that fails is recorded in the
    ``error`` column and the others still run — unlike ``quantus.evaluate``, which stops.

    Returns
    -------
    pandas.DataFrame with columns ``method, metric, sample, score, error``; ``attrs`` holds
    each metric's better direction (``df.attrs["direction"]``) and header text
    (``df.attrs["label"]``, :func:`xai_sanity.report.describe_metric`). Metrics that return several
    scores per sample (a dict, e.g. one per randomised layer) give one metric row per key,
    named ``"metric[key]"``; metrics that return a curve per sample (e.g. ``PixelFlipping``
    without ``return_auc_per_sample``) one per point, ``"metric[0]"``, ``"metric[1]"``, ...

    Examples
    --------
    >>> import numpy as np, torch, quantus, xai_sanity as xs
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 4 * 4, 3))
    >>> x = np.random.default_rng(0).random((4, 3, 4, 4), dtype=np.float32)
    >>> df = evaluate(model, x, np.array([0, 1, 2, 0]), methods={"Saliency": xs.Saliency()},
    ...               metrics={"Sparseness": quantus.Sparseness(disable_warnings=True)},
    ...               progress=False)
    >>> sorted(df.columns), len(df)
    (['error', 'method', 'metric', 'sample', 'score'], 4)
    """
    x, y, _, s = check_batch(x_batch, y_batch, None, s_batch)
    batch_size = check_positive_int(batch_size, "batch_size")
    if not methods:
        raise ValueError("methods is empty: give {name: explain_func}")
    if not metrics:
        raise ValueError("metrics is empty: give {name: metric}")
    unknown = sorted(set(a_batches or {}) - set(methods))
    if unknown:
        raise ValueError(f"a_batches names no method: {unknown}; the methods are {sorted(methods)}")
    kwargs = dict(explain_func_kwargs or {})
    rows: list[dict[str, Any]] = []
    bar = tqdm(total=len(methods) * len(metrics), desc="evaluate", disable=not progress)
    for method_name, explain_func in methods.items():
        try:
            if a_batches is not None and method_name in a_batches:
                a_batch = np.asarray(a_batches[method_name], dtype=np.float32)
            else:
                with preserve_global_rng():  # a Quantus-style function may draw from it
                    a_batch = np.asarray(explain_func(model, x, y, **kwargs), dtype=np.float32)
        except Exception as err:
            for metric_name in metrics:
                rows.append(_error_row(method_name, metric_name, "explain", err))
                bar.update(1)
            continue
        for metric_name, metric in metrics.items():
            bar.set_postfix_str(f"{method_name} / {metric_name}")
            try:
                # Quantus's metrics draw from NumPy's global generator: handed back as it came.
                with warnings.catch_warnings(), preserve_global_rng():
                    warnings.simplefilter("ignore", category=DeprecationWarning)
                    scores = _call_metric(
                        metric, model, x, y, a_batch, s, explain_func, kwargs, device, batch_size
                    )
                rows.extend(_score_rows(method_name, metric_name, scores))
                _warn_if_aggregated(metric, metric_name, scores, len(x))
            except Exception as err:
                rows.append(_error_row(method_name, metric_name, "metric", err))
            bar.update(1)
    bar.close()
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame.attrs["direction"] = {name: score_direction(m) for name, m in metrics.items()}
    frame.attrs["label"] = {name: describe_metric(m, name) for name, m in metrics.items()}
    return frame


def _warn_if_aggregated(metric: Any, name: str, scores: Any, n: int) -> None:
    """Warn when a per-sample metric returned one number for the whole batch (e.g. Quantus's
    ``return_aggregate=True``): a table would read it as the score of one sample."""
    if n < 2 or isinstance(scores, Mapping) or not getattr(metric, "scores_per_sample", True):
        return
    if np.size(np.asarray(scores, dtype=object)) == 1:
        warnings.warn(
            f"metric {name!r} returned one number for {n} samples (return_aggregate=True?); it is "
            "recorded as sample 0, so a table reads it as one sample. Pass return_aggregate=False "
            "for one score per sample",
            UserWarning,
            stacklevel=3,
        )


def _score_rows(method: str, metric: str, scores: Any) -> list[dict[str, Any]]:
    if isinstance(scores, Mapping):
        rows = []
        for key, value in scores.items():
            rows.extend(_score_rows(method, f"{metric}[{key}]", value))
        return rows
    values = np.asarray(scores, dtype=np.float64)
    if values.ndim == 2:  # a curve per sample (e.g. PixelFlipping): one metric row per point
        return [
            row for j in range(values.shape[1]) for row in _score_rows(method, f"{metric}[{j}]", values[:, j])
        ]
    values = values.reshape(-1)
    return [
        {"method": method, "metric": metric, "sample": i, "score": float(v), "error": None}
        for i, v in enumerate(values)
    ]


def _error_row(method: str, metric: str, stage: str, err: Exception) -> dict[str, Any]:
    where = traceback.extract_tb(err.__traceback__)[-1] if err.__traceback__ else None
    location = f" ({where.filename.rsplit('/', 1)[-1]}:{where.lineno})" if where else ""
    return {
        "method": method,
        "metric": metric,
        "sample": -1,
        "score": np.nan,
        "error": f"{stage}: {type(err).__name__}: {err}{location}",
    }
