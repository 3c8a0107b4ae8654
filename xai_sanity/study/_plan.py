"""What a study runs: its checked inputs, the seeded methods and metrics, and its cells.

A study's inputs are checked once (:func:`as_data`, :func:`named`, :func:`as_seeds`); each
method and metric is resolved and seeded per seed (:func:`methods_per_seed`,
:func:`metrics_per_seed`); :func:`plan` turns the (model, method, metric, seed) labels into
the distinct cells to compute, keyed for the cache. :class:`Models` builds each model when
first needed and drops it when its last cell is done.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from .._safety import preserve_global_rng
from .._validation import check_batch, check_positive_int
from ..cache import config_digest
from ..metrics.roar.fingerprints import fingerprint
from ._cells import (
    Row,
    StudyCache,
    build_metric,
    checked_fingerprint,
    environment,
    metric_fingerprint,
    model_fingerprint,
    resolve_method,
    seeded_method,
    seeded_metric,
)

Label = tuple[str, str, str, int]  # (model, method, metric, seed)
Data = tuple[np.ndarray, np.ndarray, "np.ndarray | None"]


@dataclass
class Unit:
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


# -- inputs ---------------------------------------------------------------------------------


def as_data(data: Any) -> Data:
    """``(x, y, s)`` from ``(x, y)``, ``(x, y, s)`` or a dict of them, checked."""
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


def named(mapping: Any, what: str) -> dict[str, Any]:
    """``mapping`` as a dict, checked to be non-empty with non-empty string names."""
    if not isinstance(mapping, Mapping) or not mapping:
        raise ValueError(f"{what} must be a non-empty dict of name -> {what[:-1]}")
    bad = [k for k in mapping if not isinstance(k, str) or not k]
    if bad:
        raise TypeError(f"{what} names must be non-empty strings, got {bad!r}")
    return dict(mapping)


def as_seeds(seeds: Any) -> tuple[int, ...]:
    """Distinct seeds >= 0 from one integer or a sequence of them."""
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


def methods_per_seed(methods: Any, seeds: Sequence[int]) -> tuple[list[str], dict[tuple[str, int], Callable]]:
    """The method names, and each method resolved and seeded per ``(name, seed)``."""
    base = {n: resolve_method(m, n) for n, m in named(methods, "methods").items()}
    seeded = {
        (name, seed): seeded_method(method, seed, name) for name, method in base.items() for seed in seeds
    }
    return list(base), seeded


def metrics_per_seed(
    metrics: Any, seeds: Sequence[int], has_masks: bool = True
) -> tuple[list[str], dict[tuple[str, int], Any]]:
    """The metric names, and each metric built and seeded per ``(name, seed)``; ``None``
    gives the default suite (:func:`xai_sanity.jobs.metrics_by_name`) per seed, less the
    metrics that need masks when there are none. Named metrics that need masks without
    them are refused (``ValueError``)."""
    if metrics is None:
        from ..jobs import metrics_by_name

        per_seed = {seed: metrics_by_name(None, seed=seed, has_masks=has_masks) for seed in seeds}
        built = {
            (name, seed): seeded_metric(metric, seed, fresh=True)
            for seed, suite in per_seed.items()
            for name, metric in suite.items()
        }
        return list(per_seed[seeds[0]]), built
    specs = named(metrics, "metrics")
    built = {(name, seed): build_metric(spec, seed, name) for name, spec in specs.items() for seed in seeds}
    needy = [n for n in specs if getattr(built[(n, seeds[0])], "requires_s_batch", False)]
    if needy and not has_masks:
        raise ValueError(
            f"metrics {needy} need ground-truth masks (s_batch) and the data has none: give masks "
            "with the data ((x, y, s); in a config, a [data] file with 's' or 'masks'), or leave "
            "these metrics out"
        )
    return list(specs), built


# -- models ---------------------------------------------------------------------------------


class Models:
    """The models of a run, built on first use (factories once per seed) and dropped after."""

    def __init__(self, specs: Mapping[str, Any]) -> None:
        self.specs = specs
        self.built: dict[tuple[str, int], nn.Module] = {}
        #: Cells still to compute per (model, seed); a built model is dropped when it reaches 0.
        self.remaining: Counter[tuple[str, int]] = Counter()
        self._fingerprints: dict[str, str] = {}  # of the models given as modules, by name

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

    def fingerprint(self, name: str, seed: int) -> str:
        """The key of a model's weights (built for ``seed`` if a factory; a module given as it
        is, the same for every seed, is fingerprinted once)."""
        spec = self.specs[name]
        if not isinstance(spec, nn.Module):
            return model_fingerprint(self.get(name, seed), f"model {name!r} (seed {seed})")
        if name not in self._fingerprints:
            self._fingerprints[name] = model_fingerprint(spec, f"model {name!r}")
        return self._fingerprints[name]

    def drop(self, name: str, seed: int) -> None:
        self.built.pop((name, seed), None)

    def cell_done(self, name: str, seed: int) -> None:
        self.remaining[(name, seed)] -= 1
        if self.remaining[(name, seed)] <= 0:
            self.drop(name, seed)


# -- the cells ------------------------------------------------------------------------------


def plan(
    labels: Sequence[Label],
    cache: StudyCache,
    models: Models,
    methods: Mapping[tuple[str, int], Callable],
    metrics: Mapping[tuple[str, int], Any],
    data: Data,
    explain_func_kwargs: Mapping[str, Any],
    batch_size: int,
) -> tuple[list[Unit], dict[str, list[Row]]]:
    """The distinct cells with their keys (cells with equal keys share one unit), and the
    rows of those already in the cache.

    ``labels`` are ordered by model and seed first. With a cache, each model is built
    (factories once per seed) and keyed by its weights; a model none of whose cells is
    missing is dropped at once, before the next one is built.
    """
    if cache.directory is None:
        return [Unit(i, repr(label), None, {}, [label]) for i, label in enumerate(labels)], {}
    x, y, s = data
    shared = {
        "environment": environment(),
        "data": fingerprint(x, y, *(() if s is None else (s,))),
        "explain_func_kwargs": checked_fingerprint(explain_func_kwargs, "explain_func_kwargs"),
        "batch_size": batch_size,
    }
    method_ids = {
        key: checked_fingerprint(method, f"method {key[0]!r} (seed {key[1]})")
        for key, method in methods.items()
    }
    metric_ids = {
        key: metric_fingerprint(metric, f"metric {key[0]!r} (seed {key[1]})")
        for key, metric in metrics.items()
    }
    units: dict[str, Unit] = {}
    cached: dict[str, list[Row]] = {}
    for (name, seed), block in itertools.groupby(labels, key=lambda label: (label[0], label[3])):
        model_id = models.fingerprint(name, seed)
        digests = []
        for label in block:
            _, method, metric, _ = label
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
                units[digest] = Unit(len(units), digest, path, {**config, "names": names})
                rows = cache.read(path, digest)
                if rows is not None:
                    cached[digest] = rows
            units[digest].labels.append(label)
            digests.append(digest)
        if all(digest in cached for digest in digests):
            models.drop(name, seed)
    return list(units.values()), cached
