""":func:`summarise`: a table of scores per cell, with counts, spread and significance marks.

It groups tidy scores (one row per score, as :func:`xai_sanity.evaluate` gives them) into
cells keyed by row and column levels, and says what each cell rests on: a cell with fewer
defined scores than its column's most ends with ``(n=k/K)``, a cell without any reads
``— (0/K valid)`` or the exception class that failed it; the spread is the std (``ddof``) or
a seeded bootstrap interval; several runs (``over="seed"``) are averaged per run first; a
``baseline`` row marks paired differences (Wilcoxon signed-rank, Holm-corrected). The words
(cell text, headers, notes) come from :mod:`._notes`; the renderings from
:mod:`xai_sanity.report.render`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ._notes import cell_text, column_headers, error_class, spread_note, summary_notes
from .significance import bootstrap_mean_ci, holm, paired_wilcoxon

SPREADS = ("std", "ci95")


def _as_list(keys: str | Sequence[str]) -> list[str]:
    return [keys] if isinstance(keys, str) else list(keys)


def _as_key(key: Any) -> tuple:
    """A groupby key as a tuple (pandas gives a scalar for one grouping column)."""
    return key if isinstance(key, tuple) else (key,)


def _ordered_index(frame: pd.DataFrame, keys: list[str]) -> pd.Index:
    """The distinct values (tuples for several keys) of ``frame[keys]`` in order of appearance."""
    if len(keys) == 1:
        return pd.Index(list(dict.fromkeys(frame[keys[0]])), name=keys[0])
    return pd.MultiIndex.from_tuples(list(dict.fromkeys(zip(*(frame[k] for k in keys)))), names=keys)


@dataclass(frozen=True)
class _Grid:
    """The table's rows × columns; each cell's key is its row levels then its column levels."""

    rows: pd.Index
    columns: pd.Index

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.rows), len(self.columns)

    def key(self, i: int, j: int) -> tuple:
        row, column = self.rows[i], self.columns[j]
        return (
            *(row if self.rows.nlevels > 1 else (row,)),
            *(column if self.columns.nlevels > 1 else (column,)),
        )

    def cells(self):
        """``(i, j, key)`` of every cell, row by row."""
        for i in range(len(self.rows)):
            for j in range(len(self.columns)):
                yield i, j, self.key(i, j)

    def frame(self, array: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(array, index=self.rows.copy(), columns=self.columns.copy())


def _expand_failed_metrics(scores: pd.DataFrame, failed: pd.Series, cols: list[str]) -> pd.DataFrame:
    """Failure rows of a metric that returns several scores per sample (``"M[key]"`` columns)
    are filed under ``"M"``; give each of them to every ``"M[key]"`` column instead, so that
    the failed row's cells say so and no column holds nothing but the failure. Returns
    ``scores`` itself when there is nothing to spread."""
    frame = scores
    for level in cols:
        scored = list(dict.fromkeys(frame.loc[~failed, level]))
        bases: dict[str, list[str]] = {}
        for v in scored:
            if isinstance(v, str) and "[" in v:
                bases.setdefault(v.split("[", 1)[0], []).append(v)
        targets = {b: vs for b, vs in bases.items() if b not in scored}
        spread = failed & frame[level].isin(list(targets))
        if not spread.any():
            continue
        column = frame[level].astype(object).copy()
        column[spread] = [targets[v] for v in frame.loc[spread, level]]
        frame = frame.assign(**{level: column}).explode(level).reset_index(drop=True)
        failed = frame["error"].notna()
    return frame


def _baseline_pairs(row_index: pd.Index, baseline: Any) -> dict[int, int]:
    """Row position → position of the baseline row it is compared with.

    A full row label compares every other row with that row; a single value of one row level
    (e.g. a method among model × method rows) compares each row with the row that has the
    same other levels and ``baseline`` at that level."""
    positions = {key: i for i, key in enumerate(row_index)}
    if baseline in positions and (row_index.nlevels == 1 or isinstance(baseline, tuple)):
        b = positions[baseline]
        return {i: b for i in range(len(row_index)) if i != b}
    if row_index.nlevels > 1 and not isinstance(baseline, tuple):
        levels = [k for k in range(row_index.nlevels) if baseline in set(row_index.get_level_values(k))]
        if len(levels) > 1:
            raise ValueError(
                f"baseline {baseline!r} is a value of several row levels {list(row_index.names)}; "
                "give the full row label as a tuple"
            )
        if levels:
            level, pairs = levels[0], {}
            for key, i in positions.items():
                if key[level] == baseline:
                    continue
                partner = (*key[:level], baseline, *key[level + 1 :])
                if partner in positions:
                    pairs[i] = positions[partner]
            return pairs
    raise ValueError(f"baseline {baseline!r} is not a row of the table; rows: {list(row_index)}")


def _statistics(
    grid: _Grid,
    cell_values: Mapping[tuple, pd.DataFrame],
    value: str,
    ddof: int,
    rng: np.random.Generator | None,
    n_resamples: int,
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Per cell: ``mean``, ``std`` and (with ``rng``) the bootstrap ``ci_low``/``ci_high`` of its
    defined values, the number of those and the number of NaN values."""
    stats = {name: np.full(grid.shape, np.nan) for name in ("mean", "std", "ci_low", "ci_high")}
    n, n_nan = (np.zeros(grid.shape, dtype=np.int64) for _ in range(2))
    for i, j, key in grid.cells():
        part = cell_values.get(key)
        if part is None:
            continue
        values = part[value].to_numpy(dtype=np.float64)
        defined = values[~np.isnan(values)]
        n[i, j], n_nan[i, j] = defined.size, values.size - defined.size
        if defined.size:
            stats["mean"][i, j] = defined.mean()
            if defined.size > ddof:
                stats["std"][i, j] = defined.std(ddof=ddof)
            if rng is not None:
                low, high = bootstrap_mean_ci(defined, rng, n_resamples=n_resamples)
                stats["ci_low"][i, j], stats["ci_high"][i, j] = low, high
    return stats, n, n_nan


