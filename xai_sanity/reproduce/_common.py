"""The skeleton the runners share: their settings, their opening and their closing.

Each runner (the demo and the reproductions) has a frozen settings dataclass derived from
:class:`RunSettings` with a ``full`` and a ``quick`` instance, calls :func:`prepare` to make
the output folder and load the default splits, loads its models through
:meth:`Prepared.load_model`, registers what it writes in :attr:`Prepared.files` and ends with
:meth:`Prepared.write_summary`, which also writes ``summary.json``: the settings, the seed,
the package versions, the device, the command line, the start time and the duration — what
is needed to run it again (:func:`run_record`). The run's seed goes to every stochastic
piece; for metrics, :func:`with_seed` and :class:`GlobalNumpySeed` do that. A module's
``SETTINGS`` names its presets (``"full"``, ``"quick"``, maybe more); :func:`settings_for`
picks one.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import inspect
import json
import platform
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from .._seeding import GlobalNumpySeed, takes_seed, with_seed  # noqa: F401  (re-exported: their old home)


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
    def for_mode(cls, quick: bool, preset: str | None = None) -> RunSettings:
        """:meth:`quick` when ``quick`` is true, else :meth:`full`; or the named ``preset``.

        A preset is looked up in the ``SETTINGS`` table of the module that defines the class
        (see :func:`settings_for`).
        """
        if preset is None:
            return cls.quick() if quick else cls.full()
        table = getattr(sys.modules.get(cls.__module__), "SETTINGS", None)
        if not isinstance(table, Mapping):
            table = {"full": cls.full(), "quick": cls.quick()}
        return settings_for(table, quick, preset)


@dataclass(frozen=True)
class ExplainSettings(RunSettings):
    """The settings of a runner that explains test images with the paper's methods.

    Attributes
    ----------
    n_explain : int
        Test images explained and scored (for the sanity checks: at each randomisation step).
    ig_steps : int
        Integration points of Integrated Gradients.
    sg_samples : int
        Noisy inputs per SmoothGrad (and VarGrad) explanation.
    """

    n_explain: int
    ig_steps: int
    sg_samples: int


@dataclass(frozen=True)
class ComparisonSettings(ExplainSettings):
    """The settings of a reproduction that compares default architectures and the NoiseGrad
    family.

    Attributes
    ----------
    archs : tuple of str
        The default architectures (``"lenet"``, ``"vgg"``, ``"resnet"``) run.
    ng : tuple of int
        Noisy models of NoiseGrad and NoiseGrad++, and noisy inputs per model of NoiseGrad++.
    """

    archs: tuple[str, ...]
    ng: tuple[int, int]


def settings_for(settings: Mapping[str, Any], quick: bool = False, preset: str | None = None) -> Any:
    """The settings preset of a run: ``settings[preset]``, else ``"quick"`` or ``"full"``.

    Parameters
    ----------
    settings : mapping
        A runner module's ``SETTINGS`` (preset name → settings).
    quick : bool, default False
        Without ``preset``: take ``"quick"`` (else ``"full"``).
    preset : str, optional
        A key of ``settings``; with ``quick=True`` it must be ``"quick"``.

    Raises
    ------
    ValueError
        ``preset`` is not a key of ``settings`` (the message lists them), or contradicts
        ``quick``.
    """
    if preset is None:
        preset = "quick" if quick else "full"
    elif quick and preset != "quick":
        raise ValueError(f"quick=True and preset={preset!r} contradict each other; give one of them")
    if not isinstance(preset, str) or preset not in settings:
        raise ValueError(f"preset must be one of {list(settings)}, got {preset!r}")
    return settings[preset]


def package_versions() -> dict[str, str | None]:
    """Versions of Python and of the packages that determine the numbers (``None`` if absent)."""
    from importlib.metadata import PackageNotFoundError, version

    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in ("xai_sanity", "torch", "quantus", "numpy", "scipy", "pandas", "scikit-image", "captum"):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    if versions["xai_sanity"] is None:  # running from a source tree that is not installed
        from .. import __version__

        versions["xai_sanity"] = __version__
    return versions


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def device_name(device: Any) -> str:
    """``device`` as text, with the accelerator's name when it is a CUDA device."""
    import torch

    text = str(device) if device is not None else "cpu"
    if text.startswith("cuda") and torch.cuda.is_available():
        try:
            return f"{text} ({torch.cuda.get_device_name(torch.device(text))})"
        except (RuntimeError, AssertionError):
            return text
    return text


