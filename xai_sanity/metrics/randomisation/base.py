"""Shared machinery of the randomisation metrics: explain, preprocess, compare."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import torch
from quantus.functions.normalise_func import normalise_by_max
from quantus.functions.similarity_func import ssim as quantus_ssim
from torch import nn

from ..._validation import model_device
from ...registry import SIMILARITIES
from ...similarity.contract import is_batched, similarity_scores
from ...similarity.correlation import spearman, spearman_abs, spearman_against
from .._plumbing import ExplainCall, MetricCall
from ..base import Metric

LAYER_ORDERS = ("top_down", "bottom_up", "independent")
LAYER_SEEDS = ("per_layer", "shared")
#: The common metric parameters in the order Quantus's randomisation metrics list them,
#: after their own.
QUANTUS_COMMON = (
    "abs", "normalise", "normalise_func", "normalise_func_kwargs", "return_aggregate", "aggregate_func",
    "default_plot_func", "disable_warnings", "display_progressbar",
)  # fmt: skip
#: A randomisation metric's signature: its own parameters (``...``), then the common ones.
RANDOMISATION_ORDER = (..., *QUANTUS_COMMON)
#: This package's own parameters of the MPRT family, after everything Quantus names.
MPRT_EXTRAS = ("layer_seeds", "layers")
#: Similarities whose reference batch is prepared once (:meth:`_similarity_to`), with their ``absolute``.
_RANKED_ONCE = {spearman: False, spearman_abs: True}


def resolve_similarity(similarity_func: str | Callable) -> Callable:
    """A registered name, our batched function or any Quantus-style similarity callable."""
    if isinstance(similarity_func, str):
        return SIMILARITIES[similarity_func]
    if callable(similarity_func):
        return similarity_func
    raise TypeError(f"similarity_func must be a registered name or a callable, got {similarity_func!r}")


def preprocess(
    a: np.ndarray, normalise: bool, absolute: bool, normalise_func: Callable | None = None
) -> np.ndarray:
    """Normalise each map on its own, then take ``|a|``.

    Parameters
    ----------
    a : numpy.ndarray
        Maps ``(N, ...)``.
    normalise : bool
        Whether to normalise.
    absolute : bool
        Whether to take ``|a|`` after normalising.
    normalise_func : callable, optional
        A Quantus-style ``normalise_func``, applied to each map as a batch of one (so that
        a sample's map never depends on the other samples). None (or Quantus's
        ``normalise_by_max``): divide each map by its max ``|a|``, all-zero maps left alone.

    Returns
    -------
    numpy.ndarray
        float32 maps of the same shape.

    Examples
    --------
    >>> preprocess(np.array([[1.0, -2.0], [0.5, 0.25]]), normalise=True, absolute=True)
    array([[0.5, 1. ],
           [1. , 0.5]], dtype=float32)
    """
    a = np.asarray(a, dtype=np.float32)
    if normalise and normalise_func is not None and normalise_func is not normalise_by_max:
        a = np.concatenate(
            [np.asarray(normalise_func(a[i : i + 1]), dtype=np.float32) for i in range(len(a))]
        )
    elif normalise:
        peak = np.abs(a.reshape(len(a), -1)).max(1).reshape((-1,) + (1,) * (a.ndim - 1))
        a = np.divide(a, peak, out=np.zeros_like(a), where=peak > 0)
    return np.abs(a) if absolute else a


class ExplainingMetric(Metric):
    """Shared machinery: explain in chunks with the caller's explain function."""

    def _explain(self, model: nn.Module, x: np.ndarray, y: np.ndarray, explain: ExplainCall) -> np.ndarray:
        """Preprocessed maps of ``explain`` (the caller's function) for ``model``."""
        return self._preprocess(explain(model, x, y))

    def _preprocess(self, a: np.ndarray) -> np.ndarray:
        """:func:`preprocess` with the metric's ``normalise``, ``abs`` and ``normalise_func``."""
        return preprocess(a, self.normalise, self.abs, getattr(self, "normalise_func", None))

    def _similarity(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return self._similarity_to(a)(b)

    def _similarity_to(self, reference: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        """``b -> similarity(reference, b)`` as float64 ``(N,)``, for many ``b``.

        With Spearman (plain or of ``|map|``) the reference is ranked once, not at every call.
        """
        func = self._similarity_func
        if np.ndim(reference) < 4 and func in (SIMILARITIES["ssim"], SIMILARITIES["hog"]):
            func = self._non_image_fallback(func, reference)
        # Compare on the model's device (batched similarity functions take tensors there).
        device = getattr(self, "_device", None)
        on_device = device is not None and device.type != "cpu" and is_batched(self._similarity_func)

        def place(m: np.ndarray) -> Any:
            return torch.as_tensor(m, device=device) if on_device else m

        reference = place(reference)
        if func in _RANKED_ONCE:
            compare = spearman_against(reference, absolute=_RANKED_ONCE[func])
            return lambda b: np.asarray(compare(place(b)), dtype=np.float64)
        return lambda b: similarity_scores(func, reference, place(b))

    def _non_image_fallback(self, func: Callable, a: np.ndarray) -> Callable:
        """SSIM on time-series/tabular maps: Quantus's SSIM of the flattened maps; HOG: an error.

        Quantus's SSIM slides a window of 7 values along the flattened map, so maps of fewer
        than 7 values (a table of 6 features) get a clear ``ValueError`` here, where Quantus
        raises scikit-image's error about the window size.
        """
        if func is SIMILARITIES["hog"]:
            raise ValueError(
                "HOG similarity needs image maps (N, C, H, W); for time series or tables use "
                "similarity_func='spearman' (or 'pearson', 'mse')"
            )
        n_values = int(np.prod(np.shape(a)[1:]))
        if n_values < 7:
            raise ValueError(
                f"{type(self).__name__}: SSIM on non-image maps is Quantus's SSIM of the flattened maps, "
                f"which needs at least 7 values per map, got {n_values}; pass another similarity_func "
                "(e.g. 'spearman', 'pearson' or 'mse')"
            )
        warnings.warn(
            f"{type(self).__name__}: SSIM is an image measure; on these non-image maps it falls back "
            "to Quantus's SSIM of the flattened maps (as Quantus computes it)",
            UserWarning,
            stacklevel=4,
        )
        return quantus_ssim

    # Every protocol re-explains changed models.
    requires_model: ClassVar[bool] = True
    requires_explain_func: ClassVar[bool] = True

    def _score_call(self, call: MetricCall) -> Any:
        """The checked call (see :meth:`Metric.__call__`); the protocol is each subclass's :meth:`_run`."""
        self._check_params()
        self._device = model_device(call.model)
        result = self._run(call.model, call.x, call.y, call.a, call.explainer(), call.custom_batch)
        if self.return_aggregate:
            result = [float(self.aggregate_func(result))]
        self.evaluation_scores = result
        self.all_evaluation_scores.append(result)
        return result

    def _check_params(self) -> None:
        self._similarity_func = resolve_similarity(self.similarity_func)

    def _run(self, model, x, y, a, explain: ExplainCall, custom_batch) -> Any:
        """The protocol: scores of the batch (``a``: the given ``a_batch`` or None)."""
        raise NotImplementedError

    def _reference(self, model, x, y, a, explain: ExplainCall) -> np.ndarray:
        """The explanations compared against: ``a_batch`` if given, else explain ``model``."""
        if a is not None:
            return self._preprocess(a)
        return self._explain(model, x, y, explain)

    def evaluate_batch(self, *args: Any, **kwargs: Any) -> Any:  # pragma: no cover - not used
        raise RuntimeError(f"{type(self).__name__} computes whole batches in __call__")
