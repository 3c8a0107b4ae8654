"""Study configuration files (TOML) for ``xai-sanity run``: parsing, validation, building.

A config names the models, the data, the explain methods and the metrics of a study::

    out = "my_study"          # output folder (relative to the working folder)
    seeds = [0, 1]            # or: seed = 0
    device = "cpu"

    [data]
    builtin = "semi_natural"  # n = 200, split = "test", seed = 0, ...
    # path = "data.npz"       # x, y[, s | masks]; or path = "x.npy", y = "y.npy", s = "s.npy"

    [models.lenet]
    builtin = "lenet"         # trained per seed; epochs = 3, n_train = 3000, seed = 0 (one model), ...
    # torchscript = "model.pt" | module = "model.pt"
    # factory = "my_models:make", state_dict = "weights.pt", kwargs = { width = 16 }

    [methods.Saliency]        # the table's name is the method unless method = "..." is given
    [methods.SG]
    method = "SmoothGrad"
    n_samples = 8
    base = "Saliency"

    [metrics.PointingGame]    # no [metrics] at all: the default suite

:func:`load_config` reads and checks a file before any work: an unknown key, method,
metric or parameter (checked against the constructor's signature) or a value of the wrong
type is a :class:`ConfigError` naming the key path (``methods.SG.n_samples``) and what is
allowed. File paths in the config are relative to the config file's folder.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "ConfigError",
    "DataSpec",
    "ModelSpec",
    "PartSpec",
    "StudyConfig",
    "load_config",
    "parse_config",
    "read_toml",
]

#: The keys a config may have at its top level.
TOP_LEVEL_KEYS = (
    "out",
    "seed",
    "seeds",
    "device",
    "batch_size",
    "cache",
    "data",
    "models",
    "methods",
    "metrics",
)
#: The ways of giving a model, one per model table.
MODEL_SOURCES = ("builtin", "torchscript", "module", "factory")
#: The built-in datasets.
BUILTIN_DATA = ("semi_natural",)


class ConfigError(ValueError):
    """A study config that cannot be used; the message names the key path and what is allowed."""


def _fail(source: str, key: str, message: str) -> ConfigError:
    where = f"{source}: " if source else ""
    return ConfigError(f"{where}{key}: {message}" if key else f"{where}{message}")


# -- reading --------------------------------------------------------------------------------


def _toml_module() -> Any:
    try:
        import tomllib  # Python >= 3.11
    except ModuleNotFoundError:  # pragma: no cover - Python 3.10
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ModuleNotFoundError:
            raise ImportError(
                "reading TOML configs needs Python >= 3.11 (tomllib) or the tomli package: pip install tomli"
            ) from None
    return tomllib


def read_toml(path: str | Path) -> dict[str, Any]:
    """The contents of a TOML file as a dict; a syntax error names the file and the line."""
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"config file {str(file)!r} does not exist")
    tomllib = _toml_module()
    try:
        with file.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{file.name}: not valid TOML: {err}") from err


# -- types from signatures ------------------------------------------------------------------

_P = inspect.Parameter


def _annotation_text(annotation: Any) -> str:
    if annotation is _P.empty:
        return ""
    if isinstance(annotation, str):
        return annotation
    return inspect.formatannotation(annotation)


def _split_top(text: str, sep: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        if char == sep and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    parts.append(current.strip())
    return [p for p in parts if p]


def _alternatives(text: str) -> list[str]:
    """The bare type names of an annotation: ``"int | None"`` → ``["int", "None"]``."""
    out: list[str] = []
    for part in _split_top(text, "|"):
        match = re.fullmatch(r"(?:typing\.)?(Optional|Union)\[(.*)\]", part)
        if match:
            inner = _split_top(match.group(2), ",")
            out.extend(a for p in inner for a in _alternatives(p))
            if match.group(1) == "Optional":
                out.append("None")
        else:
            out.append(part.split("[", 1)[0].strip().rsplit(".", 1)[-1])
    return out


#: Bare type name → (what a TOML value must be, how the error calls it).
_TOML_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "int": ((int,), "int"),
    "integer": ((int,), "int"),
    "float": ((int, float), "float"),
    "bool": ((bool,), "bool"),
    "str": ((str,), "str"),
    "Path": ((str,), "str (a path)"),
    "PathLike": ((str,), "str (a path)"),
    "dict": ((dict,), "table"),
    "Mapping": ((dict,), "table"),
    "list": ((list,), "array"),
    "tuple": ((list,), "array"),
    "Sequence": ((list,), "array"),
    "ndarray": ((list, int, float), "number or array"),
    "Tensor": ((list, int, float), "number or array"),
}


def _expected(param: inspect.Parameter) -> tuple[tuple[type, ...], list[str], bool] | None:
    """What a config value of ``param`` may be: Python types, their names, whether a
    ``"module:function"`` string is imported (for callables). ``None``: anything goes."""
    names = _alternatives(_annotation_text(param.annotation))
    if not names and param.default is not _P.empty and param.default is not None:
        names = [type(param.default).__name__]
    if not names:
        return None
    types: list[type] = []
    labels: list[str] = []
    callable_ok = False
    for name in names:
        if name == "None":
            continue
        if name == "Callable":
            callable_ok = True
            continue
        if name not in _TOML_TYPES:
            return None  # a type TOML cannot spell (a module, an executor, Any): not checked here
        kinds, label = _TOML_TYPES[name]
        types.extend(kinds)
        labels.append(label)
    if callable_ok and str not in types:
        types.append(str)
        labels.append("'package.module:function'")
    if not types:
        return None
    return tuple(dict.fromkeys(types)), labels, callable_ok


def _type_name(value: Any) -> str:
    return {dict: "table", list: "array"}.get(type(value), type(value).__name__)


def _coerce(value: Any, param: inspect.Parameter, key: str, source: str) -> Any:
    """Check ``value`` against ``param``'s annotation; import ``"module:function"`` strings
    given for a callable parameter."""
    expected = _expected(param)
    if expected is None:
        return value
    types, labels, callable_ok = expected
    ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
    if not ok:
        raise _fail(source, key, f"expected {' or '.join(labels)}, got {_type_name(value)} {value!r}")
    if callable_ok and isinstance(value, str) and ":" in value and "str" not in labels:
        from .io import import_object

        try:
            return import_object(value, f"{key} function")
        except (ImportError, ValueError) as err:
            raise _fail(source, key, str(err)) from err
    if "float" in labels and "int" not in labels and type(value) is int:
        return float(value)  # TOML's 1 for a float parameter
    return value


def named_parameters(factory: Callable) -> dict[str, inspect.Parameter]:
    """The parameters a config may give ``factory``: the named ones of its signature
    (without ``self``, ``*args``, ``**kwargs``); for a plain explain function, without the
    leading ``model, inputs, targets``."""
    try:
        params = list(inspect.signature(factory).parameters.values())
    except (TypeError, ValueError):
        return {}
    params = [p for p in params if p.name != "self" and p.kind not in (_P.VAR_POSITIONAL, _P.VAR_KEYWORD)]
    if not isinstance(factory, type) and [p.name for p in params[:3]] == ["model", "inputs", "targets"]:
        params = params[3:]
    return {p.name: p for p in params}


def _check_params(
    params: Mapping[str, Any],
    allowed: Mapping[str, inspect.Parameter],
    prefix: str,
    source: str,
    what: str,
) -> dict[str, Any]:
    out = {}
    for name, value in params.items():
        key = f"{prefix}.{name}"
        if name not in allowed:
            choices = ", ".join(allowed) or "none"
            raise _fail(source, key, f"unknown parameter of {what}; allowed: {choices}")
        out[name] = _coerce(value, allowed[name], key, source)
    return out


# -- the parts of a config ------------------------------------------------------------------


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
        from .io import LoadedData, load_data

        params = dict(self.params)
        if self.kind == "path":
            return load_data(
                params.pop("path"), params.pop("y", None), params.pop("s", None), n=params.get("n")
            )
        from .data import make_semi_natural

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
            from .io import import_object

            return "seed" in named_parameters(import_object(self.source, "model factory", [self.base_dir]))
        return False

    def load(self, seed: int = 0, *, device: str | None = None, progress: bool = False) -> Any:
        """The model for ``seed`` (in eval mode)."""
        from .io import load_factory, load_module, load_torchscript

        if self.kind == "builtin":
            from .training import load_default_model

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
        from .explain import build_method

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
    """A checked study config (:func:`load_config`).

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


