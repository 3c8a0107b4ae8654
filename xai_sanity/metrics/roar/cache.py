"""The on-disk cache of remove-and-retrain cells: fingerprints, reading and writing.

Each finished cell is one JSON file, written atomically and named by a digest of everything
that determines its accuracy (the degraded data, the architecture, the trainer and its
settings, the seeds, the torch version). A rerun computes only the missing cells; a file
that cannot be read, or whose digest or accuracy is wrong, is recomputed with a warning.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from ...cache import atomic_write_bytes

__all__ = ["CACHE_FORMAT_VERSION", "CellCache", "callable_id", "fingerprint", "model_fingerprint"]

#: Bump when anything that changes cached cell results changes.
CACHE_FORMAT_VERSION = 2


def fingerprint(*arrays: np.ndarray) -> str:
    """SHA-256 of the arrays' dtypes, shapes and bytes."""
    digest = hashlib.sha256()
    for arr in arrays:
        arr = np.ascontiguousarray(arr)
        digest.update(f"{arr.dtype.str}{arr.shape}".encode())
        digest.update(arr.tobytes())
    return digest.hexdigest()


def model_fingerprint(model: nn.Module) -> str:
    """Fingerprint of every tensor in ``model``'s state dict."""
    return fingerprint(*(t.detach().cpu().numpy() for t in model.state_dict().values()))


def callable_id(func: Callable) -> str:
    """``module.qualname`` of a function (or of a callable object's class)."""
    target = func if hasattr(func, "__qualname__") else type(func)
    return f"{getattr(target, '__module__', '?')}.{getattr(target, '__qualname__', repr(target))}"


class CellCache:
    """A directory of cell results; every method is a no-op when ``directory`` is None."""

    def __init__(self, directory: str | Path | None) -> None:
        self.directory = Path(directory).expanduser() if directory is not None else None

    def path(self, method: str, digest: str) -> Path | None:
        if self.directory is None:
            return None
        return self.directory / f"{method.lower()}_{digest[:32]}.json"

    def read(self, path: Path | None, digest: str) -> float | None:
        """The cached accuracy of a cell, or ``None`` (with a warning if the file is bad)."""
        if path is None or not path.exists():
            return None
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
            accuracy = payload["accuracy"]
            if payload.get("digest") != digest:
                raise ValueError("digest does not match")
            if not isinstance(accuracy, (int, float)) or not 0.0 <= float(accuracy) <= 1.0:
                raise ValueError(f"accuracy {accuracy!r} is not a number in [0, 1]")
            return float(accuracy)
        except Exception as err:  # noqa: BLE001 - any unreadable file is recomputed
            warnings.warn(
                f"ROAR cache file {path} is unreadable ({type(err).__name__}: {err}); recomputing it",
                RuntimeWarning,
                stacklevel=4,
            )
            return None

    def write(
        self, path: Path | None, digest: str, config: dict[str, Any], accuracy: float, seconds: float
    ) -> None:
        if path is None:
            return
        payload = {"digest": digest, "config": config, "accuracy": accuracy, "seconds": seconds}
        atomic_write_bytes(path, json.dumps(payload, sort_keys=True, default=str).encode("utf-8"))
