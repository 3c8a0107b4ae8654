"""Input checks shared by explainers, enhancers and metrics.

Every check raises a ``TypeError`` or ``ValueError`` that names the offending argument and
says what was expected: never a bare assertion, never a silent wrong value.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn


def check_model(model: object, name: str = "model") -> nn.Module:
    """The ``nn.Module`` behind ``model``: itself, or unwrapped from a Quantus model wrapper
    (``quantus.helpers.model.pytorch_model.PyTorchModel`` and other ``ModelInterface``s)."""
    if not isinstance(model, nn.Module) and callable(getattr(model, "get_model", None)):
        inner = model.get_model()
        if isinstance(inner, nn.Module):
            return inner
    if not isinstance(model, nn.Module):
        raise TypeError(f"{name} must be a torch.nn.Module, got {type(model).__name__}")
    return model


def check_hookable(model: nn.Module, method: str) -> None:
    """Refuse a TorchScript model (``TypeError``) for a ``method`` that hooks the model's modules.

    Scripted and traced models take no forward or backward hooks, and their ReLUs are not
    ``nn.ReLU`` instances, so Grad-CAM and Guided Backprop cannot run on them; gradient
    methods without hooks (Saliency, Integrated Gradients, ...) can.
    """
    if isinstance(model, torch.jit.ScriptModule):
        raise TypeError(
            f"{method} hooks the model's layers, which a TorchScript model ({type(model).__name__}) "
            "does not allow: give it the nn.Module before torch.jit.script/trace (on the command "
            "line: --model package.module:factory with --state-dict)"
        )


def model_device(model: nn.Module) -> torch.device:
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return torch.device("cpu")


def model_dtype(model: nn.Module, default: torch.dtype = torch.float32) -> torch.dtype:
    """The model's floating dtype (of its first floating parameter or buffer; ``default`` if none)."""
    for tensor in (*model.parameters(), *model.buffers()):
        if tensor.is_floating_point():
            return tensor.dtype
    return default


def as_model_input(x: object, model: nn.Module) -> torch.Tensor:
    """``x`` (numpy or tensor) as a tensor on the model's device, in the model's dtype.

    Every place that runs a user's model on data it was handed goes through this, so
    float64 inputs (Quantus's fixtures are float64) reach a float32 model as float32.
    """
    tensor = x.detach() if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    return tensor.to(device=model_device(model), dtype=model_dtype(model))


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


def check_input_layout(model: nn.Module, shape: Sequence[int], name: str = "inputs") -> None:
    """Raise a clear error when inputs of ``shape`` cannot fit the model's first layer.

    Looks at the first module (in definition order) that owns parameters. For a
    ``Conv{1,2,3}d`` the inputs must be ``(N, in_channels, ...)`` with ``k + 2`` axes; a
    channels-last batch (``(N, ..., in_channels)``) is named as such, with the fix. For a
    ``Linear`` taking 2-D inputs, the feature count must match. Anything else is left to the
    model (no guessing).
    """
    first = next((m for m in model.modules() if any(True for _ in m.parameters(recurse=False))), None)
    shape = tuple(int(d) for d in shape)
    if isinstance(first, nn.modules.conv._ConvNd) and not isinstance(first, nn.modules.conv._ConvTransposeNd):
        k = len(first.kernel_size)
        want = first.in_channels
        layout = {1: "(N, C, T)", 2: "(N, C, H, W)", 3: "(N, C, D, H, W)"}[k]
        if len(shape) != k + 2:
            raise ValueError(
                f"{name} has shape {shape}, but the model's first layer {type(first).__name__}"
                f"(in_channels={want}) expects {k + 2}-D inputs {layout}"
            )
        if shape[1] != want:
            hint = (
                f"; it looks channels-last: move the channel axis first (e.g. "
                f"x.transpose(0, {k + 1}, {', '.join(str(i) for i in range(1, k + 1))})); the metrics "
                "and explainers take channel-first inputs only"
                if shape[-1] == want
                else ""
            )
            raise ValueError(
                f"{name} has shape {shape} with {shape[1]} channel(s) on axis 1, but the model's "
                f"first layer {type(first).__name__} expects in_channels={want} {layout}{hint}"
            )
    elif isinstance(first, nn.Linear) and len(shape) == 2 and shape[1] != first.in_features:
        raise ValueError(
            f"{name} has shape {shape}, but the model's first layer Linear expects "
            f"in_features={first.in_features} (inputs (N, {first.in_features}))"
        )


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


