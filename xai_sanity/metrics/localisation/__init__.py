"""Localisation metrics: does an explanation put its relevance on the ground-truth region?

Each metric compares an attribution map with a binary mask ``s_batch`` (1 = the object or
region that should explain the prediction) and is a drop-in replacement for the Quantus
metric of the same name, with the same constructor parameters and defaults. The scores are
computed for a whole batch at once with numpy (no loop over samples) and agree with
Quantus 0.6 to within 1e-6, except where Quantus is wrong; each class documents its
differences under "Differences from Quantus".

Common conventions:

* Attributions are preprocessed exactly as Quantus does it (Quantus's own
  ``general_preprocess``): a missing channel axis is added, then ``normalise_func``
  (default ``quantus.normalise_func.normalise_by_max``) is applied if ``normalise``, then
  the absolute value is taken if ``abs``.
* A mask may have one channel (``(N, 1, ...)``, the usual case) or as many as the inputs.
  With one-channel attributions, a many-channel mask must repeat the same mask in every
  channel; with many-channel attributions, a one-channel mask applies to every channel
  and each (channel, position) pair is a feature.
* Images ``(N, C, H, W)`` and time series ``(N, C, T)`` take masks ``(N, 1, H, W)`` and
  ``(N, 1, T)``; tables ``(N, F)`` take masks ``(N, F)``, one flag per feature. Quantus 0.6
  declares tables for these metrics too, but its mask check refuses ``(N, F)`` masks; here
  they are scored as Quantus's own scoring of flattened maps would score them.
* A score that is undefined for a sample (for example an empty mask) is NaN, and each
  call emits one ``RuntimeWarning`` per kind of problem that names how many samples are
  affected. These warnings are emitted whatever ``disable_warnings`` says, because they
  explain NaNs in the result; silence them with :mod:`warnings` filters if needed.
* A map with NaN or Inf (from a faulty ``explain_func``; a given ``a_batch`` with them is
  rejected) scores NaN, with such a warning, and costs no other sample its score:
  ``normalise_func`` sees the finite maps only, so the others score exactly as in a call
  without the bad one (Quantus's ``normalise_by_max`` divides by the maximum of the whole
  batch, which one NaN turns into NaN for every sample). Maps from ``explain_func`` that
  are all zero or constant are scored as a given ``a_batch`` would be (Quantus raises a
  bare ``AssertionError`` for them).
* A constant map (every value equal, e.g. all zero, after ``normalise`` and ``abs``) ranks
  no feature: PointingGame, TopKIntersection and RelevanceRankAccuracy score it NaN, with
  such a warning (Quantus: a hit for any non-empty mask, or the first features in raster
  order). AttributionLocalisation and RelevanceMassAccuracy score NaN where the
  attributions sum to exactly 0 (an all-zero map has no relevance to localise); AUC
  scores a constant map 0.5, its value for no information. Maps that are only partly tied
  are ranked as Quantus ranks them.

The package holds the scores as plain batched functions (:mod:`.functional`), the class
machinery they share (:mod:`.base`) and one module per metric class.

Examples
--------
One map scored by every metric. The mask is the top-left 2 x 2 corner (4 of 16 features);
the map puts 4 and 2 inside it and 3 and 1 outside:

>>> import numpy as np
>>> from xai_sanity.metrics.localisation import (
...     AUC, AttributionLocalisation, PointingGame, RelevanceMassAccuracy,
...     RelevanceRankAccuracy, TopKIntersection)
>>> s = np.zeros((1, 1, 4, 4), np.float32)
>>> s[..., :2, :2] = 1
>>> a = np.zeros((1, 1, 4, 4), np.float32)
>>> a[0, 0, 0, 0], a[0, 0, 1, 1], a[0, 0, 3, 3], a[0, 0, 0, 3] = 4.0, 2.0, 3.0, 1.0
>>> batch = dict(model=None, x_batch=np.zeros((1, 3, 4, 4), np.float32),
...              y_batch=np.array([0]), a_batch=a, s_batch=s)
>>> for metric in (PointingGame(), AttributionLocalisation(), RelevanceMassAccuracy(),
...                RelevanceRankAccuracy(), TopKIntersection(k=3), AUC()):
...     print(f"{metric.name:<24} {metric(**batch)[0]:.4f}")
PointingGame             1.0000
AttributionLocalisation  0.6000
RelevanceMassAccuracy    0.6000
RelevanceRankAccuracy    0.5000
TopKIntersection         0.6667
AUC                      0.6875

The peak (4) is inside: a hit. Six of the ten units of relevance are inside: 0.6. Of the
four top-ranked features (4, 3, 2, 1) two are in the mask: 0.5; of the top three, two:
0.667. A feature inside outranks one outside in 33 of the 4 x 12 pairs, ties counting
one half: 0.6875.
"""

from .attribution_localisation import AttributionLocalisation
from .auc import AUC
from .pointing_game import PointingGame
from .relevance_mass_accuracy import RelevanceMassAccuracy
from .relevance_rank_accuracy import RelevanceRankAccuracy
from .top_k_intersection import TopKIntersection

__all__ = [
    "AUC",
    "AttributionLocalisation",
    "PointingGame",
    "RelevanceMassAccuracy",
    "RelevanceRankAccuracy",
    "TopKIntersection",
]
