"""The ROAR and KAR metric classes (Hooker et al., NeurIPS 2019).

See :mod:`xai_sanity.metrics.roar` for the protocol and its caveats; this module holds the
classes, whose ``_run`` is the recipe: degrade the data threshold by threshold
(:mod:`.removal`), build one :class:`~.cells.Cell` per (threshold, repeat), serve the cached
ones (:mod:`.cache`) and run the rest (:func:`~.cells.run_cells`), each once across the
processes sharing the cache. Everything that would fail later, or give numbers that mean
nothing, is refused before any work (:mod:`.checks`).
"""

from __future__ import annotations

import concurrent.futures as cf
import copy
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from quantus.helpers.enums import DataType, EvaluationCategory, ScoreDirection
from torch import nn

from ..._safety import model_guard
from ..._validation import check_batch
from ...cache import config_digest
from ...registry import METRICS
from .._plumbing import ExplainCall, MetricCall
from ..base import Metric
from ..imputation import NOISE_SCALE, channel_stat
from .cache import CACHE_FORMAT_VERSION, CellCache
from .cells import Cell, cell_seed, default_train, run_cells
from .checks import check_call, check_settings, estimator_name, resolve_test_set
from .fingerprints import callable_id, fingerprint, model_fingerprint, readable_settings, trainer_fingerprint
from .removal import channel_means, degrade

__all__ = ["DEFAULT_THRESHOLDS", "DEFAULT_TRAIN_KWARGS", "KAR", "ROAR"]

#: Fractions of features removed, as in Hooker et al. (2019).
DEFAULT_THRESHOLDS = (0.0, 0.1, 0.3, 0.5, 0.7, 0.9)
#: Training recipe of the default trainer (:func:`xai_sanity.training.fit`).
DEFAULT_TRAIN_KWARGS = {"epochs": 8, "lr": 2e-3, "batch_size": 128}


