"""Registration of the built-in explainers and enhancers (imported by the package)."""

from . import enhancers, explainers
from .registry import METHODS

_BUILTIN_METHODS = [
    (explainers.Gradient, ("VanillaGradients", "Gradients")),
    (explainers.Saliency, ()),
    (explainers.GradientXInput, ("InputXGradient", "GradientTimesInput")),
    (explainers.IntegratedGradients, ("IG",)),
    (explainers.GradientSHAP, ("GradientShap",)),
    (explainers.GuidedBackprop, ()),
    (explainers.GradCAM, ("LayerGradCam",)),
    (explainers.GuidedGradCAM, ()),
    (explainers.RandomAttribution, ("RandomAttribution", "Control Var. Random Uniform")),
    (explainers.SobelEdges, ("Sobel", "Control Var. Sobel Filter")),
    (enhancers.SmoothGrad, ()),
    (enhancers.SmoothGradSquared, ("SmoothGrad2", "SmoothGrad^2", "SmoothGrad²")),
    (enhancers.VarGrad, ()),
    (enhancers.NoiseGrad, ()),
    (enhancers.NoiseGradPlusPlus, ("NoiseGradPlusPlus", "NG++")),
    (enhancers.NoiseEnsemble, ()),
]

for _cls, _aliases in _BUILTIN_METHODS:
    METHODS.register(_cls, name=_cls.name, aliases=_aliases)
