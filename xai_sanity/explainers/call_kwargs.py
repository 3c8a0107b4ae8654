"""Quantus's and captum's keyword names, translated for our explain functions.

``explain_func_kwargs`` written for ``quantus.explain`` (or captum's ``attribute``) keep
working when our explain function is swapped in. The table (also in README):

=========================  ==========================  ====================================
keyword (Quantus / captum)  meaning                    ours
=========================  ==========================  ====================================
``n_steps``                IG integration steps       ``IntegratedGradients.steps``
``baselines``/``baseline`` reference input            ``IntegratedGradients.baseline``,
                                                      ``GradientSHAP.baselines``
``gc_layer`` / ``layer``   Grad-CAM layer             ``GradCAM.layer`` (``"model.x[2]"``
                                                      becomes ``"x.2"``)
``interpolate``            CAM output size            accepted when it is the input size
``nt_type``, ``nt_samples``, captum's NoiseTunnel     the method wrapped in ``SmoothGrad``
``stdevs``,                                           (``"smoothgrad"``), ``SmoothGradSquared``
``nt_samples_batch_size``                             (``"smoothgrad_sq"``) or ``VarGrad``
                                                      (``"vargrad"``), absolute noise std
                                                      ``stdevs`` (captum's defaults 5 and 1.0)
``xai_lib``                which library computes     ``"captum"`` accepted (our numbers equal
                                                      captum's); others refused
``method``                 the method's name          ignored when it names this method or
                                                      no registered one (Quantus passes its
                                                      display key); refused when it names a
                                                      different registered method
``softmax``                explain softmax outputs    ``False``/``None`` accepted; ``True``
                                                      refused (we explain logits)
``channel_first``          input layout               ``True``/``None`` accepted; ``False``
                                                      refused with the fix
``xai_lib_kwargs``         extra library arguments    only ``{}`` accepted
=========================  ==========================  ====================================

Anything else that is not a parameter of the method raises ``TypeError`` naming it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

__all__ = ["CALL_ALIASES", "translate_call_kwargs"]

#: Per method class name: Quantus's/captum's keyword -> our parameter.
CALL_ALIASES: dict[str, dict[str, str]] = {
    "IntegratedGradients": {"n_steps": "steps", "baselines": "baseline"},
    "GradientSHAP": {"baseline": "baselines"},
    "GradCAM": {"gc_layer": "layer"},
    "GuidedGradCAM": {"gc_layer": "layer"},
}
_TUNNEL_KEYS = ("nt_type", "nt_samples", "stdevs", "nt_samples_batch_size")
_TUNNELS = {"smoothgrad": "SmoothGrad", "smoothgrad_sq": "SmoothGradSquared", "vargrad": "VarGrad"}


def _layer_path(layer: Any) -> Any:
    """Quantus's ``gc_layer="model.features[28]"`` as a submodule name ``"features.28"``."""
    if not isinstance(layer, str):
        return layer
    path = re.sub(r"^model\.", "", layer.strip())
    return re.sub(r"\[(\d+)\]", r".\1", path)


def translate_call_kwargs(
    explainer: Any, kwargs: dict[str, Any], input_shape: tuple[int, ...] | None = None
) -> tuple[dict[str, Any], Callable | None]:
    """Split a call's keywords into our parameter overrides and an optional noise tunnel.

    Returns ``(params, wrap)``: ``params`` for ``explainer.clone``; ``wrap`` (or ``None``)
    turns the configured explainer into captum's NoiseTunnel equivalent.
    """
    from ..registry import METHODS

    kwargs = dict(kwargs)
    cls_name = type(explainer).__name__
    own = set(explainer._param_names())
    method = kwargs.pop("method", None)
    if isinstance(method, str) and method in METHODS and not isinstance(explainer, METHODS[method]):
        raise ValueError(
            f"method={method!r} was passed to {cls_name}; use xai_sanity.build_method({method!r}) "
            "as the explain function instead"
        )
    lib = kwargs.pop("xai_lib", None)
    if lib not in (None, "captum", "xai_sanity"):
        raise ValueError(f"xai_lib={lib!r} cannot be honoured by {cls_name} (it computes captum's numbers)")
    if kwargs.pop("softmax", None):
        raise ValueError(f"softmax=True is not supported by {cls_name}: it explains the model's logits")
    if kwargs.pop("channel_first", None) is False:
        raise ValueError("channel_first=False: move the channel axis to position 1 before explaining")
    if kwargs.pop("xai_lib_kwargs", None):
        raise ValueError(f"xai_lib_kwargs cannot be honoured by {cls_name}; pass its parameters directly")
    interpolate = kwargs.pop("interpolate", None)
    if interpolate is not None and input_shape is not None and tuple(interpolate) != tuple(input_shape[2:]):
        raise ValueError(
            f"interpolate={interpolate!r}: {cls_name} returns maps at the input size {tuple(input_shape[2:])}"
        )
    for alias, name in CALL_ALIASES.get(cls_name, {}).items():
        if alias in kwargs and alias not in own:
            if name in kwargs:
                raise TypeError(f"both {alias!r} and {name!r} given")
            kwargs[name] = kwargs.pop(alias)
    if "layer" in kwargs:
        kwargs["layer"] = _layer_path(kwargs["layer"])
    tunnel = {k: kwargs.pop(k) for k in _TUNNEL_KEYS if k in kwargs and k not in own}
    unknown = sorted(set(kwargs) - own)
    if unknown:
        raise TypeError(
            f"{cls_name} got unexpected keyword argument(s) {unknown}; its parameters are "
            f"{sorted(own)} (Quantus/captum names it understands: see xai_sanity.explainers.call_kwargs)"
        )
    return kwargs, (_noise_tunnel(tunnel) if tunnel else None)


def _noise_tunnel(options: dict[str, Any]) -> Callable:
    kind = options.get("nt_type", "smoothgrad")
    if kind not in _TUNNELS:
        raise ValueError(f"nt_type must be one of {sorted(_TUNNELS)}, got {kind!r}")

    def wrap(explainer: Any) -> Any:
        from .. import enhancers

        cls = getattr(enhancers, _TUNNELS[kind])
        params = {
            "base": explainer,
            "n_samples": int(options.get("nt_samples", 5)),
            "noise_level": float(options.get("stdevs", 1.0)),
            "noise_relative": False,
        }
        if "nt_samples_batch_size" in options:
            params["batch_size"] = int(options["nt_samples_batch_size"])
        return cls(**params)

    return wrap
