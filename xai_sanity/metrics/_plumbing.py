"""Plumbing shared by the metrics: the one chunked explain loop and the checked call.

Every metric that calls a user's ``explain_func`` (randomisation, robustness, ROAR,
faithfulness) goes through :func:`explain_in_chunks`, so chunking, the output checks and the
channel-axis convention exist once. :class:`MetricCall` is one checked call of a metric, as
:meth:`xai_sanity.metrics.Metric.__call__` hands it to the metrics that run their own protocol.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import torch

__all__ = ["ExplainCall", "MetricCall", "explain_in_batches", "explain_in_chunks"]


def explain_in_chunks(
    explain_func: Callable,
    model: Any,
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int = 64,
    *,
    dtype: Any = np.float32,
    kwargs: Mapping[str, Any] | None = None,
) -> np.ndarray:
    """``explain_func(model=, inputs=, targets=, **kwargs)`` over ``x`` in chunks of ``batch_size``.

    Parameters
    ----------
    explain_func : callable
        A Quantus-style explain function.
    model : torch.nn.Module
    x : numpy.ndarray
        Inputs ``(N, ...)``.
    y : numpy.ndarray
        Targets ``(N,)``.
    batch_size : int, default 64
        Most inputs per call (must be >= 1).
    dtype : numpy dtype or None, default float32
        Cast of the result; ``None`` keeps what the explain function returned.
    kwargs : mapping, optional
        Further keywords of every call (``explain_func_kwargs``); ``model``, ``inputs`` and
        ``targets`` among them are an error, not silently replaced.

    Returns
    -------
    numpy.ndarray
        ``(N, C', ...)`` with as many axes as ``x``: maps returned without the channel axis
        (``(N, ...)``, e.g. from ``.sum(axis=1)`` without ``keepdims``) get it back.

    Examples
    --------
    >>> f = lambda model, inputs, targets: inputs.sum(axis=1)
    >>> explain_in_chunks(f, None, np.ones((5, 3, 2, 2)), np.zeros(5), 2).shape
    (5, 1, 2, 2)
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    kwargs = dict(kwargs or {})
    clash = sorted({"model", "inputs", "targets"} & set(kwargs))
    if clash:
        raise TypeError(f"explain_func_kwargs must not contain {clash}: they are given per call")
    pieces = []
    for start in range(0, len(x), int(batch_size)):
        inputs = x[start : start + batch_size]
        a = explain_func(model=model, inputs=inputs, targets=y[start : start + batch_size], **kwargs)
        if isinstance(a, torch.Tensor):
            a = a.detach().cpu().numpy()
        if a is None or np.asarray(a).dtype == object:
            raise TypeError(
                f"explain_func returned {type(a).__name__}, not attributions: it must return an "
                f"array or tensor of shape {tuple(inputs.shape)} (or without the channel axis)"
            )
        a = np.asarray(a) if dtype is None else np.asarray(a, dtype=dtype)
        if a.ndim == inputs.ndim - 1 and a.shape[0] == len(inputs):
            a = a[:, None]
        if a.shape[0] != len(inputs) or a.ndim != inputs.ndim:
            raise ValueError(
                f"explain_func returned attributions of shape {a.shape} for inputs of shape {inputs.shape}"
            )
        pieces.append(a)
    return np.concatenate(pieces) if len(pieces) > 1 else pieces[0]


def explain_in_batches(
    explain_func: Callable, model: Any, x: np.ndarray, y: np.ndarray, batch_size: int = 64, **kwargs: Any
) -> np.ndarray:
    """:func:`explain_in_chunks` with the explain function's keywords given directly, as float32.

    Precomputing ROAR attributions with this function (same ``batch_size``) gives the very
    arrays a ROAR call computes, so their cells hit the same cache entries.
    """
    return explain_in_chunks(explain_func, model, x, y, batch_size, kwargs=kwargs)


@dataclass(frozen=True)
class ExplainCall:
    """What a metric needs to explain again: the caller's function, its keywords, the chunk size.

    Calling it explains ``x`` for targets ``y`` with ``model`` through :func:`explain_in_chunks`.

    Examples
    --------
    >>> call = ExplainCall(lambda model, inputs, targets, k: k * inputs, {"k": 2.0}, batch_size=2)
    >>> call(None, np.ones((3, 1, 2)), np.zeros(3)).tolist()
    [[[2.0, 2.0]], [[2.0, 2.0]], [[2.0, 2.0]]]
    """

    func: Callable
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    batch_size: int = 64

    def __call__(self, model: Any, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return explain_in_chunks(self.func, model, x, y, self.batch_size, kwargs=self.kwargs)


#: :class:`MetricCall`'s fields that Quantus names differently (the others are named alike).
_QUANTUS_NAMES = {"x": "x_batch", "y": "y_batch", "a": "a_batch", "s": "s_batch"}


@dataclass(frozen=True)
class MetricCall:
    """One call of a metric after the checks of ``Metric.__call__``: its arguments as one value.

    The fields are the call's arguments in Quantus's order, the batch under short names
    (``x`` for ``x_batch`` ...); ``extra`` holds the further keywords of the call (such as
    ROAR's ``x_test=``). Metrics that run their own protocol read what they need from it;
    :meth:`quantus_keywords` gives the call back under Quantus's names.

    Examples
    --------
    >>> call = MetricCall(None, np.ones((2, 1, 2)), np.zeros(2), device="cpu", batch_size=1)
    >>> sorted(call.quantus_keywords())[:4]
    ['a_batch', 'batch_size', 'channel_first', 'custom_batch']
    >>> call.explainer().kwargs
    {'device': 'cpu'}
    """

    model: Any
    x: np.ndarray
    y: np.ndarray
    a: np.ndarray | None = None
    s: np.ndarray | None = None
    channel_first: bool | None = None
    explain_func: Callable | None = None
    explain_func_kwargs: Mapping[str, Any] = field(default_factory=dict)
    model_predict_kwargs: dict[str, Any] | None = None
    softmax: bool | None = None
    device: str | None = None
    batch_size: int = 64
    custom_batch: Any = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def explainer(self) -> ExplainCall:
        """The caller's explain function, keywords and chunk size as an :class:`ExplainCall`.

        A given ``device`` joins the keywords unless they name one (as Quantus does).
        """
        kwargs = dict(self.explain_func_kwargs)
        if self.device is not None:
            kwargs.setdefault("device", self.device)
        return ExplainCall(self.explain_func, kwargs, self.batch_size)

    def attributions(self) -> np.ndarray:
        """``a_batch`` if the call gave it, else the caller's explanations of ``x`` (see :meth:`explainer`)."""
        if self.a is not None:
            return self.a
        return self.explainer()(self.model, self.x, self.y)

    def quantus_keywords(self) -> dict[str, Any]:
        """The call under Quantus's keyword names (``x_batch=`` ...), ``extra`` included.

        ``explain_func_kwargs`` is a fresh copy: Quantus adds ``device`` to it in place.
        """
        keywords = {_QUANTUS_NAMES.get(f.name, f.name): getattr(self, f.name) for f in fields(self)}
        keywords.pop("extra")
        keywords["explain_func_kwargs"] = dict(self.explain_func_kwargs)
        return {**keywords, **self.extra}
