"""Chunked model calls of the robustness metrics: explain and predict many inputs at once.

A batch of N inputs perturbed ``nr_samples`` times gives N x ``nr_samples`` inputs to
explain (and, for ``return_nan_when_prediction_changes``, to predict). They are handed
to the model in chunks whose size :func:`resolve_chunk_size` bounds, so that memory stays
bounded for large images.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
from quantus.helpers.model.model_interface import ModelInterface
from torch import nn

from ..._memory import auto_chunk
from ..._validation import as_model_input
from .._plumbing import explain_in_chunks

__all__ = ["CHUNK_VALUE_BUDGET", "DEFAULT_CHUNK_SIZE", "explain_rows", "predict_labels", "resolve_chunk_size"]

#: Inputs per explain call when ``chunk_size`` is None, for small inputs.
DEFAULT_CHUNK_SIZE = 1024
#: When ``chunk_size`` is None, a chunk holds at most this many input values (64 MiB of
#: float32), so large images get smaller chunks.
CHUNK_VALUE_BUDGET = 2**24


def resolve_chunk_size(chunk_size: int | None, x: np.ndarray, model: Any = None) -> int:
    """The inputs per model call: ``chunk_size``, or for None a size that fits the value budget.

    Parameters
    ----------
    chunk_size : int or None
        The metric's ``chunk_size``.
    x : numpy.ndarray
        The batch ``(N, ...)``; only the size of one input matters.
    model : torch.nn.Module or Quantus model wrapper, optional
        With a model, the chunk also fits the package's memory budget
        (:func:`xai_sanity._memory.auto_chunk`, ``$XAI_SANITY_MEMORY_BUDGET``).

    Returns
    -------
    int
        ``chunk_size`` if given, else :data:`DEFAULT_CHUNK_SIZE`, reduced so that a chunk
        holds at most :data:`CHUNK_VALUE_BUDGET` input values and, with a model, fits the
        memory budget (at least 1).
    """
    if chunk_size is not None:
        return chunk_size
    per_input = max(1, int(np.prod(x.shape[1:])))
    chunk = max(1, min(DEFAULT_CHUNK_SIZE, CHUNK_VALUE_BUDGET // per_input))
    raw = model.get_model() if isinstance(model, ModelInterface) else model
    if isinstance(raw, nn.Module):
        # The package's memory policy: no more inputs per explain call than the budget holds.
        chunk = min(chunk, auto_chunk(raw, as_model_input(x[:1], raw)))
    return chunk


def explain_rows(
    explain_func: Callable,
    kwargs: Mapping[str, Any],
    model: Any,
    rows: np.ndarray,
    targets: np.ndarray,
    chunk: int,
) -> np.ndarray:
    """Explain ``rows`` in calls of at most ``chunk`` inputs, without normalising them.

    A Quantus model wrapper hands channel-first batches back as they are (and refuses a
    channel-last torch model); the explain function gets the unwrapped model. ``kwargs``
    (``explain_func_kwargs``) are checked not to clash with the per-call arguments.
    """
    if isinstance(model, ModelInterface):
        rows = model.shape_input(x=rows, shape=rows.shape, channel_first=True, batched=True)
        model = model.get_model()
    return explain_in_chunks(explain_func, model, rows, targets, chunk, dtype=None, kwargs=kwargs)


def predict_labels(model: Any, x: np.ndarray, chunk: int) -> np.ndarray:
    """Predicted classes of ``x``, in forward passes of at most ``chunk`` inputs.

    ``model`` is a Quantus model wrapper, or a torch module when a metric's
    ``evaluate_batch`` is called directly (the inputs then cast to the module's dtype and
    device, so float64 batches reach a float32 model).
    """
    labels = []
    for start in range(0, len(x), chunk):
        piece = x[start : start + chunk]
        if isinstance(model, ModelInterface):
            out = model.predict(piece)
        else:
            with torch.no_grad():
                out = model(as_model_input(piece, model)).cpu().numpy()
        labels.append(np.asarray(out).argmax(axis=-1))
    return np.concatenate(labels)
