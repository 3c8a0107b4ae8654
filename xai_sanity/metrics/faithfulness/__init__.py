"""Faithfulness metrics: does removing what a map ranks as relevant change the model's output?

* :class:`ROAD` — this package's own, a drop-in for Quantus's: MoRF and LeRF removal curves
  with noisy linear imputation (Rong et al., ICML 2022) on batched removal
  (:mod:`.curves`); Quantus's MoRF accuracy per percentage, or per sample the area between
  the curves (:mod:`.road`).
* :class:`FaithfulnessCorrelation` and :class:`PixelFlipping` — Quantus's metrics, run seeded,
  guarded and with three repairs (see :mod:`.quantus_based`).

:mod:`.base` holds the course of a call they share (explain, score the finite maps, count
the others).
"""

from .quantus_based import FaithfulnessCorrelation, PixelFlipping, auto_features_in_step
from .road import DEFAULT_FRACTIONS, MEASURES, ROAD, road_curves, road_score

__all__ = [
    "DEFAULT_FRACTIONS",
    "MEASURES",
    "ROAD",
    "FaithfulnessCorrelation",
    "PixelFlipping",
    "auto_features_in_step",
    "road_curves",
    "road_score",
]
