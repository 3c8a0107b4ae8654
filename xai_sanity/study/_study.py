"""``xai_sanity.Study``: models × seeds × methods × metrics as one resumable, distributable run.

The inputs and cells of a study are resolved in :mod:`._plan`, computed (here or on an
executor) in :mod:`._run`; each cell's work, keys and cache files are in :mod:`._cells`.
"""

from __future__ import annotations

import inspect
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from torch import nn
from tqdm.auto import tqdm

from .._validation import check_positive_int
from ..evaluation import score_direction
from ..report.labels import describe_metric
from ._cells import Row, StudyCache
from ._plan import Label, Models, Unit, as_data, as_seeds, methods_per_seed, metrics_per_seed, named, plan
from ._run import compute, warn_if_forking

__all__ = ["COLUMNS", "CellInfo", "Study", "run_study"]

#: The columns of a study's frame.
COLUMNS = ["model", "method", "metric", "seed", "sample", "score", "error"]


class CellInfo(NamedTuple):
    """What a study's ``callback`` receives as each cell finishes.

    Attributes
    ----------
    model, method, metric : str
        The cell's names in the study.
    seed : int
    from_cache : bool
        Whether the rows came from ``cache_dir`` (or from an identical cell of this run).
    seconds : float
        Time the cell's metric took (0 for cached cells).
    error : str or None
        The first error recorded in the cell, if any (failed cells are not cached).
    """

    model: str
    method: str
    metric: str
    seed: int
    from_cache: bool
    seconds: float
    error: str | None


