"""Remove-and-retrain evaluation of feature-importance estimates: ROAR and KAR.

ROAR (RemOve And Retrain; Hooker et al., "A Benchmark for Interpretability Methods in Deep
Neural Networks", NeurIPS 2019) ranks each image's features by an attribution map, replaces
the most important fraction ``t`` of them with the per-channel mean of the training set (in
the training *and* the test images), trains a fresh model on the degraded training set and
reports its test accuracy. "Fresh" means a copy of the given model in which every layer with
parameters, frozen ones included, is re-initialised: only the architecture is reused. A good estimator makes the accuracy fall quickly as ``t`` grows;
the paper's controls are a random ranking and a Sobel edge filter. KAR (Keep And Retrain)
is the mirror image: it removes the *least* important fraction ``t`` (keeping the most
important ``1 - t``), and a good estimator keeps the accuracy high.

Retraining is what separates ROAR from a plain deletion curve: without it, the accuracy also
drops because the degraded images lie outside the training distribution. ``retrain=False``
gives that deletion curve (same removal, original model) for comparison.

Caveat (Rong et al., "A Consistent and Efficient Evaluation Strategy for Attribution
Methods", ICML 2022, "ROAD"): with a fixed fill the *shape* of the removed region can itself
leak the class (a removal mask shaped like the object is informative), so a retrained model
may stay accurate although the informative pixels are gone, and estimators can be ranked
wrongly. ``imputation="noisy_linear"`` fills the removed features with ROAD's noisy linear
imputation (:mod:`xai_sanity.metrics.imputation`), which continues the surroundings instead
of drawing the region's outline, and :func:`leak_diagnostic` (:mod:`.leak`) measures the
leak: the test accuracy of the same architecture trained on the removal masks alone.

Engineering:

* ties in an attribution map are broken by a seeded random order, not by pixel index;
* each (estimator, threshold, repeat) cell is an independent, picklable job with its own
  seed, so results do not depend on scheduling (``executor=`` takes any
  :class:`concurrent.futures.Executor`, e.g. a process pool or Dask's
  ``Client.get_executor()``);
* with ``cache_dir`` each finished cell is written atomically as JSON, keyed by a digest of
  everything that determines it (the trainer included: its code, captured values, partial
  arguments or state; what cannot be fingerprinted is refused unless ``cache_key=`` names
  it); a rerun only computes the missing cells, and unreadable files are recomputed with a
  warning. Processes sharing a ``cache_dir`` compute each cell once (per-cell lock files,
  stale locks of dead processes recovered);
* bad input (labels outside the model's classes, a model ``batched=True`` cannot train, an
  unusable ``cache_dir``) is refused before any work.

Layout: :mod:`.removal` (ranking, tie-breaking, imputation), :mod:`.cells` (one job per
(estimator, threshold, repeat) and how jobs run), :mod:`.fingerprints` (what the cache keys
are made of), :mod:`.cache` (the per-cell cache and its locks), :mod:`.metric` (the ROAR/KAR
classes), :mod:`.checks` (what a call refuses before any work, and its test set),
:mod:`.study` (several estimators and the controls), :mod:`.leak` (the removal-pattern leak
diagnostic).
"""

from ...report.plots import plot_roar  # the figure lives with the other plots
from .._plumbing import explain_in_batches
from ..imputation import IMPUTATIONS, impute
from .cells import Cell
from .leak import KARLeak, ROARLeak, leak_diagnostic
from .metric import DEFAULT_THRESHOLDS, KAR, ROAR
from .removal import removal_mask, remove_features
from .study import control_estimators, run_roar

__all__ = [
    "DEFAULT_THRESHOLDS",
    "IMPUTATIONS",
    "KAR",
    "KARLeak",
    "ROAR",
    "ROARLeak",
    "Cell",
    "control_estimators",
    "explain_in_batches",
    "impute",
    "leak_diagnostic",
    "plot_roar",
    "removal_mask",
    "remove_features",
    "run_roar",
]
