"""Remove-and-retrain evaluation of feature-importance estimates: ROAR and KAR.

ROAR (RemOve And Retrain; Hooker et al., "A Benchmark for Interpretability Methods in Deep
Neural Networks", NeurIPS 2019) ranks each image's features by an attribution map, replaces
the most important fraction ``t`` of them with the per-channel mean of the training set (in
the training *and* the test images), trains a fresh model on the degraded training set and
reports its test accuracy. A good estimator makes the accuracy fall quickly as ``t`` grows;
the paper's controls are a random ranking and a Sobel edge filter. KAR (Keep And Retrain)
is the mirror image: it removes the *least* important fraction ``t`` (keeping the most
important ``1 - t``), and a good estimator keeps the accuracy high.

Retraining is what separates ROAR from a plain deletion curve: without it, the accuracy also
drops because the degraded images lie outside the training distribution. ``retrain=False``
gives that deletion curve (same removal, original model) for comparison.

Caveat (Rong et al., "A Consistent and Efficient Evaluation Strategy for Attribution
Methods", ICML 2022, "ROAD"): the *shape* of the removed region can itself leak the class
(a removal mask shaped like the object is informative), so a retrained model may stay
accurate although the informative pixels are gone, and estimators can be ranked wrongly.
Read ROAR curves with that in mind.

Engineering:

* ties in an attribution map are broken by a seeded random order, not by pixel index;
* each (estimator, threshold, repeat) cell is an independent, picklable job with its own
  seed, so results do not depend on scheduling (``executor=`` takes any
  :class:`concurrent.futures.Executor`, e.g. a process pool or Dask's
  ``Client.get_executor()``);
* with ``cache_dir`` each finished cell is written atomically as JSON, keyed by a digest of
  everything that determines it; a rerun only computes the missing cells, and unreadable
  files are recomputed with a warning.
"""

from __future__ import annotations

import concurrent.futures as cf
import copy
import hashlib
import json
import math
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from quantus.helpers.enums import EvaluationCategory, ScoreDirection
from torch import nn

from .._safety import model_guard
from ..cache import atomic_write_bytes, config_digest
from ..registry import METRICS
from .base import Metric, check_batch
from .randomisation import randomisable_layers, reinitialise

__all__ = [
    "DEFAULT_THRESHOLDS",
    "KAR",
    "ROAR",
    "control_estimators",
    "plot_roar",
    "remove_features",
    "run_roar",
]

#: Fractions of features removed, as in Hooker et al. (2019).
DEFAULT_THRESHOLDS = (0.0, 0.1, 0.3, 0.5, 0.7, 0.9)
#: Training recipe of the default trainer (:func:`xai_sanity.training.fit`).
DEFAULT_TRAIN_KWARGS = {"epochs": 8, "lr": 2e-3, "batch_size": 128}
#: Bump when anything that changes cached cell results changes.
CACHE_FORMAT_VERSION = 2


# ----------------------------------------------------------------------------------------
# Removal


