"""The checks every part of a study config goes through: reading TOML, key paths in errors,
and a value's type checked against the annotation of the parameter it is given to.

:class:`ConfigError` names the key path (``methods.SG.n_samples``) and what is allowed.
:func:`named_parameters` is what a config may set for a registered class or function; a value
is checked against that parameter's annotation (or the type of its default) by
:func:`_coerce`, which also imports ``"module:function"`` strings given for a callable.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["ConfigError", "named_parameters", "read_toml"]


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


def _import(spec: str, what: str, key: str, source: str, search_paths: Sequence[Path] = ()) -> Any:
    """The object ``"package.module:name"`` names (:func:`xai_sanity.io.import_object`); an
    error is a :class:`ConfigError` at ``key``."""
    from ..io import import_object

    try:
        return import_object(spec, what, search_paths)
    except (ImportError, ValueError) as err:
        raise _fail(source, key, str(err)) from err


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
        return _import(value, f"{key} function", key, source)
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


def _takes_var_keyword(factory: Callable) -> bool:
    try:
        return any(p.kind is _P.VAR_KEYWORD for p in inspect.signature(factory).parameters.values())
    except (TypeError, ValueError):
        return True


# -- plain values ---------------------------------------------------------------------------


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


def _existing_file(value: Any, key: str, base_dir: Path, source: str) -> str:
    """The file a config names at ``key``, resolved against ``base_dir``; it must exist."""
    path = _resolve(_str(value, key, source), base_dir)
    if not Path(path).is_file():
        raise _fail(source, key, f"file {path!r} does not exist")
    return path
