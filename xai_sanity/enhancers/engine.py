"""The noise-ensemble engine behind every enhancer.

One engine, :class:`NoiseEnsemble`, explains an ensemble of perturbed *inputs*
(``x + N(0, σ_x²)``, SmoothGrad; Smilkov et al. 2017) and/or perturbed *models*
(``W ⊙ (1 + ε)``, ``ε ~ N(0, σ_w²)``, NoiseGrad; Bykov et al. 2022) with any base explain
function, and reduces the ensemble to one map by a statistic (:mod:`.statistics`). The five
named enhancers (:mod:`.presets`) only map their own parameters onto the engine's settings.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .._memory import auto_chunk, memory_budget
from .._model_ops import WEIGHT_NOISE_MODES, noisy_parameters, swapped_parameters
from .._safety import make_generator, preserve_global_rng
from .._validation import accepts_keyword, check_non_negative, check_positive_int
from ..explainers.base import Explainer
from .statistics import STATISTICS, RunningStatistic

#: What the engine needs to know; presets derive these from their own parameters.
ENGINE_SETTINGS = (
    "n_samples",
    "n_models",
    "input_noise",
    "input_noise_relative",
    "weight_noise",
    "weight_noise_mode",
    "statistic",
    "unbiased",
)


def engine_settings(**settings: Any) -> dict[str, Any]:
    """The engine's settings: those given, the others at :class:`NoiseEnsemble`'s defaults
    (no noise, one draw, the mean)."""
    unknown = set(settings) - set(ENGINE_SETTINGS)
    if unknown:
        raise TypeError(f"unknown engine settings {sorted(unknown)}; they are {ENGINE_SETTINGS}")
    return {name: settings.get(name, _ENGINE_DEFAULTS[name]) for name in ENGINE_SETTINGS}


def input_noise_std(inputs: torch.Tensor, std: float, relative: bool) -> torch.Tensor | None:
    """Per-input std of SmoothGrad's noise, broadcastable to ``inputs``; ``None`` for no noise.

    Relative: ``std * (max(x) - min(x))`` per input (Smilkov et al. 2017); else ``std``.
    """
    if std == 0:
        return None
    shape = (-1,) + (1,) * (inputs.ndim - 1)
    if not relative:
        return torch.full((inputs.shape[0],), std, device=inputs.device).view(shape)
    flat = inputs.reshape(inputs.shape[0], -1)
    spread = flat.max(1).values - flat.min(1).values
    return (std * spread).view(shape)


#: Offset between a row's input-noise seed and the seed of a stochastic base's draws.
_BASE_STREAM = 0x9E3779B97F4A7C15


def _is_stochastic(base: Callable) -> bool:
    """Whether a base declares that it draws random numbers (``stochastic = True``)."""
    target = base.func if isinstance(base, functools.partial) else base
    return bool(getattr(target, "stochastic", False))


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
    batch_size : int or None, default None
        Most noisy inputs given to the base in one call; bounds memory. ``None`` sizes the
        calls to the memory budget (:mod:`xai_sanity._memory`,
        ``$XAI_SANITY_MEMORY_BUDGET``) from a probe of the model's per-input cost. Results do not
        depend on it: each draw has its own derived seed, and a base that declares
        ``stochastic = True`` (GradientSHAP, RandomAttribution) is called once per noisy
        copy of the batch with that copy's seed (split only when the batch has more than
        ``batch_size`` inputs, the one case where its draws depend on ``batch_size``). An
        external function that draws from the global RNG should set ``stochastic = True``.
    progress : bool, default False
        Show a progress bar over the weight draws, titled with the number of explanations
        the call will compute.
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
        batch_size: int | None = None,
        progress: bool = False,
    ) -> None:
        self._store(locals())

    # -- parameters ---------------------------------------------------------------------
    #: A preset's map from engine setting to the public parameter that sets it (also used to
    #: name parameters in error messages); settings it does not list take
    #: :attr:`_fixed_settings`, else the engine's defaults (no noise, one draw, the mean).
    _public_names: ClassVar[dict[str, str]] = {}
    _fixed_settings: ClassVar[dict[str, Any]] = {}

    def _settings(self) -> dict[str, Any]:
        """The engine's settings, read from the public parameters at each use.

        A preset derives them from its own arguments (:attr:`_public_names`), so each public
        argument is stored once, under its public name (``NoiseGrad.noise_level`` is the
        weight-noise std; setting it after construction takes effect).
        """
        if not self._public_names:  # the engine itself: its parameters are the settings
            return {key: getattr(self, key) for key in ENGINE_SETTINGS}
        own = {key: getattr(self, name) for key, name in self._public_names.items()}
        return engine_settings(**{**self._fixed_settings, **own})

    def _check_params(self) -> None:
        cfg = self._settings()

        def label(key: str) -> str:
            return self._public_names.get(key, key)

        check_positive_int(cfg["n_samples"], label("n_samples"))
        check_positive_int(cfg["n_models"], label("n_models"))
        if self.batch_size is not None:
            check_positive_int(self.batch_size, "batch_size")
        check_non_negative(cfg["input_noise"], label("input_noise"))
        check_non_negative(cfg["weight_noise"], label("weight_noise"))
        if cfg["statistic"] not in STATISTICS:
            raise ValueError(f"{label('statistic')} must be one of {STATISTICS}, got {cfg['statistic']!r}")
        if cfg["weight_noise_mode"] not in WEIGHT_NOISE_MODES:
            raise ValueError(
                f"{label('weight_noise_mode')} must be one of {WEIGHT_NOISE_MODES}, "
                f"got {cfg['weight_noise_mode']!r}"
            )
        if cfg["statistic"] == "variance" and cfg["unbiased"] and cfg["n_samples"] * cfg["n_models"] < 2:
            raise ValueError(f"unbiased=True needs {label('n_samples')} * {label('n_models')} >= 2")
        if self.base_kwargs is not None and not isinstance(self.base_kwargs, dict):
            raise TypeError(f"base_kwargs must be a dict, got {type(self.base_kwargs).__name__}")
        if self.generator is not None and not isinstance(self.generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator, got {type(self.generator).__name__}")
        base = self._base()
        if isinstance(base, Explainer):
            base._check_params()

    def _base(self) -> Callable:
        from ..explain import build_method  # the one resolver of method names and objects

        try:
            return build_method(self.base, **dict(self.base_kwargs or {}))
        except TypeError as err:
            raise TypeError(f"base: {err}") from err

    # -- the engine -----------------------------------------------------------------------
    def attribute(self, model, inputs, targets, generator=None):
        base = self._base()
        if generator is None:
            generator = self.generator
        gen = generator if generator is not None else make_generator(self.seed, inputs.device)
        if gen.device != inputs.device:
            raise ValueError(f"generator is on {gen.device} but the model computes on {inputs.device}")
        # One seed per model draw (weights) and per (draw, input sample), so the numbers do not
        # depend on batch_size or on how the work is chunked.
        cfg = self._settings()
        n_samples = cfg["n_samples"]
        seeds = torch.randint(
            0, 2**62, (cfg["n_models"], 1 + n_samples), generator=gen, device=gen.device
        ).tolist()
        draw_gen = torch.Generator(device=inputs.device)

        perturb = cfg["weight_noise"] > 0
        stat = RunningStatistic(cfg["statistic"], cfg["unbiased"])
        n = inputs.shape[0]
        sigma = input_noise_std(inputs, cfg["input_noise"], cfg["input_noise_relative"])
        chunk = self.batch_size or self._auto_batch_size(base, model, inputs)
        rows_per_call = max(1, chunk // n)
        passes = cfg["n_models"] * n_samples * n
        bar = tqdm(
            total=len(seeds),
            desc=f"{self.name}: {passes} explanations in chunks of {chunk}",
            disable=not self.progress,
            leave=False,
        )
        for draw_seeds in seeds:
            bar.update(1)
            # Drop the previous draw's weights before drawing the next: one noisy copy at a time.
            noisy = None
            swap = contextlib.nullcontext()
            if perturb:
                draw_gen.manual_seed(draw_seeds[0])
                noisy = noisy_parameters(model, cfg["weight_noise"], cfg["weight_noise_mode"], draw_gen)
                swap = swapped_parameters(model, noisy)
            with swap:
                for first in range(0, n_samples, rows_per_call):
                    rows = draw_seeds[1 + first : 1 + min(n_samples, first + rows_per_call)]
                    noisy_x = torch.stack([self._noisy_inputs(inputs, sigma, s, draw_gen) for s in rows])
                    attributions = self._explain_rows(base, model, noisy_x, targets, draw_gen, rows, chunk)
                    stat.update(attributions)
        bar.close()
        return stat.result()

    @staticmethod
    def _auto_batch_size(base: Callable, model: nn.Module, inputs: torch.Tensor) -> int:
        """Inputs per base call under the memory budget (a model-free base costs its inputs)."""
        if getattr(base, "uses_model", True) is False:
            per_input = 4 * inputs[:1].numel() * inputs.element_size()
            return max(1, memory_budget(inputs.device) // per_input)
        return auto_chunk(model, inputs)

    @staticmethod
    def _noisy_inputs(inputs, sigma, seed: int, gen: torch.Generator) -> torch.Tensor:
        if sigma is None:
            return inputs
        gen.manual_seed(seed)
        noise = torch.randn(inputs.shape, generator=gen, device=inputs.device).to(inputs.dtype)
        return inputs + sigma * noise

    def _explain_rows(
        self, base, model, noisy, targets, gen, row_seeds: list[int], chunk: int
    ) -> torch.Tensor:
        """Attributions of ``noisy`` ``(r, N, ...)`` in pieces of at most ``batch_size``.

        A deterministic base gets pieces of up to ``batch_size`` inputs across rows. A
        stochastic base (``stochastic = True``: GradientSHAP, RandomAttribution, the
        enhancers) is called row by row — each noisy copy of the batch with its own seed,
        split into pieces only when ``N > batch_size`` — so its draws, and the result, do not
        depend on ``batch_size`` as long as ``batch_size >= N``.
        """
        r, n = noisy.shape[:2]
        if _is_stochastic(base):
            out = torch.stack(
                [
                    torch.cat(
                        [
                            self._call_base(
                                base,
                                model,
                                noisy[i, start : start + chunk],
                                targets[start : start + chunk],
                                gen,
                                (row_seeds[i] + _BASE_STREAM + start) % 2**62,
                            )
                            for start in range(0, n, chunk)
                        ]
                    )
                    for i in range(r)
                ]
            )
            return out
        flat = noisy.reshape(r * n, *noisy.shape[2:])
        flat_targets = targets.repeat(r)
        pieces = [
            self._call_base(
                base,
                model,
                flat[start : start + chunk],
                flat_targets[start : start + chunk],
                gen,
                (row_seeds[0] + _BASE_STREAM + start) % 2**62,
            )
            for start in range(0, r * n, chunk)
        ]
        out = torch.cat(pieces)
        return out.view(r, n, *out.shape[1:])

    def _call_base(self, base, model, x, y, gen, seed: int) -> torch.Tensor:
        if isinstance(base, Explainer):
            gen.manual_seed(seed)
            return base.attribute(model, x, y, generator=gen)
        # Quantus-style explain functions take ``device``; tell them where the model is.
        kwargs = {"device": str(x.device)} if accepts_keyword(base, "device", if_unknown=False) else {}
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
        elif out is None or np.asarray(out).dtype == object or np.ndim(out) == 0:
            raise TypeError(
                f"the base explain function returned {type(out).__name__}, not attributions: it must "
                f"return an array or tensor with one map per input ({x.shape[0]} here)"
            )
        else:
            out = torch.from_numpy(np.asarray(out, dtype=np.float32))
        if out.ndim == 0 or out.shape[0] != x.shape[0]:
            raise ValueError(
                f"the base explain function returned {out.shape[0]} attributions for {x.shape[0]} inputs"
            )
        return out.to(device=x.device, dtype=x.dtype)


#: The engine's default settings (its constructor's defaults), read once.
_ENGINE_DEFAULTS = {
    name: param.default
    for name, param in inspect.signature(NoiseEnsemble.__init__).parameters.items()
    if name in ENGINE_SETTINGS
}
