"""The five named enhancers, each a preset of :class:`~xai_sanity.enhancers.NoiseEnsemble`.

A preset stores its own constructor arguments under their public names and derives the
engine's settings from them at each use (``_settings``), so there is one source of truth:
``NoiseGrad(noise_level=0.2).noise_level = 0.5`` changes the weight noise of the next call.
"""

from __future__ import annotations

from typing import Any

from .._signatures import parameters_of, with_parameters
from .engine import NoiseEnsemble

__all__ = ["NoiseGrad", "NoiseGradPlusPlus", "SmoothGrad", "SmoothGradSquared", "VarGrad"]

#: A preset's signature: the engine's ``base`` and ``base_kwargs``, the preset's own
#: parameters, then the engine's seeding and chunking parameters.
_preset = with_parameters(
    parameters_of(NoiseEnsemble.__init__),
    order=("base", "base_kwargs", ..., "seed", "generator", "batch_size", "progress"),
    extra_keywords=False,
)


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
    _public_names = {
        "n_samples": "n_samples",
        "input_noise": "noise_level",
        "input_noise_relative": "noise_relative",
    }
    _fixed_settings = {"statistic": "mean"}

    @_preset
    def __init__(
        self, n_samples: int = 50, noise_level: float = 0.15, noise_relative: bool = True, **kwargs: Any
    ) -> None:
        self._store(locals())


class SmoothGradSquared(SmoothGrad):
    """SmoothGrad² (Hooker et al. 2019): the mean of *squared* attributions over noisy inputs."""

    name = "SmoothGradSquared"
    _fixed_settings = {"statistic": "mean_square"}


class VarGrad(SmoothGrad):
    """VarGrad (Adebayo et al. 2018): the variance of attributions over noisy inputs.

    Population variance by default (``unbiased=True`` for ``n - 1``), computed with a
    streaming update that cannot go negative.
    """

    name = "VarGrad"
    _public_names = {**SmoothGrad._public_names, "unbiased": "unbiased"}
    _fixed_settings = {"statistic": "variance"}

    @_preset
    def __init__(
        self,
        n_samples: int = 50,
        noise_level: float = 0.15,
        noise_relative: bool = True,
        unbiased: bool = False,
        **kwargs: Any,
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
    _public_names = {"n_models": "n_models", "weight_noise": "noise_level", "weight_noise_mode": "noise_mode"}

    @_preset
    def __init__(
        self, n_models: int = 10, noise_level: float = 0.2, noise_mode: str = "multiplicative", **kwargs: Any
    ) -> None:
        self._store(locals())


class NoiseGradPlusPlus(NoiseEnsemble):
    """NoiseGrad++ (Bykov et al., AAAI 2022): NoiseGrad with SmoothGrad input noise per draw.

    ``n_models`` weight draws (std ``noise_level``), each explained at ``n_samples`` noisy
    inputs (std ``input_noise_level`` of the input range); the mean over all of them.
    Defaults: 10 × 10 draws, weight std 0.2, input noise 0.15.
    """

    name = "NoiseGrad++"
    _public_names = {
        "n_models": "n_models",
        "n_samples": "n_samples",
        "weight_noise": "noise_level",
        "weight_noise_mode": "noise_mode",
        "input_noise": "input_noise_level",
        "input_noise_relative": "input_noise_relative",
    }

    @_preset
    def __init__(
        self,
        n_models: int = 10,
        n_samples: int = 10,
        noise_level: float = 0.2,
        input_noise_level: float = 0.15,
        noise_mode: str = "multiplicative",
        input_noise_relative: bool = True,
        **kwargs: Any,
    ) -> None:
        self._store(locals())
