"""Randomisation sanity checks (Adebayo et al., NeurIPS 2018) as Quantus-compatible metrics.

* :class:`ModelParameterRandomisation` — re-initialise the model's layers, cascading from the
  top (``"top_down"``), from the bottom (``"bottom_up"``) or one at a time
  (``"independent"``), and measure how similar the explanations stay. An explanation that
  stays similar while the model is destroyed does not explain the model.
* :class:`SmoothMPRT` and :class:`EfficientMPRT` — Hedström et al. (2023)'s repairs of the
  parameter randomisation test: explanations averaged over noisy inputs before comparing,
  and the rise in explanation complexity from the original to the fully randomised model.
* :class:`RandomLogit` — the explanation for the true class against one for a random other
  class (Sixt et al. 2020).
* :class:`DataRandomisation` — train the same architecture on permuted labels and compare
  its explanations with the real model's.

Everything is seeded through private generators; the user's model is handed back
bit-identical; explanations for all steps are computed batch-wise on the model's device.
"""

from ..._model_ops import randomisable_layers, reinitialise
from ...registry import METRICS
from .base import LAYER_ORDERS, LAYER_SEEDS, ExplainingMetric
from .data import DataRandomisation
from .efficient import EfficientMPRT
from .parameter import ModelParameterRandomisation
from .random_logit import RandomLogit
from .smooth import SmoothMPRT

__all__ = [
    "LAYER_ORDERS",
    "LAYER_SEEDS",
    "DataRandomisation",
    "EfficientMPRT",
    "ExplainingMetric",
    "ModelParameterRandomisation",
    "RandomLogit",
    "SmoothMPRT",
    "randomisable_layers",  # re-exported from xai_sanity._model_ops
    "reinitialise",
]

# Registered under their class names, with display names and Quantus's names as aliases.
for _cls, _aliases in (
    (
        ModelParameterRandomisation,
        ("Model Parameter Randomisation", "MPRT", "Model Parameter Randomisation Test"),
    ),
    (
        SmoothMPRT,
        (
            "Smooth Model Parameter Randomisation Test",
            "Smooth MPRT",
            "sMPRT",
            "Smooth Model Parameter Randomisation",
        ),
    ),
    (
        EfficientMPRT,
        (
            "Efficient Model Parameter Randomisation Test",
            "Efficient MPRT",
            "eMPRT",
            "Efficient Model Parameter Randomisation",
        ),
    ),
    (RandomLogit, ("Random Logit",)),
    (DataRandomisation, ("Data Randomisation",)),
):
    METRICS.register(_cls, name=_cls.__name__, aliases=_aliases)
