"""How a study's cells are computed: in this process, or on a ``concurrent.futures`` executor.

The work unit is a *group*: one model, seed and method, explained once and scored by every
metric still missing for it (:func:`xai_sanity.study._cells.compute_group`). In this process
the groups run one after the other; on an executor a bounded number of them is submitted at
a time, pickled part by part so that an error names what does not pickle, and each result is
handed to ``finished`` (which writes the cache) as it returns.
"""

from __future__ import annotations

import warnings
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Executor, ProcessPoolExecutor, wait
from typing import Any

from ._cells import Row, compute_group, dumps, in_flight_limit, run_task
from ._plan import Data, Models, Unit

#: A group's key: (model, seed, method).
Group = tuple[str, int, str]
#: Called with each finished unit, its rows and the seconds its metric took.
Finished = Callable[[Unit, list[Row], float], None]


def warn_if_forking(executor: Any) -> None:
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


def compute(
    units: list[Unit],
    models: Models,
    methods: Mapping[tuple[str, int], Callable],
    metrics: Mapping[tuple[str, int], Any],
    data: Data,
    options: dict[str, Any],
    executor: Executor | None,
    finished: Finished,
) -> None:
    """Compute ``units`` group by group, here or on ``executor``; ``finished`` gets each one.

    ``methods`` and ``metrics`` are keyed by ``(name, seed)``; ``options`` holds the keywords
    of every cell (``explain_func_kwargs``, ``device``, ``batch_size``).
    """
    groups: OrderedDict[Group, list[Unit]] = OrderedDict()
    for unit in units:
        groups.setdefault(unit.group, []).append(unit)
    by_index = {unit.index: unit for unit in units}

    def cells(group: list[Unit]) -> list[tuple[int, str, Any]]:
        """``(unit index, metric name, metric)`` of each unit of a group."""
        return [(u.index, u.labels[0][2], metrics[(u.labels[0][2], u.labels[0][3])]) for u in group]

    def done(index: int, rows: list[Row], seconds: float) -> None:
        finished(by_index[index], rows, seconds)

    if executor is None:
        for (model, seed, method), group in groups.items():
            compute_group(
                models.get(model, seed), data, method, methods[(method, seed)], cells(group),
                on_cell=done, **options,
            )  # fmt: skip
        return
    queue = [(key, cells(group)) for key, group in groups.items()]
    _compute_on(executor, queue, models, methods, data, options, done)


def _compute_on(
    executor: Executor,
    queue: list[tuple[Group, list[tuple[int, str, Any]]]],
    models: Models,
    methods: Mapping[tuple[str, int], Callable],
    data: Data,
    options: dict[str, Any],
    done: Callable[[int, list[Row], float], None],
) -> None:
    """Submit the groups of ``queue`` to ``executor`` (a bounded number at a time), in order;
    hand each cell's result to ``done`` as its group returns."""
    data_blob = dumps(data, "the study's data")
    model_blobs: dict[tuple[str, int], bytes] = {}
    option_blobs = {key: dumps(value, key) for key, value in options.items()}
    left = Counter((model, seed) for (model, seed, _), _ in queue)
    queue = queue[::-1]
    futures: dict[Any, Group] = {}
    limit = in_flight_limit(executor)
    try:
        while queue or futures:
            while queue and len(futures) < limit:
                (model, seed, method), cells = queue.pop()
                if (model, seed) not in model_blobs:
                    model_blobs[(model, seed)] = dumps(
                        models.get(model, seed), f"model {model!r} (seed {seed})"
                    )
                    models.drop(model, seed)
                what = f"method {method!r} (seed {seed})"
                parts = [
                    ("model", f"model {model!r} (seed {seed})", model_blobs[(model, seed)]),
                    ("data", "the study's data", data_blob),
                    ("method_name", "a method name", dumps(method, "a method name")),
                    ("method", what, dumps(methods[(method, seed)], what)),
                    ("cells", f"the metrics of seed {seed}", _cell_blob(cells, seed)),
                    *((key, key, blob) for key, blob in option_blobs.items()),
                ]
                left[(model, seed)] -= 1
                if not left[(model, seed)]:
                    del model_blobs[(model, seed)]
                futures[executor.submit(run_task, parts)] = (model, seed, method)
            finished_now, _ = wait(list(futures), return_when=FIRST_COMPLETED)
            for future in finished_now:
                futures.pop(future)
                for index, rows, seconds in future.result():
                    done(index, rows, seconds)
    finally:
        for future in futures:
            future.cancel()


def _cell_blob(cells: list[tuple[int, str, Any]], seed: int) -> bytes:
    """The cells of a group pickled; a metric that does not pickle is named in the error."""
    for _, name, metric in cells:
        dumps(metric, f"metric {name!r} (seed {seed})")
    return dumps(cells, f"the metrics of seed {seed}")
