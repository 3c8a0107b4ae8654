"""Finding a user's files and code: a file that must exist, and ``"package.module:name"``
imported also from the working folder and the config file's folder."""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

__all__ = ["PathLike", "import_object"]

PathLike = str | os.PathLike


# -- importing "package.module:attribute" ------------------------------------------------


@contextlib.contextmanager
def _importable_from(paths: Sequence[PathLike]) -> Iterator[None]:
    """Put ``paths`` (and the working directory) at the end of ``sys.path`` for the block.

    A console script does not have the working directory on ``sys.path``; a user's
    ``my_models.py`` next to the config file should still be importable. Modules imported in
    the block stay imported.
    """
    added = []
    for path in [*paths, os.getcwd()]:
        entry = str(Path(path).resolve())
        if entry not in sys.path:
            sys.path.append(entry)
            added.append(entry)
    try:
        yield
    finally:
        for entry in added:
            with contextlib.suppress(ValueError):
                sys.path.remove(entry)


def import_object(spec: str, what: str = "object", search_paths: Sequence[PathLike] = ()) -> Any:
    """Import ``"package.module:attribute"`` (the attribute may be dotted: ``"mod:Class.make"``).

    Parameters
    ----------
    spec : str
        Module path, a colon, attribute path.
    what : str
        What the object is, for error messages (e.g. ``"model factory"``).
    search_paths : sequence of path-like
        Folders also searched for the module (after ``sys.path``), as is the working folder.

    Raises
    ------
    ValueError
        ``spec`` is not of the form ``"module:attribute"``.
    ImportError
        The module cannot be imported or has no such attribute.
    """
    if not isinstance(spec, str) or spec.count(":") != 1:
        raise ValueError(f"{what} must be given as 'package.module:name', got {spec!r}")
    module_name, attr = (part.strip() for part in spec.split(":"))
    if not module_name or not attr:
        raise ValueError(f"{what} must be given as 'package.module:name', got {spec!r}")
    with _importable_from(search_paths):
        try:
            obj: Any = importlib.import_module(module_name)
        except ImportError as err:
            raise ImportError(
                f"cannot import module {module_name!r} of {what} {spec!r}: {err}. It must be installed "
                "or lie in the working folder (or the config file's folder)"
            ) from err
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ImportError(f"module {module_name!r} has no {attr!r} ({what} {spec!r})") from None
    return obj


def _existing_file(path: PathLike, what: str) -> Path:
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(
            f"{what} {str(file)!r} does not exist" + (" (it is a folder)" if file.is_dir() else "")
        )
    return file
