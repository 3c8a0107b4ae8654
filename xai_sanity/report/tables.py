"""Tables of scores: summaries and their Markdown, LaTeX and CSV renderings.

Every function here takes flat or MultiIndex tables alike: rows may be keyed by several
levels (e.g. model × method) and columns too (e.g. metric × setting). A row level becomes
its own leading column; MultiIndex column labels are joined with ``" / "`` in Markdown and
become grouped header rows in LaTeX.

:func:`summarise` says what each cell rests on: a cell with fewer defined scores than its
column's most ends with ``(n=k/K)``, a cell without any reads ``— (0/K valid)`` or the
exception class that failed it; the spread is the std (``ddof``) or a seeded bootstrap
interval; several runs (``over="seed"``) are averaged per run first; a ``baseline`` row marks
paired differences (Wilcoxon signed-rank, Holm-corrected). The table's ``attrs["note"]``
says all of this under the Markdown and LaTeX renderings, and headers carry what a metric
measures (``attrs["label"]``, from :func:`xai_sanity.report.describe_metric`).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .labels import split_arrow
from .significance import bootstrap_mean_ci, holm, paired_wilcoxon

ARROWS = {"higher": "↑", "lower": "↓", None: ""}
LATEX_ARROWS = {"higher": r"$\uparrow$", "lower": r"$\downarrow$", None: ""}


def _as_list(keys: str | Sequence[str]) -> list[str]:
    return [keys] if isinstance(keys, str) else list(keys)


def _ordered_index(frame: pd.DataFrame, keys: list[str]) -> pd.Index:
    """The distinct values (tuples for several keys) of ``frame[keys]`` in order of appearance."""
    if len(keys) == 1:
        return pd.Index(list(dict.fromkeys(frame[keys[0]])), name=keys[0])
    return pd.MultiIndex.from_tuples(list(dict.fromkeys(zip(*(frame[k] for k in keys)))), names=keys)


def _direction_for(label: Hashable, directions: Mapping[Any, Any]) -> str | None:
    """The better direction of a column: its full label, then each part of a tuple label,
    each also without a ``"[key]"`` suffix (a metric returning several scores per sample)."""
    parts = label if isinstance(label, tuple) else (label,)
    for key in (label, *parts):
        candidates = [key]
        if isinstance(key, str) and "[" in key:
            candidates.append(key.split("[", 1)[0])
        for candidate in candidates:
            try:
                value = directions.get(candidate)
            except TypeError:  # an unhashable part
                continue
            if value is not None:
                return value
    return None


SPREADS = ("std", "ci95")
_STAGES = ("explain", "metric")


def _error_class(message: Any) -> str:
    """``"ValueError"`` from an ``error`` entry written by :func:`xai_sanity.evaluate`
    (``"metric: ValueError: text (file.py:12)"``); other entries, shortened, as they are."""
    parts = str(message).split(": ")
    if len(parts) >= 2 and parts[0] in _STAGES:
        parts = parts[1:]
    head = parts[0].strip()
    if len(parts) >= 2 and head.replace(".", "").replace("_", "").isalnum():
        return head
    return head if len(head) <= 40 else head[:39] + "…"


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


def _label_parts(label: Hashable, labels: Mapping[Any, Any]) -> tuple[tuple[str, ...] | None, str | None]:
    """Display parts of a column (each level's header text) from ``labels`` (by the full label
    or by any part, a ``"[key]"`` suffix kept), and the direction of an arrow found in them."""
    try:
        whole = labels.get(label)
    except TypeError:
        whole = None
    parts = label if isinstance(label, tuple) else (label,)
    if whole is not None:  # the text of the whole label heads its lowest level
        text, arrow = split_arrow(str(whole))
        return (*(str(p) for p in parts[:-1]), text), arrow
    shown, found, arrow = [], False, None
    for part in parts:
        text, key = None, None
        try:
            text = labels.get(part)
        except TypeError:
            pass
        if text is None and isinstance(part, str) and "[" in part:
            base, key = part.split("[", 1)
            text = labels.get(base)
        if text is None:
            shown.append(str(part))
            continue
        found = True
        text, part_arrow = split_arrow(str(text))
        arrow = arrow or part_arrow
        if key is not None:
            text = f"{base}[{key}{text[len(base) :]}" if text.startswith(base) else f"{text} [{key}"
        shown.append(text)
    return (tuple(shown) if found else None), arrow


def _spread_note(spread: str, unit: str, ddof: int, n_resamples: int, seed: Any) -> str:
    if spread == "ci95":
        seeded = f"seed {seed}" if isinstance(seed, (int, np.integer)) else "the given generator"
        return (
            f"Cells: mean [95% CI] over {unit}; the CI is a percentile bootstrap of the mean "
            f"({n_resamples} resamples, {seeded})."
        )
    kind = {0: "population std, ddof=0", 1: "sample std, ddof=1"}.get(ddof, f"std with ddof={ddof}")
    return f"Cells: mean ± std over {unit} ({kind})."


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


def _cell_text(
    numbers: Mapping[str, float],
    count: tuple[int, int],
    samples: tuple[int, int] | None,
    errors: list[str],
    mark: str,
    spread: str,
    digits: int,
    shown: set[str],
) -> str:
    """One cell of :func:`summarise`: the numbers, the mark, and whatever the cell lacks.

    ``count`` is ``(k, K)`` (defined samples or runs of the cell, the column's most),
    ``samples`` the ``(defined, all)`` samples behind a cell's runs (``None`` without runs);
    ``shown`` collects which kinds of remark were written, for the note under the table.
    """
    k, total = count
    if k == 0:
        shown.add("error" if errors else "empty")
        if errors:
            return f"error: {', '.join(errors)}"
        return f"— (0/{total} valid)" if total else "—"
    mean, std, low, high = (numbers[name] for name in ("mean", "std", "ci_low", "ci_high"))
    if spread == "std" and not np.isnan(std):
        text = f"{mean:.{digits}f} ± {std:.{digits}f}"
    elif spread == "ci95" and not np.isnan(low):
        text = f"{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"
    else:  # too few values for a spread
        text = f"{mean:.{digits}f}"
    extras = []
    if k < total:
        extras.append(f"n={k}/{total}")
        shown.add("count")
    if samples is not None and samples[0] < samples[1]:
        extras.append(f"{samples[0]}/{samples[1]} samples")
        shown.add("samples")
    if errors:
        extras.append(f"error: {', '.join(errors)}")
        shown.add("error")
    return f"{text}{mark} ({'; '.join(extras)})" if extras else f"{text}{mark}"


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
    row_index, col_index = _ordered_index(scores, rows), _ordered_index(scores, cols)
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
    cell_values: dict[tuple, pd.Series] = {}
    for key, part in units.groupby(keys, sort=False):
        cell_values[key if isinstance(key, tuple) else (key,)] = part
    cell_errors: dict[tuple, list[str]] = {}
    for key, part in scores[failed_mask].groupby(keys, sort=False):
        classes = [_error_class(e) for e in part["error"]]
        cell_errors[key if isinstance(key, tuple) else (key,)] = list(dict.fromkeys(classes))
    totals_dict = {(k if isinstance(k, tuple) else (k,)): int(v) for k, v in totals.items()}
    sample_counts: dict[tuple, tuple[int, int]] = {}
    if runs:  # a run's mean may rest on fewer samples than it has: said in the cell too
        counted = ok.groupby(keys, sort=False)[value].agg(["count", "size"])
        for k, (defined_n, size) in zip(counted.index, counted.to_numpy()):
            sample_counts[k if isinstance(k, tuple) else (k,)] = (int(defined_n), int(size))

    def cell_key(row_key: Any, col_key: Any) -> tuple:
        return (*(row_key if len(rows) > 1 else (row_key,)), *(col_key if len(cols) > 1 else (col_key,)))

    shape = (len(row_index), len(col_index))
    stats = {name: np.full(shape, np.nan) for name in ("mean", "std", "ci_low", "ci_high")}
    n, n_nan, n_total = (np.zeros(shape, dtype=np.int64) for _ in range(3))
    rng = np.random.default_rng(seed) if spread == "ci95" else None
    for i, row_key in enumerate(row_index):
        for j, col_key in enumerate(col_index):
            part = cell_values.get(cell_key(row_key, col_key))
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
    for j, col_key in enumerate(col_index):  # K: the column's most samples (or runs)
        own = [totals_dict.get(cell_key(r, col_key), 0) for r in row_index]
        n_total[:, j] = max(own) if own else 0

    p_raw = np.full(shape, np.nan)
    if baseline is not None:
        if not pairs:
            raise ValueError(
                "baseline needs columns that pair scores across rows (e.g. 'sample'); give pair_on="
            )
        missing = [c for c in pairs if c not in scores.columns]
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
        for i, b in _baseline_pairs(row_index, baseline).items():
            for j, col_key in enumerate(col_index):
                a_part = paired.get(cell_key(row_index[i], col_key))
                b_part = paired.get(cell_key(row_index[b], col_key))
                if a_part is None or b_part is None:
                    continue
                both = pd.concat([a_part, b_part], axis=1, join="inner")
                p_raw[i, j] = paired_wilcoxon(both.iloc[:, 0].to_numpy(), both.iloc[:, 1].to_numpy())[0]
    p_value = holm(p_raw)
    marked = np.nan_to_num(p_value, nan=1.0) < alpha

    cells = np.empty(shape, dtype=object)
    shown: set[str] = set()
    n_samples, n_samples_total = (np.zeros(shape, dtype=np.int64) for _ in range(2))
    for i, row_key in enumerate(row_index):
        for j, col_key in enumerate(col_index):
            key = cell_key(row_key, col_key)
            n_samples[i, j], n_samples_total[i, j] = sample_counts.get(key, (0, 0))
            numbers = {name: float(array[i, j]) for name, array in stats.items()}
            cells[i, j] = _cell_text(
                numbers,
                (int(n[i, j]), int(n_total[i, j])),
                (int(n_samples[i, j]), int(n_samples_total[i, j])) if runs else None,
                cell_errors.get(key, []),
                "*" if marked[i, j] else "",
                spread,
                digits,
                shown,
            )
    table = pd.DataFrame(cells, index=row_index, columns=col_index, dtype=object)

    def frame(array: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(array, index=row_index.copy(), columns=col_index.copy())

    tables = {"mean": frame(stats["mean"]), "std": frame(stats["std"]), "n": frame(n)}
    tables.update(n_total=frame(n_total), n_nan=frame(n_nan))
    if runs:
        tables.update(n_samples=frame(n_samples), n_samples_total=frame(n_samples_total))
    if spread == "ci95":
        tables.update(ci_low=frame(stats["ci_low"]), ci_high=frame(stats["ci_high"]))
    if baseline is not None:
        tables.update(p_value=frame(p_value), p_raw=frame(p_raw))
    directions = attrs.get("direction", {}) if direction is None else direction
    label_source = attrs.get("label", {}) if labels is None else labels
    column_direction, column_label = {}, {}
    for c in col_index:
        parts, arrow = _label_parts(c, label_source or {})
        column_direction[c] = _direction_for(c, directions or {}) or arrow
        if parts is not None:
            column_label[c] = parts
    notes = [_spread_note(spread, unit, ddof, n_resamples, seed)]
    if "count" in shown:
        notes.append(
            f"(n=k/K): the cell rests on k of the column's K {unit_word}; "
            "the others have no defined score (NaN) or failed."
        )
    if "samples" in shown:
        notes.append(
            "(k/N samples): the runs' means rest on k of their N samples; the others have no defined score."
        )
    if "empty" in shown:
        notes.append(f"— (0/K valid): none of the K {unit_word} has a defined score.")
    if "error" in shown:
        notes.append("error: X: the explain function or the metric raised X (message in the error column).")
    if baseline is not None:
        m = int(np.count_nonzero(~np.isnan(p_raw)))
        notes.append(
            f"*: differs from {baseline} (two-sided paired Wilcoxon signed-rank test over {unit_word}, "
            f"Holm-corrected across {m} compared cells, p < {alpha:g})."
        )
    if any(d in ("higher", "lower") for d in column_direction.values()):
        notes.append("↑/↓: higher/lower is better; bold: the best mean in the column.")
    table.attrs.update(
        tables, direction=column_direction, label=column_label, note=notes, spread=spread, unit=unit_word
    )
    return table


def _best(table: pd.DataFrame) -> dict[int, set[int]]:
    """Column position → row positions of the best value, by ``attrs["direction"]``.

    The numbers come from ``attrs["mean"]`` when the table has them (e.g. from
    :func:`summarise`), else from the table itself; columns without a direction are skipped.
    """
    mean, direction = table.attrs.get("mean", table), table.attrs.get("direction", {})
    best: dict[int, set[int]] = {}
    for j, label in enumerate(table.columns):
        if direction.get(label) not in ("higher", "lower") or label not in mean.columns:
            continue
        column = pd.to_numeric(mean[label].reindex(table.index), errors="coerce").to_numpy(dtype=np.float64)
        if np.isnan(column).all():
            continue
        target = np.nanmax(column) if direction[label] == "higher" else np.nanmin(column)
        best[j] = set(np.flatnonzero(np.isclose(column, target, rtol=0, atol=1e-12)).tolist())
    return best


def _cell(value: Any, digits: int) -> str:
    if isinstance(value, (float, np.floating)):
        return f"{value:.{digits}f}"
    return str(value)


def _row_labels(key: Any, nlevels: int) -> list[str]:
    return [str(k) for k in key] if nlevels > 1 else [str(key)]


def _column_label(label: Any) -> str:
    return " / ".join(str(p) for p in label) if isinstance(label, tuple) else str(label)


def _header_parts(table: pd.DataFrame) -> list[tuple[str, ...]]:
    """Each column's header text per level: ``attrs["label"]`` where it has the column (see
    :func:`summarise`'s ``labels``), else the column label itself."""
    labels = table.attrs.get("label", {}) or {}
    out = []
    for c in table.columns:
        own = tuple(str(p) for p in c) if isinstance(c, tuple) else (str(c),)
        given = labels.get(c)
        if isinstance(given, tuple) and len(given) == len(own):
            out.append(tuple(str(p) for p in given))
        elif given is not None:  # one text: it heads the lowest level
            out.append((*own[:-1], str(given)))
        else:
            out.append(own)
    return out


def _notes(table: pd.DataFrame, note: bool | str | Sequence[str]) -> list[str]:
    """The sentences under a table: ``attrs["note"]`` (``note=True``), none (``False``), or
    those plus the given text."""
    if note is False or note is None:
        return []
    own = list(table.attrs.get("note", []) or [])
    if isinstance(note, str):
        own.append(note)
    elif not isinstance(note, bool):
        own.extend(str(n) for n in note)
    return own


def _markdown_text(text: str) -> str:
    """Text safe inside a Markdown table cell (a pipe would end the cell, a star start emphasis)."""
    return text.replace("|", r"\|").replace("*", r"\*")


def to_markdown(table: pd.DataFrame, digits: int = 3, *, note: bool | str | Sequence[str] = True) -> str:
    """A GitHub Markdown table; ↑/↓ marks the better direction, the best cell is bold.

    Each row level is a leading column headed by its name; MultiIndex column labels are
    joined with ``" / "`` (header text from ``attrs["label"]`` where set). Numeric cells are
    written with ``digits`` decimals, others as text. Under the table, after a blank line,
    come the sentences of ``attrs["note"]`` (what ± is, the counts, the marks; set by
    :func:`summarise`); ``note=False`` leaves them out, a string or list adds to them.
    """
    best, direction = _best(table), table.attrs.get("direction", {})
    names = [_markdown_text(str(n)) if n is not None else "" for n in table.index.names]
    header = names + [
        _markdown_text(f"{' / '.join(parts)} {ARROWS.get(direction.get(c), '')}".strip())
        for c, parts in zip(table.columns, _header_parts(table))
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    values = table.to_numpy(dtype=object)
    for i, key in enumerate(table.index):
        cells = [
            f"**{_markdown_text(_cell(v, digits))}**"
            if i in best.get(j, ())
            else _markdown_text(_cell(v, digits))
            for j, v in enumerate(values[i])
        ]
        row = [_markdown_text(k) for k in _row_labels(key, table.index.nlevels)]
        lines.append("| " + " | ".join([*row, *cells]) + " |")
    notes = _notes(table, note)
    if notes:
        lines += ["", *(n.replace("*", r"\*") for n in notes)]
    return "\n".join(lines) + "\n"


_LATEX_CHARS = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "_": r"\_",
    "#": r"\#",
    "$": r"\$",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "|": r"\textbar{}",
    "±": r"$\pm$",
    "↑": r"$\uparrow$",
    "↓": r"$\downarrow$",
    "—": "---",
    "…": r"\ldots{}",
    "τ": r"$\tau$",
    "×": r"$\times$",
}


def _latex_escape(text: str) -> str:
    """Text safe in LaTeX: special characters escaped, ``|a|`` as math, symbols as commands."""
    pieces = ["".join(_LATEX_CHARS.get(ch, ch) for ch in piece) for piece in str(text).split("|a|")]
    return "$|a|$".join(pieces).replace("++", "{+}{+}")


def _latex_column_groups(parts: list[tuple[str, ...]], n_row_levels: int) -> list[str]:
    """Header rows for every column level but the last: spans of equal labels, ruled below."""
    lines = []
    nlevels = len(parts[0]) if parts else 1
    for level in range(nlevels - 1):
        cells, rules, j = [""] * n_row_levels, [], 0
        while j < len(parts):
            k = j
            while k + 1 < len(parts) and parts[k + 1][: level + 1] == parts[j][: level + 1]:
                k += 1
            text = _latex_escape(parts[j][level])
            cells.append(rf"\multicolumn{{{k - j + 1}}}{{c}}{{{text}}}" if k > j else text)
            rules.append(rf"\cmidrule(lr){{{n_row_levels + j + 1}-{n_row_levels + k + 1}}}")
            j = k + 1
        lines += [" & ".join(cells) + r" \\", " ".join(rules)]
    return lines


def to_latex(
    table: pd.DataFrame,
    caption: str | None = None,
    label: str | None = None,
    digits: int = 3,
    *,
    note: bool | str | Sequence[str] = True,
) -> str:
    """A booktabs LaTeX table; arrows mark the better direction, the best cell is bold.

    Each row level is a leading column headed by its capitalised name; the levels of
    MultiIndex columns above the last become spanning header rows (header text from
    ``attrs["label"]`` where set). The sentences of ``attrs["note"]`` (set by
    :func:`summarise`) follow the tabular in ``\\footnotesize``; ``note=False`` leaves them
    out, a string or list adds to them.
    """
    best, direction = _best(table), table.attrs.get("direction", {})
    n_levels = table.index.nlevels
    cols = "l" * n_levels + "c" * len(table.columns)
    names = [
        _latex_escape(str(n)[:1].upper() + str(n)[1:]) if n is not None else "" for n in table.index.names
    ]
    parts = _header_parts(table)
    header = names + [
        f"{_latex_escape(text[-1])} {LATEX_ARROWS.get(direction.get(c), '')}".strip()
        for c, text in zip(table.columns, parts)
    ]
    lines = [r"\begin{table}[t]", r"\centering", rf"\begin{{tabular}}{{{cols}}}", r"\toprule"]
    lines += _latex_column_groups(parts, n_levels)
    lines.append(" & ".join(header) + r" \\")
    lines.append(r"\midrule")
    values = table.to_numpy(dtype=object)
    for i, key in enumerate(table.index):
        cells = []
        for j, v in enumerate(values[i]):
            cell = _latex_escape(_cell(v, digits))
            cells.append(rf"\textbf{{{cell}}}" if i in best.get(j, ()) else cell)
        row = [_latex_escape(k) for k in _row_labels(key, n_levels)]
        lines.append(" & ".join([*row, *cells]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    notes = _notes(table, note)
    if notes:
        lines += [
            r"\par\smallskip",
            r"{\footnotesize " + " ".join(_latex_escape(n) for n in notes) + r"\par}",
        ]
    if caption:
        lines.append(rf"\caption{{{_latex_escape(caption)}}}")
    if label:
        lines.append(rf"\label{{{label}}}")
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


NUMERIC_PARTS = ("mean", "std", "ci_low", "ci_high", "n", "n_total", "p_value")


def numeric_table(table: pd.DataFrame) -> pd.DataFrame:
    """The numbers behind a table: for a :func:`summarise` table ``mean``, ``std``,
    ``ci_low``/``ci_high`` (with ``spread="ci95"``), ``n``, ``n_total`` and ``p_value`` (with a
    ``baseline``) side by side as the top column level; any other table as it is."""
    if "mean" not in table.attrs:
        return table
    return pd.concat({k: table.attrs[k] for k in NUMERIC_PARTS if k in table.attrs}, axis=1)


def save_table(
    table: pd.DataFrame,
    out_dir: str | Path,
    stem: str,
    *,
    caption: str | None = None,
    label: str | None = None,
    csv: pd.DataFrame | None = None,
    digits: int = 3,
) -> dict[str, Path]:
    """Write one table as ``<stem>.csv``, ``<stem>.md`` and ``<stem>.tex`` in ``out_dir``.

    The CSV holds ``csv`` when given, else :func:`numeric_table` of ``table``. Returns the
    paths as ``{"csv", "markdown", "latex"}``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"csv": out / f"{stem}.csv", "markdown": out / f"{stem}.md", "latex": out / f"{stem}.tex"}
    (numeric_table(table) if csv is None else csv).to_csv(paths["csv"])
    paths["markdown"].write_text(to_markdown(table, digits=digits), encoding="utf-8")
    paths["latex"].write_text(to_latex(table, caption=caption, label=label, digits=digits), encoding="utf-8")
    return paths


def write_tables(
    scores: pd.DataFrame,
    out_dir: str | Path,
    stem: str = "results",
    caption: str | None = None,
    *,
    index: str | Sequence[str] = "method",
    columns: str | Sequence[str] = "metric",
    **summary: Any,
) -> dict[str, Path]:
    """Write the tidy scores (CSV) and their :func:`summarise` table (CSV, Markdown, LaTeX).

    Further keyword arguments (``over``, ``spread``, ``baseline``, ...) go to
    :func:`summarise`. Returns the paths as ``{"scores_csv", "csv", "markdown", "latex"}``;
    the summary CSV holds the numeric tables of :func:`numeric_table` side by side (``mean``,
    ``std``, ``n``, ``n_total``, ...).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"scores_csv": out / f"{stem}_scores.csv"}
    scores.to_csv(paths["scores_csv"], index=False)
    paths.update(
        save_table(summarise(scores, index=index, columns=columns, **summary), out, stem, caption=caption)
    )
    return paths
