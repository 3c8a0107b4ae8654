"""ROAD: remove features by rank, impute them, and watch the model's output fall or hold.

For each sample and each fraction ``p`` of a grid, the top-``p`` ranked pixels of the
attribution map are removed (MoRF, most relevant first) — and, separately, the bottom-``p``
ranked ones (LeRF, least relevant first) — and filled in by noisy linear imputation (Rong
et al., "A Consistent and Efficient Evaluation Strategy for Attribution Methods", ICML 2022);
the model's probability of the target (or whether it still predicts it) is recorded. A
faithful map makes the MoRF curve fall fast and the LeRF curve stay high: the score is the
area between the two curves (the "symmetric relevance gain" of Blücher, Vielhaben and
Strodthoff, "Decoupling Pixel Flipping and Occlusion Strategy for Consistent XAI
Benchmarks", TMLR 2024, who show that MoRF and LeRF alone can rank methods inconsistently).

:func:`road_curves` is the batched maths; :class:`ROAD` the metric class.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from quantus.helpers.enums import ScoreDirection
from torch import nn

from ..._memory import input_cost, memory_budget
from ..._signatures import with_parameters
from ..._validation import as_model_input, model_device
from .._plumbing import MetricCall
from ..base import COMMON_PARAMETERS
from ..imputation import check_imputation, impute
from ..roar.removal import channel_means, check_fractions, removal_mask
from .base import FaithfulnessMetric

__all__ = ["DEFAULT_FRACTIONS", "MEASURES", "ROAD", "road_curves", "road_score"]

#: The fractions of features removed by default: 10 %, 20 %, ..., 90 % (Rong et al. 2022
#: report curves over this range).
DEFAULT_FRACTIONS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
#: What is recorded per imputed input: the target's softmax probability, or 1/0 for whether
#: the model still predicts the target (ROAD's accuracy curves).
MEASURES = ("probability", "accuracy")
#: At most this many input values are stacked for one forward pass (64 MiB of float32).
_VALUE_BUDGET = 2**24
#: Separates the imputation noise's seeds from the tie-breaking keys of the ranking.
_NOISE_STREAM = 0x20AD


def _forward_rows(model: nn.Module, x: np.ndarray) -> int:
    """Imputed inputs per forward pass: what the memory budget and the value budget allow."""
    per_input = max(1, int(np.prod(x.shape[1:])))
    # The model's activations (no backward pass) plus the stacked numpy copies of the input.
    cost = input_cost(model, as_model_input(x[:1], model), backward=False) + 3 * per_input * x.itemsize
    by_memory = memory_budget(model_device(model)) // max(1, cost)
    return int(max(1, min(by_memory, _VALUE_BUDGET // per_input)))


def _measure(outputs: torch.Tensor, targets: np.ndarray, measure: str, softmax: bool) -> np.ndarray:
    """Per row: the target's probability (softmax of the outputs unless ``softmax`` is False)
    or whether the predicted class is the target."""
    outputs = outputs.detach().to(torch.float64).cpu()
    rows = torch.arange(len(targets))
    target = torch.as_tensor(targets, dtype=torch.long)
    if measure == "accuracy":
        return (outputs.argmax(dim=-1) == target).to(torch.float64).numpy()
    values = torch.softmax(outputs, dim=-1) if softmax else outputs
    return values[rows, target].numpy()


def road_curves(
    model: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    a: np.ndarray,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    *,
    imputation: str = "noisy_linear",
    fill: np.ndarray | Sequence[float] | float | None = None,
    noise: float | None = None,
    measure: str = "probability",
    softmax: bool = True,
    seed: int = 0,
    positions: np.ndarray | None = None,
    chunk_size: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """MoRF and LeRF curves of each sample: the model's output after removing ranked features.

    Parameters
    ----------
    model : torch.nn.Module
        The classifier, used as it is (the caller puts it in eval mode); never written to.
    x : numpy.ndarray
        Inputs ``(N, C, *spatial)`` (images ``(N, C, H, W)``, series ``(N, C, T)``) or tables
        ``(N, F)``.
    y : numpy.ndarray
        Target classes ``(N,)``.
    a : numpy.ndarray
        Attributions ``(N, 1 or C, *spatial)`` (``(N, F)`` for tables), finite. Pixels are
        ranked by their attribution summed over channels (tables: each feature on its own);
        ties are broken by a seeded random order (:func:`xai_sanity.metrics.roar.removal.removal_mask`).
    fractions : sequence of float, default :data:`DEFAULT_FRACTIONS`
        Fractions of the pixels removed, in ``[0, 1]``; exactly ``round(p * n_pixels)`` per
        sample. Sorted and de-duplicated.
    imputation : {"noisy_linear", "mean"}, default "noisy_linear"
        How removed pixels are filled (:func:`xai_sanity.metrics.imputation.impute`):
        ROAD's noisy linear imputation (images and series only) or a fixed value per channel.
    fill : float or array of shape (C,), optional
        The value per channel of ``"mean"`` (and of wholly removed inputs under
        ``"noisy_linear"``). Default: the channel means of ``x`` over the batch (feature
        means for tables), as ROAR fills with the data's means.
    noise : float, optional
        Standard deviation of the imputation noise. Default: none for ``"mean"``; for
        ``"noisy_linear"`` 0.01 times each channel's standard deviation within the sample.
    measure : {"probability", "accuracy"}, default "probability"
        What each point of a curve holds: the target's probability, or 1/0 for whether the
        model still predicts the target (ROAD's accuracy, averaged over a data set).
    softmax : bool, default True
        Whether ``"probability"`` applies a softmax to the model's outputs (False for a
        model that outputs probabilities already).
    seed : int, default 0
        Seeds the tie-breaking order and the imputation noise, per sample (with its position).
    positions : numpy.ndarray, optional
        Each sample's position in its data set ``(N,)`` (default ``0 .. N-1``), which with
        ``seed`` draws its tie-breaking order and noise, so that a sample's curves do not
        depend on the chunks it is computed in.
    chunk_size : int, optional
        Imputed inputs per forward pass; default: what the memory budget allows
        (:mod:`xai_sanity._memory`). The curves do not depend on it.

    Returns
    -------
    tuple of numpy.ndarray
        ``(morf, lerf)``, each ``(N, len(fractions))`` float64: the measure after removing the
        most relevant (MoRF) and the least relevant (LeRF) pixels, one column per fraction.

    Examples
    --------
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2)).eval()
    >>> x = np.ones((1, 1, 2, 2), np.float32)
    >>> a = np.arange(4.0).reshape(1, 1, 2, 2)
    >>> morf, lerf = road_curves(model, x, np.array([0]), a, (0.5,), imputation="mean")
    >>> morf.shape, lerf.shape
    ((1, 1), (1, 1))
    """
    fractions = check_fractions(fractions)
    imputation = check_imputation(imputation)
    if measure not in MEASURES:
        raise ValueError(f"measure must be one of {MEASURES}, got {measure!r}")
    x = np.asarray(x)
    y = np.asarray(y).astype(np.int64)
    a = np.asarray(a)
    n = len(x)
    table = x.ndim == 2
    if imputation == "noisy_linear" and table:
        raise ValueError(
            "imputation='noisy_linear' needs neighbouring pixels: inputs (N, C, T) or (N, C, H, W); "
            f"x is a table {x.shape}. Use imputation='mean' for tables"
        )
    if a.shape[0] != n or a.ndim != x.ndim:
        raise ValueError(f"attributions {a.shape} do not fit inputs {x.shape}")
    if imputation == "mean" and fill is None:
        fill = channel_means(x)
    positions = np.arange(n) if positions is None else np.asarray(positions, dtype=np.int64)
    if positions.shape != (n,):
        raise ValueError(f"positions must have shape ({n},), got {positions.shape}")
    n_rows = 2 * len(fractions)  # MoRF then LeRF, one row per fraction
    rows_per_pass = int(chunk_size) if chunk_size is not None else _forward_rows(model, x)
    if rows_per_pass < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size!r}")
    samples_per_chunk = max(1, rows_per_pass // n_rows)
    curves = np.empty((n, n_rows), dtype=np.float64)
    for start in range(0, n, samples_per_chunk):
        stop = min(n, start + samples_per_chunk)
        imputed = []
        for i in range(start, stop):
            xi, ai = x[i : i + 1], a[i : i + 1]
            removed = np.concatenate(
                [
                    removal_mask(
                        ai, xi.shape, p, keep=lerf, per_pixel=not table, seed=seed, stream=positions[i]
                    )
                    for lerf in (False, True)
                    for p in fractions
                ]
            )
            copies = np.broadcast_to(xi, (n_rows, *x.shape[1:]))
            rng = np.random.default_rng([int(seed), _NOISE_STREAM, int(positions[i])])
            imputed.append(impute(copies, removed, imputation, fill=fill, noise=noise, seed=rng))
        stacked = np.concatenate(imputed)
        targets = np.repeat(y[start:stop], n_rows)
        values = []
        for lo in range(0, len(stacked), rows_per_pass):
            with torch.no_grad():
                out = model(as_model_input(stacked[lo : lo + rows_per_pass], model))
            values.append(_measure(out, targets[lo : lo + rows_per_pass], measure, softmax))
        curves[start:stop] = np.concatenate(values).reshape(stop - start, n_rows)
    k = len(fractions)
    return curves[:, :k], curves[:, k:]


def road_score(morf: np.ndarray, lerf: np.ndarray, fractions: Sequence[float]) -> np.ndarray:
    """Area between the LeRF and MoRF curves per unit of removed fraction, ``(N,)``.

    ``trapezoid(lerf - morf, fractions) / (max(fractions) - min(fractions))``: for an evenly
    spaced grid, the mean gap with the two end points weighted by half. One fraction: the gap
    itself. Positive when removing the top-ranked pixels hurts the model more than removing
    the bottom-ranked ones; in ``[-1, 1]`` for probabilities and accuracies.

    Examples
    --------
    >>> road_score(np.array([[0.2, 0.0]]), np.array([[0.8, 0.6]]), (0.1, 0.9))
    array([0.6])
    """
    fractions = np.asarray(check_fractions(fractions), dtype=np.float64)
    gap = np.asarray(lerf, dtype=np.float64) - np.asarray(morf, dtype=np.float64)
    if gap.shape[-1] != fractions.size:
        raise ValueError(f"curves have {gap.shape[-1]} points, fractions {fractions.size}")
    if fractions.size == 1:
        return gap[..., 0]
    return np.trapezoid(gap, fractions, axis=-1) / (fractions[-1] - fractions[0])


class ROAD(FaithfulnessMetric):
    """ROAD with MoRF and LeRF: the area between the two removal curves (higher is better).

    For each fraction ``p`` of :attr:`fractions`, the top-``p`` (MoRF) and, separately, the
    bottom-``p`` (LeRF) ranked pixels of each sample's map are removed and imputed (noisy
    linear imputation by default, Rong et al. 2022), and the model's probability of the
    target is recorded (:func:`road_curves`). The score is the area between the LeRF and the
    MoRF curve per unit of fraction (:func:`road_score`; Blücher et al. 2024's "symmetric
    relevance gain"): about 0 for a random ranking, positive when the map ranks what the
    model uses first. The curves of the last call are kept in :attr:`curves`.

    Parameters
    ----------
    fractions : sequence of float, default 0.1, 0.2, ..., 0.9
        Fractions of the pixels removed.
    imputation : {"noisy_linear", "mean"} or None, default None
        How removed pixels are filled. None: ``"noisy_linear"`` for images and series,
        ``"mean"`` for tables ``(N, F)`` (which have no neighbouring pixels).
    fill, noise
        As in :func:`road_curves`.
    measure : {"probability", "accuracy"}, default "probability"
        The target's probability (one continuous curve per sample), or ROAD's accuracy
        (1/0 per sample and fraction; its mean over samples is the paper's curve).
    seed : int, default 0
        Seeds the random order that breaks ranking ties and the imputation noise, per sample.
    chunk_size : int, optional
        Imputed inputs per forward pass (default: from the memory budget).
    abs, normalise, normalise_func, normalise_func_kwargs, return_aggregate,
    aggregate_func, default_plot_func, disable_warnings, display_progressbar
        As in :class:`xai_sanity.metrics.Metric` (``abs=False``: signed maps are ranked by
        their signed value, so removing negative evidence counts as least relevant).
        Normalising by the maximum does not change a ranking.

    Notes
    -----
    Why not Quantus's ``ROAD`` (0.6): with 3-channel images and one-channel maps it ranks
    the map broadcast over channels but indexes pixels, and raises ``IndexError``; it scores
    only the first batch of a call (``evaluation_scores[0]``), so results depend on
    ``batch_size``; it returns one accuracy per percentage for the whole call rather than a
    score per sample; it computes MoRF only; and it breaks ranking ties by ``argsort``'s
    unstable order. Where its settings coincide with ours (one-channel images, one batch,
    no ties, no imputation noise, MoRF, accuracy), the curves agree (see the tests).

    Cost: ``2 * len(fractions)`` imputations and forward passes per sample; the forward
    passes are stacked and chunked to the memory budget.

    References
    ----------
    Y. Rong, T. Leemann, V. Borisov, G. Kasneci and E. Kasneci, "A Consistent and Efficient
    Evaluation Strategy for Attribution Methods", ICML 2022.
    F. Blücher, J. Vielhaben and N. Strodthoff, "Decoupling Pixel Flipping and Occlusion
    Strategy for Consistent XAI Benchmarks", TMLR 2024.
    """

    name = "ROAD"
    score_direction: ClassVar[ScoreDirection] = ScoreDirection.HIGHER
    suite_params: ClassVar[dict[str, Any]] = {}
    quick_params: ClassVar[dict[str, Any]] = {"fractions": (0.1, 0.3, 0.5, 0.7, 0.9)}

    @with_parameters(COMMON_PARAMETERS)
    def __init__(
        self,
        fractions: Sequence[float] = DEFAULT_FRACTIONS,
        imputation: str | None = None,
        fill: np.ndarray | Sequence[float] | float | None = None,
        noise: float | None = None,
        measure: str = "probability",
        seed: int = 0,
        chunk_size: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.fractions = check_fractions(fractions)
        self.imputation = None if imputation is None else check_imputation(imputation)
        if measure not in MEASURES:
            raise ValueError(f"measure must be one of {MEASURES}, got {measure!r}")
        self.measure = measure
        if noise is not None and not (isinstance(noise, (int, float)) and np.isfinite(noise) and noise >= 0):
            raise ValueError(f"noise must be a number >= 0 or None, got {noise!r}")
        self.noise = noise
        self.fill = fill
        if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be an int >= 0, got {seed!r}")
        self.seed = int(seed)
        if chunk_size is not None and (
            isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1
        ):
            raise ValueError(f"chunk_size must be an int >= 1 or None, got {chunk_size!r}")
        self.chunk_size = chunk_size
        #: ``{"fractions", "morf", "lerf"}`` of the last call (``(N, len(fractions))`` each).
        self.curves: dict[str, Any] = {}

    def _imputation_for(self, x: np.ndarray) -> str:
        """The imputation of inputs like ``x``: the one set, or the default for their layout."""
        imputation = self.imputation or ("mean" if x.ndim == 2 else "noisy_linear")
        if x.ndim == 2 and imputation == "noisy_linear":
            raise ValueError(
                "ROAD(imputation='noisy_linear') needs neighbouring pixels; for tables (N, F) use "
                "ROAD(imputation='mean')"
            )
        return imputation

    def _check_call(self, call: MetricCall) -> None:
        self._imputation_for(call.x)

    def _score_samples(self, call: MetricCall, a: np.ndarray, finite: np.ndarray) -> np.ndarray:
        """Rank, remove, impute and predict: a direct, batched path."""
        imputation = self._imputation_for(call.x)
        a = np.where(finite.reshape(-1, *(1,) * (a.ndim - 1)), a.astype(np.float64), 0.0)
        if self.normalise:
            a = self.normalise_func(a)
        if self.abs:
            a = np.abs(a)
        keep = np.flatnonzero(finite)
        morf = np.full((len(call.x), len(self.fractions)), np.nan)
        lerf = np.full_like(morf, np.nan)
        if keep.size:
            morf[keep], lerf[keep] = road_curves(
                call.model, call.x[keep], call.y[keep], a[keep], self.fractions,
                imputation=imputation, fill=self._fill(call.x, imputation), noise=self.noise,
                measure=self.measure, softmax=True if call.softmax is None else bool(call.softmax),
                seed=self.seed, positions=keep, chunk_size=self.chunk_size,
            )  # fmt: skip
        self.curves = {"fractions": self.fractions, "morf": morf, "lerf": lerf}
        return road_score(morf, lerf, self.fractions)

    def _fill(self, x_batch: np.ndarray, imputation: str) -> Any:
        """The fill value: the user's, or (for ``"mean"``) the channel means of the whole batch."""
        if self.fill is not None or imputation != "mean":
            return self.fill
        return channel_means(x_batch)
