"""Loading a user's data: inputs, labels and optional masks from one ``.npz`` file or from
``.npy`` files, checked (:func:`load_data`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._paths import PathLike, _existing_file

__all__ = ["DATA_KEYS", "LoadedData", "load_data"]

#: Accepted names of the arrays in a ``.npz`` file: ours first, then Quantus's.
DATA_KEYS: dict[str, tuple[str, ...]] = {
    "x": ("x", "x_batch"),
    "y": ("y", "y_batch"),
    "s": ("s", "s_batch", "masks"),
}


@dataclass(frozen=True)
class LoadedData:
    """Inputs, labels and optional masks read by :func:`load_data`.

    Attributes
    ----------
    x : numpy.ndarray
        Inputs ``(N, C, ...)``, floating point.
    y : numpy.ndarray
        Class indices ``(N,)``, int64.
    s : numpy.ndarray or None
        Binary masks ``(N, 1 or C, ...)`` when given.
    source : str
        Where the arrays came from, for summaries.
    """

    x: np.ndarray
    y: np.ndarray
    s: np.ndarray | None
    source: str

    def as_tuple(self) -> tuple[np.ndarray, ...]:
        """``(x, y)``, or ``(x, y, s)`` when there are masks."""
        return (self.x, self.y) if self.s is None else (self.x, self.y, self.s)

    def __len__(self) -> int:
        return len(self.x)


def _read_npy(path: PathLike, role: str) -> np.ndarray:
    file = _existing_file(path, f"{role} file")
    if file.suffix.lower() != ".npy":
        raise ValueError(
            f"{role} file {str(file)!r} must be a .npy file (np.save), got {file.suffix or 'no suffix'}"
        )
    try:
        return np.load(file, allow_pickle=False)
    except ValueError as err:
        raise ValueError(
            f"cannot read {str(file)!r}: {err} (save plain numeric arrays, not objects)"
        ) from err


def _pick(archive: Mapping[str, np.ndarray], role: str, name: str, keys: list[str], required: bool) -> Any:
    present = [k for k in DATA_KEYS[role] if k in keys]
    if len(present) > 1:
        raise ValueError(f"{name} has both {present[0]!r} and {present[1]!r}; keep one")
    if not present:
        if required:
            accepted = " or ".join(DATA_KEYS[role])
            raise ValueError(f"{name} has no {role!r} (keys: {', '.join(keys) or 'none'}); give {accepted}")
        return None
    try:
        return archive[present[0]]
    except ValueError as err:
        raise ValueError(f"cannot read {present[0]!r} of {name}: {err} (save plain numeric arrays)") from err


def _check_arrays(x: Any, y: Any, s: Any, where: dict[str, str]) -> tuple[np.ndarray, np.ndarray, Any]:
    x = np.asarray(x)
    if x.dtype == bool or not np.issubdtype(x.dtype, np.number):
        raise TypeError(f"{where['x']} must be a numeric array, got dtype {x.dtype}")
    if x.ndim < 2 or len(x) == 0:
        raise ValueError(f"{where['x']} must have shape (N, C, ...) with N > 0, got {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float32)  # e.g. uint8 images: values kept as they are, no rescaling
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{where['x']} contains NaN or Inf values")
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        hint = "; for one-hot labels save y.argmax(1)" if y.ndim == 2 else ""
        raise ValueError(f"{where['y']} must be class indices of shape ({len(x)},), got {y.shape}{hint}")
    if not (
        np.issubdtype(y.dtype, np.integer)
        or (np.issubdtype(y.dtype, np.floating) and np.all(y == np.round(y)))
    ):
        raise TypeError(f"{where['y']} must hold integer class indices, got dtype {y.dtype}")
    if len(y) != len(x):
        raise ValueError(f"{where['y']} has {len(y)} labels but {where['x']} has {len(x)} inputs")
    if len(y) and y.min() < 0:
        raise ValueError(f"{where['y']} has negative class indices (min {int(y.min())})")
    y = y.astype(np.int64)
    if s is not None:
        s = np.asarray(s)
        if len(s) != len(x) or s.ndim != x.ndim:
            raise ValueError(
                f"{where['s']} must have shape ({len(x)}, 1 or {x.shape[1]}, {', '.join(map(str, x.shape[2:]))}) "
                f"to match {where['x']}, got {s.shape}"
            )
        if s.dtype != bool and not np.all((s == 0) | (s == 1)):
            raise ValueError(f"{where['s']} must be a binary mask (values 0 and 1 only)")
    return x, y, s


def load_data(
    path: PathLike,
    y: PathLike | None = None,
    s: PathLike | None = None,
    *,
    n: int | None = None,
) -> LoadedData:
    """Inputs, labels and optional masks from an ``.npz`` file or from ``.npy`` files.

    Parameters
    ----------
    path : path-like
        An ``.npz`` file (``np.savez``) with ``x``, ``y`` and optionally ``s`` or ``masks``
        (Quantus's names ``x_batch``, ``y_batch``, ``s_batch`` work too), or an ``.npy`` file
        with the inputs ``(N, C, ...)``.
    y, s : path-like, optional
        ``.npy`` files with the labels (required with an ``.npy`` ``path``) and the masks.
        With an ``.npz`` file the labels and masks come from it.
    n : int, optional
        Keep the first ``n`` samples.

    Returns
    -------
    LoadedData
        Integer inputs become float32 (values unchanged); labels become int64.

    Raises
    ------
    FileNotFoundError, ValueError, TypeError
        Naming the file (and key) and what was expected.
    """
    file = _existing_file(path, "data file")
    suffix = file.suffix.lower()
    name = file.name
    if suffix == ".npz":
        if y is not None or s is not None:
            raise ValueError(f"{name} is an .npz file: store y and masks in it, not in separate files")
        try:
            archive = np.load(file, allow_pickle=False)
        except Exception as err:
            raise ValueError(f"cannot read {str(file)!r} as an .npz file: {err}") from err
        with archive:
            keys = list(archive.files)
            arrays = {role: _pick(archive, role, name, keys, role != "s") for role in ("x", "y", "s")}
        used = {
            role: next(k for k in DATA_KEYS[role] if k in keys) for role in arrays if arrays[role] is not None
        }
        where = {role: f"{name}[{used.get(role, role)!r}]" for role in ("x", "y", "s")}
        x_arr, y_arr, s_arr = arrays["x"], arrays["y"], arrays["s"]
        source = str(file)
    elif suffix == ".npy":
        if y is None:
            raise ValueError(
                f"{name} holds only the inputs: give the labels too (an .npy file of class indices)"
            )
        x_arr, y_arr = _read_npy(file, "inputs"), _read_npy(y, "labels")
        s_arr = _read_npy(s, "masks") if s is not None else None
        where = {"x": name, "y": Path(y).name, "s": Path(s).name if s is not None else "masks"}
        source = ", ".join(str(p) for p in (file, y, s) if p is not None)
    else:
        raise ValueError(
            f"data file {str(file)!r} must be .npz (x, y[, s]) or .npy (the inputs), got {suffix!r}"
        )
    x_arr, y_arr, s_arr = _check_arrays(x_arr, y_arr, s_arr, where)
    if n is not None:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}")
        x_arr, y_arr = x_arr[:n], y_arr[:n]
        s_arr = s_arr[:n] if s_arr is not None else None
    return LoadedData(x=x_arr, y=y_arr, s=s_arr, source=source)
