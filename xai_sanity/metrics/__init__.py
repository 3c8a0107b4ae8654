"""Quantus-compatible metrics. Each is registered in :data:`xai_sanity.METRICS`."""

from ..registry import METRICS
from . import faithfulness, localisation, randomisation, roar, robustness
from .base import Metric, check_batch
from .faithfulness import ROAD, FaithfulnessCorrelation, PixelFlipping
from .localisation import (
    AUC,
    AttributionLocalisation,
    PointingGame,
    RelevanceMassAccuracy,
    RelevanceRankAccuracy,
    TopKIntersection,
)
from .randomisation import (
    DataRandomisation,
    EfficientMPRT,
    ModelParameterRandomisation,
    RandomLogit,
    SmoothMPRT,
)
from .roar import KAR, ROAR, plot_roar, run_roar
from .robustness import AvgSensitivity, LocalLipschitzEstimate, MaxSensitivity, RelativeInputStability

# Registered under their class names, with Quantus's ``name`` strings as aliases.
_LOCALISATION_METRICS = [
    (PointingGame, ("Pointing-Game", "Pointing Game")),
    (AttributionLocalisation, ("Attribution Localisation", "Attribution Localization")),
    (TopKIntersection, ("Top-K Intersection",)),
    (RelevanceRankAccuracy, ("Relevance Rank Accuracy",)),
    (RelevanceMassAccuracy, ("Relevance Mass Accuracy",)),
    (AUC, ("AUC",)),
]
for _cls, _aliases in _LOCALISATION_METRICS:
    METRICS.register(_cls, name=_cls.name, aliases=_aliases)

_FAITHFULNESS_METRICS = [
    (FaithfulnessCorrelation, ("Faithfulness Correlation",)),
    (PixelFlipping, ("Pixel-Flipping", "Pixel Flipping")),
    (ROAD, ()),
]
for _cls, _aliases in _FAITHFULNESS_METRICS:
    METRICS.register(_cls, name=_cls.name, aliases=_aliases)

__all__ = [
    "AUC",
    "AttributionLocalisation",
    "AvgSensitivity",
    "DataRandomisation",
    "EfficientMPRT",
    "FaithfulnessCorrelation",
    "KAR",
    "LocalLipschitzEstimate",
    "MaxSensitivity",
    "Metric",
    "ModelParameterRandomisation",
    "PixelFlipping",
    "PointingGame",
    "ROAD",
    "ROAR",
    "RandomLogit",
    "RelevanceMassAccuracy",
    "RelativeInputStability",
    "RelevanceRankAccuracy",
    "SmoothMPRT",
    "TopKIntersection",
    "check_batch",
    "plot_roar",
    "faithfulness",
    "localisation",
    "randomisation",
    "robustness",
    "roar",
    "run_roar",
]
