"""Model snapshot/restore and RNG helpers.

Everything in xai_sanity that touches a user's model goes through :func:`model_guard`,
and everything stochastic draws from a private :class:`torch.Generator` made by
:func:`make_generator`, so neither the model nor the global RNG states change.

xai_sanity never writes to a user's tensors: perturbed or randomised weights are swapped
in as new tensors (:mod:`xai_sanity._model_ops`). So the guard does not copy parameters; it
records the cheap things a call (or a third-party explain function) may change — the
``training`` and ``requires_grad`` flags, ``.grad`` references and hooks — and puts back only
those. It also records each tensor's autograd version counter: a tensor written to in place
during the call (which would break a graph the caller built before it) is reported as an
error instead of being silently "restored".
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

_HOOK_DICTS = (
    "_forward_hooks",
    "_forward_hooks_with_kwargs",
    "_forward_hooks_always_called",
    "_forward_pre_hooks",
    "_forward_pre_hooks_with_kwargs",
    "_backward_hooks",
    "_backward_pre_hooks",
    "_state_dict_hooks",
    "_state_dict_pre_hooks",
    "_load_state_dict_pre_hooks",
    "_load_state_dict_post_hooks",
)


@dataclass
class ModelSnapshot:
    """Everything about a module that xai_sanity promises to give back unchanged."""

    tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    grads: dict[str, torch.Tensor | None] = field(default_factory=dict)
    requires_grad: dict[str, bool] = field(default_factory=dict)
    training: dict[str, bool] = field(default_factory=dict)
    hooks: dict[str, dict[str, OrderedDict]] = field(default_factory=dict)
    full_backward: dict[str, bool | None] = field(default_factory=dict)
    #: Autograd version counter of every parameter and buffer (moves on any in-place write).
    versions: dict[str, int] = field(default_factory=dict)


def _named_tensors(model: nn.Module) -> Iterator[tuple[str, torch.Tensor]]:
    yield from model.named_parameters(remove_duplicate=False)
    yield from model.named_buffers(remove_duplicate=False)


def snapshot(model: nn.Module, copy_tensors: bool = True) -> ModelSnapshot:
    """Record parameters, buffers, gradients, flags, hooks and version counters of ``model``.

    With ``copy_tensors=False`` neither tensor values nor gradients are copied (gradients are
    kept by reference); flags, hooks and version counters are still recorded. Copies are for
    tests that compare values; :func:`model_guard` needs none.
    """
    snap = ModelSnapshot()
    for name, tensor in _named_tensors(model):
        snap.versions[name] = tensor._version
        if copy_tensors:
            snap.tensors[name] = tensor.detach().clone()
        if isinstance(tensor, nn.Parameter):
            snap.requires_grad[name] = tensor.requires_grad
            grad = tensor.grad
            snap.grads[name] = None if grad is None else (grad.detach().clone() if copy_tensors else grad)
    for name, module in model.named_modules(remove_duplicate=False):
        snap.training[name] = module.training
        snap.hooks[name] = {
            attr: OrderedDict(getattr(module, attr)) for attr in _HOOK_DICTS if hasattr(module, attr)
        }
        snap.full_backward[name] = getattr(module, "_is_full_backward_hook", None)
    return snap


def restore(model: nn.Module, snap: ModelSnapshot) -> None:
    """Put back flags, ``.grad``, hooks — and tensor values where ``snap`` holds copies.

    Only tensors whose version counter moved are written (a tensor nobody wrote to keeps
    its version counter, so a graph built before the call still backpropagates).
    """
    with torch.no_grad():
        for name, tensor in _named_tensors(model):
            if name in snap.tensors and tensor._version != snap.versions.get(name):
                tensor.copy_(snap.tensors[name])
            if isinstance(tensor, nn.Parameter) and name in snap.requires_grad:
                if tensor.requires_grad != snap.requires_grad[name]:
                    tensor.requires_grad_(snap.requires_grad[name])
                saved = snap.grads[name]
                if tensor.grad is not saved:
                    tensor.grad = None if saved is None else saved
    for name, module in model.named_modules(remove_duplicate=False):
        if name in snap.training:
            module.training = snap.training[name]
        for attr, saved_hooks in snap.hooks.get(name, {}).items():
            live = getattr(module, attr)
            live.clear()
            live.update(saved_hooks)
        if name in snap.full_backward and hasattr(module, "_is_full_backward_hook"):
            module._is_full_backward_hook = snap.full_backward[name]


class ModelWrittenError(RuntimeError):
    """A user's parameter or buffer was written to in place during a guarded call."""


