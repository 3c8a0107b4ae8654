"""Grad-CAM and Guided Grad-CAM (Selvaraju et al. 2017), on images and time series.

The default layer is found by :func:`default_layer` from the model's modules and one probe
forward pass; see its docstring for the rule.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .._memory import probed
from .._safety import model_guard
from .._validation import check_hookable
from .base import Explainer, class_scores, input_gradient
from .guided import guided_relus

#: Accepted ``interpolate_mode`` values; which apply depends on the maps' dimensionality.
_MODES = ("bilinear", "linear", "nearest", "bicubic", "area")
#: Per number of spatial axes: the modes ``F.interpolate`` takes, and the names mapped onto them.
_MODES_BY_DIMS = {1: ("linear", "nearest", "area"), 2: ("bilinear", "nearest", "bicubic", "area")}
_MODE_ALIASES = {1: {"bilinear": "linear"}, 2: {}}
_LAYOUTS = {1: "time series (N, C, T)", 2: "images (N, C, H, W)"}

#: Modules that reduce a map over a window (or globally): the CAM layer sits before the
#: trailing ones.
_POOLING = (
    nn.modules.pooling._MaxPoolNd,
    nn.modules.pooling._AvgPoolNd,
    nn.modules.pooling._AdaptiveAvgPoolNd,
    nn.modules.pooling._AdaptiveMaxPoolNd,
    nn.modules.pooling._LPPoolNd,
    nn.FractionalMaxPool2d,
    nn.FractionalMaxPool3d,
)
#: Modules that hand their input back unchanged in eval mode (the same tensor object).
_PASS_THROUGH = (nn.Identity, nn.modules.dropout._DropoutNd)


def check_signal_layout(inputs: torch.Tensor, method: str) -> int:
    """The number of spatial axes of ``inputs``: 2 for images, 1 for time series.

    Raises ``ValueError`` for anything else (tabular ``(N, F)`` rows, volumes).
    """
    dims = inputs.ndim - 2
    if dims not in _LAYOUTS:
        raise ValueError(
            f"{method} needs images (N, C, H, W) or time series (N, C, T); got inputs of shape "
            f"{tuple(inputs.shape)}"
        )
    return dims


def _resolve_mode(mode: str, dims: int) -> str:
    """``interpolate_mode`` for maps with ``dims`` spatial axes ("bilinear" is "linear" in 1-D)."""
    resolved = _MODE_ALIASES[dims].get(mode, mode)
    if resolved not in _MODES_BY_DIMS[dims]:
        raise ValueError(
            f"interpolate_mode={mode!r} does not apply to {_LAYOUTS[dims]}; use one of "
            f"{_MODES_BY_DIMS[dims] + tuple(_MODE_ALIASES[dims])}"
        )
    return resolved


# ---------------------------------------------------------------------------------------
# the layer
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerChoice:
    """A Grad-CAM layer: its name in ``model.named_modules()``, the module, and which of its
    calls in one forward pass (0 for the first; -1 for the last) gives the feature maps."""

    name: str
    module: nn.Module
    call: int = -1


@dataclass
class _Call:
    """One completed module call seen by the probe."""

    module: nn.Module
    call: int
    input: torch.Tensor | None
    output: torch.Tensor


def _first_tensor(args: tuple, kwargs: dict) -> torch.Tensor | None:
    return next((a for a in (*args, *kwargs.values()) if isinstance(a, torch.Tensor)), None)


def _probe(model: nn.Module, example: torch.Tensor) -> list[_Call]:
    """Every module call of one forward pass of ``example``, in order of completion.

    A container completes after the modules it calls. Runs without gradients, in eval mode,
    inside :func:`~xai_sanity._safety.model_guard`; the hooks are removed afterwards.
    """
    calls: list[_Call] = []
    counts: dict[int, int] = {}

    def record(module, args, kwargs, output):
        if isinstance(output, torch.Tensor):
            n = counts.get(id(module), 0)
            calls.append(_Call(module, n, _first_tensor(args, kwargs), output))
        counts[id(module)] = counts.get(id(module), 0) + 1

    with model_guard(model), torch.no_grad():
        handles = [m.register_forward_hook(record, with_kwargs=True) for m in model.modules()]
        try:
            model(example)
        finally:
            for handle in handles:
                handle.remove()
    return calls


def default_layer(model: nn.Module, inputs: torch.Tensor) -> LayerChoice:
    """The default Grad-CAM layer of ``model`` for inputs like ``inputs``: the module whose
    output is the last spatial feature map before the classifier head.

    The first sample of ``inputs`` is run through the model once (without gradients, in
    eval mode, the model guarded and every hook removed afterwards), recording each module
    call in the order calls complete (a container completes after the modules it calls).
    Then:

    1. A *feature map* is an output with as many axes as ``inputs`` — ``(N, K, h, w)`` for
       images, ``(N, K, t)`` for time series — and at least one spatial size above 1 (a
       ``1 x 1`` map upsamples to a constant).
    2. Take the output of the last call that returns a feature map: the map the head
       reduces (global pooling, flatten) on its way to the logits.
    3. While the last module that produced that tensor is a pooling layer (max, average,
       adaptive, LP or fractional pooling, in any dimension; ``nn.Identity`` and dropout
       are looked through), take the pooling layer's input instead: the CAM layer sits
       before the trailing pools, as in VGG, whose last max-pool and adaptive average
       pool follow the last convolution's ReLU. (When that input was computed by
       functional code rather than returned by a module, the pooling layer is kept.)
    4. Among the calls that returned that very tensor object — a container returns its
       last module's output, and in-place operations (``ReLU(inplace=True)``, a residual
       ``out += identity``) return their input — choose the last to complete, i.e. the
       outermost module, passing over ``nn.Identity`` and dropout unless nothing else
       returned it.

    So ResNets give their last residual stage (``layer4`` on torchvision's ResNet-18, not
    ``layer4.1`` or ``layer4.1.relu``); VGG-like stacks the ReLU after the last convolution
    (``features.29`` on torchvision's VGG-16, ``features.11`` on the built-in SmallVGG,
    ``features.4`` on LeNet); DenseNet-like layouts the ``features`` container, whose
    output is its final normalisation. The choice depends only on the model and the input
    shape (for a forward pass that does not branch on the values): an input so small that the last stage's maps are ``1 x 1`` moves it to the
    last stage with larger maps.

    The choice is kept for later calls with the same model (same modules, ``inplace``
    flags, hooks and parameter shapes) and input shape, dtype and device, so the probe runs
    once for them (:func:`xai_sanity._memory.probed`).

    Parameters
    ----------
    model : torch.nn.Module
        A classifier returning ``(N, n_classes)`` scores.
    inputs : torch.Tensor of shape (N, C, H, W) or (N, C, T)
        Inputs in the model's layout, on its device; only the first is run.

    Returns
    -------
    LayerChoice
        The module's name, the module, and which of its calls returned the map (a module
        called more than once, such as a shared activation, is hooked at that call).

    Raises
    ------
    ValueError
        When no module returns a feature map.
    """
    check_signal_layout(inputs, "Grad-CAM")
    # The choice depends only on the model's layout and the input shape: probed once for them.
    return probed(model, inputs, "gradcam_layer", _choose_layer)


def _choose_layer(model: nn.Module, example: torch.Tensor) -> LayerChoice:
    """:func:`default_layer`'s rule, from one probe forward pass of ``example`` (one input)."""
    dims = example.ndim - 2
    calls = _probe(model, example)

    def is_map(t: torch.Tensor | None) -> bool:
        return t is not None and t.ndim == dims + 2 and any(s > 1 for s in t.shape[2:])

    def producers(t: torch.Tensor) -> list[_Call]:
        return [c for c in calls if c.output is t]

    def last_leaf(t: torch.Tensor) -> _Call | None:
        leaves = [c for c in producers(t) if not any(True for _ in c.module.children())]
        real = [c for c in leaves if not isinstance(c.module, _PASS_THROUGH)]
        return (real or leaves or [None])[-1]

    maps = [c for c in calls if is_map(c.output)]
    if not maps:
        kind = "(N, K, H, W) (such as an nn.Conv2d's)" if dims == 2 else "(N, K, T) (such as an nn.Conv1d's)"
        raise ValueError(
            f"layer=None: no module of the model returns a feature map {kind} with a spatial "
            "size above 1 for these inputs; pass layer= explicitly"
        )
    target = maps[-1].output
    seen = {id(target)}
    while (leaf := last_leaf(target)) is not None and isinstance(leaf.module, _POOLING):
        before = leaf.input
        if before is None or id(before) in seen or not producers(before):
            break
        target = before
        seen.add(id(target))
    candidates = producers(target)
    real = [c for c in candidates if not isinstance(c.module, _PASS_THROUGH)]
    chosen = (real or candidates)[-1]
    name = next(n for n, m in model.named_modules() if m is chosen.module)
    total = sum(1 for c in calls if c.module is chosen.module)
    return LayerChoice(name, chosen.module, -1 if chosen.call == total - 1 else chosen.call)


