"""One memory policy for every chunked loop: a budget, a probe, chunks sized to fit.

* :func:`memory_budget` — bytes a loop may use at once: ``$XAI_SANITY_MEMORY_BUDGET`` if set
  (``"1.5GiB"``, ``"800MB"``, or a number of bytes), otherwise a safe share of what the
  device has free: on the CPU a quarter of the available RAM, at most 1 GiB (larger chunks
  gain little speed on a CPU); on CUDA half of the free device memory (the budget decides,
  not a small fixed chunk, so a GPU runs large chunks).
* :func:`input_cost` — bytes one input costs in a forward and backward pass of a model,
  probed once by a forward pass of a single input with hooks that add up every module's
  output size (the activations autograd keeps, and their gradients); the result is kept
  per model and input shape (:func:`probed`), so repeated calls do not probe again.
* :func:`auto_chunk` — how many inputs fit in the budget.

Loops that take an explicit ``batch_size`` / ``internal_batch_size`` use it; ``None`` (their
default) asks this module. Results never depend on the chunking.
"""

from __future__ import annotations

import os
import re
import weakref
from collections.abc import Callable
from typing import TypeVar

import torch
from torch import nn

__all__ = ["BUDGET_ENV_VAR", "auto_chunk", "input_cost", "memory_budget", "parse_bytes", "probed"]

T = TypeVar("T")

BUDGET_ENV_VAR = "XAI_SANITY_MEMORY_BUDGET"
_CPU_SHARE, _CPU_CAP = 0.25, 1 << 30
_CUDA_SHARE = 0.5
_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "kib": 2**10, "mib": 2**20, "gib": 2**30}


def parse_bytes(text: str | int | float) -> int:
    """``"1.5GiB"``, ``"800MB"``, ``"1e9"`` or a number → bytes (> 0), or ``ValueError``."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = float(text)
    else:
        match = re.fullmatch(r"\s*([0-9.eE+]+)\s*([a-zA-Z]*)\s*", str(text))
        unit = match.group(2).lower() if match else None
        if match is None or unit not in _UNITS:
            raise ValueError(f"{BUDGET_ENV_VAR} must be a size such as '1.5GiB' or '800MB', got {text!r}")
        value = float(match.group(1)) * _UNITS[unit]
    if not value > 0:
        raise ValueError(f"a memory budget must be positive, got {text!r}")
    return int(value)


def _available_ram() -> int:
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return 4 << 30


def memory_budget(device: torch.device | str = "cpu") -> int:
    """Bytes a chunked loop on ``device`` may use at once (see the module docstring)."""
    override = os.environ.get(BUDGET_ENV_VAR)
    if override:
        return parse_bytes(override)
    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return max(1, int(free * _CUDA_SHARE))
    return max(1, min(int(_available_ram() * _CPU_SHARE), _CPU_CAP))


def input_cost(model: nn.Module, example: torch.Tensor, backward: bool = True) -> int:
    """Bytes one input of ``example``'s shape costs in a forward (and backward) pass.

    ``example`` is one input ``(1, ...)`` (or a batch, of which the first is used). Every
    leaf module's output is counted (what autograd keeps for the backward pass), twice with
    ``backward`` (the gradients of those activations), plus the input itself. A model
    without modules is counted by its output. The probe runs without gradients and leaves
    the model as it is. It runs once per model and input shape (dtype, device, mode): the
    result is kept while the model lives and its modules and parameter shapes stay the same
    (swapping parameters in, as the metrics and enhancers do, keeps it).
    """
    # TorchScript takes no forward hooks: count what autograd saves instead.
    cost = _saved_cost if isinstance(model, torch.jit.ScriptModule) else _forward_cost
    return int(probed(model, example, "input_cost", cost) * (2 if backward else 1))


def probed(
    model: nn.Module, example: torch.Tensor, kind: str, probe: Callable[[nn.Module, torch.Tensor], T]
) -> T:
    """``probe(model, x)`` for the first input ``x`` of ``example``, run once per ``kind``,
    model and input shape.

    The result is kept while the model lives, for inputs of the same shape, dtype and
    device, with the model in the same mode and with the same layout (the same module
    objects, parameters of the same shapes; swapping parameter tensors in keeps it). For
    probes whose result depends on nothing else, such as :func:`input_cost` and Grad-CAM's
    default layer. An error is raised again at the next call, not kept.
    """
    x = example[:1].detach()
    key = (kind, *_probe_key(model, x))
    try:
        known = _PROBED.setdefault(model, {})
    except TypeError:  # an object that takes no weak reference: probe every time
        known = {}
    if key not in known:
        if len(known) >= _PROBED_PER_MODEL:
            known.clear()
        known[key] = probe(model, x)
    return known[key]


#: The results of :func:`probed` per model, by kind and :func:`_probe_key`.
_PROBED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_PROBED_PER_MODEL = 16


def _probe_key(model: nn.Module, x: torch.Tensor) -> tuple:
    """What a probe's result depends on: the input's shape, dtype and device, the model's mode,
    and its layout: which module objects it has, their ``inplace`` flags and numbers of
    forward hooks (both decide which tensors a forward pass returns), and the shapes of its
    parameters."""
    modules = tuple(
        (
            id(m),
            getattr(m, "inplace", None),
            len(getattr(m, "_forward_hooks", ())),
            len(getattr(m, "_forward_pre_hooks", ())),
        )
        for m in model.modules()
    )
    shapes = tuple(tuple(p.shape) for p in model.parameters())
    return (tuple(x.shape[1:]), x.dtype, x.device, model.training, modules, shapes)


def _forward_cost(model: nn.Module, x: torch.Tensor) -> int:
    """The input plus every leaf module's output in one forward pass of ``x`` (one input)."""
    total = [x.numel() * x.element_size()]

    def count(_module, _inputs, output) -> None:
        for out in output if isinstance(output, (tuple, list)) else (output,):
            if isinstance(out, torch.Tensor):
                total[0] += out.numel() * out.element_size()

    # Leaf modules only: a container's output is one of its children's outputs.
    leaves = [m for m in model.modules() if next(m.children(), None) is None] or [model]
    handles = [m.register_forward_hook(count) for m in leaves]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return total[0]


def _saved_cost(model: nn.Module, x: torch.Tensor) -> int:
    """:func:`_forward_cost` for a model that takes no forward hooks (TorchScript): the input
    plus every tensor autograd saves for the backward pass of one forward."""
    total = [x.numel() * x.element_size()]

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        total[0] += tensor.numel() * tensor.element_size()
        return tensor

    with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        model(x.clone().requires_grad_(True))
    return total[0]


def auto_chunk(model: nn.Module, example: torch.Tensor, device: torch.device | str | None = None) -> int:
    """How many inputs like ``example`` fit in the budget in one forward+backward pass (>= 1)."""
    device = example.device if device is None else device
    return max(1, memory_budget(device) // max(1, input_cost(model, example)))
