"""How a metric calls a similarity function: our batched contract or Quantus's.

Two contracts meet here:

* **ours** — ``f(a, b) -> (N,)`` on whole batches ``(N, ...)``: every function registered in
  :data:`xai_sanity.SIMILARITIES`, and any function marked with :func:`batched`;
* **Quantus's** — everything else, called exactly as Quantus 0.6's randomisation metrics
  call it: a function that takes a ``batched`` keyword (``correlation_spearman``,
  ``correlation_pearson``, ``correlation_kendall_tau``, ``ssim``) gets the maps flattened to
  ``(N, features)`` and ``batched=True``; one that does not (``distance_euclidean``,
  ``cosine``, ``abs_difference``, ...) is called once per sample on the flattened 1-D maps,
  where Quantus's batched call would compare the whole batch at once.

The choice is made from the function's registration, marker or signature — never by
trying a call and catching the error.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["batched", "is_batched", "similarity_scores"]


def batched(func: Callable) -> Callable:
    """Mark ``func`` as following our batched contract (``(N, ...)`` pairs → ``(N,)`` scores).

    Examples
    --------
    >>> @batched
    ... def negative_mse(a, b):
    ...     return -((a - b) ** 2).reshape(len(a), -1).mean(1)
    >>> is_batched(negative_mse)
    True
    """
    func.batched = True
    return func


def is_batched(func: Callable) -> bool:
    """Whether ``func`` takes whole batches: registered in SIMILARITIES or marked."""
    from ..registry import SIMILARITIES

    if getattr(func, "batched", False) is True:
        return True
    return any(SIMILARITIES[name] is func for name in SIMILARITIES)


def _takes_batched_keyword(func: Callable) -> bool:
    try:
        return "batched" in inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False


def similarity_scores(func: Callable, a: Any, b: Any) -> np.ndarray:
    """Per-sample similarity of two batches of maps, ``(N,)`` float64, by ``func``'s contract."""
    if is_batched(func):
        scores = func(a, b)
    else:
        a = np.asarray(a.detach().cpu() if hasattr(a, "detach") else a)
        b = np.asarray(b.detach().cpu() if hasattr(b, "detach") else b)
        flat_a, flat_b = a.reshape(len(a), -1), b.reshape(len(b), -1)
        if _takes_batched_keyword(func):
            scores = func(flat_a, flat_b, batched=True)
        else:
            scores = [func(flat_a[i], flat_b[i]) for i in range(len(flat_a))]
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if scores.shape[0] != len(a):
        raise ValueError(
            f"similarity_func returned {scores.shape[0]} scores for {len(a)} samples; it must return "
            "one score per sample pair (quantus.similarity_func.difference, for one, returns a map), "
            "and a function that compares whole batches must be registered "
            "(xai_sanity.register(kind='similarity')) or marked with xai_sanity.similarity.batched"
        )
    return scores
