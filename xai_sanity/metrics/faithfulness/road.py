"""ROAD: remove features by rank, impute them, and watch the model's output fall or hold.

For each sample and each fraction ``p`` of a grid, the top-``p`` ranked pixels of the
attribution map are removed (MoRF, most relevant first) — and, separately, the bottom-``p``
ranked ones (LeRF, least relevant first) — and filled in by noisy linear imputation (Rong
et al., "A Consistent and Efficient Evaluation Strategy for Attribution Methods", ICML 2022);
the model's probability of the target (or whether it still predicts it) is recorded. As
Quantus, :class:`ROAD` reports the MoRF accuracy per percentage; its per-sample score is the
area between the LeRF and MoRF curves (the "symmetric relevance gain" of Blücher, Vielhaben
and Strodthoff, "Decoupling Pixel Flipping and Occlusion Strategy for Consistent XAI
Benchmarks", TMLR 2024, who show that MoRF and LeRF alone can rank methods inconsistently).

The curves are computed by :func:`~.curves.road_curves` (re-exported here).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np
from quantus.functions.perturb_func import noisy_linear_imputation
from quantus.helpers.enums import ScoreDirection

from ..._signatures import with_parameters
from ..._validation import accepts_keyword
from .._plumbing import MetricCall
from ..base import COMMON_PARAMETERS
from ..imputation import check_imputation
from ..roar.removal import channel_means, check_fractions
from .base import FaithfulnessMetric
from .curves import DEFAULT_FRACTIONS, MEASURES, road_curves, road_score

__all__ = ["DEFAULT_FRACTIONS", "MEASURES", "QUANTUS_FRACTIONS", "ROAD", "road_curves", "road_score"]

#: Quantus's ``ROAD`` grid: 1 %, 3 %, ..., 99 % of the pixels.
QUANTUS_FRACTIONS = tuple(p / 100 for p in range(1, 100, 2))
#: Quantus's order of ROAD's parameters: its own, then the common ones with the perturbation's
#: in between; this package's own parameters (``...``) last.
_QUANTUS_ORDER = (
    "percentages", "noise", "abs", "normalise", "normalise_func", "normalise_func_kwargs", "perturb_func",
    "perturb_func_kwargs", "return_aggregate", "aggregate_func", "default_plot_func", "disable_warnings",
    "display_progressbar", ...,
)  # fmt: skip


class ROAD(FaithfulnessMetric):
    """ROAD (Rong et al. 2022), a drop-in for Quantus's ``ROAD``, and its per-sample score.

    For each fraction ``p`` of the grid, the top-``p`` (MoRF) and, separately, the bottom-``p``
    (LeRF) ranked pixels of each sample's map are removed and imputed (noisy linear
    imputation by default), and the model's output for the target is recorded
    (:func:`road_curves`). Two outputs:

    * as Quantus (default): ``{percentage: value}``, the MoRF curve of ROAD's accuracy (the
      share of samples whose prediction is still the target) over the call's samples —
      lower means the map found what the model uses;
    * ``return_area_per_sample=True``: one score per sample, the area between the LeRF and
      the MoRF curve per unit of fraction (:func:`road_score`; Blücher et al. 2024's
      "symmetric relevance gain"; the target's probability by default): about 0 for a
      random ranking, positive when the map ranks what the model uses first (higher is
      better). What tables need; the default suite sets it.

    The curves of the last call are kept in :attr:`curves`.

    Parameters
    ----------
    percentages : sequence of number, optional
        Quantus's grid: percentages of the pixels removed. Default: Quantus's
        ``1, 3, ..., 99`` as Quantus; ``fractions`` for ``return_area_per_sample``.
    noise : float, optional
        Standard deviation of the imputation noise. Default: 0.01 times each channel's
        standard deviation within the sample (Quantus: 0.01 in the input's units).
    perturb_func, perturb_func_kwargs
        Quantus's. None or ``quantus.perturb_func.noisy_linear_imputation``: this package's
        batched noisy linear imputation (equal to Quantus's function up to its noise draws;
        ``perturb_func_kwargs`` may set ``noise``). Any other function is called per imputed
        input as Quantus calls it (see :func:`road_curves`), with ``noise`` if it takes it.
    return_area_per_sample : bool, default False
        One score per sample (see above) instead of Quantus's dictionary.
    fractions : sequence of float, optional
        The grid as fractions (instead of ``percentages``); default 0.1, 0.2, ..., 0.9 for
        ``return_area_per_sample``.
    imputation : {"noisy_linear", "mean"} or None, default None
        How removed pixels are filled (instead of ``perturb_func``). None: ``"noisy_linear"``
        for images and series, ``"mean"`` for tables ``(N, F)`` (which have no neighbouring
        pixels).
    fill
        As in :func:`road_curves`.
    measure : {"probability", "accuracy"}, optional
        What a curve holds: the target's probability, or ROAD's accuracy (1/0 per sample and
        fraction). Default: accuracy as Quantus, probability for ``return_area_per_sample``.
    seed : int, default 0
        Seeds the random order that breaks ranking ties and the imputation noise, per sample.
    chunk_size : int, optional
        Imputed inputs per forward pass (default: from the memory budget).
    abs, normalise, normalise_func, normalise_func_kwargs, return_aggregate,
    aggregate_func, default_plot_func, disable_warnings, display_progressbar
        As in :class:`xai_sanity.metrics.Metric` (``abs=False``: signed maps are ranked by
        their signed value, so removing negative evidence counts as least relevant).
        Normalising by the maximum does not change a ranking. With the dictionary,
        ``return_aggregate`` gives ``aggregate_func`` of its values.

    Notes
    -----
    Differences from Quantus's ``ROAD`` (0.6), whose dictionary this returns: with 3-channel
    images and one-channel maps Quantus ranks the map broadcast over channels but indexes
    pixels, and raises ``IndexError`` (here pixels are ranked by their attribution summed
    over channels); it scores only the first batch of a call (``evaluation_scores[0]``), so
    its result depends on ``batch_size`` (here every sample counts); it removes
    ``int(p * size)`` values (here ``round(p * pixels)`` pixels); it breaks ranking ties by
    ``argsort``'s unstable order (here a seeded random order); its noise is 0.01 in the
    input's units (here relative to each channel's spread, unless ``noise`` is given).
    Where its settings coincide with ours (one-channel images, one batch, no ties, no
    imputation noise), the curves agree (see the tests).

    Cost: ``len(grid)`` imputations and forward passes per sample for the dictionary, twice
    that for the area; the forward passes are stacked and chunked to the memory budget.

    References
    ----------
    Y. Rong, T. Leemann, V. Borisov, G. Kasneci and E. Kasneci, "A Consistent and Efficient
    Evaluation Strategy for Attribution Methods", ICML 2022.
    F. Blücher, J. Vielhaben and N. Strodthoff, "Decoupling Pixel Flipping and Occlusion
    Strategy for Consistent XAI Benchmarks", TMLR 2024.
    """

    name = "ROAD"
    #: The per-sample area (what tables and the default suite use) is better high; an instance
    #: giving Quantus's MoRF accuracies sets its own (better low).
    score_direction: ClassVar[ScoreDirection] = ScoreDirection.HIGHER
    per_sample_params: ClassVar[dict[str, Any]] = {"return_area_per_sample": True}
    suite_params: ClassVar[dict[str, Any]] = per_sample_params
    quick_params: ClassVar[dict[str, Any]] = {"fractions": (0.1, 0.3, 0.5, 0.7, 0.9)}

    @with_parameters(COMMON_PARAMETERS, order=_QUANTUS_ORDER)
    def __init__(
        self,
        percentages: Sequence[float] | None = None,
        noise: float | None = None,
        perturb_func: Callable[..., np.ndarray] | None = None,
        perturb_func_kwargs: dict[str, Any] | None = None,
        return_area_per_sample: bool = False,
        fractions: Sequence[float] | None = None,
        imputation: str | None = None,
        fill: np.ndarray | Sequence[float] | float | None = None,
        measure: str | None = None,
        seed: int = 0,
        chunk_size: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(return_area_per_sample, (bool, np.bool_)):
            raise ValueError(f"return_area_per_sample must be True or False, got {return_area_per_sample!r}")
        self.return_area_per_sample = bool(return_area_per_sample)
        # Quantus's dictionary holds one number per percentage for the whole call.
        self.scores_per_sample = self.return_area_per_sample  # type: ignore[misc]
        if not self.return_area_per_sample:
            self.score_direction = ScoreDirection.LOWER  # type: ignore[misc]
        if percentages is not None and fractions is not None:
            raise ValueError("give the grid as percentages (Quantus's) or as fractions, not both")
        self.percentages = percentages
        self.fractions = None if fractions is None else check_fractions(fractions)
        self._grid()  # refuse bad percentages now
        self.imputation = None if imputation is None else check_imputation(imputation)
        if measure is not None and measure not in MEASURES:
            raise ValueError(f"measure must be one of {MEASURES} or None, got {measure!r}")
        self.measure = measure
        if noise is not None and not (isinstance(noise, (int, float)) and np.isfinite(noise) and noise >= 0):
            raise ValueError(f"noise must be a number >= 0 or None, got {noise!r}")
        self.noise = noise
        self.perturb_func = perturb_func
        self.perturb_func_kwargs = perturb_func_kwargs
        self._perturbation()  # refuse a bad combination now
        self.fill = fill
        if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be an int >= 0, got {seed!r}")
        self.seed = int(seed)
        if chunk_size is not None and (
            isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1
        ):
            raise ValueError(f"chunk_size must be an int >= 1 or None, got {chunk_size!r}")
        self.chunk_size = chunk_size
        #: ``{"fractions", "morf", "lerf"}`` of the last call (``(N, len(fractions))`` each;
        #: ``lerf`` is None for the dictionary, which needs MoRF only).
        self.curves: dict[str, Any] = {}

    def _grid(self) -> tuple[tuple[float, ...], list[float]]:
        """The fractions removed, sorted, and their keys in Quantus's dictionary (percentages)."""
        if self.percentages is not None:
            fractions = check_fractions(
                np.asarray(self.percentages, dtype=float) / 100.0, "percentages / 100"
            )
            keys = sorted({float(p) for p in np.atleast_1d(self.percentages)})
        else:
            fractions = self.fractions or (
                DEFAULT_FRACTIONS if self.return_area_per_sample else QUANTUS_FRACTIONS
            )
            keys = [round(f * 100, 10) for f in fractions]
        return fractions, [int(k) if float(k).is_integer() else k for k in keys]

    def _perturbation(self) -> tuple[Callable[..., np.ndarray] | None, float | None]:
        """The user's perturbation function with its keywords bound (None: the built-in
        imputation), and the noise of the built-in one."""
        func, kwargs, noise = self.perturb_func, dict(self.perturb_func_kwargs or {}), self.noise
        if func is None or func is noisy_linear_imputation:
            if set(kwargs) - {"noise"}:
                raise ValueError(
                    f"perturb_func_kwargs for the noisy linear imputation may only set 'noise', got {sorted(kwargs)}"
                )
            if "noise" in kwargs and noise is not None:
                raise ValueError("noise is given twice: as noise= and in perturb_func_kwargs")
            return None, kwargs.get("noise", noise)
        if not callable(func):
            raise TypeError(f"perturb_func must be callable, got {type(func).__name__}")
        if self.imputation is not None:
            raise ValueError("give either imputation= or a perturb_func, not both")
        if noise is not None and "noise" not in kwargs and accepts_keyword(func, "noise", if_unknown=False):
            kwargs["noise"] = noise
        return (functools.partial(func, **kwargs) if kwargs else func), None

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
        if self._perturbation()[0] is None:
            self._imputation_for(call.x)

    def _score_samples(self, call: MetricCall, a: np.ndarray, finite: np.ndarray) -> np.ndarray:
        """Rank, remove, impute and predict: a direct, batched path."""
        perturb, noise = self._perturbation()
        imputation: Any = perturb if perturb is not None else self._imputation_for(call.x)
        measure = self.measure or ("probability" if self.return_area_per_sample else "accuracy")
        a = np.where(finite.reshape(-1, *(1,) * (a.ndim - 1)), a.astype(np.float64), 0.0)
        if self.normalise:
            a = self.normalise_func(a)
        if self.abs:
            a = np.abs(a)
        keep = np.flatnonzero(finite)
        fractions = self._grid()[0]
        morf = np.full((len(call.x), len(fractions)), np.nan)
        lerf = np.full_like(morf, np.nan) if self.return_area_per_sample else None
        if keep.size:
            kept_morf, kept_lerf = road_curves(
                call.model, call.x[keep], call.y[keep], a[keep], fractions,
                imputation=imputation, fill=self._fill(call.x, imputation), noise=noise,
                measure=measure, softmax=True if call.softmax is None else bool(call.softmax),
                seed=self.seed, positions=keep, chunk_size=self.chunk_size, lerf=lerf is not None,
            )  # fmt: skip
            morf[keep] = kept_morf
            if lerf is not None:
                lerf[keep] = kept_lerf
        self.curves = {"fractions": fractions, "morf": morf, "lerf": lerf}
        if lerf is None:
            return morf
        return road_score(morf, lerf, fractions)

    def _result(self, scores: np.ndarray) -> Any:
        """Per-sample areas, or Quantus's ``{percentage: mean over the samples}`` of the MoRF curve."""
        if self.return_area_per_sample:
            return super()._result(scores)
        keys = self._grid()[1]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # no finite map: NaN, counted already
            means = np.nanmean(scores, axis=0) if len(scores) else np.full(len(keys), np.nan)
        return {key: float(v) for key, v in zip(keys, means)}

    def _fill(self, x_batch: np.ndarray, imputation: Any) -> Any:
        """The fill value: the user's, or (for ``"mean"``) the channel means of the whole batch."""
        if self.fill is not None or imputation != "mean":
            return self.fill
        return channel_means(x_batch)
