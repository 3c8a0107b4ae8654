"""Noise-ensemble enhancers: SmoothGrad, SmoothGrad², VarGrad, NoiseGrad, NoiseGrad++.

One engine, :class:`NoiseEnsemble`, explains an ensemble of perturbed *inputs*
(``x + N(0, σ_x²)``, SmoothGrad; Smilkov et al. 2017) and/or perturbed *models*
(``W ⊙ (1 + ε)``, ``ε ~ N(0, σ_w²)``, NoiseGrad; Bykov et al. 2022) with any base explain
function, and reduces the ensemble to one map by a statistic: the mean, the mean of squares
(SmoothGrad², Hooker et al. 2019) or the variance (VarGrad, Adebayo et al. 2018). The five
named enhancers are presets of it.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from ._safety import make_generator, preserve_global_rng
from ._validation import check_non_negative, check_positive_int
from .explainers.base import Explainer

STATISTICS = ("mean", "mean_square", "variance")
WEIGHT_NOISE_MODES = ("multiplicative", "additive")


class RunningStatistic:
    """Streaming mean / mean of squares / variance over the leading axis of batches.

    Chunks are merged with Chan et al.'s parallel update (the batched form of Welford's
    algorithm): ``M2`` only ever adds squares, so the variance is never negative, unlike
    the ``E[a²] - E[a]²`` form used by captum's ``NoiseTunnel(vargrad)``.
    """

    def __init__(self, statistic: str = "mean", unbiased: bool = False) -> None:
        if statistic not in STATISTICS:
            raise ValueError(f"statistic must be one of {STATISTICS}, got {statistic!r}")
        self.statistic = statistic
        self.unbiased = unbiased
        self.count = 0
        self.mean: torch.Tensor | None = None
        self.m2: torch.Tensor | None = None

    def update(self, samples: torch.Tensor) -> None:
        """Add ``samples`` of shape ``(k, *shape)``."""
        if self.statistic == "mean_square":
            samples = samples * samples
        k = samples.shape[0]
        chunk_mean = samples.mean(0)
        if self.mean is None:
            self.count, self.mean = k, chunk_mean
            if self.statistic == "variance":
                self.m2 = ((samples - chunk_mean) ** 2).sum(0)
            return
        total = self.count + k
        delta = chunk_mean - self.mean
        self.mean = self.mean + delta * (k / total)
        if self.statistic == "variance":
            chunk_m2 = ((samples - chunk_mean) ** 2).sum(0)
            self.m2 = self.m2 + chunk_m2 + delta**2 * (self.count * k / total)
        self.count = total

    def result(self) -> torch.Tensor:
        if self.mean is None:
            raise ValueError("no samples were added")
        if self.statistic != "variance":
            return self.mean
        ddof = 1 if self.unbiased else 0
        if self.count - ddof <= 0:
            raise ValueError("the unbiased variance needs at least 2 samples")
        return self.m2 / (self.count - ddof)


def _resolve_base(base: str | Callable, base_kwargs: dict[str, Any]) -> Callable:
    if isinstance(base, str):
        from .registry import get_method

        return get_method(base, **base_kwargs)
    if isinstance(base, Explainer):
        return base.clone(**base_kwargs) if base_kwargs else base
    if isinstance(base, type) and issubclass(base, Explainer):
        return base(**base_kwargs)
    if callable(base):
        return functools.partial(base, **base_kwargs) if base_kwargs else base
    raise TypeError(f"base must be a method name, an Explainer or an explain function, got {base!r}")


def _accepts(func: Callable, name: str) -> bool:
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == name or p.kind == p.VAR_KEYWORD for p in params)


class NoiseEnsemble(Explainer):
    """The noise-ensemble engine behind every enhancer.

    For each of ``n_models`` weight draws and ``n_samples`` input-noise draws the base explain
    function is applied; the ``statistic`` of the ``n_models * n_samples`` attributions is
    returned. Draw ``k`` perturbs the *original* weights (never the previous draw's), and the
    model is restored afterwards, also on error.

    Parameters
    ----------
    base : str, Explainer or callable, default "Gradient"
        The base explain function: a registered name (``"IntegratedGradients"``), an
        explainer instance, or any Quantus-style ``f(model, inputs, targets, **kw)``
        (``quantus.explain``, a captum-based function, a user's own).
    base_kwargs : dict, optional
        Keyword arguments for the base (e.g. ``{"method": "Saliency"}`` for
        ``quantus.explain``, or ``{"steps": 20}`` for ``"IntegratedGradients"``).
    n_samples : int, default 1
        Input-noise draws per model draw.
    n_models : int, default 1
        Weight-noise draws (models).
    input_noise : float, default 0.0
        Std of the Gaussian input noise. Relative to each input's value range
        ``max(x) - min(x)`` (SmoothGrad's "noise level", Smilkov et al. 2017) when
        ``input_noise_relative`` is true, else absolute (captum's ``stdevs``).
    input_noise_relative : bool, default True
    weight_noise : float, default 0.0
        Std of the weight noise ``ε``: ``W ⊙ (1 + ε)`` (multiplicative, NoiseGrad's choice) or
        ``W + ε`` (additive).
    weight_noise_mode : {"multiplicative", "additive"}, default "multiplicative"
    statistic : {"mean", "mean_square", "variance"}, default "mean"
    unbiased : bool, default False
        For ``statistic="variance"``: divide by ``n - 1`` instead of ``n``.
    seed : int or None, default 0
        Seed of a private generator created at each call (same seed, same output).
        ``None`` draws fresh entropy from the OS.
    generator : torch.Generator, optional
        A generator to draw from instead (advanced by each call); takes precedence over
        ``seed``. Must live on the model's device.
    batch_size : int, default 256
        Most noisy inputs given to the base in one call; bounds memory. Results do not
        depend on it (each draw has its own derived seed).
    """

    name = "NoiseEnsemble"
    stochastic = True

    def __init__(
        self,
        base: str | Callable = "Gradient",
        base_kwargs: dict[str, Any] | None = None,
        n_samples: int = 1,
        n_models: int = 1,
        input_noise: float = 0.0,
        input_noise_relative: bool = True,
        weight_noise: float = 0.0,
        weight_noise_mode: str = "multiplicative",
        statistic: str = "mean",
        unbiased: bool = False,
        seed: int | None = 0,
        generator: torch.Generator | None = None,
        batch_size: int = 256,
    ) -> None:
        self.base = base
        self.base_kwargs = base_kwargs
        self.n_samples = n_samples
        self.n_models = n_models
        self.input_noise = input_noise
        self.input_noise_relative = input_noise_relative
        self.weight_noise = weight_noise
        self.weight_noise_mode = weight_noise_mode
        self.statistic = statistic
        self.unbiased = unbiased
        self.seed = seed
        self.generator = generator
        self.batch_size = batch_size

    # -- parameters ---------------------------------------------------------------------
    def _check_params(self) -> None:
        check_positive_int(self.n_samples, "n_samples")
        check_positive_int(self.n_models, "n_models")
        check_positive_int(self.batch_size, "batch_size")
        check_non_negative(self.input_noise, "input_noise")
        check_non_negative(self.weight_noise, "weight_noise")
        if self.statistic not in STATISTICS:
            raise ValueError(f"statistic must be one of {STATISTICS}, got {self.statistic!r}")
        if self.weight_noise_mode not in WEIGHT_NOISE_MODES:
            raise ValueError(
                f"weight_noise_mode must be one of {WEIGHT_NOISE_MODES}, got {self.weight_noise_mode!r}"
            )
        if self.statistic == "variance" and self.unbiased and self.n_samples * self.n_models < 2:
            raise ValueError("unbiased=True needs n_samples * n_models >= 2")
        if self.base_kwargs is not None and not isinstance(self.base_kwargs, dict):
            raise TypeError(f"base_kwargs must be a dict, got {type(self.base_kwargs).__name__}")
        if self.generator is not None and not isinstance(self.generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator, got {type(self.generator).__name__}")
        base = self._base()
        if isinstance(base, Explainer):
            base._check_params()

    def _base(self) -> Callable:
        return _resolve_base(self.base, dict(self.base_kwargs or {}))

    # -- the engine -----------------------------------------------------------------------
    def attribute(
        self,
        model: nn.Module,
        inputs: torch.Tensor,
        targets: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        base = self._base()
        if generator is None:
            generator = self.generator
        gen = generator if generator is not None else make_generator(self.seed, inputs.device)
        if gen.device != inputs.device:
            raise ValueError(f"generator is on {gen.device} but the model computes on {inputs.device}")
        # One seed per model draw (weights) and per (draw, input sample), so the numbers do not
        # depend on batch_size or on how the work is chunked.
        seeds = torch.randint(
            0, 2**62, (self.n_models, 1 + self.n_samples), generator=gen, device=gen.device
        ).tolist()
        draw_gen = torch.Generator(device=inputs.device)

        params = [p for p in model.parameters()]
        perturb = self.weight_noise > 0
        originals = [p.detach().clone() for p in params] if perturb else []
        stat = RunningStatistic(self.statistic, self.unbiased)
        n = inputs.shape[0]
        sigma = self._input_sigma(inputs)
        rows_per_call = max(1, self.batch_size // n)
        try:
            for draw_seeds in seeds:
                if perturb:
                    draw_gen.manual_seed(draw_seeds[0])
                    self._perturb_weights(params, originals, draw_gen)
                for first in range(0, self.n_samples, rows_per_call):
                    rows = draw_seeds[1 + first : 1 + min(self.n_samples, first + rows_per_call)]
                    noisy = torch.stack([self._noisy_inputs(inputs, sigma, s, draw_gen) for s in rows])
                    attributions = self._explain_rows(base, model, noisy, targets, draw_gen, rows[-1])
                    stat.update(attributions)
        finally:
            if perturb:
                with torch.no_grad():
                    for p, original in zip(params, originals):
                        p.copy_(original)
        return stat.result()

    def _input_sigma(self, inputs: torch.Tensor) -> torch.Tensor | None:
        if self.input_noise == 0:
            return None
        shape = (-1,) + (1,) * (inputs.ndim - 1)
        if not self.input_noise_relative:
            return torch.full((inputs.shape[0],), self.input_noise, device=inputs.device).view(shape)
        flat = inputs.reshape(inputs.shape[0], -1)
        spread = flat.max(1).values - flat.min(1).values
        return (self.input_noise * spread).view(shape)

    def _perturb_weights(self, params, originals, gen: torch.Generator) -> None:
        with torch.no_grad():
            for p, original in zip(params, originals):
                eps = torch.randn(original.shape, generator=gen, device=original.device)
                eps = eps.to(original.dtype) * self.weight_noise
                if self.weight_noise_mode == "multiplicative":
                    p.copy_(original * (1 + eps))
                else:
                    p.copy_(original + eps)

    @staticmethod
    def _noisy_inputs(inputs, sigma, seed: int, gen: torch.Generator) -> torch.Tensor:
        if sigma is None:
            return inputs
        gen.manual_seed(seed)
        noise = torch.randn(inputs.shape, generator=gen, device=inputs.device).to(inputs.dtype)
        return inputs + sigma * noise

    def _explain_rows(self, base, model, noisy, targets, gen, seed: int) -> torch.Tensor:
        """Attributions of ``noisy`` ``(r, N, ...)`` in pieces of at most ``batch_size``."""
        r, n = noisy.shape[:2]
        flat = noisy.reshape(r * n, *noisy.shape[2:])
        flat_targets = targets.repeat(r)
        pieces = []
        for start in range(0, r * n, self.batch_size):
            stop = start + self.batch_size
            # A fresh seed per piece for stochastic bases, derived from the row seed.
            piece_seed = (seed + start) % (2**62)
            pieces.append(
                self._call_base(base, model, flat[start:stop], flat_targets[start:stop], gen, piece_seed)
            )
        out = torch.cat(pieces)
        return out.view(r, n, *out.shape[1:])

    def _call_base(self, base, model, x, y, gen, seed: int) -> torch.Tensor:
        if isinstance(base, Explainer):
            gen.manual_seed(seed)
            return base.attribute(model, x, y, generator=gen)
        # Quantus-style explain functions take ``device``; tell them where the model is.
        kwargs = {"device": str(x.device)} if _accepts(base, "device") else {}
        if isinstance(base, functools.partial) and "device" in base.keywords:
            kwargs = {}
        # External bases get numpy, as Quantus's contract says; their global-RNG use is
        # seeded per piece and the caller's global RNG state is restored afterwards.
        with preserve_global_rng():
            torch.manual_seed(seed)
            np.random.seed(seed % (2**32))
            out = base(
                model=model, inputs=x.detach().cpu().numpy(), targets=y.detach().cpu().numpy(), **kwargs
            )
        if isinstance(out, torch.Tensor):
            out = out.detach()
        else:
            out = torch.from_numpy(np.asarray(out, dtype=np.float32))
        if out.shape[0] != x.shape[0]:
            raise ValueError(
                f"the base explain function returned {out.shape[0]} attributions for {x.shape[0]} inputs"
            )
        return out.to(device=x.device, dtype=x.dtype)


class SmoothGrad(NoiseEnsemble):
    """SmoothGrad (Smilkov et al. 2017): the mean attribution over noisy copies of the input.

    Noise std ``noise_level * (max(x) - min(x))``; the paper recommends 10–20% and 25–50
    samples (defaults: 0.15 and 50, as in PAIR's ``saliency`` package).

    Examples
    --------
    >>> import torch, numpy as np
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3))
    >>> sg = SmoothGrad(n_samples=8, seed=1)
    >>> sg(model, np.ones((2, 3, 2, 2), np.float32), [0, 1]).shape
    (2, 1, 2, 2)
    """

    name = "SmoothGrad"
    _statistic = "mean"

    def __init__(
        self,
        base: str | Callable = "Gradient",
        base_kwargs: dict[str, Any] | None = None,
        n_samples: int = 50,
        noise_level: float = 0.15,
        noise_relative: bool = True,
        seed: int | None = 0,
        generator: torch.Generator | None = None,
        batch_size: int = 256,
    ) -> None:
        self.noise_level = noise_level
        self.noise_relative = noise_relative
        super().__init__(
            base=base,
            base_kwargs=base_kwargs,
            n_samples=n_samples,
            input_noise=noise_level,
            input_noise_relative=noise_relative,
            statistic=self._statistic,
            seed=seed,
            generator=generator,
            batch_size=batch_size,
        )


class SmoothGradSquared(SmoothGrad):
    """SmoothGrad² (Hooker et al. 2019): the mean of *squared* attributions over noisy inputs."""

    name = "SmoothGradSquared"
    _statistic = "mean_square"


class VarGrad(SmoothGrad):
    """VarGrad (Adebayo et al. 2018): the variance of attributions over noisy inputs.

    Population variance by default (``unbiased=True`` for ``n - 1``), computed with a
    streaming update that cannot go negative.
    """

    name = "VarGrad"
    _statistic = "variance"

    def __init__(
        self,
        base: str | Callable = "Gradient",
        base_kwargs: dict[str, Any] | None = None,
        n_samples: int = 50,
        noise_level: float = 0.15,
        noise_relative: bool = True,
        unbiased: bool = False,
        seed: int | None = 0,
        generator: torch.Generator | None = None,
        batch_size: int = 256,
    ) -> None:
        super().__init__(
            base, base_kwargs, n_samples, noise_level, noise_relative, seed, generator, batch_size
        )
        self.unbiased = unbiased


class NoiseGrad(NoiseEnsemble):
    """NoiseGrad (Bykov et al., AAAI 2022): the mean attribution over noisy copies of the model.

    Every parameter is multiplied by ``1 + ε``, ``ε ~ N(0, noise_level²)``, independently for
    each of ``n_models`` draws (defaults from the paper: std 0.2, 10 draws). Choose
    ``noise_level`` with :func:`xai_sanity.tune_noise_level`.
    """

    name = "NoiseGrad"

    def __init__(
        self,
        base: str | Callable = "Gradient",
        base_kwargs: dict[str, Any] | None = None,
        n_models: int = 10,
        noise_level: float = 0.2,
        noise_mode: str = "multiplicative",
        seed: int | None = 0,
        generator: torch.Generator | None = None,
        batch_size: int = 256,
    ) -> None:
        self.noise_level = noise_level
        self.noise_mode = noise_mode
        super().__init__(
            base=base,
            base_kwargs=base_kwargs,
            n_models=n_models,
            weight_noise=noise_level,
            weight_noise_mode=noise_mode,
            seed=seed,
            generator=generator,
            batch_size=batch_size,
        )


class NoiseGradPlusPlus(NoiseEnsemble):
    """NoiseGrad++ (Bykov et al., AAAI 2022): NoiseGrad with SmoothGrad input noise per draw.

    ``n_models`` weight draws (std ``noise_level``), each explained at ``n_samples`` noisy
    inputs (std ``input_noise_level`` of the input range); the mean over all of them.
    Defaults: 10 × 10 draws, weight std 0.2, input noise 0.15.
    """

    name = "NoiseGrad++"

    def __init__(
        self,
        base: str | Callable = "Gradient",
        base_kwargs: dict[str, Any] | None = None,
        n_models: int = 10,
        n_samples: int = 10,
        noise_level: float = 0.2,
        input_noise_level: float = 0.15,
        noise_mode: str = "multiplicative",
        input_noise_relative: bool = True,
        seed: int | None = 0,
        generator: torch.Generator | None = None,
        batch_size: int = 256,
    ) -> None:
        self.noise_level = noise_level
        self.input_noise_level = input_noise_level
        self.noise_mode = noise_mode
        super().__init__(
            base=base,
            base_kwargs=base_kwargs,
            n_samples=n_samples,
            n_models=n_models,
            input_noise=input_noise_level,
            input_noise_relative=input_noise_relative,
            weight_noise=noise_level,
            weight_noise_mode=noise_mode,
            seed=seed,
            generator=generator,
            batch_size=batch_size,
        )