class Study:
    """Every model × seed × method × metric, as one tidy table; resumable and distributable.

    Each cell (model, method, metric, seed) is one :func:`xai_sanity.evaluate` of one method
    and one metric on one model; a method explains the data once per model and seed. The
    seed reaches every stochastic piece of a cell: a model factory is called with it, and
    methods and metrics with a ``seed`` (or ``random_state``) parameter get it, replacing any
    seed they were given (copies are seeded; the objects given are not changed). Metrics that
    take no seed and are not xai_sanity's run with NumPy's global generator seeded with it and
    restored after, so Quantus's stochastic metrics are reproducible too.

    Parameters
    ----------
    models : dict of str to nn.Module or callable
        A model (the same for every seed), or a factory ``f(seed) -> nn.Module`` (one model per
        seed, built once per run in this process; a factory that trains should cache what it
        trains, as :func:`xai_sanity.training.load_default_model` does, since with
        ``cache_dir`` every run builds the models to key the cells by their weights).
    methods : dict of str to explain function, registered name or (name, params)
        E.g. ``{"Saliency": "Saliency", "SG": xs.SmoothGrad(n_samples=16)}``; names resolve
        through :func:`xai_sanity.build_method`.
    metrics : dict of str to metric, registered name or (name, params), optional
        Names resolve through :data:`xai_sanity.METRICS`. Default: the default suite,
        :func:`xai_sanity.reproduce.demo.default_metrics` built for each seed.
    data : tuple or dict
        ``(x, y)``, ``(x, y, s)`` or ``{"x": ..., "y": ..., "s": ...}``: inputs ``(N, C, ...)``,
        labels and optional masks, checked once here.
    seeds : sequence of int, default (0, 1, 2)
        Distinct seeds >= 0.
    cache_dir : str or path, optional
        Folder of finished cells, one JSON file each, written atomically as each cell ends; a
        rerun (after a crash, a kill, or with more models, methods, metrics or seeds)
        computes only what is missing, and several processes may share the folder, also
        from several hosts (ROAR's locks, :class:`xai_sanity.metrics.roar.cache.CellCache`).
        A cell's key covers the model's class, structure and weights (not its ``forward``
        code), the method and the metric (class and settings, not past scores), the data,
        the seed, ``explain_func_kwargs``, ``batch_size`` and the versions of xai_sanity,
        torch and quantus; not the names in the study (renaming reuses cells) and not the
        device. Cells that failed are not cached.
    device : str, optional
        Passed to every metric, as by :func:`xai_sanity.evaluate`.
    batch_size : int, default 64
        Passed to every metric.
    explain_func_kwargs : dict, optional
        Passed to every explain call.

    Examples
    --------
    >>> import numpy as np, torch, xai_sanity as xs
    >>> def linear(seed):
    ...     torch.manual_seed(seed)
    ...     return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 4 * 4, 3))
    >>> x = np.random.default_rng(0).random((4, 3, 4, 4), dtype=np.float32)
    >>> study = xs.Study(models={"linear": linear}, methods={"Saliency": "Saliency"},
    ...                  metrics={"Sensitivity": ("MaxSensitivity", {"nr_samples": 2})},
    ...                  data=(x, np.array([0, 1, 2, 0])), seeds=(0, 1))
    >>> frame = study.run(progress=False)
    >>> list(frame.columns), len(frame)
    (['model', 'method', 'metric', 'seed', 'sample', 'score', 'error'], 8)
    """

    def __init__(
        self,
        *,
        models: Mapping[str, nn.Module | Callable[[int], nn.Module]],
        methods: Mapping[str, Any],
        metrics: Mapping[str, Any] | None = None,
        data: Any,
        seeds: Sequence[int] = (0, 1, 2),
        cache_dir: str | Path | None = None,
        device: str | None = None,
        batch_size: int = 64,
        explain_func_kwargs: dict[str, Any] | None = None,
    ) -> None:
        self.models = named(models, "models")
        for name, spec in self.models.items():
            if not isinstance(spec, nn.Module) and not callable(spec):
                raise TypeError(f"model {name!r} must be an nn.Module or a callable seed -> nn.Module")
        self.seeds = as_seeds(seeds)
        self.data = as_data(data)
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir is not None else None
        self.device = device
        self.batch_size = check_positive_int(batch_size, "batch_size")
        if explain_func_kwargs is not None and not isinstance(explain_func_kwargs, Mapping):
            raise TypeError(f"explain_func_kwargs must be a dict, got {type(explain_func_kwargs).__name__}")
        self.explain_func_kwargs = dict(explain_func_kwargs or {})
        self.method_names, self._methods = methods_per_seed(methods, self.seeds)
        self.metric_names, self._metrics = metrics_per_seed(
            metrics, self.seeds, has_masks=self.data[2] is not None
        )
        #: After :meth:`run`: counts of cells (``cells``, ``from_cache``, ``computed``,
        #: ``failed``) and the run's ``seconds``.
        self.last_run: dict[str, float] = {}

    def __repr__(self) -> str:
        return (
            f"Study(models={list(self.models)}, methods={self.method_names}, metrics={self.metric_names}, "
            f"seeds={list(self.seeds)}, cache_dir={str(self.cache_dir) if self.cache_dir else None!r})"
        )

    @property
    def n_cells(self) -> int:
        """The number of (model, method, metric, seed) cells."""
        return len(self.models) * len(self.seeds) * len(self.method_names) * len(self.metric_names)

    def _labels(self) -> list[Label]:
        """Every cell's (model, method, metric, seed), by model, seed, method and metric."""
        return [
            (model, method, metric, seed)
            for model in self.models
            for seed in self.seeds
            for method in self.method_names
            for metric in self.metric_names
        ]

    def run(
        self,
        executor: Executor | None = None,
        progress: bool = True,
        callback: Callable[[CellInfo], Any] | None = None,
    ) -> pd.DataFrame:
        """Compute every cell not in ``cache_dir``; return the whole study as one tidy frame.

        Parameters
        ----------
        executor : concurrent.futures.Executor, optional
            Where the cells run, one task per (model, seed, method): e.g. a
            ``ProcessPoolExecutor`` (with ``mp_context=multiprocessing.get_context("forkserver")``
            or ``"spawn"``: forked workers can hang in torch's thread pool, a warning says so)
            or a Dask cluster's ``Client(...).get_executor()``. Models,
            methods, metrics and data are pickled (with cloudpickle if installed) and sent to
            the workers; a ``TypeError`` names what does not pickle. Results (and the cache
            files, written here as tasks return) equal those of a sequential run. Default:
            sequential, in this process.
        progress : bool, default True
            Show a progress bar over the cells.
        callback : callable, optional
            Called with a :class:`CellInfo` as each cell is served from the cache or computed.

        Returns
        -------
        pandas.DataFrame
            Columns ``model, method, metric, seed, sample, score, error`` (as
            :func:`xai_sanity.evaluate`'s, with the model and seed), ordered by model, seed,
            method, metric and sample; ``attrs`` holds each metric's better ``direction`` and
            header ``label``, as :func:`xai_sanity.evaluate` sets them. Sets :attr:`last_run`.
        """
        if executor is not None and not callable(getattr(executor, "submit", None)):
            raise TypeError(f"executor must be a concurrent.futures.Executor, got {type(executor).__name__}")
        warn_if_forking(executor)
        start = time.perf_counter()
        cache = StudyCache(self.cache_dir).prepare()
        models = Models(self.models)
        results: dict[Label, list[Row]] = {}
        counts: Counter[str] = Counter({"from_cache": 0, "computed": 0, "failed": 0})
        bar = tqdm(total=self.n_cells, desc="study", disable=not progress)

        def record(unit: Unit, rows: list[Row], from_cache: bool, seconds: float) -> None:
            error = next((row[3] for row in rows if row[3] is not None), None)
            for label in unit.labels:
                results[label] = rows
                counts["from_cache" if from_cache else "computed"] += 1
                counts["failed"] += error is not None
                bar.update(1)
                if callback is not None:
                    callback(CellInfo(*label, from_cache, 0.0 if from_cache else seconds, error))

        def finished(unit: Unit, rows: list[Row], seconds: float) -> None:
            cache.write(unit.path, unit.digest, unit.config, rows, seconds)
            models.cell_done(*unit.group[:2])
            record(unit, rows, False, seconds)

        def served(unit: Unit, rows: list[Row]) -> None:  # computed meanwhile by another process
            models.cell_done(*unit.group[:2])
            record(unit, rows, True, 0.0)

        try:
            units, cached = plan(
                self._labels(), cache, models, self._methods, self._metrics, self.data,
                self.explain_func_kwargs, self.batch_size,
            )  # fmt: skip
            pending = []
            for unit in units:
                if unit.digest in cached:
                    record(unit, cached[unit.digest], True, 0.0)
                else:
                    pending.append(unit)
            models.remaining.update(unit.group[:2] for unit in pending)
            options = {
                "explain_func_kwargs": self.explain_func_kwargs,
                "device": self.device,
                "batch_size": self.batch_size,
            }
            if pending:
                cache.compute_once(
                    pending,
                    lambda mine: compute(
                        mine, models, self._methods, self._metrics, self.data, options, executor, finished
                    ),
                    served=served,
                    # One group (model, seed, method) at a time, so that processes share the work.
                    chunk=None if executor is not None else len(self.metric_names),
                )
        finally:
            bar.close()
            self.last_run = {"cells": self.n_cells, **counts, "seconds": time.perf_counter() - start}
        return self._frame(results)

    def _frame(self, results: Mapping[Label, list[Row]]) -> pd.DataFrame:
        records = [
            (model, method, metric + suffix, seed, sample, score, error)
            for label in self._labels()
            for (model, method, metric, seed) in (label,)
            for suffix, sample, score, error in results[label]
        ]
        frame = pd.DataFrame.from_records(records, columns=COLUMNS)
        frame = frame.astype({"seed": np.int64, "sample": np.int64, "score": np.float64})
        frame["error"] = frame["error"].astype(object).where(frame["error"].notna(), None)
        first = {name: self._metrics[(name, self.seeds[0])] for name in self.metric_names}
        frame.attrs["direction"] = {name: score_direction(metric) for name, metric in first.items()}
        frame.attrs["label"] = {name: describe_metric(metric, name) for name, metric in first.items()}
        return frame


def run_study(
    *,
    executor: Executor | None = None,
    progress: bool = True,
    callback: Callable[[CellInfo], Any] | None = None,
    **study: Any,
) -> pd.DataFrame:
    """``Study(...).run(...)`` in one call; see :class:`Study` and :meth:`Study.run`.

    Takes the keyword arguments of both (its signature lists them all): those of :meth:`Study.run`
    go to the run, the others to :class:`Study`.
    """
    return Study(**study).run(executor=executor, progress=progress, callback=callback)


def _run_study_signature() -> inspect.Signature:
    """The keywords of :class:`Study` then those of :meth:`Study.run`, as ``run_study`` takes them."""
    own = list(inspect.signature(run_study).parameters.values())[:-1]  # less **study
    shared = [p for p in inspect.signature(Study.__init__).parameters.values() if p.name != "self"]
    return inspect.Signature(
        [*shared, *own], return_annotation=inspect.signature(run_study).return_annotation
    )


run_study.__signature__ = _run_study_signature()  # type: ignore[attr-defined]
