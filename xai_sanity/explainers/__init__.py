"""Base explain functions following Quantus's ``f(model, inputs, targets, **kw)`` contract."""

from .base import Explainer
from .cam import GradCAM, GuidedGradCAM
from .controls import RandomAttribution, SobelEdges
from .gradient import Gradient, GradientSHAP, GradientXInput, IntegratedGradients, Saliency
from .guided import GuidedBackprop

__all__ = [
    "Explainer",
    "Gradient",
    "Saliency",
    "GradientXInput",
    "IntegratedGradients",
    "GradientSHAP",
    "GuidedBackprop",
    "GradCAM",
    "GuidedGradCAM",
    "RandomAttribution",
    "SobelEdges",
]
