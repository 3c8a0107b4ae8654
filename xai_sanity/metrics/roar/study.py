"""Remove-and-retrain studies: several estimators, the paper's controls, one table."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from torch import nn

from ..._validation import check_positive_int
from .metric import KAR, ROAR

__all__ = ["ROAR_METHODS", "control_estimators", "estimator_study", "run_roar"]

#: The metric class of each ``method=`` of :func:`run_roar`.
ROAR_METHODS = {"ROAR": ROAR, "KAR": KAR}


def control_estimators(seed: int = 0) -> dict[str, Callable]:
    """The controls of Hooker et al. (2019): a random ranking and a Sobel edge filter."""
    from ...explainers.controls import RandomAttribution, SobelEdges

    return {"Random": RandomAttribution(seed=seed), "Sobel": SobelEdges()}


def estimator_study(
    classes: Mapping[str, type[ROAR]], name: str, doc: str, module: str = __name__
) -> Callable[..., pd.DataFrame]:
    """A function that runs ``classes[method]`` once per estimator and stacks the results.

    :func:`run_roar` and :func:`~xai_sanity.metrics.roar.leak_diagnostic` are both made by
    it, so they take the same arguments and run the same loop; ``classes`` maps each
    upper-case ``method=`` to a :class:`ROAR` (or subclass), ``name``/``doc``/``module`` are
    the function's name, docstring and home.
    """

    def study(
        estimators: Mapping[str, Any],
        model: nn.Module,
        x_train: np.ndarray,
        y_train: np.ndarray,
        x_test: np.ndarray,
        y_test: np.ndarray,
        *,
        method: str = "ROAR",
        explain_func_kwargs: dict[str, Any] | None = None,
        batch_size: int = 64,
        **metric_kwargs: Any,
    ) -> pd.DataFrame:
        key = str(method).upper()
        if key not in classes:
            raise ValueError(f"method must be {' or '.join(map(repr, classes))}, got {method!r}")
        metric = classes[key](**metric_kwargs)
        check_positive_int(batch_size, "batch_size")
        if not estimators:
            raise ValueError("estimators must name at least one estimator")
        frames = []
        for label, estimator in estimators.items():
            if callable(estimator):
                call = {"explain_func": estimator, "explain_func_kwargs": explain_func_kwargs}
            elif isinstance(estimator, (tuple, list)) and len(estimator) == 2:
                call = {"a_batch": estimator[0], "a_test": estimator[1]}
            else:
                raise TypeError(f"estimator {label!r} must be an explain function or (a_train, a_test)")
            metric(
                model,
                x_train,
                y_train,
                x_test=x_test,
                y_test=y_test,
                batch_size=batch_size,
                estimator_name=str(label),
                **call,
            )
            frames.append(metric.results_)
        return pd.concat(frames, ignore_index=True)

    study.__name__ = study.__qualname__ = name
    study.__doc__ = doc
    study.__module__ = module
    return study


run_roar = estimator_study(
    ROAR_METHODS,
    "run_roar",
    """Run ROAR (or KAR) for several estimators; return one tidy DataFrame.

Parameters
----------
estimators : dict
    ``{name: explain_func}`` or ``{name: (a_train, a_test)}`` (precomputed
    attributions for the training and the test set). :func:`control_estimators`
    gives the Random and Sobel controls.
model : torch.nn.Module
    The model explained (and whose architecture is retrained).
x_train, y_train, x_test, y_test : numpy.ndarray
method : {"ROAR", "KAR"}
explain_func_kwargs : dict, optional
batch_size : int, default 64
    Chunk size of the explain calls (an integer >= 1, checked before any work).
**metric_kwargs
    Constructor arguments of :class:`ROAR` / :class:`KAR` (thresholds, n_repeats,
    cache_dir, cache_key, ...). Each retrained model is a fresh re-initialisation of
    every layer of ``model`` that has parameters, frozen ones included.

Returns
-------
pandas.DataFrame
    Columns ``estimator, method, threshold, repeat, accuracy, from_cache``.
""",
)