def count_classes(model: nn.Module, x: np.ndarray) -> int | None:
    """The model's number of classes, from one forward pass (``None`` if not ``(1, C)``).

    Runs without gradients on the model's device and in its floating dtype; the caller puts
    the model in eval mode and hands it back as it came.
    """
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    with torch.no_grad():
        out = model(torch.as_tensor(np.ascontiguousarray(x)).to(device=model_device(model), dtype=dtype))
    return int(out.shape[1]) if isinstance(out, torch.Tensor) and out.ndim == 2 else None


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


def as_class_indices(y: np.ndarray, name: str) -> np.ndarray:
    """``y`` as int64 class indices: integers, or floats with integral values (``3.0``), >= 0.

    A negative label would silently index the last classes and a fractional one would be
    truncated, so both are refused (``ValueError`` naming ``name``).
    """
    if np.issubdtype(y.dtype, np.floating):
        if not (np.all(np.isfinite(y)) and np.all(y == np.round(y))):
            bad = y[~(np.isfinite(y) & (y == np.round(y)))][0]
            raise ValueError(f"{name} must hold integer class indices, got {bad!r}")
    elif not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{name} must hold integer class indices, got dtype {y.dtype}")
    if y.size and y.min() < 0:
        raise ValueError(f"{name} must hold class indices >= 0, got {y.min()!r}")
    return y.astype(np.int64, copy=False)


def check_batch(
    x_batch: Any,
    y_batch: Any,
    a_batch: Any = None,
    s_batch: Any = None,
    *,
    requires_s_batch: bool = False,
    y_name: str = "y_batch",
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Validate a metric's batch arguments; return them as numpy arrays.

    Raises ``ValueError``/``TypeError`` naming the argument: non-finite or wrongly shaped
    inputs, labels of the wrong length or that are not class indices (named ``y_name``),
    attributions or masks that do not match the inputs, masks that are not binary.
    """
    x = as_array(x_batch, "x_batch")
    if x.ndim < 2 or x.shape[0] == 0:
        raise ValueError(f"x_batch must have shape (N, C, ...) with N > 0, got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("x_batch contains NaN or Inf values")
    y = as_array(y_batch, y_name)
    if y.ndim != 1 or y.shape[0] != x.shape[0]:
        raise ValueError(f"{y_name} must have shape ({x.shape[0]},) to match x_batch, got {y.shape}")
    y = as_class_indices(y, y_name)
    a = None
    if a_batch is not None:
        a = as_array(a_batch, "a_batch")
        if a.ndim == x.ndim - 1 and a.shape[0] == x.shape[0]:
            a = a[:, None]  # (N, H, W) maps, e.g. from ``.sum(axis=1)``: add the channel axis
        if a.shape[0] != x.shape[0] or a.ndim != x.ndim or not _spatial_match(a.shape, x.shape):
            raise ValueError(f"a_batch of shape {a.shape} does not match x_batch of shape {x.shape}")
        if not np.all(np.isfinite(a)):
            raise ValueError("a_batch contains NaN or Inf values")
    s = None
    if s_batch is not None:
        s = as_array(s_batch, "s_batch")
        if s.shape[0] != x.shape[0] or s.ndim != x.ndim or not _spatial_match(s.shape, x.shape):
            raise ValueError(
                f"s_batch of shape {s.shape} does not match x_batch of shape {x.shape}; expected "
                f"({x.shape[0]}, 1 or {x.shape[1]}, {', '.join(map(str, x.shape[2:]))})"
            )
        if s.dtype != bool and not np.all((s == 0) | (s == 1)):
            raise ValueError("s_batch must be a binary mask (values 0 and 1 only)")
    elif requires_s_batch:
        raise ValueError("this metric needs ground-truth masks: pass s_batch")
    return x, y, a, s


def as_array(value: Any, name: str) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    try:
        arr = np.asarray(value)
    except Exception as err:  # pragma: no cover - defensive
        raise TypeError(f"{name} must be array-like") from err
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    return arr


def _spatial_match(shape: tuple[int, ...], x_shape: tuple[int, ...]) -> bool:
    return shape[1] in (1, x_shape[1]) and tuple(shape[2:]) == tuple(x_shape[2:])


def accepts_keyword(func: Callable, name: str, *, if_unknown: bool) -> bool:
    """Whether ``func`` takes a keyword ``name`` (by name or through ``**kwargs``).

    ``if_unknown`` is the answer when the signature cannot be read (some builtins, C
    extensions): a caller that would otherwise drop a useful keyword says ``True``.
    """
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return if_unknown
    return any(p.name == name or p.kind == p.VAR_KEYWORD for p in params)
