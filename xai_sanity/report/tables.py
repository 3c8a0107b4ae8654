"""Tables of scores: summaries and their Markdown, LaTeX and CSV renderings.

Every function here takes flat or MultiIndex tables alike: rows may be keyed by several
levels (e.g. model × method) and columns too (e.g. metric × setting). A row level becomes
its own leading column; MultiIndex column labels are joined with ``" / "`` in Markdown and
become grouped header rows in LaTeX.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

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


def summarise(
    scores: pd.DataFrame,
    digits: int = 3,
    *,
    index: str | Sequence[str] = "method",
    columns: str | Sequence[str] = "metric",
    value: str = "score",
    direction: Mapping[Any, Any] | None = None,
) -> pd.DataFrame:
    """Table of ``mean ± std`` strings from tidy scores (e.g. :func:`xai_sanity.evaluate`'s).

    Parameters
    ----------
    scores : pandas.DataFrame
        One row per score, with the columns named by ``index``, ``columns`` and ``value`` and
        optionally an ``error`` column (a row whose ``error`` is set counts as a failed cell).
    digits : int, default 3
        Decimals of the mean and the standard deviation.
    index, columns : str or sequence of str, default ``"method"`` and ``"metric"``
        Columns of ``scores`` whose values key the table's rows and columns; several give a
        MultiIndex. Rows and columns keep the order of first appearance in ``scores``.
    value : str, default ``"score"``
        The column that holds the numbers.
    direction : mapping, optional
        Better direction (``"higher"``/``"lower"``) by column label or by any part of it;
        defaults to ``scores.attrs["direction"]`` (a metric name → direction).

    Returns
    -------
    pandas.DataFrame
        Strings ``"mean ± std"``, ``"error"`` for a failed cell or ``"nan"`` when no score is
        defined. ``attrs`` holds the numeric ``mean``, ``std``, ``n`` (defined scores) and
        ``n_nan`` (NaN scores, left out of the mean) tables and ``direction`` by column label.
    """
    rows, cols = _as_list(index), _as_list(columns)
    failed_mask = scores["error"].notna() if "error" in scores else pd.Series(False, index=scores.index)
    ok = scores[~failed_mask]
    row_index, col_index = _ordered_index(scores, rows), _ordered_index(scores, cols)
    if len(ok):
        grouped = ok.groupby(rows + cols, sort=False)[value]
        stats = {
            "mean": grouped.mean(),
            "std": grouped.std(ddof=0),
            "n": grouped.count(),
            "n_nan": grouped.apply(lambda s: int(s.isna().sum())),
        }
        tables = {k: v.unstack(cols).reindex(index=row_index, columns=col_index) for k, v in stats.items()}
    else:  # every cell failed
        empty = pd.DataFrame(index=row_index, columns=col_index, dtype=float)
        tables = {k: empty.copy() for k in ("mean", "std", "n", "n_nan")}
    for table in tables.values():  # unstack/reindex can drop the level names
        table.index.names, table.columns.names = row_index.names, col_index.names
    failed = set(scores[failed_mask].groupby(rows + cols, sort=False).size().index)
    mean, std = tables["mean"].to_numpy(dtype=np.float64), tables["std"].to_numpy(dtype=np.float64)
    cells = np.empty(mean.shape, dtype=object)
    for i, row_key in enumerate(row_index):
        for j, col_key in enumerate(col_index):
            key = (*(row_key if len(rows) > 1 else (row_key,)), *(col_key if len(cols) > 1 else (col_key,)))
            if key in failed:
                cells[i, j] = "error"
            elif np.isnan(mean[i, j]):
                cells[i, j] = "nan"
            else:
                cells[i, j] = f"{mean[i, j]:.{digits}f} ± {std[i, j]:.{digits}f}"
    table = pd.DataFrame(cells, index=row_index, columns=col_index, dtype=object)
    directions = scores.attrs.get("direction", {}) if direction is None else direction
    table.attrs.update(tables, direction={c: _direction_for(c, directions) for c in col_index})
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


def to_markdown(table: pd.DataFrame, digits: int = 3) -> str:
    """A GitHub Markdown table; ↑/↓ marks the better direction, the best cell is bold.

    Each row level is a leading column headed by its name; MultiIndex column labels are
    joined with ``" / "``. Numeric cells are written with ``digits`` decimals, others as text.
    """
    best, direction = _best(table), table.attrs.get("direction", {})
    names = [str(n) if n is not None else "" for n in table.index.names]
    header = names + [f"{_column_label(c)} {ARROWS.get(direction.get(c), '')}".strip() for c in table.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    values = table.to_numpy(dtype=object)
    for i, key in enumerate(table.index):
        cells = [
            f"**{_cell(v, digits)}**" if i in best.get(j, ()) else _cell(v, digits)
            for j, v in enumerate(values[i])
        ]
        lines.append("| " + " | ".join([*_row_labels(key, table.index.nlevels), *cells]) + " |")
    return "\n".join(lines) + "\n"


def _latex_escape(text: str) -> str:
    for char, repl in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#")):
        text = text.replace(char, repl)
    return text.replace("±", r"$\pm$").replace("++", "{+}{+}")


def _latex_column_groups(columns: pd.Index, n_row_levels: int) -> list[str]:
    """Header rows for every column level but the last: spans of equal labels, ruled below."""
    labels = list(columns)
    lines = []
    for level in range(columns.nlevels - 1):
        cells, rules, j = [""] * n_row_levels, [], 0
        while j < len(labels):
            k = j
            while k + 1 < len(labels) and labels[k + 1][: level + 1] == labels[j][: level + 1]:
                k += 1
            text = _latex_escape(str(labels[j][level]))
            cells.append(rf"\multicolumn{{{k - j + 1}}}{{c}}{{{text}}}" if k > j else text)
            rules.append(rf"\cmidrule(lr){{{n_row_levels + j + 1}-{n_row_levels + k + 1}}}")
            j = k + 1
        lines += [" & ".join(cells) + r" \\", " ".join(rules)]
    return lines


def to_latex(
    table: pd.DataFrame, caption: str | None = None, label: str | None = None, digits: int = 3
) -> str:
    """A booktabs LaTeX table; arrows mark the better direction, the best cell is bold.

    Each row level is a leading column headed by its capitalised name; the levels of
    MultiIndex columns above the last become spanning header rows.
    """
    best, direction = _best(table), table.attrs.get("direction", {})
    n_levels = table.index.nlevels
    cols = "l" * n_levels + "c" * len(table.columns)
    names = [
        _latex_escape(str(n)[:1].upper() + str(n)[1:]) if n is not None else "" for n in table.index.names
    ]
    last = [c[-1] if isinstance(c, tuple) else c for c in table.columns]
    header = names + [
        f"{_latex_escape(str(text))} {LATEX_ARROWS.get(direction.get(c), '')}".strip()
        for c, text in zip(table.columns, last)
    ]
    lines = [r"\begin{table}[t]", r"\centering", rf"\begin{{tabular}}{{{cols}}}", r"\toprule"]
    lines += _latex_column_groups(table.columns, n_levels)
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
    if caption:
        lines.append(rf"\caption{{{_latex_escape(caption)}}}")
    if label:
        lines.append(rf"\label{{{label}}}")
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def numeric_table(table: pd.DataFrame) -> pd.DataFrame:
    """The numbers behind a table: ``mean``/``std``/``n`` side by side for a :func:`summarise`
    table, else the table itself."""
    if "mean" not in table.attrs:
        return table
    return pd.concat({k: table.attrs[k] for k in ("mean", "std", "n")}, axis=1)


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
) -> dict[str, Path]:
    """Write the tidy scores (CSV) and their :func:`summarise` table (CSV, Markdown, LaTeX).

    Returns the paths as ``{"scores_csv", "csv", "markdown", "latex"}``; the summary CSV holds
    the numeric ``mean``, ``std`` and ``n`` tables side by side.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"scores_csv": out / f"{stem}_scores.csv"}
    scores.to_csv(paths["scores_csv"], index=False)
    paths.update(save_table(summarise(scores, index=index, columns=columns), out, stem, caption=caption))
    return paths
