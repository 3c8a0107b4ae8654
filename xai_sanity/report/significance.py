"""Statistics behind table cells: bootstrap intervals, paired tests and Holm's correction.

* :func:`bootstrap_mean_ci` — percentile bootstrap confidence interval of a mean, drawn from
  a private :class:`numpy.random.Generator` in bounded batches (the same draws as
  ``scipy.stats.bootstrap(..., method="percentile", batch=...)`` given the same generator);
* :func:`paired_wilcoxon` — the two-sided Wilcoxon signed-rank p-value of paired scores;
* :func:`holm` — Holm's (1979) step-down adjustment of a family of p-values.
"""

from __future__ import annotations

import numpy as np

__all__ = ["DEFAULT_RESAMPLE_ELEMENTS", "bootstrap_batch", "bootstrap_mean_ci", "holm", "paired_wilcoxon"]

#: At most this many resampled values are held at once (8 MiB of float64).
DEFAULT_RESAMPLE_ELEMENTS = 2**20


def bootstrap_batch(n: int, max_elements: int = DEFAULT_RESAMPLE_ELEMENTS) -> int:
    """Resamples drawn per batch for a sample of size ``n``: at most ``max_elements`` values."""
    return max(1, int(max_elements) // max(1, int(n)))


def bootstrap_mean_ci(
    values: np.ndarray,
    rng: np.random.Generator,
    *,
    confidence: float = 0.95,
    n_resamples: int = 9999,
    batch: int | None = None,
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the mean of ``values``.

    Each resample draws ``len(values)`` indices with replacement (``rng.integers(0, n, (b, n))``
    for each batch of ``b`` resamples); the interval is the ``(1 - confidence) / 2`` and
    ``(1 + confidence) / 2`` quantiles (linear interpolation) of the resampled means.

    Parameters
    ----------
    values : numpy.ndarray
        One-dimensional finite scores (NaN already removed).
    rng : numpy.random.Generator
        The source of the resamples; nothing global is drawn from.
    confidence : float, default 0.95
        Two-sided coverage, in (0, 1).
    n_resamples : int, default 9999
        Number of resamples (scipy's default).
    batch : int, optional
        Resamples per batch; defaults to :func:`bootstrap_batch` (bounded memory).

    Returns
    -------
    tuple of float
        ``(low, high)``; ``(nan, nan)`` for fewer than two values, where no interval exists.
    """
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    if int(n_resamples) != n_resamples or n_resamples < 1:
        raise ValueError(f"n_resamples must be a positive integer, got {n_resamples!r}")
    if np.isnan(x).any():
        raise ValueError("values must not contain NaN: drop undefined scores first")
    n = x.size
    if n < 2:
        return float("nan"), float("nan")
    step = bootstrap_batch(n) if batch is None else int(batch)
    if step < 1:
        raise ValueError(f"batch must be a positive integer, got {batch!r}")
    means = np.empty(int(n_resamples), dtype=np.float64)
    for start in range(0, int(n_resamples), step):
        size = min(step, int(n_resamples) - start)
        means[start : start + size] = x[rng.integers(0, n, (size, n))].mean(axis=-1)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return float(low), float(high)


def paired_wilcoxon(a: np.ndarray, b: np.ndarray) -> tuple[float, int]:
    """Two-sided Wilcoxon signed-rank p-value of the paired differences ``a - b``.

    Pairs with a NaN on either side are left out. Zero differences are dropped
    (``zero_method="wilcox"``, scipy's default); when every difference is zero the two
    samples are identical and the p-value is 1.

    Returns
    -------
    tuple
        ``(p_value, n_pairs)``; ``p_value`` is NaN when no pair is left.
    """
    from scipy.stats import wilcoxon

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"a and b must pair up: shapes {a.shape} and {b.shape}")
    diff = (a - b)[~(np.isnan(a) | np.isnan(b))]
    if diff.size == 0:
        return float("nan"), 0
    if not np.any(diff):
        return 1.0, int(diff.size)
    return float(wilcoxon(diff).pvalue), int(diff.size)


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error control).

    With the ``m`` finite p-values sorted ascending, ``p_(1) <= ... <= p_(m)``, the adjusted
    value of the ``i``-th is ``max_{j <= i} min(1, (m - j + 1) p_(j))``; rejecting where the
    adjusted value is below ``alpha`` is Holm's procedure at level ``alpha``. NaN entries
    (comparisons that could not be made) stay NaN and do not count in ``m``.
    """
    p = np.asarray(p_values, dtype=np.float64)
    finite = ~np.isnan(p)
    if np.any((p[finite] < 0) | (p[finite] > 1)):
        raise ValueError("p_values must lie in [0, 1] (or be NaN)")
    adjusted = np.full(p.shape, np.nan)
    values = p[finite]
    m = values.size
    if m == 0:
        return adjusted
    order = np.argsort(values, kind="stable")
    stepped = np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * values[order]))
    out = np.empty(m)
    out[order] = stepped
    adjusted[finite] = out
    return adjusted
