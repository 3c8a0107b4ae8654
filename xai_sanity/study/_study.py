"""``xai_sanity.Study``: models × seeds × methods × metrics as one resumable, distributable run."""

from __future__ import annotations

import time
import warnings
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from torch import nn
from tqdm.auto import tqdm

from .._safety import preserve_global_rng
from .._validation import check_batch, check_positive_int
from ..cache import config_digest
from ..evaluation import score_direction
from ..metrics.roar.fingerprints import fingerprint
from ..report.labels import describe_metric
from ._cells import (
    Row,
    StudyCache,
    build_metric,
    checked_fingerprint,
    compute_group,
    dumps,
    environment,
    in_flight_limit,
    metric_fingerprint,
    model_fingerprint,
    resolve_method,
    run_task,
    seeded_method,
    seeded_metric,
)

__all__ = ["COLUMNS", "CellInfo", "Study", "run_study"]

#: The columns of a study's frame.
COLUMNS = ["model", "method", "metric", "seed", "sample", "score", "error"]

Label = tuple[str, str, str, int]  # (model, method, metric, seed)


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


@dataclass
class _Unit:
    """One distinct cell: cells of the run with the same digest are computed once."""

    index: int
    digest: str
    path: Path | None
    config: dict[str, Any]
    labels: list[Label] = field(default_factory=list)

    @property
    def group(self) -> tuple[str, int, str]:
        model, method, _, seed = self.labels[0]
        return model, seed, method


def _as_data(data: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    if isinstance(data, Mapping):
        aliases = {"x": "x", "x_batch": "x", "y": "y", "y_batch": "y", "s": "s", "s_batch": "s"}
        unknown = sorted(set(data) - set(aliases))
        if unknown:
            raise ValueError(f"data has unknown keys {unknown}; allowed: 'x', 'y', 's' (or x_batch, ...)")
        given = {aliases[k]: v for k, v in data.items()}
        if "x" not in given or "y" not in given:
            raise ValueError("data must hold 'x' and 'y' (and optionally 's')")
        parts = (given["x"], given["y"], given.get("s"))
    elif isinstance(data, (tuple, list)) and len(data) in (2, 3):
        parts = (data[0], data[1], data[2] if len(data) == 3 else None)
    else:
        raise TypeError("data must be (x, y), (x, y, s) or {'x': ..., 'y': ..., 's': ...}")
    x, y, _, s = check_batch(parts[0], parts[1], None, parts[2])
    return x, y, s


def _names(mapping: Any, what: str) -> dict[str, Any]:
    if not isinstance(mapping, Mapping) or not mapping:
        raise ValueError(f"{what} must be a non-empty dict of name -> {what[:-1]}")
    bad = [k for k in mapping if not isinstance(k, str) or not k]
    if bad:
        raise TypeError(f"{what} names must be non-empty strings, got {bad!r}")
    return dict(mapping)


def _seeds(seeds: Any) -> tuple[int, ...]:
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        seeds = (seeds,)
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Iterable):
        raise TypeError(f"seeds must be a sequence of integers >= 0, got {seeds!r}")
    out = tuple(check_positive_int(s, "each seed", minimum=0) for s in seeds)
    if not out:
        raise ValueError("seeds is empty: give at least one seed, e.g. seeds=(0, 1, 2)")
    if len(set(out)) != len(out):
        raise ValueError(f"seeds must be distinct, got {list(out)}")
    return out


