"""Batched similarity functions for the randomisation sanity checks (Adebayo et al. 2018).

Every function compares two batches of explanation maps sample by sample::

    scores = f(a, b, **params)          # a, b: (N, ...) numpy arrays or torch tensors

and returns a numpy ``float64`` array of shape ``(N,)``. The whole batch is computed at
once with torch, on the device of the inputs (numpy arrays are computed on the CPU; a
numpy array paired with a tensor goes to the tensor's device), in ``float64``. Pass
``return_tensor=True`` to get the scores as a ``float64`` tensor on that device instead
(what the metrics use to stay on the GPU).

* ``"spearman"`` — :func:`spearman`, reference ``scipy.stats.spearmanr``;
* ``"spearman_abs"`` — :func:`spearman_abs`, ``spearmanr(|a|, |b|)``;
* ``"pearson"`` — :func:`pearson`, ``scipy.stats.pearsonr``;
* ``"ssim"`` — :func:`ssim`, ``skimage.metrics.structural_similarity``;
* ``"hog"`` — :func:`hog_similarity`, ``spearmanr`` of ``skimage.feature.hog`` features
  (the features themselves: :func:`hog_features`);
* ``"mse"`` — :func:`mse`, ``np.mean((a - b) ** 2)``.

Each function carries a ``higher_is_similar`` attribute (``False`` only for :func:`mse`,
where lower means more similar).

Undefined scores are NaN, never a made-up number: a correlation of a constant map (or of
constant HOG features), and SSIM with ``scale=True`` of a constant map (which cannot be
min-max scaled). Each call that produces such NaNs emits exactly one ``RuntimeWarning``
saying how many samples are affected. Malformed input (different shapes, an empty batch,
NaN or Inf values) raises a ``ValueError`` naming the argument.

Metrics also accept Quantus's similarity functions (``quantus.similarity_func.*``), called
as Quantus calls them; :mod:`.contract` decides which contract a function follows
(:func:`batched` marks a user's function as taking whole batches).

The functions live in one module per concern: :mod:`.correlation` (Spearman, Pearson),
:mod:`.structural` (SSIM), :mod:`.hog` (HOG features and their correlation) and
:mod:`.distances` (MSE). Importing this package registers them, once, in
:data:`xai_sanity.SIMILARITIES` under the names above (and a few aliases).

References
----------
Adebayo, J., Gilmer, J., Muelly, M., Goodfellow, I., Hardt, M. & Kim, B. (2018).
Sanity checks for saliency maps. NeurIPS 31.

Wang, Z., Bovik, A. C., Sheikh, H. R. & Simoncelli, E. P. (2004). Image quality
assessment: from error visibility to structural similarity. IEEE TIP 13(4), 600-612.

Dalal, N. & Triggs, B. (2005). Histograms of oriented gradients for human detection.
CVPR 2005, 886-893.

Examples
--------
>>> import numpy as np
>>> from xai_sanity.registry import SIMILARITIES
>>> SIMILARITIES["spearman"] is spearman
True
>>> a = np.arange(16.0).reshape(1, 1, 4, 4)
>>> SIMILARITIES["mse"](a, a + 1.0)
array([1.])
"""

from __future__ import annotations

# ``X as X`` marks the names kept importable from here for code written against the single
# module this package replaces (the private helpers are used by the tests).
from ..registry import SIMILARITIES
from ._inputs import ArrayLike as ArrayLike
from .contract import batched, is_batched, similarity_scores
from .correlation import pearson, spearman, spearman_abs, spearman_against
from .distances import mse
from .hog import BLOCK_NORMS as BLOCK_NORMS
from .hog import _hog_tensor as _hog_tensor
from .hog import hog_features, hog_similarity
from .structural import _gaussian_window as _gaussian_window
from .structural import _ValidGaussian as _ValidGaussian
from .structural import ssim

# SSIM filters at most this many float64 values per chunk of samples: bounds the memory on
# an accelerator, and keeps the working set inside the caches on the CPU. ``ssim`` reads
# them from here at each call.
_SSIM_CHUNK_VALUES = 1 << 24
_SSIM_CHUNK_VALUES_CPU = 1 << 20

__all__ = [
    "batched",
    "hog_features",
    "hog_similarity",
    "mse",
    "pearson",
    "spearman",
    "spearman_abs",
    "spearman_against",
    "similarity_scores",
    "ssim",
    "is_batched",
]

# The examples of the functions, run by ``doctest.testmod`` on this package as well.
__test__ = {
    func.__name__: func for func in (spearman, spearman_abs, pearson, ssim, hog_features, hog_similarity, mse)
}

# -- registration -----------------------------------------------------------------------

for _func, _higher in (
    (spearman, True),
    (spearman_abs, True),
    (pearson, True),
    (ssim, True),
    (hog_similarity, True),
    (mse, False),
):
    _func.higher_is_similar = _higher  # type: ignore[attr-defined]
del _func, _higher

SIMILARITIES.register(spearman, name="spearman", aliases=("spearmanr", "rank_correlation"))
SIMILARITIES.register(spearman_abs, name="spearman_abs", aliases=("abs_spearman", "spearman_absolute"))
SIMILARITIES.register(pearson, name="pearson", aliases=("pearsonr", "correlation"))
SIMILARITIES.register(ssim, name="ssim", aliases=("structural_similarity",))
SIMILARITIES.register(hog_similarity, name="hog", aliases=("hog_similarity",))
SIMILARITIES.register(mse, name="mse", aliases=("mean_squared_error",))
