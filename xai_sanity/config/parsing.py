"""From a config's tables to a :class:`~xai_sanity.config.StudyConfig`: every key, name and
value checked before any work (:func:`parse_config`, :func:`load_config`)."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ._checks import (
    _P,
    _check_params,
    _coerce,
    _existing_file,
    _fail,
    _import,
    _int,
    _resolve,
    _str,
    _table,
    _takes_var_keyword,
    _unknown_keys,
    named_parameters,
    read_toml,
)
from .specs import DataSpec, ModelSpec, PartSpec, StudyConfig

__all__ = ["BUILTIN_DATA", "MODEL_SOURCES", "TOP_LEVEL_KEYS", "load_config", "parse_config"]

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


def _parse_data(table: Any, base_dir: Path, source: str) -> DataSpec:
    table = _table(table, "data", source)
    if ("builtin" in table) == ("path" in table):
        # Name the keys that are there, so that a misspelt "path" is recognisable.
        present = f" (found: {', '.join(sorted(table))})" if table else ""
        raise _fail(
            source, "data", f"give exactly one of builtin = 'semi_natural' or path = 'data.npz'{present}"
        )
    if "path" in table:
        _unknown_keys(table, ("path", "y", "s", "n"), "data", source)
        params: dict[str, Any] = {}
        for key in ("path", "y", "s"):
            if key in table:
                params[key] = _existing_file(table[key], f"data.{key}", base_dir, source)
        if "n" in table:
            params["n"] = _int(table["n"], "data.n", source, minimum=1)
        return DataSpec("path", params)
    from ..data import make_semi_natural

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
    if kind in ("torchscript", "module"):
        _unknown_keys(table, (kind,), prefix, source)
        path = _existing_file(table[kind], f"{prefix}.{kind}", base_dir, source)
        return ModelSpec(name, kind, path, base_dir=base_dir)
    value = _str(table[kind], f"{prefix}.{kind}", source)
    if kind == "builtin":
        from ..data import MODEL_NAMES
        from ..training import load_default_model

        if value.lower() not in MODEL_NAMES:
            raise _fail(
                source, f"{prefix}.builtin", f"unknown model {value!r}; allowed: {', '.join(MODEL_NAMES)}"
            )
        skip = ("name", "device", "progress")
        allowed = {k: p for k, p in named_parameters(load_default_model).items() if k not in skip}
        options = {k: v for k, v in table.items() if k != "builtin"}
        params = _check_params(options, allowed, prefix, source, f"built-in model {value!r}")
        return ModelSpec(name, "builtin", value.lower(), kwargs=params, base_dir=base_dir)
    _unknown_keys(table, ("factory", "state_dict", "kwargs"), prefix, source)
    if value.count(":") != 1:
        raise _fail(source, f"{prefix}.factory", f"expected 'package.module:function', got {value!r}")
    state = None
    if "state_dict" in table:
        state = _existing_file(table["state_dict"], f"{prefix}.state_dict", base_dir, source)
    kwargs = _table(table.get("kwargs", {}), f"{prefix}.kwargs", source)
    factory = _import(value, "model factory", f"{prefix}.factory", source, [base_dir])
    if not callable(factory):
        raise _fail(source, f"{prefix}.factory", f"{value!r} is a {type(factory).__name__}, not callable")
    allowed = named_parameters(factory)
    if allowed and not _takes_var_keyword(factory):
        kwargs = _check_params(kwargs, allowed, f"{prefix}.kwargs", source, f"factory {value!r}")
    return ModelSpec(name, "factory", value, state_dict=state, kwargs=dict(kwargs), base_dir=base_dir)


def _lookup(registry: Any, target: str, key: str, base_dir: Path, source: str) -> tuple[str, Any]:
    """The registered (or imported) factory named ``target``."""
    if ":" in target:
        return target, _import(target, f"{registry.kind} {key}", key, source, [base_dir])
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
    from ..enhancers import NoiseEnsemble
    from ..registry import METHODS

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
    from ..registry import METHODS, METRICS

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
