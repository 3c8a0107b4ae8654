"""The pieces of a study cell: seeding, cache keys, the cache files and the work itself.

A cell is one (model, method, metric, seed). Its key is a digest of everything that
determines its scores; its result is the list of rows :func:`xai_sanity.evaluate` gives for
it, kept in one JSON file written atomically by :class:`StudyCache`, which shares ROAR's
locks and stale-lock recovery (:class:`xai_sanity.metrics.roar.cache.CellCache`). The work
unit sent to an executor is a *group*: one model, seed and method, explained once and
scored by every metric still missing for it.
"""

from __future__ import annotations

import copy
import functools
import inspect
import json
import pickle
import threading
import time
import types
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from .._seeding import GlobalNumpySeed
from ..cache import atomic_write_bytes
from ..evaluation import evaluate
from ..explain import build_method
from ..explainers.base import Explainer
from ..metrics.base import Metric
from ..metrics.roar.cache import CellCache
from ..metrics.roar.fingerprints import callable_id, value_fingerprint
from ..registry import METRICS

#: Bump when anything that changes cached study cells (or their keys) changes.
STUDY_CACHE_FORMAT = 1
#: Parameter names through which a study's seed reaches methods and metrics.
SEED_NAMES = ("seed", "random_state")
#: Attributes a metric fills when called; they are not part of what it computes.
RESULT_ATTRIBUTES = frozenset({"evaluation_scores", "all_evaluation_scores"})

#: Rows of one cell as cached: (metric suffix, sample, score, error).
Row = tuple[str, int, float, Any]

_GLOBAL_RNG_LOCK = threading.Lock()


# -- seeds ----------------------------------------------------------------------------------


def seed_parameter(func: Callable[..., Any]) -> str | None:
    """The name of ``func``'s seed parameter (``seed`` or ``random_state``), or ``None``."""
    try:
        params = inspect.signature(func).parameters
    except (TypeError, ValueError):
        return None
    return next((name for name in SEED_NAMES if name in params), None)


class SeededGlobalNumpy(GlobalNumpySeed):
    """:class:`GlobalNumpySeed` that holds a lock, so threads never interleave the global state."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with _GLOBAL_RNG_LOCK:
            return super().__call__(*args, **kwargs)

    def __repr__(self) -> str:
        return f"SeededGlobalNumpy({self.metric!r}, seed={self.seed})"


def seeded_method(method: Callable, seed: int, name: str) -> Callable:
    """``method`` with every seed it has set to ``seed`` (a copy; the original is untouched).

    Explainers get ``seed``/``random_state`` set at every nesting level (an enhancer's base
    too); a plain function with such a parameter gets it bound. An explainer that draws from
    a ``generator`` is refused: a shared stream would make a cell depend on the others.
    """
    if isinstance(method, Explainer):
        params = method.get_params(deep=True)
        shared = [k for k, v in params.items() if k.rpartition("__")[2] == "generator" and v is not None]
        if shared:
            raise ValueError(
                f"method {name!r} draws from a shared generator ({shared[0]}=...); a study seeds each "
                "cell itself: leave generator=None"
            )
        updates = {k: int(seed) for k in params if k.rpartition("__")[2] in SEED_NAMES}
        return copy.deepcopy(method).set_params(**updates) if updates else method
    target = method.func if isinstance(method, functools.partial) else method
    parameter = seed_parameter(target)
    return functools.partial(method, **{parameter: int(seed)}) if parameter else method


def seeded_metric(metric: Any, seed: int, fresh: bool = False) -> Any:
    """``metric`` with its seed set to ``seed``, as a copy unless ``fresh`` (built for this seed).

    A metric that stores ``seed``/``random_state`` gets it set. One that does not and is not
    one of ours (which draw only from private generators) runs with NumPy's global generator
    seeded with ``seed`` and restored after (:class:`SeededGlobalNumpy`), as the
    reproductions run Quantus's stochastic metrics.
    """
    state = getattr(metric, "__dict__", {})
    for attr in SEED_NAMES:
        if attr in state:
            metric = metric if fresh else copy.deepcopy(metric)
            setattr(metric, attr, int(seed))
            return metric
    if isinstance(metric, Metric):
        return metric
    return SeededGlobalNumpy(metric, int(seed))  # a wrapper: the metric itself is not changed


def build_metric(spec: Any, seed: int, name: str) -> Any:
    """A metric for one seed from a registered name, ``(name, params)`` or an object."""
    if isinstance(spec, str):
        spec = (spec, {})
    if isinstance(spec, tuple):
        if len(spec) != 2 or not isinstance(spec[0], str) or not isinstance(spec[1], Mapping):
            raise TypeError(f"metric {name!r}: a tuple must be (registered name, {{params}}), got {spec!r}")
        factory = METRICS[spec[0]]
        # One score per sample, as a table needs, unless the spec says otherwise.
        params = {**getattr(factory, "per_sample_params", {}), **spec[1]}
        parameter = seed_parameter(factory)
        if parameter:
            params[parameter] = int(seed)
        return seeded_metric(factory(**params), seed, fresh=True)
    if not callable(spec):
        raise TypeError(
            f"metric {name!r} must be a registered name, (name, params) or a metric, got {spec!r}"
        )
    return seeded_metric(spec, seed)


def resolve_method(spec: Any, name: str) -> Callable:
    """An explain function from a registered name, ``(name, params)`` or a callable."""
    if isinstance(spec, tuple):
        if len(spec) != 2 or not isinstance(spec[0], str) or not isinstance(spec[1], Mapping):
            raise TypeError(f"method {name!r}: a tuple must be (registered name, {{params}}), got {spec!r}")
        return build_method(spec[0], **spec[1])
    if isinstance(spec, str) or callable(spec):
        return build_method(spec)
    raise TypeError(f"method {name!r} must be a registered name, (name, params) or an explain function")


# -- keys -----------------------------------------------------------------------------------


def checked_fingerprint(value: Any, what: str) -> str:
    try:
        return value_fingerprint(value, what)
    except TypeError as err:
        raise TypeError(
            f"cannot fingerprint {what} for the study cache: {err}. Run the study without cache_dir, "
            "or give an object whose state is plain values, arrays, tensors or functions"
        ) from err


def metric_fingerprint(metric: Any, what: str) -> str:
    """The fingerprint of a metric's class and settings (not of the scores it kept)."""
    if isinstance(metric, GlobalNumpySeed):
        return checked_fingerprint(
            ["global-numpy-seed", metric.seed, metric_fingerprint(metric.metric, what)], what
        )
    call = getattr(type(metric), "__call__", None)  # noqa: B004 - the code behind it
    state = getattr(metric, "__dict__", None)
    if state is None or not isinstance(call, types.FunctionType):  # functions, partials, C objects
        return checked_fingerprint(metric, what)
    kept = {k: v for k, v in state.items() if k not in RESULT_ATTRIBUTES}
    return checked_fingerprint({"class": callable_id(type(metric)), "call": call, "state": kept}, what)


