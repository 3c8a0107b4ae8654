"""Per-sample problems, shared by the localisation and robustness metrics.

A sample whose attributions hold NaN or Inf, or whose score is undefined for another
reason, scores NaN, and the metric emits one ``RuntimeWarning`` per kind of problem and
call that says how many samples have it. This module holds

* :func:`finite_samples`, which finds the samples whose maps are finite;
* :class:`FiniteSamplesNormaliser`, which applies a ``normalise_func`` to the finite
  maps of a batch only, so that one bad map cannot spread NaN to the others through a
  batch-wide statistic such as the maximum of ``normalise_by_max``;
* :class:`SampleProblems`, the mixin that counts problems during a call and warns once
  per problem when the call ends, and explains batches without Quantus's assertions on
  the values of the maps (which raise a bare ``AssertionError`` for a batch of all-zero
  or constant maps, where the metrics give a score or NaN for each sample).
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from quantus.helpers.model.model_interface import ModelInterface

from ._plumbing import explain_in_chunks

__all__ = ["NON_FINITE", "FiniteSamplesNormaliser", "SampleProblems", "caller_stacklevel", "finite_samples"]

#: The problem of a sample whose attributions hold NaN or Inf.
NON_FINITE = "have non-finite attributions (NaN or Inf); their scores are NaN"

_INTERNAL = frozenset({"xai_sanity", "quantus"})


def constant_samples(a_batch: np.ndarray) -> np.ndarray:
    """Which samples of a batch have a constant map (every value equal, e.g. all zero).

    Examples
    --------
    >>> constant_samples(np.array([[0.0, 0.0], [0.7, 0.7], [1.0, 2.0]]))
    array([ True,  True, False])
    """
    a = np.asarray(a_batch)
    flat = a.reshape(a.shape[0], -1)
    return (flat == flat[:, :1]).all(axis=1)


def finite_samples(a_batch: np.ndarray) -> np.ndarray:
    """Which samples of a batch have finite attributions only.

    Parameters
    ----------
    a_batch : numpy.ndarray of shape (N, ...)
        A batch of maps.

    Returns
    -------
    numpy.ndarray of shape (N,)
        True where every value of the sample's map is finite.

    Examples
    --------
    >>> finite_samples(np.array([[1.0, 2.0], [np.nan, 0.0], [np.inf, 1.0]]))
    array([ True, False, False])
    """
    a = np.asarray(a_batch)
    if not np.issubdtype(a.dtype, np.inexact):
        return np.ones(a.shape[0], dtype=bool)
    return np.isfinite(a).all(axis=tuple(range(1, a.ndim)))


class FiniteSamplesNormaliser:
    """A ``normalise_func`` applied to the finite maps of a batch, as if the others were absent.

    When every map of the batch is finite, the wrapped function is called on the batch as
    it is, so its result does not change. Otherwise it is called on the finite maps only
    and the other maps come back filled with NaN. The finite maps are thus normalised
    exactly as in a batch without the bad ones, whether the function normalises each map
    on its own or the whole batch together.

    Parameters
    ----------
    func : callable
        ``func(a_batch, *args, **kwargs) -> normalised a_batch``.

    Examples
    --------
    >>> from quantus.functions.normalise_func import normalise_by_max
    >>> normalise = FiniteSamplesNormaliser(normalise_by_max)
    >>> normalise(np.array([[1.0, -2.0], [np.nan, 4.0], [0.5, 1.0]]))
    array([[ 0.5 , -1.  ],
           [  nan,   nan],
           [ 0.25,  0.5 ]])
    """

    def __init__(self, func: Callable[..., np.ndarray]) -> None:
        self.func = func
        self.__wrapped__ = func

    @classmethod
    def wrap(cls, func: Callable[..., np.ndarray]) -> FiniteSamplesNormaliser:
        """``func`` wrapped, or ``func`` itself if it is wrapped already."""
        return func if isinstance(func, cls) else cls(func)

    def __call__(self, a_batch: np.ndarray, *args: Any, **kwargs: Any) -> np.ndarray:
        a = np.asarray(a_batch)
        finite = finite_samples(a)
        if finite.all():
            return self.func(a_batch, *args, **kwargs)
        if not finite.any():
            dtype = a.dtype if np.issubdtype(a.dtype, np.floating) else np.float64
            return np.full(a.shape, np.nan, dtype=dtype)
        normalised = np.asarray(self.func(a[finite], *args, **kwargs))
        dtype = normalised.dtype if np.issubdtype(normalised.dtype, np.floating) else np.float64
        out = np.full((len(a), *normalised.shape[1:]), np.nan, dtype=dtype)
        out[finite] = normalised
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.func!r})"


class SampleProblems:
    """Mixin for metrics: bad maps handled sample by sample, one warning per problem and call.

    Quantus calls ``custom_preprocess`` once before the batches and ``custom_postprocess``
    once after them; in between, :meth:`_note` adds up the samples that have each problem,
    and ``custom_postprocess`` emits one ``RuntimeWarning`` per problem that some sample
    has. The warnings are emitted whatever ``disable_warnings`` says, because they explain
    NaN scores. Outside a call (``evaluate_batch`` called directly), :meth:`_note` warns at
    once. Besides, whatever is assigned to the metric's ``normalise_func`` is wrapped in
    :class:`FiniteSamplesNormaliser`, and :meth:`explain_batch` leaves out Quantus's
    assertions on the values of the maps.
    """

    #: Problems seen during the running call: message -> [affected, seen]. ``None``
    #: outside a call.
    _pending: dict[str, list[int]] | None = None

    @property
    def normalise_func(self) -> Callable[..., np.ndarray]:
        """The metric's ``normalise_func``, wrapped in :class:`FiniteSamplesNormaliser`."""
        try:
            return self.__dict__["normalise_func"]
        except KeyError:
            raise AttributeError("normalise_func") from None

    @normalise_func.setter
    def normalise_func(self, func: Callable[..., np.ndarray]) -> None:
        # Kept under its own name in the instance's __dict__, where Quantus's get_params looks.
        self.__dict__["normalise_func"] = FiniteSamplesNormaliser.wrap(func)

    def explain_batch(self, model: Any, x_batch: np.ndarray, y_batch: np.ndarray) -> np.ndarray:
        """Explain a batch, then normalise and take ``abs`` as configured (as Quantus does).

        Quantus's version also asserts on the values of the maps and raises a bare
        ``AssertionError`` for a batch that is all zero, all one, constant or all negative;
        here such maps are scored (or scored NaN, with a warning, where the score is
        undefined) sample by sample. The explain function gets the unwrapped model.
        """
        if isinstance(model, ModelInterface):
            x_batch = model.shape_input(x=x_batch, shape=x_batch.shape, channel_first=True, batched=True)
            model = model.get_model()
        a = explain_in_chunks(
            self.explain_func,
            model,
            x_batch,
            y_batch,
            len(x_batch),
            dtype=None,
            kwargs=self.explain_func_kwargs,
        )
        if self.normalise:
            a = self.normalise_func(a)
        return np.abs(a) if self.abs else a

    def custom_preprocess(self, **kwargs: Any) -> Any:
        self._pending = {}
        return None

    def custom_postprocess(self, **kwargs: Any) -> None:
        pending = self.__dict__.pop("_pending", None) or {}
        for message, (affected, seen) in pending.items():
            self._warn(message, affected, seen)

    def _note(self, mask: np.ndarray, message: str) -> None:
        """Record that the samples flagged in the boolean ``mask`` have the problem ``message``.

        ``message`` completes the phrase "k of n samples ...".
        """
        mask = np.asarray(mask, dtype=bool)
        affected, seen = int(np.count_nonzero(mask)), int(mask.shape[0])
        pending = self.__dict__.get("_pending")
        if pending is None:
            if affected:
                self._warn(message, affected, seen)
            return
        counts = pending.setdefault(message, [0, 0])
        counts[0] += affected
        counts[1] += seen

    def _warn(self, message: str, affected: int, seen: int) -> None:
        if affected:
            message = f"{type(self).__name__}: {affected} of {seen} samples {message}"
            warnings.warn(message, RuntimeWarning, stacklevel=caller_stacklevel())


def caller_stacklevel() -> int:
    """The ``stacklevel`` that points a warning at the first frame outside xai_sanity/quantus."""
    frame, level = sys._getframe(1), 1  # the frame that calls warnings.warn
    while frame is not None and frame.f_globals.get("__name__", "").partition(".")[0] in _INTERNAL:
        frame, level = frame.f_back, level + 1
    return level
