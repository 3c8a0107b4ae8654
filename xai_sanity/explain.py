"""``xai_sanity.explain``: one functional entry point, mirroring ``quantus.explain``."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from .enhancers import NoiseEnsemble
from .explainers.base import Explainer
from .explainers.call_kwargs import translate_call_kwargs
from .registry import METHODS


def build_method(method: str | type | Callable, /, **params: Any) -> Callable:
    """Resolve ``method`` with ``params`` into an explain function — the one resolver.

    ``method`` may be a registered name (any alias or spelling), an :class:`Explainer`
    class or instance, a registered/user class, or any explain function. Explainers are
    built or cloned with ``params``; other classes are instantiated with them; plain
    functions get them bound with :func:`functools.partial`. For an enhancer, parameters
    it does not take are passed on to its base explain function
    (``build_method("NoiseGrad++", base="IntegratedGradients", steps=16)``).
    :func:`xai_sanity.get_method` and the enhancers' ``base=`` use this function too.

    The result is a plain explain function, so it is also the one-liner for Quantus:
    ``quantus.evaluate(xai_methods={"My NG": build_method("NoiseGrad", noise_level=0.2)}, ...)``
    (our explain functions ignore the ``method=`` keyword that Quantus adds).

    Examples
    --------
    >>> build_method("NoiseGrad", n_models=3, steps=16).base_kwargs
    {'steps': 16}
    """
    if isinstance(method, str):
        if method not in METHODS:
            raise KeyError(
                f"unknown method {method!r}. Registered: {sorted(METHODS)}. If xai_sanity.explain was "
                "given to quantus.evaluate under a display name, Quantus passes that name as "
                "method=; bind the method first: xai_methods={'My NG': xs.build_method('NoiseGrad', "
                "noise_level=0.2)}"
            )
        method = METHODS[method]
    if isinstance(method, type):
        if not issubclass(method, Explainer):
            return method(**params)
        method = method()
    if isinstance(method, NoiseEnsemble):
        own = set(method._param_names())
        extra = {k: v for k, v in params.items() if k not in own}
        params = {k: v for k, v in params.items() if k in own}
        if extra:
            params["base_kwargs"] = {**(params.get("base_kwargs") or method.base_kwargs or {}), **extra}
        return method.clone(**params) if params else method
    if isinstance(method, Explainer):
        if not params:
            return method
        # Quantus's/captum's keyword names are understood here too (n_steps, gc_layer, nt_type...).
        params, tunnel = translate_call_kwargs(method, params)
        method = method.clone(**params) if params else method
        return tunnel(method) if tunnel is not None else method
    if callable(method):
        return functools.partial(method, **params) if params else method
    raise TypeError(f"method must be a registered name, an Explainer or an explain function, got {method!r}")


def explain(
    model: nn.Module,
    inputs: np.ndarray | torch.Tensor,
    targets: np.ndarray | torch.Tensor | Sequence[int] | int,
    method: str | Callable = "Gradient",
    *,
    device: str | torch.device | None = None,
    reduce_axes: Sequence[int] | None = (1,),
    keepdims: bool = True,
    **params: Any,
) -> np.ndarray:
    """Explain ``model`` at ``inputs`` for ``targets`` with a registered method.

    Works as ``explain_func=xai_sanity.explain`` in Quantus, with the method and its
    parameters in ``explain_func_kwargs``.

    Parameters
    ----------
    method : str or callable, default "Gradient"
        A name from :data:`xai_sanity.METHODS` (``"Saliency"``, ``"NoiseGrad++"``, ...), or an
        explain function.
    device, reduce_axes, keepdims
        As for every explain function (see :class:`xai_sanity.explainers.Explainer`).
    **params
        The method's parameters (e.g. ``steps=16`` for Integrated Gradients; for enhancers
        ``base="IntegratedGradients"``, ``n_models=10``; parameters an enhancer does not
        take go to its base).

    Examples
    --------
    >>> import torch, numpy as np
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3))
    >>> x = np.ones((2, 3, 2, 2), np.float32)
    >>> explain(model, x, [0, 1], method="NoiseGrad++", base="Saliency", n_models=2,
    ...         n_samples=2).shape
    (2, 1, 2, 2)
    """
    func = build_method(method, **params)
    return func(model, inputs, targets, device=device, reduce_axes=reduce_axes, keepdims=keepdims)
