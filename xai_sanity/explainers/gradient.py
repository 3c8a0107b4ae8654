"""Gradient-based explainers: Gradient, Saliency, Gradient×Input, Integrated Gradients,
GradientSHAP."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .._memory import auto_chunk
from .._safety import make_generator
from .._validation import check_non_negative, check_positive_int
from .base import Explainer, expand_like, input_gradient


class Gradient(Explainer):
    """The signed gradient of the target logit with respect to the input.

    Examples
    --------
    >>> import torch, numpy as np
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3))
    >>> a = Gradient()(model, np.ones((2, 3, 2, 2), np.float32), [0, 2])
    >>> a.shape, a.dtype
    ((2, 1, 2, 2), dtype('float32'))
    """

    name = "Gradient"

    def __init__(self) -> None:
        pass

    def attribute(self, model, inputs, targets, generator=None):
        return input_gradient(model, inputs, targets)


class Saliency(Explainer):
    """The absolute gradient ``|∂f_y/∂x|`` (Simonyan et al. 2014; captum ``Saliency``).

    Channels are summed after the absolute value by the default ``reduce_axes=(1,)``,
    as in ``quantus.explain(method="Saliency")``.
    """

    name = "Saliency"

    def __init__(self) -> None:
        pass

    def attribute(self, model, inputs, targets, generator=None):
        return input_gradient(model, inputs, targets).abs()


class GradientXInput(Explainer):
    """Gradient times input, ``x ⊙ ∂f_y/∂x`` (Shrikumar et al. 2016; captum ``InputXGradient``)."""

    name = "GradientXInput"

    def __init__(self) -> None:
        pass

    def attribute(self, model, inputs, targets, generator=None):
        return input_gradient(model, inputs, targets) * inputs


_IG_METHODS = ("gausslegendre", "riemann_trapezoid", "riemann_left", "riemann_right", "riemann_middle")


def integration_points(steps: int, quadrature: str) -> tuple[np.ndarray, np.ndarray]:
    """Points ``alpha`` in [0, 1] and weights of a quadrature rule for ``∫_0^1 g(α) dα``.

    Gauss–Legendre nodes come from ``numpy.polynomial.legendre.leggauss`` mapped from
    [-1, 1] to [0, 1]; the Riemann rules use ``steps`` equal sub-intervals.
    """
    if quadrature == "gausslegendre":
        nodes, weights = np.polynomial.legendre.leggauss(steps)
        return (nodes + 1.0) / 2.0, weights / 2.0
    if quadrature == "riemann_trapezoid":
        if steps < 2:
            raise ValueError("steps must be >= 2 for quadrature='riemann_trapezoid'")
        alphas = np.linspace(0.0, 1.0, steps)
        weights = np.full(steps, 1.0 / (steps - 1))
        weights[[0, -1]] /= 2.0
        return alphas, weights
    offsets = {"riemann_left": 0.0, "riemann_right": 1.0, "riemann_middle": 0.5}
    if quadrature not in offsets:
        raise ValueError(f"quadrature must be one of {_IG_METHODS}, got {quadrature!r}")
    return (np.arange(steps) + offsets[quadrature]) / steps, np.full(steps, 1.0 / steps)


class IntegratedGradients(Explainer):
    """Integrated Gradients (Sundararajan et al. 2017).

    ``(x - x') ⊙ ∫_0^1 ∂f_y(x' + α(x - x'))/∂x dα``, the integral by a quadrature rule.

    Parameters
    ----------
    baseline : float, array or tensor, default 0.0
        The reference input ``x'``: a scalar, one ``(C, H, W)`` input or one per sample.
    steps : int, default 50
        Number of quadrature points (captum's ``n_steps``).
    quadrature : str, default "gausslegendre"
        Quadrature rule (captum's ``method``; named differently here because ``method`` is
        Quantus's keyword for the explanation method): captum's default Gauss–Legendre, or
        ``"riemann_trapezoid"`` (textbook weights ``1/(steps-1)``; captum's trapezoid weights
        sum to ``(steps-1)/steps``), ``"riemann_left"``, ``"riemann_right"``, ``"riemann_middle"``.
    internal_batch_size : int or None, default None
        Most interpolated inputs forwarded at once (bounds memory; the result does not
        depend on it). ``None`` sizes the chunks to the memory budget
        (:mod:`xai_sanity._memory`, ``$XAI_SANITY_MEMORY_BUDGET``) from a probe of the
        model's per-input cost. When a batch is larger than a chunk, it is split by inputs too.
    progress : bool, default False
        Show a progress bar over the passes (when there are several), titled with the number
        of gradients the call computes.
    """

    name = "IntegratedGradients"
    chunk_inputs = False  # chunks (inputs x steps) to the budget itself; baselines may be per input

    def __init__(
        self,
        baseline: float | np.ndarray | torch.Tensor = 0.0,
        steps: int = 50,
        quadrature: str = "gausslegendre",
        internal_batch_size: int | None = None,
        progress: bool = False,
    ) -> None:
        self._store(locals())

    def _check_params(self) -> None:
        check_positive_int(self.steps, "steps")
        if self.internal_batch_size is not None:
            check_positive_int(self.internal_batch_size, "internal_batch_size")
        if self.quadrature not in _IG_METHODS:
            raise ValueError(f"quadrature must be one of {_IG_METHODS}, got {self.quadrature!r}")

    def attribute(self, model, inputs, targets, generator=None):
        baseline = expand_like(self.baseline, inputs, "baseline")
        alphas, weights = integration_points(self.steps, self.quadrature)
        n = inputs.shape[0]
        chunk = self.internal_batch_size or auto_chunk(model, inputs)
        # A pass takes `rows` inputs at `per_pass` points each: at most `chunk` interpolated inputs.
        rows = min(n, chunk)
        per_pass = max(1, chunk // rows)
        passes = [(i, j) for i in range(0, n, rows) for j in range(0, len(alphas), per_pass)]
        bar = tqdm(
            passes,
            desc=f"{self.name}: {n * len(alphas)} gradients in {len(passes)} passes of <= {rows * per_pass}",
            disable=not self.progress or len(passes) < 2,
        )
        total = torch.zeros_like(inputs)
        shape = (-1,) + (1,) * inputs.ndim
        for i, j in bar:
            x, x0, t = inputs[i : i + rows], baseline[i : i + rows], targets[i : i + rows]
            a = torch.as_tensor(alphas[j : j + per_pass], dtype=inputs.dtype, device=inputs.device)
            w = torch.as_tensor(weights[j : j + per_pass], dtype=inputs.dtype, device=inputs.device)
            points = x0.unsqueeze(0) + a.view(shape) * (x - x0).unsqueeze(0)
            grads = input_gradient(model, points.reshape(-1, *x.shape[1:]), t.repeat(len(a))).view(
                len(a), *x.shape
            )
            total[i : i + rows] += (grads * w.view(shape)).sum(0)
        return total * (inputs - baseline)


class GradientSHAP(Explainer):
    """GradientSHAP (Lundberg & Lee 2017; captum ``GradientShap``): expected gradients.

    For each input, ``n_samples`` times: pick a baseline at random from ``baselines``,
    add Gaussian noise of std ``stdevs`` to the input, pick ``α ~ U(0, 1)``, and take
    ``∂f_y(b + α(x̃ - b))/∂x ⊙ (x̃ - b)``; the attribution is the mean.

    Parameters
    ----------
    baselines : float, array or tensor, default 0.0
        The baseline distribution: a scalar, one ``(C, H, W)`` baseline, or ``(B, C, H, W)``
        baselines drawn uniformly.
    n_samples : int, default 5
    stdevs : float, default 0.0
        Std of the Gaussian noise added to the inputs.
    seed : int or None, default 0
    """

    name = "GradientSHAP"
    stochastic = True

    def __init__(
        self,
        baselines: float | np.ndarray | torch.Tensor = 0.0,
        n_samples: int = 5,
        stdevs: float = 0.0,
        seed: int | None = 0,
    ) -> None:
        self._store(locals())

    def _check_params(self) -> None:
        check_positive_int(self.n_samples, "n_samples")
        check_non_negative(self.stdevs, "stdevs")

    def attribute(self, model: nn.Module, inputs, targets, generator=None):
        gen = generator if generator is not None else make_generator(self.seed, inputs.device)
        pool = _baseline_pool(self.baselines, inputs)
        n, s = inputs.shape[0], self.n_samples
        rep_inputs = inputs.repeat_interleave(s, dim=0)
        picks = torch.randint(0, pool.shape[0], (n * s,), generator=gen, device=inputs.device)
        base = pool[picks]
        if self.stdevs > 0:
            noise = torch.randn(rep_inputs.shape, generator=gen, device=inputs.device)
            rep_inputs = rep_inputs + self.stdevs * noise.to(inputs.dtype)
        alphas = torch.rand((n * s,), generator=gen, device=inputs.device).to(inputs.dtype)
        alphas = alphas.view(-1, *([1] * (inputs.ndim - 1)))
        points = base + alphas * (rep_inputs - base)
        grads = input_gradient(model, points, targets.repeat_interleave(s))
        return (grads * (rep_inputs - base)).view(n, s, *inputs.shape[1:]).mean(1)


def _baseline_pool(baselines: object, inputs: torch.Tensor) -> torch.Tensor:
    """Baselines as a ``(B, C, ...)`` tensor to draw from."""
    tensor = torch.as_tensor(
        baselines.detach() if isinstance(baselines, torch.Tensor) else baselines,
        dtype=inputs.dtype,
        device=inputs.device,
    )
    sample_shape = inputs.shape[1:]
    if tensor.ndim == 0:
        return tensor.expand(1, *sample_shape).clone()
    if tensor.shape == sample_shape:
        return tensor.unsqueeze(0)
    if tensor.ndim == inputs.ndim and tensor.shape[1:] == sample_shape and tensor.shape[0] >= 1:
        return tensor
    raise ValueError(
        f"baselines must be a scalar, one input of shape {tuple(sample_shape)} or a batch of "
        f"shape (B, {', '.join(map(str, sample_shape))}), got {tuple(tensor.shape)}"
    )