def written_tensors(model: nn.Module, snap: ModelSnapshot) -> list[str]:
    """Names of the parameters and buffers whose version counter moved since ``snap``."""
    return [
        name
        for name, tensor in _named_tensors(model)
        if name in snap.versions and tensor._version != snap.versions[name]
    ]


@contextlib.contextmanager
def model_guard(
    model: nn.Module, *, eval_mode: bool = True, freeze: bool = True, copy_tensors: bool = False
) -> Iterator[ModelSnapshot]:
    """Context manager that hands the model back as it came, also on error.

    Inside the block the model is in ``eval()`` mode (unless ``eval_mode=False``) and
    parameters do not require gradients (explanations need input gradients only; unless
    ``freeze=False``). On exit the ``training`` and ``requires_grad`` flags, ``.grad``
    references and hooks are put back. Nothing is copied: xai_sanity's own code never
    writes to a model's tensors, and a tensor that was written to in place during the block
    (by third-party code) raises :class:`ModelWrittenError` on a normal exit — with
    ``copy_tensors=True`` (a full copy, for untrusted code) it is restored from the copy
    instead.
    """
    snap = snapshot(model, copy_tensors=copy_tensors)
    failed = False
    try:
        if eval_mode:
            model.eval()
        if freeze:
            for param in model.parameters():
                if param.requires_grad:
                    param.requires_grad_(False)
        yield snap
    except BaseException:
        failed = True
        raise
    finally:
        restore(model, snap)
        written = [] if copy_tensors else written_tensors(model, snap)
        if written and not failed:
            raise ModelWrittenError(
                f"the model's tensors {written[:5]}{' ...' if len(written) > 5 else ''} were written to "
                "in place during the call (by an explain function or other third-party code); "
                "xai_sanity never writes to a model, and cannot restore them without a copy "
                "(model_guard(copy_tensors=True))"
            )


def make_generator(seed: int | torch.Generator | None, device: torch.device | str = "cpu") -> torch.Generator:
    """Return a private generator: a fresh one seeded from ``seed``, or ``seed`` itself.

    ``None`` draws a seed from the OS (never from the global torch/numpy RNG).
    """
    if isinstance(seed, torch.Generator):
        return seed
    device = torch.device(device)
    gen = torch.Generator(device=device)
    if seed is None:
        seed = int(np.random.SeedSequence().entropy % (2**63))
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, a torch.Generator or None, got {type(seed).__name__}")
    gen.manual_seed(int(seed))
    return gen


def derive_seed(gen: torch.Generator) -> int:
    """Draw an int seed from ``gen`` (to seed generators on other devices, sub-tasks)."""
    return int(torch.randint(0, 2**62, (1,), generator=gen, device=gen.device).item())


@contextlib.contextmanager
def preserve_global_rng() -> Iterator[None]:
    """Restore torch (CPU and CUDA) and numpy global RNG states on exit.

    A safety net around third-party code (e.g. captum) that draws from the global RNG;
    xai_sanity's own code never draws from it.
    """
    torch_state = torch.random.get_rng_state()
    cuda_states = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
    np_state = np.random.get_state()
    try:
        yield
    finally:
        torch.random.set_rng_state(torch_state)
        if cuda_states is not None:
            torch.cuda.set_rng_state_all(cuda_states)
        np.random.set_state(np_state)
