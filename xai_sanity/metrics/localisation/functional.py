"""The localisation scores as plain batched functions on numpy arrays.

Each function takes a batch of attribution maps ``a_batch`` ``(N, C, ...)`` and binary
masks ``s_batch`` ``(N, 1 or C, ...)``, already preprocessed (normalised, ``abs``) as the
metric wants them, and scores every sample at once, without a loop over samples. It
returns

* ``scores``: float64 ``(N,)``, NaN where the score is undefined for a sample;
* ``problems``: a dict from the description of a problem to a boolean ``(N,)`` mask of
  the samples that have it. Each description completes the phrase "k of n samples ...";
  every problem a function checks is in the dict, with an all-False mask when no sample
  has it. The metric classes turn these into one ``RuntimeWarning`` per problem and call.

How masks and attributions are matched (one or several channels) is described in
:func:`flatten`.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

from .._problems import constant_samples

__all__ = [
    "CONSTANT_MAP",
    "EMPTY_MASK",
    "ZERO_TOTAL",
    "attribution_localisation",
    "auc",
    "check_k",
    "flatten",
    "pointing_game",
    "relevance_mass_accuracy",
    "relevance_rank_accuracy",
    "resolve_k",
    "top_k_intersection",
]

Problems = dict[str, np.ndarray]

#: The problem every localisation score has: a mask without foreground.
EMPTY_MASK = "have an empty mask (no foreground); their scores are NaN"
#: The problem of the scores that rank features (PointingGame, TopKIntersection,
#: RelevanceRankAccuracy): a map whose values are all equal has no ranking and no peak.
CONSTANT_MAP = "have a constant map (e.g. all zero), which ranks no feature; their scores are NaN"
#: The problem of the scores that divide by the total attribution (RelevanceMassAccuracy,
#: AttributionLocalisation): a total of exactly 0, e.g. an all-zero map.
ZERO_TOTAL = "have attributions that sum to 0 (e.g. an all-zero map); their scores are NaN"


def _undefined(scores: np.ndarray, problems: Problems) -> Problems:
    """Set ``scores`` to NaN in place for every sample with one of ``problems``; return them."""
    for mask in problems.values():
        scores[mask] = np.nan
    return problems


def _constant(a: np.ndarray, empty: np.ndarray) -> np.ndarray:
    """Which maps of ``a`` ``(N, F)`` hold one value only, among the samples not ``empty``.

    An empty mask is the problem such a sample is reported with (one problem per sample).
    """
    return ~empty & constant_samples(a)


def flatten(a_batch: np.ndarray, s_batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Attributions and masks as ``(N, F)`` arrays over the same F features (masks bool).

    A mask may have one channel or as many as the attributions. With one-channel
    attributions, a many-channel mask must repeat the same mask in every channel; with
    many-channel attributions, a one-channel mask applies to every channel and each
    (channel, position) pair is a feature. Boolean and unsigned attributions become
    float64 (they could not be negated for ranking).

    Parameters
    ----------
    a_batch : numpy.ndarray of shape (N, C, ...)
        Attribution maps.
    s_batch : numpy.ndarray of shape (N, 1 or C, ...)
        Binary masks.

    Returns
    -------
    tuple of numpy.ndarray
        The attributions ``(N, F)`` and the masks ``(N, F)`` as booleans.

    Raises
    ------
    ValueError
        If the shapes do not match, or a many-channel mask differs between channels while
        the attributions have one channel.

    Examples
    --------
    >>> a, s = flatten(np.zeros((2, 3, 4, 4)), np.ones((2, 1, 4, 4)))
    >>> a.shape, s.shape, s.dtype
    ((2, 48), (2, 48), dtype('bool'))
    """
    a = np.asarray(a_batch)
    s = np.asarray(s_batch)
    if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.signedinteger)):
        a = a.astype(np.float64)  # bool and unsigned maps cannot be negated for ranking
    if a.ndim != s.ndim or a.shape[0] != s.shape[0] or a.shape[2:] != s.shape[2:]:
        raise ValueError(f"s_batch of shape {s.shape} does not match the attributions' shape {a.shape}")
    if s.shape[1] != a.shape[1]:
        if a.shape[1] == 1:
            if not np.array_equal(s, np.broadcast_to(s[:, :1], s.shape)):
                raise ValueError(
                    f"s_batch has {s.shape[1]} channels that differ while the attributions have one "
                    "channel; pass one mask per sample, of shape (N, 1, ...)"
                )
            s = s[:, :1]
        elif s.shape[1] == 1:
            s = np.broadcast_to(s, a.shape)
        else:
            raise ValueError(f"s_batch of shape {s.shape} does not match the attributions' shape {a.shape}")
    n = a.shape[0]
    return a.reshape(n, -1), s.reshape(n, -1).astype(bool)


