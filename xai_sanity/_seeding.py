"""Seeding pieces that take a seed, and metrics that draw from NumPy's global generator.

Used wherever a run's seed must reach every stochastic piece: the reproductions, the
``run``/``evaluate`` jobs and studies.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

__all__ = ["GlobalNumpySeed", "takes_seed", "with_seed"]


def takes_seed(factory: Callable[..., Any]) -> bool:
    """Whether ``factory`` (a metric class or function) has a ``seed`` parameter."""
    try:
        return "seed" in inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return False


def with_seed(factory: Callable[..., Any], params: Mapping[str, Any], seed: int) -> Any:
    """``factory(**params)``, with ``seed=seed`` added when the factory takes a seed."""
    return factory(**params, seed=seed) if takes_seed(factory) else factory(**params)


class GlobalNumpySeed:
    """A metric that draws from NumPy's global generator, run under a fixed seed.

    Some metrics (e.g. Quantus's ``FaithfulnessCorrelation``, which picks random pixel
    subsets) take no seed. Each call here seeds the global generator with ``seed`` first and
    restores its previous state after, so the scores are reproducible, every method is scored
    on the same draws, and nothing else's random stream is disturbed. Other attributes
    (e.g. ``score_direction``) are those of the wrapped metric.

    Parameters
    ----------
    metric : callable
        The metric.
    seed : int
        Seed of the global generator at each call.
    """

    def __init__(self, metric: Callable[..., Any], seed: int) -> None:
        self.metric = metric
        self.seed = seed

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        state = np.random.get_state()
        np.random.seed(self.seed)
        try:
            return self.metric(*args, **kwargs)
        finally:
            np.random.set_state(state)

    def __getattr__(self, name: str) -> Any:
        if name == "metric":  # not set yet (e.g. while unpickling)
            raise AttributeError(name)
        return getattr(self.metric, name)

    def __repr__(self) -> str:
        return f"GlobalNumpySeed({self.metric!r}, seed={self.seed})"