def _paired_p_values(
    grid: _Grid,
    cell_values: Mapping[tuple, pd.DataFrame],
    value: str,
    pairs: list[str],
    baseline: Any,
    columns: pd.Index,
) -> np.ndarray:
    """Unadjusted p-values of the paired Wilcoxon test of each cell against its ``baseline``
    row's cell in the same column (NaN where a cell is not compared); ``pairs`` names the
    columns of ``cell_values`` that pair scores."""
    if not pairs:
        raise ValueError("baseline needs columns that pair scores across rows (e.g. 'sample'); give pair_on=")
    missing = [c for c in pairs if c not in columns]
    if missing:
        raise ValueError(f"pair_on names columns not in scores: {missing}")
    paired: dict[tuple, pd.Series] = {}
    for key, part in cell_values.items():
        series = part.set_index(pairs)[value]
        if series.index.has_duplicates:
            raise ValueError(
                f"scores of cell {key} are not unique by pair_on={pairs}: give pair_on (or over) "
                "columns that identify one score per row and column"
            )
        paired[key] = series
    p_raw = np.full(grid.shape, np.nan)
    for i, b in _baseline_pairs(grid.rows, baseline).items():
        for j in range(len(grid.columns)):
            a_part, b_part = paired.get(grid.key(i, j)), paired.get(grid.key(b, j))
            if a_part is None or b_part is None:
                continue
            both = pd.concat([a_part, b_part], axis=1, join="inner")
            p_raw[i, j] = paired_wilcoxon(both.iloc[:, 0].to_numpy(), both.iloc[:, 1].to_numpy())[0]
    return p_raw