def pointing_game(
    a_batch: np.ndarray, s_batch: np.ndarray, weighted: bool = False
) -> tuple[np.ndarray, Problems]:
    """Whether each map's maximum lies inside the mask: 1 (hit) or 0 (miss).

    Every feature equal to the maximum counts as a maximum, so a sample scores a hit if
    any of its tied maxima is inside the mask; but a constant map (every feature tied,
    e.g. all zero) has no peak and scores NaN.

    Parameters
    ----------
    a_batch, s_batch : numpy.ndarray
        Attributions and masks (see :func:`flatten`); only where each map peaks matters.
    weighted : bool, default False
        Score a hit ``1 - |mask| / |features|`` instead of 1.

    Returns
    -------
    scores : numpy.ndarray of shape (N,)
        1 for a hit (or its weight), 0 for a miss, NaN for a constant map and for an empty
        mask.
    problems : dict
        Constant maps (with a non-empty mask), then empty masks.

    Examples
    --------
    >>> a = np.array([[[0.0, 1.0, 0.0, 0.0]], [[0.0, 0.0, 0.0, 1.0]], [[0.0, 0.0, 0.0, 0.0]]])
    >>> s = np.array([[[1, 1, 0, 0]], [[1, 1, 0, 0]], [[1, 1, 0, 0]]])
    >>> scores, problems = pointing_game(a, s)
    >>> scores
    array([ 1.,  0., nan])
    >>> problems[CONSTANT_MAP]
    array([False, False,  True])
    """
    a, s = flatten(a_batch, s_batch)
    inside = s.sum(axis=1)
    empty = inside == 0
    peak = a == a.max(axis=1, keepdims=True)
    scores = np.any(peak & s, axis=1).astype(np.float64)
    if weighted:
        scores *= 1.0 - inside / s.shape[1]
    return scores, _undefined(scores, {CONSTANT_MAP: _constant(a, empty), EMPTY_MASK: empty})


def attribution_localisation(
    a_batch: np.ndarray,
    s_batch: np.ndarray,
    weighted: bool = False,
    max_size: float = 1.0,
    positive_attributions: bool = False,
) -> tuple[np.ndarray, Problems]:
    """The share of each map's total attribution inside the mask, ``R_in / (R_tot + 1e-9)``.

    Parameters
    ----------
    a_batch, s_batch : numpy.ndarray
        Attributions and masks (see :func:`flatten`); the attributions are meant to be
        non-negative.
    weighted : bool, default False
        Multiply the ratio by the mask's relative size ``|mask| / |features|``.
    max_size : float, default 1.0
        Masks covering more than this fraction of the features are reported as a problem
        (their scores are kept).
    positive_attributions : bool, default False
        Set negative attributions to 0 first.

    Returns
    -------
    scores : numpy.ndarray of shape (N,)
        NaN for an empty mask, for attributions that sum to exactly 0 (e.g. an all-zero
        map, which has no relevance to localise; after ``positive_attributions``) and where
        the (unweighted) ratio exceeds 1, which signed attributions allow; a negative ratio
        is kept.
    problems : dict
        Masks larger than ``max_size``, ratios above 1, attributions summing to 0 and empty
        masks, in that order.

    Examples
    --------
    >>> a = np.array([[[3.0, 0.0, 0.0, 1.0]]])
    >>> s = np.array([[[1, 1, 0, 0]]])
    >>> np.round(attribution_localisation(a, s)[0], 3)
    array([0.75])
    """
    a, s = flatten(a_batch, s_batch)
    if positive_attributions:
        a = np.clip(a, 0, None)
    inside_count = s.sum(axis=1)
    size_ratio = inside_count / s.shape[1]
    total = a.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = ((a * s).sum(axis=1) / (total + 1e-9)).astype(np.float64)
    empty = inside_count == 0
    zero_total = ~empty & (total == 0)  # Quantus's 1e-9 would make it 0 (or +-1e9 if signed)
    above_one = ~empty & ~zero_total & (ratio > 1)  # of the unweighted ratio
    if weighted:
        ratio *= size_ratio
    too_large = size_ratio > max_size  # reported; the scores are kept
    undefined = {
        "have more attribution inside the mask than in total; their scores are NaN": above_one,
        ZERO_TOTAL: zero_total,
        EMPTY_MASK: empty,
    }
    return ratio, {
        f"have a mask larger than max_size={max_size:g}": too_large,
        **_undefined(ratio, undefined),
    }


