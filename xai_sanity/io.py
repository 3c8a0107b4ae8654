"""Loading a user's own model and data from files, for ``xai-sanity run`` and ``evaluate``.

Models come from a TorchScript file (:func:`load_torchscript`), a whole module saved with
``torch.save(model, path)`` (:func:`load_module`; unpickling runs code from the file, so only
for files you trust) or a ``"package.module:factory"`` with an optional state dict
(:func:`load_factory`); :func:`load_model` tells the three apart. Data comes from one ``.npz``
file or from ``.npy`` files (:func:`load_data`). Every error names the file, the key and what
was expected.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = [
    "DATA_KEYS",
    "LoadedData",
    "import_object",
    "load_data",
    "load_factory",
    "load_model",
    "load_module",
    "load_state_dict",
    "load_torchscript",
    "model_file_format",
]

#: Accepted names of the arrays in a ``.npz`` file: ours first, then Quantus's.
DATA_KEYS: dict[str, tuple[str, ...]] = {
    "x": ("x", "x_batch"),
    "y": ("y", "y_batch"),
    "s": ("s", "s_batch", "masks"),
}

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


# -- models --------------------------------------------------------------------------------


def _existing_file(path: PathLike, what: str) -> Path:
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(
            f"{what} {str(file)!r} does not exist" + (" (it is a folder)" if file.is_dir() else "")
        )
    return file


def model_file_format(path: PathLike) -> str:
    """``"torchscript"`` for a ``torch.jit.save`` archive, ``"export"`` for a ``torch.export``
    archive (``.pt2``), else ``"module"`` (``torch.save``).

    A TorchScript archive holds the model's code (``<name>/code/``); a ``torch.export``
    archive an ``archive_format`` entry; a ``torch.save`` file only pickled data. Files that
    are not zip archives (the legacy ``torch.save`` format) count as ``"module"``.
    """
    file = _existing_file(path, "model file")
    if not zipfile.is_zipfile(file):
        return "module"
    with zipfile.ZipFile(file) as archive:
        names = archive.namelist()
    if any(name.endswith("/archive_format") for name in names):
        return "export"
    if any("/code/" in name or name.endswith("constants.pkl") for name in names):
        return "torchscript"
    return "module"


def _map_location(device: str | torch.device | None) -> torch.device:
    return torch.device(device) if device is not None else torch.device("cpu")


def load_torchscript(path: PathLike, device: str | torch.device | None = None) -> nn.Module:
    """A TorchScript model (``torch.jit.save``), on ``device`` (default CPU), in eval mode.

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        The file is not a TorchScript archive.
    """
    file = _existing_file(path, "TorchScript file")
    if model_file_format(file) != "torchscript":
        raise ValueError(
            f"{str(file)!r} is not a TorchScript file (torch.jit.save); a model saved with torch.save(model) "
            "is loaded as a module (module = ... in a config, or --model PATH)"
        )
    try:
        model = torch.jit.load(str(file), map_location=_map_location(device))
    except Exception as err:
        raise ValueError(f"cannot load TorchScript file {str(file)!r}: {err}") from err
    return model.eval()


def load_module(
    path: PathLike, device: str | torch.device | None = None, search_paths: Sequence[PathLike] = ()
) -> nn.Module:
    """A whole ``nn.Module`` saved with ``torch.save(model, path)``, on ``device``, in eval mode.

    This unpickles the file (``torch.load(..., weights_only=False)``), which runs code stored
    in it: load only files you trust. The model's class must be importable (installed, or its
    module in the working folder or in ``search_paths``).

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        The file holds a state dict or something else that is not a module, or cannot be read.
    """
    file = _existing_file(path, "model file")
    with _importable_from(search_paths):
        try:
            obj = torch.load(str(file), map_location=_map_location(device), weights_only=False)
        except (ImportError, AttributeError) as err:
            raise ValueError(
                f"cannot unpickle {str(file)!r}: {err}. The model's class must be importable: install its "
                "package or put its module in the working folder"
            ) from err
        except Exception as err:
            raise ValueError(f"cannot load {str(file)!r} with torch.load: {err}") from err
    if isinstance(obj, Mapping):
        raise ValueError(
            f"{str(file)!r} holds a state dict (keys: {_preview(obj)}), not a model; give the function that "
            "builds the model with it: factory = 'package.module:make' and state_dict = the file "
            "(--model package.module:make --state-dict FILE)"
        )
    if not isinstance(obj, nn.Module):
        raise ValueError(f"{str(file)!r} holds a {type(obj).__name__}, not a torch.nn.Module")
    return obj.eval()


def _preview(keys: Any, n: int = 6) -> str:
    names = [str(k) for k in keys]
    return ", ".join(names[:n]) + (f", ... ({len(names)} in all)" if len(names) > n else "")


#: Keys under which training checkpoints commonly nest the state dict.
_NESTED_STATE_KEYS = ("state_dict", "model_state_dict", "model")


def load_state_dict(path: PathLike, device: str | torch.device | None = None) -> dict[str, torch.Tensor]:
    """The state dict in ``path`` (``torch.save(model.state_dict(), path)``), read safely.

    Loaded with ``weights_only=True`` (no code runs). A checkpoint dict that nests the state
    dict under ``"state_dict"``, ``"model_state_dict"`` or ``"model"`` is unwrapped.
    """
    file = _existing_file(path, "state dict file")
    try:
        obj = torch.load(str(file), map_location=_map_location(device), weights_only=True)
    except Exception as err:
        raise ValueError(
            f"cannot load state dict {str(file)!r} with weights_only=True: {err}. A file that holds a whole "
            "model (torch.save(model)) is given as module = ... instead"
        ) from err
    if not isinstance(obj, Mapping):
        raise ValueError(
            f"{str(file)!r} holds a {type(obj).__name__}, expected a state dict (name -> tensor)"
        )
    if not all(isinstance(v, torch.Tensor) for v in obj.values()):
        for key in _NESTED_STATE_KEYS:
            inner = obj.get(key)
            if (
                isinstance(inner, Mapping)
                and inner
                and all(isinstance(v, torch.Tensor) for v in inner.values())
            ):
                return dict(inner)
        raise ValueError(
            f"{str(file)!r} is not a state dict: not every value is a tensor and none of "
            f"{list(_NESTED_STATE_KEYS)} holds one (keys: {_preview(obj)})"
        )
    return dict(obj)


def load_factory(
    spec: str,
    state_dict: PathLike | None = None,
    kwargs: Mapping[str, Any] | None = None,
    *,
    device: str | torch.device | None = None,
    search_paths: Sequence[PathLike] = (),
) -> nn.Module:
    """``factory(**kwargs)`` for ``spec = "package.module:factory"``, then the state dict.

    Parameters
    ----------
    spec : str
        Where the factory (a class or function returning an ``nn.Module``) lives.
    state_dict : path-like, optional
        Weights to load (strictly: every key must match).
    kwargs : mapping, optional
        Arguments of the factory.
    device : str or torch.device, optional
        Where the model is put (default: where the factory put it).
    search_paths : sequence of path-like
        Folders also searched for the factory's module.

    Returns
    -------
    torch.nn.Module
        In eval mode.
    """
    factory = import_object(spec, "model factory", search_paths)
    if not callable(factory):
        raise TypeError(f"model factory {spec!r} is a {type(factory).__name__}, not callable")
    try:
        model = factory(**dict(kwargs or {}))
    except TypeError as err:
        raise TypeError(f"model factory {spec!r} rejected kwargs {dict(kwargs or {})}: {err}") from err
    if not isinstance(model, nn.Module):
        raise TypeError(f"model factory {spec!r} returned a {type(model).__name__}, not a torch.nn.Module")
    if device is not None:
        model = model.to(device)
    if state_dict is not None:
        weights = load_state_dict(state_dict, device=device)
        try:
            model.load_state_dict(weights, strict=True)
        except RuntimeError as err:
            raise ValueError(
                f"state dict {str(state_dict)!r} does not fit the model of {spec!r}: {err}".strip()
            ) from err
    return model.eval()


def load_model(
    source: PathLike,
    *,
    state_dict: PathLike | None = None,
    kwargs: Mapping[str, Any] | None = None,
    device: str | torch.device | None = None,
    search_paths: Sequence[PathLike] = (),
) -> nn.Module:
    """A model from a file or a factory, whichever ``source`` names.

    ``"package.module:factory"`` (no such file) goes to :func:`load_factory` (with
    ``state_dict`` and ``kwargs``); a TorchScript archive to :func:`load_torchscript`; any
    other file to :func:`load_module` (unpickling: only for files you trust).
    """
    text = os.fspath(source)
    if ":" in text and not Path(text).exists() and not Path(text).drive:
        return load_factory(text, state_dict, kwargs, device=device, search_paths=search_paths)
    if state_dict is not None or kwargs:
        raise ValueError(
            f"state_dict and kwargs go with a factory ('package.module:make'), not with the model file {text!r}"
        )
    kind = model_file_format(text)
    if kind == "export":
        raise ValueError(
            f"{text!r} is a torch.export archive; its modules cannot be switched to eval mode or given "
            "hooks, which explanations need. Give the model as a TorchScript file, a torch.save(model) "
            "file or a factory with a state dict"
        )
    if kind == "torchscript":
        return load_torchscript(text, device)
    return load_module(text, device, search_paths)


# -- data ----------------------------------------------------------------------------------


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
