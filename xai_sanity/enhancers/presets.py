"""The five named enhancers, each a preset of :class:`~xai_sanity.enhancers.NoiseEnsemble`.

A preset stores its own constructor arguments under their public names and derives the
engine's settings from them at each use (``_settings``), so there is one source of truth:
``NoiseGrad(noise_level=0.2).noise_level = 0.5`` changes the weight noise of the next call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from .engine import NoiseEnsemble

__all__ = ["NoiseGrad", "NoiseGradPlusPlus", "SmoothGrad", "SmoothGradSquared", "VarGrad"]


class SmoothGrad(NoiseEnsemble):
    """SmoothGrad (Smilkov et al. 2017): the mean attribution over noisy copies of the input.

    Noise std ``noise_level * (max(x) - min(x))``; the paper recommends 10–20% and 25–50
    samples (defaults: 0.15 and 50, as in PAIR's ``saliency`` package). With
    ``noise_relative=False`` the std is ``noise_level`` itself (captum's ``stdevs``).

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
    _public_names = {"input_noise": "noise_level", "input_noise_relative": "noise_relative"}

    def __init__(
        self,
        base: str | Callable = "Gradient",
        base_kwargs: dict[str, Any] | None = None,
        n_samples: int = 50,
        noise_level: float = 0.15,
        noise_relative: bool = True,
        seed: int | None = 0,
        generator: torch.Generator | None = None,
        batch_size: int | None = None,
        progress: bool = False,
    ) -> None:
        self._store(locals())

    def _settings(self) -> dict[str, Any]:
        return {
            "n_samples": self.n_samples,
            "n_models": 1,
            "input_noise": self.noise_level,
            "input_noise_relative": self.noise_relative,
            "weight_noise": 0.0,
            "weight_noise_mode": "multiplicative",
            "statistic": self._statistic,
            "unbiased": getattr(self, "unbiased", False),
        }


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
        batch_size: int | None = None,
        progress: bool = False,
    ) -> None:
        self._store(locals())


class NoiseGrad(NoiseEnsemble):
    """NoiseGrad (Bykov et al., AAAI 2022): the mean attribution over noisy copies of the model.

    Every parameter is multiplied by ``1 + ε``, ``ε ~ N(0, noise_level²)`` (or, with
    ``noise_mode="additive"``, shifted by ``ε``), independently for each of ``n_models``
    draws (defaults from the paper: std 0.2, 10 draws). Choose ``noise_level`` with
    :func:`xai_sanity.tune_noise_level`.
    """

    name = "NoiseGrad"
    _public_names = {"weight_noise": "noise_level", "weight_noise_mode": "noise_mode"}

    def __init__(
        self,
        base: str | Callable = "Gradient",
        base_kwargs: dict[str, Any] | None = None,
        n_models: int = 10,
        noise_level: float = 0.2,
        noise_mode: str = "multiplicative",
        seed: int | None = 0,
        generator: torch.Generator | None = None,
        batch_size: int | None = None,
        progress: bool = False,
    ) -> None:
        self._store(locals())

    def _settings(self) -> dict[str, Any]:
        return {
            "n_samples": 1,
            "n_models": self.n_models,
            "input_noise": 0.0,
            "input_noise_relative": True,
            "weight_noise": self.noise_level,
            "weight_noise_mode": self.noise_mode,
            "statistic": "mean",
            "unbiased": False,
        }


class NoiseGradPlusPlus(NoiseEnsemble):
    """NoiseGrad++ (Bykov et al., AAAI 2022): NoiseGrad with SmoothGrad input noise per draw.

    ``n_models`` weight draws (std ``noise_level``), each explained at ``n_samples`` noisy
    inputs (std ``input_noise_level`` of the input range); the mean over all of them.
    Defaults: 10 × 10 draws, weight std 0.2, input noise 0.15.
    """

    name = "NoiseGrad++"
    _public_names = {
        "weight_noise": "noise_level",
        "weight_noise_mode": "noise_mode",
        "input_noise": "input_noise_level",
    }

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
        batch_size: int | None = None,
        progress: bool = False,
    ) -> None:
        self._store(locals())

    def _settings(self) -> dict[str, Any]:
        return {
            "n_samples": self.n_samples,
            "n_models": self.n_models,
            "input_noise": self.input_noise_level,
            "input_noise_relative": self.input_noise_relative,
            "weight_noise": self.noise_level,
            "weight_noise_mode": self.noise_mode,
            "statistic": "mean",
            "unbiased": False,
        }
