"""Grad-CAM and Guided Grad-CAM (Selvaraju et al. 2017)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import Explainer, class_scores, input_gradient
from .guided import guided_relus

_MODES = ("bilinear", "nearest", "bicubic", "area")


#: Modules that may sit between a convolution and its ReLU without changing which feature
#: maps are meant (normalisation, no-ops).
_BETWEEN_CONV_AND_RELU = (nn.BatchNorm2d, nn.Identity, nn.GroupNorm, nn.InstanceNorm2d)


def _rectifier_after(model: nn.Module, conv: nn.Module) -> nn.Module | None:
    """The ``nn.ReLU`` applied to ``conv``'s output in their ``nn.Sequential``, if any."""
    for parent in model.modules():
        if not isinstance(parent, nn.Sequential):
            continue
        children = list(parent.children())
        for i, child in enumerate(children):
            if child is conv:
                for follower in children[i + 1 :]:
                    if isinstance(follower, nn.ReLU):
                        return follower
                    if not isinstance(follower, _BETWEEN_CONV_AND_RELU):
                        return None
                return None
    return None


def find_layer(model: nn.Module, layer: str | nn.Module | None) -> nn.Module:
    """Resolve ``layer``: a submodule name, a submodule, or ``None`` for the default.

    The default is the rectified output of the last ``nn.Conv2d``: the ``nn.ReLU`` module
    that follows it in its ``nn.Sequential`` (possibly after a normalisation layer), else the
    convolution itself.
    """
    if layer is None:
        convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
        if not convs:
            raise ValueError("layer=None needs an nn.Conv2d in the model; pass layer= explicitly")
        return _rectifier_after(model, convs[-1]) or convs[-1]
    if isinstance(layer, str):
        try:
            return model.get_submodule(layer)
        except AttributeError as err:
            raise ValueError(f"layer={layer!r} is not a submodule of the model") from err
    if isinstance(layer, nn.Module):
        if not any(m is layer for m in model.modules()):
            raise ValueError("layer must be a submodule of the model being explained")
        return layer
    raise TypeError(f"layer must be a submodule name, an nn.Module or None, got {type(layer).__name__}")


def grad_cam(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    layer: str | nn.Module | None,
    relu: bool,
    interpolate_mode: str,
) -> torch.Tensor:
    """Grad-CAM maps upsampled to the input's spatial size, shape ``(N, 1, H, W)``."""
    module = find_layer(model, layer)
    captured: list[torch.Tensor] = []

    def keep_output(mod, args, output):
        if not isinstance(output, torch.Tensor):
            raise ValueError("the Grad-CAM layer must return a single tensor")
        captured.append(output)
        # Pass a copy on, as captum does: an in-place op after the layer (ReLU(inplace=True))
        # would otherwise overwrite the captured activation and its autograd history.
        return output.clone()

    handle = module.register_forward_hook(keep_output)
    try:
        x = inputs.detach().requires_grad_(True)
        with torch.enable_grad():
            score = class_scores(model, x, targets).sum()
            if not captured:
                raise ValueError("the Grad-CAM layer was not called in the model's forward pass")
            activation = captured[-1]
            if activation.ndim != 4:
                raise ValueError(
                    f"the Grad-CAM layer must output (N, K, h, w) maps, got {tuple(activation.shape)}"
                )
            (grads,) = torch.autograd.grad(score, activation)
    finally:
        handle.remove()
    weights = grads.mean(dim=(2, 3), keepdim=True)
    cam = (weights * activation.detach()).sum(dim=1, keepdim=True)
    if relu:
        cam = cam.clamp(min=0)
    return F.interpolate(cam, size=inputs.shape[2:], mode=interpolate_mode)


class GradCAM(Explainer):
    """Grad-CAM: ReLU of the gradient-weighted sum of a conv layer's feature maps.

    Parameters
    ----------
    layer : str, nn.Module or None, default None
        The layer (a submodule name such as ``"features.6"`` keeps the explainer picklable).
        ``None`` picks the rectified feature maps of the last convolution, as the paper's
        Caffe models expose them (their ReLUs work in place): the ``nn.ReLU`` that follows
        the last ``nn.Conv2d`` in its ``nn.Sequential`` (after a normalisation layer, if
        any), or the convolution itself when there is none. On the pre-ReLU convolution
        output the class-weighted sum is often negative everywhere, giving an all-zero map
        (43% of the built-in VGG's test images, against none on the ReLU's output).
    relu : bool, default True
        Keep only positive evidence, as in the paper (captum's ``relu_attributions``).
    interpolate_mode : str, default "bilinear"
        How the map is upsampled to the input size (``torch.nn.functional.interpolate``).
    """

    name = "GradCAM"
    min_ndim = 4

    def __init__(
        self,
        layer: str | nn.Module | None = None,
        relu: bool = True,
        interpolate_mode: str = "bilinear",
    ) -> None:
        self.layer = layer
        self.relu = relu
        self.interpolate_mode = interpolate_mode

    def _check_params(self) -> None:
        if self.interpolate_mode not in _MODES:
            raise ValueError(f"interpolate_mode must be one of {_MODES}, got {self.interpolate_mode!r}")

    def attribute(self, model, inputs, targets, generator=None):
        return grad_cam(model, inputs, targets, self.layer, self.relu, self.interpolate_mode)


class GuidedGradCAM(GradCAM):
    """Guided Grad-CAM: Guided Backprop times the upsampled Grad-CAM map, per channel."""

    name = "GuidedGradCAM"

    def attribute(self, model, inputs, targets, generator=None):
        cam = grad_cam(model, inputs, targets, self.layer, True, self.interpolate_mode)
        with guided_relus(model):
            guided = input_gradient(model, inputs, targets)
        return guided * cam
