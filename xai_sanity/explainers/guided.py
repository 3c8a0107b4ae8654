"""Guided Backpropagation (Springenberg et al. 2015)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from torch import nn

from .._validation import check_hookable
from .base import Explainer, input_gradient


def _clamp_grad_input(module, grad_input, grad_output):
    # Guided backprop: pass back only positive gradients through each ReLU, on top of
    # the ReLU's own mask of positive inputs.
    return tuple(None if g is None else g.clamp(min=0) for g in grad_input)


@contextlib.contextmanager
def guided_relus(model: nn.Module, method: str = "GuidedBackprop") -> Iterator[None]:
    """Temporarily make every ``nn.ReLU`` of ``model`` back-propagate guided gradients.

    In-place ReLUs are switched to out-of-place for the duration (full backward hooks
    cannot see in-place outputs). Functional ``F.relu`` calls are not modules and are
    not modified (captum has the same limitation). A TorchScript model is refused
    (``TypeError``, naming ``method``): it takes no hooks.
    """
    check_hookable(model, method)
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    if not relus:
        raise ValueError(
            "GuidedBackprop needs nn.ReLU modules in the model; none were found "
            "(functional F.relu calls cannot be hooked)"
        )
    inplace = [m.inplace for m in relus]
    handles = []
    try:
        for m in relus:
            m.inplace = False
            handles.append(m.register_full_backward_hook(_clamp_grad_input))
        yield
    finally:
        for handle in handles:
            handle.remove()
        for m, flag in zip(relus, inplace):
            m.inplace = flag


class GuidedBackprop(Explainer):
    """Guided Backpropagation: the gradient with negative signals cut at every ReLU.

    Equals captum's ``GuidedBackprop`` on models built from ``nn.ReLU`` modules.
    Adebayo et al. (2018) show it is largely insensitive to the model's weights.
    """

    name = "GuidedBackprop"

    def __init__(self) -> None:
        pass

    def attribute(self, model, inputs, targets, generator=None):
        with guided_relus(model):
            return input_gradient(model, inputs, targets)
