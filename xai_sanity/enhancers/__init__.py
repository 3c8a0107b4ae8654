"""Noise-ensemble enhancers: SmoothGrad, SmoothGrad², VarGrad, NoiseGrad, NoiseGrad++.

* :mod:`.engine` — :class:`NoiseEnsemble`, the one loop over weight and input noise draws;
* :mod:`.statistics` — the streaming mean / mean of squares / variance;
* :mod:`.presets` — the five named enhancers as presets of the engine.
"""

from .._model_ops import WEIGHT_NOISE_MODES
from .engine import ENGINE_SETTINGS, NoiseEnsemble, input_noise_std
from .presets import NoiseGrad, NoiseGradPlusPlus, SmoothGrad, SmoothGradSquared, VarGrad
from .statistics import STATISTICS, RunningStatistic

__all__ = [
    "ENGINE_SETTINGS",
    "STATISTICS",
    "WEIGHT_NOISE_MODES",
    "NoiseEnsemble",
    "NoiseGrad",
    "NoiseGradPlusPlus",
    "RunningStatistic",
    "SmoothGrad",
    "SmoothGradSquared",
    "VarGrad",
    "input_noise_std",
]
