"""The on-disk cache of remove-and-retrain cells: locks, reading and writing.

Each finished cell is one JSON file, written atomically and named by a digest of everything
that determines its accuracy (the degraded data, the architecture, the trainer with its
settings and state, the seeds, the torch version; see :mod:`.fingerprints`). A rerun
computes only the missing cells; a file that cannot be read, or whose digest or accuracy is
wrong, is recomputed with a warning.

Several processes may share one directory. Before a process trains a cell it creates the
cell's lock file (atomically, holding its pid, host name and the time); a process that finds
the lock moves on to other cells and later serves the cell from the result file. A lock
whose process is gone (same host, pid no longer alive) or that is older than
:attr:`CellCache.lock_timeout` is stale: it is broken and the cell computed again. Locks only
save work: the results do not depend on them, since every cell is deterministic and written
atomically.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ...cache import atomic_write_bytes
from .fingerprints import callable_id, fingerprint, model_fingerprint  # re-exported, as before

__all__ = ["CACHE_FORMAT_VERSION", "CellCache", "callable_id", "fingerprint", "model_fingerprint"]

#: Bump when anything that changes cached cell results (or their keys) changes.
CACHE_FORMAT_VERSION = 3


# -- the cache directory --------------------------------------------------------------------


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if os.name != "posix":  # os.kill would terminate the process on Windows
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. PermissionError: the process exists
        return True
    return True


class CellCache:
    """A directory of cell results; every method is a no-op when ``directory`` is None.

    Parameters
    ----------
    directory : str or path, optional
        Where the cell files and their lock files live.
    lock_timeout : float, default 86400
        Seconds after which another process's lock counts as stale, whether or not that
        process still runs (for locks held on another host, whose pid cannot be checked).
    poll : float, default 0.5
        Seconds between looks at cells that another process is computing.
    """

    #: Seconds after which a lock file that holds no readable owner counts as stale.
    unreadable_lock_grace = 60.0
    #: What the cells are, in warnings ("ROAR cache file ... is unreadable").
    kind = "ROAR"

    def __init__(
        self, directory: str | Path | None, lock_timeout: float = 24 * 3600.0, poll: float = 0.5
    ) -> None:
        self.directory = Path(directory).expanduser() if directory is not None else None
        self.lock_timeout = float(lock_timeout)
        self.poll = float(poll)
        self._held: set[Path] = set()

    def prepare(self) -> CellCache:
        """Create the directory; ``ValueError`` naming ``cache_dir`` if that is impossible."""
        if self.directory is None:
            return self
        if self.directory.exists() and not self.directory.is_dir():
            raise ValueError(f"cache_dir {str(self.directory)!r} exists and is not a directory")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise ValueError(f"cache_dir {str(self.directory)!r} cannot be created: {err}") from err
        if not os.access(self.directory, os.W_OK | os.X_OK):
            raise ValueError(f"cache_dir {str(self.directory)!r} is not writable")
        return self

    def path(self, method: str, digest: str) -> Path | None:
        if self.directory is None:
            return None
        return self.directory / f"{method.lower()}_{digest[:32]}.json"

    def read(self, path: Path | None, digest: str, warn: bool = True) -> Any:
        """The cached result of a cell (:meth:`decode`), or ``None`` (with a warning if the file
        is bad: not JSON, another digest, or a result :meth:`decode` refuses)."""
        if path is None or not path.exists():
            return None
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
            if payload.get("digest") != digest:
                raise ValueError("digest does not match")
            return self.decode(payload)
        except Exception as err:  # noqa: BLE001 - any unreadable file is recomputed
            if warn:
                warnings.warn(
                    f"{self.kind} cache file {path} is unreadable ({type(err).__name__}: {err}); "
                    "recomputing it",
                    RuntimeWarning,
                    stacklevel=4,
                )
            return None

    def decode(self, payload: dict[str, Any]) -> float:
        """The accuracy held by a cell file's ``payload``; raises if it is not one in [0, 1]."""
        accuracy = payload["accuracy"]
        if isinstance(accuracy, bool) or not isinstance(accuracy, (int, float)) or not 0.0 <= accuracy <= 1.0:
            raise ValueError(f"accuracy {accuracy!r} is not a number in [0, 1]")
        return float(accuracy)

    def write(
        self, path: Path | None, digest: str, config: dict[str, Any], accuracy: float, seconds: float
    ) -> None:
        """Write a cell's result atomically, then release its lock."""
        if path is None:
            return
        payload = {"digest": digest, "config": config, "accuracy": accuracy, "seconds": seconds}
        atomic_write_bytes(path, json.dumps(payload, sort_keys=True, default=str).encode("utf-8"))
        self.release(path)

    # -- locks --------------------------------------------------------------------------
    @staticmethod
    def lock_path(path: Path) -> Path:
        return path.with_suffix(".lock")

    def claim(self, path: Path | None) -> bool:
        """Take the lock of the cell at ``path``; ``False`` if another process holds it."""
        if path is None:
            return True
        lock = self.lock_path(path)
        owner = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "time": time.time()})
        for _ in range(3):
            try:
                fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                seen = self._stale_lock(lock)
                if seen is None:
                    return False
                self._break(lock, seen)
                continue
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(owner)
            self._held.add(path)
            return True
        return False

    def release(self, path: Path | None) -> None:
        """Remove the lock of the cell at ``path`` if this object took it."""
        if path is not None and path in self._held:
            self._held.discard(path)
            self.lock_path(path).unlink(missing_ok=True)

    def _stale_lock(self, lock: Path) -> str | None:
        """The text of ``lock`` if it is stale (to break it), else ``None``."""
        try:
            text = lock.read_text(encoding="utf-8")
            modified = lock.stat().st_mtime
        except FileNotFoundError:
            return ""  # released meanwhile: nothing to break, try again
        try:
            owner = json.loads(text)
            pid, host, since = int(owner["pid"]), str(owner["host"]), float(owner["time"])
        except Exception:  # noqa: BLE001 - written only partly, or by something else
            return text if time.time() - modified > self.unreadable_lock_grace else None
        if host == socket.gethostname() and not _pid_alive(pid):
            return text
        return text if time.time() - since > self.lock_timeout else None

    @staticmethod
    def _break(lock: Path, seen: str) -> None:
        """Remove the stale ``lock`` whose text was ``seen``, without removing a fresh one.

        The lock is first moved aside atomically; if what was moved is not what was judged
        stale (another process broke it and locked the cell meanwhile), it is put back.
        """
        if not seen:
            return
        aside = lock.with_name(f"{lock.name}.stale-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        try:
            os.rename(lock, aside)
        except FileNotFoundError:
            return
        try:
            if aside.read_text(encoding="utf-8") != seen:
                try:
                    os.link(aside, lock)
                except OSError:  # a newer lock exists, or no hard links here: at worst, work twice
                    pass
        finally:
            aside.unlink(missing_ok=True)

    def compute_once(
        self,
        cells: Sequence[Any],
        compute: Callable[[list[Any]], None],
        served: Callable[[Any, float], None],
        chunk: int | None = None,
    ) -> None:
        """Compute each cell once across the processes that share the directory.

        Claims up to ``chunk`` of the cells (all with ``None``) and passes them to
        ``compute`` (which writes their results with :meth:`write`); cells locked by another
        process are served from their result file with ``served(cell, accuracy)`` once it
        appears, or computed here if that process gave up or died. Locks still held when
        ``compute`` fails are released.
        """
        waiting, waited_since = list(cells), None
        while waiting:
            mine, rest = [], []
            for cell in waiting:
                if (chunk is None or len(mine) < chunk) and self.claim(cell.path):
                    # It may have been finished just before we took the lock.
                    accuracy = self.read(cell.path, cell.digest, warn=False)
                    if accuracy is None:
                        mine.append(cell)
                        continue
                    self.release(cell.path)
                    served(cell, accuracy)
                else:
                    rest.append(cell)
            try:
                if mine:
                    compute(mine)
            finally:
                for cell in mine:
                    self.release(cell.path)
            waiting = []
            for cell in rest:
                accuracy = self.read(cell.path, cell.digest, warn=False)
                if accuracy is None:
                    waiting.append(cell)
                else:
                    served(cell, accuracy)
            if waiting and not mine:
                waited_since = waited_since or time.monotonic()
                if time.monotonic() - waited_since > 60.0:
                    warnings.warn(
                        f"waiting for {len(waiting)} {self.kind} cells that another process is computing "
                        f"(lock files *.lock in {self.directory}; delete them if no other run is active)",
                        RuntimeWarning,
                        stacklevel=3,
                    )
                    waited_since = float("inf")
                time.sleep(self.poll)
