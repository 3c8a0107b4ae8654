"""Markdown and LaTeX renderings of a table, with arrows, bold best cells and notes.

Both take any DataFrame, flat or MultiIndex: a row level becomes its own leading column;
MultiIndex column labels are joined with ``" / "`` in Markdown and become grouped header rows
in LaTeX. From ``attrs`` they read what :func:`xai_sanity.report.summarise` leaves there:
``direction`` (arrows; the best ``mean`` is bold), ``label`` (header text) and ``note`` (the
sentences printed under the table).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

ARROWS = {"higher": "↑", "lower": "↓", None: ""}
LATEX_ARROWS = {"higher": r"$\uparrow$", "lower": r"$\downarrow$", None: ""}


def _best(table: pd.DataFrame) -> dict[int, set[int]]:
    """Column position → row positions of the best value, by ``attrs["direction"]``.

    The numbers come from ``attrs["mean"]`` when the table has them (e.g. from
    :func:`~xai_sanity.report.summarise`), else from the table itself; columns without a
    direction are skipped.
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


def _header_parts(table: pd.DataFrame) -> list[tuple[str, ...]]:
    """Each column's header text per level: ``attrs["label"]`` where it has the column (see
    the ``labels`` of :func:`~xai_sanity.report.summarise`), else the column label itself."""
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
    :func:`~xai_sanity.report.summarise`); ``note=False`` leaves them out, a string or list
    adds to them.
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
    :func:`~xai_sanity.report.summarise`) follow the tabular in ``\\footnotesize``;
    ``note=False`` leaves them out, a string or list adds to them.
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