def _module_name(model: nn.Module, module: nn.Module) -> str | None:
    return next((n for n, m in model.named_modules() if m is module), None)


def resolve_layer(
    model: nn.Module, layer: str | nn.Module | None, inputs: torch.Tensor | None = None
) -> LayerChoice:
    """Resolve ``layer``: a submodule name, a submodule, or ``None`` for
    :func:`default_layer` (which needs ``inputs``)."""
    if layer is None:
        if inputs is None:
            raise ValueError(
                "layer=None: the default layer is found with a probe forward pass; pass inputs "
                "(an example batch)"
            )
        return default_layer(model, inputs)
    if isinstance(layer, str):
        try:
            return LayerChoice(layer, model.get_submodule(layer))
        except AttributeError as err:
            raise ValueError(f"layer={layer!r} is not a submodule of the model") from err
    if isinstance(layer, nn.Module):
        name = _module_name(model, layer)
        if name is None:
            raise ValueError("layer must be a submodule of the model being explained")
        return LayerChoice(name, layer)
    raise TypeError(f"layer must be a submodule name, an nn.Module or None, got {type(layer).__name__}")


def find_layer(
    model: nn.Module, layer: str | nn.Module | None, inputs: torch.Tensor | None = None
) -> nn.Module:
    """The module :func:`resolve_layer` picks (``layer=None`` needs ``inputs``)."""
    return resolve_layer(model, layer, inputs).module


