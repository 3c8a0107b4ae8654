"""The checked parts of a study config and what they build: the data, the models, the
explain methods and the metrics, and the arguments of :class:`xai_sanity.Study`.

:func:`xai_sanity.config.parse_config` makes these from a config's tables; nothing here
checks a config again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._checks import named_parameters

__all__ = ["DataSpec", "ModelSpec", "PartSpec", "StudyConfig"]


@dataclass(frozen=True)
class DataSpec:
    """The ``[data]`` table: a built-in dataset or files.

    Attributes
    ----------
    kind : {"builtin", "path"}
    params : dict
        For ``"builtin"``: the dataset's name and its arguments; for ``"path"``: the files
        (resolved against the config's folder) and ``n``.
    """

    kind: str
    params: dict[str, Any]

    def load(self) -> Any:
        """The data as :class:`xai_sanity.io.LoadedData`."""
        from ..io import LoadedData, load_data

        params = dict(self.params)
        if self.kind == "path":
            return load_data(
                params.pop("path"), params.pop("y", None), params.pop("s", None), n=params.get("n")
            )
        from ..data import make_semi_natural

        params.pop("builtin")
        n = params.pop("n", 200)
        data = make_semi_natural(n, **{"split": "test", **params})
        args = ", ".join(f"{k}={v!r}" for k, v in {"n": n, **params}.items())
        return LoadedData(x=data.x, y=data.y, s=data.masks, source=f"semi_natural({args})")


@dataclass(frozen=True)
class ModelSpec:
    """One ``[models.NAME]`` table.

    Attributes
    ----------
    name : str
        The table's name (the model's label in the results).
    kind : {"builtin", "torchscript", "module", "factory"}
    source : str
        The built-in architecture, the file (resolved) or the ``"module:factory"`` string.
    state_dict : str or None
        Weights for a factory (resolved).
    kwargs : dict
        Arguments of the factory, or the training options of a built-in model.
    base_dir : pathlib.Path
        Where the factory's module is also looked for.
    """

    name: str
    kind: str
    source: str
    state_dict: str | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    base_dir: Path = Path(".")

    def seeded(self) -> bool:
        """Whether the model depends on the study's seed: a built-in model without a ``seed``
        of its own (trained per seed), or a factory without weights that takes a ``seed``
        that its ``kwargs`` do not set."""
        if self.kind == "builtin":
            return "seed" not in self.kwargs
        if self.kind == "factory" and self.state_dict is None and "seed" not in self.kwargs:
            from ..io import import_object

            return "seed" in named_parameters(import_object(self.source, "model factory", [self.base_dir]))
        return False

    def load(self, seed: int = 0, *, device: str | None = None, progress: bool = False) -> Any:
        """The model for ``seed`` (in eval mode)."""
        from ..io import load_factory, load_module, load_torchscript

        if self.kind == "builtin":
            from ..training import load_default_model

            kwargs = {"seed": seed, **self.kwargs}  # a seed in the table fixes the model for every seed
            model, _ = load_default_model(self.source, device=device, progress=progress, **kwargs)
            return model
        if self.kind == "torchscript":
            return load_torchscript(self.source, device)
        if self.kind == "module":
            return load_module(self.source, device, [self.base_dir])
        kwargs = dict(self.kwargs)
        if self.seeded():
            kwargs["seed"] = seed
        return load_factory(self.source, self.state_dict, kwargs, device=device, search_paths=[self.base_dir])

    def for_study(self, *, device: str | None = None, progress: bool = False) -> Any:
        """What :class:`xai_sanity.Study` takes: the model, or ``seed -> model`` when seeded."""
        if self.seeded():
            return lambda seed: self.load(seed, device=device, progress=progress)
        return self.load(device=device, progress=progress)


@dataclass(frozen=True)
class PartSpec:
    """One ``[methods.NAME]`` or ``[metrics.NAME]`` table.

    Attributes
    ----------
    name : str
        The label in the results (the table's name).
    target : str
        The registered name (canonical) or ``"package.module:name"``.
    factory : callable
        The registered class/function or the imported object.
    params : dict
        Checked constructor arguments.
    """

    name: str
    target: str
    factory: Any
    params: dict[str, Any]

    def build_method(self) -> Callable:
        """The explain function (:func:`xai_sanity.build_method`)."""
        from ..explain import build_method

        return build_method(self.factory, **self.params)

    def for_study(self) -> Any:
        """What :class:`xai_sanity.Study` takes: ``(registered name, params)``, which it builds
        once per seed, or the built metric for an imported one (the study sets its seed)."""
        if ":" not in self.target:
            return (self.target, dict(self.params))
        return self.build_metric()

    def build_metric(self, seed: int | None = None) -> Any:
        """The metric, with ``seed`` added when its constructor takes one and none is set."""
        if seed is not None and "seed" not in self.params and "seed" in named_parameters(self.factory):
            return self.factory(**self.params, seed=seed)
        return self.factory(**self.params)


@dataclass(frozen=True)
class StudyConfig:
    """A checked study config (:func:`~xai_sanity.config.load_config`).

    Attributes
    ----------
    out : str
        Output folder.
    seeds : tuple of int
    device : str or None
    batch_size : int
    cache : str or None
        Cache folder of the study (resume), resolved against the config's folder.
    data : DataSpec
    models : dict of str to ModelSpec
    methods : dict of str to PartSpec
    metrics : dict of str to PartSpec, or None for the default suite
    raw : dict
        The file's contents as read.
    path : pathlib.Path or None
        The file.
    """

    out: str
    seeds: tuple[int, ...]
    device: str | None
    batch_size: int
    cache: str | None
    data: DataSpec
    models: dict[str, ModelSpec]
    methods: dict[str, PartSpec]
    metrics: dict[str, PartSpec] | None
    raw: dict[str, Any]
    path: Path | None = None

    def build_methods(self) -> dict[str, Callable]:
        """Name → explain function."""
        return {name: spec.build_method() for name, spec in self.methods.items()}

    def build_metrics(self, seed: int | None = None) -> dict[str, Any] | None:
        """Name → metric (seeded with ``seed`` where a constructor takes one), or ``None``
        for the default suite."""
        if self.metrics is None:
            return None
        return {name: spec.build_metric(seed) for name, spec in self.metrics.items()}

    def build_models(self, progress: bool = False) -> dict[str, Any]:
        """Name → model, or ``seed -> model`` for seeded models (built-in ones, trained per seed)."""
        return {
            name: spec.for_study(device=self.device, progress=progress) for name, spec in self.models.items()
        }

    def study_kwargs(
        self, *, cache_dir: str | None = None, progress: bool = False, data: Any = None
    ) -> dict[str, Any]:
        """The arguments of :class:`xai_sanity.Study` for this config (loads the data and the
        models that do not depend on the seed). The study seeds every method and metric that
        takes a seed with each of :attr:`seeds` (a seed given in the config is replaced).
        ``data`` (a :class:`~xai_sanity.io.LoadedData`) saves loading it again."""
        data = self.data.load() if data is None else data
        return {
            "models": self.build_models(progress=progress),
            "methods": self.build_methods(),
            "metrics": None if self.metrics is None else {n: m.for_study() for n, m in self.metrics.items()},
            "data": data.as_tuple(),
            "seeds": self.seeds,
            "cache_dir": cache_dir if cache_dir is not None else self.cache,
            "device": self.device,
            "batch_size": self.batch_size,
        }
