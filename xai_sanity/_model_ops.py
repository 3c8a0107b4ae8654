"""Operations on a model's parameters, in one place.

* the weight-noise rule of NoiseGrad (:func:`noisy_parameters`), used by the enhancers and
  by the accuracy-drop heuristic;
* temporarily running a model with other parameter tensors (:func:`swapped_parameters`):
  the module's parameter *slots* point at new tensors for the duration of a block, the
  user's own tensors are never written to (their autograd version counters do not move);
* which layers a randomisation touches (:func:`randomisable_layers`), re-initialising one
  (:func:`reinitialise`), and a fresh, seeded, trainable copy of a model (:func:`fresh_copy`),
  used by parameter/data randomisation and by remove-and-retrain.
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Iterator, Mapping

import torch
from torch import nn

from ._safety import make_generator

__all__ = [
    "WEIGHT_NOISE_MODES",
    "fresh_copy",
    "noisy_parameters",
    "randomisable_layers",
    "reinitialise",
    "reinitialised_tensors",
    "swapped_parameters",
    "weight_noise",
]

WEIGHT_NOISE_MODES = ("multiplicative", "additive")


def weight_noise(original: torch.Tensor, std: float, mode: str, gen: torch.Generator) -> torch.Tensor:
    """One noisy copy of ``original``: ``W ⊙ (1 + ε)`` (multiplicative) or ``W + ε`` (additive).

    ``ε ~ N(0, std²)`` elementwise, drawn from ``gen`` (Bykov et al., AAAI 2022, use the
    multiplicative form). ``original`` is not modified.
    """
    if mode not in WEIGHT_NOISE_MODES:
        raise ValueError(f"weight noise mode must be one of {WEIGHT_NOISE_MODES}, got {mode!r}")
    # Built in place in one fresh tensor (the same operations, so the same numbers, as
    # ``W * (1 + std * z)``): a draw costs one copy of the parameter, not three.
    with torch.no_grad():
        noisy = torch.randn(original.shape, generator=gen, device=original.device).to(original.dtype)
        noisy.mul_(std)
        if mode == "multiplicative":
            return noisy.add_(1).mul_(original.detach())
        return noisy.add_(original.detach())


def noisy_parameters(
    model: nn.Module, std: float, mode: str, gen: torch.Generator
) -> dict[torch.Tensor, torch.Tensor]:
    """A noisy copy of every (unique) parameter of ``model``, keyed by the original tensor.

    Draws in the order of ``model.parameters()``, so one seed gives one set of weights.
    Feed the result to :func:`swapped_parameters`.
    """
    return {p: weight_noise(p, std, mode, gen) for p in model.parameters()}


@contextlib.contextmanager
def swapped_parameters(model: nn.Module, replacements: Mapping[torch.Tensor, torch.Tensor]) -> Iterator[None]:
    """Run ``model`` with some parameters (or buffers) replaced, without writing to the originals.

    ``replacements`` maps an original parameter or buffer tensor to the tensor that takes its
    place (tied tensors are replaced everywhere they appear). Inside the block each module's
    slot holds the replacement (a parameter as an ``nn.Parameter`` sharing the replacement's
    storage, with the original's ``requires_grad``); on exit, also on error, the original
    objects are put back. Nothing is copied into the user's tensors, so their autograd
    version counters do not move and a graph built before the block still backpropagates.
    """
    swapped: list[tuple[dict, str, torch.Tensor]] = []
    wrapped: dict[int, torch.Tensor] = {}
    try:
        for module in model.modules():
            for slots, is_param in ((module._parameters, True), (module._buffers, False)):
                for name, tensor in list(slots.items()):
                    if tensor is None or tensor not in replacements:
                        continue
                    new = wrapped.get(id(tensor))
                    if new is None:
                        value = replacements[tensor].detach()
                        new = nn.Parameter(value, requires_grad=tensor.requires_grad) if is_param else value
                        wrapped[id(tensor)] = new
                    swapped.append((slots, name, tensor))
                    slots[name] = new
        yield
    finally:
        for slots, name, tensor in reversed(swapped):
            slots[name] = tensor


def reinitialised_tensors(module: nn.Module, seed: int) -> dict[torch.Tensor, torch.Tensor]:
    """New values of ``module``'s own parameters and buffers after :func:`reinitialise`.

    Computed on a copy of the module; the module itself is not touched. Keyed by the
    module's tensors, ready for :func:`swapped_parameters`.
    """
    clone = copy.deepcopy(module)
    reinitialise(clone, seed)
    new = {**dict(clone.named_parameters(recurse=False)), **dict(clone.named_buffers(recurse=False))}
    old = {**dict(module.named_parameters(recurse=False)), **dict(module.named_buffers(recurse=False))}
    return {old[name]: new[name] for name in old}


def randomisable_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Modules that own parameters directly, in definition order (input → output).

    Frozen layers (``requires_grad=False``) are layers too: a model whose backbone is frozen
    is fully randomised only if they are randomised as well (as Quantus does).
    """
    return [
        (name, module)
        for name, module in model.named_modules()
        if any(True for _ in module.parameters(recurse=False))
    ]


def reinitialise(module: nn.Module, seed: int) -> None:
    """Re-initialise ``module``'s own parameters in place with its own initialiser, seeded.

    ``reset_parameters`` draws from torch's global RNG, so it runs inside
    ``torch.random.fork_rng``: the global state is the same afterwards. A module without
    ``reset_parameters`` gets each parameter re-drawn from ``N(0, s²)`` with ``s`` the
    original's standard deviation, or, for a constant tensor (e.g. a scale initialised to
    one value), its mean magnitude (1 for an all-zero tensor), so it is never redrawn as zeros.
    Only for modules xai_sanity owns (copies), never for a user's module.
    """
    device = next(module.parameters(recurse=False)).device
    devices = [device] if device.type == "cuda" else []
    with torch.no_grad():
        if hasattr(module, "reset_parameters"):
            with torch.random.fork_rng(devices=devices):
                torch.manual_seed(seed)
                module.reset_parameters()
            return
        gen = make_generator(seed, device)
        for p in module.parameters(recurse=False):
            std = float(p.std()) if p.numel() > 1 else 0.0
            if not (math.isfinite(std) and std > 0):
                std = float(p.abs().mean()) or 1.0
            p.copy_(torch.randn(p.shape, generator=gen, device=device, dtype=p.dtype) * std)


def fresh_copy(model: nn.Module, seed: int) -> nn.Module:
    """A fresh copy of ``model``'s architecture: every layer with parameters re-initialised.

    Layer ``i`` (definition order, frozen layers included) is seeded with ``seed + 1 + i``;
    every parameter of the copy requires gradients and the copy is in training mode, ready
    to train from scratch. Nothing of the trained weights survives. ``model`` is not touched.
    """
    fresh = copy.deepcopy(model)
    for i, (_, module) in enumerate(randomisable_layers(fresh)):
        reinitialise(module, seed + 1 + i)
    for p in fresh.parameters():
        p.requires_grad_(True)
    return fresh.train()