# ---------------------------------------------------------------------------------------
# Grad-CAM
# ---------------------------------------------------------------------------------------


def grad_cam(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    layer: str | nn.Module | LayerChoice | None,
    relu: bool,
    interpolate_mode: str,
) -> torch.Tensor:
    """Grad-CAM maps upsampled to the input's size: ``(N, 1, H, W)`` or ``(N, 1, T)``.

    ``interpolate_mode`` "bilinear" is applied as "linear" to time series.
    """
    dims = check_signal_layout(inputs, "Grad-CAM")
    mode = _resolve_mode(interpolate_mode, dims)
    choice = layer if isinstance(layer, LayerChoice) else resolve_layer(model, layer, inputs)
    captured: list[torch.Tensor] = []

    def keep_output(mod, args, output):
        if not isinstance(output, torch.Tensor):
            raise ValueError("the Grad-CAM layer must return a single tensor")
        captured.append(output)
        # Pass a copy on, as captum does: an in-place op after the layer (ReLU(inplace=True))
        # would otherwise overwrite the captured activation and its autograd history.
        return output.clone()

    handle = choice.module.register_forward_hook(keep_output)
    try:
        x = inputs.detach().requires_grad_(True)
        with torch.enable_grad():
            score = class_scores(model, x, targets).sum()
            if not captured:
                raise ValueError("the Grad-CAM layer was not called in the model's forward pass")
            if not -len(captured) <= choice.call < len(captured):
                raise ValueError(
                    f"the Grad-CAM layer {choice.name!r} was called {len(captured)} times in this "
                    f"forward pass, fewer than in the probe pass that chose it"
                )
            activation = captured[choice.call]
            if activation.ndim != dims + 2 or activation.shape[0] != inputs.shape[0]:
                want = "(N, K, h, w)" if dims == 2 else "(N, K, t)"
                raise ValueError(
                    f"the Grad-CAM layer must output {want} maps for {_LAYOUTS[dims]}, got "
                    f"{tuple(activation.shape)}"
                )
            (grads,) = torch.autograd.grad(score, activation)
    finally:
        handle.remove()
    spatial = tuple(range(2, activation.ndim))
    weights = grads.mean(dim=spatial, keepdim=True)
    cam = (weights * activation.detach()).sum(dim=1, keepdim=True)
    if relu:
        cam = cam.clamp(min=0)
    return F.interpolate(cam, size=inputs.shape[2:], mode=mode)