class ROAR(Metric):
    """RemOve And Retrain (Hooker et al. 2019).

    For each threshold ``t`` the top fraction ``t`` of each image's features (ranked by the
    attribution, ties broken randomly with ``seed``) is replaced, in the training and the
    test images, by the per-channel mean of the training set (or, with
    ``imputation="noisy_linear"``, by ROAD's noisy linear imputation); a fresh model is trained on the
    degraded training set ``n_repeats`` times and its test accuracy recorded (see
    ``train_func``: only the architecture is reused, never the weights). Lower accuracy at a
    given ``t`` means the estimator found more of the information the model class needs.

    Parameters
    ----------
    thresholds : sequence of float, default (0, .1, .3, .5, .7, .9)
        Fractions of features removed, each in ``[0, 1]``.
    n_repeats : int, default 5
        Models trained per threshold (different seeds).
    train_func : callable, optional
        ``train_func(model, x, y, seed, **train_kwargs) -> model``, called with the fresh
        model (a copy of ``model`` whose every layer with parameters, frozen or not, is
        re-initialised by its own initialiser, seeded from ``(seed, threshold, repeat)``;
        all its parameters trainable) and numpy arrays. Default: :func:`xai_sanity.training.fit`
        (Adam, cross-entropy). Must return an ``nn.Module`` (``TypeError`` otherwise). Use a
        top-level function when running with a process-pool executor.
    train_kwargs : dict, optional
        Keywords of the trainer; default trainer: ``epochs=8, lr=2e-3, batch_size=128``
        (and any other :func:`~xai_sanity.training.fit` keyword).
    per_pixel : bool, default True
        Rank pixels (attributions summed over channels) rather than single elements.
    seed : int, default 0
        Seeds the tie-breaking order and every retraining run.
    executor : concurrent.futures.Executor, optional
        Runs the retraining jobs (picklable, independently seeded: same numbers as the
        sequential run). With an executor, the jobs get a CPU copy of the model.
    cache_dir : str or path, optional
        Directory for per-cell JSON results; a rerun recomputes only missing or unreadable
        cells. Processes sharing the directory compute each cell once (per-cell lock files;
        a lock left by a process that died is recovered). ``None``: no caching.
    cache_key : str, optional
        Names the trainer configuration in the cache key instead of the automatic
        fingerprint of ``train_func`` (its code, closure, defaults, state, partial
        arguments). Needed only when that fingerprint is refused; you vouch that the string
        changes whenever the trainer changes. Plain ``train_kwargs`` values stay in the key.
    imputation : {"mean", "noisy_linear"}, default "mean"
        What replaces the removed features (:func:`xai_sanity.metrics.imputation.impute`).
        ``"mean"``: the training set's channel means (Hooker et al. 2019). ``"noisy_linear"``:
        ROAD's noisy linear imputation (Rong et al., ICML 2022), which does not draw the
        shape of the removed region into the image; its noise (0.01 times each channel's
        standard deviation over the training set) is drawn per cell from the cell's seed.
        Applies to the retrained data and to ``retrain=False`` alike, and is part of the
        cache key. Inputs ``(N, C, T)`` or ``(N, C, H, W)`` only.
    retrain : bool, default True
        ``False`` evaluates the original model on the degraded test set (a deletion curve,
        "no retraining"; one repeat).
    abs : bool, default False
        Rank by ``|a|``.
    return_repeats : bool, default False
        Return per-threshold lists of accuracies instead of the means.
    batched : bool, default False
        Train the models of several cells at once with ``torch.func.stack_module_state``
        and ``vmap`` (built-in recipe only, keywords ``epochs, lr, batch_size,
        weight_decay``; models without buffers or dropout layers, refused up front). Same
        recipe and seeds, not bit-identical to the sequential numbers; cached separately.
    batch_cells : int, optional
        Most cells trained together with ``batched=True`` (default: all missing cells).
    test_data : tuple (x_test, y_test[, a_test]), optional
        The test set, when a call does not give one (``custom_batch`` or ``x_test=``): this
        lets ``quantus.evaluate`` run the metric without per-call arguments.

    Returns
    -------
    dict
        ``{threshold: mean test accuracy}`` (or ``{threshold: [accuracy per repeat]}``).
        ``self.results_`` holds a tidy DataFrame (``estimator, method, threshold, repeat,
        accuracy, from_cache``) and ``self.summary_`` its mean/std/count per threshold.

    Notes
    -----
    Call as ``metric(model, x_train, y_train, a_batch=None, explain_func=...,
    custom_batch=(x_test, y_test[, a_test]))`` or with ``x_test=..., y_test=...,
    a_test=...`` keywords. ``a_batch`` covers ``x_batch`` (the training set); the test
    attributions come from ``a_test`` or ``explain_func``. Labels must be class indices of
    the model (probed with one forward pass). The model (only its architecture,
    unless ``retrain=False``) is left untouched, and the global RNG states are not used.

    Rong et al. (ICML 2022, ROAD) show that the removal pattern itself can leak class
    information to the retrained model; see the module docstring.
    ``imputation="noisy_linear"`` removes most of that leak, and
    :func:`~xai_sanity.metrics.roar.leak_diagnostic` measures it.
    """

    name = "ROAR"
    # Not TABULAR: per_pixel=True (the default) sums the attributions over axis 1, which for
    # (N, F) rows is every feature, so a table loses all of its features or none.
    data_applicability = {DataType.IMAGE, DataType.TIMESERIES}
    score_direction = ScoreDirection.LOWER
    evaluation_category = EvaluationCategory.FAITHFULNESS
    in_default_suite = False
    scores_per_sample = False  # one test accuracy per threshold
    #: KAR removes the least important features instead.
    _keep = False

    def __init__(
        self,
        thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
        n_repeats: int = 5,
        train_func: Callable | None = None,
        train_kwargs: dict[str, Any] | None = None,
        per_pixel: bool = True,
        seed: int = 0,
        executor: cf.Executor | None = None,
        cache_dir: str | Path | None = None,
        cache_key: str | None = None,
        imputation: str = "mean",
        retrain: bool = True,
        abs: bool = False,
        normalise: bool = False,
        return_repeats: bool = False,
        batched: bool = False,
        batch_cells: int | None = None,
        test_data: tuple[np.ndarray, ...] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(abs=abs, normalise=normalise, **kwargs)
        self.test_data = test_data
        self.thresholds = thresholds
        self.n_repeats = n_repeats
        self.train_func = train_func
        self.train_kwargs = train_kwargs
        self.per_pixel = per_pixel
        self.seed = seed
        self.executor = executor
        self.cache_dir = cache_dir
        self.cache_key = cache_key
        self.imputation = imputation
        self.retrain = retrain
        self.return_repeats = return_repeats
        self.batched = batched
        self.batch_cells = batch_cells
        self._check_params()
        self.results_: pd.DataFrame | None = None
        self.summary_: pd.DataFrame | None = None

    @property
    def method(self) -> str:
        return "KAR" if self._keep else "ROAR"

    def _check_params(self) -> None:
        self._thresholds = check_settings(self)

    # -- the protocol ---------------------------------------------------------------------
    # The architecture is retrained: the model is always needed.
    requires_model: ClassVar[bool] = True

    def _score_call(self, call: MetricCall) -> dict[float, Any]:
        """The checked call (see :meth:`Metric.__call__`), plus the test set: ``custom_batch=
        (x_test, y_test[, a_test])`` or ``x_test=``, ``y_test=``, ``a_test=`` (and the
        estimator's name as ``estimator_name=``); ``a_batch`` covers the training set ``x_batch``."""
        self._check_params()
        x_test, y_test, a_test = resolve_test_set(call, self.test_data, self.method)
        estimator = call.extra.get("estimator_name")
        if estimator is None:
            estimator = estimator_name(call.explain_func)
        explain = None if call.explain_func is None else call.explainer()
        model = call.model
        with model_guard(model, eval_mode=False, freeze=False):
            model.eval()
            cache = check_call(self, model, call.x, call.y, y_test, self._trainer())
            a_train = self._attributions(model, call.x, call.y, call.a, explain, "a_batch")
            a_test = self._attributions(model, x_test, y_test, a_test, explain, "a_test")
            rows = self._run(model, call.x, call.y, a_train, x_test, y_test, a_test, estimator, cache)

        self.results_ = pd.DataFrame(rows).sort_values(["threshold", "repeat"], ignore_index=True)
        self.summary_ = (
            self.results_.groupby(["estimator", "method", "threshold"])["accuracy"]
            .agg(["mean", "std", "count"])
            .reset_index()
        )
        grouped = self.results_.groupby("threshold")["accuracy"]
        if self.return_repeats:
            scores = {float(t): [float(v) for v in acc] for t, acc in grouped}
        else:
            scores = {float(t): float(acc.mean()) for t, acc in grouped}
        self.evaluation_scores = scores
        self.all_evaluation_scores.append(scores)
        return scores

    def _attributions(
        self,
        model: nn.Module,
        x: np.ndarray,
        y: np.ndarray,
        a: np.ndarray | None,
        explain: ExplainCall | None,
        name: str,
    ) -> np.ndarray:
        """``a`` (checked against ``x``), else ``explain``'s maps of ``x``; ``|a|`` with ``abs``."""
        if a is None:
            if explain is None:
                raise ValueError(f"give {name} (precomputed attributions) or explain_func")
            a = explain(model, x, y)
        _, _, a, _ = check_batch(x, y, a)
        return np.abs(a) if self.abs else a

    def _run(
        self,
        model: nn.Module,
        x_train: np.ndarray,
        y_train: np.ndarray,
        a_train: np.ndarray,
        x_test: np.ndarray,
        y_test: np.ndarray,
        a_test: np.ndarray,
        estimator: str,
        cache: CellCache,
    ) -> list[dict[str, Any]]:
        """The recipe: degrade the data per threshold, serve cached cells, run the rest once."""
        x_train = x_train.astype(np.float32, copy=False)
        x_test = x_test.astype(np.float32, copy=False)
        fill, noise = channel_means(x_train), self._noise(x_train)
        train_func, train_kwargs = self._trainer()
        base_config = self._base_config(
            model, x_train, y_train, x_test, y_test, train_func, train_kwargs, cache
        )
        template = model if self.executor is None else copy.deepcopy(model).cpu()
        shared = dict(
            estimator=estimator, method=self.method, model=template, retrain=bool(self.retrain),
            train_func=train_func, train_kwargs=train_kwargs, y_train=y_train, y_test=y_test, noise=noise,
        )  # fmt: skip

        rows: list[dict[str, Any]] = []
        pending: list[Cell] = []
        for t in self._thresholds:
            # Only the cells hold the degraded arrays: a threshold served wholly from the cache
            # frees them at the next iteration.
            x_train_t, removed_train = self._degrade(x_train, a_train, t, fill, stream=0)
            x_test_t, removed_test = self._degrade(x_test, a_test, t, fill, stream=1)
            # Cells are keyed by the degraded data itself rather than by the attributions, so
            # cells whose data does not depend on the estimator (0% or 100% removed), or on
            # which two estimators agree, are trained once and shared. With noise, the masks
            # (where it goes) are part of the data.
            masks = () if noise is None else (removed_train, removed_test)
            degraded_id = fingerprint(x_train_t, x_test_t, *masks)
            for r in range(int(self.n_repeats) if self.retrain else 1):
                config = {**base_config, "threshold": t, "repeat": r, "degraded": degraded_id}
                digest = config_digest(config)
                cell = Cell(
                    threshold=t, repeat=r, seed=cell_seed(self.seed, t, r), x_train=x_train_t,
                    x_test=x_test_t, removed_train=removed_train, removed_test=removed_test,
                    digest=digest, config=config, path=cache.path(self.method, digest), **shared,
                )  # fmt: skip
                cached = cache.read(cell.path, digest)
                if cached is not None:
                    rows.append(cell.row(cached, from_cache=True))
                else:
                    pending.append(cell)

        def done(cell: Cell, accuracy: float, seconds: float) -> None:
            rows.append(cell.row(accuracy, from_cache=False))
            cache.write(cell.path, cell.digest, dict(cell.config), accuracy, seconds)

        batched = bool(self.batched and self.retrain)
        cache.compute_once(
            pending,
            lambda cells: run_cells(
                cells, done, executor=self.executor, batched=batched, batch_cells=self.batch_cells
            ),
            served=lambda cell, accuracy: rows.append(cell.row(accuracy, from_cache=True)),
            # Sequential runs take one cell at a time, so that processes share the work.
            chunk=1 if self.executor is None and not batched else None,
        )
        return rows

    def _degrade(
        self, x: np.ndarray, a: np.ndarray, threshold: float, fill: np.ndarray, stream: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """A cell's inputs at ``threshold`` (without noise) and the removal mask."""
        return degrade(
            x, a, threshold, fill, imputation=self.imputation, keep=self._keep,
            per_pixel=self.per_pixel, seed=int(self.seed), stream=stream,
        )  # fmt: skip

    def _noise(self, x_train: np.ndarray) -> np.ndarray | None:
        """Standard deviation per channel of the imputation noise (``None``: no noise)."""
        if self.imputation == "mean":
            return None
        return NOISE_SCALE * channel_stat(x_train, "std")

    def _trainer(self) -> tuple[Callable, dict[str, Any]]:
        """The training function and its keywords (the default recipe filled in)."""
        train_kwargs = dict(self.train_kwargs or {})
        if self.train_func is None:
            return default_train, {**DEFAULT_TRAIN_KWARGS, **train_kwargs}
        return self.train_func, train_kwargs

    def _base_config(self, model, x_train, y_train, x_test, y_test, train_func, train_kwargs, cache) -> dict:
        """Everything shared by the cells of one call that determines their accuracies.

        The trainer enters by name, by ``cache_key`` if given, and otherwise (with a cache)
        by the fingerprint of ``train_func`` and ``train_kwargs``.
        """
        automatic = self.retrain and cache.directory is not None and self.cache_key is None
        noise = self._noise(x_train)
        # "mean" adds no key, so that caches written before imputation= existed stay valid.
        imputation = {} if noise is None else {"imputation": self.imputation, "noise": noise.tolist()}
        return {
            "format_version": CACHE_FORMAT_VERSION,
            "method": self.method,
            "per_pixel": bool(self.per_pixel),
            "retrain": bool(self.retrain),
            "seed": int(self.seed),
            "data": fingerprint(x_train, y_train, x_test, y_test),
            "architecture": str(model),
            "trainer": callable_id(train_func) if self.retrain else None,
            "trainer_fingerprint": trainer_fingerprint(train_func, train_kwargs) if automatic else None,
            "cache_key": self.cache_key,
            "train_kwargs": readable_settings(train_kwargs) if self.retrain else None,
            "weights": None if self.retrain else model_fingerprint(model),
            "torch": ".".join(torch.__version__.split("+")[0].split(".")[:2]),
            "batched": bool(self.batched and self.retrain),
            **imputation,
        }

    def evaluate_batch(self, *args: Any, **kwargs: Any) -> Any:  # pragma: no cover - not used
        raise RuntimeError(f"{type(self).__name__} runs its whole protocol in __call__")


class KAR(ROAR):
    """Keep And Retrain (Hooker et al. 2019): ROAR removing the *least* important features.

    At threshold ``t`` the lowest ranked fraction ``t`` of each image's features is
    replaced (the most important ``1 - t`` are kept), so the x-axis is "fraction removed" as
    for ROAR; a good estimator keeps the accuracy *high*. Parameters and return value as
    :class:`ROAR`.
    """

    name = "KAR"
    score_direction = ScoreDirection.HIGHER
    _keep = True


for _cls, _aliases in ((ROAR, ("Remove And Retrain",)), (KAR, ("Keep And Retrain",))):
    METRICS.register(_cls, name=_cls.__name__, aliases=_aliases)
