"""Name → object tables for explain methods, metrics and similarity functions.

Each table is a read-only mapping with case- and punctuation-insensitive lookup, aliases
(Quantus's and captum's names for the same method), a ``register`` decorator for users'
own entries, and lazy discovery of third-party entries advertised under an entry-point
group::

    # in a third-party package's pyproject.toml
    [project.entry-points."xai_sanity.methods"]
    MyMethod = "my_package.module:MyExplainer"
"""

from __future__ import annotations

import difflib
import functools
import re
import warnings
from collections.abc import Callable, Iterator, Mapping
from importlib.metadata import entry_points
from typing import Any

ENTRY_POINT_GROUPS = {
    "method": "xai_sanity.methods",
    "metric": "xai_sanity.metrics",
    "similarity": "xai_sanity.similarities",
}


def _normalise(name: str) -> str:
    return re.sub(r"[\s_\-.]", "", name).lower()


class Registry(Mapping[str, Any]):
    """A named table of factories (classes or functions) of one kind."""

    def __init__(self, kind: str, group: str) -> None:
        self.kind = kind
        self.group = group
        self._entries: dict[str, Any] = {}
        self._lookup: dict[str, str] = {}
        self._discovered = False

    # -- registration -------------------------------------------------------------------
    def register(
        self,
        obj: Any = None,
        *,
        name: str | None = None,
        aliases: tuple[str, ...] = (),
        overwrite: bool = False,
    ) -> Any:
        """Register ``obj`` under ``name`` (default: its ``name`` attribute or ``__name__``).

        Usable directly (``REG.register(MyClass)``) or as a decorator
        (``@REG.register(name="Mine")``). Re-registering a taken name raises unless
        ``overwrite=True``.
        """
        if obj is None:
            return functools.partial(self.register, name=name, aliases=aliases, overwrite=overwrite)
        key = name or getattr(obj, "name", None) or getattr(obj, "__name__", None)
        if not isinstance(key, str) or not key:
            raise ValueError(f"cannot tell the name of {obj!r}; pass name=")
        if not callable(obj):
            raise TypeError(f"a {self.kind} must be callable (a class or function), got {obj!r}")
        for label in (key, *aliases):
            norm = _normalise(label)
            owner = self._lookup.get(norm)
            if owner is not None and owner != key and not overwrite:
                raise ValueError(f"{self.kind} name {label!r} is already registered for {owner!r}")
        if key in self._entries and not overwrite and self._entries[key] is not obj:
            raise ValueError(f"{self.kind} {key!r} is already registered; pass overwrite=True")
        self._entries[key] = obj
        for label in (key, *aliases):
            self._lookup[_normalise(label)] = key
        return obj

    def unregister(self, name: str) -> None:
        key = self.canonical(name)
        del self._entries[key]
        self._lookup = {k: v for k, v in self._lookup.items() if v != key}

    # -- lookup -------------------------------------------------------------------------
    def _discover(self) -> None:
        if self._discovered:
            return
        self._discovered = True
        for ep in entry_points(group=self.group):
            if _normalise(ep.name) in self._lookup:
                continue
            try:
                self.register(ep.load(), name=ep.name)
            except Exception as err:  # a broken plugin must not break the package
                warnings.warn(
                    f"could not load {self.kind} {ep.name!r} from entry point {ep.value!r}: {err}",
                    RuntimeWarning,
                    stacklevel=3,
                )

    def refresh(self) -> None:
        """Look for entry points again (after installing a plugin in a running session)."""
        self._discovered = False
        self._discover()

    def canonical(self, name: str) -> str:
        """The registered name that ``name`` (any alias or spelling) refers to."""
        if not isinstance(name, str):
            raise TypeError(f"{self.kind} name must be a string, got {type(name).__name__}")
        self._discover()
        key = self._lookup.get(_normalise(name))
        if key is None:
            close = difflib.get_close_matches(name, list(self._entries), n=3, cutoff=0.5)
            hint = f"; did you mean {close}?" if close else ""
            raise KeyError(f"unknown {self.kind} {name!r}{hint} Available: {sorted(self._entries)}")
        return key

    def __getitem__(self, name: str) -> Any:
        return self._entries[self.canonical(name)]

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        self._discover()
        return _normalise(name) in self._lookup

    def __iter__(self) -> Iterator[str]:
        self._discover()
        return iter(list(self._entries))

    def __len__(self) -> int:
        self._discover()
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {sorted(self._entries)})"


METHODS = Registry("method", ENTRY_POINT_GROUPS["method"])
METRICS = Registry("metric", ENTRY_POINT_GROUPS["metric"])
SIMILARITIES = Registry("similarity", ENTRY_POINT_GROUPS["similarity"])
_TABLES = {"method": METHODS, "metric": METRICS, "similarity": SIMILARITIES}


def register(
    obj: Any = None,
    *,
    name: str | None = None,
    kind: str = "method",
    aliases: tuple[str, ...] = (),
    overwrite: bool = False,
) -> Any:
    """Register a user's explain method (default), metric or similarity function.

    Examples
    --------
    >>> import numpy as np
    >>> @register(name="AllOnes")
    ... def all_ones(model, inputs, targets, **kwargs):
    ...     return np.ones((len(inputs), 1, *np.shape(inputs)[2:]), np.float32)
    >>> "AllOnes" in METHODS
    True
    >>> METHODS.unregister("AllOnes")
    """
    if kind not in _TABLES:
        raise ValueError(f"kind must be one of {sorted(_TABLES)}, got {kind!r}")
    return _TABLES[kind].register(obj, name=name, aliases=aliases, overwrite=overwrite)


def get_method(name: str, **params: Any) -> Callable:
    """Build the registered explain method ``name`` with ``params``.

    The same resolution as :func:`xai_sanity.build_method` (an enhancer passes parameters it
    does not take on to its base: ``get_method("NoiseGrad", steps=16)`` works).
    """
    if not isinstance(name, str):
        raise TypeError(f"method name must be a string, got {type(name).__name__}")
    from .explain import build_method

    return build_method(name, **params)