# -- parsing --------------------------------------------------------------------------------


def _table(value: Any, key: str, source: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(source, key, f"expected a table ([{key}]), got {_type_name(value)} {value!r}")
    return value


def _int(value: Any, key: str, source: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(source, key, f"expected int, got {_type_name(value)} {value!r}")
    if value < minimum:
        raise _fail(source, key, f"must be >= {minimum}, got {value}")
    return value


def _str(value: Any, key: str, source: str) -> str:
    if not isinstance(value, str) or not value:
        raise _fail(source, key, f"expected a non-empty string, got {_type_name(value)} {value!r}")
    return value


def _unknown_keys(table: Mapping[str, Any], allowed: Any, prefix: str, source: str) -> None:
    for key in table:
        if key not in allowed:
            where = f"{prefix}.{key}" if prefix else key
            raise _fail(source, where, f"unknown key; allowed: {', '.join(allowed)}")


def _resolve(path: str, base_dir: Path) -> str:
    p = Path(path).expanduser()
    return str(p if p.is_absolute() else base_dir / p)


def _parse_data(table: Any, base_dir: Path, source: str) -> DataSpec:
    table = _table(table, "data", source)
    if ("builtin" in table) == ("path" in table):
        raise _fail(source, "data", "give exactly one of builtin = 'semi_natural' or path = 'data.npz'")
    if "path" in table:
        _unknown_keys(table, ("path", "y", "s", "n"), "data", source)
        params: dict[str, Any] = {}
        for key in ("path", "y", "s"):
            if key in table:
                params[key] = _resolve(_str(table[key], f"data.{key}", source), base_dir)
                if not Path(params[key]).is_file():
                    raise _fail(source, f"data.{key}", f"file {params[key]!r} does not exist")
        if "n" in table:
            params["n"] = _int(table["n"], "data.n", source, minimum=1)
        return DataSpec("path", params)
    from .data import make_semi_natural

    name = table["builtin"]
    if name not in BUILTIN_DATA:
        raise _fail(source, "data.builtin", f"unknown dataset {name!r}; allowed: {', '.join(BUILTIN_DATA)}")
    allowed = {k: v for k, v in named_parameters(make_semi_natural).items() if k != "n_samples"}
    allowed = {"n": _P("n", _P.KEYWORD_ONLY, annotation="int"), **allowed}
    rest = {k: v for k, v in table.items() if k != "builtin"}
    params = _check_params(rest, allowed, "data", source, f"the {name} dataset")
    if "n" in params:
        params["n"] = _int(params["n"], "data.n", source, minimum=1)
    if "split" in params and params["split"] not in ("train", "test"):
        raise _fail(source, "data.split", f"allowed: train, test; got {params['split']!r}")
    return DataSpec("builtin", {"builtin": name, **params})


def _parse_model(name: str, table: Any, base_dir: Path, source: str) -> ModelSpec:
    prefix = f"models.{name}"
    table = _table(table, prefix, source)
    given = [k for k in MODEL_SOURCES if k in table]
    if len(given) != 1:
        raise _fail(
            source,
            prefix,
            f"give exactly one of {', '.join(MODEL_SOURCES)}; got {', '.join(given) or 'none'}",
        )
    kind = given[0]
    value = _str(table[kind], f"{prefix}.{kind}", source)
    if kind == "builtin":
        from .data import MODEL_NAMES
        from .training import load_default_model

        if value.lower() not in MODEL_NAMES:
            raise _fail(
                source, f"{prefix}.builtin", f"unknown model {value!r}; allowed: {', '.join(MODEL_NAMES)}"
            )
        skip = ("name", "device", "progress")
        allowed = {k: p for k, p in named_parameters(load_default_model).items() if k not in skip}
        options = {k: v for k, v in table.items() if k != "builtin"}
        params = _check_params(options, allowed, prefix, source, f"built-in model {value!r}")
        return ModelSpec(name, "builtin", value.lower(), kwargs=params, base_dir=base_dir)
    if kind in ("torchscript", "module"):
        _unknown_keys(table, (kind,), prefix, source)
        path = _resolve(value, base_dir)
        if not Path(path).is_file():
            raise _fail(source, f"{prefix}.{kind}", f"file {path!r} does not exist")
        return ModelSpec(name, kind, path, base_dir=base_dir)
    _unknown_keys(table, ("factory", "state_dict", "kwargs"), prefix, source)
    if value.count(":") != 1:
        raise _fail(source, f"{prefix}.factory", f"expected 'package.module:function', got {value!r}")
    state = None
    if "state_dict" in table:
        state = _resolve(_str(table["state_dict"], f"{prefix}.state_dict", source), base_dir)
        if not Path(state).is_file():
            raise _fail(source, f"{prefix}.state_dict", f"file {state!r} does not exist")
    kwargs = _table(table.get("kwargs", {}), f"{prefix}.kwargs", source)
    from .io import import_object

    try:
        factory = import_object(value, "model factory", [base_dir])
    except (ImportError, ValueError) as err:
        raise _fail(source, f"{prefix}.factory", str(err)) from err
    if not callable(factory):
        raise _fail(source, f"{prefix}.factory", f"{value!r} is a {type(factory).__name__}, not callable")
    allowed = named_parameters(factory)
    if allowed and not _takes_var_keyword(factory):
        kwargs = _check_params(kwargs, allowed, f"{prefix}.kwargs", source, f"factory {value!r}")
    return ModelSpec(name, "factory", value, state_dict=state, kwargs=dict(kwargs), base_dir=base_dir)


def _takes_var_keyword(factory: Callable) -> bool:
    try:
        return any(p.kind is _P.VAR_KEYWORD for p in inspect.signature(factory).parameters.values())
    except (TypeError, ValueError):
        return True


def _lookup(registry: Any, target: str, key: str, base_dir: Path, source: str) -> tuple[str, Any]:
    """The registered (or imported) factory named ``target``."""
    if ":" in target:
        from .io import import_object

        try:
            return target, import_object(target, f"{registry.kind} {key}", [base_dir])
        except (ImportError, ValueError) as err:
            raise _fail(source, key, str(err)) from err
    if target not in registry:
        import difflib

        names = list(registry)
        close = difflib.get_close_matches(target, names, n=3, cutoff=0.5)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise _fail(
            source,
            key,
            f"unknown {registry.kind} {target!r}{hint}; allowed: {', '.join(names)}, or 'package.module:name'",
        )
    canonical = registry.canonical(target)
    return canonical, registry[canonical]


def _method_parameters(
    factory: Any, params: Mapping[str, Any], prefix: str, base_dir: Path, source: str
) -> dict[str, Any]:
    """Check an explain method's parameters; an enhancer also takes its base's."""
    from .enhancers import NoiseEnsemble
    from .registry import METHODS

    own = named_parameters(factory)
    is_enhancer = isinstance(factory, type) and issubclass(factory, NoiseEnsemble)
    if not is_enhancer:
        if not own and _takes_var_keyword(factory):
            return dict(params)
        return _check_params(params, own, prefix, source, f"method {getattr(factory, '__name__', factory)!r}")
    base = params.get("base", own["base"].default if "base" in own else None)
    base_params: dict[str, inspect.Parameter] = {}
    if isinstance(base, str):
        base_params = named_parameters(_lookup(METHODS, base, f"{prefix}.base", base_dir, source)[1])
    checked: dict[str, Any] = {}
    for name, value in params.items():
        key = f"{prefix}.{name}"
        if name in own:
            checked[name] = _coerce(value, own[name], key, source)
        elif name in base_params:
            checked[name] = _coerce(value, base_params[name], key, source)
        else:
            extra = (
                f"; of its base {base!r}: {', '.join(base_params) or 'none'}" if isinstance(base, str) else ""
            )
            raise _fail(
                source,
                key,
                f"unknown parameter of method {factory.__name__!r}; allowed: {', '.join(own)}{extra}",
            )
    if isinstance(checked.get("base_kwargs"), dict) and base_params:
        _check_params(checked["base_kwargs"], base_params, f"{prefix}.base_kwargs", source, f"base {base!r}")
    return checked


def _parse_parts(kind: str, tables: Any, base_dir: Path, source: str) -> dict[str, PartSpec]:
    from .registry import METHODS, METRICS

    registry = METHODS if kind == "methods" else METRICS
    tables = _table(tables, kind, source)
    if not tables:
        raise _fail(source, kind, f"is empty: give at least one [{kind}.NAME] table")
    parts: dict[str, PartSpec] = {}
    for name, table in tables.items():
        prefix = f"{kind}.{name}"
        table = _table(table, prefix, source)
        field_name = registry.kind  # "method" or "metric"
        target = _str(table.get(field_name, name), f"{prefix}.{field_name}", source)
        target, factory = _lookup(registry, target, f"{prefix}.{field_name}" if field_name in table else prefix,
                                  base_dir, source)  # fmt: skip
        params = {k: v for k, v in table.items() if k != field_name}
        if kind == "methods":
            params = _method_parameters(factory, params, prefix, base_dir, source)
        elif not (not named_parameters(factory) and _takes_var_keyword(factory)):
            params = _check_params(params, named_parameters(factory), prefix, source, f"metric {target!r}")
        spec = PartSpec(name=name, target=target, factory=factory, params=params)
        try:  # a value the constructor refuses (n_samples = 0, an unknown layer order, ...)
            built = spec.build_method() if kind == "methods" else spec.build_metric()
            check = getattr(built, "_check_params", None)  # ours check their values at use; do it now
            if callable(check):
                check()
        except (TypeError, ValueError, KeyError) as err:
            raise _fail(source, prefix, f"{type(err).__name__}: {err}") from err
        parts[name] = spec
    return parts


def parse_config(
    config: Mapping[str, Any], *, base_dir: str | Path = ".", source: str = "config"
) -> StudyConfig:
    """Check a config's contents (as read from TOML) and return a :class:`StudyConfig`.

    Parameters
    ----------
    config : mapping
        The contents.
    base_dir : path-like, default "."
        The folder that relative file paths in the config are relative to.
    source : str, default "config"
        The config's name in error messages (e.g. the file name).

    Raises
    ------
    ConfigError
        Naming the key path and what is allowed.
    """
    base = Path(base_dir)
    raw = dict(_table(dict(config), "", source))
    _unknown_keys(raw, TOP_LEVEL_KEYS, "", source)
    for required in ("data", "models", "methods"):
        if required not in raw:
            raise _fail(source, required, f"missing; a config needs [{required}]")
    if "seed" in raw and "seeds" in raw:
        raise _fail(source, "seeds", "give seed or seeds, not both")
    if "seeds" in raw:
        seeds_value = raw["seeds"]
        if not isinstance(seeds_value, list) or not seeds_value:
            raise _fail(source, "seeds", f"expected a non-empty array of int, got {seeds_value!r}")
        seeds = tuple(_int(v, f"seeds[{i}]", source) for i, v in enumerate(seeds_value))
        if len(set(seeds)) != len(seeds):
            raise _fail(source, "seeds", f"has repeated seeds: {list(seeds)}")
    else:
        seeds = (_int(raw.get("seed", 0), "seed", source),)
    device = _str(raw["device"], "device", source) if "device" in raw else None
    if device is not None:
        import torch

        try:
            torch.device(device)
        except RuntimeError as err:
            raise _fail(source, "device", f"not a torch device ({err}); e.g. cpu, cuda, cuda:1, mps") from err
    batch_size = _int(raw.get("batch_size", 64), "batch_size", source, minimum=1)
    cache = _resolve(_str(raw["cache"], "cache", source), base) if "cache" in raw else None
    out = _str(raw.get("out", "xai_sanity_study"), "out", source)
    data = _parse_data(raw["data"], base, source)
    models_table = _table(raw["models"], "models", source)
    if not models_table:
        raise _fail(source, "models", "is empty: give at least one [models.NAME] table")
    models = {name: _parse_model(name, t, base, source) for name, t in models_table.items()}
    methods = _parse_parts("methods", raw["methods"], base, source)
    metrics = _parse_parts("metrics", raw["metrics"], base, source) if "metrics" in raw else None
    return StudyConfig(
        out=out, seeds=seeds, device=device, batch_size=batch_size, cache=cache, data=data, models=models,
        methods=methods, metrics=metrics, raw=raw,
    )  # fmt: skip


def load_config(path: str | Path) -> StudyConfig:
    """Read and check a TOML study config (:func:`parse_config`); paths in it are relative to
    its folder."""
    file = Path(path)
    config = parse_config(read_toml(file), base_dir=file.resolve().parent, source=file.name)
    return dataclasses.replace(config, path=file)