class GradCAM(Explainer):
    """Grad-CAM: ReLU of the gradient-weighted sum of a layer's feature maps, upsampled.

    Works on images ``(N, C, H, W)`` (e.g. ``nn.Conv2d`` models) and time series
    ``(N, C, T)`` (``nn.Conv1d`` models); other layouts raise ``ValueError``.

    Parameters
    ----------
    layer : str, nn.Module or None, default None
        The layer (a submodule name such as ``"features.6"`` keeps the explainer picklable).
        ``None`` picks the module whose output is the last spatial feature map before the
        classifier head, found with one probe forward pass per model and input shape
        (:func:`default_layer` states the rule): ``layer4`` on a torchvision-layout
        ResNet, the ReLU after the last convolution on VGG-like stacks (the rectified maps
        the paper uses; on the pre-ReLU convolution output the class-weighted sum is often
        negative everywhere, giving an all-zero map), the ``features`` container on
        DenseNet-like layouts.
    relu : bool, default True
        Keep only positive evidence, as in the paper (captum's ``relu_attributions``).
    interpolate_mode : str, default "bilinear"
        How the map is upsampled to the input size (``torch.nn.functional.interpolate``).
        Images take "bilinear", "nearest", "bicubic" or "area"; time series take
        "linear", "nearest" or "area", and "bilinear" there means "linear" (so the default
        suits both).

    Attributes
    ----------
    layer_ : str
        After a call: the name of the layer used (the default's choice when
        ``layer=None``).
    """

    name = "GradCAM"

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

    def _layer(self, model: nn.Module, inputs: torch.Tensor) -> LayerChoice:
        check_hookable(model, self.name)
        dims = check_signal_layout(inputs, self.name)
        _resolve_mode(self.interpolate_mode, dims)  # refuse a bad mode before any work
        choice = resolve_layer(model, self.layer, inputs)
        self.layer_ = choice.name
        return choice

    def attribute(self, model, inputs, targets, generator=None):
        choice = self._layer(model, inputs)
        return grad_cam(model, inputs, targets, choice, self.relu, self.interpolate_mode)


class GuidedGradCAM(GradCAM):
    """Guided Grad-CAM: Guided Backprop times the upsampled Grad-CAM map, per channel.

    Takes the same parameters as :class:`GradCAM` (the map is always rectified), on images
    and time series alike.
    """

    name = "GuidedGradCAM"

    def attribute(self, model, inputs, targets, generator=None):
        choice = self._layer(model, inputs)
        cam = grad_cam(model, inputs, targets, choice, True, self.interpolate_mode)
        with guided_relus(model, self.name):
            guided = input_gradient(model, inputs, targets)
        return guided * cam