def run_record(
    *,
    config: Any,
    seed: int | Sequence[int] | None,
    device: Any,
    started: float,
    duration_s: float | None = None,
    argv: Sequence[str] | None = None,
) -> dict[str, Any]:
    """What is needed to run a job again, as a JSON-ready dict (``summary.json``'s ``run``).

    Parameters
    ----------
    config : dataclass, mapping or None
        The settings (a settings dataclass becomes a dict) or a config file's contents.
    seed : int or sequence of int
        The run's seed(s).
    device : str or torch.device or None
        Where it ran (``None``: CPU).
    started : float
        ``time.time()`` at the start.
    duration_s : float, optional
        Seconds it took.
    argv : sequence of str, optional
        The command line (default ``sys.argv``).
    """
    start = datetime.datetime.fromtimestamp(started, datetime.timezone.utc)
    return {
        "config": _jsonable(config),
        "seed": list(seed) if isinstance(seed, (list, tuple)) else seed,
        "device": device_name(device),
        "command": list(sys.argv if argv is None else argv),
        "started": start.isoformat(timespec="seconds"),
        "duration_s": None if duration_s is None else round(duration_s, 1),
        "versions": package_versions(),
    }


def write_json(path: str | Path, data: Mapping[str, Any]) -> Path:
    """Write ``data`` as indented JSON (values JSON cannot hold become strings)."""
    target = Path(path)
    target.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    return target


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
    started : float
        ``time.time()`` when the run began (the summary's start time).
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
    started: float = field(default_factory=time.time)
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

    def write_summary(self, info: dict[str, Any], name: str = "summary.json", key: str = "info") -> Path:
        """Add ``total_s`` (and ``timings_s`` if any were recorded) and ``run`` (the
        :func:`run_record`: settings, seed, versions, device, command line, start time,
        duration) to ``info`` and write it as JSON to ``out / name``, recorded in
        :attr:`files` under ``key``. When ``name`` is another file, ``summary.json`` is
        written too (under the key ``"summary"``), so every output folder has one."""
        if self.timings:
            info["timings_s"] = {k: round(v, 2) for k, v in self.timings.items()}
        info["total_s"] = round(self.elapsed(), 1)
        info["run"] = run_record(
            config=self.settings, seed=self.seed, device=self.device, started=self.started,
            duration_s=self.elapsed(),
        )  # fmt: skip
        path = write_json(self.file(key, name), info)
        if name != "summary.json":
            write_json(self.file("summary", "summary.json"), info)
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
    started, start = time.time(), time.perf_counter()
    if message:
        echo(message)
    train, test = load_default_splits(n_train=settings.n_train, n_test=settings.n_test, seed=seed)
    prepared = Prepared(
        out=out, settings=settings, seed=seed, device=device, progress=progress, echo=echo,
        train=train, test=test, start=start, started=started,
    )  # fmt: skip
    prepared.timings["data_s"] = time.perf_counter() - start
    return prepared


def runner(
    settings_cls: type[RunSettings], default_out: str, message: Callable[[Any], str] | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Make ``body(prep, **extra)`` a runner with the options every runner takes.

    The runner's signature is ``(out_dir=default_out, *, device=None, quick=False, seed=0,
    progress=True, echo=print, preset=None, **extra)`` — ``extra`` being the keyword-only
    parameters ``body`` declares after ``prep``. A call resolves the settings
    (``settings_cls.for_mode(quick, preset)``), opens the run with :func:`prepare` (echoing
    ``message(settings)`` first) and hands the :class:`Prepared` run to ``body``.
    """

    def decorate(body: Callable[..., Any]) -> Callable[..., Any]:
        _prep, *extra = inspect.signature(body).parameters.values()
        common = inspect.signature(_runner_options).parameters.values()
        params = [p.replace(default=default_out) if p.name == "out_dir" else p for p in common] + [
            p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in extra
        ]
        signature = inspect.Signature(params, return_annotation=inspect.signature(body).return_annotation)

        @functools.wraps(body)
        def run(*args: Any, **kwargs: Any) -> Any:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            options = dict(bound.arguments)
            out_dir, quick, preset = options.pop("out_dir"), options.pop("quick"), options.pop("preset")
            settings = settings_cls.for_mode(quick, preset)
            prep = prepare(
                out_dir,
                settings,
                **{name: options.pop(name) for name in ("device", "seed", "progress", "echo")},
                message=message(settings) if message else None,
            )
            return body(prep, **options)

        run.__signature__ = signature  # type: ignore[attr-defined]
        return run

    return decorate


def _runner_options(
    out_dir: str | Path = "",
    *,
    device: str | None = None,
    quick: bool = False,
    seed: int = 0,
    progress: bool = True,
    echo: Callable[..., Any] = print,
    preset: str | None = None,
) -> None:
    """The options every runner takes (the signature :func:`runner` gives)."""