def model_fingerprint(model: nn.Module, what: str) -> str:
    """The fingerprint of a model's class, structure and state dict."""
    return checked_fingerprint({"class": callable_id(type(model)), "repr": repr(model), "state": model}, what)


def environment() -> dict[str, str]:
    """Versions of what computes the scores, part of every key."""
    import quantus
    import torch

    from .. import __version__

    return {
        "format": str(STUDY_CACHE_FORMAT),
        "xai_sanity": __version__,
        "torch": torch.__version__,
        "quantus": getattr(quantus, "__version__", "?"),
    }


# -- the cache ------------------------------------------------------------------------------


class StudyCache(CellCache):
    """:class:`CellCache` whose cell files hold the rows of a study cell instead of an accuracy.

    Locks, stale-lock recovery, :meth:`read` and :meth:`compute_once` are those of the ROAR
    cache; only :meth:`decode` and :meth:`write` differ. Rows with an error are never written,
    so a failed cell is computed again by the next run.
    """

    kind = "study"

    def decode(self, payload: dict[str, Any]) -> list[Row]:  # type: ignore[override]
        """The rows held by a cell file's ``payload``; raises if one is not a row."""
        rows = []
        for suffix, sample, score in payload["rows"]:
            if not isinstance(suffix, str) or isinstance(sample, bool) or not isinstance(sample, int):
                raise ValueError(f"bad row {[suffix, sample, score]!r}")
            if isinstance(score, bool) or not isinstance(score, (int, float)):
                raise ValueError(f"score {score!r} is not a number")
            rows.append((suffix, sample, float(score), None))
        return rows

    def write(  # type: ignore[override]
        self, path: Path | None, digest: str, config: dict[str, Any], rows: list[Row], seconds: float
    ) -> None:
        """Write a cell's rows atomically (unless one holds an error), then release its lock."""
        if path is not None and not any(row[3] is not None for row in rows):
            payload = {
                "digest": digest,
                "config": config,
                "rows": [[suffix, sample, score] for suffix, sample, score, _ in rows],
                "seconds": seconds,
            }
            text = json.dumps(payload, sort_keys=True, default=str, allow_nan=True)
            atomic_write_bytes(path, text.encode("utf-8"))
        self.release(path)