def _top_ranked(a: np.ndarray, s: np.ndarray) -> np.ndarray:
    """The masks ``(N, F)`` reordered by decreasing attribution, ties ordered as Quantus does.

    Quantus ranks with numpy's default (unstable) ``argsort`` of the negated map; the same
    call here breaks ties the same way. (The callers score constant maps, which this order
    would rank by position only, NaN.)
    """
    return np.take_along_axis(s, np.argsort(-a, axis=1), axis=1)


def check_k(k: float) -> int | float:
    """``k`` of :func:`top_k_intersection` checked: a positive int, or a float in (0, 1).

    Returns
    -------
    int or float
        ``k`` as a Python int or float.

    Raises
    ------
    ValueError
        For anything else (a bool, an int below 1, a float outside (0, 1), another type).

    Examples
    --------
    >>> check_k(np.int64(5)), check_k(0.02)
    (5, 0.02)
    """
    if not isinstance(k, (bool, np.bool_)):
        if isinstance(k, (int, np.integer)) and k >= 1:
            return int(k)
        if isinstance(k, (float, np.floating)) and 0 < k < 1:
            return float(k)
    raise ValueError(f"k must be a positive int or a float in (0, 1) (a fraction of the features), got {k!r}")


def resolve_k(k: float, n_features: int) -> int:
    """The number of top features ``k`` stands for, out of ``n_features`` per sample.

    An int is taken as it is; a float in (0, 1) is a fraction of the features,
    ``max(1, round(k * n_features))`` (Python's ``round``: halves go to the even number).

    Raises
    ------
    ValueError
        If ``k`` is not valid (see :func:`check_k`) or an int ``k`` exceeds ``n_features``.

    Examples
    --------
    >>> resolve_k(0.02, 224 * 224), resolve_k(0.02, 12), resolve_k(10, 12)
    (1004, 1, 10)
    """
    k = check_k(k)
    if isinstance(k, float):
        return max(1, round(k * n_features))
    if k > n_features:
        raise ValueError(f"k={k} is larger than the number of features per sample ({n_features})")
    return int(k)


def top_k_intersection(
    a_batch: np.ndarray, s_batch: np.ndarray, k: float = 1000, concept_influence: bool = False
) -> tuple[np.ndarray, Problems]:
    """The fraction of the k most relevant features of each map that lie inside the mask.

    Parameters
    ----------
    a_batch, s_batch : numpy.ndarray
        Attributions and masks (see :func:`flatten`); the features are ranked by attribution.
    k : int or float, default 1000
        How many top features to take: an int, at most the number of features per sample,
        or a float in (0, 1), that fraction of the features (see :func:`resolve_k`).
    concept_influence : bool, default False
        Divide by the mask's relative size ``|mask| / |features|``.

    Returns
    -------
    scores : numpy.ndarray of shape (N,)
        In [0, 1] (up to ``|features| / |mask|`` with ``concept_influence``); NaN for a
        constant map (no top features) and for an empty mask.
    problems : dict
        Constant maps (with a non-empty mask), then empty masks.

    Raises
    ------
    ValueError
        If an int ``k`` exceeds the number of features per sample.

    Examples
    --------
    >>> a = np.array([[[4.0, 3.0, 2.0, 1.0]]])
    >>> s = np.array([[[1, 0, 1, 0]]])
    >>> top_k_intersection(a, s, k=2)[0]
    array([0.5])
    >>> top_k_intersection(a, s, k=0.25)[0]  # a quarter of the 4 features: k=1
    array([1.])
    """
    a, s = flatten(a_batch, s_batch)
    n_features = a.shape[1]
    k = resolve_k(k, n_features)
    scores = _top_ranked(a, s)[:, :k].mean(axis=1)
    inside = s.sum(axis=1)
    empty = inside == 0
    if concept_influence:
        with np.errstate(divide="ignore", invalid="ignore"):
            scores *= n_features / inside
    return scores, _undefined(scores, {CONSTANT_MAP: _constant(a, empty), EMPTY_MASK: empty})


