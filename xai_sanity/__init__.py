"""xai_sanity: checkable explanations — enhancers, explainers and sanity metrics for Quantus."""

from . import _builtin, metrics, report, similarity  # noqa: F401  (registers built-in methods, metrics, similarities)
from .enhancers import (
    NoiseEnsemble,
    NoiseGrad,
    NoiseGradPlusPlus,
    SmoothGrad,
    SmoothGradSquared,
    VarGrad,
)
from .evaluation import evaluate
from .explain import build_method, explain
from .explainers import (
    Explainer,
    GradCAM,
    Gradient,
    GradientSHAP,
    GradientXInput,
    GuidedBackprop,
    GuidedGradCAM,
    IntegratedGradients,
    RandomAttribution,
    Saliency,
    SobelEdges,
)
from .noise_level import NoiseLevelResult, tune_noise_level
from .registry import METHODS, METRICS, SIMILARITIES, get_method, register
from .study import Study, run_study

__version__ = "0.1.0"

__all__ = [
    "METHODS",
    "METRICS",
    "SIMILARITIES",
    "Explainer",
    "GradCAM",
    "Gradient",
    "GradientSHAP",
    "GradientXInput",
    "GuidedBackprop",
    "GuidedGradCAM",
    "IntegratedGradients",
    "NoiseEnsemble",
    "NoiseGrad",
    "NoiseGradPlusPlus",
    "NoiseLevelResult",
    "RandomAttribution",
    "Saliency",
    "SmoothGrad",
    "SmoothGradSquared",
    "SobelEdges",
    "Study",
    "VarGrad",
    "build_method",
    "evaluate",
    "explain",
    "get_method",
    "register",
    "run_study",
    "tune_noise_level",
]