class _Models:
    """The models of a run, built on first use (factories once per seed) and dropped after."""

    def __init__(self, specs: Mapping[str, Any]) -> None:
        self.specs = specs
        self.built: dict[tuple[str, int], nn.Module] = {}
        #: Cells still to compute per (model, seed); a built model is dropped when it reaches 0.
        self.remaining: Counter[tuple[str, int]] = Counter()

    def get(self, name: str, seed: int) -> nn.Module:
        spec = self.specs[name]
        if isinstance(spec, nn.Module):
            return spec
        if (name, seed) not in self.built:
            with preserve_global_rng():  # a factory's module constructors draw from torch's global RNG
                model = spec(seed)
            if not isinstance(model, nn.Module):
                raise TypeError(
                    f"model factory {name!r} returned a {type(model).__name__} for seed {seed}; it must "
                    "return a torch.nn.Module"
                )
            self.built[(name, seed)] = model
        return self.built[(name, seed)]

    def drop(self, name: str, seed: int) -> None:
        self.built.pop((name, seed), None)

    def cell_done(self, name: str, seed: int) -> None:
        self.remaining[(name, seed)] -= 1
        if self.remaining[(name, seed)] <= 0:
            self.drop(name, seed)


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
        self.models = _names(models, "models")
        for name, spec in self.models.items():
            if not isinstance(spec, nn.Module) and not callable(spec):
                raise TypeError(f"model {name!r} must be an nn.Module or a callable seed -> nn.Module")
        self.seeds = _seeds(seeds)
        self.data = _as_data(data)
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir is not None else None
        self.device = device
        self.batch_size = check_positive_int(batch_size, "batch_size")
        if explain_func_kwargs is not None and not isinstance(explain_func_kwargs, Mapping):
            raise TypeError(f"explain_func_kwargs must be a dict, got {type(explain_func_kwargs).__name__}")
        self.explain_func_kwargs = dict(explain_func_kwargs or {})
        base_methods = {n: resolve_method(m, n) for n, m in _names(methods, "methods").items()}
        self.method_names = list(base_methods)
        self._methods = {
            (name, seed): seeded_method(method, seed, name)
            for name, method in base_methods.items()
            for seed in self.seeds
        }
        if metrics is None:
            from ..reproduce.demo import default_metrics

            per_seed = {seed: default_metrics(seed=seed) for seed in self.seeds}
            self._metrics = {
                (name, seed): seeded_metric(metric, seed, fresh=True)
                for seed, suite in per_seed.items()
                for name, metric in suite.items()
            }
            self.metric_names = list(per_seed[self.seeds[0]])
        else:
            specs = _names(metrics, "metrics")
            self._metrics = {
                (name, seed): build_metric(spec, seed, name)
                for name, spec in specs.items()
                for seed in self.seeds
            }
            self.metric_names = list(specs)
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

    # -- planning ---------------------------------------------------------------------------
    def _labels(self) -> list[Label]:
        return [
            (model, method, metric, seed)
            for model in self.models
            for seed in self.seeds
            for method in self.method_names
            for metric in self.metric_names
        ]

    def _plan(self, cache: StudyCache, models: _Models) -> tuple[list[_Unit], dict[str, list[Row]]]:
        """The distinct cells with their keys (cells with equal keys share one unit), and the
        rows of those already in the cache.

        With a cache, each model is built (factories once per seed) and keyed by its weights;
        a model none of whose cells is missing is dropped at once.
        """
        labels = self._labels()
        if cache.directory is None:
            return [_Unit(i, repr(label), None, {}, [label]) for i, label in enumerate(labels)], {}
        x, y, s = self.data
        shared = {
            "environment": environment(),
            "data": fingerprint(x, y, *(() if s is None else (s,))),
            "explain_func_kwargs": checked_fingerprint(self.explain_func_kwargs, "explain_func_kwargs"),
            "batch_size": self.batch_size,
        }
        method_ids = {
            key: checked_fingerprint(method, f"method {key[0]!r} (seed {key[1]})")
            for key, method in self._methods.items()
        }
        metric_ids = {
            key: metric_fingerprint(metric, f"metric {key[0]!r} (seed {key[1]})")
            for key, metric in self._metrics.items()
        }
        units: dict[str, _Unit] = {}
        cached: dict[str, list[Row]] = {}
        weights: dict[str, str] = {}
        for name, spec in self.models.items():
            for seed in self.seeds:
                if isinstance(spec, nn.Module):
                    if name not in weights:
                        weights[name] = model_fingerprint(spec, f"model {name!r}")
                    model_id = weights[name]
                else:
                    model_id = model_fingerprint(models.get(name, seed), f"model {name!r} (seed {seed})")
                block = []
                for method in self.method_names:
                    for metric in self.metric_names:
                        config = {
                            **shared,
                            "seed": seed,
                            "model": model_id,
                            "method": method_ids[(method, seed)],
                            "metric": metric_ids[(metric, seed)],
                        }
                        digest = config_digest(config)
                        if digest not in units:
                            names = {"model": name, "method": method, "metric": metric, "seed": seed}
                            path = cache.path("study", digest)
                            units[digest] = _Unit(len(units), digest, path, {**config, "names": names})
                            rows = cache.read(path, digest)
                            if rows is not None:
                                cached[digest] = rows
                        units[digest].labels.append((name, method, metric, seed))
                        block.append(digest)
                if all(digest in cached for digest in block):
                    models.drop(name, seed)
        return list(units.values()), cached

    # -- running ----------------------------------------------------------------------------
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
        _warn_if_forking(executor)
        start = time.perf_counter()
        cache = StudyCache(self.cache_dir).prepare()
        models = _Models(self.models)
        results: dict[Label, list[Row]] = {}
        counts: Counter[str] = Counter({"from_cache": 0, "computed": 0, "failed": 0})
        bar = tqdm(total=self.n_cells, desc="study", disable=not progress)

        def record(unit: _Unit, rows: list[Row], from_cache: bool, seconds: float) -> None:
            error = next((row[3] for row in rows if row[3] is not None), None)
            for label in unit.labels:
                results[label] = rows
                counts["from_cache" if from_cache else "computed"] += 1
                counts["failed"] += error is not None
                bar.update(1)
                if callback is not None:
                    callback(CellInfo(*label, from_cache, 0.0 if from_cache else seconds, error))

        def finished(unit: _Unit, rows: list[Row], seconds: float) -> None:
            cache.write(unit.path, unit.digest, unit.config, rows, seconds)
            models.cell_done(*unit.group[:2])
            record(unit, rows, False, seconds)

        def served(unit: _Unit, rows: list[Row]) -> None:  # computed meanwhile by another process
            models.cell_done(*unit.group[:2])
            record(unit, rows, True, 0.0)

        try:
            units, cached = self._plan(cache, models)
            pending = []
            for unit in units:
                if unit.digest in cached:
                    record(unit, cached[unit.digest], True, 0.0)
                else:
                    pending.append(unit)
            models.remaining.update(unit.group[:2] for unit in pending)
            if pending:
                cache.compute_once(
                    pending,
                    lambda mine: self._compute(mine, models, executor, finished),
                    served=served,
                    # One group (model, seed, method) at a time, so that processes share the work.
                    chunk=None if executor is not None else len(self.metric_names),
                )
        finally:
            bar.close()
            self.last_run = {"cells": self.n_cells, **counts, "seconds": time.perf_counter() - start}
        return self._frame(results)

    def _compute(
        self,
        units: list[_Unit],
        models: _Models,
        executor: Executor | None,
        finished: Callable[[_Unit, list[Row], float], None],
    ) -> None:
        groups: OrderedDict[tuple[str, int, str], list[_Unit]] = OrderedDict()
        for unit in units:
            groups.setdefault(unit.group, []).append(unit)
        x, y, s = self.data
        options = {
            "explain_func_kwargs": self.explain_func_kwargs,
            "device": self.device,
            "batch_size": self.batch_size,
        }

        def cells(group: list[_Unit]) -> list[tuple[int, str, Any]]:
            return [(u.index, u.labels[0][2], self._metrics[(u.labels[0][2], u.labels[0][3])]) for u in group]

        by_index = {unit.index: unit for unit in units}
        if executor is None:
            for (model, seed, method), group in groups.items():
                compute_group(
                    models.get(model, seed), (x, y, s), method, self._methods[(method, seed)], cells(group),
                    on_cell=lambda index, rows, seconds: finished(by_index[index], rows, seconds),
                    **options,
                )  # fmt: skip
            return
        self._compute_on(executor, groups, models, cells, options, by_index, finished)

    def _compute_on(self, executor, groups, models, cells, options, by_index, finished) -> None:
        """Submit the groups to ``executor`` (a bounded number at a time); write results as they come."""
        data = dumps(self.data, "the study's data")
        model_blobs: dict[tuple[str, int], bytes] = {}
        option_blobs = {key: dumps(value, key) for key, value in options.items()}
        left = Counter((model, seed) for model, seed, _ in groups)
        queue = list(groups.items())
        queue.reverse()
        futures: dict[Any, tuple[str, int, str]] = {}
        limit = in_flight_limit(executor)
        try:
            while queue or futures:
                while queue and len(futures) < limit:
                    (model, seed, method), group = queue.pop()
                    if (model, seed) not in model_blobs:
                        model_blobs[(model, seed)] = dumps(
                            models.get(model, seed), f"model {model!r} (seed {seed})"
                        )
                        models.drop(model, seed)
                    what = f"method {method!r} (seed {seed})"
                    parts = [
                        ("model", f"model {model!r} (seed {seed})", model_blobs[(model, seed)]),
                        ("data", "the study's data", data),
                        ("method_name", "a method name", dumps(method, "a method name")),
                        ("method", what, dumps(self._methods[(method, seed)], what)),
                        ("cells", f"the metrics of seed {seed}", self._cell_blob(cells(group), seed)),
                        *((key, key, blob) for key, blob in option_blobs.items()),
                    ]
                    left[(model, seed)] -= 1
                    if not left[(model, seed)]:
                        del model_blobs[(model, seed)]
                    futures[executor.submit(run_task, parts)] = (model, seed, method)
                done, _ = wait(list(futures), return_when=FIRST_COMPLETED)
                for future in done:
                    futures.pop(future)
                    for index, rows, seconds in future.result():
                        finished(by_index[index], rows, seconds)
        finally:
            for future in futures:
                future.cancel()

    def _cell_blob(self, cells: list[tuple[int, str, Any]], seed: int) -> bytes:
        for _, name, metric in cells:  # name the metric that does not pickle
            dumps(metric, f"metric {name!r} (seed {seed})")
        return dumps(cells, f"the metrics of seed {seed}")

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


def _warn_if_forking(executor: Any) -> None:
    """Warn about a process pool that forks: its workers may hang in torch's thread pool."""
    context = getattr(executor, "_mp_context", None)
    method = getattr(context, "get_start_method", lambda: None)()
    if isinstance(executor, ProcessPoolExecutor) and method == "fork":
        warnings.warn(
            "executor is a ProcessPoolExecutor whose workers are forked; workers forked from a process "
            "in which torch has run can hang. Create it with "
            "mp_context=multiprocessing.get_context('forkserver') (or 'spawn')",
            RuntimeWarning,
            stacklevel=3,
        )


def run_study(
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
    executor: Executor | None = None,
    progress: bool = True,
    callback: Callable[[CellInfo], Any] | None = None,
) -> pd.DataFrame:
    """``Study(...).run(...)`` in one call; see :class:`Study` and :meth:`Study.run`."""
    study = Study(
        models=models, methods=methods, metrics=metrics, data=data, seeds=seeds, cache_dir=cache_dir,
        device=device, batch_size=batch_size, explain_func_kwargs=explain_func_kwargs,
    )  # fmt: skip
    return study.run(executor=executor, progress=progress, callback=callback)