# -- the work -------------------------------------------------------------------------------


def compute_group(
    model: nn.Module,
    data: tuple[np.ndarray, np.ndarray, np.ndarray | None],
    method_name: str,
    method: Callable,
    cells: list[tuple[Any, str, Any]],
    explain_func_kwargs: dict[str, Any] | None,
    device: str | None,
    batch_size: int,
    on_cell: Callable[[Any, list[Row], float], None] | None = None,
) -> list[tuple[Any, list[Row], float]]:
    """Score one method on one model with several metrics: one :func:`evaluate` per cell.

    The method explains the data once (as :func:`evaluate` would); each metric gets its own
    copy, so no state passes between cells and the order of cells does not matter. If the
    explanation fails, each cell's :func:`evaluate` records the failure itself.

    Parameters
    ----------
    cells : list of (key, metric name, metric)
    on_cell : callable, optional
        Called with ``(key, rows, seconds)`` as each cell finishes.

    Returns
    -------
    list of (key, rows, seconds)
    """
    x, y, s = data
    kwargs = dict(explain_func_kwargs or {})
    try:
        a_batches: dict[str, np.ndarray] | None = {
            method_name: np.asarray(method(model, x, y, **kwargs), dtype=np.float32)
        }
    except Exception:  # noqa: BLE001 - evaluate() below records the error of each cell
        a_batches = None
    results = []
    for key, metric_name, metric in cells:
        start = time.perf_counter()
        try:
            metric = copy.deepcopy(metric)
        except Exception as err:  # noqa: BLE001 - reported with the metric's name
            raise TypeError(
                f"metric {metric_name!r} cannot be copied ({type(err).__name__}: {err}); a study gives "
                "each cell its own copy, so that no state passes between cells"
            ) from err
        frame = evaluate(
            model, x, y, s,
            methods={method_name: method},
            metrics={metric_name: metric},
            a_batches=a_batches,
            explain_func_kwargs=kwargs,
            device=device,
            batch_size=batch_size,
            progress=False,
        )  # fmt: skip
        rows: list[Row] = [
            (label[len(metric_name) :], int(sample), float(score), error if isinstance(error, str) else None)
            for label, sample, score, error in zip(
                frame["metric"], frame["sample"], frame["score"], frame["error"]
            )
        ]
        seconds = time.perf_counter() - start
        if on_cell is not None:
            on_cell(key, rows, seconds)
        results.append((key, rows, seconds))
    return results


def _pickler() -> Callable[[Any], bytes]:
    try:
        import cloudpickle
    except ImportError:  # pragma: no cover - cloudpickle comes with dask
        return functools.partial(pickle.dumps, protocol=pickle.HIGHEST_PROTOCOL)
    return functools.partial(cloudpickle.dumps, protocol=pickle.HIGHEST_PROTOCOL)


def dumps(value: Any, what: str) -> bytes:
    """``value`` pickled for a worker (with cloudpickle if installed); ``TypeError`` naming ``what``."""
    try:
        return _pickler()(value)
    except Exception as err:  # noqa: BLE001 - any pickling failure is reported the same way
        raise TypeError(
            f"{what} cannot be sent to the executor: it does not pickle ({type(err).__name__}: {err}). "
            "Define its classes and functions at module level, or run the study without executor="
        ) from err


def run_task(parts: list[tuple[str, str, bytes]]) -> list[tuple[Any, list[Row], float]]:
    """The worker side of a group: unpickle its parts, then :func:`compute_group`.

    ``parts`` holds ``(argument, description, pickled value)``; a part that cannot be loaded
    on the worker raises ``RuntimeError`` naming it.
    """
    arguments = {}
    for argument, what, blob in parts:
        try:
            arguments[argument] = pickle.loads(blob)
        except Exception as err:  # noqa: BLE001 - reported with the part's name
            raise RuntimeError(
                f"a worker could not load {what} ({type(err).__name__}: {err}); workers need the same "
                "packages as the client and must be able to import the modules its classes live in"
            ) from err
    return compute_group(**arguments)


def in_flight_limit(executor: Any) -> int:
    """How many groups to keep submitted at once: twice the workers when that is known."""
    workers = getattr(executor, "_max_workers", None)
    client = getattr(executor, "_client", None)
    if workers is None and client is not None:
        try:
            workers = sum(client.nthreads().values())
        except Exception:  # noqa: BLE001 - an unusual client: fall back to the default
            workers = None
    if isinstance(workers, int) and workers > 0:
        return max(2, 2 * workers)
    return 64