def summarise(
    scores: pd.DataFrame,
    digits: int = 3,
    *,
    index: str | Sequence[str] = "method",
    columns: str | Sequence[str] = "metric",
    value: str = "score",
    direction: Mapping[Any, Any] | None = None,
    labels: Mapping[Any, Any] | None = None,
    over: str | Sequence[str] | None = None,
    spread: str = "std",
    ddof: int = 0,
    seed: int | np.random.Generator = 0,
    n_resamples: int = 9999,
    baseline: Any = None,
    alpha: float = 0.05,
    pair_on: str | Sequence[str] | None = None,
) -> pd.DataFrame:
    """Table of ``mean ± std`` (or ``mean [95% CI]``) strings from tidy scores, counts shown.

    Parameters
    ----------
    scores : pandas.DataFrame
        One row per score, with the columns named by ``index``, ``columns`` and ``value`` and
        optionally an ``error`` column (a row whose ``error`` is set is a failure, not a
        score). Frames of several :func:`xai_sanity.evaluate` calls concatenated with extra
        columns (e.g. ``model``, ``seed``) work as they are.
    digits : int, default 3
        Decimals of the numbers in a cell.
    index, columns : str or sequence of str, default ``"method"`` and ``"metric"``
        Columns of ``scores`` whose values key the table's rows and columns; several give a
        MultiIndex. Rows and columns keep the order of first appearance in ``scores``.
    value : str, default ``"score"``
        The column that holds the numbers.
    direction : mapping, optional
        Better direction (``"higher"``/``"lower"``) by column label or by any part of it;
        defaults to ``scores.attrs["direction"]`` (a metric name → direction).
    labels : mapping, optional
        Header text by column label or by any part of it (e.g. ``{"MPRT": "MPRT, Spearman
        |a| ↓"}``, see :func:`describe_metric`); defaults to ``scores.attrs["label"]``, which
        :func:`xai_sanity.evaluate` fills. A trailing arrow gives the direction where
        ``direction`` has none.
    over : str or sequence of str, optional
        Columns that tell runs apart (e.g. ``"seed"``). Each run (each distinct value) is
        first reduced to its mean over samples; a cell is then the mean and spread over
        runs, and its count counts runs. Without it every sample of a cell is pooled.
    spread : {"std", "ci95"}, default "std"
        ``"std"``: standard deviation (``ddof``) over samples (or runs); ``"ci95"``: a 95%
        percentile bootstrap confidence interval of the mean, written ``mean [low, high]``.
    ddof : int, default 0
        Delta degrees of freedom of the std: 0 is the population std, 1 the sample std.
    seed : int or numpy.random.Generator, default 0
        Seeds the bootstrap (one private generator, drawn cell by cell in row-major order).
    n_resamples : int, default 9999
        Bootstrap resamples per cell.
    baseline : row label, optional
        Mark (``*``) each cell whose scores differ from the same column's cell in the
        ``baseline`` row: a two-sided paired Wilcoxon signed-rank test on the per-sample
        (per-run with ``over``) scores, Holm-corrected across all compared cells. With
        MultiIndex rows a value of one level (e.g. ``"Saliency"`` among model × method)
        compares rows that agree on the other levels; a tuple names one row.
    alpha : float, default 0.05
        Family-wise level of the marks.
    pair_on : str or sequence of str, optional
        Columns that pair scores of two rows (default: every column of ``scores`` other than
        the ``index``, ``columns``, ``value`` and ``error`` columns, e.g. ``sample`` and
        ``seed``); with ``over``, runs are paired by the ``over`` columns.

    Returns
    -------
    pandas.DataFrame
        Strings. A cell that rests on fewer samples than the column's most (``K``) ends with
        ``(n=k/K)``; a cell without a defined score reads ``"— (0/K valid)"``, or
        ``"error: ValueError"`` (the class from the ``error`` column) when it failed.
        ``attrs`` holds the numeric tables ``mean``, ``std``, ``n`` (defined scores, or
        runs), ``n_total`` (``K``), ``n_nan`` (NaN scores or runs), ``ci_low``/``ci_high``
        (with ``"ci95"``), ``p_value`` (Holm-adjusted) and ``p_raw`` (with ``baseline``);
        ``direction`` and ``label`` by column label; ``note``, the sentences that
        :func:`to_markdown` and :func:`to_latex` print under the table (what a cell is, the
        counts, the marks and arrows).

    Examples
    --------
    >>> import pandas as pd
    >>> scores = pd.DataFrame({"method": ["A"] * 3 + ["B"] * 3, "metric": "m",
    ...                        "sample": [0, 1, 2] * 2, "score": [0.2, 0.4, None, 0.5, 0.6, 0.7]})
    >>> summarise(scores, digits=2)["m"].tolist()
    ['0.30 ± 0.10 (n=2/3)', '0.60 ± 0.08']
    """
    if not isinstance(scores, pd.DataFrame):
        raise TypeError(f"scores must be a pandas DataFrame, got {type(scores).__name__}")
    rows, cols = _as_list(index), _as_list(columns)
    runs = [] if over is None else _as_list(over)
    for arg, names in (("index", rows), ("columns", cols), ("value", [value]), ("over", runs)):
        missing = [n for n in names if n not in scores.columns]
        if missing:
            raise ValueError(f"{arg} names columns not in scores: {missing}; columns: {list(scores.columns)}")
    if set(runs) & set(rows + cols + [value]):
        raise ValueError(f"over={runs} overlaps index, columns or value")
    if spread not in SPREADS:
        raise ValueError(f"spread must be one of {SPREADS}, got {spread!r}")
    if int(digits) != digits or digits < 0:
        raise ValueError(f"digits must be a non-negative integer, got {digits!r}")
    if int(ddof) != ddof or ddof < 0:
        raise ValueError(f"ddof must be a non-negative integer, got {ddof!r}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    keys, attrs = rows + cols, dict(scores.attrs)
    failed_mask = scores["error"].notna() if "error" in scores else pd.Series(False, index=scores.index)
    expanded = _expand_failed_metrics(scores, failed_mask, cols)
    if expanded is not scores:
        scores, failed_mask = expanded, expanded["error"].notna()
    ok = scores[~failed_mask]
    grid = _Grid(_ordered_index(scores, rows), _ordered_index(scores, cols))
    if runs:  # one unit per run: its mean over samples
        units = ok.groupby(keys + runs, sort=False)[value].mean().reset_index()
        totals = scores.drop_duplicates(keys + runs).groupby(keys, sort=False).size()
        pairs = runs
        unit = f"runs (one per {' × '.join(runs)}; a run's value is its mean over samples)"
    else:
        units = ok
        totals = ok.groupby(keys, sort=False).size()
        others = [c for c in scores.columns if c not in keys + [value, "error"]]
        pairs = others if pair_on is None else _as_list(pair_on)
        unit = "samples"
    unit_word = "runs" if runs else "samples"
    cell_values = {_as_key(key): part for key, part in units.groupby(keys, sort=False)}
    cell_errors = {
        _as_key(key): list(dict.fromkeys(error_class(e) for e in part["error"]))
        for key, part in scores[failed_mask].groupby(keys, sort=False)
    }
    totals_dict = {_as_key(k): int(v) for k, v in totals.items()}
    sample_counts: dict[tuple, tuple[int, int]] = {}
    if runs:  # a run's mean may rest on fewer samples than it has: said in the cell too
        counted = ok.groupby(keys, sort=False)[value].agg(["count", "size"])
        for k, (defined_n, size) in zip(counted.index, counted.to_numpy()):
            sample_counts[_as_key(k)] = (int(defined_n), int(size))

    rng = np.random.default_rng(seed) if spread == "ci95" else None
    stats, n, n_nan = _statistics(grid, cell_values, value, ddof, rng, n_resamples)
    n_total = np.zeros(grid.shape, dtype=np.int64)
    for j in range(len(grid.columns)):  # K: the column's most samples (or runs)
        own = [totals_dict.get(grid.key(i, j), 0) for i in range(len(grid.rows))]
        n_total[:, j] = max(own) if own else 0
    p_raw = np.full(grid.shape, np.nan)
    if baseline is not None:
        p_raw = _paired_p_values(grid, cell_values, value, pairs, baseline, scores.columns)
    p_value = holm(p_raw)
    marked = np.nan_to_num(p_value, nan=1.0) < alpha

    cells = np.empty(grid.shape, dtype=object)
    shown: set[str] = set()
    n_samples, n_samples_total = (np.zeros(grid.shape, dtype=np.int64) for _ in range(2))
    for i, j, key in grid.cells():
        n_samples[i, j], n_samples_total[i, j] = sample_counts.get(key, (0, 0))
        cells[i, j] = cell_text(
            {name: float(array[i, j]) for name, array in stats.items()},
            (int(n[i, j]), int(n_total[i, j])),
            (int(n_samples[i, j]), int(n_samples_total[i, j])) if runs else None,
            cell_errors.get(key, []),
            "*" if marked[i, j] else "",
            spread,
            digits,
            shown,
        )
    table = pd.DataFrame(cells, index=grid.rows, columns=grid.columns, dtype=object)

    tables = {"mean": grid.frame(stats["mean"]), "std": grid.frame(stats["std"]), "n": grid.frame(n)}
    tables.update(n_total=grid.frame(n_total), n_nan=grid.frame(n_nan))
    if runs:
        tables.update(n_samples=grid.frame(n_samples), n_samples_total=grid.frame(n_samples_total))
    if spread == "ci95":
        tables.update(ci_low=grid.frame(stats["ci_low"]), ci_high=grid.frame(stats["ci_high"]))
    if baseline is not None:
        tables.update(p_value=grid.frame(p_value), p_raw=grid.frame(p_raw))
    column_direction, column_label = column_headers(
        grid.columns,
        (attrs.get("direction", {}) if direction is None else direction) or {},
        (attrs.get("label", {}) if labels is None else labels) or {},
    )
    notes = summary_notes(
        spread_note(spread, unit, ddof, n_resamples, seed),
        shown,
        unit_word,
        baseline=baseline,
        compared=int(np.count_nonzero(~np.isnan(p_raw))),
        alpha=alpha,
        directed=any(d in ("higher", "lower") for d in column_direction.values()),
    )
    table.attrs.update(
        tables, direction=column_direction, label=column_label, note=notes, spread=spread, unit=unit_word
    )
    return table
