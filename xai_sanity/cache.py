"""On-disk cache location and crash-safe file writes.

The cache holds trained default models (see :func:`xai_sanity.training.load_default_model`).
Its location is the platform's per-user cache directory, or ``$XAI_SANITY_CACHE`` if set.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["CACHE_ENV_VAR", "atomic_write_bytes", "cache_dir", "config_digest"]

#: Environment variable that overrides the cache directory.
CACHE_ENV_VAR = "XAI_SANITY_CACHE"
_APP = "xai_sanity"


def cache_dir() -> Path:
    """The directory where xai_sanity keeps cached files (not created by this call).

    ``$XAI_SANITY_CACHE`` if set and non-empty; otherwise

    * Linux/other POSIX: ``$XDG_CACHE_HOME/xai_sanity``, or ``~/.cache/xai_sanity``;
    * macOS: ``~/Library/Caches/xai_sanity``;
    * Windows: ``%LOCALAPPDATA%\\xai_sanity\\Cache`` (falls back to
      ``~\\AppData\\Local\\xai_sanity\\Cache``).

    Examples
    --------
    >>> path = cache_dir()  # e.g. PosixPath('/home/me/.cache/xai_sanity')
    >>> path.is_absolute() or CACHE_ENV_VAR in os.environ
    True
    """
    override = os.environ.get(CACHE_ENV_VAR)
    if override:
        return Path(override).expanduser()
    if sys.platform.startswith("win"):
        base = os.environ.get("LOCALAPPDATA")
        root = Path(base) if base else Path.home() / "AppData" / "Local"
        return root / _APP / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / _APP
    xdg = os.environ.get("XDG_CACHE_HOME")
    # The XDG spec says relative paths are invalid and must be ignored.
    root = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return root / _APP


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never a part.

    The bytes go to a temporary file in the same directory (created if needed), which is
    flushed, ``fsync``-ed and then moved over ``path`` with :func:`os.replace`. On any error
    the temporary file is removed and the error re-raised.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "sub" / "blob.bin"
    >>> atomic_write_bytes(target, b"hello").read_bytes()
    b'hello'
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes, got {type(data).__name__}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(path.parent)
    return path


def _fsync_dir(directory: Path) -> None:
    """Best effort: persist the rename itself (POSIX only; not possible on Windows)."""
    if os.name != "posix":
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def config_digest(config: dict[str, Any]) -> str:
    """SHA-256 hex digest of a JSON-serialisable configuration (key order irrelevant).

    Examples
    --------
    >>> config_digest({"a": 1, "b": 2}) == config_digest({"b": 2, "a": 1})
    True
    """
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
