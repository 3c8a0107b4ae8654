"""The skeleton the runners share: their settings, their opening and their closing.

Each runner (the demo and the reproductions) has a frozen settings dataclass derived from
:class:`RunSettings` with a ``full`` and a ``quick`` instance, calls :func:`prepare` to make
the output folder and load the default splits, loads its models through
:meth:`Prepared.load_model`, registers what it writes in :attr:`Prepared.files` and ends with
:meth:`Prepared.write_summary`. The run's seed goes to every stochastic piece; for metrics,
:func:`with_seed` and :class:`GlobalNumpySeed` do that.
"""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm


@dataclass(frozen=True)
class RunSettings:
    """What every runner's settings hold.

    Attributes
    ----------
    mode : str
        ``"full"`` or ``"quick"``, as recorded in the summary.
    n_train, n_test : int
        Sizes of the default train and test splits (also those the models are trained on).
    model_epochs : int or None
        Training epochs of the default models; ``None`` keeps the trainer's default.
    """

    mode: str
    n_train: int
    n_test: int
    model_epochs: int | None

    @classmethod
    def full(cls) -> RunSettings:
        """The settings of a full run."""
        raise NotImplementedError(f"{cls.__name__} has no full settings")

    @classmethod
    def quick(cls) -> RunSettings:
        """The settings of a small, fast run."""
        raise NotImplementedError(f"{cls.__name__} has no quick settings")

    @classmethod
    def for_mode(cls, quick: bool) -> RunSettings:
        """:meth:`quick` when ``quick`` is true, else :meth:`full`."""
        return cls.quick() if quick else cls.full()


@dataclass
class Prepared:
    """Everything a runner has after :func:`prepare`: where to write, the data, the options.

    Attributes
    ----------
    out : pathlib.Path
        The output folder (it exists).
    settings : RunSettings
        The run's settings.
    seed : int
        The run's seed, for every stochastic piece.
    device : str or None
        Torch device for models and explanations.
    progress : bool
        Whether to show progress bars.
    echo : callable
        Where the runner's messages go (``print`` by default).
    train, test : SemiNaturalData
        The default splits at the settings' sizes, drawn with the run's seed.
    start : float
        ``time.perf_counter()`` when the run began.
    files : dict of str to pathlib.Path
        What the run wrote, by key; the runner adds to it.
    timings : dict of str to float
        Seconds per stage recorded with :meth:`timed` (``data_s`` by :func:`prepare`).
    """

    out: Path
    settings: Any
    seed: int
    device: str | None
    progress: bool
    echo: Callable[..., Any]
    train: Any
    test: Any
    start: float
    files: dict[str, Path] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def mode(self) -> str:
        """``"full"`` or ``"quick"``."""
        return self.settings.mode

    def elapsed(self) -> float:
        """Seconds since the run began."""
        return time.perf_counter() - self.start

    def file(self, key: str, name: str) -> Path:
        """The path ``out / name``, recorded in :attr:`files` under ``key``."""
        self.files[key] = self.out / name
        return self.files[key]

    def bar(self, iterable: Iterable[Any], desc: str) -> Iterable[Any]:
        """``iterable`` with a progress bar, or as it is when progress is off."""
        return tqdm(iterable, desc=desc, disable=not self.progress)

    @contextmanager
    def timed(self, key: str) -> Iterator[None]:
        """Record the seconds the block takes in :attr:`timings` under ``key``."""
        t = time.perf_counter()
        try:
            yield
        finally:
            self.timings[key] = time.perf_counter() - t

    def load_model(self, arch: str, **overrides: Any) -> tuple[Any, dict[str, Any]]:
        """Train or load the default ``arch`` for these settings and this seed.

        Parameters
        ----------
        arch : str
            A default architecture (e.g. ``"lenet"``).
        **overrides
            Further arguments of :func:`xai_sanity.training.load_default_model`.

        Returns
        -------
        tuple
            The model and its training record.
        """
        from ..training import load_default_model

        kwargs: dict[str, Any] = {"seed": self.seed, "n_train": self.settings.n_train}
        kwargs["n_test"] = self.settings.n_test
        if self.settings.model_epochs is not None:
            kwargs["epochs"] = self.settings.model_epochs
        kwargs.update(device=self.device, progress=self.progress, **overrides)
        return load_default_model(arch, **kwargs)

    def info(self, **extra: Any) -> dict[str, Any]:
        """The start of the summary: mode and seed, then ``extra``."""
        return {"mode": self.mode, "seed": self.seed, **extra}

    def write_summary(self, info: dict[str, Any], name: str, key: str = "info") -> Path:
        """Add ``total_s`` (and ``timings_s`` if any were recorded) to ``info`` and write it
        as JSON to ``out / name``, recorded in :attr:`files` under ``key``."""
        if self.timings:
            info["timings_s"] = {k: round(v, 2) for k, v in self.timings.items()}
        info["total_s"] = round(self.elapsed(), 1)
        path = self.file(key, name)
        path.write_text(json.dumps(info, indent=2, default=str), encoding="utf-8")
        return path

    def echo_done(self, total_s: float, what: str = "written") -> None:
        """The closing line: where the files are and how long the run took."""
        self.echo(f"{what} to {self.out.resolve()} in {total_s:.1f} s")


def prepare(
    out_dir: str | Path,
    settings: RunSettings,
    *,
    device: str | None = None,
    seed: int = 0,
    progress: bool = True,
    echo: Callable[..., Any] = print,
    message: str | None = None,
) -> Prepared:
    """Open a run: make ``out_dir``, start the clock, load the default splits.

    Parameters
    ----------
    out_dir : str or pathlib.Path
        Output folder; made if missing.
    settings : RunSettings
        The run's settings (their ``n_train``/``n_test`` size the splits).
    device, seed, progress, echo
        The run's options, kept on the result.
    message : str, optional
        Echoed before the data is loaded.

    Returns
    -------
    Prepared
        With the splits loaded and ``timings["data_s"]`` recorded.
    """
    from ..data import load_default_splits

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    if message:
        echo(message)
    train, test = load_default_splits(n_train=settings.n_train, n_test=settings.n_test, seed=seed)
    prepared = Prepared(
        out=out, settings=settings, seed=seed, device=device, progress=progress, echo=echo,
        train=train, test=test, start=start,
    )  # fmt: skip
    prepared.timings["data_s"] = time.perf_counter() - start
    return prepared


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
