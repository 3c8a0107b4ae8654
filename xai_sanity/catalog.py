"""What is registered, with its parameters: the listings of ``xai-sanity methods`` / ``metrics``.

:func:`describe_methods` and :func:`describe_metrics` return one JSON-ready dict per
registered entry (name, first line of its docstring, parameters with defaults; for metrics
also the category, the better direction and the data types); :func:`format_listing` lays
them out as text that fits a terminal of ``width`` columns.
"""

from __future__ import annotations

import enum
import inspect
import textwrap
from collections.abc import Sequence
from typing import Any

__all__ = ["describe_methods", "describe_metrics", "format_listing", "parameters"]

_ARROWS = {"higher": "↑", "lower": "↓"}


def _plain(value: Any) -> Any:
    """A default as JSON can hold it: enums by value, callables by name, others as text."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, enum.Enum):
        return _plain(value.value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if callable(value):
        return getattr(value, "__qualname__", None) or getattr(value, "__name__", None) or repr(value)
    return repr(value)


def parameters(factory: Any) -> list[dict[str, Any]]:
    """The named parameters of ``factory`` with their defaults (``required`` when none).

    Uses :func:`xai_sanity.config.named_parameters`, so it lists exactly what a study config
    may set.
    """
    from .config import named_parameters

    out = []
    for name, param in named_parameters(factory).items():
        entry: dict[str, Any] = {"name": name}
        if param.default is inspect.Parameter.empty:
            entry["required"] = True
        else:
            entry["default"] = _plain(param.default)
        out.append(entry)
    return out


def _summary_line(obj: Any) -> str:
    doc = inspect.getdoc(obj) or ""
    return doc.strip().splitlines()[0].strip() if doc.strip() else ""


def describe_methods() -> list[dict[str, Any]]:
    """One entry per registered explain method: ``name``, ``description``, ``parameters``."""
    from .registry import METHODS

    return [
        {"name": name, "description": _summary_line(METHODS[name]), "parameters": parameters(METHODS[name])}
        for name in METHODS
    ]


def describe_metrics() -> list[dict[str, Any]]:
    """One entry per registered metric: ``name``, ``category``, ``direction`` (``"higher"`` /
    ``"lower"`` / ``None``), ``data_types``, ``needs_masks``, ``in_default_suite``,
    ``description`` and ``parameters``."""
    from .evaluation import score_direction
    from .registry import METRICS

    entries = []
    for name in METRICS:
        factory = METRICS[name]
        category = _plain(getattr(factory, "evaluation_category", None))
        types = getattr(factory, "data_applicability", None) or getattr(factory, "data_types", None) or ()
        entries.append(
            {
                "name": name,
                "category": category.lower() if isinstance(category, str) else None,
                "direction": score_direction(factory),
                "data_types": sorted(str(_plain(t)) for t in types),
                "needs_masks": bool(getattr(factory, "requires_s_batch", False)),
                "in_default_suite": bool(getattr(factory, "in_default_suite", True)),
                "description": _summary_line(factory),
                "parameters": parameters(factory),
            }
        )
    return entries


def _param_text(param: dict[str, Any]) -> str:
    if param.get("required"):
        return param["name"]
    default = param["default"]
    return f"{param['name']}={default!r}" if isinstance(default, str) else f"{param['name']}={default}"


def format_listing(entries: Sequence[dict[str, Any]], width: int = 100) -> str:
    """Entries of :func:`describe_methods` or :func:`describe_metrics` as text lines of at
    most ``width`` characters: a header line per entry, then its parameters, indented."""
    lines: list[str] = []
    name_width = min(28, max((len(e["name"]) for e in entries), default=0) + 2)
    for entry in entries:
        if "category" in entry:
            arrow = _ARROWS.get(entry["direction"] or "", "?")
            tags = [entry["category"] or "-", arrow, ", ".join(entry["data_types"]) or "-"]
            if entry["needs_masks"]:
                tags.append("needs masks")
            if not entry["in_default_suite"]:
                tags.append("not in default suite")
            head = f"{entry['name']:<{name_width}}{' | '.join(tags)}"
        else:
            head = f"{entry['name']:<{name_width}}{entry['description']}"
        lines.extend(textwrap.wrap(head, width, subsequent_indent=" " * name_width) or [entry["name"]])
        if "category" in entry and entry["description"]:
            lines.extend(
                textwrap.wrap(entry["description"], width, initial_indent="    ", subsequent_indent="    ")
            )
        params = ", ".join(_param_text(p) for p in entry["parameters"]) or "(no parameters)"
        lines.extend(textwrap.wrap(params, width, initial_indent="    ", subsequent_indent="      "))
    return "\n".join(lines)
