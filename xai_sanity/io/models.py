"""Loading a user's model: a TorchScript file, a whole module saved with ``torch.save``, or a
``"package.module:factory"`` with an optional state dict; :func:`load_model` tells them apart.

Import its functions from :mod:`xai_sanity.io`, which lists them.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ._paths import PathLike, _existing_file, _importable_from, import_object


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
