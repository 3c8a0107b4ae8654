"""Input checks shared by explainers, enhancers and metrics.

Every check raises a ``TypeError`` or ``ValueError`` that names the offending argument and
says what was expected (DESIGN.md, invariant 5).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn


def check_model(model: object, name: str = "model") -> nn.Module:
    if not isinstance(model, nn.Module):
        raise TypeError(f"{name} must be a torch.nn.Module, got {type(model).__name__}")
    return model


def model_device(model: nn.Module) -> torch.device:
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return torch.device("cpu")


def resolve_device(device: str | torch.device | None, model: nn.Module) -> torch.device:
    """The device to compute on: ``device`` if given, else the model's."""
    if device is None:
        return model_device(model)
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device must name a torch device, got {device!r}") from err
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", torch.cuda.current_device() if torch.cuda.is_available() else 0)
    if dev != model_device(model) and any(True for _ in model.parameters()):
        raise ValueError(
            f"device={device!r} differs from the model's device {model_device(model)}; move the "
            "model first (xai_sanity never moves a user's model)"
        )
    return dev


def as_input_tensor(
    inputs: object, device: torch.device, name: str = "inputs", min_ndim: int = 2
) -> torch.Tensor:
    """Convert a numpy array or tensor of inputs to a float tensor on ``device``."""
    if isinstance(inputs, np.ndarray):
        if not np.issubdtype(inputs.dtype, np.number) or np.issubdtype(inputs.dtype, np.complexfloating):
            raise TypeError(f"{name} must hold real numbers, got dtype {inputs.dtype}")
        tensor = torch.from_numpy(np.ascontiguousarray(inputs))
    elif isinstance(inputs, torch.Tensor):
        tensor = inputs.detach()
    else:
        raise TypeError(f"{name} must be a numpy array or torch tensor, got {type(inputs).__name__}")
    if tensor.is_complex() or tensor.dtype == torch.bool:
        raise TypeError(f"{name} must hold real numbers, got dtype {tensor.dtype}")
    if tensor.ndim < min_ndim:
        raise ValueError(
            f"{name} must have at least {min_ndim} dimensions (N, C, ...), got shape {tuple(tensor.shape)}"
        )
    if tensor.shape[0] == 0:
        raise ValueError(f"{name} is empty (batch size 0)")
    if not tensor.is_floating_point():
        tensor = tensor.float()
    elif tensor.dtype == torch.float16 or tensor.dtype == torch.bfloat16:
        tensor = tensor.float()
    tensor = tensor.to(device)
    if not torch.isfinite(tensor).all():
        raise ValueError(f"{name} contains NaN or Inf values")
    return tensor


def as_target_tensor(targets: object, n: int, device: torch.device, name: str = "targets") -> torch.Tensor:
    """Convert integer class targets to a ``(n,)`` long tensor; a scalar is broadcast."""
    if isinstance(targets, torch.Tensor):
        arr = targets.detach().cpu().numpy()
    elif isinstance(targets, (int, np.integer)):
        arr = np.full(n, int(targets))
    else:
        try:
            arr = np.asarray(targets)
        except Exception as err:  # pragma: no cover - defensive
            raise TypeError(f"{name} must be an array of class indices") from err
    if arr.ndim == 0:
        arr = np.full(n, arr.item())
    if arr.ndim != 1:
        raise ValueError(f"{name} must have shape (N,) with N={n}, got shape {arr.shape}")
    if arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} entries but inputs has batch size {n}")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise ValueError(f"{name} must be integer class indices, got non-integer values")
    elif arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must be integer class indices, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if np.any(arr < 0):
        raise ValueError(f"{name} must be non-negative class indices, got {arr.min()}")
    return torch.from_numpy(arr).to(device)


def check_targets_in_range(targets: torch.Tensor, n_classes: int, name: str = "targets") -> None:
    if targets.numel() and int(targets.max()) >= n_classes:
        raise ValueError(f"{name} contains class {int(targets.max())} but the model has {n_classes} outputs")


def check_reduce_axes(reduce_axes: Sequence[int] | None, ndim: int) -> tuple[int, ...]:
    if reduce_axes is None:
        return ()
    try:
        axes = tuple(int(a) for a in reduce_axes)
    except TypeError as err:
        raise TypeError(f"reduce_axes must be a tuple of ints, got {reduce_axes!r}") from err
    norm = []
    for axis in axes:
        if not -ndim <= axis < ndim:
            raise ValueError(f"reduce_axes={axes} is out of range for {ndim}-dimensional explanations")
        axis %= ndim
        if axis == 0:
            raise ValueError("reduce_axes must not include the batch axis 0")
        norm.append(axis)
    return tuple(sorted(set(norm)))


def check_positive_int(value: object, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_non_negative(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)
