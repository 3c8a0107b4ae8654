"""The explain-function contract shared by every built-in explainer and enhancer.

An explain function is any callable ``f(model, inputs, targets, **kwargs) -> np.ndarray``
(Quantus's contract). :class:`Explainer` implements the parts common to all of ours:
argument checks, device handling, the model guard, channel reduction and the single
conversion to ``np.float32`` at the end. Subclasses implement :meth:`Explainer.attribute`,
which works on tensors on the model's device.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from .._memory import auto_chunk
from .._safety import model_guard
from .._validation import (
    as_input_tensor,
    as_target_tensor,
    check_input_layout,
    check_model,
    check_reduce_axes,
    check_targets_in_range,
    model_dtype,
    resolve_device,
)


class Explainer:
    """Base class: a picklable, parameterised explain function.

    Parameters are stored by ``__init__`` unchanged (scikit-learn style) and validated at
    use. Keyword arguments of a call that name a parameter override it for that call, so
    ``IntegratedGradients()(model, x, y, steps=16)`` works like quantus.explain's kwargs.
    """

    #: Registry name of the method.
    name: ClassVar[str] = ""
    #: Minimum ``inputs.ndim`` the method supports.
    min_ndim: ClassVar[int] = 2
    #: Whether the method draws random numbers (then it takes ``seed``).
    stochastic: ClassVar[bool] = False
    #: Whether the method runs the model (False for model-free controls such as Sobel).
    uses_model: ClassVar[bool] = True
    #: Whether a call may be split into chunks of inputs to fit the memory budget (False
    #: for methods that size their own chunks, e.g. Integrated Gradients over its steps).
    chunk_inputs: ClassVar[bool] = True

    # -- parameters ---------------------------------------------------------------------
    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [
            p.name
            for p in sig.parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
        ]

    def _store(self, arguments: dict[str, Any]) -> None:
        """Store the constructor's arguments (``locals()``) under their names, unchanged.

        Arguments a constructor gathers in ``**kwargs`` (one decorated by
        :func:`xai_sanity._signatures.with_parameters`) are found there.
        """
        values = {**arguments.get("kwargs", {}), **arguments}
        for name in self._param_names():
            setattr(self, name, values[name])

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor parameters, under their public names (scikit-learn style).

        With ``deep``, an explainer-valued parameter (an enhancer's ``base``) also contributes
        its own parameters as ``base__name``.
        """
        params = {name: getattr(self, name) for name in self._param_names()}
        if deep:
            for name, value in list(params.items()):
                if isinstance(value, Explainer):
                    params.update({f"{name}__{k}": v for k, v in value.get_params(deep=True).items()})
        return params

    def set_params(self, **params: Any) -> Explainer:
        """Set parameters in place and return ``self`` (``base__steps=16`` reaches a nested
        explainer); unknown names raise ``TypeError``. Validation happens at use."""
        nested: dict[str, dict[str, Any]] = {}
        for key, value in params.items():
            name, _, sub = key.partition("__")
            if name not in self._param_names():
                raise TypeError(
                    f"{type(self).__name__} has no parameter {name!r}; its parameters are {self._param_names()}"
                )
            if sub:
                nested.setdefault(name, {})[sub] = value
            else:
                setattr(self, name, value)
        for name, sub_params in nested.items():
            inner = getattr(self, name)
            if not isinstance(inner, Explainer):
                raise TypeError(f"{name!r} is not an explainer, so {name}__... cannot be set")
            inner.set_params(**sub_params)
        return self

    def clone(self, **overrides: Any) -> Explainer:
        """A copy with some parameters replaced; unknown names raise ``TypeError``."""
        unknown = set(overrides) - set(self._param_names())
        if unknown:
            raise TypeError(
                f"{type(self).__name__} got unexpected keyword argument(s) {sorted(unknown)}; "
                f"its parameters are {self._param_names()}"
            )
        return type(self)(**{**self.get_params(deep=False), **overrides})

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params(deep=False).items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and _params_equal(
            self.get_params(deep=False), other.get_params(deep=False)
        )

    __hash__ = object.__hash__

    # -- the explain-function contract ----------------------------------------------------
    def __call__(
        self,
        model: nn.Module,
        inputs: np.ndarray | torch.Tensor,
        targets: np.ndarray | torch.Tensor | Sequence[int] | int,
        *,
        device: str | torch.device | None = None,
        reduce_axes: Sequence[int] | None = (1,),
        keepdims: bool = True,
        **kwargs: Any,
    ) -> np.ndarray:
        """Explain ``model``'s outputs for ``targets`` at ``inputs``.

        Parameters
        ----------
        model : torch.nn.Module
            The model; handed back bit-identical (weights, buffers, flags, hooks).
        inputs : numpy.ndarray or torch.Tensor of shape (N, C, ...)
        targets : array-like of int, shape (N,), or one int for the whole batch
        device : str or torch.device, optional
            Where to compute; defaults to the model's device (must match it).
        reduce_axes : tuple of int or None, default (1,)
            Axes summed over, as in ``quantus.explain`` (``()`` or ``None`` keeps channels).
        keepdims : bool, default True
            Keep reduced axes with size 1.
        **kwargs
            Overrides of this explainer's parameters for this call, under our names or
            Quantus's/captum's (``n_steps``, ``gc_layer``, ``nt_type``..., see
            :mod:`xai_sanity.explainers.call_kwargs`); ``method`` (passed by
            ``quantus.evaluate``) is accepted when it names no other registered method.

        Returns
        -------
        numpy.ndarray of float32, shape (N, 1, ...) by default.
        """
        if kwargs:
            from .call_kwargs import translate_call_kwargs

            params, tunnel = translate_call_kwargs(self, kwargs, tuple(np.shape(inputs)))
            target = self.clone(**params) if params else self
            if tunnel is not None:
                target = tunnel(target)
            return target(model, inputs, targets, device=device, reduce_axes=reduce_axes, keepdims=keepdims)
        model = check_model(model)
        dev = resolve_device(device, model)
        # Gradients need autograd: leave a caller's torch.inference_mode() for this call (as
        # torch.enable_grad() leaves torch.no_grad()); inference tensors are copied out of it.
        with torch.inference_mode(False):
            x = as_input_tensor(inputs, dev, min_ndim=self.min_ndim)
            if x.is_inference():
                x = x.clone()
            if self.uses_model:
                check_input_layout(model, x.shape)
            # Compute in the model's floating dtype, as quantus.explain casts inputs to float32:
            # float64 numpy inputs would otherwise fail in the model's first layer.
            x = x.to(model_dtype(model, default=x.dtype))
            y = as_target_tensor(targets, x.shape[0], dev)
            axes = check_reduce_axes(reduce_axes, x.ndim)
            self._check_params()
            with model_guard(model):
                attribution = self._attribute_in_chunks(model, x, y)
            return to_numpy(reduce_attribution(attribution, axes, keepdims))

    def _attribute_in_chunks(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """:meth:`attribute` over chunks sized to the memory budget (:mod:`xai_sanity._memory`).

        Only deterministic methods that run the model are split (each input's attribution is
        independent of the others, so the result does not depend on the chunking); a
        stochastic method's draws would depend on it, and it bounds its own memory.
        """
        if self.stochastic or not self.uses_model or not self.chunk_inputs or x.shape[0] == 1:
            return self.attribute(model, x, y)
        chunk = auto_chunk(model, x)
        if chunk >= x.shape[0]:
            return self.attribute(model, x, y)
        return torch.cat(
            [self.attribute(model, x[i : i + chunk], y[i : i + chunk]) for i in range(0, x.shape[0], chunk)]
        )

    def _check_params(self) -> None:
        """Validate parameters (called at use, not in ``__init__``)."""

    def attribute(
        self,
        model: nn.Module,
        inputs: torch.Tensor,
        targets: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Attributions of shape ``inputs.shape`` (or ``(N, 1, ...)`` for CAM maps).

        Called with the model already guarded and in eval mode, tensors on its device.
        ``generator`` is given by callers that manage randomness (the enhancers); a
        stochastic method otherwise seeds its own from ``seed``.
        """
        raise NotImplementedError


def _params_equal(a: dict[str, Any], b: dict[str, Any]) -> bool:
    if a.keys() != b.keys():
        return False
    for key in a:
        va, vb = a[key], b[key]
        if isinstance(va, (np.ndarray, torch.Tensor)) or isinstance(vb, (np.ndarray, torch.Tensor)):
            if not np.array_equal(np.asarray(va), np.asarray(vb)):
                return False
        elif va != vb:
            return False
    return True


def reduce_attribution(attribution: torch.Tensor, axes: tuple[int, ...], keepdims: bool) -> torch.Tensor:
    """Sum over ``axes`` like quantus.explain (no reduction for 2-D attributions)."""
    if not axes or attribution.ndim < 3:
        return attribution
    return attribution.sum(dim=axes, keepdim=keepdims)


def to_numpy(attribution: torch.Tensor) -> np.ndarray:
    """The one conversion to numpy at the end of every explain call."""
    return attribution.detach().to(dtype=torch.float32).cpu().numpy()


def class_scores(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Forward ``inputs`` and pick each sample's target logit, checking the output shape."""
    outputs = model(inputs)
    if not isinstance(outputs, torch.Tensor) or outputs.ndim != 2:
        shape = tuple(outputs.shape) if isinstance(outputs, torch.Tensor) else type(outputs).__name__
        raise ValueError(f"model must return class scores of shape (N, n_classes), got {shape}")
    check_targets_in_range(targets, outputs.shape[1])
    return outputs.gather(1, targets[:, None]).squeeze(1)


def input_gradient(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Gradient of each sample's target logit with respect to its input."""
    x = inputs.detach().requires_grad_(True)
    with torch.enable_grad():
        score = class_scores(model, x, targets).sum()
        (grad,) = torch.autograd.grad(score, x)
    return grad


def expand_like(value: object, inputs: torch.Tensor, name: str) -> torch.Tensor:
    """Broadcast a baseline-like ``value`` (scalar, (C,...) or (N or 1, C, ...)) to ``inputs``."""
    if value is None:
        return torch.zeros_like(inputs)
    tensor = torch.as_tensor(
        value.detach() if isinstance(value, torch.Tensor) else value,
        dtype=inputs.dtype,
        device=inputs.device,
    )
    if tensor.ndim == inputs.ndim - 1:
        tensor = tensor.unsqueeze(0)
    try:
        return torch.broadcast_to(tensor, inputs.shape)
    except RuntimeError as err:
        raise ValueError(
            f"{name} of shape {tuple(tensor.shape)} cannot be broadcast to inputs of shape "
            f"{tuple(inputs.shape)}"
        ) from err