def _tie_keys(n: int, n_features: int, seed: int, stream: int) -> np.ndarray:
    """Seeded random secondary sort keys (one per feature), from a private generator."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x70A2, int(stream)]))
    return rng.random((n, n_features))


def _feature_scores(a: np.ndarray, x_shape: tuple[int, ...], per_pixel: bool) -> np.ndarray:
    """Attribution per feature, flattened to ``(N, n_features)``."""
    a = np.asarray(a, dtype=np.float64)
    if per_pixel:
        return a.sum(axis=1).reshape(x_shape[0], -1)
    return np.broadcast_to(a, x_shape).reshape(x_shape[0], -1)


def removal_mask(
    a: np.ndarray,
    x_shape: tuple[int, ...],
    fraction: float,
    *,
    keep: bool = False,
    per_pixel: bool = True,
    seed: int = 0,
    stream: int = 0,
) -> np.ndarray:
    """Boolean mask of the features to replace, ``(N, 1, ...)`` per pixel or ``x_shape``.

    Exactly ``round(fraction * n_features)`` features per image are marked: the highest
    ranked ones (ROAR) or, with ``keep=True``, the lowest ranked ones (KAR). Ties are broken
    by a random order drawn from ``(seed, stream)``.
    """
    scores = _feature_scores(a, x_shape, per_pixel)
    n, n_features = scores.shape
    k = int(round(float(fraction) * n_features))
    keys = _tie_keys(n, n_features, seed, stream)
    # np.lexsort sorts by the last key first: descending score, then the random key.
    order = np.lexsort((keys, -scores if not keep else scores), axis=-1)
    flat = np.zeros((n, n_features), dtype=bool)
    np.put_along_axis(flat, order[:, :k], True, axis=-1)
    shape = (n, 1, *x_shape[2:]) if per_pixel else tuple(x_shape)
    return flat.reshape(shape)


def remove_features(
    x: np.ndarray,
    a: np.ndarray,
    fraction: float,
    fill: np.ndarray,
    *,
    keep: bool = False,
    per_pixel: bool = True,
    seed: int = 0,
    stream: int = 0,
) -> np.ndarray:
    """Replace a fraction of each image's features, ranked by ``a``, by ``fill``.

    Parameters
    ----------
    x : numpy.ndarray
        Images ``(N, C, ...)``.
    a : numpy.ndarray
        Attributions ``(N, 1 or C, ...)``.
    fraction : float
        Fraction of features replaced, in ``[0, 1]``; exactly ``round(fraction *
        n_features)`` per image.
    fill : numpy.ndarray
        Replacement value per channel, shape ``(C,)`` (the training set's channel means).
    keep : bool, default False
        ``False`` (ROAR): replace the most important features; ``True`` (KAR): replace the
        least important ones.
    per_pixel : bool, default True
        Rank pixels (attributions summed over channels; all channels of a pixel are
        replaced together) instead of single elements.
    seed, stream : int
        Seed the random order that breaks ties (``stream`` separates e.g. train and test).

    Returns
    -------
    numpy.ndarray
        A new float32 array; ``x`` is not modified.

    Examples
    --------
    >>> x = np.ones((1, 3, 2, 2), dtype=np.float32)
    >>> out = remove_features(x, np.zeros((1, 1, 2, 2)), 0.5, np.zeros(3))
    >>> int((out == 0).all(axis=1).sum())  # two of the four pixels, all channels
    2
    """
    x = np.asarray(x, dtype=np.float32)
    mask = removal_mask(a, x.shape, fraction, keep=keep, per_pixel=per_pixel, seed=seed, stream=stream)
    fill_full = np.broadcast_to(
        np.asarray(fill, dtype=np.float32).reshape((1, -1) + (1,) * (x.ndim - 2)), x.shape
    )
    return np.where(mask, fill_full, x).astype(np.float32, copy=False)


def explain_in_batches(
    explain_func: Callable,
    model: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int = 64,
    **kwargs: Any,
) -> np.ndarray:
    """``explain_func`` over ``x`` in chunks of ``batch_size``, as float32 (ROAR's own path).

    Precomputing attributions with this function (same ``batch_size``) gives the very
    arrays a ROAR call computes, so their cells hit the same cache entries.
    """
    pieces = [
        np.asarray(
            explain_func(model=model, inputs=x[i : i + batch_size], targets=y[i : i + batch_size], **kwargs),
            dtype=np.float32,
        )
        for i in range(0, len(x), batch_size)
    ]
    return np.concatenate(pieces)


# ----------------------------------------------------------------------------------------
# Jobs (top-level functions so that process pools can pickle them)


def _default_train(model: nn.Module, x: np.ndarray, y: np.ndarray, seed: int, **kwargs: Any) -> nn.Module:
    """The default trainer: :func:`xai_sanity.training.fit` without a progress bar."""
    from ..training import fit

    return fit(model, x, y, seed=int(seed), progress=False, **kwargs).model


def _cell_seed(seed: int, threshold: float, repeat: int) -> int:
    state = np.random.SeedSequence([int(seed), int(round(threshold * 1_000_000)), int(repeat), 0xA0A2])
    return int(state.generate_state(1, np.uint64)[0] >> 2)


def _run_cell(job: dict[str, Any]) -> float:
    """Train (or not) one model on a degraded training set; return its test accuracy."""
    from ..training import evaluate_accuracy

    model = job["model"]
    if job["retrain"]:
        fresh = _fresh_copy(model, job["cell_seed"])
        trained = job["train_func"](
            fresh, job["x_train"], job["y_train"], job["cell_seed"], **job["train_kwargs"]
        )
        if not isinstance(trained, nn.Module):
            raise TypeError(f"train_func must return the trained nn.Module, got {type(trained).__name__}")
        model = trained
    return float(evaluate_accuracy(model, job["x_test"], job["y_test"]))


def _fresh_copy(model: nn.Module, cell_seed: int) -> nn.Module:
    fresh = copy.deepcopy(model)
    for i, (_, module) in enumerate(randomisable_layers(fresh)):
        reinitialise(module, cell_seed + 1 + i)
    for p in fresh.parameters():
        p.requires_grad_(True)
    return fresh.train()


def _run_cells_batched(jobs: list[dict[str, Any]]) -> list[float]:
    """Train the models of several cells at once (``torch.func`` + ``vmap``); accuracies.

    Each model gets its own initial weights, data and mini-batch order (as in
    :func:`xai_sanity.training.fit`: Adam, cross-entropy, a private generator per seed), so
    the results follow the same recipe as the sequential runs, though not bit for bit
    (vectorised kernels sum in another order). Needs a model without buffers whose forward
    pass draws no random numbers (e.g. no dropout, no batch norm).
    """
    from torch.func import functional_call, stack_module_state, vmap

    from .._safety import make_generator
    from ..training import evaluate_accuracy

    options = dict(jobs[0]["train_kwargs"])
    epochs = int(options.pop("epochs", 8))
    batch_size = int(options.pop("batch_size", 128))
    lr = float(options.pop("lr", 2e-3))
    weight_decay = float(options.pop("weight_decay", 0.0))
    if options:
        raise ValueError(
            f"batched retraining supports epochs, batch_size, lr, weight_decay; got {sorted(options)}"
        )
    models = [_fresh_copy(job["model"], job["cell_seed"]) for job in jobs]
    if any(True for _ in models[0].buffers()):
        raise ValueError("batched retraining needs a model without buffers (e.g. no batch norm)")
    device = next(models[0].parameters()).device
    params, _ = stack_module_state(models)
    base = copy.deepcopy(models[0]).to("meta")
    x = torch.stack([torch.as_tensor(job["x_train"]) for job in jobs]).to(device)
    y = torch.as_tensor(jobs[0]["y_train"]).long().to(device)
    n, k = y.shape[0], len(jobs)
    gens = [make_generator(int(job["cell_seed"])) for job in jobs]
    optimiser = torch.optim.Adam(list(params.values()), lr=lr, weight_decay=weight_decay)

    def forward(p: dict[str, torch.Tensor], xb: torch.Tensor) -> torch.Tensor:
        return functional_call(base, p, (xb,))

    batched_forward = vmap(forward)
    rows = torch.arange(k, device=device)[:, None]
    for _ in range(epochs):
        orders = torch.stack([torch.randperm(n, generator=g) for g in gens]).to(device)
        for begin in range(0, n, batch_size):
            idx = orders[:, begin : begin + batch_size]
            logits = batched_forward(params, x[rows, idx])
            loss = nn.functional.cross_entropy(logits.flatten(0, 1), y[idx].flatten(), reduction="none")
            loss = loss.view(k, -1).mean(1).sum()  # independent per-model mean losses
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
    accuracies = []
    with torch.no_grad():
        for i, (model, job) in enumerate(zip(models, jobs)):
            for name, p in model.named_parameters():
                p.copy_(params[name][i])
            accuracies.append(float(evaluate_accuracy(model, job["x_test"], job["y_test"])))
    return accuracies


# ----------------------------------------------------------------------------------------
# Fingerprints and the cell cache


def _fingerprint(*arrays: np.ndarray) -> str:
    digest = hashlib.sha256()
    for arr in arrays:
        arr = np.ascontiguousarray(arr)
        digest.update(f"{arr.dtype.str}{arr.shape}".encode())
        digest.update(arr.tobytes())
    return digest.hexdigest()


def _model_fingerprint(model: nn.Module) -> str:
    tensors = [t.detach().cpu().numpy() for t in model.state_dict().values()]
    return _fingerprint(*tensors)


def _callable_id(func: Callable) -> str:
    target = func if hasattr(func, "__qualname__") else type(func)
    return f"{getattr(target, '__module__', '?')}.{getattr(target, '__qualname__', repr(target))}"


def _read_cell(path: Path, digest: str) -> float | None:
    """The cached accuracy of a cell, or ``None`` (with a warning if the file is bad)."""
    if not path.exists():
        return None
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
        accuracy = payload["accuracy"]
        if payload.get("digest") != digest:
            raise ValueError("digest does not match")
        if not isinstance(accuracy, (int, float)) or not 0.0 <= float(accuracy) <= 1.0:
            raise ValueError(f"accuracy {accuracy!r} is not a number in [0, 1]")
        return float(accuracy)
    except Exception as err:  # noqa: BLE001 - any unreadable file is recomputed
        warnings.warn(
            f"ROAR cache file {path} is unreadable ({type(err).__name__}: {err}); recomputing it",
            RuntimeWarning,
            stacklevel=4,
        )
        return None


def _write_cell(path: Path, digest: str, config: dict[str, Any], accuracy: float, seconds: float) -> None:
    payload = {"digest": digest, "config": config, "accuracy": accuracy, "seconds": seconds}
    atomic_write_bytes(path, json.dumps(payload, sort_keys=True, default=str).encode("utf-8"))


# ----------------------------------------------------------------------------------------
# The metric


def _check_thresholds(thresholds: Any) -> tuple[float, ...]:
    try:
        values = [float(t) for t in np.atleast_1d(np.asarray(thresholds, dtype=float))]
    except (TypeError, ValueError) as err:
        raise ValueError(f"thresholds must be numbers in [0, 1], got {thresholds!r}") from err
    if not values:
        raise ValueError("thresholds must not be empty")
    bad = [t for t in values if not (math.isfinite(t) and 0.0 <= t <= 1.0)]
    if bad:
        raise ValueError(f"thresholds must lie in [0, 1], got {bad}")
    return tuple(sorted(set(values)))


class ROAR(Metric):
    """RemOve And Retrain (Hooker et al. 2019).

    For each threshold ``t`` the top fraction ``t`` of each image's features (ranked by the
    attribution, ties broken randomly with ``seed``) is replaced by the per-channel mean of
    the training set, in the training and the test images; a fresh model of the same
    architecture is trained on the degraded training set ``n_repeats`` times and its test
    accuracy recorded. Lower accuracy at a given ``t`` means the estimator found more of
    the information the model class needs.

    Parameters
    ----------
    thresholds : sequence of float, default (0, .1, .3, .5, .7, .9)
        Fractions of features removed, each in ``[0, 1]``.
    n_repeats : int, default 5
        Models trained per threshold (different seeds).
    train_func : callable, optional
        ``train_func(model, x, y, seed, **train_kwargs) -> model``, called with a copy of the
        model re-initialised layer by layer (each layer's own initialiser, seeded from
        ``(seed, threshold, repeat)``) and numpy arrays. Default: :func:`xai_sanity.training.fit`
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
        cells. ``None``: no caching.
    retrain : bool, default True
        ``False`` evaluates the original model on the degraded test set (a deletion curve,
        "no retraining"; one repeat).
    abs : bool, default False
        Rank by ``|a|``.
    return_repeats : bool, default False
        Return per-threshold lists of accuracies instead of the means.
    batched : bool, default False
        Train the models of several cells at once with ``torch.func.stack_module_state``
        and ``vmap`` (built-in recipe only; models without buffers or dropout). Same recipe
        and seeds, not bit-identical to the sequential numbers; cached separately.
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
    attributions come from ``a_test`` or ``explain_func``. The model (only its architecture,
    unless ``retrain=False``) is left untouched, and the global RNG states are not used.

    Rong et al. (ICML 2022, ROAD) show that the removal pattern itself can leak class
    information to the retrained model; see the module docstring.
    """

    name = "ROAR"
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
        self._thresholds = _check_thresholds(self.thresholds)
        if (
            isinstance(self.n_repeats, bool)
            or not isinstance(self.n_repeats, (int, np.integer))
            or self.n_repeats < 1
        ):
            raise ValueError(f"n_repeats must be a positive integer, got {self.n_repeats!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")
        if self.train_func is not None and not callable(self.train_func):
            raise TypeError("train_func must be callable")
        if self.train_kwargs is not None and not isinstance(self.train_kwargs, Mapping):
            raise TypeError("train_kwargs must be a dict")
        if self.executor is not None and not isinstance(self.executor, cf.Executor):
            raise TypeError("executor must be a concurrent.futures.Executor")
        if self.batched and self.train_func is not None:
            raise ValueError("batched=True trains with the built-in recipe; it cannot use train_func")
        if self.batch_cells is not None and (
            isinstance(self.batch_cells, bool)
            or not isinstance(self.batch_cells, (int, np.integer))
            or self.batch_cells < 1
        ):
            raise ValueError(f"batch_cells must be a positive integer or None, got {self.batch_cells!r}")

    # -- attributions ---------------------------------------------------------------------
    def _attributions(
        self,
        model: nn.Module,
        x: np.ndarray,
        y: np.ndarray,
        a: np.ndarray | None,
        explain_func: Callable | None,
        explain_func_kwargs: dict[str, Any],
        batch_size: int,
        name: str,
    ) -> np.ndarray:
        if a is None:
            if explain_func is None:
                raise ValueError(f"give {name} (precomputed attributions) or explain_func")
            a = explain_in_batches(explain_func, model, x, y, batch_size, **explain_func_kwargs)
        _, _, a, _ = check_batch(x, y, a)
        if self.abs:
            a = np.abs(a)
        return a

    # -- the protocol ---------------------------------------------------------------------
    # The architecture is retrained: the model is always needed.
    requires_model: ClassVar[bool] = True

    def _evaluate(
        self,
        *,
        model: nn.Module,
        x_batch: np.ndarray,
        y_batch: np.ndarray,
        a_batch: np.ndarray | None,
        explain_func: Callable | None,
        explain_func_kwargs: dict[str, Any],
        device: str | None,
        batch_size: int,
        custom_batch: Any,
        x_test: np.ndarray | None = None,
        y_test: np.ndarray | None = None,
        a_test: np.ndarray | None = None,
        estimator_name: str | None = None,
        **unused: Any,
    ) -> dict[float, Any]:
        """The checked call (see :meth:`Metric.__call__`), plus the test set: ``custom_batch=
        (x_test, y_test[, a_test])`` or ``x_test=``, ``y_test=``, ``a_test=``; ``a_batch``
        covers the training set ``x_batch``."""
        self._check_params()
        x_train, y_train, a_train = x_batch, y_batch, a_batch
        if custom_batch is None and x_test is None and self.test_data is not None:
            custom_batch = self.test_data
        if custom_batch is not None:
            if (
                x_test is not None
                or not isinstance(custom_batch, (tuple, list))
                or len(custom_batch) not in (2, 3)
            ):
                raise ValueError("custom_batch must be (x_test, y_test) or (x_test, y_test, a_test)")
            x_test, y_test = custom_batch[0], custom_batch[1]
            a_test = custom_batch[2] if len(custom_batch) == 3 else a_test
        if x_test is None or y_test is None:
            raise ValueError(
                f"{self.method} needs a test set: custom_batch=(x_test, y_test), x_test=, y_test= "
                "or test_data= at construction"
            )
        x_test, y_test, a_test, _ = check_batch(x_test, y_test, a_test)
        if x_test.shape[1:] != x_train.shape[1:]:
            raise ValueError(
                f"x_test images {x_test.shape[1:]} differ from x_batch images {x_train.shape[1:]}"
            )
        ekw = explain_func_kwargs
        if device is not None:
            ekw.setdefault("device", device)
        if estimator_name is None:
            estimator_name = (
                "a_batch"
                if explain_func is None
                else getattr(explain_func, "name", None)
                or getattr(explain_func, "__name__", type(explain_func).__name__)
            )

        with model_guard(model, eval_mode=False, freeze=False):
            model.eval()
            a_train = self._attributions(
                model, x_train, y_train, a_train, explain_func, ekw, batch_size, "a_batch"
            )
            a_test = self._attributions(
                model, x_test, y_test, a_test, explain_func, ekw, batch_size, "a_test"
            )
            rows = self._run(model, x_train, y_train, a_train, x_test, y_test, a_test, estimator_name)

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
    ) -> list[dict[str, Any]]:
        x_train = x_train.astype(np.float32, copy=False)
        x_test = x_test.astype(np.float32, copy=False)
        fill = x_train.mean(axis=(0, *range(2, x_train.ndim)), dtype=np.float64)
        train_func = self.train_func if self.train_func is not None else _default_train
        train_kwargs = dict(self.train_kwargs or {})
        if self.train_func is None:
            train_kwargs = {**DEFAULT_TRAIN_KWARGS, **train_kwargs}
        n_repeats = int(self.n_repeats) if self.retrain else 1
        base_config = {
            "format_version": CACHE_FORMAT_VERSION,
            "method": self.method,
            "per_pixel": bool(self.per_pixel),
            "retrain": bool(self.retrain),
            "seed": int(self.seed),
            "data": _fingerprint(x_train, y_train, x_test, y_test),
            "architecture": str(model),
            "trainer": _callable_id(train_func) if self.retrain else None,
            "train_kwargs": train_kwargs if self.retrain else None,
            "weights": None if self.retrain else _model_fingerprint(model),
            "torch": ".".join(torch.__version__.split("+")[0].split(".")[:2]),
            "batched": bool(self.batched and self.retrain),
        }
        cache = Path(self.cache_dir).expanduser() if self.cache_dir is not None else None
        template = model if self.executor is None else copy.deepcopy(model).cpu()

        rows: list[dict[str, Any]] = []
        pending: list[tuple[dict[str, Any], dict[str, Any], str, Path | None, dict[str, Any]]] = []
        options = {"keep": self._keep, "per_pixel": self.per_pixel, "seed": int(self.seed)}
        for t in self._thresholds:
            # Only the jobs hold the degraded arrays: a threshold served wholly from the cache
            # frees them at the next iteration.
            x_train_t = remove_features(x_train, a_train, t, fill, stream=0, **options)
            x_test_t = remove_features(x_test, a_test, t, fill, stream=1, **options)
            # Cells are keyed by the degraded data itself rather than by the attributions, so
            # cells whose data does not depend on the estimator (0% or 100% removed), or on
            # which two estimators agree, are trained once and shared.
            degraded_id = _fingerprint(x_train_t, x_test_t)
            for r in range(n_repeats):
                config = {**base_config, "threshold": t, "repeat": r, "degraded": degraded_id}
                digest = config_digest(config)
                path = cache / f"{self.method.lower()}_{digest[:32]}.json" if cache is not None else None
                row = {"estimator": estimator, "method": self.method, "threshold": t, "repeat": r}
                cached = _read_cell(path, digest) if path is not None else None
                if cached is not None:
                    rows.append({**row, "accuracy": cached, "from_cache": True})
                    continue
                job = {
                    "model": template,
                    "retrain": bool(self.retrain),
                    "cell_seed": _cell_seed(self.seed, t, r),
                    "train_func": train_func,
                    "train_kwargs": train_kwargs,
                    "x_train": x_train_t,
                    "y_train": y_train,
                    "x_test": x_test_t,
                    "y_test": y_test,
                }
                pending.append((row, job, digest, path, config))

        def finish(
            row: dict[str, Any], digest: str, path: Path | None, config: dict, acc: float, sec: float
        ) -> None:
            rows.append({**row, "accuracy": acc, "from_cache": False})
            if path is not None:
                _write_cell(path, digest, config, acc, sec)

        if self.batched and self.retrain and pending:
            size = int(self.batch_cells or len(pending))
            chunks = [pending[i : i + size] for i in range(0, len(pending), size)]
            tasks = [(_run_cells_batched, [item[1] for item in chunk], chunk) for chunk in chunks]
        else:
            tasks = [
                (_run_cell, job, [(row, job, digest, path, config)])
                for row, job, digest, path, config in pending
            ]

        def record(chunk: list, result: Any, seconds: float) -> None:
            values = result if isinstance(result, list) else [result]
            for (row, _, digest, path, config), acc in zip(chunk, values):
                finish(row, digest, path, config, float(acc), seconds / len(values))

        if self.executor is None:
            for func, arg, chunk in tasks:
                start = time.perf_counter()
                result = func(arg)
                record(chunk, result, time.perf_counter() - start)
        else:
            start = time.perf_counter()
            futures = {self.executor.submit(func, arg): chunk for func, arg, chunk in tasks}
            error: BaseException | None = None
            for future in cf.as_completed(futures):
                try:
                    result = future.result()
                except BaseException as err:  # noqa: BLE001 - keep finished cells, then raise
                    if error is None:
                        error = err
                        for other in futures:
                            other.cancel()
                    continue
                record(futures[future], result, time.perf_counter() - start)
            if error is not None:
                raise error
        return rows

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


# ----------------------------------------------------------------------------------------
# Several estimators, controls and the plot


def control_estimators(seed: int = 0) -> dict[str, Callable]:
    """The controls of Hooker et al. (2019): a random ranking and a Sobel edge filter."""
    from ..explainers.controls import RandomAttribution, SobelEdges

    return {"Random": RandomAttribution(seed=seed), "Sobel": SobelEdges()}


def run_roar(
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
        Chunk size of the explain calls.
    **metric_kwargs
        Constructor arguments of :class:`ROAR` / :class:`KAR` (thresholds, n_repeats, ...).

    Returns
    -------
    pandas.DataFrame
        Columns ``estimator, method, threshold, repeat, accuracy, from_cache``.
    """
    classes = {"ROAR": ROAR, "KAR": KAR}
    if str(method).upper() not in classes:
        raise ValueError(f"method must be 'ROAR' or 'KAR', got {method!r}")
    metric = classes[str(method).upper()](**metric_kwargs)
    frames = []
    for name, estimator in estimators.items():
        if callable(estimator):
            call = {"explain_func": estimator, "explain_func_kwargs": explain_func_kwargs}
        elif isinstance(estimator, (tuple, list)) and len(estimator) == 2:
            call = {"a_batch": estimator[0], "a_test": estimator[1]}
        else:
            raise TypeError(f"estimator {name!r} must be an explain function or (a_train, a_test)")
        metric(
            model,
            x_train,
            y_train,
            x_test=x_test,
            y_test=y_test,
            batch_size=batch_size,
            estimator_name=str(name),
            **call,
        )
        frames.append(metric.results_)
    return pd.concat(frames, ignore_index=True)


def plot_roar(
    df: pd.DataFrame, path: str | Path | None = None, ax: Any = None, title: str | None = None
) -> Any:
    """Test accuracy against the fraction removed: one curve per estimator, ±1 std band.

    Parameters
    ----------
    df : pandas.DataFrame
        :func:`run_roar`'s output (or ``ROAR.results_``; several concatenated).
    path : str or path, optional
        Save the figure there.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 3.5))
    else:
        fig = ax.figure
    group_cols = ["estimator", "method"] if "method" in df and df["method"].nunique() > 1 else ["estimator"]
    groups = list(df.groupby(group_cols, sort=False))
    # Distinct colours beyond matplotlib's ten; the controls drawn dashed in black and grey.
    palette = plt.get_cmap("tab20" if len(groups) > 10 else "tab10").colors
    controls = {"Random": "black", "Sobel": "grey", "SobelEdges": "grey"}
    for i, (key, part) in enumerate(groups):
        label = " ".join(map(str, key)) if isinstance(key, tuple) else str(key)
        name = key[0] if isinstance(key, tuple) else key
        style = (
            {"color": controls[name], "linestyle": "--"}
            if name in controls
            else {"color": palette[i % len(palette)]}
        )
        stats = part.groupby("threshold")["accuracy"].agg(["mean", "std"]).fillna(0.0)
        t = stats.index.to_numpy() * 100
        (line,) = ax.plot(t, stats["mean"], marker="o", label=label, **style)
        ax.fill_between(
            t, stats["mean"] - stats["std"], stats["mean"] + stats["std"], color=line.get_color(), alpha=0.2
        )
    ax.set_xlabel("% of input features removed")
    ax.set_ylabel("test accuracy")
    if title:
        ax.set_title(title)
    ax.legend(frameon=False)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=150)
    return fig


for _cls, _aliases in ((ROAR, ("Remove And Retrain",)), (KAR, ("Keep And Retrain",))):
    METRICS.register(_cls, name=_cls.__name__, aliases=_aliases)