def relevance_rank_accuracy(a_batch: np.ndarray, s_batch: np.ndarray) -> tuple[np.ndarray, Problems]:
    """With ``K = |mask|``, the fraction of the K most relevant features inside the mask.

    Parameters
    ----------
    a_batch, s_batch : numpy.ndarray
        Attributions and masks (see :func:`flatten`); the size of the mask sets K.

    Returns
    -------
    scores : numpy.ndarray of shape (N,)
        In [0, 1], 1 when the K top features are the mask; NaN for a constant map (no
        ranking) and for an empty mask.
    problems : dict
        Constant maps (with a non-empty mask), then empty masks.

    Examples
    --------
    >>> a = np.array([[[4.0, 3.0, 2.0, 1.0]], [[1.0, 2.0, 3.0, 4.0]]])
    >>> s = np.array([[[1, 0, 1, 0]], [[0, 0, 0, 0]]])
    >>> scores, problems = relevance_rank_accuracy(a, s)
    >>> scores
    array([0.5, nan])
    >>> problems[EMPTY_MASK]
    array([False,  True])
    """
    a, s = flatten(a_batch, s_batch)
    inside = s.sum(axis=1)
    in_top = np.arange(a.shape[1])[None, :] < inside[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        scores = (_top_ranked(a, s) & in_top).sum(axis=1) / inside
    scores = scores.astype(np.float64)
    empty = inside == 0
    return scores, _undefined(scores, {CONSTANT_MAP: _constant(a, empty), EMPTY_MASK: empty})


def relevance_mass_accuracy(a_batch: np.ndarray, s_batch: np.ndarray) -> tuple[np.ndarray, Problems]:
    """The attribution inside the mask over each map's total attribution, ``R_within / R_total``.

    Parameters
    ----------
    a_batch, s_batch : numpy.ndarray
        Attributions and masks (see :func:`flatten`); the attributions are summed inside the
        mask and in total.

    Returns
    -------
    scores : numpy.ndarray of shape (N,)
        NaN for an empty mask and for attributions that sum to exactly 0.
    problems : dict
        Attributions summing to 0 (with a non-empty mask), then empty masks.

    Examples
    --------
    >>> a = np.array([[[1.0, 0.0, 0.0, 3.0]]])
    >>> s = np.array([[[1, 1, 0, 0]]])
    >>> relevance_mass_accuracy(a, s)[0]
    array([0.25])
    """
    a, s = flatten(a_batch, s_batch)
    total = a.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        scores = ((a * s).sum(axis=1) / total).astype(np.float64)
    empty = s.sum(axis=1) == 0
    zero_total = ~empty & (total == 0)
    return scores, _undefined(scores, {ZERO_TOTAL: zero_total, EMPTY_MASK: empty})


def auc(a_batch: np.ndarray, s_batch: np.ndarray) -> tuple[np.ndarray, Problems]:
    """The ROC AUC of each map's attributions as a detector of its mask.

    Computed from average ranks with the Mann-Whitney identity
    ``AUC = (sum of the ranks inside - P (P + 1) / 2) / (P Q)`` for P features inside and
    Q outside the mask, which equals scikit-learn's ``roc_auc_score`` (ties count one half,
    so a constant map, which carries no information, scores exactly 0.5).

    Parameters
    ----------
    a_batch, s_batch : numpy.ndarray
        Attributions, which rank the features, and masks, which label them (see
        :func:`flatten`).

    Returns
    -------
    scores : numpy.ndarray of shape (N,)
        NaN for an empty mask and for a mask that covers every feature (no negatives).
    problems : dict
        Empty masks, then masks without negatives.

    Examples
    --------
    >>> a = np.array([[[0.5, 0.1, 0.9, 0.3]], [[0.5, 0.1, 0.9, 0.3]]])
    >>> s = np.array([[[1, 0, 1, 0]], [[0, 1, 0, 1]]])
    >>> auc(a, s)[0]
    array([1., 0.])
    """
    a, s = flatten(a_batch, s_batch)
    positives = s.sum(axis=1)
    negatives = s.shape[1] - positives
    ranks = rankdata(a, axis=1)  # average ranks for ties, 1-based
    rank_sum = np.where(s, ranks, 0.0).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        scores = (rank_sum - positives * (positives + 1) / 2.0) / (positives * negatives)
    no_negatives = negatives == 0
    return scores, _undefined(
        scores,
        {
            EMPTY_MASK: positives == 0,
            "have a mask that covers every feature (no negatives, AUC undefined); their scores are NaN": no_negatives,
        },
    )
